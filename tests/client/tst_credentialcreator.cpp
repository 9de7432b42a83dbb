// CredentialCreator against the interop vectors (statement bytes and
// signatures, secret bytes, commitments, payloads, creator attestations) and
// the rules of the four uploads: scope, skipped agents, the current
// statement's checks and the body of each route.
#include "base64.h"
#include "canonicaljson.h"
#include "credentialcreator.h"
#include "digest.h"
#include "payload.h"
#include "testdata.h"

#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;

namespace {

const QString kOrgId = u"6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10"_s;
const QString kCredentialId = u"f3a1d2c4-5b6e-4f70-8a91-b2c3d4e5f607"_s;
const QString kAgentId = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;
const QString kPendingAgentId = u"1c2d3e4f-5061-4728-8394-a5b6c7d8e9f0"_s;
const QString kCreatorRequestId = u"4b3a2918-0716-4f5e-8d4c-3b2a19080706"_s;

QJsonObject vectors()
{
    return sealrelay::test::interopVectors();
}

QString vectorText(const QString &key)
{
    return vectors().value(key).toString();
}

QJsonObject vectorCase(int index)
{
    return vectors().value(u"cases"_s).toArray().at(index).toObject();
}

QByteArray decoded(const QJsonObject &object, const QString &key)
{
    return QByteArray::fromBase64(object.value(key).toString().toLatin1());
}

SignedStatement signedCase(int index)
{
    const QJsonObject entry = vectorCase(index);
    return SignedStatement { decoded(entry, u"statement_b64"_s), decoded(entry, u"signature"_s) };
}

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("test set-up failed: %s", qPrintable(result.error().message));
    return std::move(result).value();
}

Ed25519PrivateKey operatorKey()
{
    return require(
        Ed25519PrivateKey::fromPkcs8Pem(vectorText(u"operator_private_key_pkcs8_pem"_s).toUtf8()));
}

RsaPrivateKey agentRsaKey()
{
    return require(
        RsaPrivateKey::fromPkcs8Pem(vectorText(u"rsa_private_key_pkcs8_pem"_s).toUtf8()));
}

// The certified agent of the vectors (case 0) and a pending one.
QList<AgentRow> vectorAgents()
{
    AgentRow certified;
    certified.agentId = kAgentId;
    certified.name = u"agent-2"_s;
    certified.status = u"approved"_s;
    certified.encryptionKey =
        QByteArray::fromBase64(vectorText(u"rsa_public_key_spki_b64"_s).toLatin1());
    certified.identityKey =
        QByteArray::fromBase64(vectorText(u"agent_identity_public_key_b64"_s).toLatin1());
    certified.certificate = signedCase(0);
    certified.generation = 1;

    AgentRow pending;
    pending.agentId = kPendingAgentId;
    pending.name = u"agent-3"_s;
    pending.status = u"pending_approval"_s;
    pending.encryptionKey = certified.encryptionKey;
    pending.identityKey =
        QByteArray::fromBase64(vectorText(u"peer_identity_public_key_b64"_s).toLatin1());
    return { certified, pending };
}

QJsonObject secretFieldsOf(int envelopeCase)
{
    return require(parseJsonStrict(decoded(vectorCase(envelopeCase), u"secret_b64"_s))).toObject();
}

QDateTime vectorTime()
{
    return QDateTime(QDate(2026, 12, 4), QTime(2, 5), Qt::UTC);
}

} // namespace

class TestCredentialCreator : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void secretBytesMatchVectors_data();
    void secretBytesMatchVectors();
    void secretBytesRejectsEmpty();
    void createMatchesVector();
    void createEnvelopeOpens();
    void createAttestationVerifies();
    void createSkipsPendingAgent();
    void createBodyShape();
    void rotateMatchesVector();
    void creatorAttestationVector();
    void scopeChangeKeepsCommitment();
    void deleteMarksDeleted();
    void noCertifiedAgentRejected();
    void outOfScopeAgentSkipped();
    void revokedAgentSkipped();
    void untrustedCurrentRejected();
    void deletedCurrentRejected();
    void invalidNameRejected_data();
    void invalidNameRejected();
    void invalidScopeIdRejected();

private:
    CredentialCreator makeCreator(QByteArray salt, Ed25519PrivateKey signer);
    CredentialCreator makeCreator(QByteArray salt) { return makeCreator(salt, operatorKey()); }
    Result<PreparedUpload> createVectorCredential(CredentialCreator &creator);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<TrustedOperators> m_trusted;
    std::unique_ptr<GenerationRecord> m_generations;
    std::unique_ptr<AgentCertificates> m_certificates;
};

void TestCredentialCreator::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_trusted = std::make_unique<TrustedOperators>(
        require(TrustedOperators::load(m_dir->filePath(u"trusted-operators"_s))));
    QVERIFY(require(m_trusted->add(operatorKey().publicKey())));
    m_generations = std::make_unique<GenerationRecord>(GenerationRecord::inMemory());
    m_certificates = std::make_unique<AgentCertificates>(*m_trusted, kOrgId, *m_generations,
                                                         [] { return vectorTime(); });
}

void TestCredentialCreator::cleanup()
{
    m_certificates.reset();
    m_generations.reset();
    m_trusted.reset();
    m_dir.reset();
}

CredentialCreator TestCredentialCreator::makeCreator(QByteArray salt, Ed25519PrivateKey signer)
{
    CreatorOptions options;
    options.clock = [] {
        return vectorTime();
    };
    options.saltSource = [salt] {
        return salt;
    };
    options.idSource = [] {
        return kCreatorRequestId;
    };
    return CredentialCreator(std::move(signer), *m_certificates, *m_trusted, options);
}

Result<PreparedUpload> TestCredentialCreator::createVectorCredential(CredentialCreator &creator)
{
    NewCredential credential;
    credential.credentialId = kCredentialId;
    credential.name = u"core-switch-1"_s;
    credential.kind = u"password"_s;
    credential.scopeAgentIds = { kPendingAgentId, kAgentId };
    return creator.create(credential, secretFieldsOf(3), vectorAgents());
}

void TestCredentialCreator::secretBytesMatchVectors_data()
{
    QTest::addColumn<int>("envelopeCase");
    QTest::newRow("username and password") << 3;
    QTest::newRow("community") << 6;
}

void TestCredentialCreator::secretBytesMatchVectors()
{
    QFETCH(int, envelopeCase);
    const QJsonObject entry = vectorCase(envelopeCase);
    Result<SecureBuffer> bytes = secretBytesFromFields(secretFieldsOf(envelopeCase));
    QVERIFY2(bytes.ok(), bytes.ok() ? "" : qPrintable(bytes.error().message));
    QCOMPARE(bytes->view().toByteArray(), decoded(entry, u"secret_b64"_s));

    Result<QByteArray> commitment = computeCommitment(decoded(entry, u"salt_b64"_s), bytes->view());
    QVERIFY(commitment.ok());
    QCOMPARE(commitment.value(), decoded(entry, u"commitment_b64"_s));
}

void TestCredentialCreator::secretBytesRejectsEmpty()
{
    Result<SecureBuffer> bytes = secretBytesFromFields(QJsonObject());
    QVERIFY(!bytes.ok());
    QCOMPARE(bytes.error().reason, Reason::Malformed);
}

void TestCredentialCreator::createMatchesVector()
{
    CredentialCreator creator = makeCreator(decoded(vectorCase(3), u"salt_b64"_s));
    Result<PreparedUpload> upload = createVectorCredential(creator);
    QVERIFY2(upload.ok(), upload.ok() ? "" : qPrintable(upload.error().message));

    const SignedStatement expected = signedCase(2);
    QCOMPARE(upload->signedStatement.bytes, expected.bytes);
    QCOMPARE(upload->signedStatement.signature, expected.signature);
    QCOMPARE(upload->statement.commitment, decoded(vectorCase(3), u"commitment_b64"_s));
    QCOMPARE(upload->kind, UploadKind::Create);
    QCOMPARE(upload->path, u"/api/credentials"_s);
}

void TestCredentialCreator::createEnvelopeOpens()
{
    CredentialCreator creator = makeCreator(decoded(vectorCase(3), u"salt_b64"_s));
    Result<PreparedUpload> upload = createVectorCredential(creator);
    QVERIFY(upload.ok());

    const QJsonObject entry =
        upload->body.value(u"envelopes"_s).toObject().value(kAgentId).toObject();
    Result<Envelope> envelope = Envelope::fromJson(entry.value(u"envelope"_s).toObject());
    QVERIFY2(envelope.ok(), envelope.ok() ? "" : qPrintable(envelope.error().message));
    Result<SecureBuffer> payload = openEnvelope(agentRsaKey(), envelope.value());
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), decoded(vectorCase(3), u"payload_b64"_s));
}

void TestCredentialCreator::createAttestationVerifies()
{
    CredentialCreator creator = makeCreator(decoded(vectorCase(3), u"salt_b64"_s));
    Result<PreparedUpload> upload = createVectorCredential(creator);
    QVERIFY(upload.ok());

    const QJsonObject entry =
        upload->body.value(u"envelopes"_s).toObject().value(kAgentId).toObject();
    Result<SignedStatement> attestation =
        SignedStatement::fromJson(entry.value(u"attestation"_s), u"attestation");
    QVERIFY(attestation.ok());
    Result<QJsonObject> fields = verifyStatement(StatementContext::Attestation, attestation.value(),
                                                 operatorKey().publicKey());
    QVERIFY2(fields.ok(), fields.ok() ? "" : qPrintable(fields.error().message));
    Result<Attestation> read = Attestation::fromFields(fields.value());
    QVERIFY(read.ok());
    Result<Envelope> envelope = Envelope::fromJson(entry.value(u"envelope"_s).toObject());
    QVERIFY(envelope.ok());

    QCOMPARE(read->orgId, kOrgId);
    QCOMPARE(read->requestId, kCreatorRequestId);
    QCOMPARE(read->credentialId, kCredentialId);
    QCOMPARE(read->version, qint64(1));
    QCOMPARE(read->revision, qint64(1));
    QCOMPARE(read->statementSha256, upload->signedStatement.sha256());
    QCOMPARE(read->targetAgentId, kAgentId);
    QCOMPARE(read->targetKeyFingerprint, vectorText(u"rsa_public_key_fingerprint"_s));
    QCOMPARE(read->sourceKind, AttestationSource::Creator);
    QCOMPARE(read->sourceId, vectorText(u"operator_public_key_b64"_s));
    QCOMPARE(read->envelopeSha256, envelope->sha256());
}

void TestCredentialCreator::createSkipsPendingAgent()
{
    CredentialCreator creator = makeCreator(generateSalt());
    Result<PreparedUpload> upload = createVectorCredential(creator);
    QVERIFY(upload.ok());
    QCOMPARE(upload->envelopeAgentIds, QStringList { kAgentId });
    QCOMPARE(upload->warnings.size(), 1);
    QVERIFY2(upload->warnings.constFirst().contains(kPendingAgentId),
             qPrintable(upload->warnings.constFirst()));
    QVERIFY2(upload->warnings.constFirst().contains(u"no certificate"_s),
             qPrintable(upload->warnings.constFirst()));
}

void TestCredentialCreator::createBodyShape()
{
    CredentialCreator creator = makeCreator(generateSalt());
    Result<PreparedUpload> upload = createVectorCredential(creator);
    QVERIFY(upload.ok());

    QCOMPARE(upload->body.keys(), (QStringList { u"envelopes"_s, u"statement"_s }));
    QCOMPARE(upload->body.value(u"statement"_s).toObject(), upload->signedStatement.toJson());
    const QJsonObject envelopes = upload->body.value(u"envelopes"_s).toObject();
    QCOMPARE(envelopes.keys(), QStringList { kAgentId });
    const QJsonObject entry = envelopes.value(kAgentId).toObject();
    QCOMPARE(entry.keys(), (QStringList { u"attestation"_s, u"envelope"_s }));
    QCOMPARE(entry.value(u"envelope"_s).toObject().keys(),
             (QStringList { u"ciphertext"_s, u"encrypted_key"_s, u"iv"_s, u"tag"_s }));
}

// The vector's rotation also renames the credential (core-switch-1 to
// core-switch-2), which rotate() never does, so every field but the name is
// compared with the vector.
void TestCredentialCreator::rotateMatchesVector()
{
    CredentialCreator creator = makeCreator(decoded(vectorCase(6), u"salt_b64"_s));
    Result<PreparedUpload> upload =
        creator.rotate(signedCase(2), secretFieldsOf(6), vectorAgents());
    QVERIFY2(upload.ok(), upload.ok() ? "" : qPrintable(upload.error().message));

    QJsonObject expected =
        require(parseStatement(StatementContext::Credential, signedCase(5).bytes));
    expected.insert(u"name"_s, u"core-switch-1"_s);
    QCOMPARE(require(parseStatement(StatementContext::Credential, upload->signedStatement.bytes)),
             expected);
    QCOMPARE(upload->statement.version, qint64(2));
    QCOMPARE(upload->statement.revision, qint64(1));
    QCOMPARE(upload->statement.prevStatementSha256, signedCase(2).sha256());
    QCOMPARE(upload->path, u"/api/credentials/%1/rotate"_s.arg(kCredentialId));

    const QJsonObject entry =
        upload->body.value(u"envelopes"_s).toObject().value(kAgentId).toObject();
    Result<Envelope> envelope = Envelope::fromJson(entry.value(u"envelope"_s).toObject());
    QVERIFY(envelope.ok());
    Result<SecureBuffer> payload = openEnvelope(agentRsaKey(), envelope.value());
    QVERIFY(payload.ok());
    Result<Payload> parsed = parsePayload(payload->view());
    QVERIFY(parsed.ok());
    QCOMPARE(parsed->version, qint64(2));
    QCOMPARE(parsed->secretBytes.view().toByteArray(), decoded(vectorCase(6), u"secret_b64"_s));
}

void TestCredentialCreator::creatorAttestationVector()
{
    const QJsonObject entry = vectorCase(9);
    const SignedStatement statement = signedCase(2);
    CredentialStatement fields = require(CredentialStatement::fromFields(
        require(parseStatement(StatementContext::Credential, statement.bytes))));
    Envelope envelope = require(Envelope::fromJson(entry.value(u"envelope"_s).toObject()));

    Result<SignedStatement> attestation = signCreatorAttestation(
        fields, statement, kCreatorRequestId, kAgentId, vectorText(u"rsa_public_key_fingerprint"_s),
        envelope, operatorKey());
    QVERIFY(attestation.ok());
    QCOMPARE(attestation->bytes, decoded(entry, u"statement_b64"_s));
    QCOMPARE(attestation->signature, decoded(entry, u"signature"_s));
}

void TestCredentialCreator::scopeChangeKeepsCommitment()
{
    CredentialCreator creator = makeCreator(generateSalt());
    Result<PreparedUpload> upload = creator.changeScope(signedCase(2), { kAgentId });
    QVERIFY2(upload.ok(), upload.ok() ? "" : qPrintable(upload.error().message));

    const CredentialStatement before = require(CredentialStatement::fromFields(
        require(parseStatement(StatementContext::Credential, signedCase(2).bytes))));
    QCOMPARE(upload->statement.version, qint64(1));
    QCOMPARE(upload->statement.revision, qint64(2));
    QCOMPARE(upload->statement.commitment, before.commitment);
    QCOMPARE(upload->statement.scope, CredentialScope::Explicit);
    QCOMPARE(upload->statement.agents, QStringList { kAgentId });
    QCOMPARE(upload->statement.prevStatementSha256, signedCase(2).sha256());
    QCOMPARE(upload->statement.deleted, false);
    QCOMPARE(upload->path, u"/api/credentials/%1/scope"_s.arg(kCredentialId));
    QCOMPARE(upload->body.keys(), QStringList { u"statement"_s });
    QVERIFY(verifyStatement(StatementContext::Credential, upload->signedStatement,
                            operatorKey().publicKey())
                .ok());

    Result<PreparedUpload> autoAll = creator.changeScope(signedCase(2), {});
    QVERIFY(autoAll.ok());
    QCOMPARE(autoAll->statement.scope, CredentialScope::AutoAll);
    QVERIFY(autoAll->statement.agents.isEmpty());
}

void TestCredentialCreator::deleteMarksDeleted()
{
    CredentialCreator creator = makeCreator(generateSalt());
    Result<PreparedUpload> upload = creator.remove(signedCase(5));
    QVERIFY2(upload.ok(), upload.ok() ? "" : qPrintable(upload.error().message));
    QCOMPARE(upload->statement.version, qint64(2));
    QCOMPARE(upload->statement.revision, qint64(2));
    QCOMPARE(upload->statement.deleted, true);
    QCOMPARE(upload->statement.prevStatementSha256, signedCase(5).sha256());
    QCOMPARE(upload->path, u"/api/credentials/%1/delete"_s.arg(kCredentialId));
    QCOMPARE(upload->body.keys(), QStringList { u"statement"_s });
}

void TestCredentialCreator::noCertifiedAgentRejected()
{
    CredentialCreator creator = makeCreator(generateSalt());
    NewCredential credential;
    credential.name = u"edge-router"_s;
    credential.kind = u"password"_s;
    const QList<AgentRow> onlyPending { vectorAgents().at(1) };
    Result<PreparedUpload> upload = creator.create(
        credential, QJsonObject { { u"password"_s, u"s3cret-value-77"_s } }, onlyPending);
    QVERIFY(!upload.ok());
    QCOMPARE(upload.error().reason, Reason::NotInScope);
    QVERIFY2(upload.error().message.contains(kPendingAgentId), qPrintable(upload.error().message));
    QVERIFY2(!upload.error().message.contains(u"s3cret-value-77"_s),
             qPrintable(upload.error().message));
}

void TestCredentialCreator::outOfScopeAgentSkipped()
{
    CredentialCreator creator = makeCreator(generateSalt());
    NewCredential credential;
    credential.name = u"edge-router"_s;
    credential.kind = u"password"_s;
    credential.scopeAgentIds = { kPendingAgentId };
    // Only the pending agent is in scope, so the certified one must not get
    // an envelope and the upload is rejected.
    Result<PreparedUpload> upload =
        creator.create(credential, QJsonObject { { u"password"_s, u"pw"_s } }, vectorAgents());
    QVERIFY(!upload.ok());
    QCOMPARE(upload.error().reason, Reason::NotInScope);
    QVERIFY2(!upload.error().message.contains(kAgentId), qPrintable(upload.error().message));
}

void TestCredentialCreator::revokedAgentSkipped()
{
    CredentialCreator creator = makeCreator(generateSalt());
    QList<AgentRow> agents = vectorAgents();
    agents[0].status = u"revoked"_s;
    NewCredential credential;
    credential.name = u"edge-router"_s;
    credential.kind = u"password"_s;
    Result<PreparedUpload> upload =
        creator.create(credential, QJsonObject { { u"password"_s, u"pw"_s } }, agents);
    QVERIFY(!upload.ok());
    QVERIFY2(upload.error().message.contains(u"revoked"_s), qPrintable(upload.error().message));
}

void TestCredentialCreator::untrustedCurrentRejected()
{
    const Ed25519PrivateKey rogue = require(Ed25519PrivateKey::generate());
    CredentialStatement fields = require(CredentialStatement::fromFields(
        require(parseStatement(StatementContext::Credential, signedCase(2).bytes))));
    fields.operatorKey = rogue.publicKey().raw();
    const SignedStatement forged =
        require(signStatement(StatementContext::Credential, fields.toFields(), rogue));

    CredentialCreator creator = makeCreator(generateSalt());
    Result<PreparedUpload> rotated =
        creator.rotate(forged, QJsonObject { { u"password"_s, u"new"_s } }, vectorAgents());
    QVERIFY(!rotated.ok());
    QCOMPARE(rotated.error().reason, Reason::UntrustedOperator);
    Result<PreparedUpload> scoped = creator.changeScope(forged, {});
    QVERIFY(!scoped.ok());
    QCOMPARE(scoped.error().reason, Reason::UntrustedOperator);

    SignedStatement tampered = signedCase(2);
    tampered.bytes.replace("core-switch-1", "core-switch-9");
    Result<PreparedUpload> removed = creator.remove(tampered);
    QVERIFY(!removed.ok());
    QCOMPARE(removed.error().reason, Reason::BadStatement);
}

void TestCredentialCreator::deletedCurrentRejected()
{
    CredentialCreator creator = makeCreator(generateSalt());
    Result<PreparedUpload> deleted = creator.remove(signedCase(2));
    QVERIFY(deleted.ok());
    Result<PreparedUpload> again = creator.remove(deleted->signedStatement);
    QVERIFY(!again.ok());
    QCOMPARE(again.error().reason, Reason::StaleStatement);
}

void TestCredentialCreator::invalidNameRejected_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("empty") << QString();
    QTest::newRow("201 bytes") << QString(201, u'x');
    QTest::newRow("101 two-byte characters") << QString(101, QChar(0xe9));
}

void TestCredentialCreator::invalidNameRejected()
{
    QFETCH(QString, name);
    CredentialCreator creator = makeCreator(generateSalt());
    NewCredential credential;
    credential.name = name;
    credential.kind = u"password"_s;
    Result<PreparedUpload> upload =
        creator.create(credential, QJsonObject { { u"password"_s, u"pw"_s } }, vectorAgents());
    QVERIFY(!upload.ok());
    QCOMPARE(upload.error().reason, Reason::Malformed);
}

void TestCredentialCreator::invalidScopeIdRejected()
{
    CredentialCreator creator = makeCreator(generateSalt());
    NewCredential credential;
    credential.name = u"edge-router"_s;
    credential.kind = u"password"_s;
    credential.scopeAgentIds = { kAgentId.toUpper() };
    Result<PreparedUpload> upload =
        creator.create(credential, QJsonObject { { u"password"_s, u"pw"_s } }, vectorAgents());
    QVERIFY(!upload.ok());
    QCOMPARE(upload.error().reason, Reason::Malformed);
}

QTEST_GUILESS_MAIN(TestCredentialCreator)
#include "tst_credentialcreator.moc"
