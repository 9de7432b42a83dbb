#include "auditevents.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

const QStringList &auditEventNames()
{
    static const QStringList names {
        u"agent_approved"_s,
        u"agent_auth_failed"_s,
        u"agent_enrol_failed"_s,
        u"agent_enrolled"_s,
        u"agent_quarantine_cleared"_s,
        u"agent_quarantined"_s,
        u"agent_revoked"_s,
        u"alerts_acknowledged"_s,
        u"api_token_created"_s,
        u"api_token_revoked"_s,
        u"commitment_mismatch_detected"_s,
        u"credential_created"_s,
        u"credential_deleted"_s,
        u"credential_retry"_s,
        u"credential_rotated"_s,
        u"credential_scope_changed"_s,
        u"delivery_stalled"_s,
        u"dispatch"_s,
        u"enrolment_token_created"_s,
        u"org_initialised"_s,
        u"rewrap_response_unsolicited"_s,
    };
    return names;
}

bool isAuditEvent(QStringView name)
{
    return auditEventNames().contains(name);
}

} // namespace sealrelay
