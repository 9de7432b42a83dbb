// /api/agents: the agent list with certificates, enrolment tokens, approval
// by certificate upload, and revocation.
#include "httpapi.h"

#include "digest.h"
#include "ids.h"
#include "logging.h"
#include "rowjson.h"
#include "statement.h"

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

constexpr qsizetype kMaxNameBytes = 200;

ApiResponse agentNotFound(const QString &agentId)
{
    return ApiResponse::error(404, u"not_found"_s,
                              u"Agent %1 does not exist in this org; list the agents to find "
                              "its id."_s.arg(agentId));
}

} // namespace

void HttpApi::publishAgentStatus(const QString &orgId, const QJsonObject &agent)
{
    // `connected` is the gateway's to report; this event only carries the
    // status change an operator made.
    publish(orgId, u"agent_status_changed"_s,
            QJsonObject{{u"agent_id"_s, agent.value(u"agent_id"_s)},
                        {u"status"_s, agent.value(u"status"_s)},
                        {u"agent"_s, agent}});
}

ApiResponse HttpApi::handleListAgents(const ApiRequest &request)
{
    std::optional<AgentStatus> status;
    if (request.query.hasQueryItem(u"status"_s)) {
        status = parseAgentStatus(request.query.queryItemValue(u"status"_s));
        if (!status)
            return ApiResponse::invalid(u"status must be pending_approval, approved or revoked."_s);
    }
    auto agents = m_storage.agents(request.caller().orgId, status);
    if (!agents)
        return ApiResponse::internal(agents.error());

    QJsonArray list;
    for (const AgentRow &agent : agents.value())
        list.append(agentWithSync(agent));
    return ApiResponse::json(200, QJsonObject{{u"agents"_s, list}});
}

ApiResponse HttpApi::handleListEnrolmentTokens(const ApiRequest &request)
{
    auto tokens = m_storage.enrolmentTokens(request.caller().orgId);
    if (!tokens)
        return ApiResponse::internal(tokens.error());
    QJsonArray list;
    for (const EnrolmentTokenRow &token : tokens.value())
        list.append(enrolmentTokenJson(token));
    return ApiResponse::json(200, QJsonObject{{u"enrolment_tokens"_s, list}});
}

ApiResponse HttpApi::handleCreateEnrolmentToken(const ApiRequest &request)
{
    const QJsonValue nameValue = request.body.value(u"agent_name"_s);
    const QString agentName = nameValue.toString();
    if (!nameValue.isString() || agentName.trimmed().isEmpty()
        || agentName.toUtf8().size() > kMaxNameBytes)
        return ApiResponse::invalid(u"agent_name must be a non-empty string of at most 200 "
                                    "UTF-8 bytes: the name the agent will enrol with."_s);

    const qint64 maxTtlSeconds = m_settings.maxEnrolmentTokenTtlMs / 1000;
    // Without ttl_seconds a token lives one hour, or the configured maximum
    // when that is shorter.
    qint64 ttlSeconds = std::min<qint64>(3600, maxTtlSeconds);
    const QJsonValue ttlValue = request.body.value(u"ttl_seconds"_s);
    if (!ttlValue.isUndefined()) {
        const double ttl = ttlValue.toDouble(-1);
        if (!ttlValue.isDouble() || ttl != double(qint64(ttl)) || ttl < 1 || ttl > maxTtlSeconds)
            return ApiResponse::invalid(u"ttl_seconds must be an integer from 1 to %1."_s.arg(
                maxTtlSeconds));
        ttlSeconds = qint64(ttl);
    }

    const QString token = generateToken(u"sre_");
    if (token.isEmpty())
        return ApiResponse::internal(
            makeError(Reason::Internal, u"The random generator failed."_s));
    EnrolmentTokenRow row;
    row.orgId = request.caller().orgId;
    row.tokenId = newUuid();
    row.tokenHash = sha256(token.toUtf8());
    row.agentName = agentName;
    row.createdBy = request.caller().tokenId;
    row.createdAt = QDateTime::currentDateTimeUtc();
    row.expiresAt = row.createdAt.addSecs(ttlSeconds);
    auto created = m_storage.createEnrolmentToken(row);
    if (!created) {
        if (created.error().reason == Reason::Malformed)
            return ApiResponse::invalid(created.error().message);
        return ApiResponse::internal(created.error());
    }

    auto audited = audit(request, u"enrolment_token_created"_s, std::nullopt, std::nullopt,
                         QJsonObject{{u"token_id"_s, row.tokenId},
                                     {u"agent_name"_s, agentName},
                                     {u"expires_at"_s, formatTimestamp(row.expiresAt)}});
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("Enrolment token {} created by token {}", row.tokenId.toStdString(),
                                request.caller().tokenId.toStdString());

    return ApiResponse::json(201, QJsonObject{{u"token_id"_s, row.tokenId},
                                              {u"token"_s, token},
                                              {u"agent_name"_s, agentName},
                                              {u"expires_at"_s, formatTimestamp(row.expiresAt)}});
}

ApiResponse HttpApi::handleUploadCertificate(const ApiRequest &request)
{
    const QString orgId = request.caller().orgId;
    const QString agentId = request.captures.value(0);

    auto agent = m_storage.agent(orgId, agentId);
    if (!agent)
        return ApiResponse::internal(agent.error());
    if (!agent.value())
        return agentNotFound(agentId);
    const AgentRow &stored = *agent.value();

    // Strict parse and signature under the certificate's own operator_key.
    auto certificate = SignedStatement::fromJson(request.body.value(u"certificate"_s),
                                                 u"certificate");
    Result<QJsonObject> parsed = certificate
        ? parseStatement(StatementContext::AgentCertificate, certificate->bytes)
        : Result<QJsonObject>(certificate.error());
    Result<sealrelay::AgentCertificate> fields = parsed
        ? sealrelay::AgentCertificate::fromFields(parsed.value())
        : Result<sealrelay::AgentCertificate>(parsed.error());
    if (!fields)
        return ApiResponse::error(400, u"bad_statement"_s,
                                  u"The certificate was rejected: %1; sign a "
                                  "sealrelay/agent-certificate/v1 statement, e.g. with "
                                  "`sealrelayctl agent approve`."_s.arg(
                                      fields.error().message));
    auto signer = Ed25519PublicKey::fromRaw(fields->operatorKey);
    if (!signer || !verifyStatement(StatementContext::AgentCertificate, certificate.value(),
                                    signer.value()))
        return ApiResponse::error(400, u"bad_statement"_s,
                                  u"The certificate is not signed by its operator_key."_s);

    QString mismatch;
    if (fields->orgId != orgId)
        mismatch = u"org_id"_s;
    else if (fields->agentId != agentId)
        mismatch = u"agent_id"_s;
    else if (fields->agentName != stored.name)
        mismatch = u"agent_name"_s;
    else if (fields->identityKey != stored.identityKey)
        mismatch = u"identity_key"_s;
    else if (fields->encryptionKey != stored.encryptionKey)
        mismatch = u"encryption_key"_s;
    if (!mismatch.isEmpty())
        return ApiResponse::error(400, u"bad_statement"_s,
                                  u"The certificate's %1 does not match agent %2; compare the "
                                  "fingerprint on the agent host and sign again."_s.arg(mismatch,
                                                                                        agentId));
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (fields->expiresAt <= now || fields->expiresAt <= fields->issuedAt
        || fields->issuedAt.msecsTo(fields->expiresAt) > m_settings.maxCertificateLifetimeMs)
        return ApiResponse::invalid(u"expires_at must be in the future and at most %1 days after "
                                    "issued_at."_s.arg(m_settings.maxCertificateLifetimeMs
                                                       / (24 * 60 * 60 * 1000)));
    if (stored.status != AgentStatus::PendingApproval)
        return ApiResponse::error(409, u"conflict"_s,
                                  u"Agent %1 is %2, not pending approval; only a pending agent "
                                  "can be certified."_s.arg(agentId,
                                                            agentStatusName(stored.status)));
    if (fields->generation != stored.generation + 1)
        return ApiResponse::error(409, u"version_conflict"_s,
                                  u"The certificate must have generation %1; fetch the agent "
                                  "and sign again."_s.arg(stored.generation + 1));

    const AgentCertificate row{certificate->bytes, certificate->signature, fields->generation,
                               fields->expiresAt};
    auto set = m_storage.setAgentCertificate(orgId, agentId, row);
    if (!set)
        return ApiResponse::internal(set.error());
    if (!set.value())
        return ApiResponse::error(409, u"version_conflict"_s,
                                  u"Agent %1 got another certificate meanwhile; fetch it "
                                  "again."_s.arg(agentId));

    auto audited = audit(request, u"agent_approved"_s, std::nullopt, agentId,
                         QJsonObject{{u"generation"_s, fields->generation},
                                     {u"certificate_sha256"_s, certificate->sha256()}});
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("Agent {} approved at generation {} by token {}",
                                agentId.toStdString(), fields->generation,
                                request.caller().tokenId.toStdString());
    if (m_hooks.certificateStored)
        m_hooks.certificateStored(orgId, agentId);

    auto updated = m_storage.agent(orgId, agentId);
    if (!updated || !updated.value())
        return ApiResponse::json(200, QJsonObject{{u"agent_id"_s, agentId}});
    const QJsonObject agentObject = agentJson(*updated.value());
    publishAgentStatus(orgId, agentObject);
    return ApiResponse::json(200, agentObject);
}

ApiResponse HttpApi::handleRevokeAgent(const ApiRequest &request)
{
    const QString orgId = request.caller().orgId;
    const QString agentId = request.captures.value(0);
    auto revoked = m_storage.setAgentStatus(orgId, agentId, AgentStatus::Revoked);
    if (!revoked)
        return ApiResponse::internal(revoked.error());
    if (!revoked.value())
        return agentNotFound(agentId);

    auto audited = audit(request, u"agent_revoked"_s, std::nullopt, agentId);
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("Agent {} revoked by token {}", agentId.toStdString(),
                                request.caller().tokenId.toStdString());
    if (m_hooks.agentRevoked)
        m_hooks.agentRevoked(orgId, agentId);
    auto updated = m_storage.agent(orgId, agentId);
    if (updated && updated.value())
        publishAgentStatus(orgId, agentJson(*updated.value()));
    return ApiResponse::json(200, QJsonObject{{u"agent_id"_s, agentId},
                                              {u"status"_s, agentStatusName(AgentStatus::Revoked)}});
}

ApiResponse HttpApi::handleClearQuarantine(const ApiRequest &request)
{
    const QString orgId = request.caller().orgId;
    const QString agentId = request.captures.value(0);
    auto agent = m_storage.agent(orgId, agentId);
    if (!agent)
        return ApiResponse::internal(agent.error());
    if (!agent.value())
        return agentNotFound(agentId);
    if (!agent.value()->quarantined)
        return ApiResponse::error(409, u"not_quarantined"_s,
                                  u"Agent %1 is not quarantined; nothing to clear."_s.arg(agentId));
    auto cleared = m_storage.setAgentQuarantined(orgId, agentId, false);
    if (!cleared)
        return ApiResponse::internal(cleared.error());

    auto audited = audit(request, u"agent_quarantine_cleared"_s, std::nullopt, agentId);
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("Quarantine of agent {} cleared by token {}",
                                agentId.toStdString(), request.caller().tokenId.toStdString());
    auto updated = m_storage.agent(orgId, agentId);
    if (updated && updated.value())
        publishAgentStatus(orgId, agentWithSync(*updated.value()));
    return ApiResponse::json(200, QJsonObject{{u"agent_id"_s, agentId},
                                              {u"quarantined"_s, false}});
}

QJsonObject HttpApi::agentWithSync(const AgentRow &agent) const
{
    QJsonObject object = agentJson(agent);
    if (m_hooks.agentSyncState)
        object.insert(u"sync"_s, m_hooks.agentSyncState(agent));
    return object;
}

} // namespace sealrelay::backend
