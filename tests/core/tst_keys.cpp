// Tests of the RSA-2048 and Ed25519 key types: round trips through every
// export form, the interop vectors' fingerprints, and rejection of keys of the
// wrong algorithm, size or exponent.
#include "base64.h"
#include "digest.h"
#include "keys.h"
#include "testdata.h"

#include <QJsonArray>
#include <QTest>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

namespace {

using KeyHandle = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// The keys the rejection rows need are generated here with OpenSSL APIs
// instead of being committed as files.
KeyHandle generateRsa(unsigned int bits, unsigned int exponent)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY *key = nullptr;
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_BITS, &bits),
        OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &exponent),
        OSSL_PARAM_construct_end(),
    };
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_params(ctx, params) == 1)
        EVP_PKEY_generate(ctx, &key);
    EVP_PKEY_CTX_free(ctx);
    return KeyHandle(key, EVP_PKEY_free);
}

KeyHandle generateNamed(const char *type, const char *curve = nullptr)
{
    EVP_PKEY *key = curve ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve)
                          : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    return KeyHandle(key, EVP_PKEY_free);
}

QByteArray spkiDerOf(EVP_PKEY *key)
{
    unsigned char *der = nullptr;
    const int length = i2d_PUBKEY(key, &der);
    QByteArray result(reinterpret_cast<const char *>(der), length);
    OPENSSL_free(der);
    return result;
}

QByteArray spkiPemOf(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    QByteArray result(data, length);
    BIO_free(bio);
    return result;
}

// PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3.
QByteArray pkcs8PemOf(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    QByteArray result(data, length);
    BIO_free(bio);
    return result;
}

QByteArray vectorBytes(const QString &key)
{
    return QByteArray::fromBase64(test::interopVectors().value(key).toString().toLatin1());
}

QByteArray vectorText(const QString &key)
{
    return test::interopVectors().value(key).toString().toLatin1();
}

QByteArray toByteArray(const SecureBuffer &buffer)
{
    return buffer.view().toByteArray();
}

const QByteArray kGarbagePem = "-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n-----END PUBLIC "
                               "KEY-----\n"_ba;

} // namespace

class TestKeys : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void rsaGenerateRoundTrip();
    void rsaPublicKeyHasNoPrivatePart();
    void rsaVectorFingerprint();
    void rsaVectorPrivateKey();
    void rsaPublicRejects_data();
    void rsaPublicRejects();
    void rsaPrivateRejects_data();
    void rsaPrivateRejects();
    void rsaRejectMessageNamesSizes();

    void ed25519GenerateRoundTrip();
    void ed25519SignVerify();
    void ed25519VectorFingerprint();
    void ed25519VectorSignatures_data();
    void ed25519VectorSignatures();
    void ed25519DeterministicSignature();
    void ed25519Rejects_data();
    void ed25519Rejects();

private:
    KeyHandle m_rsa1024 { nullptr, EVP_PKEY_free };
    KeyHandle m_rsa4096 { nullptr, EVP_PKEY_free };
    KeyHandle m_rsaExponent3 { nullptr, EVP_PKEY_free };
    KeyHandle m_ecP256 { nullptr, EVP_PKEY_free };
    KeyHandle m_ed25519 { nullptr, EVP_PKEY_free };
    KeyHandle m_rsa2048 { nullptr, EVP_PKEY_free };
};

void TestKeys::initTestCase()
{
    m_rsa1024 = generateRsa(1024, 65537);
    m_rsa4096 = generateRsa(4096, 65537);
    m_rsaExponent3 = generateRsa(2048, 3);
    m_ecP256 = generateNamed("EC", "P-256");
    m_ed25519 = generateNamed("ED25519");
    m_rsa2048 = generateRsa(2048, 65537);
    QVERIFY(m_rsa1024);
    QVERIFY(m_rsa4096);
    QVERIFY(m_rsaExponent3);
    QVERIFY(m_ecP256);
    QVERIFY(m_ed25519);
    QVERIFY(m_rsa2048);
}

void TestKeys::rsaGenerateRoundTrip()
{
    auto generated = RsaPrivateKey::generate();
    QVERIFY(generated.ok());
    const RsaPrivateKey &key = generated.value();
    const QByteArray spki = key.publicKey().spkiDer();
    QVERIFY(!spki.isEmpty());

    const SecureBuffer pem = key.pkcs8Pem();
    QVERIFY(pem.view().startsWith("-----BEGIN PRIVATE KEY-----"));
    auto fromPem = RsaPrivateKey::fromPkcs8Pem(pem.view());
    QVERIFY(fromPem.ok());
    QCOMPARE(fromPem->publicKey().spkiDer(), spki);

    const SecureBuffer der = key.pkcs8Der();
    QVERIFY(!der.isEmpty());
    auto fromDer = RsaPrivateKey::fromPkcs8Der(der.view());
    QVERIFY(fromDer.ok());
    QCOMPARE(fromDer->publicKey().spkiDer(), spki);
    QCOMPARE(toByteArray(fromDer->pkcs8Der()), toByteArray(der));

    auto publicFromDer = RsaPublicKey::fromSpkiDer(spki);
    QVERIFY(publicFromDer.ok());
    QCOMPARE(publicFromDer->spkiDer(), spki);

    const QByteArray publicPem = key.publicKey().pem();
    QVERIFY(publicPem.startsWith("-----BEGIN PUBLIC KEY-----"));
    auto publicFromPem = RsaPublicKey::fromPem(publicPem);
    QVERIFY(publicFromPem.ok());
    QCOMPARE(publicFromPem->spkiDer(), spki);

    QCOMPARE(key.publicKey().fingerprint(), sha256Hex(spki));
    QCOMPARE(key.publicKey().fingerprint().size(), 64);
    QCOMPARE(EVP_PKEY_get_bits(key.handle()), kRsaKeyBits);
}

void TestKeys::rsaPublicKeyHasNoPrivatePart()
{
    auto key = RsaPrivateKey::fromPkcs8Pem(vectorText(u"rsa_private_key_pkcs8_pem"_s));
    QVERIFY(key.ok());
    const RsaPublicKey publicKey = key->publicKey();

    BIGNUM *privateExponent = nullptr;
    QCOMPARE(EVP_PKEY_get_bn_param(publicKey.handle(), OSSL_PKEY_PARAM_RSA_D, &privateExponent), 0);
    QVERIFY(privateExponent == nullptr);
    ERR_clear_error();
}

void TestKeys::rsaVectorFingerprint()
{
    auto key = RsaPublicKey::fromSpkiDer(vectorBytes(u"rsa_public_key_spki_b64"_s));
    QVERIFY(key.ok());
    QCOMPARE(key->fingerprint(),
             test::interopVectors().value(u"rsa_public_key_fingerprint"_s).toString());
    QCOMPARE(key->spkiDer(), vectorBytes(u"rsa_public_key_spki_b64"_s));
}

void TestKeys::rsaVectorPrivateKey()
{
    auto key = RsaPrivateKey::fromPkcs8Pem(vectorText(u"rsa_private_key_pkcs8_pem"_s));
    QVERIFY(key.ok());
    QCOMPARE(key->publicKey().spkiDer(), vectorBytes(u"rsa_public_key_spki_b64"_s));
    QCOMPARE(key->publicKey().fingerprint(),
             test::interopVectors().value(u"rsa_public_key_fingerprint"_s).toString());
}

void TestKeys::rsaPublicRejects_data()
{
    QTest::addColumn<QByteArray>("der");
    QTest::addColumn<QByteArray>("pem");
    QTest::addColumn<QString>("found");

    QTest::newRow("rsa-1024") << spkiDerOf(m_rsa1024.get()) << spkiPemOf(m_rsa1024.get())
                              << u"1024 bits"_s;
    QTest::newRow("rsa-4096") << spkiDerOf(m_rsa4096.get()) << spkiPemOf(m_rsa4096.get())
                              << u"4096 bits"_s;
    QTest::newRow("exponent-3") << spkiDerOf(m_rsaExponent3.get())
                                << spkiPemOf(m_rsaExponent3.get()) << u"exponent 3"_s;
    QTest::newRow("ec-p256") << spkiDerOf(m_ecP256.get()) << spkiPemOf(m_ecP256.get())
                             << u"EC key"_s;
    QTest::newRow("ed25519") << spkiDerOf(m_ed25519.get()) << spkiPemOf(m_ed25519.get())
                             << u"Ed25519 key"_s;
    QTest::newRow("garbage") << "not a key"_ba << kGarbagePem << u"not"_s;
    QTest::newRow("trailing-byte") << spkiDerOf(m_rsa2048.get()) + '\0'
                                   << "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA "
                                      "PUBLIC KEY-----\n"_ba
                                   << u"after"_s;
    QTest::newRow("empty") << QByteArray() << QByteArray() << u"empty"_s;
}

void TestKeys::rsaPublicRejects()
{
    QFETCH(QByteArray, der);
    QFETCH(QByteArray, pem);
    QFETCH(QString, found);

    auto fromDer = RsaPublicKey::fromSpkiDer(der);
    QVERIFY(!fromDer.ok());
    QCOMPARE(fromDer.error().reason, Reason::InvalidKey);
    QVERIFY2(fromDer.error().message.contains(found), qPrintable(fromDer.error().message));

    auto fromPem = RsaPublicKey::fromPem(pem);
    QVERIFY(!fromPem.ok());
    QCOMPARE(fromPem.error().reason, Reason::InvalidKey);
}

void TestKeys::rsaPrivateRejects_data()
{
    QTest::addColumn<QByteArray>("pem");
    QTest::addColumn<QString>("found");

    QTest::newRow("rsa-1024") << pkcs8PemOf(m_rsa1024.get()) << u"1024 bits"_s;
    QTest::newRow("rsa-4096") << pkcs8PemOf(m_rsa4096.get()) << u"4096 bits"_s;
    QTest::newRow("exponent-3") << pkcs8PemOf(m_rsaExponent3.get()) << u"exponent 3"_s;
    QTest::newRow("ec-p256") << pkcs8PemOf(m_ecP256.get()) << u"EC key"_s;
    QTest::newRow("ed25519") << pkcs8PemOf(m_ed25519.get()) << u"Ed25519 key"_s;
    QTest::newRow("garbage") << kGarbagePem << u"not PEM"_s;
    QTest::newRow("not-pem") << "hello"_ba << u"not PEM"_s;
    QTest::newRow("public-key-pem") << spkiPemOf(m_rsa2048.get()) << u"PUBLIC KEY"_s;
    QTest::newRow("encrypted-pkcs8")
        << "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"_ba
        << u"ENCRYPTED PRIVATE KEY"_s;
}

void TestKeys::rsaPrivateRejects()
{
    QFETCH(QByteArray, pem);
    QFETCH(QString, found);

    auto key = RsaPrivateKey::fromPkcs8Pem(pem);
    QVERIFY(!key.ok());
    QCOMPARE(key.error().reason, Reason::InvalidKey);
    QVERIFY2(key.error().message.contains(found), qPrintable(key.error().message));
}

void TestKeys::rsaRejectMessageNamesSizes()
{
    auto key = RsaPublicKey::fromSpkiDer(spkiDerOf(m_rsa1024.get()));
    QVERIFY(!key.ok());
    QVERIFY2(key.error().message.contains(u"RSA key has 1024 bits; sealrelay needs RSA-2048"_s),
             qPrintable(key.error().message));

    auto ec = RsaPublicKey::fromSpkiDer(spkiDerOf(m_ecP256.get()));
    QVERIFY(!ec.ok());
    QVERIFY2(ec.error().message.contains(u"RSA-2048"_s), qPrintable(ec.error().message));
    QVERIFY2(ec.error().message.contains(u"prime256v1"_s), qPrintable(ec.error().message));
}

void TestKeys::ed25519GenerateRoundTrip()
{
    auto generated = Ed25519PrivateKey::generate();
    QVERIFY(generated.ok());
    const Ed25519PublicKey publicKey = generated->publicKey();
    const QByteArray raw = publicKey.raw();
    QCOMPARE(raw.size(), kEd25519PublicKeyBytes);

    auto fromPem = Ed25519PrivateKey::fromPkcs8Pem(generated->pkcs8Pem().view());
    QVERIFY(fromPem.ok());
    QCOMPARE(fromPem->publicKey().raw(), raw);

    auto fromDer = Ed25519PrivateKey::fromPkcs8Der(generated->pkcs8Der().view());
    QVERIFY(fromDer.ok());
    QCOMPARE(fromDer->publicKey().raw(), raw);

    auto fromRaw = Ed25519PublicKey::fromRaw(raw);
    QVERIFY(fromRaw.ok());
    QVERIFY(fromRaw.value() == publicKey);

    auto fromBase64 = Ed25519PublicKey::fromBase64(publicKey.rawBase64(), u"operator_key");
    QVERIFY(fromBase64.ok());
    QCOMPARE(fromBase64->raw(), raw);

    auto fromSpki = Ed25519PublicKey::fromSpkiDer(publicKey.spkiDer());
    QVERIFY(fromSpki.ok());
    QCOMPARE(fromSpki->raw(), raw);

    auto fromPublicPem = Ed25519PublicKey::fromPem(publicKey.pem());
    QVERIFY(fromPublicPem.ok());
    QCOMPARE(fromPublicPem->raw(), raw);

    QCOMPARE(publicKey.fingerprint(), sha256Hex(publicKey.spkiDer()));
}

void TestKeys::ed25519SignVerify()
{
    auto key = Ed25519PrivateKey::generate();
    QVERIFY(key.ok());
    const QByteArray message = "sealrelay/receipt/v1\0{}"_ba;
    const QByteArray signature = key->sign(message);
    QCOMPARE(signature.size(), kEd25519SignatureBytes);
    QVERIFY(key->publicKey().verify(message, signature));

    QByteArray changedMessage = message;
    changedMessage[0] = 'S';
    QVERIFY(!key->publicKey().verify(changedMessage, signature));

    QByteArray changedSignature = signature;
    changedSignature[10] = char(changedSignature[10] ^ 0x01);
    QVERIFY(!key->publicKey().verify(message, changedSignature));

    QVERIFY(!key->publicKey().verify(message, signature.left(63)));
    QVERIFY(!key->publicKey().verify(message, QByteArray()));

    auto otherKey = Ed25519PrivateKey::generate();
    QVERIFY(otherKey.ok());
    QVERIFY(!otherKey->publicKey().verify(message, signature));
}

void TestKeys::ed25519VectorFingerprint()
{
    const QJsonObject vectors = test::interopVectors();
    auto operatorKey = Ed25519PublicKey::fromBase64(
        vectors.value(u"operator_public_key_b64"_s).toString(), u"operator_public_key_b64");
    QVERIFY(operatorKey.ok());
    QCOMPARE(operatorKey->fingerprint(), vectors.value(u"operator_key_fingerprint"_s).toString());

    auto privateKey =
        Ed25519PrivateKey::fromPkcs8Pem(vectorText(u"operator_private_key_pkcs8_pem"_s));
    QVERIFY(privateKey.ok());
    QCOMPARE(privateKey->publicKey().rawBase64(),
             vectors.value(u"operator_public_key_b64"_s).toString());
}

void TestKeys::ed25519VectorSignatures_data()
{
    QTest::addColumn<QByteArray>("context");
    QTest::addColumn<QByteArray>("statement");
    QTest::addColumn<QByteArray>("signature");
    QTest::addColumn<QString>("signerKey");
    QTest::addColumn<bool>("valid");

    const QJsonObject vectors = test::interopVectors();
    const QJsonArray cases = vectors.value(u"cases"_s).toArray();
    int index = 0;
    for (const QJsonValue &value : cases) {
        const QJsonObject vector = value.toObject();
        ++index;
        if (!vector.contains(u"signature"_s))
            continue;
        // An agent certificate is always signed by the operator, so its
        // negative row names no signer.
        const QString kind = vector.value(u"kind"_s).toString();
        const QString signer = vector.contains(u"signer"_s)
            ? vector.value(u"signer"_s).toString()
            : (kind == u"agent_certificate"_s ? u"operator"_s : QString());
        QString keyName;
        if (signer == u"operator"_s)
            keyName = u"operator_public_key_b64"_s;
        else if (signer == u"agent"_s)
            keyName = u"agent_identity_public_key_b64"_s;
        else if (signer == u"peer"_s)
            keyName = u"peer_identity_public_key_b64"_s;
        else
            continue;
        const QByteArray rowName = QByteArray::number(index) + '-' + kind.toLatin1();
        QTest::newRow(rowName.constData())
            << vector.value(u"context"_s).toString().toLatin1()
            << QByteArray::fromBase64(vector.value(u"statement_b64"_s).toString().toLatin1())
            << QByteArray::fromBase64(vector.value(u"signature"_s).toString().toLatin1())
            << vectors.value(keyName).toString() << vector.value(u"valid"_s).toBool();
    }
}

void TestKeys::ed25519VectorSignatures()
{
    QFETCH(QByteArray, context);
    QFETCH(QByteArray, statement);
    QFETCH(QByteArray, signature);
    QFETCH(QString, signerKey);
    QFETCH(bool, valid);

    auto key = Ed25519PublicKey::fromBase64(signerKey, u"signer key");
    QVERIFY(key.ok());
    const QByteArray message = context + '\0' + statement;
    QCOMPARE(key->verify(message, signature), valid);
}

void TestKeys::ed25519DeterministicSignature()
{
    const QJsonObject vectors = test::interopVectors();
    const QJsonObject certificate = vectors.value(u"cases"_s).toArray().at(0).toObject();
    QCOMPARE(certificate.value(u"signer"_s).toString(), u"operator"_s);
    QVERIFY(certificate.value(u"valid"_s).toBool());

    auto key = Ed25519PrivateKey::fromPkcs8Pem(vectorText(u"operator_private_key_pkcs8_pem"_s));
    QVERIFY(key.ok());
    const QByteArray message = certificate.value(u"context"_s).toString().toLatin1() + '\0'
        + QByteArray::fromBase64(certificate.value(u"statement_b64"_s).toString().toLatin1());
    QCOMPARE(encodeBase64(key->sign(message)), certificate.value(u"signature"_s).toString());
}

void TestKeys::ed25519Rejects_data()
{
    QTest::addColumn<int>("form");
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("found");

    enum Form { SpkiDer = 0, SpkiPem = 1, Pkcs8Pem = 2, Raw = 3 };
    QTest::newRow("rsa-spki-der") << int(SpkiDer) << spkiDerOf(m_rsa2048.get()) << u"RSA key"_s;
    QTest::newRow("rsa-spki-pem") << int(SpkiPem) << spkiPemOf(m_rsa2048.get()) << u"RSA key"_s;
    QTest::newRow("rsa-pkcs8-pem") << int(Pkcs8Pem) << pkcs8PemOf(m_rsa2048.get()) << u"RSA key"_s;
    QTest::newRow("ec-spki-der") << int(SpkiDer) << spkiDerOf(m_ecP256.get()) << u"EC key"_s;
    QTest::newRow("ec-pkcs8-pem") << int(Pkcs8Pem) << pkcs8PemOf(m_ecP256.get()) << u"EC key"_s;
    QTest::newRow("garbage-pem") << int(SpkiPem) << kGarbagePem << u"not"_s;
    QTest::newRow("raw-31-bytes") << int(Raw) << QByteArray(31, 'k') << u"31 bytes"_s;
    QTest::newRow("raw-33-bytes") << int(Raw) << QByteArray(33, 'k') << u"33 bytes"_s;
}

void TestKeys::ed25519Rejects()
{
    QFETCH(int, form);
    QFETCH(QByteArray, input);
    QFETCH(QString, found);

    Error error { Reason::Internal, {} };
    switch (form) {
    case 0: {
        auto key = Ed25519PublicKey::fromSpkiDer(input);
        QVERIFY(!key.ok());
        error = key.error();
        break;
    }
    case 1: {
        auto key = Ed25519PublicKey::fromPem(input);
        QVERIFY(!key.ok());
        error = key.error();
        break;
    }
    case 2: {
        auto key = Ed25519PrivateKey::fromPkcs8Pem(input);
        QVERIFY(!key.ok());
        error = key.error();
        break;
    }
    default: {
        auto key = Ed25519PublicKey::fromRaw(input);
        QVERIFY(!key.ok());
        error = key.error();
        break;
    }
    }
    QCOMPARE(error.reason, Reason::InvalidKey);
    QVERIFY2(error.message.contains(found), qPrintable(error.message));
}

QTEST_GUILESS_MAIN(TestKeys)
#include "tst_keys.moc"
