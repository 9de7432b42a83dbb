// The authenticated caller of the REST API and the event feed: the org, the
// bearer token's id and its role, plus what each role is allowed to do.
#pragma once

#include "rows.h"

#include <QString>

namespace sealrelay::backend {

// ApiRole (admin, operator, auditor) is declared in rows.h, where Storage
// keeps it with each API token.

// One kind of action a token may perform.
enum class Permission {
    Read,                   // every GET under /api and the event feed
    CredentialWrite,        // create, rotate, change scope, delete
    CredentialRetry,        // clear stalled rows and make them due now
    EnrolmentTokenCreate,   // enrolment tokens for new agents
    AgentApprove,           // upload an agent certificate
    AgentRevoke,
    AlertAcknowledge,
    TokenManage,            // create, revoke and list API tokens
};

struct ApiPrincipal {
    QString orgId;
    QString tokenId;
    ApiRole role = ApiRole::Auditor;
};

// Admin may do everything; operator everything but managing tokens; auditor
// only reads.
constexpr bool roleAllows(ApiRole role, Permission permission)
{
    switch (role) {
    case ApiRole::Admin:
        return true;
    case ApiRole::Operator:
        return permission != Permission::TokenManage;
    case ApiRole::Auditor:
        return permission == Permission::Read;
    }
    return false;
}

} // namespace sealrelay::backend
