// Tests of the sealed envelope: the interop vectors open to their payloads,
// seal and open round trips, and every malformed or tampered envelope is
// rejected with the right reason.
#include "base64.h"
#include "canonicaljson.h"
#include "envelope.h"
#include "keys.h"
#include "testdata.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

namespace {

QByteArray vectorText(const QString &key)
{
    return test::interopVectors().value(key).toString().toLatin1();
}

RsaPrivateKey vectorPrivateKey()
{
    auto key = RsaPrivateKey::fromPkcs8Pem(vectorText(u"rsa_private_key_pkcs8_pem"_s));
    Q_ASSERT(key.ok());
    return std::move(key).value();
}

QByteArray toByteArray(const SecureBuffer &buffer)
{
    return buffer.view().toByteArray();
}

// Seals `payload` the way an independent producer would, with the OAEP hash
// and MGF1 hash chosen by the caller, and optionally with the GCM tag left
// appended to the ciphertext as Web Crypto returns it.
QJsonObject sealWithParams(EVP_PKEY *recipient, const QByteArray &payload, const char *oaepDigest,
                           const char *mgf1Digest, bool tagAppended)
{
    unsigned char aesKey[32];
    unsigned char iv[12];
    RAND_bytes(aesKey, sizeof aesKey);
    RAND_bytes(iv, sizeof iv);

    QByteArray ciphertext(payload.size(), Qt::Uninitialized);
    QByteArray tag(16, Qt::Uninitialized);
    int written = 0;
    int finalWritten = 0;
    EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex2(cipher, EVP_aes_256_gcm(), aesKey, iv, nullptr);
    EVP_EncryptUpdate(cipher, reinterpret_cast<unsigned char *>(ciphertext.data()), &written,
                      reinterpret_cast<const unsigned char *>(payload.constData()),
                      int(payload.size()));
    EVP_EncryptFinal_ex(cipher, reinterpret_cast<unsigned char *>(ciphertext.data()) + written,
                        &finalWritten);
    EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_AEAD_GET_TAG, 16, tag.data());
    EVP_CIPHER_CTX_free(cipher);

    QByteArray encryptedKey(256, Qt::Uninitialized);
    size_t encryptedKeyLength = size_t(encryptedKey.size());
    EVP_PKEY_CTX *wrap = EVP_PKEY_CTX_new_from_pkey(nullptr, recipient, nullptr);
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
                                         const_cast<char *>(OSSL_PKEY_RSA_PAD_MODE_OAEP), 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                                         const_cast<char *>(oaepDigest), 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                                         const_cast<char *>(mgf1Digest), 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_encrypt_init_ex(wrap, params);
    EVP_PKEY_encrypt(wrap, reinterpret_cast<unsigned char *>(encryptedKey.data()),
                     &encryptedKeyLength, aesKey, sizeof aesKey);
    EVP_PKEY_CTX_free(wrap);

    return QJsonObject {
        { u"encrypted_key"_s, encodeBase64(encryptedKey) },
        { u"iv"_s, encodeBase64(QByteArrayView(iv, sizeof iv)) },
        { u"ciphertext"_s, encodeBase64(tagAppended ? ciphertext + tag : ciphertext) },
        { u"tag"_s, encodeBase64(tag) },
    };
}

QString flipByte(const QString &base64, qsizetype index)
{
    QByteArray bytes = QByteArray::fromBase64(base64.toLatin1());
    bytes[index] = char(bytes[index] ^ 0x01);
    return encodeBase64(bytes);
}

QString resized(const QString &base64, qsizetype size)
{
    QByteArray bytes = QByteArray::fromBase64(base64.toLatin1());
    bytes.resize(size, '\x5a');
    return encodeBase64(bytes);
}

// Sets a padding bit of a canonical base64 text that ends in '=', so it
// decodes to the same bytes but is no longer canonical.
QString withPaddingBitSet(QString base64)
{
    static const QString alphabet =
        u"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"_s;
    const qsizetype last = base64.indexOf(u'=') - 1;
    const qsizetype value = alphabet.indexOf(base64.at(last));
    base64[last] = alphabet.at(value | 1);
    return base64;
}

QJsonObject with(QJsonObject object, const QString &key, const QJsonValue &value)
{
    object.insert(key, value);
    return object;
}

QJsonObject without(QJsonObject object, const QString &key)
{
    object.remove(key);
    return object;
}

} // namespace

class TestEnvelope : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void vectorsOpen_data();
    void vectorsOpen();
    void vectorToJsonRoundTrip();
    void vectorEnvelopeSha256();
    void sealOpenRoundTrip();
    void sealOpenEmptyPayload();
    void sealIsFresh();
    void sealRejectsOversizedPayload();
    void independentSealOpens();

    void parseRejects_data();
    void parseRejects();
    void openRejects_data();
    void openRejects();
    void openWithOtherKeyFails();
    void maxCiphertextParses();
    void decryptFailuresAlike();

private:
    std::optional<RsaPrivateKey> m_key;
    std::optional<RsaPrivateKey> m_otherKey;
    QByteArray m_payload;
    QJsonObject m_sealed;
};

void TestEnvelope::initTestCase()
{
    m_key = vectorPrivateKey();
    auto other = RsaPrivateKey::generate();
    QVERIFY(other.ok());
    m_otherKey = std::move(other).value();

    m_payload = QByteArray(512, 'p');
    auto sealed = sealEnvelope(m_key->publicKey(), m_payload);
    QVERIFY(sealed.ok());
    m_sealed = sealed->toJson();
}

void TestEnvelope::vectorsOpen_data()
{
    QTest::addColumn<QJsonObject>("envelope");
    QTest::addColumn<QByteArray>("payload");

    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    int index = 0;
    for (const QJsonValue &value : cases) {
        const QJsonObject vector = value.toObject();
        ++index;
        if (vector.value(u"kind"_s).toString() != u"envelope"_s)
            continue;
        QVERIFY(vector.value(u"valid"_s).toBool());
        const QByteArray name =
            QByteArray::number(index) + '-' + vector.value(u"producer"_s).toString().toLatin1();
        QTest::newRow(name.constData())
            << vector.value(u"envelope"_s).toObject()
            << QByteArray::fromBase64(vector.value(u"payload_b64"_s).toString().toLatin1());
    }
}

void TestEnvelope::vectorsOpen()
{
    QFETCH(QJsonObject, envelope);
    QFETCH(QByteArray, payload);

    auto parsed = Envelope::fromJson(envelope);
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    auto opened = openEnvelope(*m_key, parsed.value());
    QVERIFY2(opened.ok(), qPrintable(opened.ok() ? QString() : opened.error().message));
    QCOMPARE(toByteArray(opened.value()), payload);
}

void TestEnvelope::vectorToJsonRoundTrip()
{
    const QJsonObject vector = test::interopVectors().value(u"cases"_s).toArray().at(3).toObject();
    QCOMPARE(vector.value(u"kind"_s).toString(), u"envelope"_s);
    const QJsonObject json = vector.value(u"envelope"_s).toObject();
    auto parsed = Envelope::fromJson(json);
    QVERIFY(parsed.ok());
    QCOMPARE(parsed->toJson(), json);
}

// Attestations in the vectors carry envelope_sha256 of the envelope they
// cover, computed by the Python producer.
void TestEnvelope::vectorEnvelopeSha256()
{
    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    int checked = 0;
    for (const QJsonValue &value : cases) {
        const QJsonObject vector = value.toObject();
        if (vector.value(u"kind"_s).toString() != u"attestation"_s
            || !vector.contains(u"envelope"_s)) {
            continue;
        }
        const QJsonObject statement =
            QJsonDocument::fromJson(
                QByteArray::fromBase64(vector.value(u"statement_b64"_s).toString().toLatin1()))
                .object();
        auto envelope = Envelope::fromJson(vector.value(u"envelope"_s).toObject());
        QVERIFY(envelope.ok());
        QCOMPARE(envelope->sha256(), statement.value(u"envelope_sha256"_s).toString());
        ++checked;
    }
    QVERIFY(checked > 0);
}

void TestEnvelope::sealOpenRoundTrip()
{
    const QByteArray payload = QByteArray(2048, 'x') + QByteArray("\0\x01\xff", 3);
    auto sealed = sealEnvelope(m_key->publicKey(), payload);
    QVERIFY(sealed.ok());
    QCOMPARE(sealed->encryptedKey.size(), kEncryptedKeyBytes);
    QCOMPARE(sealed->iv.size(), kIvBytes);
    QCOMPARE(sealed->tag.size(), kTagBytes);
    QCOMPARE(sealed->ciphertext.size(), payload.size());

    auto reparsed = Envelope::fromJson(sealed->toJson());
    QVERIFY(reparsed.ok());
    auto opened = openEnvelope(*m_key, reparsed.value());
    QVERIFY(opened.ok());
    QCOMPARE(toByteArray(opened.value()), payload);
}

void TestEnvelope::sealOpenEmptyPayload()
{
    auto sealed = sealEnvelope(m_key->publicKey(), QByteArrayView());
    QVERIFY(sealed.ok());
    QVERIFY(sealed->ciphertext.isEmpty());
    auto reparsed = Envelope::fromJson(sealed->toJson());
    QVERIFY(reparsed.ok());
    auto opened = openEnvelope(*m_key, reparsed.value());
    QVERIFY(opened.ok());
    QVERIFY(opened->isEmpty());
}

void TestEnvelope::sealIsFresh()
{
    auto first = sealEnvelope(m_key->publicKey(), m_payload);
    auto second = sealEnvelope(m_key->publicKey(), m_payload);
    QVERIFY(first.ok());
    QVERIFY(second.ok());
    QVERIFY(first->iv != second->iv);
    QVERIFY(first->encryptedKey != second->encryptedKey);
    QVERIFY(first->ciphertext != second->ciphertext);
}

void TestEnvelope::sealRejectsOversizedPayload()
{
    auto sealed = sealEnvelope(m_key->publicKey(), QByteArray(kMaxCiphertextBytes + 1, 'x'));
    QVERIFY(!sealed.ok());
    QCOMPARE(sealed.error().reason, Reason::TooLarge);
}

// The test's own sealing with the protocol's parameters must open. The
// negative rows use the same helper, so each differs only in what it changes.
void TestEnvelope::independentSealOpens()
{
    const QJsonObject json =
        sealWithParams(m_key->publicKey().handle(), m_payload, "SHA256", "SHA256", false);
    auto parsed = Envelope::fromJson(json);
    QVERIFY(parsed.ok());
    auto opened = openEnvelope(*m_key, parsed.value());
    QVERIFY(opened.ok());
    QCOMPARE(toByteArray(opened.value()), m_payload);
}

void TestEnvelope::parseRejects_data()
{
    QTest::addColumn<QJsonObject>("json");
    QTest::addColumn<Reason>("reason");
    QTest::addColumn<QString>("named");

    const QJsonObject good = m_sealed;
    const QString iv = good.value(u"iv"_s).toString();
    const QString tag = good.value(u"tag"_s).toString();
    const QString ciphertext = good.value(u"ciphertext"_s).toString();
    const QString encryptedKey = good.value(u"encrypted_key"_s).toString();

    QTest::newRow("iv-11-bytes") << with(good, u"iv"_s, resized(iv, 11)) << Reason::Malformed
                                 << u"iv"_s;
    QTest::newRow("iv-16-bytes") << with(good, u"iv"_s, resized(iv, 16)) << Reason::Malformed
                                 << u"iv"_s;
    QTest::newRow("tag-15-bytes") << with(good, u"tag"_s, resized(tag, 15)) << Reason::Malformed
                                  << u"tag"_s;
    QTest::newRow("tag-empty") << with(good, u"tag"_s, QString()) << Reason::Malformed << u"tag"_s;
    QTest::newRow("encrypted-key-255-bytes")
        << with(good, u"encrypted_key"_s, resized(encryptedKey, 255)) << Reason::Malformed
        << u"encrypted_key"_s;
    QTest::newRow("encrypted-key-512-bytes")
        << with(good, u"encrypted_key"_s, resized(encryptedKey, 512)) << Reason::Malformed
        << u"encrypted_key"_s;

    QTest::newRow("base64-whitespace")
        << with(good, u"iv"_s, QString(iv.left(8) + u' ' + iv.mid(8))) << Reason::Malformed
        << u"iv"_s;
    QTest::newRow("base64-trailing-newline")
        << with(good, u"tag"_s, QString(tag + u'\n')) << Reason::Malformed << u"tag"_s;
    QTest::newRow("base64-line-breaks") << with(
        good, u"ciphertext"_s, QString(ciphertext.left(76) + u"\r\n"_s + ciphertext.mid(76)))
                                        << Reason::Malformed << u"ciphertext"_s;
    QTest::newRow("base64-url-safe")
        << with(good, u"iv"_s, u"-_-_-_-_-_-_-_-_"_s) << Reason::Malformed << u"iv"_s;
    QTest::newRow("base64-missing-padding")
        << with(good, u"tag"_s, tag.left(22)) << Reason::Malformed << u"tag"_s;
    QTest::newRow("base64-padding-bits")
        << with(good, u"tag"_s, withPaddingBitSet(tag)) << Reason::Malformed << u"tag"_s;
    QTest::newRow("base64-invalid-character")
        << with(good, u"iv"_s, u"AAAAAAAAAAAAAAA*"_s) << Reason::Malformed << u"iv"_s;
    QTest::newRow("base64-non-ascii")
        << with(good, u"iv"_s, u"AAAAAAAAAAAAAAA\u00e9"_s) << Reason::Malformed << u"iv"_s;
    QTest::newRow("not-a-string") << with(good, u"iv"_s, 12) << Reason::Malformed << u"iv"_s;
    QTest::newRow("null-value") << with(good, u"tag"_s, QJsonValue()) << Reason::Malformed
                                << u"tag"_s;

    QTest::newRow("extra-field") << with(good, u"aad"_s, u""_s) << Reason::Malformed << u"aad"_s;
    const QStringList fields = { u"encrypted_key"_s, u"iv"_s, u"ciphertext"_s, u"tag"_s };
    for (const QString &field : fields) {
        const QByteArray name = "missing-" + field.toLatin1();
        QTest::newRow(name.constData()) << without(good, field) << Reason::Malformed << field;
    }
    QTest::newRow("empty-object") << QJsonObject() << Reason::Malformed << u"missing"_s;

    // 174768 characters is one group past the longest text that can decode
    // to 128 KiB; the 2 MiB row shows a huge string is refused by length.
    QTest::newRow("ciphertext-text-too-long") << with(good, u"ciphertext"_s, QString(174768, u'A'))
                                              << Reason::TooLarge << u"ciphertext"_s;
    QTest::newRow("ciphertext-2-mib-text")
        << with(good, u"ciphertext"_s, QString(2 * 1024 * 1024, u'!')) << Reason::TooLarge
        << u"ciphertext"_s;
    QTest::newRow("ciphertext-131073-bytes")
        << with(good, u"ciphertext"_s, encodeBase64(QByteArray(kMaxCiphertextBytes + 1, 'c')))
        << Reason::TooLarge << u"ciphertext"_s;
}

void TestEnvelope::parseRejects()
{
    QFETCH(QJsonObject, json);
    QFETCH(Reason, reason);
    QFETCH(QString, named);

    auto parsed = Envelope::fromJson(json);
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, reason);
    QVERIFY2(parsed.error().message.contains(named), qPrintable(parsed.error().message));
}

void TestEnvelope::openRejects_data()
{
    QTest::addColumn<QJsonObject>("json");

    const RsaPublicKey publicKey = m_key->publicKey();
    EVP_PKEY *recipient = publicKey.handle();
    QTest::newRow("oaep-mgf1-sha1")
        << sealWithParams(recipient, m_payload, "SHA256", "SHA1", false);
    QTest::newRow("oaep-sha1") << sealWithParams(recipient, m_payload, "SHA1", "SHA1", false);
    QTest::newRow("oaep-sha1-mgf1-sha256")
        << sealWithParams(recipient, m_payload, "SHA1", "SHA256", false);
    QTest::newRow("tag-appended") << sealWithParams(recipient, m_payload, "SHA256", "SHA256", true);

    const QJsonObject good = m_sealed;
    QTest::newRow("flipped-ciphertext-first-byte")
        << with(good, u"ciphertext"_s, flipByte(good.value(u"ciphertext"_s).toString(), 0));
    QTest::newRow("flipped-ciphertext-last-byte")
        << with(good, u"ciphertext"_s, flipByte(good.value(u"ciphertext"_s).toString(), 511));
    QTest::newRow("flipped-tag-byte")
        << with(good, u"tag"_s, flipByte(good.value(u"tag"_s).toString(), 15));
    QTest::newRow("flipped-iv-byte")
        << with(good, u"iv"_s, flipByte(good.value(u"iv"_s).toString(), 0));
    QTest::newRow("flipped-encrypted-key-byte")
        << with(good, u"encrypted_key"_s, flipByte(good.value(u"encrypted_key"_s).toString(), 100));
    QTest::newRow("truncated-ciphertext")
        << with(good, u"ciphertext"_s, resized(good.value(u"ciphertext"_s).toString(), 510));
    QTest::newRow("empty-ciphertext") << with(good, u"ciphertext"_s, QString());
}

void TestEnvelope::openRejects()
{
    QFETCH(QJsonObject, json);

    auto parsed = Envelope::fromJson(json);
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    auto opened = openEnvelope(*m_key, parsed.value());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::DecryptFailed);
}

void TestEnvelope::openWithOtherKeyFails()
{
    auto parsed = Envelope::fromJson(m_sealed);
    QVERIFY(parsed.ok());
    auto opened = openEnvelope(*m_otherKey, parsed.value());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::DecryptFailed);
}

void TestEnvelope::maxCiphertextParses()
{
    const QByteArray payload(kMaxCiphertextBytes, 'm');
    auto sealed = sealEnvelope(m_key->publicKey(), payload);
    QVERIFY(sealed.ok());
    const QJsonObject json = sealed->toJson();
    QCOMPARE(json.value(u"ciphertext"_s).toString().size(), 174764);

    auto parsed = Envelope::fromJson(json);
    QVERIFY(parsed.ok());
    auto opened = openEnvelope(*m_key, parsed.value());
    QVERIFY(opened.ok());
    QCOMPARE(opened->size(), kMaxCiphertextBytes);
}

// An RSA unwrap failure and a GCM tag failure return identical errors.
void TestEnvelope::decryptFailuresAlike()
{
    auto rsaFailure = Envelope::fromJson(m_sealed);
    QVERIFY(rsaFailure.ok());
    auto wrongKey = openEnvelope(*m_otherKey, rsaFailure.value());

    auto gcmFailure = Envelope::fromJson(
        with(m_sealed, u"tag"_s, flipByte(m_sealed.value(u"tag"_s).toString(), 0)));
    QVERIFY(gcmFailure.ok());
    auto badTag = openEnvelope(*m_key, gcmFailure.value());

    QVERIFY(!wrongKey.ok());
    QVERIFY(!badTag.ok());
    QCOMPARE(wrongKey.error().reason, Reason::DecryptFailed);
    QCOMPARE(badTag.error().reason, Reason::DecryptFailed);
    QCOMPARE(wrongKey.error().message, badTag.error().message);
    QVERIFY(!wrongKey.error().message.isEmpty());
}

QTEST_GUILESS_MAIN(TestEnvelope)
#include "tst_envelope.moc"
