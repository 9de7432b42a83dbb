// JSON forms of stored rows as the REST API returns them, shared by the
// handler files.
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
QJsonValue timeJson(const std::optional<QDateTime> &time);
QJsonValue textJson(const std::optional<QString> &text);

QJsonObject credentialJson(const CredentialRow &credential);
QJsonObject credentialAgentJson(const CredentialAgentRow &row);
// Counts of in-scope agents and of their delivery states.
QJsonObject syncSummaryJson(const CredentialDetail &detail);
QJsonObject agentJson(const AgentRow &agent);
QJsonObject alertJson(const AlertRow &alert);
QJsonObject auditRecordJson(const AuditRecord &record);
QJsonObject apiTokenJson(const ApiTokenRow &token);
QJsonObject enrolmentTokenJson(const EnrolmentTokenRow &token);

} // namespace sealrelay::backend
