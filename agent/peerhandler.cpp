// The peer's checks of a rewrap_request and the re-encryption of the payload
// it holds.
#include "peerhandler.h"

#include "envelope.h"
#include "ids.h"
#include "localaudit.h"
#include "logging.h"
#include "statementorder.h"
#include "truststore.h"
#include "vault.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

bool isPeerRefusal(const Error &error)
{
    return isPeerRefusalReason(error.reason);
}

} // namespace

PeerHandler::PeerHandler(Vault &vault, TrustStore &trust, AgentIdentity identity,
                         std::shared_ptr<CredentialLocks> locks)
    : m_vault(vault)
    , m_trust(trust)
    , m_identity(std::move(identity))
    , m_locks(locks ? std::move(locks) : std::make_shared<CredentialLocks>())
{
}

Result<RewrapReply> PeerHandler::handleRewrapRequest(const RewrapRequest &request)
{
    const CredentialLock lock = m_locks->lock(request.credentialId);

    AgentCertificate target;
    Result<CredentialStatement> statement = checkRequest(request, target);
    if (!statement) {
        if (!isPeerRefusal(statement.error()))
            return statement.error();
        return refuse(request, statement.error());
    }

    Result<SecureBuffer> payload = m_vault.loadPayload(request.credentialId);
    if (!payload) {
        // A row that does not open is a damaged vault; the backend should
        // ask another peer, which NOT_HELD makes it do.
        return refuse(
            request,
            makeError(Reason::NotHeld,
                      u"the stored payload cannot be used: %1"_s.arg(payload.error().message)));
    }

    Result<const TargetKey *> targetKey = this->targetKey(target.encryptionKey);
    if (!targetKey)
        return targetKey.error();
    Result<Envelope> envelope = sealEnvelope(targetKey.value()->key, payload->view());
    payload->clear();
    if (!envelope)
        return envelope.error();

    Attestation attestation;
    attestation.orgId = m_identity.orgId;
    attestation.requestId = request.requestId;
    attestation.credentialId = statement->credentialId;
    attestation.version = statement->version;
    attestation.revision = statement->revision;
    attestation.statementSha256 = request.statement.sha256();
    attestation.targetAgentId = target.agentId;
    attestation.targetKeyFingerprint = targetKey.value()->fingerprint;
    attestation.sourceKind = AttestationSource::Peer;
    attestation.sourceId = m_identity.agentId;
    attestation.envelopeSha256 = envelope->sha256();
    Result<SignedStatement> signedAttestation =
        m_identity.sign(StatementContext::Attestation, attestation.toFields());
    if (!signedAttestation)
        return signedAttestation.error();

    LocalAuditEntry entry;
    entry.event = u"rewrap_sent"_s;
    entry.severity = AuditSeverity::Info;
    entry.credentialId = statement->credentialId;
    entry.version = statement->version;
    entry.revision = statement->revision;
    entry.referenceId = request.requestId;
    entry.counterpartId = target.agentId;
    entry.detail = u"sealed to target key %1 (generation %2)"_s.arg(
        attestation.targetKeyFingerprint, QString::number(target.generation));
    // The row reaches the disk within kDeferredSyncDelay instead of before
    // the reply: a power loss in that window can take it, while the envelope
    // has left. The target's receipt and the backend's audit row still
    // record the delivery.
    if (Result<qint64> audited =
            m_vault.audit().append(entry, CommitDurability::WithinSyncDelay);
        !audited)
        return audited.error();

    logger("agent.peer")
        ->info("rewrapped credential {} version {} for agent {} (request {})",
               statement->credentialId.toStdString(), statement->version,
               target.agentId.toStdString(), request.requestId.toStdString());

    RewrapResponse response;
    response.id = newUuid();
    response.requestId = request.requestId;
    response.credentialId = request.credentialId;
    response.targetAgentId = request.targetAgentId;
    response.envelope = std::move(envelope).value();
    response.attestation = std::move(signedAttestation).value();
    return RewrapReply(std::move(response));
}

Result<const PeerHandler::TargetKey *> PeerHandler::targetKey(const QByteArray &spkiDer)
{
    if (m_lastTargetKey && m_lastTargetKey->spkiDer == spkiDer)
        return &*m_lastTargetKey;

    m_lastTargetKey.reset();
    Result<RsaPublicKey> key = RsaPublicKey::fromSpkiDer(spkiDer);
    if (!key)
        return key.error();
    const QString fingerprint = key->fingerprint();
    m_lastTargetKey = TargetKey { spkiDer, std::move(key).value(), fingerprint };
    return &*m_lastTargetKey;
}

Result<CredentialStatement> PeerHandler::checkRequest(const RewrapRequest &request,
                                                      AgentCertificate &target)
{
    // UNTRUSTED_TARGET_KEY: the backend must not get a secret sealed to a key
    // of its choosing.
    Result<AgentCertificate> certificate =
        m_trust.verifyCertificate(request.targetCertificate, Reason::UntrustedTargetKey);
    if (!certificate)
        return certificate.error();
    if (certificate->agentId != request.targetAgentId) {
        return makeError(Reason::UntrustedTargetKey,
                         u"the target certificate is for agent %1, but the request names target "
                         u"agent %2"_s.arg(certificate->agentId, request.targetAgentId));
    }
    target = certificate.value();

    // BAD_STATEMENT: an untrusted signer is BAD_STATEMENT here too.
    Result<CredentialStatement> statement = m_trust.verifyCredentialStatement(request.statement);
    if (!statement)
        return makeError(Reason::BadStatement, statement.error().message);
    if (statement->orgId != m_identity.orgId || statement->credentialId != request.credentialId) {
        return makeError(Reason::BadStatement,
                         u"the statement is for credential %1 in org %2, but the request is for "
                         u"credential %3 in org %4"_s.arg(statement->credentialId, statement->orgId,
                                                          request.credentialId, m_identity.orgId));
    }

    // STALE_STATEMENT.
    Result<std::optional<HeldCredential>> held = m_vault.findCredential(request.credentialId);
    if (!held)
        return held.error();
    if (held.value()) {
        const HeldCredential &current = *held.value();
        const StatementOrder order =
            compareStatements({ current.version, current.revision, current.statement.bytes },
                              { statement->version, statement->revision, request.statement.bytes });
        if (order == StatementOrder::Older) {
            return makeError(Reason::StaleStatement,
                             u"the statement is version %1 revision %2, older than the held "
                             u"version %3 revision %4"_s.arg(QString::number(statement->version),
                                                             QString::number(statement->revision),
                                                             QString::number(current.version),
                                                             QString::number(current.revision)));
        }
        if (order == StatementOrder::Conflicting) {
            return makeError(Reason::BadStatement,
                             u"the statement differs from the held statement of the same version "
                             u"%1 and revision %2"_s.arg(QString::number(statement->version),
                                                         QString::number(statement->revision)));
        }
    }

    // NOT_HELD: only the version and commitment held as current are served.
    const bool holdsVersion = held.value() && held.value()->state == HeldState::Stored
        && held.value()->version == statement->version && request.version == statement->version
        && held.value()->commitment == statement->commitment;
    if (!holdsVersion) {
        return makeError(Reason::NotHeld,
                         u"this agent does not hold credential %1 version %2 with the "
                         u"statement's commitment as current"_s.arg(
                             request.credentialId, QString::number(request.version)));
    }

    // OUT_OF_SCOPE.
    if (!statement->covers(target.agentId)) {
        return makeError(Reason::OutOfScope,
                         u"target agent %1 is not in the scope of credential %2 version %3 "
                         u"revision %4"_s.arg(target.agentId, statement->credentialId,
                                              QString::number(statement->version),
                                              QString::number(statement->revision)));
    }
    return statement;
}

Result<RewrapReply> PeerHandler::refuse(const RewrapRequest &request, const Error &refusal)
{
    LocalAuditEntry entry;
    entry.event = u"rewrap_refused"_s;
    entry.severity = AuditSeverity::Critical;
    entry.credentialId = request.credentialId;
    entry.version = request.version;
    entry.reason = reasonName(refusal.reason);
    entry.referenceId = request.requestId;
    entry.counterpartId = request.targetAgentId;
    entry.detail = refusal.message;

    const auto log = logger("agent.peer");
    log->critical("refused rewrap of credential {} version {} for agent {} (request {}): {}: {}",
                  request.credentialId.toStdString(), request.version,
                  request.targetAgentId.toStdString(), request.requestId.toStdString(),
                  entry.reason.toStdString(), refusal.message.toStdString());
    if (Result<qint64> audited = m_vault.audit().append(entry); !audited) {
        log->critical("could not write the refused rewrap of credential {} to the local audit "
                      "log: {}",
                      request.credentialId.toStdString(), audited.error().message.toStdString());
    }

    RewrapRefused reply;
    reply.id = newUuid();
    reply.requestId = request.requestId;
    reply.credentialId = request.credentialId;
    reply.targetAgentId = request.targetAgentId;
    reply.reason = refusal.reason;
    return RewrapReply(std::move(reply));
}

} // namespace sealrelay::agent
