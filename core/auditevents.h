// The names of the events in the backend's audit trail. The backend writes no
// other event, and filters of the audit trail accept only these.
#pragma once

#include <QStringList>
#include <QStringView>

namespace sealrelay {

// Returns the name of every audit event, in alphabetical order.
const QStringList &auditEventNames();

// Returns whether `name` is one of auditEventNames().
bool isAuditEvent(QStringView name);

} // namespace sealrelay
