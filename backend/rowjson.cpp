// JSON forms of stored rows for the REST API and the event feed. Signed
// objects (statements, certificates, receipts) are returned as their exact
// bytes in base64 so the console can verify them itself.
#include "rowjson.h"

#include "base64.h"
#include "ids.h"
#include "statement.h"

#include <QJsonDocument>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

QJsonValue signedJson(const std::optional<QByteArray> &statement,
                      const std::optional<QByteArray> &signature)
{
    if (!statement || !signature)
        return QJsonValue::Null;
    return QJsonObject{{u"statement_b64"_s, encodeBase64(*statement)},
                       {u"signature"_s, encodeBase64(*signature)}};
}

QJsonValue timeJson(const std::optional<QDateTime> &time)
{
    if (!time || !time->isValid())
        return QJsonValue::Null;
    return formatTimestamp(*time);
}

QJsonValue textJson(const std::optional<QString> &text)
{
    return text ? QJsonValue(*text) : QJsonValue(QJsonValue::Null);
}

QJsonValue storedJson(const std::optional<QString> &text)
{
    if (!text)
        return QJsonValue::Null;
    const QJsonDocument document = QJsonDocument::fromJson(text->toUtf8());
    if (document.isObject())
        return document.object();
    if (document.isArray())
        return document.array();
    return *text;
}

QJsonObject credentialJson(const CredentialRow &credential)
{
    return QJsonObject{
        {u"credential_id"_s, credential.credentialId},
        {u"name"_s, credential.name},
        {u"kind"_s, credential.kind},
        {u"version"_s, credential.version},
        {u"revision"_s, credential.revision},
        {u"scope"_s, credentialScopeName(credential.scope)},
        {u"scope_agent_ids"_s, QJsonArray::fromStringList(credential.scopeAgentIds)},
        {u"state"_s, credentialStateName(credential.state)},
        {u"statement"_s, signedJson(credential.statement, credential.signature)},
        {u"statement_sha256"_s, credential.statementSha256},
        {u"created_at"_s, timeJson(credential.createdAt)},
        {u"updated_at"_s, timeJson(credential.updatedAt)},
    };
}

QJsonObject credentialAgentJson(const CredentialAgentRow &row)
{
    return QJsonObject{
        {u"credential_id"_s, row.credentialId},
        {u"agent_id"_s, row.agentId},
        {u"secret_stored"_s, row.secretStored},
        {u"stored_version"_s, row.storedVersion ? QJsonValue(*row.storedVersion) : QJsonValue()},
        {u"stored_revision"_s,
         row.storedRevision ? QJsonValue(*row.storedRevision) : QJsonValue()},
        {u"attempts"_s, row.attempts},
        {u"next_attempt_at"_s, timeJson(row.nextAttemptAt)},
        {u"last_error"_s, textJson(row.lastError)},
        {u"stalled"_s, row.stalled},
        {u"receipt"_s, signedJson(row.receiptStatement, row.receiptSignature)},
        {u"receipt_at"_s, timeJson(row.receiptAt)},
    };
}

bool rowCountedInSync(const CredentialRow &credential, const CredentialAgentRow &row)
{
    return credential.state == CredentialState::Deleted
        || credential.scope == CredentialScope::AutoAll
        || credential.scopeAgentIds.contains(row.agentId);
}

bool rowDelivered(const CredentialRow &credential, const CredentialAgentRow &row)
{
    return row.storedVersion == credential.version && row.storedRevision == credential.revision
        && row.receiptStatement.has_value();
}

QJsonObject syncSummaryJson(const CredentialDetail &detail)
{
    const CredentialRow &credential = detail.credential;
    int inScope = 0;
    int delivered = 0;
    int pending = 0;
    int failed = 0;
    int stalled = 0;
    for (const CredentialAgentRow &row : detail.agents) {
        if (!rowCountedInSync(credential, row))
            continue;
        ++inScope;
        if (rowDelivered(credential, row))
            ++delivered;
        else if (row.stalled)
            ++stalled;
        else if (row.attempts > 0)
            ++failed;
        else
            ++pending;
    }
    return QJsonObject{{u"in_scope"_s, inScope}, {u"delivered"_s, delivered},
                       {u"pending"_s, pending}, {u"failed"_s, failed}, {u"stalled"_s, stalled}};
}

QJsonObject credentialSummaryJson(const CredentialDetail &detail)
{
    QJsonObject object = credentialJson(detail.credential);
    object.insert(u"sync"_s, syncSummaryJson(detail));
    return object;
}

QJsonObject credentialDetailJson(const CredentialDetail &detail)
{
    QJsonObject object = credentialSummaryJson(detail);
    QJsonArray rows;
    for (const CredentialAgentRow &row : detail.agents)
        rows.append(credentialAgentJson(row));
    object.insert(u"agents"_s, rows);
    return object;
}

QJsonObject agentJson(const AgentRow &agent)
{
    return QJsonObject{
        {u"agent_id"_s, agent.agentId},
        {u"name"_s, agent.name},
        {u"status"_s, agentStatusName(agent.status)},
        {u"encryption_key"_s, encodeBase64(agent.encryptionKey)},
        {u"identity_key"_s, encodeBase64(agent.identityKey)},
        {u"certificate"_s, signedJson(agent.certificateStatement, agent.certificateSignature)},
        {u"generation"_s, agent.generation},
        {u"expires_at"_s, timeJson(agent.expiresAt)},
        {u"last_seen"_s, timeJson(agent.lastSeen)},
        {u"quarantined"_s, agent.quarantined},
        {u"created_at"_s, timeJson(agent.createdAt)},
        {u"agent_fingerprint"_s,
         agentFingerprint(agent.agentId, agent.encryptionKey, agent.identityKey)},
    };
}

QJsonObject alertJson(const AlertRow &alert)
{
    const QJsonValue details = storedJson(alert.details);
    return QJsonObject{
        {u"alert_id"_s, alert.alertId},
        {u"type"_s, alert.type},
        {u"severity"_s, alertSeverityName(alert.severity)},
        {u"subject"_s, alert.subject},
        {u"details"_s, details},
        {u"first_seen"_s, timeJson(alert.firstSeen)},
        {u"last_seen"_s, timeJson(alert.lastSeen)},
        {u"count"_s, alert.count},
        {u"acknowledged_at"_s, timeJson(alert.acknowledgedAt)},
        {u"acknowledged_by"_s, textJson(alert.acknowledgedBy)},
    };
}

QJsonObject auditRecordJson(const AuditRecord &record)
{
    return QJsonObject{
        {u"id"_s, record.id},
        {u"at"_s, timeJson(record.at)},
        {u"event"_s, record.event},
        {u"actor"_s, record.actor},
        {u"credential_id"_s, textJson(record.credentialId)},
        {u"agent_id"_s, textJson(record.agentId)},
        {u"dispatch_audit_id"_s, textJson(record.dispatchAuditId)},
        {u"outcome"_s, textJson(record.outcome)},
        {u"reason"_s, textJson(record.reason)},
        {u"details"_s, storedJson(record.details)},
        {u"prev_hash"_s, record.prevHash},
        {u"row_hash"_s, record.rowHash},
    };
}

QJsonObject apiTokenJson(const ApiTokenRow &token)
{
    return QJsonObject{
        {u"token_id"_s, token.tokenId},
        {u"role"_s, apiRoleName(token.role)},
        {u"label"_s, token.label},
        {u"created_at"_s, timeJson(token.createdAt)},
        {u"revoked_at"_s, timeJson(token.revokedAt)},
    };
}

QJsonObject enrolmentTokenJson(const EnrolmentTokenRow &token)
{
    return QJsonObject{
        {u"token_id"_s, token.tokenId},
        {u"agent_name"_s, token.agentName},
        {u"created_by"_s, token.createdBy},
        {u"created_at"_s, timeJson(token.createdAt)},
        {u"expires_at"_s, timeJson(token.expiresAt)},
        {u"used_at"_s, timeJson(token.usedAt)},
        {u"used_by_agent_id"_s, textJson(token.usedByAgentId)},
    };
}

} // namespace sealrelay::backend
