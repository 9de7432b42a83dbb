// /api/credentials: listing with sync summaries, detail with per-agent rows,
// and the upload checks for create, rotate, scope change and delete. The
// backend checks what it can as defence in depth; agents and creators
// verify again and never trust these checks.
#include "httpapi.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "envelope.h"
#include "ids.h"
#include "logging.h"
#include "rowjson.h"
#include "statement.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

// A statement upload that passed the checks, with what storage needs.
struct VerifiedUpload {
    SignedStatement statement;
    CredentialStatement fields;
    QByteArray operatorKey;
};

ApiResponse badStatement(const QString &message)
{
    return ApiResponse::error(400, u"bad_statement"_s, message);
}

ApiResponse versionConflict(const QString &message)
{
    return ApiResponse::error(409, u"version_conflict"_s, message);
}

// Strict parse and signature check under the statement's own operator_key.
Result<VerifiedUpload> verifyUpload(const QJsonValue &value)
{
    auto statement = SignedStatement::fromJson(value, u"statement");
    if (!statement)
        return statement.error();
    auto parsed = parseStatement(StatementContext::Credential, statement->bytes);
    if (!parsed)
        return parsed.error();
    auto fields = CredentialStatement::fromFields(parsed.value());
    if (!fields)
        return fields.error();
    auto key = Ed25519PublicKey::fromRaw(fields->operatorKey);
    if (!key)
        return makeError(Reason::BadStatement,
                         u"The statement's operator_key is not an Ed25519 key."_s);
    auto verified = verifyStatement(StatementContext::Credential, statement.value(), key.value());
    if (!verified)
        return verified.error();
    return VerifiedUpload{statement.value(), fields.value(), fields->operatorKey};
}

CredentialRow rowFromUpload(const QString &orgId, const VerifiedUpload &upload)
{
    const CredentialStatement &fields = upload.fields;
    CredentialRow row;
    row.orgId = orgId;
    row.credentialId = fields.credentialId;
    row.name = fields.name;
    row.kind = fields.kind;
    row.version = fields.version;
    row.revision = fields.revision;
    row.statement = upload.statement.bytes;
    row.signature = upload.statement.signature;
    row.commitment = fields.commitment;
    row.commitmentVersion = kCommitmentVersion;
    row.scope = fields.scope == sealrelay::CredentialScope::AutoAll ? CredentialScope::AutoAll
                                                                    : CredentialScope::Explicit;
    row.scopeAgentIds = fields.agents;
    row.state = fields.deleted ? CredentialState::Deleted : CredentialState::Active;
    return row;
}

QString writeOutcomeMessage(CredentialWriteOutcome outcome, const QString &credentialId)
{
    switch (outcome) {
    case CredentialWriteOutcome::AlreadyExists:
        return u"Credential %1 already exists; rotate it instead of creating it."_s.arg(
            credentialId);
    case CredentialWriteOutcome::NameTaken:
        return u"Another active credential has this name; choose another name."_s;
    case CredentialWriteOutcome::NotFound:
        return u"Credential %1 does not exist; fetch the list and try again."_s.arg(credentialId);
    case CredentialWriteOutcome::Conflict:
        return u"Credential %1 changed while this upload was checked; fetch it again and sign "
               "a statement for the new version."_s.arg(credentialId);
    case CredentialWriteOutcome::Written:
        break;
    }
    return {};
}

} // namespace

ApiResponse HttpApi::handleListCredentials(const ApiRequest &request)
{
    const QString includeDeletedText = request.query.queryItemValue(u"include_deleted"_s);
    if (request.query.hasQueryItem(u"include_deleted"_s) && includeDeletedText != u"true"_s
        && includeDeletedText != u"false"_s)
        return ApiResponse::invalid(u"Invalid value \"%1\" for query parameter "
                                    "\"include_deleted\": expected true or false."_s.arg(
                                        includeDeletedText));
    const bool includeDeleted = includeDeletedText == u"true"_s;
    auto details = m_storage.credentialDetails(request.caller().orgId, includeDeleted);
    if (!details)
        return ApiResponse::internal(details.error());

    QJsonArray credentials;
    for (const CredentialDetail &detail : details.value())
        credentials.append(credentialSummaryJson(detail));
    return ApiResponse::json(200, QJsonObject{{u"credentials"_s, credentials}});
}

ApiResponse HttpApi::handleGetCredential(const ApiRequest &request)
{
    const QString credentialId = request.captures.value(0);
    auto detail = m_storage.credentialDetail(request.caller().orgId, credentialId);
    if (!detail)
        return ApiResponse::internal(detail.error());
    if (!detail.value())
        return ApiResponse::error(404, u"not_found"_s,
                                  u"Credential %1 does not exist in this org; list the "
                                  "credentials to find its id."_s.arg(credentialId));

    return ApiResponse::json(200, credentialDetailJson(*detail.value()));
}

ApiResponse HttpApi::handleCreateCredential(const ApiRequest &request)
{
    return writeCredential(request, CredentialChange::Create);
}

ApiResponse HttpApi::handleRotateCredential(const ApiRequest &request)
{
    return writeCredential(request, CredentialChange::Rotate);
}

ApiResponse HttpApi::handleChangeScope(const ApiRequest &request)
{
    return writeCredential(request, CredentialChange::Scope);
}

ApiResponse HttpApi::handleDeleteCredential(const ApiRequest &request)
{
    return writeCredential(request, CredentialChange::Delete);
}

ApiResponse HttpApi::writeCredential(const ApiRequest &request, CredentialChange change)
{
    const QString orgId = request.caller().orgId;
    const bool newValue = change == CredentialChange::Create || change == CredentialChange::Rotate;

    // The statement: strict parse, signature under its own operator_key, org.
    auto upload = verifyUpload(request.body.value(u"statement"_s));
    if (!upload)
        return badStatement(u"The credential statement was rejected: %1 Sign a "
                            "sealrelay/credential/v1 statement and send it as "
                            "{\"statement_b64\", \"signature\"}."_s.arg(upload.error().message));
    const CredentialStatement &statement = upload->fields;
    const QString credentialId = statement.credentialId;
    if (statement.orgId != orgId)
        return badStatement(u"The statement's org_id %1 is not this token's org; sign it for "
                            "org %2."_s.arg(statement.orgId, orgId));
    if (change != CredentialChange::Create && request.captures.value(0) != credentialId)
        return badStatement(u"The statement's credential_id %1 differs from the one in the "
                            "path; post it to /api/credentials/%1."_s.arg(credentialId));
    if (change == CredentialChange::Delete && !statement.deleted)
        return badStatement(u"A delete needs a statement with deleted set to true."_s);
    if (change != CredentialChange::Delete && statement.deleted)
        return badStatement(u"This statement has deleted set to true; post it to "
                            "/api/credentials/%1/delete."_s.arg(credentialId));

    // Version and revision against the stored statement.
    auto current = m_storage.credential(orgId, credentialId);
    if (!current)
        return ApiResponse::internal(current.error());
    std::optional<CredentialExpectation> expected;
    if (change == CredentialChange::Create) {
        if (statement.version != 1 || statement.revision != 1
            || !statement.prevStatementSha256.isEmpty())
            return badStatement(u"A new credential needs version 1, revision 1 and an empty "
                                "prev_statement_sha256."_s);
        if (current.value())
            return versionConflict(u"Credential %1 already exists; rotate it instead."_s.arg(
                credentialId));
    } else {
        if (!current.value())
            return ApiResponse::error(404, u"not_found"_s,
                                      u"Credential %1 does not exist in this org; create it "
                                      "first."_s.arg(credentialId));
        const CredentialRow &stored = *current.value();
        if (stored.state == CredentialState::Deleted)
            return versionConflict(u"Credential %1 is deleted; create a new credential "
                                   "instead."_s.arg(credentialId));
        if (change == CredentialChange::Rotate) {
            if (statement.version != stored.version + 1 || statement.revision != 1)
                return versionConflict(
                    u"Rotation must carry version %1 revision 1 but carries version %2 "
                    "revision %3; fetch the credential and sign again."_s.arg(
                        QString::number(stored.version + 1), QString::number(statement.version),
                        QString::number(statement.revision)));
        } else {
            if (statement.version != stored.version || statement.revision != stored.revision + 1)
                return versionConflict(
                    u"A scope change or delete must carry version %1 revision %2 but carries "
                    "version %3 revision %4; fetch the credential and sign again."_s.arg(
                        QString::number(stored.version), QString::number(stored.revision + 1),
                        QString::number(statement.version), QString::number(statement.revision)));
            if (!stored.commitment || !constantTimeEquals(*stored.commitment, statement.commitment))
                return badStatement(u"A scope change or delete must keep the commitment of the "
                                    "current version."_s);
        }
        if (statement.prevStatementSha256 != stored.statementSha256)
            return versionConflict(u"prev_statement_sha256 does not match the current "
                                   "statement %1; fetch the credential and sign again."_s.arg(
                                       stored.statementSha256));
        expected = CredentialExpectation{stored.version, stored.revision, stored.statementSha256};
    }

    // Agents in scope.
    auto agents = m_storage.agents(orgId);
    if (!agents)
        return ApiResponse::internal(agents.error());
    QHash<QString, AgentRow> agentsById;
    for (const AgentRow &agent : agents.value())
        agentsById.insert(agent.agentId, agent);
    for (const QString &listed : statement.agents) {
        if (!agentsById.contains(listed))
            return ApiResponse::invalid(u"Agent %1 in the statement's scope does not exist in "
                                        "this org; list the agents and sign again."_s.arg(listed));
    }
    QStringList inScope;
    for (const AgentRow &agent : agents.value()) {
        if (agent.status != AgentStatus::Revoked
            && (statement.deleted || statement.covers(agent.agentId)))
            inScope.append(agent.agentId);
    }

    // Envelopes with their creator attestations, keyed by target agent.
    const QJsonValue envelopesValue = request.body.value(u"envelopes"_s);
    if (!envelopesValue.isUndefined() && !envelopesValue.isObject())
        return ApiResponse::invalid(u"envelopes must be an object keyed by agent id."_s);
    const QJsonObject envelopes = envelopesValue.toObject();
    if (!newValue && !envelopes.isEmpty())
        return ApiResponse::invalid(u"A scope change or delete carries no envelopes; agents "
                                    "that gain the credential get it from a peer."_s);

    const QString statementSha = upload->statement.sha256();
    const QString operatorKeyBase64 = encodeBase64(upload->operatorKey);
    QList<PendingDeliveryRow> deliveries;
    for (auto it = envelopes.constBegin(); it != envelopes.constEnd(); ++it) {
        const QString agentId = it.key();
        const auto agent = agentsById.constFind(agentId);
        if (agent == agentsById.constEnd())
            return ApiResponse::invalid(u"Envelope for agent %1, which does not exist in this "
                                        "org; send envelopes only for listed agents."_s.arg(agentId));
        if (!inScope.contains(agentId))
            return ApiResponse::invalid(u"Envelope for agent %1, which is not in the "
                                        "statement's scope; drop it or widen the scope."_s.arg(
                                            agentId));
        const QJsonObject entry = it.value().toObject();
        auto envelope = Envelope::fromJson(entry.value(u"envelope"_s).toObject());
        if (!envelope)
            return ApiResponse::invalid(u"The envelope for agent %1 is invalid: %2"_s.arg(
                agentId, envelope.error().message));
        auto attestation = SignedStatement::fromJson(entry.value(u"attestation"_s),
                                                     u"attestation");
        if (!attestation)
            return badStatement(u"The attestation for agent %1 is invalid: %2"_s.arg(
                agentId, attestation.error().message));
        auto attestationFields = parseStatement(StatementContext::Attestation,
                                                attestation->bytes);
        if (!attestationFields)
            return badStatement(u"The attestation for agent %1 is invalid: %2"_s.arg(
                agentId, attestationFields.error().message));
        auto fields = Attestation::fromFields(attestationFields.value());
        if (!fields)
            return badStatement(u"The attestation for agent %1 is invalid: %2"_s.arg(
                agentId, fields.error().message));
        if (fields->sourceKind != AttestationSource::Creator
            || fields->sourceId != operatorKeyBase64)
            return badStatement(u"The attestation for agent %1 must have source_kind creator and "
                                "the statement's operator key as source_id."_s.arg(agentId));
        auto signer = Ed25519PublicKey::fromRaw(upload->operatorKey);
        if (!signer || !verifyStatement(StatementContext::Attestation, attestation.value(),
                                        signer.value()))
            return badStatement(u"The attestation for agent %1 is not signed by the statement's "
                                "operator key."_s.arg(agentId));

        QString mismatch;
        if (fields->orgId != orgId)
            mismatch = u"org_id"_s;
        else if (fields->credentialId != credentialId)
            mismatch = u"credential_id"_s;
        else if (fields->version != statement.version)
            mismatch = u"version"_s;
        else if (fields->revision != statement.revision)
            mismatch = u"revision"_s;
        else if (fields->statementSha256 != statementSha)
            mismatch = u"statement_sha256"_s;
        else if (fields->targetAgentId != agentId)
            mismatch = u"target_agent_id"_s;
        else if (fields->envelopeSha256 != envelope->sha256())
            mismatch = u"envelope_sha256"_s;
        else if (fields->targetKeyFingerprint != sha256Hex(agent->encryptionKey))
            mismatch = u"target_key_fingerprint"_s;
        else if (!isCanonicalUuid(fields->requestId))
            mismatch = u"request_id"_s;
        if (!mismatch.isEmpty())
            return badStatement(u"The attestation for agent %1 has a %2 that does not match the "
                                "upload; sign it for this statement and envelope."_s.arg(
                                    agentId, mismatch));

        auto envelopeBytes = canonicalJson(envelope->toJson());
        if (!envelopeBytes)
            return ApiResponse::invalid(envelopeBytes.error().message);
        PendingDeliveryRow delivery;
        delivery.orgId = orgId;
        delivery.deliveryId = newUuid();
        delivery.credentialId = credentialId;
        delivery.version = statement.version;
        delivery.targetAgentId = agentId;
        delivery.envelope = envelopeBytes.value();
        delivery.attestationStatement = attestation->bytes;
        delivery.attestationSignature = attestation->signature;
        deliveries.append(delivery);
    }

    // Store: compare-and-set on the stored statement, then the deliveries.
    const CredentialRow row = rowFromUpload(orgId, upload.value());
    Result<CredentialWriteOutcome> written = CredentialWriteOutcome::Written;
    switch (change) {
    case CredentialChange::Create:
        written = m_storage.createCredential(row, inScope);
        break;
    case CredentialChange::Rotate:
        written = m_storage.rotateCredential(*expected, row, inScope);
        break;
    case CredentialChange::Scope:
    case CredentialChange::Delete:
        written = m_storage.updateCredentialStatement(*expected, row, inScope);
        break;
    }
    if (!written) {
        if (written.error().reason == Reason::Malformed)
            return badStatement(written.error().message);
        return ApiResponse::internal(written.error());
    }
    if (written.value() == CredentialWriteOutcome::NotFound)
        return ApiResponse::error(404, u"not_found"_s,
                                  writeOutcomeMessage(written.value(), credentialId));
    if (written.value() != CredentialWriteOutcome::Written)
        return versionConflict(writeOutcomeMessage(written.value(), credentialId));

    // NOTE: the deliveries are written after the credential, outside its
    // transaction. After a storage failure here, agents get the value from
    // peers (rewrap) instead of from the creator's envelopes.
    for (const PendingDeliveryRow &delivery : deliveries) {
        auto added = m_storage.addPendingDelivery(delivery);
        if (!added)
            return ApiResponse::internal(added.error());
    }

    static const QString events[] = {u"credential_created"_s, u"credential_rotated"_s,
                                     u"credential_scope_changed"_s, u"credential_deleted"_s};
    const QString event = events[int(change)];
    auto audited = audit(request, event, credentialId, std::nullopt,
                         QJsonObject{{u"version"_s, statement.version},
                                     {u"revision"_s, statement.revision},
                                     {u"statement_sha256"_s, statementSha},
                                     {u"envelopes"_s, deliveries.size()}});
    if (!audited)
        return ApiResponse::internal(audited.error());

    logger("backend.api")->info("{} credential {} version {} revision {} by token {} ({} envelopes)",
                                event.toStdString(), credentialId.toStdString(),
                                statement.version, statement.revision,
                                request.caller().tokenId.toStdString(), deliveries.size());

    auto stored = m_storage.credentialDetail(orgId, credentialId);
    if (!stored || !stored.value())
        return ApiResponse::json(change == CredentialChange::Create ? 201 : 200,
                                 QJsonObject{{u"credential_id"_s, credentialId}});
    QJsonObject response = credentialSummaryJson(*stored.value());
    publish(orgId, u"credential_sync_changed"_s,
            QJsonObject{{u"credential_id"_s, credentialId},
                        {u"change"_s, event},
                        {u"credential"_s, response}});
    if (m_hooks.credentialWritten)
        m_hooks.credentialWritten(orgId, credentialId);
    response.insert(u"deliveries_queued"_s, deliveries.size());
    return ApiResponse::json(change == CredentialChange::Create ? 201 : 200, response);
}

HttpApi::RetryTargets HttpApi::retryTargets(const QString &orgId, const CredentialDetail &detail)
{
    RetryTargets targets;
    auto agents = m_storage.agents(orgId);
    if (!agents) {
        logger("backend.api")
            ->warn("Retry of credential {}: cannot read the agents of org {}: {}",
                   detail.credential.credentialId.toStdString(), orgId.toStdString(),
                   agents.error().message.toStdString());
        return targets;
    }
    QHash<QString, const AgentRow *> byId;
    for (const AgentRow &agent : std::as_const(agents.value()))
        byId.insert(agent.agentId, &agent);

    const CredentialRow &credential = detail.credential;
    for (const CredentialAgentRow &row : detail.agents) {
        const AgentRow *agent = byId.value(row.agentId);
        if (!agent)
            continue;
        const QString connection = m_hooks.agentSyncState
            ? m_hooks.agentSyncState(*agent).value(u"connection"_s).toString()
            : u"unknown"_s;
        const bool connected = connection == u"online"_s || connection == u"backfilling"_s;
        if (row.secretStored && row.storedVersion == credential.version && connected)
            ++targets.onlineHolders;
        if (rowCountedInSync(credential, row) && !rowDelivered(credential, row)) {
            targets.lacking.append(QJsonObject { { u"agent_id"_s, row.agentId },
                                                 { u"name"_s, agent->name },
                                                 { u"connection"_s, connection } });
        }
    }
    return targets;
}

ApiResponse HttpApi::handleRetryCredential(const ApiRequest &request)
{
    const QString orgId = request.caller().orgId;
    const QString credentialId = request.captures.value(0);

    auto current = m_storage.credential(orgId, credentialId);
    if (!current)
        return ApiResponse::internal(current.error());
    if (!current.value())
        return ApiResponse::error(404, u"not_found"_s,
                                  u"Credential %1 does not exist in this org; list the "
                                  "credentials to find its id."_s.arg(credentialId));

    const QString key = orgId + u'/' + credentialId;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const auto last = m_lastRetry.constFind(key);
    if (last != m_lastRetry.constEnd() && last.value().msecsTo(now) < m_settings.retryWindowMs) {
        const qint64 waitMs = m_settings.retryWindowMs - last.value().msecsTo(now);
        ApiResponse response = ApiResponse::error(
            429, u"rate_limited"_s,
            u"Credential %1 was retried less than %2 ms ago; wait %3 ms and retry again."_s.arg(
                credentialId, QString::number(m_settings.retryWindowMs),
                QString::number(waitMs)));
        response.headers.append({QByteArrayLiteral("Retry-After"),
                                 QByteArray::number((waitMs + 999) / 1000)});
        return response;
    }

    // Stalled rows are cleared and made due now; the sync engine then syncs
    // the rows of connected agents at once.
    auto reset = m_storage.retryCredential(orgId, credentialId);
    if (!reset)
        return ApiResponse::internal(reset.error());
    m_lastRetry.insert(key, now);
    if (m_lastRetry.size() > 1000) {
        m_lastRetry.removeIf([&](const auto &entry) {
            return entry.value().msecsTo(now) >= m_settings.retryWindowMs;
        });
    }

    auto audited = audit(request, u"credential_retry"_s, credentialId, std::nullopt,
                         QJsonObject{{u"rows_reset"_s, reset.value()}});
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("Retry of credential {} by token {}: {} rows due now",
                                credentialId.toStdString(),
                                request.caller().tokenId.toStdString(), reset.value());
    QJsonObject event{{u"credential_id"_s, credentialId},
                      {u"change"_s, u"credential_retry"_s},
                      {u"rows_reset"_s, reset.value()}};
    QJsonObject reply{{u"credential_id"_s, credentialId}, {u"rows_reset"_s, reset.value()}};
    if (auto stored = m_storage.credentialDetail(orgId, credentialId); stored && stored.value()) {
        event.insert(u"credential"_s, credentialSummaryJson(*stored.value()));
        reply.insert(u"name"_s, stored.value()->credential.name);
        // The row counts after the reset: in_scope minus delivered is what
        // the retry still syncs.
        reply.insert(u"sync"_s, syncSummaryJson(*stored.value()));
        const RetryTargets targets = retryTargets(orgId, *stored.value());
        reply.insert(u"lacking"_s, targets.lacking);
        reply.insert(u"online_holders"_s, targets.onlineHolders);
    }
    publish(orgId, u"credential_sync_changed"_s, event);
    if (m_hooks.credentialRetried)
        m_hooks.credentialRetried(orgId, credentialId);
    return ApiResponse::json(200, reply);
}

} // namespace sealrelay::backend
