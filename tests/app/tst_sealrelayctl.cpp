// Runs the sealrelayctl binary on the interoperability vectors and on bad
// input, checking output and exit codes as a script would see them.
#include "testdata.h"

#include "base64.h"
#include "keys.h"
#include "statement.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace sealrelay;
using namespace Qt::Literals::StringLiterals;

namespace {

struct RunResult {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

RunResult runCtl(const QStringList &arguments, const QByteArray &input = {})
{
    QProcess process;
    process.start(QStringLiteral(SEALRELAYCTL_PATH), arguments);
    if (!process.waitForStarted())
        return {};
    process.write(input);
    process.closeWriteChannel();
    if (!process.waitForFinished(30000))
        process.kill();
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            process.readAllStandardOutput(), process.readAllStandardError()};
}

QList<QJsonObject> casesOfKind(const QString &kind)
{
    QList<QJsonObject> result;
    const QJsonArray cases = test::interopVectors().value(u"cases").toArray();
    for (const QJsonValue &entry : cases) {
        if (entry.toObject().value(u"kind").toString() == kind)
            result.append(entry.toObject());
    }
    return result;
}

QByteArray compactJson(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

} // namespace

class TestSealrelayctl : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void helpListsExitCodes();
    void unknownCommandIsUsageError();

    void openVectorEnvelope_data();
    void openVectorEnvelope();
    void openWithWrongKeyFails();
    void openTagAppendedFails();
    void openMalformedEnvelope();
    void openNonJsonIsInputError();
    void sealThenOpen();
    void sealRejectsInvalidPayload();

    void verifyVectorStatement_data();
    void verifyVectorStatement();
    void verifyTamperedStatementFails();
    void verifyUntrustedKeyFails();
    void verifyWrongContextFails();
    void verifySignerOtherThanNamedKeyFails();
    void verifyCertificateOutsideValidity();
    void openReadsSlowPipe();
    void openRejectsPkcs1Key();
    void verifyUnknownContextIsUsageError();
    void verifyMissingTrustedKeysIsUsageError();

    void fingerprintOfVectorKeys();
    void fingerprintRejectsSmallRsaKey();

private:
    QString writeFile(const QString &name, const QByteArray &contents);

    QTemporaryDir m_dir;
    QString m_rsaPrivateKeyPath;
    QString m_operatorTrustPath;
    QString m_agentTrustPath;
    QString m_peerTrustPath;
};

QString TestSealrelayctl::writeFile(const QString &name, const QByteArray &contents)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    file.write(contents);
    return path;
}

void TestSealrelayctl::initTestCase()
{
    QVERIFY(m_dir.isValid());
    const QJsonObject vectors = test::interopVectors();
    m_rsaPrivateKeyPath = writeFile(QStringLiteral("rsa.pem"),
                                    vectors.value(u"rsa_private_key_pkcs8_pem").toString().toUtf8());
    m_operatorTrustPath = writeFile(
        QStringLiteral("trusted-operators"),
        "# demo operator\n" + vectors.value(u"operator_public_key_b64").toString().toUtf8() + "\n");
    m_agentTrustPath = writeFile(
        QStringLiteral("trusted-agent"),
        vectors.value(u"agent_identity_public_key_b64").toString().toUtf8() + "\n");
    m_peerTrustPath = writeFile(
        QStringLiteral("trusted-peer"),
        vectors.value(u"peer_identity_public_key_b64").toString().toUtf8() + "\n");
}

void TestSealrelayctl::helpListsExitCodes()
{
    const RunResult result = runCtl({QStringLiteral("--help")});
    QCOMPARE(result.exitCode, 0);
    QVERIFY(result.out.contains("envelope open"));
    QVERIFY(result.out.contains("Exit codes"));
    QVERIFY(result.out.contains("2  usage or input error"));

    const RunResult commandHelp = runCtl(
        {QStringLiteral("statement"), QStringLiteral("verify"), QStringLiteral("--help")});
    QCOMPARE(commandHelp.exitCode, 0);
    QVERIFY(commandHelp.out.contains("--trusted-keys"));
    QVERIFY(commandHelp.out.contains("Exit codes"));
    QVERIFY(commandHelp.out.startsWith("Usage: sealrelayctl statement verify --context CONTEXT"));

    const RunResult badOption = runCtl(
        {QStringLiteral("envelope"), QStringLiteral("seal"), QStringLiteral("--pubkey"), QStringLiteral("x")});
    QCOMPARE(badOption.exitCode, 2);
    QVERIFY2(badOption.err.contains(
                 "error: unknown option --pubkey; see 'sealrelayctl envelope seal --help'"),
             badOption.err.constData());

    // An option without its value keeps Qt's wording, lower-cased.
    const RunResult noValue = runCtl(
        { QStringLiteral("envelope"), QStringLiteral("seal"), QStringLiteral("--public-key") });
    QCOMPARE(noValue.exitCode, 2);
    QVERIFY2(noValue.err.contains(
                 "error: missing value after '--public-key'; see 'sealrelayctl envelope seal "
                 "--help'"),
             noValue.err.constData());
}

void TestSealrelayctl::unknownCommandIsUsageError()
{
    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("burn")});
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains("unknown command 'envelope burn'; 'envelope' has: seal, open"));

    const RunResult group = runCtl({QStringLiteral("envelope")});
    QCOMPARE(group.exitCode, 2);
    QVERIFY(group.err.contains("'envelope' needs a subcommand: seal, open"));

    const RunResult nothing = runCtl({QStringLiteral("launch")});
    QCOMPARE(nothing.exitCode, 2);
    QVERIFY(nothing.err.contains("unknown command 'launch'"));
}

void TestSealrelayctl::openVectorEnvelope_data()
{
    QTest::addColumn<QJsonObject>("envelope");
    QTest::addColumn<QByteArray>("payload");
    int index = 0;
    for (const QJsonObject &vector : casesOfKind(QStringLiteral("envelope"))) {
        const QString producer = vector.value(u"producer").toString();
        QTest::addRow("%s-%d", qPrintable(producer), index++)
            << vector.value(u"envelope").toObject()
            << QByteArray::fromBase64(vector.value(u"payload_b64").toString().toLatin1());
    }
}

void TestSealrelayctl::openVectorEnvelope()
{
    QFETCH(QJsonObject, envelope);
    QFETCH(QByteArray, payload);

    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), m_rsaPrivateKeyPath},
                                    compactJson(envelope));
    QCOMPARE(result.err, QByteArray());
    QCOMPARE(result.exitCode, 0);
    QCOMPARE(result.out, payload);
}

void TestSealrelayctl::openWithWrongKeyFails()
{
    auto otherKey = RsaPrivateKey::generate();
    QVERIFY(otherKey.ok());
    const QString otherPath = writeFile(QStringLiteral("other-rsa.pem"),
                                        otherKey->pkcs8Pem().view().toByteArray());
    const QJsonObject envelope = casesOfKind(QStringLiteral("envelope")).first()
                                     .value(u"envelope").toObject();

    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), otherPath},
                                    compactJson(envelope));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("DECRYPT_FAILED"));
    QCOMPARE(result.out, QByteArray());
}

void TestSealrelayctl::openTagAppendedFails()
{
    QJsonObject envelope = casesOfKind(QStringLiteral("envelope")).first()
                               .value(u"envelope").toObject();
    const QByteArray ciphertext = QByteArray::fromBase64(envelope.value(u"ciphertext").toString().toLatin1());
    const QByteArray tag = QByteArray::fromBase64(envelope.value(u"tag").toString().toLatin1());
    envelope.insert(u"ciphertext"_s, QString::fromLatin1(QByteArray(ciphertext + tag).toBase64()));

    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), m_rsaPrivateKeyPath},
                                    compactJson(envelope));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("DECRYPT_FAILED"));
}

void TestSealrelayctl::openMalformedEnvelope()
{
    QJsonObject envelope = casesOfKind(QStringLiteral("envelope")).first()
                               .value(u"envelope").toObject();
    envelope.insert(u"iv"_s, QStringLiteral("AAAA"));

    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), m_rsaPrivateKeyPath},
                                    compactJson(envelope));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("MALFORMED"));
    QVERIFY(result.err.contains("iv"));
}

void TestSealrelayctl::openNonJsonIsInputError()
{
    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), m_rsaPrivateKeyPath},
                                    "not json");
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains("not valid JSON"));
}

void TestSealrelayctl::sealThenOpen()
{
    auto privateKey = RsaPrivateKey::fromPkcs8Pem(
        test::interopVectors().value(u"rsa_private_key_pkcs8_pem").toString().toUtf8());
    QVERIFY(privateKey.ok());
    const QString publicPath = writeFile(QStringLiteral("rsa-public.pem"),
                                         privateKey->publicKey().pem());
    const QByteArray payload = QByteArray::fromBase64(
        casesOfKind(QStringLiteral("envelope")).first().value(u"payload_b64").toString().toLatin1());

    const RunResult sealed = runCtl({QStringLiteral("envelope"), QStringLiteral("seal"),
                                     QStringLiteral("--public-key"), publicPath},
                                    payload);
    QCOMPARE(sealed.err, QByteArray());
    QCOMPARE(sealed.exitCode, 0);
    QVERIFY(sealed.out.contains("\"encrypted_key\""));

    const RunResult opened = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), m_rsaPrivateKeyPath},
                                    sealed.out);
    QCOMPARE(opened.exitCode, 0);
    QCOMPARE(opened.out, payload);
}

void TestSealrelayctl::sealRejectsInvalidPayload()
{
    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("seal"),
                                     QStringLiteral("--public-key"), m_rsaPrivateKeyPath},
                                    "{\"secret\":\"x\"}");
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains("--allow-any-payload"));
}

void TestSealrelayctl::verifyVectorStatement_data()
{
    QTest::addColumn<QString>("context");
    QTest::addColumn<QJsonObject>("signedStatement");
    QTest::addColumn<QString>("signer");
    QTest::addColumn<bool>("valid");

    const QJsonArray cases = test::interopVectors().value(u"cases").toArray();
    int index = 0;
    for (const QJsonValue &entry : cases) {
        const QJsonObject vector = entry.toObject();
        if (!vector.contains(u"statement_b64"))
            continue;
        const QJsonObject signedStatement{{u"statement_b64"_s, vector.value(u"statement_b64")},
                                          {u"signature"_s, vector.value(u"signature")}};
        QTest::addRow("%s-%d", qPrintable(vector.value(u"kind").toString()), index++)
            << vector.value(u"context").toString() << signedStatement
            << vector.value(u"signer").toString()
            << vector.value(u"valid").toBool();
    }
}

void TestSealrelayctl::verifyVectorStatement()
{
    QFETCH(QString, context);
    QFETCH(QJsonObject, signedStatement);
    QFETCH(QString, signer);
    QFETCH(bool, valid);

    // Each trusted-keys file lists only the key that is meant to have signed.
    QString trusted = m_operatorTrustPath;
    if (signer == u"peer")
        trusted = m_peerTrustPath;
    else if (signer == u"agent")
        trusted = m_agentTrustPath;
    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), context,
                                     QStringLiteral("--trusted-keys"), trusted},
                                    compactJson(signedStatement));
    if (valid) {
        QCOMPARE(result.exitCode, 0);
        QVERIFY(result.out.startsWith("valid\n"));
        const QByteArray statementBytes = QByteArray::fromBase64(
            signedStatement.value(u"statement_b64").toString().toLatin1());
        QCOMPARE(result.out, "valid\n" + statementBytes + "\n");
    } else {
        QCOMPARE(result.exitCode, 1);
        QVERIFY(result.err.startsWith("BAD_STATEMENT"));
    }
}

void TestSealrelayctl::verifyTamperedStatementFails()
{
    const QJsonObject vector = casesOfKind(QStringLiteral("agent_certificate")).first();
    QByteArray bytes = QByteArray::fromBase64(vector.value(u"statement_b64").toString().toLatin1());
    bytes.replace("agent-2", "agent-9");
    const QJsonObject tampered{{u"statement_b64"_s, QString::fromLatin1(bytes.toBase64())},
                               {u"signature"_s, vector.value(u"signature")}};

    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), QStringLiteral("agent-certificate"),
                                     QStringLiteral("--trusted-keys"), m_operatorTrustPath},
                                    compactJson(tampered));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("BAD_STATEMENT"));
}

void TestSealrelayctl::verifyUntrustedKeyFails()
{
    const QJsonObject vector = casesOfKind(QStringLiteral("agent_certificate")).first();
    const QJsonObject signedStatement{{u"statement_b64"_s, vector.value(u"statement_b64")},
                                      {u"signature"_s, vector.value(u"signature")}};

    // The agent keys file does not list the operator who signed the certificate.
    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), QStringLiteral("agent-certificate"),
                                     QStringLiteral("--trusted-keys"), m_agentTrustPath},
                                    compactJson(signedStatement));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("UNTRUSTED_OPERATOR"));
    QVERIFY(result.err.contains(test::interopVectors().value(u"operator_public_key_b64").toString().toLatin1()));
}

void TestSealrelayctl::verifyWrongContextFails()
{
    const QJsonObject vector = casesOfKind(QStringLiteral("agent_certificate")).first();
    const QJsonObject signedStatement{{u"statement_b64"_s, vector.value(u"statement_b64")},
                                      {u"signature"_s, vector.value(u"signature")}};

    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), QStringLiteral("credential"),
                                     QStringLiteral("--trusted-keys"), m_operatorTrustPath},
                                    compactJson(signedStatement));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("BAD_STATEMENT"));
}

void TestSealrelayctl::verifyUnknownContextIsUsageError()
{
    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), QStringLiteral("nonsense"),
                                     QStringLiteral("--trusted-keys"), m_operatorTrustPath},
                                    "{}");
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains("unknown context 'nonsense'"));
}

void TestSealrelayctl::verifyMissingTrustedKeysIsUsageError()
{
    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), QStringLiteral("receipt")},
                                    "{}");
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains("--trusted-keys is required"));
}

void TestSealrelayctl::fingerprintOfVectorKeys()
{
    const QJsonObject vectors = test::interopVectors();
    const QString operatorPath = writeFile(
        QStringLiteral("operator.pem"), vectors.value(u"operator_private_key_pkcs8_pem").toString().toUtf8());

    const RunResult rsa = runCtl({QStringLiteral("keys"), QStringLiteral("fingerprint"), m_rsaPrivateKeyPath});
    QCOMPARE(rsa.exitCode, 0);
    QCOMPARE(rsa.out.trimmed(), vectors.value(u"rsa_public_key_fingerprint").toString().toLatin1());

    const RunResult ed25519 = runCtl({QStringLiteral("keys"), QStringLiteral("fingerprint"), operatorPath});
    QCOMPARE(ed25519.exitCode, 0);
    QCOMPARE(ed25519.out.trimmed(), vectors.value(u"operator_key_fingerprint").toString().toLatin1());

    const RunResult grouped = runCtl({QStringLiteral("keys"), QStringLiteral("fingerprint"),
                                      QStringLiteral("--grouped"), operatorPath});
    QCOMPARE(grouped.exitCode, 0);
    QVERIFY(grouped.out.startsWith("11fd 26c6 eb22 6ce7 "));
}

void TestSealrelayctl::fingerprintRejectsSmallRsaKey()
{
    QProcess openssl;
    const QString smallKeyPath = m_dir.filePath(QStringLiteral("rsa1024.pem"));
    openssl.start(QStringLiteral("openssl"),
                  {QStringLiteral("genpkey"), QStringLiteral("-algorithm"), QStringLiteral("RSA"),
                   QStringLiteral("-pkeyopt"), QStringLiteral("rsa_keygen_bits:1024"),
                   QStringLiteral("-out"), smallKeyPath});
    QVERIFY2(openssl.waitForFinished(30000), "openssl genpkey did not finish");
    QCOMPARE(openssl.exitCode(), 0);

    const RunResult result = runCtl({QStringLiteral("keys"), QStringLiteral("fingerprint"), smallKeyPath});
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.startsWith("INVALID_KEY"));
    QVERIFY(result.err.contains("1024"));
}

void TestSealrelayctl::verifySignerOtherThanNamedKeyFails()
{
    // The certificate names the vector operator key but another trusted key signs it.
    const QJsonObject vector = casesOfKind(QStringLiteral("agent_certificate")).first();
    auto otherOperator = Ed25519PrivateKey::generate();
    QVERIFY(otherOperator.ok());
    auto resigned = signStatement(StatementContext::AgentCertificate,
                                  vector.value(u"statement").toObject(), otherOperator.value());
    QVERIFY(resigned.ok());
    const QString trusted = writeFile(QStringLiteral("trusted-other"),
                                      otherOperator->publicKey().rawBase64().toUtf8() + "\n");

    const RunResult result = runCtl({QStringLiteral("statement"), QStringLiteral("verify"),
                                     QStringLiteral("--context"), QStringLiteral("agent-certificate"),
                                     QStringLiteral("--trusted-keys"), trusted},
                                    compactJson(resigned->toJson()));
    QCOMPARE(result.exitCode, 1);
    QVERIFY(result.err.startsWith("BAD_STATEMENT"));
    QVERIFY(result.err.contains("operator key the statement names"));
}

void TestSealrelayctl::verifyCertificateOutsideValidity()
{
    const QJsonObject vector = casesOfKind(QStringLiteral("agent_certificate")).first();
    const QJsonObject signedStatement{{u"statement_b64"_s, vector.value(u"statement_b64")},
                                      {u"signature"_s, vector.value(u"signature")}};
    const QStringList base{QStringLiteral("statement"), QStringLiteral("verify"),
                           QStringLiteral("--context"), QStringLiteral("agent-certificate"),
                           QStringLiteral("--trusted-keys"), m_operatorTrustPath,
                           QStringLiteral("--at")};

    // The vector certificate is valid from 2026-12-04T02:00 for one year.
    const RunResult inside = runCtl(base + QStringList{QStringLiteral("2027-06-01T00:00:00.000Z")},
                                    compactJson(signedStatement));
    QCOMPARE(inside.exitCode, 0);

    const RunResult after = runCtl(base + QStringList{QStringLiteral("2028-01-01T00:00:00.000Z")},
                                   compactJson(signedStatement));
    QCOMPARE(after.exitCode, 1);
    QVERIFY(after.err.contains("valid from 2026-12-04T02:00:00.000Z to 2027-12-04T02:00:00.000Z"));

    const RunResult before = runCtl(base + QStringList{QStringLiteral("2026-12-01T00:00:00.000Z")},
                                    compactJson(signedStatement));
    QCOMPARE(before.exitCode, 1);

    const RunResult badTime = runCtl(base + QStringList{QStringLiteral("tomorrow")},
                                     compactJson(signedStatement));
    QCOMPARE(badTime.exitCode, 2);
}

void TestSealrelayctl::openReadsSlowPipe()
{
    // Standard input arrives in two pieces with a pause between them, as it
    // does from ssh or curl; the whole envelope must still be read.
    const QJsonObject vector = casesOfKind(QStringLiteral("envelope")).first();
    const QByteArray envelope = compactJson(vector.value(u"envelope").toObject());
    const QByteArray payload = QByteArray::fromBase64(vector.value(u"payload_b64").toString().toLatin1());

    QProcess process;
    process.start(QStringLiteral(SEALRELAYCTL_PATH),
                  {QStringLiteral("envelope"), QStringLiteral("open"),
                   QStringLiteral("--private-key"), m_rsaPrivateKeyPath});
    QVERIFY(process.waitForStarted());
    process.write(envelope.left(100));
    QVERIFY(process.waitForBytesWritten());
    QTest::qWait(300);
    process.write(envelope.mid(100));
    process.closeWriteChannel();
    QVERIFY(process.waitForFinished(30000));

    QCOMPARE(process.readAllStandardError(), QByteArray());
    QCOMPARE(process.exitCode(), 0);
    QCOMPARE(process.readAllStandardOutput(), payload);
}

void TestSealrelayctl::openRejectsPkcs1Key()
{
    QProcess openssl;
    const QString pkcs1Path = m_dir.filePath(QStringLiteral("rsa-pkcs1.pem"));
    openssl.start(QStringLiteral("openssl"),
                  {QStringLiteral("rsa"), QStringLiteral("-in"), m_rsaPrivateKeyPath,
                   QStringLiteral("-traditional"), QStringLiteral("-out"), pkcs1Path});
    QVERIFY(openssl.waitForFinished(30000));
    QCOMPARE(openssl.exitCode(), 0);

    const RunResult result = runCtl({QStringLiteral("envelope"), QStringLiteral("open"),
                                     QStringLiteral("--private-key"), pkcs1Path},
                                    "{}");
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains("PKCS#1"));
    QVERIFY(result.err.contains("openssl pkcs8 -topk8 -nocrypt"));
}

QTEST_GUILESS_MAIN(TestSealrelayctl)
#include "tst_sealrelayctl.moc"
