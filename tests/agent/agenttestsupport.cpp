// Builders and fixtures shared by the agent suites.
#include "agenttestsupport.h"

#include "base64.h"
#include "digest.h"
#include "ids.h"
#include "payload.h"
#include "testdata.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QTest>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent::test {

namespace {

QString vectorText(const QString &key)
{
    return sealrelay::test::interopVectors().value(key).toString();
}

template<typename T> T require(Result<T> result, const char *what)
{
    if (!result) {
        qFatal("test set-up failed (%s): %s", what, qPrintable(result.error().message));
    }
    return std::move(result).value();
}

} // namespace

QDateTime testNow()
{
    return QDateTime(QDate(2026, 12, 10), QTime(12, 0), Qt::UTC);
}

Clock testClock()
{
    return [] {
        return testNow();
    };
}

QByteArray testMasterKey(char seed)
{
    QByteArray input("vault master key ");
    input.append(seed);
    return QCryptographicHash::hash(input, QCryptographicHash::Sha256);
}

Ed25519PrivateKey vectorOperatorKey()
{
    return require(
        Ed25519PrivateKey::fromPkcs8Pem(vectorText(u"operator_private_key_pkcs8_pem"_s).toUtf8()),
        "vector operator key");
}

Ed25519PrivateKey vectorPeerIdentityKey()
{
    return require(Ed25519PrivateKey::fromPkcs8Pem(
                       vectorText(u"peer_identity_private_key_pkcs8_pem"_s).toUtf8()),
                   "vector peer identity key");
}

RsaPrivateKey vectorRsaKey()
{
    return require(RsaPrivateKey::fromPkcs8Pem(vectorText(u"rsa_private_key_pkcs8_pem"_s).toUtf8()),
                   "vector RSA key");
}

AgentIdentity generatedIdentity(const QString &orgId)
{
    AgentIdentity identity = require(AgentIdentity::generate(), "agent identity");
    identity.orgId = orgId;
    return identity;
}

AgentIdentity vectorPeerIdentity(const QString &orgId)
{
    return AgentIdentity { u"3c9d2e41-7a5b-4c8d-9e0f-1a2b3c4d5e6f"_s, orgId, vectorRsaKey(),
                           vectorPeerIdentityKey() };
}

TestSecret makeSecret(const QByteArray &secretJson)
{
    TestSecret secret;
    secret.salt = generateSalt();
    secret.secretBytes = secretJson;
    secret.commitment = require(computeCommitment(secret.salt, secret.secretBytes), "commitment");
    return secret;
}

QByteArray makePayload(const QString &credentialId, qint64 version, const TestSecret &secret)
{
    SecureBuffer payload =
        require(buildPayload(credentialId, version, secret.salt, secret.secretBytes), "payload");
    return payload.view().toByteArray();
}

TestOrg::TestOrg()
    : orgId(u"6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10"_s)
    , operatorKey(vectorOperatorKey())
    , rogueKey(require(Ed25519PrivateKey::generate(), "rogue key"))
{
}

QList<Ed25519PublicKey> TestOrg::trustedKeys() const
{
    return { operatorKey.publicKey() };
}

QString TestOrg::writeTrustedOperatorsFile(const QString &directory) const
{
    const QString path = QDir(directory).filePath(u"trusted-operators"_s);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    file.write("# operators trusted by this agent\n");
    file.write(operatorKey.publicKey().rawBase64().toUtf8() + '\n');
    return path;
}

AgentCertificate TestOrg::certificateFields(const AgentIdentity &agent, qint64 generation) const
{
    AgentCertificate fields;
    fields.orgId = orgId;
    fields.agentId = agent.agentId;
    fields.agentName = u"agent-"_s + agent.agentId.left(8);
    fields.generation = generation;
    fields.encryptionKey = agent.encryptionKey.publicKey().spkiDer();
    fields.identityKey = agent.identityKey.publicKey().raw();
    fields.issuedAt = QDateTime(QDate(2026, 12, 4), QTime(2, 0), Qt::UTC);
    fields.expiresAt = fields.issuedAt.addDays(365);
    fields.operatorKey = operatorKey.publicKey().raw();
    return fields;
}

SignedStatement TestOrg::certify(const AgentCertificate &fields,
                                 const Ed25519PrivateKey &signer) const
{
    AgentCertificate signedFields = fields;
    signedFields.operatorKey = signer.publicKey().raw();
    return require(
        signStatement(StatementContext::AgentCertificate, signedFields.toFields(), signer),
        "certificate");
}

SignedStatement TestOrg::certify(const AgentIdentity &agent, qint64 generation) const
{
    return certify(certificateFields(agent, generation), operatorKey);
}

CredentialStatement TestOrg::statementFields(const QString &credentialId, qint64 version,
                                             qint64 revision, const QByteArray &commitment,
                                             QStringList agents) const
{
    CredentialStatement fields;
    fields.orgId = orgId;
    fields.credentialId = credentialId;
    fields.version = version;
    fields.revision = revision;
    fields.name = u"core-switch-admin"_s;
    fields.kind = u"ssh_password"_s;
    fields.commitment = commitment;
    agents.sort();
    fields.scope = agents.isEmpty() ? CredentialScope::AutoAll : CredentialScope::Explicit;
    fields.agents = agents;
    fields.deleted = false;
    fields.prevStatementSha256 = version == 1 && revision == 1
        ? QString(u""_s)
        : sha256Base64(u"statement before v%1r%2"_s.arg(version).arg(revision).toUtf8());
    fields.issuedAt = QDateTime(QDate(2026, 12, 5), QTime(9, 30), Qt::UTC);
    fields.operatorKey = operatorKey.publicKey().raw();
    return fields;
}

SignedStatement TestOrg::sign(const CredentialStatement &fields) const
{
    return sign(fields, operatorKey);
}

SignedStatement TestOrg::sign(const CredentialStatement &fields,
                              const Ed25519PrivateKey &signer) const
{
    CredentialStatement signedFields = fields;
    signedFields.operatorKey = signer.publicKey().raw();
    return require(signStatement(StatementContext::Credential, signedFields.toFields(), signer),
                   "credential statement");
}

Attestation attestationFor(const AgentIdentity &target, const CredentialStatement &fields,
                           const SignedStatement &statement, const Envelope &envelope,
                           AttestationSource kind, const QString &sourceId)
{
    Attestation attestation;
    attestation.orgId = fields.orgId;
    attestation.requestId = newUuid();
    attestation.credentialId = fields.credentialId;
    attestation.version = fields.version;
    attestation.revision = fields.revision;
    attestation.statementSha256 = statement.sha256();
    attestation.targetAgentId = target.agentId;
    attestation.targetKeyFingerprint = target.encryptionKeyFingerprint();
    attestation.sourceKind = kind;
    attestation.sourceId = sourceId;
    attestation.envelopeSha256 = envelope.sha256();
    return attestation;
}

SignedStatement signAttestation(const Attestation &fields, const Ed25519PrivateKey &signer)
{
    return require(signStatement(StatementContext::Attestation, fields.toFields(), signer),
                   "attestation");
}

Envelope sealTo(const AgentIdentity &target, const QByteArray &payload)
{
    return require(sealEnvelope(target.encryptionKey.publicKey(), payload), "envelope");
}

CredentialStore peerDelivery(const AgentIdentity &peer, const SignedStatement &peerCertificate,
                             const AgentIdentity &target, const SignedStatement &statement,
                             const CredentialStatement &fields, const QByteArray &payload)
{
    CredentialStore message;
    message.id = newUuid();
    message.deliveryId = newUuid();
    message.credentialId = fields.credentialId;
    message.statement = statement;
    message.envelope = sealTo(target, payload);
    message.attestation =
        signAttestation(attestationFor(target, fields, statement, message.envelope,
                                       AttestationSource::Peer, peer.agentId),
                        peer.identityKey);
    message.source.kind = AttestationSource::Peer;
    message.source.agentId = peer.agentId;
    message.source.certificate = peerCertificate;
    return roundTrip(message);
}

CredentialStore creatorDelivery(const Ed25519PrivateKey &creator, const AgentIdentity &target,
                                const SignedStatement &statement, const CredentialStatement &fields,
                                const QByteArray &payload)
{
    CredentialStore message;
    message.id = newUuid();
    message.deliveryId = newUuid();
    message.credentialId = fields.credentialId;
    message.statement = statement;
    message.envelope = sealTo(target, payload);
    message.attestation =
        signAttestation(attestationFor(target, fields, statement, message.envelope,
                                       AttestationSource::Creator, creator.publicKey().rawBase64()),
                        creator);
    message.source.kind = AttestationSource::Creator;
    message.source.operatorKey = creator.publicKey().raw();
    return roundTrip(message);
}

CredentialStore roundTrip(const CredentialStore &message)
{
    const QByteArray frame = serializeMessage(message);
    Result<AgentMessage> parsed = parseAgentMessage(frame);
    if (!parsed) {
        QTest::qFail(qPrintable(u"credential_store does not parse: "_s + parsed.error().message),
                     __FILE__, __LINE__);
        return message;
    }
    return std::get<CredentialStore>(parsed.value());
}

QByteArray credentialRowsDigest(const QString &vaultPath)
{
    const QString connection = u"digest."_s + newUuid();
    QCryptographicHash hash(QCryptographicHash::Sha256);
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, connection);
        db.setDatabaseName(vaultPath);
        if (!db.open())
            qFatal("cannot open %s", qPrintable(vaultPath));
        QSqlQuery query(db);
        if (!query.exec(u"SELECT * FROM credentials ORDER BY credential_id"_s))
            qFatal("cannot read the credentials of %s", qPrintable(vaultPath));
        while (query.next()) {
            const QSqlRecord record = query.record();
            for (int i = 0; i < record.count(); ++i) {
                const QVariant value = query.value(i);
                hash.addData(record.fieldName(i).toUtf8());
                hash.addData(value.isNull() ? QByteArray("NULL") : value.toByteArray());
                hash.addData(QByteArrayView("\x1f", 1));
            }
        }
    }
    QSqlDatabase::removeDatabase(connection);
    return hash.result();
}

QByteArray fileDigest(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QCryptographicHash::hash(file.readAll(), QCryptographicHash::Sha256);
}

} // namespace sealrelay::agent::test
