// Signed statements against the interoperability vectors (Web Crypto and
// Python `cryptography`), negative cases for the strict parse and the
// signature, the typed views' semantic checks, and trusted-operators files.
#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "statement.h"
#include "testdata.h"

#include <QFile>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

Q_DECLARE_METATYPE(StatementContext)

namespace {

QString vectorText(const QString &key)
{
    return test::interopVectors().value(key).toString();
}

Ed25519PublicKey publicKeyOf(const QString &signer)
{
    const QString key = signer == "operator"_L1 ? u"operator_public_key_b64"_s
        : signer == "peer"_L1                   ? u"peer_identity_public_key_b64"_s
                                                : u"agent_identity_public_key_b64"_s;
    Result<Ed25519PublicKey> parsed = Ed25519PublicKey::fromBase64(vectorText(key), key);
    Q_ASSERT(parsed.ok());
    return parsed.value();
}

Ed25519PrivateKey privateKeyOf(const QString &signer)
{
    const QString key = signer == "operator"_L1 ? u"operator_private_key_pkcs8_pem"_s
        : signer == "peer"_L1                   ? u"peer_identity_private_key_pkcs8_pem"_s
                                                : u"agent_identity_private_key_pkcs8_pem"_s;
    Result<Ed25519PrivateKey> parsed = Ed25519PrivateKey::fromPkcs8Pem(vectorText(key).toUtf8());
    Q_ASSERT(parsed.ok());
    return parsed.value();
}

// The first valid vector case of `kind` ("agent_certificate", "receipt", ...).
QJsonObject vectorCase(const QString &kind, int skip = 0)
{
    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    for (const QJsonValue &entry : cases) {
        const QJsonObject object = entry.toObject();
        if (object.value(u"kind"_s).toString() == kind && object.value(u"valid"_s).toBool()
            && skip-- == 0) {
            return object;
        }
    }
    return {};
}

QJsonObject vectorStatement(const QString &kind, int skip = 0)
{
    return vectorCase(kind, skip).value(u"statement"_s).toObject();
}

QByteArray vectorStatementBytes(const QString &kind)
{
    return QByteArray::fromBase64(vectorCase(kind).value(u"statement_b64"_s).toString().toLatin1());
}

// Signs raw `bytes` without any check, as an attacker or a buggy peer could.
QJsonObject signRaw(StatementContext context, const QByteArray &bytes,
                    const QString &signer = u"operator"_s)
{
    const QByteArray signature = privateKeyOf(signer).sign(signingInput(context, bytes));
    return SignedStatement { bytes, signature }.toJson();
}

QByteArray canonical(const QJsonObject &object)
{
    Result<QByteArray> bytes = canonicalJson(object);
    Q_ASSERT(bytes.ok());
    return bytes.value();
}

QJsonObject validAuthFields()
{
    return QJsonObject {
        { u"org_id"_s, u"6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10"_s },
        { u"agent_id"_s, u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s },
        { u"backend_origin"_s, u"wss://127.0.0.1:8443"_s },
        { u"nonce"_s, encodeBase64(QByteArray(16, '\x5a')) },
        { u"issued_at"_s, u"2026-12-04T02:05:00.000Z"_s },
    };
}

// Runs the typed view of `context` on `fields`.
Result<void> readTyped(StatementContext context, const QJsonObject &fields)
{
    const auto asVoid = [](const auto &result) -> Result<void> {
        if (!result)
            return result.error();
        return {};
    };
    switch (context) {
    case StatementContext::AgentCertificate:
        return asVoid(AgentCertificate::fromFields(fields));
    case StatementContext::Credential:
        return asVoid(CredentialStatement::fromFields(fields));
    case StatementContext::Attestation:
        return asVoid(Attestation::fromFields(fields));
    case StatementContext::Receipt:
        return asVoid(Receipt::fromFields(fields));
    case StatementContext::Auth:
        return asVoid(AuthStatement::fromFields(fields));
    }
    return {};
}

// Runs the typed view of `context` on `fields` and returns its toFields().
QJsonObject typedRoundTrip(StatementContext context, const QJsonObject &fields)
{
    switch (context) {
    case StatementContext::AgentCertificate:
        return AgentCertificate::fromFields(fields)->toFields();
    case StatementContext::Credential:
        return CredentialStatement::fromFields(fields)->toFields();
    case StatementContext::Attestation:
        return Attestation::fromFields(fields)->toFields();
    case StatementContext::Receipt:
        return Receipt::fromFields(fields)->toFields();
    case StatementContext::Auth:
        return AuthStatement::fromFields(fields)->toFields();
    }
    return {};
}

} // namespace

class TestStatement : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void contextNames();
    void signingInputLayout();
    void reasonNamesRoundTrip();

    void vectorVerifies_data();
    void vectorVerifies();
    void vectorSignatureReproduced_data();
    void vectorSignatureReproduced();
    void vectorDigestsChain();
    void vectorAgentFingerprint();

    void rejects_data();
    void rejects();
    void signRejectsBadFields_data();
    void signRejectsBadFields();
    void signedJsonRoundTrip();
    void authSignAndVerify();

    void typedRejects_data();
    void typedRejects();
    void typedAccepts_data();
    void typedAccepts();
    void credentialCovers();

    void trustedKeysFile();
    void trustedKeysBadLine();
    void trustedKeysMissingFile();
};

void TestStatement::contextNames()
{
    for (StatementContext context :
         { StatementContext::AgentCertificate, StatementContext::Credential,
           StatementContext::Attestation, StatementContext::Receipt, StatementContext::Auth }) {
        QCOMPARE(contextFromName(contextName(context)), context);
    }
    QCOMPARE(contextName(StatementContext::Credential), u"sealrelay/credential/v1"_s);
    QCOMPARE(contextFromName(u"sealrelay/credential/v2"), std::nullopt);
}

void TestStatement::signingInputLayout()
{
    const QByteArray input = signingInput(StatementContext::Receipt, "{}");
    QCOMPARE(input, QByteArray("sealrelay/receipt/v1\0{}", 23));
}

void TestStatement::reasonNamesRoundTrip()
{
    for (int value = 0; value <= int(Reason::NotFound); ++value) {
        const auto reason = Reason(value);
        const QString name = reasonName(reason);
        QVERIFY2(!name.isEmpty(), qPrintable(QString::number(value)));
        QCOMPARE(reasonFromName(name), reason);

        QJsonObject fields = vectorStatement(u"receipt"_s);
        fields[u"state"_s] = u"refused"_s;
        fields[u"reason"_s] = name;
        QVERIFY2(Receipt::fromFields(fields).ok(), qPrintable(name));
    }
    QCOMPARE(reasonName(Reason::DecryptFailed), u"DECRYPT_FAILED"_s);
    QCOMPARE(reasonName(Reason::UntrustedTargetKey), u"UNTRUSTED_TARGET_KEY"_s);
    QCOMPARE(reasonFromName(u"decrypt_failed"), std::nullopt);
    QCOMPARE(reasonFromName(u""), std::nullopt);
}

void TestStatement::vectorVerifies_data()
{
    QTest::addColumn<QJsonObject>("vector");

    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    int signedCases = 0;
    for (qsizetype i = 0; i < cases.size(); ++i) {
        const QJsonObject entry = cases.at(i).toObject();
        if (!entry.contains(u"context"_s))
            continue; // envelopes belong to the envelope suite
        ++signedCases;
        const QString name = u"%1 %2 %3"_s.arg(entry.value(u"kind"_s).toString())
                                 .arg(i)
                                 .arg(entry.value(u"valid"_s).toBool() ? u"valid"_s : u"invalid"_s);
        QTest::newRow(qPrintable(name)) << entry;
    }
    QCOMPARE(signedCases, 8);
}

void TestStatement::vectorVerifies()
{
    QFETCH(QJsonObject, vector);

    const std::optional<StatementContext> context =
        contextFromName(vector.value(u"context"_s).toString());
    QVERIFY(context.has_value());

    Result<SignedStatement> statement = SignedStatement::fromJson(
        QJsonObject { { u"statement_b64"_s, vector.value(u"statement_b64"_s) },
                      { u"signature"_s, vector.value(u"signature"_s) } },
        u"statement");
    QVERIFY2(statement.ok(), qPrintable(statement.ok() ? QString() : statement.error().message));

    const Ed25519PublicKey signer = publicKeyOf(vector.value(u"signer"_s).toString());
    const Result<QJsonObject> fields = verifyStatement(*context, statement.value(), signer);

    if (!vector.value(u"valid"_s).toBool()) {
        QVERIFY(!fields.ok());
        QCOMPARE(fields.error().reason, Reason::BadStatement);
        QVERIFY2(fields.error().message.contains(u"signature"_s),
                 qPrintable(fields.error().message));
        return;
    }

    QVERIFY2(fields.ok(), qPrintable(fields.ok() ? QString() : fields.error().message));
    const QJsonObject expected = vector.value(u"statement"_s).toObject();
    QCOMPARE(fields.value(), expected);

    const Result<void> typed = readTyped(*context, fields.value());
    QVERIFY2(typed.ok(), qPrintable(typed.ok() ? QString() : typed.error().message));
    QCOMPARE(typedRoundTrip(*context, fields.value()), expected);
}

void TestStatement::vectorSignatureReproduced_data()
{
    QTest::addColumn<QJsonObject>("vector");

    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    for (qsizetype i = 0; i < cases.size(); ++i) {
        const QJsonObject entry = cases.at(i).toObject();
        if (!entry.contains(u"context"_s) || !entry.value(u"valid"_s).toBool())
            continue;
        const QString name = u"%1 %2"_s.arg(entry.value(u"kind"_s).toString()).arg(i);
        QTest::newRow(qPrintable(name)) << entry;
    }
}

void TestStatement::vectorSignatureReproduced()
{
    QFETCH(QJsonObject, vector);

    const StatementContext context = *contextFromName(vector.value(u"context"_s).toString());
    const Ed25519PrivateKey signer = privateKeyOf(vector.value(u"signer"_s).toString());

    const Result<SignedStatement> signedStatement =
        signStatement(context, vector.value(u"statement"_s).toObject(), signer);
    QVERIFY2(signedStatement.ok(),
             qPrintable(signedStatement.ok() ? QString() : signedStatement.error().message));
    QCOMPARE(encodeBase64(signedStatement->bytes), vector.value(u"statement_b64"_s).toString());
    QCOMPARE(encodeBase64(signedStatement->signature), vector.value(u"signature"_s).toString());
}

void TestStatement::vectorDigestsChain()
{
    // The attestation and the version 2 statement both name the version 1
    // statement by statement_sha256.
    const SignedStatement first { vectorStatementBytes(u"credential_statement"_s), {} };
    const QString firstDigest = first.sha256();
    QCOMPARE(firstDigest,
             vectorStatement(u"attestation"_s).value(u"statement_sha256"_s).toString());
    QCOMPARE(
        firstDigest,
        vectorStatement(u"credential_statement"_s, 1).value(u"prev_statement_sha256"_s).toString());
}

void TestStatement::vectorAgentFingerprint()
{
    const QJsonObject certificate = vectorStatement(u"agent_certificate"_s);
    const QByteArray encryptionKey =
        QByteArray::fromBase64(certificate.value(u"encryption_key"_s).toString().toLatin1());
    const QByteArray identityKey =
        QByteArray::fromBase64(certificate.value(u"identity_key"_s).toString().toLatin1());

    const QString fingerprint =
        agentFingerprint(certificate.value(u"agent_id"_s).toString(), encryptionKey, identityKey);
    QCOMPARE(fingerprint, vectorText(u"agent_fingerprint"_s));
}

void TestStatement::rejects_data()
{
    QTest::addColumn<QJsonValue>("wire");
    QTest::addColumn<StatementContext>("context");
    QTest::addColumn<QString>("signer");
    QTest::addColumn<QString>("messagePart");

    const StatementContext credential = StatementContext::Credential;
    const QJsonObject fields = vectorStatement(u"credential_statement"_s);
    const QByteArray bytes = vectorStatementBytes(u"credential_statement"_s);
    const QJsonObject valid = signRaw(credential, bytes);

    QByteArray duplicate = bytes;
    duplicate.replace("\"kind\":\"password\"", "\"kind\":\"password\",\"kind\":\"password\"");
    QTest::newRow("duplicate key") << QJsonValue(signRaw(credential, duplicate)) << credential
                                   << u"operator"_s << u"duplicate"_s;

    QByteArray spaced = bytes;
    spaced.replace("\"deleted\":false", "\"deleted\": false");
    QTest::newRow("whitespace") << QJsonValue(signRaw(credential, spaced)) << credential
                                << u"operator"_s << u"canonical"_s;

    QJsonObject extra = fields;
    extra.insert(u"note"_s, u"x"_s);
    QTest::newRow("extra field") << QJsonValue(signRaw(credential, canonical(extra))) << credential
                                 << u"operator"_s << u"\"note\""_s;

    QJsonObject missing = fields;
    missing.remove(u"kind"_s);
    QTest::newRow("missing field") << QJsonValue(signRaw(credential, canonical(missing)))
                                   << credential << u"operator"_s << u"\"kind\""_s;

    QJsonObject versionString = fields;
    versionString[u"version"_s] = u"1"_s;
    QTest::newRow("string for integer") << QJsonValue(signRaw(credential, canonical(versionString)))
                                        << credential << u"operator"_s << u"\"version\""_s;

    QJsonObject agentsString = fields;
    agentsString[u"agents"_s] = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;
    QTest::newRow("string for array") << QJsonValue(signRaw(credential, canonical(agentsString)))
                                      << credential << u"operator"_s << u"\"agents\""_s;

    QJsonObject agentsNumbers = fields;
    agentsNumbers[u"agents"_s] = QJsonArray { 1, 2 };
    QTest::newRow("array of numbers") << QJsonValue(signRaw(credential, canonical(agentsNumbers)))
                                      << credential << u"operator"_s << u"\"agents\""_s;

    QJsonObject deletedNumber = fields;
    deletedNumber[u"deleted"_s] = 0;
    QTest::newRow("integer for boolean")
        << QJsonValue(signRaw(credential, canonical(deletedNumber))) << credential << u"operator"_s
        << u"\"deleted\""_s;

    QJsonObject negative = fields;
    negative[u"version"_s] = -1;
    QTest::newRow("negative integer") << QJsonValue(signRaw(credential, canonical(negative)))
                                      << credential << u"operator"_s << u"\"version\""_s;

    QJsonObject nullValue = fields;
    nullValue[u"kind"_s] = QJsonValue::Null;
    QTest::newRow("null value") << QJsonValue(signRaw(credential, canonical(nullValue)))
                                << credential << u"operator"_s << u"\"kind\""_s;

    QByteArray fraction = bytes;
    fraction.replace("\"version\":1", "\"version\":1.0");
    QTest::newRow("fraction") << QJsonValue(signRaw(credential, fraction)) << credential
                              << u"operator"_s << u"fraction"_s;

    QTest::newRow("wrong context") << QJsonValue(valid) << StatementContext::Attestation
                                   << u"operator"_s << u"sealrelay/attestation/v1"_s;

    QTest::newRow("signed under another context")
        << QJsonValue(signRaw(StatementContext::Attestation, bytes)) << credential << u"operator"_s
        << u"signature"_s;

    QTest::newRow("untrusted key")
        << QJsonValue(valid) << credential << u"peer"_s << u"signature"_s;

    QJsonObject flipped = valid;
    QByteArray badSignature =
        QByteArray::fromBase64(valid.value(u"signature"_s).toString().toLatin1());
    badSignature[0] = char(badSignature[0] ^ 1);
    flipped[u"signature"_s] = encodeBase64(badSignature);
    QTest::newRow("altered signature")
        << QJsonValue(flipped) << credential << u"operator"_s << u"signature"_s;

    QJsonObject lineBreak = valid;
    QString wrapped = valid.value(u"statement_b64"_s).toString();
    wrapped.insert(76, u'\n');
    lineBreak[u"statement_b64"_s] = wrapped;
    QTest::newRow("non-canonical statement_b64")
        << QJsonValue(lineBreak) << credential << u"operator"_s << u"statement_b64"_s;

    QJsonObject urlSafe = valid;
    urlSafe[u"statement_b64"_s] = QString::fromLatin1(
        bytes.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals));
    QTest::newRow("url-safe statement_b64")
        << QJsonValue(urlSafe) << credential << u"operator"_s << u"statement_b64"_s;

    QJsonObject shortSignature = valid;
    shortSignature[u"signature"_s] = encodeBase64(QByteArray(63, 'x'));
    QTest::newRow("63-byte signature")
        << QJsonValue(shortSignature) << credential << u"operator"_s << u"signature"_s;

    QJsonObject extraWireField = valid;
    extraWireField.insert(u"context"_s, u"sealrelay/credential/v1"_s);
    QTest::newRow("extra wire field")
        << QJsonValue(extraWireField) << credential << u"operator"_s << u"\"context\""_s;

    QJsonObject noSignature = valid;
    noSignature.remove(u"signature"_s);
    QTest::newRow("missing signature")
        << QJsonValue(noSignature) << credential << u"operator"_s << u"signature"_s;

    QJsonObject numberSignature = valid;
    numberSignature[u"signature"_s] = 7;
    QTest::newRow("signature not a string")
        << QJsonValue(numberSignature) << credential << u"operator"_s << u"signature"_s;

    QJsonObject emptyStatement = valid;
    emptyStatement[u"statement_b64"_s] = QString();
    QTest::newRow("empty statement_b64")
        << QJsonValue(emptyStatement) << credential << u"operator"_s << u"statement_b64"_s;

    QTest::newRow("not an object")
        << QJsonValue(u"signed"_s) << credential << u"operator"_s << u"statement"_s;

    QTest::newRow("array statement")
        << QJsonValue(signRaw(credential, "[1]")) << credential << u"operator"_s << u"object"_s;
}

void TestStatement::rejects()
{
    QFETCH(QJsonValue, wire);
    QFETCH(StatementContext, context);
    QFETCH(QString, signer);
    QFETCH(QString, messagePart);

    Result<SignedStatement> statement = SignedStatement::fromJson(wire, u"statement");
    Error error { Reason::Internal, {} };
    if (!statement) {
        error = statement.error();
    } else {
        const Result<QJsonObject> fields =
            verifyStatement(context, statement.value(), publicKeyOf(signer));
        QVERIFY(!fields.ok());
        error = fields.error();
    }
    QCOMPARE(error.reason, Reason::BadStatement);
    QVERIFY2(error.message.contains(messagePart), qPrintable(error.message));
}

void TestStatement::signRejectsBadFields_data()
{
    QTest::addColumn<QJsonObject>("fields");
    QTest::addColumn<QString>("messagePart");

    QJsonObject missing = vectorStatement(u"receipt"_s);
    missing.remove(u"at"_s);
    QTest::newRow("missing field") << missing << u"\"at\""_s;

    QJsonObject extra = vectorStatement(u"receipt"_s);
    extra.insert(u"comment"_s, u"x"_s);
    QTest::newRow("extra field") << extra << u"\"comment\""_s;

    QJsonObject fraction = vectorStatement(u"receipt"_s);
    fraction[u"version"_s] = 1.5;
    QTest::newRow("fraction") << fraction << u"\"version\""_s;

    QJsonObject tooLarge = vectorStatement(u"receipt"_s);
    tooLarge[u"version"_s] = qint64(1) << 53;
    QTest::newRow("integer 2^53") << tooLarge << u"\"version\""_s;

    QJsonObject loneSurrogate = vectorStatement(u"receipt"_s);
    loneSurrogate[u"reason"_s] = QString(QChar(char16_t(0xDC00)));
    QTest::newRow("lone surrogate") << loneSurrogate << u"surrogate"_s;
}

void TestStatement::signRejectsBadFields()
{
    QFETCH(QJsonObject, fields);
    QFETCH(QString, messagePart);

    const Result<SignedStatement> signedStatement =
        signStatement(StatementContext::Receipt, fields, privateKeyOf(u"agent"_s));
    QVERIFY(!signedStatement.ok());
    QCOMPARE(signedStatement.error().reason, Reason::BadStatement);
    QVERIFY2(signedStatement.error().message.contains(messagePart),
             qPrintable(signedStatement.error().message));
}

void TestStatement::signedJsonRoundTrip()
{
    const QJsonObject vector = vectorCase(u"receipt"_s);
    const QJsonObject wire { { u"statement_b64"_s, vector.value(u"statement_b64"_s) },
                             { u"signature"_s, vector.value(u"signature"_s) } };
    const Result<SignedStatement> statement = SignedStatement::fromJson(wire, u"receipt");
    QVERIFY(statement.ok());
    QCOMPARE(statement->signature.size(), 64);
    QCOMPARE(statement->toJson(), wire);
    QCOMPARE(statement->sha256(), sha256Base64(statement->bytes));
}

void TestStatement::authSignAndVerify()
{
    const Result<Ed25519PrivateKey> key = Ed25519PrivateKey::generate();
    QVERIFY(key.ok());

    const Result<SignedStatement> signedStatement =
        signStatement(StatementContext::Auth, validAuthFields(), key.value());
    QVERIFY2(signedStatement.ok(),
             qPrintable(signedStatement.ok() ? QString() : signedStatement.error().message));

    const Result<QJsonObject> fields =
        verifyStatement(StatementContext::Auth, signedStatement.value(), key->publicKey());
    QVERIFY(fields.ok());

    const Result<AuthStatement> auth = AuthStatement::fromFields(fields.value());
    QVERIFY2(auth.ok(), qPrintable(auth.ok() ? QString() : auth.error().message));
    QCOMPARE(auth->nonce, QByteArray(16, '\x5a'));
    QCOMPARE(auth->backendOrigin, u"wss://127.0.0.1:8443"_s);
    QCOMPARE(auth->toFields(), validAuthFields());

    // The same bytes do not verify as another agent's.
    const Result<QJsonObject> otherKey =
        verifyStatement(StatementContext::Auth, signedStatement.value(), publicKeyOf(u"agent"_s));
    QVERIFY(!otherKey.ok());
    QCOMPARE(otherKey.error().reason, Reason::BadStatement);
}

void TestStatement::typedRejects_data()
{
    QTest::addColumn<StatementContext>("context");
    QTest::addColumn<QJsonObject>("fields");
    QTest::addColumn<QString>("field");

    const auto with = [](QJsonObject object, const QString &key, const QJsonValue &value) {
        object[key] = value;
        return object;
    };
    const QString agentA = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;
    const QString agentB = u"1c2d3e4f-5061-4728-8394-a5b6c7d8e9f0"_s;
    const QString digest = encodeBase64(QByteArray(32, '\x11'));

    const StatementContext cert = StatementContext::AgentCertificate;
    const QJsonObject certificate = vectorStatement(u"agent_certificate"_s);
    QTest::newRow("certificate org_id uppercase")
        << cert << with(certificate, u"org_id"_s, u"6F1C0C3E-2D7A-4B8E-9A51-0D7E3F2B9C10"_s)
        << u"org_id"_s;
    QTest::newRow("certificate agent_id braces")
        << cert << with(certificate, u"agent_id"_s, QString(u"{"_s + agentA + u"}"_s))
        << u"agent_id"_s;
    QTest::newRow("certificate agent_name empty")
        << cert << with(certificate, u"agent_name"_s, QString()) << u"agent_name"_s;
    QTest::newRow("certificate generation 0")
        << cert << with(certificate, u"generation"_s, 0) << u"generation"_s;
    QTest::newRow("certificate identity_key 31 bytes")
        << cert << with(certificate, u"identity_key"_s, encodeBase64(QByteArray(31, 'k')))
        << u"identity_key"_s;
    QTest::newRow("certificate operator_key unpadded")
        << cert
        << with(certificate, u"operator_key"_s, u"yWzyOnbUjXL3Hf2ltUbiZRNEziXV71xLge5icr2Gk7E"_s)
        << u"operator_key"_s;
    QTest::newRow("certificate encryption_key not a key")
        << cert << with(certificate, u"encryption_key"_s, encodeBase64("not a key"))
        << u"encryption_key"_s;
    QTest::newRow("certificate encryption_key ed25519")
        << cert
        << with(certificate, u"encryption_key"_s,
                encodeBase64(publicKeyOf(u"operator"_s).spkiDer()))
        << u"encryption_key"_s;
    const QByteArray encryptionKey =
        QByteArray::fromBase64(certificate.value(u"encryption_key"_s).toString().toLatin1());
    QTest::newRow("certificate encryption_key trailing byte")
        << cert
        << with(certificate, u"encryption_key"_s,
                encodeBase64(QByteArray(encryptionKey + QByteArray(1, '\0'))))
        << u"encryption_key"_s;
    QTest::newRow("certificate expires before issue")
        << cert << with(certificate, u"expires_at"_s, u"2026-12-03T02:00:00.000Z"_s)
        << u"expires_at"_s;
    QTest::newRow("certificate expires after 365 days")
        << cert << with(certificate, u"expires_at"_s, u"2027-12-04T02:00:00.001Z"_s)
        << u"expires_at"_s;
    QTest::newRow("certificate issued_at without millis")
        << cert << with(certificate, u"issued_at"_s, u"2026-12-04T02:00:00Z"_s) << u"issued_at"_s;
    QJsonObject certificateMissing = certificate;
    certificateMissing.remove(u"operator_key"_s);
    QTest::newRow("certificate missing operator_key")
        << cert << certificateMissing << u"operator_key"_s;

    const StatementContext cred = StatementContext::Credential;
    const QJsonObject credential = vectorStatement(u"credential_statement"_s);
    QTest::newRow("credential agents unsorted")
        << cred << with(credential, u"agents"_s, QJsonArray { agentB, agentA }) << u"agents"_s;
    QTest::newRow("credential agents repeated")
        << cred << with(credential, u"agents"_s, QJsonArray { agentA, agentA }) << u"agents"_s;
    QTest::newRow("credential agents uppercase")
        << cred << with(credential, u"agents"_s, QJsonArray { agentA.toUpper() }) << u"agents"_s;
    QTest::newRow("credential agents not uuids")
        << cred << with(credential, u"agents"_s, QJsonArray { u"agent-1"_s }) << u"agents"_s;
    QTest::newRow("credential agents under auto_all")
        << cred << with(credential, u"scope"_s, u"auto_all"_s) << u"agents"_s;
    QTest::newRow("credential scope unknown")
        << cred << with(credential, u"scope"_s, u"all"_s) << u"scope"_s;
    QTest::newRow("credential version 0")
        << cred << with(credential, u"version"_s, 0) << u"version"_s;
    QTest::newRow("credential revision 0")
        << cred << with(credential, u"revision"_s, 0) << u"revision"_s;
    QTest::newRow("credential name empty")
        << cred << with(credential, u"name"_s, QString()) << u"name"_s;
    QTest::newRow("credential name 202 bytes")
        << cred << with(credential, u"name"_s, QString(101, QChar(0xE9))) << u"name"_s;
    QTest::newRow("credential kind empty")
        << cred << with(credential, u"kind"_s, QString()) << u"kind"_s;
    QTest::newRow("credential commitment 31 bytes")
        << cred << with(credential, u"commitment"_s, encodeBase64(QByteArray(31, 'c')))
        << u"commitment"_s;
    QTest::newRow("credential commitment hex")
        << cred
        << with(credential, u"commitment"_s, QString::fromLatin1(QByteArray(32, 'c').toHex()))
        << u"commitment"_s;
    QTest::newRow("credential prev digest at v1r1")
        << cred << with(credential, u"prev_statement_sha256"_s, digest)
        << u"prev_statement_sha256"_s;
    QTest::newRow("credential prev digest missing at v2")
        << cred << with(credential, u"version"_s, 2) << u"prev_statement_sha256"_s;
    QTest::newRow("credential prev digest missing at r2")
        << cred << with(credential, u"revision"_s, 2) << u"prev_statement_sha256"_s;
    QTest::newRow("credential prev digest 16 bytes")
        << cred
        << with(with(credential, u"version"_s, 2), u"prev_statement_sha256"_s,
                encodeBase64(QByteArray(16, 'd')))
        << u"prev_statement_sha256"_s;
    QTest::newRow("credential issued_at offset")
        << cred << with(credential, u"issued_at"_s, u"2026-12-04T02:05:00.000+01:00"_s)
        << u"issued_at"_s;
    QTest::newRow("credential org_id empty")
        << cred << with(credential, u"org_id"_s, QString()) << u"org_id"_s;

    const StatementContext att = StatementContext::Attestation;
    const QJsonObject peerAttestation = vectorStatement(u"attestation"_s);
    const QJsonObject creatorAttestation = vectorStatement(u"attestation"_s, 1);
    const QString fingerprint = peerAttestation.value(u"target_key_fingerprint"_s).toString();
    QTest::newRow("attestation fingerprint uppercase")
        << att << with(peerAttestation, u"target_key_fingerprint"_s, fingerprint.toUpper())
        << u"target_key_fingerprint"_s;
    QTest::newRow("attestation fingerprint 63 digits")
        << att << with(peerAttestation, u"target_key_fingerprint"_s, fingerprint.left(63))
        << u"target_key_fingerprint"_s;
    QTest::newRow("attestation fingerprint grouped")
        << att
        << with(peerAttestation, u"target_key_fingerprint"_s,
                QString(fingerprint.left(60) + u" "_s + fingerprint.right(4)))
        << u"target_key_fingerprint"_s;
    QTest::newRow("attestation source_kind unknown")
        << att << with(peerAttestation, u"source_kind"_s, u"backend"_s) << u"source_kind"_s;
    QTest::newRow("attestation peer with key source")
        << att << with(peerAttestation, u"source_id"_s, vectorText(u"operator_public_key_b64"_s))
        << u"source_id"_s;
    QTest::newRow("attestation creator with uuid source")
        << att << with(creatorAttestation, u"source_id"_s, agentB) << u"source_id"_s;
    QTest::newRow("attestation creator with short key")
        << att << with(creatorAttestation, u"source_id"_s, encodeBase64(QByteArray(16, 'k')))
        << u"source_id"_s;
    QTest::newRow("attestation statement digest 31 bytes")
        << att << with(peerAttestation, u"statement_sha256"_s, encodeBase64(QByteArray(31, 's')))
        << u"statement_sha256"_s;
    QTest::newRow("attestation envelope digest url-safe")
        << att
        << with(peerAttestation, u"envelope_sha256"_s,
                u"07HyfvIXG0ZE_A4DOBlpcHTrFSoG_heXwpUhmZTnzy8="_s)
        << u"envelope_sha256"_s;
    QTest::newRow("attestation request_id not uuid")
        << att << with(peerAttestation, u"request_id"_s, u"req-1"_s) << u"request_id"_s;
    QTest::newRow("attestation target not uuid")
        << att << with(peerAttestation, u"target_agent_id"_s, u"agent-2"_s) << u"target_agent_id"_s;

    const StatementContext rec = StatementContext::Receipt;
    const QJsonObject receipt = vectorStatement(u"receipt"_s);
    QTest::newRow("receipt state unknown")
        << rec << with(receipt, u"state"_s, u"synced"_s) << u"state"_s;
    QTest::newRow("receipt reason unknown")
        << rec << with(receipt, u"reason"_s, u"NOT_A_REASON"_s) << u"reason"_s;
    QTest::newRow("receipt reason lowercase")
        << rec << with(receipt, u"reason"_s, u"decrypt_failed"_s) << u"reason"_s;
    QTest::newRow("receipt at date only")
        << rec << with(receipt, u"at"_s, u"2026-12-04"_s) << u"at"_s;
    QTest::newRow("receipt statement digest empty")
        << rec << with(receipt, u"statement_sha256"_s, QString()) << u"statement_sha256"_s;

    const StatementContext auth = StatementContext::Auth;
    const QJsonObject authFields = validAuthFields();
    QTest::newRow("auth nonce 15 bytes")
        << auth << with(authFields, u"nonce"_s, encodeBase64(QByteArray(15, 'n'))) << u"nonce"_s;
    QTest::newRow("auth origin without port")
        << auth << with(authFields, u"backend_origin"_s, u"wss://backend.example"_s)
        << u"backend_origin"_s;
    QTest::newRow("auth origin with path")
        << auth << with(authFields, u"backend_origin"_s, u"wss://127.0.0.1:8443/agent"_s)
        << u"backend_origin"_s;
    QTest::newRow("auth origin without scheme")
        << auth << with(authFields, u"backend_origin"_s, u"127.0.0.1:8443"_s)
        << u"backend_origin"_s;
    QTest::newRow("auth issued_at invalid")
        << auth << with(authFields, u"issued_at"_s, u"yesterday"_s) << u"issued_at"_s;
}

void TestStatement::typedRejects()
{
    QFETCH(StatementContext, context);
    QFETCH(QJsonObject, fields);
    QFETCH(QString, field);

    const Result<void> typed = readTyped(context, fields);
    QVERIFY(!typed.ok());
    QCOMPARE(typed.error().reason, Reason::BadStatement);
    QVERIFY2(typed.error().message.contains(u"\"%1\""_s.arg(field)),
             qPrintable(typed.error().message));
}

void TestStatement::typedAccepts_data()
{
    QTest::addColumn<StatementContext>("context");
    QTest::addColumn<QJsonObject>("fields");

    const auto with = [](QJsonObject object, const QString &key, const QJsonValue &value) {
        object[key] = value;
        return object;
    };

    const QJsonObject credential = vectorStatement(u"credential_statement"_s);
    QTest::newRow("credential auto_all")
        << StatementContext::Credential
        << with(with(credential, u"scope"_s, u"auto_all"_s), u"agents"_s, QJsonArray());
    QTest::newRow("credential explicit empty")
        << StatementContext::Credential << with(credential, u"agents"_s, QJsonArray());
    QTest::newRow("credential name 200 bytes")
        << StatementContext::Credential << with(credential, u"name"_s, QString(100, QChar(0xE9)));
    QTest::newRow("credential deleted")
        << StatementContext::Credential
        << with(with(with(credential, u"deleted"_s, true), u"revision"_s, 2),
                u"prev_statement_sha256"_s, encodeBase64(QByteArray(32, 'p')));
    QTest::newRow("credential version 2")
        << StatementContext::Credential << vectorStatement(u"credential_statement"_s, 1);
    QTest::newRow("receipt refused")
        << StatementContext::Receipt
        << with(with(vectorStatement(u"receipt"_s), u"state"_s, u"refused"_s), u"reason"_s,
                u"COMMITMENT_MISMATCH"_s);
    QTest::newRow("receipt deleted")
        << StatementContext::Receipt
        << with(vectorStatement(u"receipt"_s), u"state"_s, u"deleted"_s);
    QTest::newRow("creator attestation")
        << StatementContext::Attestation << vectorStatement(u"attestation"_s, 1);
    QTest::newRow("auth ipv6 origin")
        << StatementContext::Auth
        << with(validAuthFields(), u"backend_origin"_s, u"ws://[::1]:8080"_s);
}

void TestStatement::typedAccepts()
{
    QFETCH(StatementContext, context);
    QFETCH(QJsonObject, fields);

    const Result<void> typed = readTyped(context, fields);
    QVERIFY2(typed.ok(), qPrintable(typed.ok() ? QString() : typed.error().message));
    QCOMPARE(typedRoundTrip(context, fields), fields);
}

void TestStatement::credentialCovers()
{
    const QString listed = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;
    const QString unlisted = u"ffffffff-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;

    Result<CredentialStatement> statement =
        CredentialStatement::fromFields(vectorStatement(u"credential_statement"_s));
    QVERIFY(statement.ok());
    QCOMPARE(statement->scope, CredentialScope::Explicit);
    QVERIFY(statement->covers(listed));
    QVERIFY(statement->covers(u"1c2d3e4f-5061-4728-8394-a5b6c7d8e9f0"));
    QVERIFY(!statement->covers(unlisted));

    statement->scope = CredentialScope::AutoAll;
    statement->agents.clear();
    QVERIFY(statement->covers(unlisted));

    statement->deleted = true;
    QVERIFY(!statement->covers(unlisted));
    QVERIFY(!statement->covers(listed));
}

void TestStatement::trustedKeysFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"trusted-operators"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    const QByteArray content = "# operators trusted by this agent\n"
                               "\n"
        + vectorText(u"operator_public_key_b64"_s).toLatin1()
        + "  \t\r\n"
          "   \n"
          "#"
        + vectorText(u"agent_identity_public_key_b64"_s).toLatin1() + "\n"
        + vectorText(u"peer_identity_public_key_b64"_s).toLatin1() + "\n"
        + vectorText(u"operator_public_key_b64"_s).toLatin1();
    QVERIFY(file.write(content) == content.size());
    file.close();

    const Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path);
    QVERIFY2(keys.ok(), qPrintable(keys.ok() ? QString() : keys.error().message));
    QCOMPARE(keys->size(), 2);
    QCOMPARE(keys->at(0).rawBase64(), vectorText(u"operator_public_key_b64"_s));
    QCOMPARE(keys->at(1).rawBase64(), vectorText(u"peer_identity_public_key_b64"_s));
}

void TestStatement::trustedKeysBadLine()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"trusted-operators"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    const QByteArray content = "# comment\n" + vectorText(u"operator_public_key_b64"_s).toLatin1()
        + "\n"
          "\n"
          "yWzyOnbUjXL3Hf2ltUbiZRNEziXV71xLge5icr2Gk7E\n";
    QVERIFY(file.write(content) == content.size());
    file.close();

    const Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path);
    QVERIFY(!keys.ok());
    QCOMPARE(keys.error().reason, Reason::InvalidKey);
    QVERIFY2(keys.error().message.contains(u"line 4"_s), qPrintable(keys.error().message));
    QVERIFY2(keys.error().message.contains(path), qPrintable(keys.error().message));
}

void TestStatement::trustedKeysMissingFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"absent"_s);

    const Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path);
    QVERIFY(!keys.ok());
    QCOMPARE(keys.error().reason, Reason::IoError);
    QVERIFY2(keys.error().message.contains(path), qPrintable(keys.error().message));
}

QTEST_GUILESS_MAIN(TestStatement)
#include "tst_statement.moc"
