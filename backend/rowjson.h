// JSON forms of the backend's stored rows. The REST API and the console event
// feed both serialise rows with these functions, so one row has one shape.
#pragma once

#include "rows.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QString>

#include <optional>

namespace sealrelay::backend {

// {"statement_b64": ..., "signature": ...}, or null when either is missing.
QJsonValue signedJson(const std::optional<QByteArray> &statement,
                      const std::optional<QByteArray> &signature);
// RFC 3339 UTC with milliseconds, or null for a missing or invalid time.
QJsonValue timeJson(const std::optional<QDateTime> &time);
QJsonValue textJson(const std::optional<QString> &text);
// Stored JSON text (alert and audit details) as its JSON object or array.
// Text that is not a JSON object or array is returned as a JSON string, so
// nothing stored is lost. Absent text is null.
QJsonValue storedJson(const std::optional<QString> &text);

QJsonObject credentialJson(const CredentialRow &credential);
QJsonObject credentialAgentJson(const CredentialAgentRow &row);
// True when syncSummaryJson() counts the row: its agent is in scope, or the
// credential is deleted, which keeps every row until its agent returns the
// `deleted` receipt.
bool rowCountedInSync(const CredentialRow &credential, const CredentialAgentRow &row);
// True when the row's agent returned a receipt for the current version and
// revision.
bool rowDelivered(const CredentialRow &credential, const CredentialAgentRow &row);
// Counts of in-scope agents and of their delivery states.
QJsonObject syncSummaryJson(const CredentialDetail &detail);
// credentialJson() plus "sync" (syncSummaryJson()).
QJsonObject credentialSummaryJson(const CredentialDetail &detail);
// credentialSummaryJson() plus "agents", one credentialAgentJson() per row.
QJsonObject credentialDetailJson(const CredentialDetail &detail);
QJsonObject agentJson(const AgentRow &agent);
QJsonObject alertJson(const AlertRow &alert);
QJsonObject auditRecordJson(const AuditRecord &record);
QJsonObject apiTokenJson(const ApiTokenRow &token);
QJsonObject enrolmentTokenJson(const EnrolmentTokenRow &token);

} // namespace sealrelay::backend
