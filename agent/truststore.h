// The agent's trust roots and the checks built on them. A credential
// statement must be signed by a trusted operator. An agent certificate (of a
// peer, a target or the agent itself) must verify under a trusted operator
// key, be unexpired, belong to the agent's org and be of the highest
// generation seen for its agent_id. Trust comes only from the local
// trusted-operators file, never from the backend.
#pragma once

#include "clock.h"
#include "error.h"
#include "keys.h"
#include "statement.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>

namespace sealrelay::agent {

struct AgentIdentity;
class Vault;

// Checks the signature of a statement whose bytes the caller has already
// parsed with parseStatement(statement.bytes) in `context`. It is
// verifyStatement() without the second parse and fails with the same
// Reason::BadStatement and message.
Result<void> verifyParsedStatement(StatementContext context, const SignedStatement &statement,
                                   const Ed25519PublicKey &signer);

// A trust store belongs to the thread of its vault, like the vault itself.
class TrustStore {
public:
    // `vault` records the highest certificate generation per agent_id and
    // must outlive the trust store.
    TrustStore(QList<Ed25519PublicKey> trustedOperators, QString orgId, Vault &vault,
               Clock clock = systemClock());

    // Reads the trusted-operators file (one base64 raw Ed25519 key per line).
    static Result<TrustStore> fromFile(const QString &path, QString orgId, Vault &vault,
                                       Clock clock = systemClock());

    const QString &orgId() const { return m_orgId; }
    const QList<Ed25519PublicKey> &trustedOperators() const { return m_trustedOperators; }

    bool isTrustedOperator(const Ed25519PublicKey &key) const;
    // `raw` is a 32-byte raw Ed25519 public key.
    bool isTrustedOperator(QByteArrayView raw) const;

    // Verifies a credential statement: the strict parse and the signature
    // under its own operator_key (Reason::BadStatement), then whether that key
    // is trusted (Reason::UntrustedOperator).
    Result<CredentialStatement> verifyCredentialStatement(const SignedStatement &statement) const;

    // Verifies an agent certificate: strict parse, signature under its
    // operator_key, operator key trusted, org_id equal to this agent's,
    // expires_at after now, and generation not lower than the highest seen
    // for its agent_id. A higher generation is recorded in the vault. Every
    // failure is reported with `failureReason`, because the reason depends on
    // what the certificate is for (UNTRUSTED_TARGET_KEY for a rewrap target,
    // BAD_ATTESTATION for a delivery's source). The parse and the signature
    // check are cached per exact certificate bytes and signature, and every
    // other check runs on each call.
    Result<AgentCertificate> verifyCertificate(const SignedStatement &certificate,
                                               Reason failureReason);

    // verifyCertificate() for the agent's own certificate, which must also
    // name its agent_id and both of its public keys (Reason::Forbidden).
    Result<AgentCertificate> verifyOwnCertificate(const SignedStatement &certificate,
                                                  const AgentIdentity &identity);

private:
    // Parses `certificate` and checks its signature under its own
    // operator_key, or returns the fields of an earlier call with the same
    // bytes and signature.
    Result<AgentCertificate> parseSignedCertificate(const SignedStatement &certificate);

    // Returns the trusted key whose raw bytes are `raw`, or null.
    const Ed25519PublicKey *trustedOperator(QByteArrayView raw) const;

    // The trusted operators' keys, and their raw bytes at the same index.
    QList<Ed25519PublicKey> m_trustedOperators;
    QList<QByteArray> m_trustedOperatorsRaw;
    QString m_orgId;
    Vault &m_vault;
    Clock m_clock;
    // Fields of certificates whose strict parse and signature passed, keyed
    // by signature || bytes. The signature has a fixed size of 64 bytes, so
    // two different certificates never share a key. A source peer sends the
    // same certificate with every delivery, and its parse (which decodes the
    // RSA key) and signature check are the larger part of checking it.
    QHash<QByteArray, AgentCertificate> m_signedCertificates;
};

} // namespace sealrelay::agent
