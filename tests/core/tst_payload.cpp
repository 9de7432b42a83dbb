// Tests of the payload and the commitment: the interop vectors parse and
// rebuild byte for byte, bucket sizes, round trips, and every deviation from
// the canonical layout is PAYLOAD_MISMATCH.
#include "base64.h"
#include "payload.h"
#include "testdata.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

namespace {

const QByteArray kCredentialId = "f3a1d2c4-5b6e-4f70-8a91-b2c3d4e5f607"_ba;
// base64 of 32 bytes of 0x01.
const QByteArray kSaltText = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="_ba;
// base64 of {"community":"public"}.
const QByteArray kSecretText = "eyJjb21tdW5pdHkiOiJwdWJsaWMifQ=="_ba;

QByteArray toByteArray(const SecureBuffer &buffer)
{
    return buffer.view().toByteArray();
}

// Replaces the marker "@" in `layout` with as many '0' characters as make the
// result `length` bytes long, so a row changes one thing and keeps a valid
// bucket length.
QByteArray padded(const QByteArray &layout, qsizetype length = 512)
{
    QByteArray result = layout;
    const qsizetype marker = result.indexOf('@');
    Q_ASSERT(marker >= 0);
    const qsizetype padLength = length - (layout.size() - 1);
    Q_ASSERT(padLength >= 0);
    result.replace(marker, 1, QByteArray(padLength, '0'));
    return result;
}

QByteArray layout(const QByteArray &id = kCredentialId, const QByteArray &salt = kSaltText,
                  const QByteArray &secret = kSecretText, const QByteArray &version = "7"_ba)
{
    return R"({"credential_id":")"_ba + id + R"(","pad":"@","salt":")"_ba + salt
        + R"(","secret":")"_ba + secret + R"(","version":)"_ba + version + "}"_ba;
}

} // namespace

class TestPayload : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void vectorsParse_data();
    void vectorsParse();
    void vectorsRebuild_data();
    void vectorsRebuild();
    void vectorsCommitment_data();
    void vectorsCommitment();

    void bucketFor_data();
    void bucketFor();
    void buildBuckets_data();
    void buildBuckets();
    void buildParseRoundTrip_data();
    void buildParseRoundTrip();
    void buildRejects_data();
    void buildRejects();

    void parseValidLayout();
    void parseRejects_data();
    void parseRejects();

    void commitmentSaltLength_data();
    void commitmentSaltLength();
    void verifyCommitmentMatches();
    void verifyCommitmentRejects_data();
    void verifyCommitmentRejects();
    void generateSaltIsFresh();
};

namespace {

void addVectorColumns()
{
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<QByteArray>("secret");
    QTest::addColumn<QByteArray>("salt");
    QTest::addColumn<QByteArray>("commitment");
    QTest::addColumn<QString>("credentialId");
    QTest::addColumn<qint64>("version");

    // Each envelope vector carries the payload of the credential statement
    // listed before it, so the expected id and version come from there.
    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    QJsonObject statement;
    int index = 0;
    for (const QJsonValue &value : cases) {
        const QJsonObject vector = value.toObject();
        ++index;
        if (vector.value(u"kind"_s).toString() == u"credential_statement"_s) {
            statement =
                QJsonDocument::fromJson(
                    QByteArray::fromBase64(vector.value(u"statement_b64"_s).toString().toLatin1()))
                    .object();
            QCOMPARE(statement.value(u"commitment"_s).isString(), true);
        }
        if (vector.value(u"kind"_s).toString() != u"envelope"_s)
            continue;
        QCOMPARE(vector.value(u"commitment_b64"_s), statement.value(u"commitment"_s));
        const auto bytes = [&vector](const QString &key) {
            return QByteArray::fromBase64(vector.value(key).toString().toLatin1());
        };
        const QByteArray name =
            QByteArray::number(index) + '-' + vector.value(u"producer"_s).toString().toLatin1();
        QTest::newRow(name.constData())
            << bytes(u"payload_b64"_s) << bytes(u"secret_b64"_s) << bytes(u"salt_b64"_s)
            << bytes(u"commitment_b64"_s) << statement.value(u"credential_id"_s).toString()
            << statement.value(u"version"_s).toInteger();
    }
}

} // namespace

void TestPayload::vectorsParse_data()
{
    addVectorColumns();
}

void TestPayload::vectorsParse()
{
    QFETCH(QByteArray, payload);
    QFETCH(QByteArray, secret);
    QFETCH(QByteArray, salt);
    QFETCH(QString, credentialId);
    QFETCH(qint64, version);

    auto parsed = parsePayload(payload);
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->credentialId, credentialId);
    QCOMPARE(parsed->version, version);
    QCOMPARE(toByteArray(parsed->secretBytes), secret);
    QCOMPARE(parsed->salt, salt);
}

void TestPayload::vectorsRebuild_data()
{
    addVectorColumns();
}

// The builder writes the same bytes as the Python and Web Crypto producers.
void TestPayload::vectorsRebuild()
{
    QFETCH(QByteArray, payload);
    QFETCH(QByteArray, secret);
    QFETCH(QByteArray, salt);
    QFETCH(QString, credentialId);
    QFETCH(qint64, version);

    auto built = buildPayload(credentialId, version, salt, secret);
    QVERIFY(built.ok());
    QCOMPARE(toByteArray(built.value()), payload);
}

void TestPayload::vectorsCommitment_data()
{
    addVectorColumns();
}

void TestPayload::vectorsCommitment()
{
    QFETCH(QByteArray, secret);
    QFETCH(QByteArray, salt);
    QFETCH(QByteArray, commitment);

    auto computed = computeCommitment(salt, secret);
    QVERIFY(computed.ok());
    QCOMPARE(computed.value(), commitment);
    QVERIFY(verifyCommitment(salt, secret, commitment).ok());
}

void TestPayload::bucketFor_data()
{
    QTest::addColumn<qsizetype>("length");
    QTest::addColumn<qsizetype>("bucket");

    QTest::newRow("0") << qsizetype(0) << qsizetype(512);
    QTest::newRow("1") << qsizetype(1) << qsizetype(512);
    QTest::newRow("512") << qsizetype(512) << qsizetype(512);
    QTest::newRow("513") << qsizetype(513) << qsizetype(1024);
    QTest::newRow("1024") << qsizetype(1024) << qsizetype(1024);
    QTest::newRow("1025") << qsizetype(1025) << qsizetype(2048);
    QTest::newRow("65537") << qsizetype(65537) << qsizetype(131072);
    QTest::newRow("131072") << qsizetype(131072) << qsizetype(131072);
    QTest::newRow("131073") << qsizetype(131073) << qsizetype(0);
    QTest::newRow("negative") << qsizetype(-1) << qsizetype(0);
}

void TestPayload::bucketFor()
{
    QFETCH(qsizetype, length);
    QFETCH(qsizetype, bucket);

    QCOMPARE(payloadBucketFor(length), bucket);
}

// Without the pad a payload is 142 bytes plus the version's digits plus the
// secret's base64, so these secret sizes and versions hit each boundary.
void TestPayload::buildBuckets_data()
{
    QTest::addColumn<qsizetype>("secretSize");
    QTest::addColumn<qint64>("version");
    QTest::addColumn<qsizetype>("unpadded");
    QTest::addColumn<qsizetype>("bucket");

    QTest::newRow("small") << qsizetype(10) << qint64(1) << qsizetype(142 + 1 + 16)
                           << qsizetype(512);
    QTest::newRow("exactly-512") << qsizetype(276) << qint64(10) << qsizetype(512)
                                 << qsizetype(512);
    QTest::newRow("513") << qsizetype(276) << qint64(100) << qsizetype(513) << qsizetype(1024);
    QTest::newRow("exactly-131072")
        << qsizetype(98196) << qint64(10) << qsizetype(131072) << qsizetype(131072);
    QTest::newRow("too-large-131073")
        << qsizetype(98196) << qint64(100) << qsizetype(131073) << qsizetype(0);
    QTest::newRow("too-large-secret")
        << qsizetype(200000) << qint64(1) << qsizetype(0) << qsizetype(0);
}

void TestPayload::buildBuckets()
{
    QFETCH(qsizetype, secretSize);
    QFETCH(qint64, version);
    QFETCH(qsizetype, unpadded);
    QFETCH(qsizetype, bucket);

    const QByteArray secret(secretSize, 's');
    auto built = buildPayload(QString::fromLatin1(kCredentialId), version,
                              QByteArray(kSaltBytes, '\x01'), secret);
    if (bucket == 0) {
        QVERIFY(!built.ok());
        QCOMPARE(built.error().reason, Reason::TooLarge);
        return;
    }
    QVERIFY(built.ok());
    QCOMPARE(built->size(), bucket);

    const QByteArray bytes = toByteArray(built.value());
    const qsizetype padStart = bytes.indexOf(R"("pad":")") + 7;
    const qsizetype padEnd = bytes.indexOf('"', padStart);
    QCOMPARE(padEnd - padStart, bucket - unpadded);

    auto parsed = parsePayload(bytes);
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(toByteArray(parsed->secretBytes), secret);
    QCOMPARE(parsed->version, version);
}

void TestPayload::buildParseRoundTrip_data()
{
    QTest::addColumn<QByteArray>("secret");
    QTest::addColumn<qint64>("version");

    QTest::newRow("json-secret") << R"({"password":"hunter2","username":"admin"})"_ba << qint64(3);
    QTest::newRow("empty-secret") << QByteArray() << qint64(1);
    QTest::newRow("binary-secret") << QByteArray("\0\"\\}\xff\x80", 6) << qint64(42);
    QTest::newRow("1000-bytes") << QByteArray(1000, 'k') << qint64(9007199254740991);
}

void TestPayload::buildParseRoundTrip()
{
    QFETCH(QByteArray, secret);
    QFETCH(qint64, version);

    const QByteArray salt = generateSalt();
    auto built = buildPayload(QString::fromLatin1(kCredentialId), version, salt, secret);
    QVERIFY(built.ok());
    QCOMPARE(payloadBucketFor(built->size()), built->size());

    auto parsed = parsePayload(built->view());
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->credentialId, QString::fromLatin1(kCredentialId));
    QCOMPARE(parsed->version, version);
    QCOMPARE(parsed->salt, salt);
    QCOMPARE(toByteArray(parsed->secretBytes), secret);
}

void TestPayload::buildRejects_data()
{
    QTest::addColumn<QString>("credentialId");
    QTest::addColumn<qint64>("version");
    QTest::addColumn<QByteArray>("salt");
    QTest::addColumn<QString>("named");

    const QString id = QString::fromLatin1(kCredentialId);
    const QByteArray salt(kSaltBytes, '\x01');
    QTest::newRow("uppercase-uuid") << id.toUpper() << qint64(1) << salt << u"credential_id"_s;
    QTest::newRow("not-a-uuid") << u"credential-1"_s << qint64(1) << salt << u"credential_id"_s;
    QTest::newRow("version-0") << id << qint64(0) << salt << u"version"_s;
    QTest::newRow("version-negative") << id << qint64(-1) << salt << u"version"_s;
    QTest::newRow("version-2^53") << id << (qint64(1) << 53) << salt << u"version"_s;
    QTest::newRow("salt-31-bytes") << id << qint64(1) << salt.left(31) << u"salt"_s;
    QTest::newRow("salt-33-bytes") << id << qint64(1) << salt + '\x01' << u"salt"_s;
}

void TestPayload::buildRejects()
{
    QFETCH(QString, credentialId);
    QFETCH(qint64, version);
    QFETCH(QByteArray, salt);
    QFETCH(QString, named);

    auto built = buildPayload(credentialId, version, salt, "{}"_ba);
    QVERIFY(!built.ok());
    QCOMPARE(built.error().reason, Reason::Malformed);
    QVERIFY2(built.error().message.contains(named), qPrintable(built.error().message));
}

// The layout the rejection rows start from must itself parse, so each row
// fails for the one thing it changes.
void TestPayload::parseValidLayout()
{
    auto parsed = parsePayload(padded(layout()));
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->version, 7);
    QCOMPARE(toByteArray(parsed->secretBytes), R"({"community":"public"})"_ba);

    // A secret too long for 512 bytes takes the 1024-byte bucket.
    const QByteArray longSecret = QByteArray(450, 'a').toBase64();
    auto large = parsePayload(padded(layout(kCredentialId, kSaltText, longSecret), 1024));
    QVERIFY2(large.ok(), qPrintable(large.ok() ? QString() : large.error().message));
}

void TestPayload::parseRejects_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("because");

    const QByteArray good = padded(layout());
    QByteArray nonZeroPad = good;
    nonZeroPad[good.indexOf(R"("pad":")") + 10] = '1';
    QTest::newRow("pad-non-zero-char") << nonZeroPad << u"other than '0'"_s;
    QByteArray spacePad = good;
    spacePad[good.indexOf(R"("pad":")") + 10] = ' ';
    QTest::newRow("pad-space") << spacePad << u"other than '0'"_s;

    QTest::newRow("pad-beyond-smallest-bucket")
        << padded(layout(), 1024) << u"fits the smaller 512-byte bucket"_s;
    QTest::newRow("length-511") << padded(layout(), 511) << u"bucket size"_s;
    QTest::newRow("length-513") << padded(layout(), 513) << u"bucket size"_s;
    QTest::newRow("length-768") << padded(layout(), 768) << u"bucket size"_s;
    QTest::newRow("empty") << QByteArray() << u"bucket size"_s;
    QTest::newRow("too-large") << padded(layout(), 262144) << u"bucket size"_s;

    QTest::newRow("extra-field") << padded(R"({"credential_id":")"_ba + kCredentialId
                                           + R"(","extra":"x","pad":"@","salt":")" + kSaltText
                                           + R"(","secret":")" + kSecretText + R"(","version":7})")
                                 << u"\"pad\" field does not follow"_s;
    QTest::newRow("extra-field-at-end")
        << padded(layout().replace("}", R"(,"z":1})")) << u"version is not"_s;
    QTest::newRow("missing-salt") << padded(
        R"({"credential_id":")"_ba + kCredentialId + R"(","pad":"@","secret":")" + kSecretText
        + R"(","version":7})") << u"\"salt\" field does not follow"_s;
    QTest::newRow("reordered-fields")
        << padded(R"({"pad":"@","credential_id":")"_ba + kCredentialId + R"(","salt":")" + kSaltText
                  + R"(","secret":")" + kSecretText + R"(","version":7})")
        << u"does not open with"_s;
    QTest::newRow("version-before-secret")
        << padded(R"({"credential_id":")"_ba + kCredentialId + R"(","pad":"@","salt":")" + kSaltText
                  + R"(","version":7,"secret":")" + kSecretText + R"("})")
        << u"\"secret\" field does not follow"_s;

    QTest::newRow("uppercase-uuid")
        << padded(layout(kCredentialId.toUpper())) << u"credential_id is not"_s;
    QTest::newRow("uuid-without-dashes")
        << padded(layout(QByteArray(kCredentialId).replace("-", ""))) << u"credential_id is not"_s;
    QTest::newRow("uuid-escaped-char")
        << padded(layout(R"(\u0066)"_ba + kCredentialId.mid(1))) << u"credential_id is not"_s;

    QTest::newRow("version-0") << padded(layout(kCredentialId, kSaltText, kSecretText, "0"))
                               << u"version is not"_s;
    QTest::newRow("version-leading-zero")
        << padded(layout(kCredentialId, kSaltText, kSecretText, "07")) << u"version is not"_s;
    QTest::newRow("version-negative")
        << padded(layout(kCredentialId, kSaltText, kSecretText, "-7")) << u"version is not"_s;
    QTest::newRow("version-plus") << padded(layout(kCredentialId, kSaltText, kSecretText, "+7"))
                                  << u"version is not"_s;
    QTest::newRow("version-fraction")
        << padded(layout(kCredentialId, kSaltText, kSecretText, "7.0")) << u"version is not"_s;
    QTest::newRow("version-exponent")
        << padded(layout(kCredentialId, kSaltText, kSecretText, "7e0")) << u"version is not"_s;
    QTest::newRow("version-string")
        << padded(layout(kCredentialId, kSaltText, kSecretText, R"("7")")) << u"version is not"_s;
    QTest::newRow("version-2^53") << padded(
        layout(kCredentialId, kSaltText, kSecretText, "9007199254740992"))
                                  << u"version is not"_s;
    QTest::newRow("version-empty")
        << padded(layout(kCredentialId, kSaltText, kSecretText, "")) << u"version is not"_s;

    QTest::newRow("salt-31-bytes")
        << padded(layout(kCredentialId, QByteArray(31, '\x01').toBase64())) << u"salt is not"_s;
    QTest::newRow("salt-33-bytes")
        << padded(layout(kCredentialId, QByteArray(33, '\x01').toBase64())) << u"salt is not"_s;
    QTest::newRow("salt-url-safe") << padded(
        layout(kCredentialId, QByteArray(32, '\xfb').toBase64(QByteArray::Base64UrlEncoding)))
                                   << u"salt is not"_s;
    QTest::newRow("salt-padding-bits")
        << padded(layout(kCredentialId, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQF="))
        << u"salt is not"_s;

    QTest::newRow("secret-missing-padding")
        << padded(layout(kCredentialId, kSaltText, QByteArray(kSecretText).replace("=", "")))
        << u"secret is not"_s;
    QTest::newRow("secret-padding-bits")
        << padded(layout(kCredentialId, kSaltText, "eyJjb21tdW5pdHkiOiJwdWJsaWMifR=="))
        << u"secret is not"_s;
    QTest::newRow("secret-line-break")
        << padded(layout(kCredentialId, kSaltText, kSecretText.left(8) + "\n" + kSecretText.mid(8)))
        << u"secret is not"_s;

    QTest::newRow("space-after-colon")
        << padded(layout().replace(R"("credential_id":")", R"("credential_id": ")"))
        << u"does not open with"_s;
    QTest::newRow("space-after-comma") << padded(layout().replace(R"(","salt")", R"(", "salt")"))
                                       << u"\"salt\" field does not follow"_s;
    QTest::newRow("leading-space") << padded(" "_ba + layout()) << u"does not open with"_s;
    QTest::newRow("trailing-newline")
        << padded(layout() + "\n") << u"bytes follow the closing brace"_s;
    QTest::newRow("trailing-bytes-after-brace")
        << padded(layout() + "}") << u"bytes follow the closing brace"_s;
    QTest::newRow("pretty-printed")
        << padded(layout().replace(R"({")", "{\n  \"").replace(R"(,")", ",\n  \""))
        << u"does not open with"_s;
}

void TestPayload::parseRejects()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, because);

    auto parsed = parsePayload(bytes);
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, Reason::PayloadMismatch);
    QVERIFY2(parsed.error().message.contains(because), qPrintable(parsed.error().message));
}

void TestPayload::commitmentSaltLength_data()
{
    QTest::addColumn<qsizetype>("saltSize");

    QTest::newRow("empty") << qsizetype(0);
    QTest::newRow("31-bytes") << qsizetype(31);
    QTest::newRow("33-bytes") << qsizetype(33);
    QTest::newRow("64-bytes") << qsizetype(64);
}

void TestPayload::commitmentSaltLength()
{
    QFETCH(qsizetype, saltSize);

    auto commitment = computeCommitment(QByteArray(saltSize, 's'), "{}"_ba);
    QVERIFY(!commitment.ok());
    QCOMPARE(commitment.error().reason, Reason::Malformed);

    auto verified = verifyCommitment(QByteArray(saltSize, 's'), "{}"_ba, QByteArray(32, 'c'));
    QVERIFY(!verified.ok());
    QCOMPARE(verified.error().reason, Reason::Malformed);
}

void TestPayload::verifyCommitmentMatches()
{
    const QByteArray salt = generateSalt();
    auto commitment = computeCommitment(salt, "{}"_ba);
    QVERIFY(commitment.ok());
    QCOMPARE(commitment->size(), kCommitmentBytes);
    QVERIFY(verifyCommitment(salt, "{}"_ba, commitment.value()).ok());

    auto emptySecret = computeCommitment(salt, QByteArray());
    QVERIFY(emptySecret.ok());
    QVERIFY(emptySecret.value() != commitment.value());
}

// verifyCommitment compares with constantTimeEquals (CRYPTO_memcmp); these
// rows check that every kind of difference is a mismatch.
void TestPayload::verifyCommitmentRejects_data()
{
    QTest::addColumn<QByteArray>("expected");

    const QByteArray salt(kSaltBytes, '\x01');
    auto commitment = computeCommitment(salt, R"({"community":"public"})"_ba);
    QVERIFY(commitment.ok());
    QByteArray firstByte = commitment.value();
    firstByte[0] = char(firstByte[0] ^ 0x01);
    QByteArray lastByte = commitment.value();
    lastByte[31] = char(lastByte[31] ^ 0x80);

    QTest::newRow("first-byte") << firstByte;
    QTest::newRow("last-byte") << lastByte;
    QTest::newRow("truncated") << commitment->left(31);
    QTest::newRow("extended") << commitment.value() + '\0';
    QTest::newRow("empty") << QByteArray();
}

void TestPayload::verifyCommitmentRejects()
{
    QFETCH(QByteArray, expected);

    auto verified =
        verifyCommitment(QByteArray(kSaltBytes, '\x01'), R"({"community":"public"})"_ba, expected);
    QVERIFY(!verified.ok());
    QCOMPARE(verified.error().reason, Reason::CommitmentMismatch);
}

void TestPayload::generateSaltIsFresh()
{
    const QByteArray first = generateSalt();
    const QByteArray second = generateSalt();
    QCOMPARE(first.size(), kSaltBytes);
    QCOMPARE(second.size(), kSaltBytes);
    QVERIFY(first != second);
}

QTEST_GUILESS_MAIN(TestPayload)
#include "tst_payload.moc"
