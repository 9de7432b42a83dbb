// AgentCertificates: verification of GET /api/agents rows against the pinned
// operator keys (forged signer, tampered bytes, expired, lower generation,
// wrong org, keys other than the row's), the generation record on disk, the
// typed-fingerprint check and the signing of new certificates.
#include "agentcertificates.h"
#include "digest.h"
#include "ids.h"
#include "testdata.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;

namespace {

const QString kOrgId = u"6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10"_s;
const QString kOtherOrgId = u"9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"_s;
const QString kAgentId = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;

QString vectorText(const QString &key)
{
    return sealrelay::test::interopVectors().value(key).toString();
}

QJsonObject vectorCase(int index)
{
    return sealrelay::test::interopVectors().value(u"cases"_s).toArray().at(index).toObject();
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

SignedStatement signedCase(int index)
{
    const QJsonObject entry = vectorCase(index);
    return SignedStatement {
        QByteArray::fromBase64(entry.value(u"statement_b64"_s).toString().toLatin1()),
        QByteArray::fromBase64(entry.value(u"signature"_s).toString().toLatin1())
    };
}

QDateTime testNow()
{
    return QDateTime(QDate(2026, 12, 10), QTime(12, 0), Qt::UTC);
}

// The agent of vector case 0, as GET /api/agents lists it once approved.
AgentRow vectorRow()
{
    AgentRow row;
    row.agentId = kAgentId;
    row.name = u"agent-2"_s;
    row.status = u"approved"_s;
    row.encryptionKey = QByteArray::fromBase64(vectorText(u"rsa_public_key_spki_b64"_s).toLatin1());
    row.identityKey =
        QByteArray::fromBase64(vectorText(u"agent_identity_public_key_b64"_s).toLatin1());
    row.certificate = signedCase(0);
    row.generation = 1;
    return row;
}

AgentCertificate vectorCertificateFields()
{
    return require(AgentCertificate::fromFields(
        require(parseStatement(StatementContext::AgentCertificate, signedCase(0).bytes))));
}

SignedStatement signCertificate(AgentCertificate fields, const Ed25519PrivateKey &signer)
{
    fields.operatorKey = signer.publicKey().raw();
    return require(signStatement(StatementContext::AgentCertificate, fields.toFields(), signer));
}

QString vectorAgentFingerprint()
{
    return vectorText(u"agent_fingerprint"_s);
}

} // namespace

class TestAgentCertificates : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void verifiesVectorCertificate();
    void rejected_data();
    void rejected();
    void lowerGenerationRejected();
    void generationRecordPersists();
    void generationBatchWritesOnce();
    void generationBatchWriteFails();
    void generationRecordModeChecked();
    void agentRowFromJson();
    void agentRowMalformed_data();
    void agentRowMalformed();
    void agentFingerprintMatchesVector();
    void typedFingerprint_data();
    void typedFingerprint();
    void certifySignsCertificate();
    void certifyRejectsWrongFingerprint();
    void certifyRejectsUntrustedSigner();
    void certifyRejectsValidity_data();
    void certifyRejectsValidity();
    void certifyRejectsGeneration_data();
    void certifyRejectsGeneration();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<TrustedOperators> m_trusted;
    std::unique_ptr<GenerationRecord> m_generations;
    std::unique_ptr<AgentCertificates> m_certificates;
    QDateTime m_now;
};

void TestAgentCertificates::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_trusted = std::make_unique<TrustedOperators>(
        require(TrustedOperators::load(m_dir->filePath(u"trusted-operators"_s))));
    QVERIFY(require(m_trusted->add(operatorKey().publicKey())));
    m_generations = std::make_unique<GenerationRecord>(
        require(GenerationRecord::load(m_dir->filePath(u"generations.json"_s))));
    m_now = testNow();
    m_certificates = std::make_unique<AgentCertificates>(*m_trusted, kOrgId, *m_generations,
                                                         [this] { return m_now; });
}

void TestAgentCertificates::cleanup()
{
    m_certificates.reset();
    m_generations.reset();
    m_trusted.reset();
    m_dir.reset();
}

void TestAgentCertificates::verifiesVectorCertificate()
{
    Result<CertifiedAgent> agent = m_certificates->verify(vectorRow());
    QVERIFY2(agent.ok(), agent.ok() ? "" : qPrintable(agent.error().message));
    QCOMPARE(agent->certificate.agentId, kAgentId);
    QCOMPARE(agent->certificate.generation, qint64(1));
    QCOMPARE(agent->encryptionKeyFingerprint, vectorText(u"rsa_public_key_fingerprint"_s));
    QCOMPARE(m_generations->highest(kAgentId), std::optional<qint64>(1));
}

void TestAgentCertificates::rejected_data()
{
    QTest::addColumn<QString>("change");
    QTest::addColumn<QString>("expectedText");
    QTest::newRow("forged signer") << u"forged-signer"_s << u"not in the trusted operators"_s;
    QTest::newRow("statement changed") << u"tampered"_s << u"rejected"_s;
    QTest::newRow("expired") << u"expired"_s << u"expired"_s;
    QTest::newRow("wrong org") << u"wrong-org"_s << kOtherOrgId;
    QTest::newRow("other identity key") << u"row-key"_s << u"keys other than the listed row"_s;
    QTest::newRow("other agent id") << u"row-id"_s << u"keys other than the listed row"_s;
    QTest::newRow("no certificate") << u"pending"_s << u"no certificate"_s;
}

void TestAgentCertificates::rejected()
{
    QFETCH(QString, change);
    QFETCH(QString, expectedText);
    AgentRow row = vectorRow();
    if (change == "forged-signer"_L1) {
        row.certificate =
            signCertificate(vectorCertificateFields(), require(Ed25519PrivateKey::generate()));
    } else if (change == "tampered"_L1) {
        row.certificate = signedCase(1);
    } else if (change == "expired"_L1) {
        m_now = QDateTime(QDate(2027, 12, 4), QTime(2, 0), Qt::UTC);
    } else if (change == "wrong-org"_L1) {
        AgentCertificate fields = vectorCertificateFields();
        fields.orgId = kOtherOrgId;
        row.certificate = signCertificate(fields, operatorKey());
    } else if (change == "row-key"_L1) {
        row.identityKey = require(Ed25519PrivateKey::generate()).publicKey().raw();
    } else if (change == "row-id"_L1) {
        row.agentId = newUuid();
    } else if (change == "pending"_L1) {
        row.certificate.reset();
    }

    Result<CertifiedAgent> agent = m_certificates->verify(row);
    QVERIFY(!agent.ok());
    QCOMPARE(agent.error().reason, Reason::UntrustedTargetKey);
    QVERIFY2(agent.error().message.contains(expectedText), qPrintable(agent.error().message));
    QVERIFY2(agent.error().message.contains(row.agentId), qPrintable(agent.error().message));
}

void TestAgentCertificates::lowerGenerationRejected()
{
    AgentCertificate fields = vectorCertificateFields();
    fields.generation = 2;
    AgentRow second = vectorRow();
    second.certificate = signCertificate(fields, operatorKey());
    QVERIFY(m_certificates->verify(second).ok());
    QCOMPARE(m_generations->highest(kAgentId), std::optional<qint64>(2));

    Result<CertifiedAgent> first = m_certificates->verify(vectorRow());
    QVERIFY(!first.ok());
    QVERIFY2(first.error().message.contains(u"lower than generation 2"_s),
             qPrintable(first.error().message));
}

void TestAgentCertificates::generationRecordPersists()
{
    QVERIFY(m_generations->raise(kAgentId, 4).ok());
    QVERIFY(m_generations->raise(kAgentId, 3).ok());
    Result<GenerationRecord> reloaded =
        GenerationRecord::load(m_dir->filePath(u"generations.json"_s));
    QVERIFY(reloaded.ok());
    QCOMPARE(reloaded->highest(kAgentId), std::optional<qint64>(4));
    QCOMPARE(reloaded->highest(newUuid()), std::optional<qint64>());

    struct stat status { };
    QCOMPARE(::stat(QFile::encodeName(m_dir->filePath(u"generations.json"_s)).constData(), &status),
             0);
    QCOMPARE(status.st_mode & 0777, mode_t(0600));
}

void TestAgentCertificates::generationBatchWritesOnce()
{
    const QString path = m_dir->filePath(u"generations.json"_s);
    const QString second = newUuid();
    {
        GenerationRecord::Batch batch(*m_generations);
        QVERIFY(m_generations->raise(kAgentId, 5).ok());
        {
            // A nested batch leaves the write to the outer one.
            GenerationRecord::Batch inner(*m_generations);
            QVERIFY(m_generations->raise(second, 2).ok());
            QVERIFY(inner.finish().ok());
        }
        QVERIFY(!QFile::exists(path));
        QCOMPARE(m_generations->highest(kAgentId), std::optional<qint64>(5));
        QVERIFY(batch.finish().ok());
    }
    Result<GenerationRecord> reloaded = GenerationRecord::load(path);
    QVERIFY(reloaded.ok());
    QCOMPARE(reloaded->highest(kAgentId), std::optional<qint64>(5));
    QCOMPARE(reloaded->highest(second), std::optional<qint64>(2));
}

void TestAgentCertificates::generationBatchWriteFails()
{
    // A directory in place of the file makes every write fail.
    const QString path = m_dir->filePath(u"generations.json"_s);
    QVERIFY(QDir().mkpath(path));
    {
        GenerationRecord::Batch batch(*m_generations);
        QVERIFY(m_generations->raise(kAgentId, 3).ok());
        const Result<void> finished = batch.finish();
        QVERIFY(!finished.ok());
        QVERIFY2(finished.error().message.contains(u"certificate generations"_s),
                 qPrintable(finished.error().message));
    }
    // The raised generation still guards this session, and the next write
    // that succeeds puts it in the file.
    QCOMPARE(m_generations->highest(kAgentId), std::optional<qint64>(3));
    QVERIFY(QDir(path).removeRecursively());
    const QString other = newUuid();
    QVERIFY(m_generations->raise(other, 1).ok());
    Result<GenerationRecord> reloaded = GenerationRecord::load(path);
    QVERIFY(reloaded.ok());
    QCOMPARE(reloaded->highest(kAgentId), std::optional<qint64>(3));
    QCOMPARE(reloaded->highest(other), std::optional<qint64>(1));
}

void TestAgentCertificates::generationRecordModeChecked()
{
    const QString path = m_dir->filePath(u"generations.json"_s);
    QVERIFY(m_generations->raise(kAgentId, 2).ok());
    QVERIFY(QFile::setPermissions(
        path, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadOther | QFile::WriteOther));
    Result<GenerationRecord> reloaded = GenerationRecord::load(path);
    QVERIFY(!reloaded.ok());
    QCOMPARE(reloaded.error().reason, Reason::Forbidden);
}

void TestAgentCertificates::agentRowFromJson()
{
    const AgentRow expected = vectorRow();
    const QJsonObject json {
        { u"agent_id"_s, expected.agentId },
        { u"name"_s, expected.name },
        { u"status"_s, expected.status },
        { u"encryption_key"_s, QString::fromLatin1(expected.encryptionKey.toBase64()) },
        { u"identity_key"_s, QString::fromLatin1(expected.identityKey.toBase64()) },
        { u"certificate"_s, expected.certificate->toJson() },
        { u"generation"_s, 1 },
    };
    Result<QList<AgentRow>> rows =
        parseAgentList(QJsonObject { { u"agents"_s, QJsonArray { json } } });
    QVERIFY2(rows.ok(), rows.ok() ? "" : qPrintable(rows.error().message));
    QCOMPARE(rows->size(), 1);
    const AgentRow &row = rows->constFirst();
    QCOMPARE(row.agentId, expected.agentId);
    QCOMPARE(row.encryptionKey, expected.encryptionKey);
    QCOMPARE(row.identityKey, expected.identityKey);
    QVERIFY(row.certificate.has_value());
    QCOMPARE(row.certificate->bytes, expected.certificate->bytes);
    QVERIFY(m_certificates->verify(row).ok());
}

void TestAgentCertificates::agentRowMalformed_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<QJsonValue>("value");
    QTest::newRow("agent_id uppercase") << u"agent_id"_s << QJsonValue(kAgentId.toUpper());
    QTest::newRow("identity_key short") << u"identity_key"_s << QJsonValue(u"AAAA"_s);
    QTest::newRow("encryption_key not base64") << u"encryption_key"_s << QJsonValue(u"***"_s);
    QTest::newRow("certificate not signed") << u"certificate"_s << QJsonValue(u"x"_s);
    QTest::newRow("name missing") << u"name"_s << QJsonValue(QJsonValue::Undefined);
}

void TestAgentCertificates::agentRowMalformed()
{
    QFETCH(QString, field);
    QFETCH(QJsonValue, value);
    const AgentRow base = vectorRow();
    QJsonObject json {
        { u"agent_id"_s, base.agentId },
        { u"name"_s, base.name },
        { u"status"_s, base.status },
        { u"encryption_key"_s, QString::fromLatin1(base.encryptionKey.toBase64()) },
        { u"identity_key"_s, QString::fromLatin1(base.identityKey.toBase64()) },
        { u"certificate"_s, base.certificate->toJson() },
    };
    if (value.isUndefined())
        json.remove(field);
    else
        json.insert(field, value);
    Result<AgentRow> row = AgentRow::fromJson(json);
    QVERIFY(!row.ok());
    QVERIFY2(row.error().message.contains(field), qPrintable(row.error().message));
}

void TestAgentCertificates::agentFingerprintMatchesVector()
{
    const AgentRow row = vectorRow();
    QCOMPARE(agentFingerprint(row.agentId, row.encryptionKey, row.identityKey),
             vectorAgentFingerprint());
}

void TestAgentCertificates::typedFingerprint_data()
{
    const QString full = vectorAgentFingerprint();
    QTest::addColumn<QString>("typed");
    QTest::addColumn<bool>("accepted");
    QTest::addColumn<int>("reason");
    QTest::newRow("all 64 digits") << full << true << 0;
    QTest::newRow("first 16 digits") << full.left(16) << true << 0;
    QTest::newRow("grouped in fours") << formatFingerprintForDisplay(full).left(19) << true << 0;
    QTest::newRow("uppercase") << full.left(20).toUpper() << true << 0;
    QTest::newRow("tabs and spaces")
        << u"\t"_s + full.left(8) + u"  "_s + full.mid(8, 8) << true << 0;
    QTest::newRow("15 digits") << full.left(15) << false << int(Reason::Malformed);
    QTest::newRow("empty") << QString() << false << int(Reason::Malformed);
    QTest::newRow("not hex") << full.left(15) + u"g"_s << false << int(Reason::Malformed);
    QTest::newRow("one digit wrong") << full.left(15) + (full.at(15) == u'0' ? u"1"_s : u"0"_s)
                                     << false << int(Reason::IdMismatch);
    QTest::newRow("digits from the middle") << full.mid(8, 16) << false << int(Reason::IdMismatch);
}

void TestAgentCertificates::typedFingerprint()
{
    QFETCH(QString, typed);
    QFETCH(bool, accepted);
    QFETCH(int, reason);
    Result<void> matched = matchTypedFingerprint(typed, vectorAgentFingerprint());
    QCOMPARE(matched.ok(), accepted);
    if (!accepted)
        QCOMPARE(int(matched.error().reason), reason);
}

void TestAgentCertificates::certifySignsCertificate()
{
    AgentRow row = vectorRow();
    row.certificate.reset();
    row.status = u"pending_approval"_s;
    const QString typed = formatFingerprintForDisplay(vectorAgentFingerprint()).left(19).toUpper();

    Result<SignedStatement> signedCertificate =
        m_certificates->certify(row, typed, 1, operatorKey());
    QVERIFY2(signedCertificate.ok(),
             signedCertificate.ok() ? "" : qPrintable(signedCertificate.error().message));
    Result<QJsonObject> fields = verifyStatement(
        StatementContext::AgentCertificate, signedCertificate.value(), operatorKey().publicKey());
    QVERIFY(fields.ok());
    Result<AgentCertificate> certificate = AgentCertificate::fromFields(fields.value());
    QVERIFY(certificate.ok());
    QCOMPARE(certificate->orgId, kOrgId);
    QCOMPARE(certificate->agentId, row.agentId);
    QCOMPARE(certificate->agentName, row.name);
    QCOMPARE(certificate->generation, qint64(1));
    QCOMPARE(certificate->encryptionKey, row.encryptionKey);
    QCOMPARE(certificate->identityKey, row.identityKey);
    QCOMPARE(certificate->issuedAt, testNow());
    QCOMPARE(certificate->expiresAt, testNow().addDays(365));
    QCOMPARE(certificate->operatorKey, operatorKey().publicKey().raw());
    // Signing records nothing: a certificate the backend rejects must not
    // raise the agent's recorded generation.
    QCOMPARE(m_generations->highest(row.agentId), std::optional<qint64>());

    row.certificate = signedCertificate.value();
    QVERIFY(m_certificates->verify(row).ok());
}

void TestAgentCertificates::certifyRejectsWrongFingerprint()
{
    AgentRow row = vectorRow();
    // The backend swaps in its own identity key: the fingerprint the
    // operator read on the agent host no longer matches.
    row.identityKey = require(Ed25519PrivateKey::generate()).publicKey().raw();
    Result<SignedStatement> signedCertificate =
        m_certificates->certify(row, vectorAgentFingerprint(), 1, operatorKey());
    QVERIFY(!signedCertificate.ok());
    QCOMPARE(signedCertificate.error().reason, Reason::IdMismatch);
    QCOMPARE(m_generations->highest(kAgentId), std::optional<qint64>());
}

void TestAgentCertificates::certifyRejectsUntrustedSigner()
{
    Result<SignedStatement> signedCertificate = m_certificates->certify(
        vectorRow(), vectorAgentFingerprint(), 1, require(Ed25519PrivateKey::generate()));
    QVERIFY(!signedCertificate.ok());
    QCOMPARE(signedCertificate.error().reason, Reason::UntrustedOperator);
}

void TestAgentCertificates::certifyRejectsValidity_data()
{
    QTest::addColumn<qint64>("seconds");
    QTest::newRow("zero") << qint64(0);
    QTest::newRow("negative") << qint64(-60);
    QTest::newRow("366 days") << qint64(366) * 86400;
}

void TestAgentCertificates::certifyRejectsValidity()
{
    QFETCH(qint64, seconds);
    Result<SignedStatement> signedCertificate = m_certificates->certify(
        vectorRow(), vectorAgentFingerprint(), 1, operatorKey(), std::chrono::seconds(seconds));
    QVERIFY(!signedCertificate.ok());
    QCOMPARE(signedCertificate.error().reason, Reason::Malformed);
}

void TestAgentCertificates::certifyRejectsGeneration_data()
{
    QTest::addColumn<qint64>("recorded");
    QTest::addColumn<qint64>("generation");
    QTest::newRow("zero") << qint64(0) << qint64(0);
    QTest::newRow("below recorded") << qint64(3) << qint64(2);
}

void TestAgentCertificates::certifyRejectsGeneration()
{
    QFETCH(qint64, recorded);
    QFETCH(qint64, generation);
    if (recorded > 0)
        QVERIFY(m_generations->raise(kAgentId, recorded).ok());
    Result<SignedStatement> signedCertificate =
        m_certificates->certify(vectorRow(), vectorAgentFingerprint(), generation, operatorKey());
    QVERIFY(!signedCertificate.ok());
    QCOMPARE(signedCertificate.error().reason, Reason::Malformed);
}

QTEST_GUILESS_MAIN(TestAgentCertificates)
#include "tst_agentcertificates.moc"
