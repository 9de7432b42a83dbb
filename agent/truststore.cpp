// Verification of credential statements and agent certificates against the
// local trusted-operators list.
#include "truststore.h"

#include "agentidentity.h"
#include "ids.h"
#include "logging.h"
#include "vault.h"

#include <optional>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

// Maximum number of certificates that TrustStore::parseSignedCertificate()
// keeps. An agent checks one certificate per peer or target agent, and the
// cache is cleared when full.
constexpr qsizetype kMaxCachedCertificates = 256;

} // namespace

Result<void> verifyParsedStatement(StatementContext context, const SignedStatement &statement,
                                   const Ed25519PublicKey &signer)
{
    if (signer.verify(signingInput(context, statement.bytes), statement.signature))
        return {};
    return makeError(Reason::BadStatement,
                     u"%1 statement: signature does not verify under the key %2"_s.arg(
                         contextName(context), signer.rawBase64()));
}

TrustStore::TrustStore(QList<Ed25519PublicKey> trustedOperators, QString orgId, Vault &vault,
                       Clock clock)
    : m_trustedOperators(std::move(trustedOperators))
    , m_orgId(std::move(orgId))
    , m_vault(vault)
    , m_clock(std::move(clock))
{
    for (const Ed25519PublicKey &key : std::as_const(m_trustedOperators))
        m_trustedOperatorsRaw.append(key.raw());
}

Result<TrustStore> TrustStore::fromFile(const QString &path, QString orgId, Vault &vault,
                                        Clock clock)
{
    Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path);
    if (!keys)
        return keys.error();
    if (keys->isEmpty()) {
        return makeError(Reason::InvalidKey,
                         u"the trusted-operators file %1 lists no key; add the base64 public key "
                         u"of at least one operator"_s.arg(path));
    }
    return TrustStore(std::move(keys).value(), std::move(orgId), vault, std::move(clock));
}

bool TrustStore::isTrustedOperator(const Ed25519PublicKey &key) const
{
    return trustedOperator(key.raw()) != nullptr;
}

bool TrustStore::isTrustedOperator(QByteArrayView raw) const
{
    return trustedOperator(raw) != nullptr;
}

const Ed25519PublicKey *TrustStore::trustedOperator(QByteArrayView raw) const
{
    const qsizetype index = m_trustedOperatorsRaw.indexOf(raw);
    return index < 0 ? nullptr : &m_trustedOperators.at(index);
}

Result<CredentialStatement>
TrustStore::verifyCredentialStatement(const SignedStatement &statement) const
{
    Result<QJsonObject> fields = parseStatement(StatementContext::Credential, statement.bytes);
    if (!fields)
        return fields.error();
    Result<CredentialStatement> parsed = CredentialStatement::fromFields(fields.value());
    if (!parsed)
        return parsed.error();
    // A trusted operator's key object is reused. Any other key is built only
    // to check the signature first, so a bad signature is BAD_STATEMENT.
    const Ed25519PublicKey *trusted = trustedOperator(parsed->operatorKey);
    std::optional<Ed25519PublicKey> untrusted;
    if (!trusted) {
        Result<Ed25519PublicKey> built = Ed25519PublicKey::fromRaw(parsed->operatorKey);
        if (!built)
            return makeError(Reason::BadStatement, built.error().message);
        untrusted = std::move(built).value();
    }
    const Ed25519PublicKey &signer = trusted ? *trusted : *untrusted;
    if (Result<void> verified =
            verifyParsedStatement(StatementContext::Credential, statement, signer);
        !verified) {
        return verified.error();
    }
    if (!trusted) {
        return makeError(
            Reason::UntrustedOperator,
            u"credential statement for %1 is signed by operator key %2, which is not "
            u"in the trusted-operators file"_s.arg(parsed->credentialId, signer.rawBase64()));
    }
    return parsed;
}

Result<AgentCertificate> TrustStore::verifyCertificate(const SignedStatement &certificate,
                                                       Reason failureReason)
{
    const auto fail = [&](const QString &message) {
        return makeError(failureReason, message);
    };

    Result<AgentCertificate> parsed = parseSignedCertificate(certificate);
    if (!parsed)
        return fail(parsed.error().message);
    const AgentCertificate &fieldsRead = parsed.value();

    Result<Ed25519PublicKey> signer = Ed25519PublicKey::fromRaw(fieldsRead.operatorKey);
    if (!signer)
        return fail(signer.error().message);
    if (!isTrustedOperator(signer.value())) {
        return fail(u"the certificate of agent %1 is signed by operator key %2, which is not in "
                    u"the trusted-operators file"_s.arg(fieldsRead.agentId, signer->rawBase64()));
    }
    if (fieldsRead.orgId != m_orgId) {
        return fail(u"the certificate of agent %1 is for org %2, not this agent's org %3"_s.arg(
            fieldsRead.agentId, fieldsRead.orgId, m_orgId));
    }
    const QDateTime now = m_clock();
    if (fieldsRead.expiresAt <= now) {
        return fail(u"the certificate of agent %1 (generation %2) expired at %3"_s.arg(
            fieldsRead.agentId, QString::number(fieldsRead.generation),
            formatTimestamp(fieldsRead.expiresAt)));
    }

    Result<std::optional<qint64>> highest = m_vault.highestGeneration(fieldsRead.agentId);
    if (!highest)
        return highest.error();
    if (highest.value() && fieldsRead.generation < *highest.value()) {
        return fail(u"the certificate of agent %1 has generation %2, lower than generation %3 "
                    u"seen before"_s.arg(fieldsRead.agentId, QString::number(fieldsRead.generation),
                                         QString::number(*highest.value())));
    }
    if (!highest.value() || fieldsRead.generation > *highest.value()) {
        if (Result<void> recorded =
                m_vault.recordGeneration(fieldsRead.agentId, fieldsRead.generation);
            !recorded) {
            return recorded.error();
        }
        logger("agent.trust")
            ->info("agent {} is now at certificate generation {}", fieldsRead.agentId.toStdString(),
                   fieldsRead.generation);
    }
    return parsed;
}

Result<AgentCertificate> TrustStore::parseSignedCertificate(const SignedStatement &certificate)
{
    const QByteArray key = certificate.signature + certificate.bytes;
    if (const auto cached = m_signedCertificates.constFind(key);
        cached != m_signedCertificates.cend()) {
        return cached.value();
    }

    Result<QJsonObject> fields =
        parseStatement(StatementContext::AgentCertificate, certificate.bytes);
    if (!fields)
        return fields.error();
    Result<AgentCertificate> parsed = AgentCertificate::fromFields(fields.value());
    if (!parsed)
        return parsed.error();
    Result<Ed25519PublicKey> signer = Ed25519PublicKey::fromRaw(parsed->operatorKey);
    if (!signer)
        return signer.error();
    if (Result<void> verified =
            verifyParsedStatement(StatementContext::AgentCertificate, certificate, signer.value());
        !verified) {
        return verified.error();
    }

    // Only a certificate whose signature verified is kept. A signature of
    // another size than 64 bytes never verifies, so every key starts with
    // exactly 64 signature bytes.
    if (m_signedCertificates.size() >= kMaxCachedCertificates)
        m_signedCertificates.clear();
    m_signedCertificates.insert(key, parsed.value());
    return parsed;
}

Result<AgentCertificate> TrustStore::verifyOwnCertificate(const SignedStatement &certificate,
                                                          const AgentIdentity &identity)
{
    Result<AgentCertificate> verified = verifyCertificate(certificate, Reason::Forbidden);
    if (!verified)
        return verified;
    if (verified->agentId != identity.agentId
        || verified->encryptionKey != identity.encryptionKey.publicKey().spkiDer()
        || verified->identityKey != identity.identityKey.publicKey().raw()) {
        return makeError(Reason::Forbidden,
                         u"the certificate names agent %1 with keys other than this agent's "
                         u"(agent %2, fingerprint %3); it is not this agent's certificate"_s.arg(
                             verified->agentId, identity.agentId, identity.fingerprint()));
    }
    return verified;
}

} // namespace sealrelay::agent
