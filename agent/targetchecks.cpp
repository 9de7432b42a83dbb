// The ten checks a target applies to a credential_store, in the order and
// with the reasons of the protocol.
#include "base64.h"
#include "digest.h"
#include "envelope.h"
#include "payload.h"
#include "statementorder.h"
#include "targethandler.h"
#include "truststore.h"
#include "vault.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

// Reads the attestation's fields without checking its signature. Check 3
// compares their ids, and check 7 verifies the signature over the same bytes.
Result<Attestation> readUnverifiedAttestation(const SignedStatement &attestation)
{
    Result<QJsonObject> fields = parseStatement(StatementContext::Attestation, attestation.bytes);
    if (!fields)
        return fields.error();
    return Attestation::fromFields(fields.value());
}

} // namespace

PrecomputedChecks TargetHandler::precompute(const CredentialStore &message) const
{
    PrecomputedChecks checks;
    checks.statement = m_trust.verifyCredentialStatement(message.statement);
    checks.payload = openEnvelope(m_identity.encryptionKey, message.envelope);
    return checks;
}

Result<CheckedDelivery> TargetHandler::checkDelivery(const CredentialStore &message,
                                                     PrecomputedChecks *precomputed)
{
    CredentialLock lock = m_locks->lock(message.credentialId);

    // 1. BAD_STATEMENT and 2. UNTRUSTED_OPERATOR.
    Result<CredentialStatement> statement = precomputed && precomputed->statement
        ? std::move(*precomputed->statement)
        : m_trust.verifyCredentialStatement(message.statement);
    if (!statement)
        return statement.error();

    // 3. ID_MISMATCH.
    const Result<Attestation> attestation = readUnverifiedAttestation(message.attestation);
    if (Result<void> ids =
            checkIds(message, statement.value(), attestation ? &attestation.value() : nullptr);
        !ids) {
        return ids.error();
    }

    // 4. SUPERSEDED and 5. EQUIVOCATION.
    if (Result<void> order = checkOrder(message.statement, statement.value()); !order)
        return order.error();

    // 6. OUT_OF_SCOPE.
    if (!statement->covers(m_identity.agentId)) {
        return makeError(Reason::OutOfScope,
                         u"credential %1 version %2 revision %3 does not include agent %4 in its "
                         u"scope%5"_s.arg(statement->credentialId,
                                          QString::number(statement->version),
                                          QString::number(statement->revision), m_identity.agentId,
                                          statement->deleted ? u" (it is deleted)"_s : QString()));
    }

    // 7. BAD_ATTESTATION.
    if (Result<void> attested = checkAttestation(message, statement.value(), attestation);
        !attested) {
        return attested.error();
    }

    // 8. DECRYPT_FAILED.
    Result<SecureBuffer> payloadBytes = precomputed && precomputed->payload
        ? std::move(*precomputed->payload)
        : openEnvelope(m_identity.encryptionKey, message.envelope);
    if (!payloadBytes)
        return payloadBytes.error();

    // 9. PAYLOAD_MISMATCH.
    Result<Payload> payload = parsePayload(payloadBytes->view());
    if (!payload)
        return payload.error();
    if (payload->credentialId != statement->credentialId
        || payload->version != statement->version) {
        return makeError(Reason::PayloadMismatch,
                         u"the payload is for credential %1 version %2, but the statement is for "
                         u"credential %3 version %4"_s.arg(
                             payload->credentialId, QString::number(payload->version),
                             statement->credentialId, QString::number(statement->version)));
    }

    // 10. COMMITMENT_MISMATCH, compared in constant time.
    if (Result<void> committed =
            verifyCommitment(payload->salt, payload->secretBytes.view(), statement->commitment);
        !committed) {
        return committed.error();
    }
    Result<QByteArray> commitment = computeCommitment(payload->salt, payload->secretBytes.view());
    if (!commitment)
        return commitment.error();

    return CheckedDelivery { message, std::move(statement).value(), std::move(payloadBytes).value(),
                             std::move(commitment).value(), std::move(lock) };
}

Result<void> TargetHandler::checkIds(const CredentialStore &message,
                                     const CredentialStatement &statement,
                                     const Attestation *attestation) const
{
    const auto mismatch = [](const QString &what) {
        return makeError(Reason::IdMismatch, what);
    };

    if (statement.orgId != m_identity.orgId) {
        return mismatch(u"the statement is for org %1, but this agent is in org %2"_s.arg(
            statement.orgId, m_identity.orgId));
    }
    if (statement.credentialId != message.credentialId) {
        return mismatch(u"the statement is for credential %1, but the delivery names credential "
                        u"%2"_s.arg(statement.credentialId, message.credentialId));
    }

    // An attestation that does not parse is left to check 7.
    if (!attestation)
        return {};
    if (attestation->orgId != m_identity.orgId) {
        return mismatch(u"the attestation is for org %1, but this agent is in org %2"_s.arg(
            attestation->orgId, m_identity.orgId));
    }
    if (attestation->credentialId != message.credentialId) {
        return mismatch(u"the attestation is for credential %1, but the delivery names credential "
                        u"%2"_s.arg(attestation->credentialId, message.credentialId));
    }
    if (attestation->targetAgentId != m_identity.agentId) {
        return mismatch(u"the attestation names target agent %1, but this agent is %2"_s.arg(
            attestation->targetAgentId, m_identity.agentId));
    }
    return {};
}

Result<void> TargetHandler::checkOrder(const SignedStatement &signedStatement,
                                       const CredentialStatement &statement) const
{
    Result<std::optional<HeldCredential>> held = m_vault.findCredential(statement.credentialId);
    if (!held)
        return held.error();
    if (!held.value())
        return {};

    const HeldCredential &current = *held.value();
    switch (compareStatements({ current.version, current.revision, current.statement.bytes },
                              { statement.version, statement.revision, signedStatement.bytes })) {
    case StatementOrder::Older:
        return makeError(Reason::Superseded,
                         u"credential %1 version %2 revision %3 is older than the stored version "
                         u"%4 revision %5"_s.arg(
                             statement.credentialId, QString::number(statement.version),
                             QString::number(statement.revision), QString::number(current.version),
                             QString::number(current.revision)));
    case StatementOrder::Conflicting:
        return makeError(Reason::Equivocation,
                         u"credential %1 version %2 revision %3 has other statement bytes than "
                         u"the stored statement of the same version and revision"_s.arg(
                             statement.credentialId, QString::number(statement.version),
                             QString::number(statement.revision)));
    case StatementOrder::Newer:
    case StatementOrder::Identical:
        break;
    }
    return {};
}

Result<void> TargetHandler::checkAttestation(const CredentialStore &message,
                                             const CredentialStatement &statement,
                                             const Result<Attestation> &attestation)
{
    const auto bad = [](const QString &what) {
        return makeError(Reason::BadAttestation, what);
    };

    if (!attestation)
        return bad(attestation.error().message);

    // The key the attestation must verify under: the source peer's certified
    // identity key, or a trusted operator key for the creator.
    std::optional<Ed25519PublicKey> signer;
    if (message.source.kind == AttestationSource::Peer) {
        Result<AgentCertificate> certificate =
            m_trust.verifyCertificate(message.source.certificate, Reason::BadAttestation);
        if (!certificate)
            return certificate.error();
        if (certificate->agentId != message.source.agentId) {
            return bad(u"the source certificate is for agent %1, but the delivery names source "
                       u"agent %2"_s.arg(certificate->agentId, message.source.agentId));
        }
        if (attestation->sourceKind != AttestationSource::Peer
            || attestation->sourceId != certificate->agentId) {
            return bad(u"the attestation names source %1, not the peer %2 of the delivery"_s.arg(
                attestation->sourceId, certificate->agentId));
        }
        Result<Ed25519PublicKey> identityKey = Ed25519PublicKey::fromRaw(certificate->identityKey);
        if (!identityKey)
            return bad(identityKey.error().message);
        signer = identityKey.value();
    } else {
        Result<Ed25519PublicKey> operatorKey =
            Ed25519PublicKey::fromRaw(message.source.operatorKey);
        if (!operatorKey)
            return bad(operatorKey.error().message);
        if (!m_trust.isTrustedOperator(operatorKey.value())) {
            return bad(u"the creator key %1 is not in the trusted-operators file"_s.arg(
                operatorKey->rawBase64()));
        }
        if (attestation->sourceKind != AttestationSource::Creator
            || attestation->sourceId != operatorKey->rawBase64()) {
            return bad(u"the attestation names source %1, not the creator %2 of the "
                       u"delivery"_s.arg(attestation->sourceId, operatorKey->rawBase64()));
        }
        signer = operatorKey.value();
    }

    if (Result<void> verified =
            verifyParsedStatement(StatementContext::Attestation, message.attestation, *signer);
        !verified) {
        return bad(u"the attestation does not verify under the source's key: %1"_s.arg(
            verified.error().message));
    }

    // The attestation must bind exactly what this agent received.
    const auto differs = [&](const QString &field) {
        return bad(u"the attestation's %1 differs from this delivery's"_s.arg(field));
    };
    if (attestation->orgId != m_identity.orgId)
        return differs(u"org_id"_s);
    if (attestation->credentialId != statement.credentialId)
        return differs(u"credential_id"_s);
    if (attestation->version != statement.version || attestation->revision != statement.revision)
        return differs(u"version or revision"_s);
    if (attestation->statementSha256 != message.statement.sha256())
        return differs(u"statement_sha256"_s);
    if (attestation->targetAgentId != m_identity.agentId)
        return differs(u"target_agent_id"_s);
    if (attestation->targetKeyFingerprint != m_encryptionKeyFingerprint)
        return differs(u"target_key_fingerprint (this agent's encryption key)"_s);
    if (attestation->envelopeSha256 != message.envelope.sha256())
        return differs(u"envelope_sha256"_s);
    return {};
}

} // namespace sealrelay::agent
