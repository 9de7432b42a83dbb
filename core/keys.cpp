// RSA-2048 and Ed25519 keys on OpenSSL 3 EVP_PKEY: generation, import with the
// protocol's algorithm and size checks, export, and Ed25519 signatures.
#include "keys.h"

#include "base64.h"
#include "digest.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <limits>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

constexpr unsigned long kRsaPublicExponent = 65537;

struct BioDeleter {
    void operator()(BIO *bio) const { BIO_free(bio); }
};
using BioHandle = std::unique_ptr<BIO, BioDeleter>;

struct EvpPkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX *ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using EvpPkeyCtxHandle = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxDeleter>;

struct EvpMdCtxDeleter {
    void operator()(EVP_MD_CTX *ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpMdCtxHandle = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

struct Pkcs8Deleter {
    // PKCS8_PRIV_KEY_INFO_free wipes the private key octets before freeing them.
    void operator()(PKCS8_PRIV_KEY_INFO *info) const { PKCS8_PRIV_KEY_INFO_free(info); }
};
using Pkcs8Handle = std::unique_ptr<PKCS8_PRIV_KEY_INFO, Pkcs8Deleter>;

struct EncoderCtxDeleter {
    void operator()(OSSL_ENCODER_CTX *ctx) const { OSSL_ENCODER_CTX_free(ctx); }
};
using EncoderCtxHandle = std::unique_ptr<OSSL_ENCODER_CTX, EncoderCtxDeleter>;

EvpPkeyHandle wrapKey(EVP_PKEY *key)
{
    return EvpPkeyHandle(key, EVP_PKEY_free);
}

// Returns the reason text of the most recent OpenSSL error and empties the
// thread's error queue, so a later call does not see stale errors.
QString takeOpenSslError()
{
    unsigned long code = 0;
    unsigned long last = 0;
    while ((code = ERR_get_error()) != 0)
        last = code;
    if (last == 0)
        return u"no OpenSSL error recorded"_s;
    const char *reason = ERR_reason_error_string(last);
    return reason ? QString::fromLatin1(reason) : u"OpenSSL error %1"_s.arg(last, 0, 16);
}

Error invalidKey(QString message)
{
    ERR_clear_error();
    return makeError(Reason::InvalidKey, std::move(message));
}

// Names the algorithm of `key` for messages, e.g. "an EC key (prime256v1)".
QString describeKeyType(EVP_PKEY *key)
{
    if (EVP_PKEY_is_a(key, "RSA"))
        return u"an RSA key"_s;
    if (EVP_PKEY_is_a(key, "RSA-PSS"))
        return u"an RSA-PSS key"_s;
    if (EVP_PKEY_is_a(key, "ED25519"))
        return u"an Ed25519 key"_s;
    if (EVP_PKEY_is_a(key, "ED448"))
        return u"an Ed448 key"_s;
    if (EVP_PKEY_is_a(key, "X25519"))
        return u"an X25519 key"_s;
    if (EVP_PKEY_is_a(key, "EC")) {
        char curve[80] = {};
        size_t curveLength = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve,
                                           &curveLength)
            == 1) {
            return u"an EC key (%1)"_s.arg(QString::fromLatin1(curve, qsizetype(curveLength)));
        }
        ERR_clear_error();
        return u"an EC key"_s;
    }
    const char *name = EVP_PKEY_get0_type_name(key);
    return name ? u"a %1 key"_s.arg(QString::fromLatin1(name)) : u"a key of unknown type"_s;
}

// Accepts only plain RSA keys of 2048 bits with public exponent 65537.
Result<void> checkRsaKey(EVP_PKEY *key)
{
    if (!EVP_PKEY_is_a(key, "RSA")) {
        return invalidKey(u"found %1 where an RSA-2048 key is expected; sealrelay encryption keys "
                          "are RSA-2048 with public exponent 65537"_s.arg(describeKeyType(key)));
    }

    const int bits = EVP_PKEY_get_bits(key);
    if (bits != kRsaKeyBits) {
        return invalidKey(
            u"RSA key has %1 bits; sealrelay needs RSA-2048 (generate a new 2048-bit key)"_s.arg(
                bits));
    }

    BIGNUM *exponent = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exponent) != 1 || !exponent) {
        return invalidKey(u"RSA key has no readable public exponent (%1); sealrelay needs an "
                          "RSA-2048 key with exponent 65537"_s.arg(takeOpenSslError()));
    }
    const bool exponentOk = BN_is_word(exponent, kRsaPublicExponent);
    QString exponentText;
    if (!exponentOk) {
        char *decimal = BN_bn2dec(exponent);
        exponentText = decimal ? QString::fromLatin1(decimal) : u"(unprintable)"_s;
        OPENSSL_free(decimal);
    }
    BN_free(exponent);
    if (!exponentOk) {
        return invalidKey(
            u"RSA key has public exponent %1; sealrelay needs exponent 65537"_s.arg(exponentText));
    }
    return {};
}

Result<void> checkEd25519Key(EVP_PKEY *key)
{
    if (!EVP_PKEY_is_a(key, "ED25519")) {
        return invalidKey(u"found %1 where an Ed25519 key is expected"_s.arg(describeKeyType(key)));
    }
    return {};
}

// Parses a DER SubjectPublicKeyInfo. The whole input must be one structure,
// and re-encoding it must give the same bytes, because fingerprints are
// computed over the re-encoded form.
Result<EvpPkeyHandle> parseSpkiDer(QByteArrayView der, QLatin1StringView expected)
{
    if (der.isEmpty())
        return invalidKey(
            u"empty public key; expected %1 as DER SubjectPublicKeyInfo"_s.arg(expected));
    if (der.size() > std::numeric_limits<long>::max())
        return invalidKey(u"public key of %1 bytes is too large"_s.arg(der.size()));

    const auto *cursor = reinterpret_cast<const unsigned char *>(der.data());
    const auto *end = cursor + der.size();
    EvpPkeyHandle key =
        wrapKey(d2i_PUBKEY_ex(nullptr, &cursor, long(der.size()), nullptr, nullptr));
    if (!key) {
        return invalidKey(u"public key is not a DER SubjectPublicKeyInfo (%1); expected %2"_s.arg(
            takeOpenSslError(), expected));
    }
    if (cursor != end) {
        return invalidKey(u"public key has %1 bytes after its DER SubjectPublicKeyInfo; expected "
                          "exactly one structure"_s.arg(end - cursor));
    }

    unsigned char *encoded = nullptr;
    const int encodedLength = i2d_PUBKEY(key.get(), &encoded);
    const bool same = encodedLength == der.size()
        && QByteArrayView(reinterpret_cast<const char *>(encoded), encodedLength) == der;
    OPENSSL_free(encoded);
    if (!same) {
        return invalidKey(u"public key is not in canonical DER form; re-export it as DER "
                          "SubjectPublicKeyInfo"_s);
    }
    return key;
}

// Decodes one PEM block of the given label ("PUBLIC KEY" or "PRIVATE KEY")
// into a SecureBuffer holding its DER bytes. Encrypted PEM blocks are rejected.
Result<SecureBuffer> readPemBlock(QByteArrayView pem, const char *label)
{
    if (pem.isEmpty() || pem.size() > std::numeric_limits<int>::max())
        return invalidKey(u"empty or oversized PEM input; expected a \"%1\" block"_s.arg(
            QLatin1StringView(label)));

    BioHandle bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    if (!bio)
        return invalidKey(u"cannot read PEM input: %1"_s.arg(takeOpenSslError()));

    char *name = nullptr;
    char *header = nullptr;
    unsigned char *data = nullptr;
    long length = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) {
        return invalidKey(u"input is not PEM; expected a \"-----BEGIN %1-----\" block"_s.arg(
            QLatin1StringView(label)));
    }

    const QLatin1StringView foundName(name);
    const bool nameOk = foundName == QLatin1StringView(label);
    const bool hasHeader = header && header[0] != '\0';
    SecureBuffer der;
    if (nameOk && !hasHeader)
        der = SecureBuffer(QByteArrayView(reinterpret_cast<const char *>(data), length));
    const QString foundText = QString(foundName);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, size_t(length));
    ERR_clear_error();

    if (!nameOk) {
        return invalidKey(u"PEM block is \"%1\"; expected \"%2\" (unencrypted PKCS#8 for private "
                          "keys, SubjectPublicKeyInfo for public keys)"_s.arg(
                              foundText, QLatin1StringView(label)));
    }
    if (hasHeader)
        return invalidKey(
            u"PEM block has encryption headers; expected an unencrypted \"%1\" block"_s.arg(
                QLatin1StringView(label)));
    return der;
}

// Parses an unencrypted PKCS#8 PrivateKeyInfo in DER form.
Result<EvpPkeyHandle> parsePkcs8Der(QByteArrayView der, QLatin1StringView expected)
{
    if (der.isEmpty())
        return invalidKey(u"empty private key; expected %1 as PKCS#8 DER"_s.arg(expected));
    if (der.size() > std::numeric_limits<long>::max())
        return invalidKey(u"private key of %1 bytes is too large"_s.arg(der.size()));

    const auto *cursor = reinterpret_cast<const unsigned char *>(der.data());
    const auto *end = cursor + der.size();
    Pkcs8Handle info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &cursor, long(der.size())));
    if (!info) {
        return invalidKey(u"private key is not an unencrypted PKCS#8 PrivateKeyInfo (%1); expected "
                          "%2"_s.arg(takeOpenSslError(), expected));
    }
    if (cursor != end) {
        return invalidKey(u"private key has %1 bytes after its PKCS#8 structure; expected exactly "
                          "one structure"_s.arg(end - cursor));
    }

    EvpPkeyHandle key = wrapKey(EVP_PKCS82PKEY_ex(info.get(), nullptr, nullptr));
    if (!key) {
        return invalidKey(u"PKCS#8 private key cannot be loaded (%1); expected %2"_s.arg(
            takeOpenSslError(), expected));
    }
    return key;
}

// Writes the key as PKCS#8 PrivateKeyInfo ("DER" or "PEM") through a secure
// memory BIO, whose buffer OpenSSL wipes when the BIO is freed.
SecureBuffer encodePrivateKey(EVP_PKEY *key, const char *outputType)
{
    BioHandle bio(BIO_new(BIO_s_secmem()));
    EncoderCtxHandle encoder(OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_KEYPAIR, outputType,
                                                           "PrivateKeyInfo", nullptr));
    if (!bio || !encoder || OSSL_ENCODER_to_bio(encoder.get(), bio.get()) != 1) {
        ERR_clear_error();
        return {};
    }

    char *data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    if (length <= 0 || !data)
        return {};
    return SecureBuffer(QByteArrayView(data, length));
}

QByteArray encodeSpkiDer(EVP_PKEY *key)
{
    unsigned char *der = nullptr;
    const int length = i2d_PUBKEY(key, &der);
    if (length <= 0) {
        ERR_clear_error();
        return {};
    }
    QByteArray result(reinterpret_cast<const char *>(der), length);
    OPENSSL_free(der);
    return result;
}

QByteArray encodeSpkiPem(EVP_PKEY *key)
{
    BioHandle bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
        ERR_clear_error();
        return {};
    }
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 && data ? QByteArray(data, length) : QByteArray();
}

// Returns a public-only copy of a private key, so a public key object never
// carries the private half.
EvpPkeyHandle publicOnlyCopy(EVP_PKEY *key)
{
    unsigned char *der = nullptr;
    const int length = i2d_PUBKEY(key, &der);
    EVP_PKEY *copy = nullptr;
    if (length > 0) {
        const unsigned char *cursor = der;
        copy = d2i_PUBKEY_ex(nullptr, &cursor, length, nullptr, nullptr);
    }
    OPENSSL_free(der);
    if (!copy)
        ERR_clear_error();
    return wrapKey(copy);
}

} // namespace

// RsaPublicKey

Result<RsaPublicKey> RsaPublicKey::fromSpkiDer(QByteArrayView der)
{
    auto key = parseSpkiDer(der, "an RSA-2048 public key"_L1);
    if (!key)
        return key.error();
    if (auto checked = checkRsaKey(key->get()); !checked)
        return checked.error();
    return RsaPublicKey(std::move(key).value());
}

Result<RsaPublicKey> RsaPublicKey::fromPem(QByteArrayView pem)
{
    auto der = readPemBlock(pem, "PUBLIC KEY");
    if (!der)
        return der.error();
    return fromSpkiDer(der->view());
}

QByteArray RsaPublicKey::spkiDer() const
{
    return encodeSpkiDer(m_key.get());
}

QByteArray RsaPublicKey::pem() const
{
    return encodeSpkiPem(m_key.get());
}

QString RsaPublicKey::fingerprint() const
{
    return sha256Hex(spkiDer());
}

// RsaPrivateKey

Result<RsaPrivateKey> RsaPrivateKey::generate()
{
    EvpPkeyCtxHandle ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) {
        return makeError(Reason::Internal,
                         u"cannot start RSA key generation: %1"_s.arg(takeOpenSslError()));
    }

    unsigned int bits = kRsaKeyBits;
    unsigned int exponent = kRsaPublicExponent;
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_BITS, &bits),
        OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &exponent),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *generated = nullptr;
    if (EVP_PKEY_CTX_set_params(ctx.get(), params) != 1
        || EVP_PKEY_generate(ctx.get(), &generated) != 1) {
        return makeError(Reason::Internal,
                         u"RSA-2048 key generation failed: %1"_s.arg(takeOpenSslError()));
    }
    return RsaPrivateKey(wrapKey(generated));
}

Result<RsaPrivateKey> RsaPrivateKey::fromPkcs8Pem(QByteArrayView pem)
{
    auto der = readPemBlock(pem, "PRIVATE KEY");
    if (!der)
        return der.error();
    return fromPkcs8Der(der->view());
}

Result<RsaPrivateKey> RsaPrivateKey::fromPkcs8Der(QByteArrayView der)
{
    auto key = parsePkcs8Der(der, "an RSA-2048 private key"_L1);
    if (!key)
        return key.error();
    if (auto checked = checkRsaKey(key->get()); !checked)
        return checked.error();
    return RsaPrivateKey(std::move(key).value());
}

SecureBuffer RsaPrivateKey::pkcs8Der() const
{
    return encodePrivateKey(m_key.get(), "DER");
}

SecureBuffer RsaPrivateKey::pkcs8Pem() const
{
    return encodePrivateKey(m_key.get(), "PEM");
}

RsaPublicKey RsaPrivateKey::publicKey() const
{
    return RsaPublicKey(publicOnlyCopy(m_key.get()));
}

// Ed25519PublicKey

Result<Ed25519PublicKey> Ed25519PublicKey::fromRaw(QByteArrayView raw)
{
    if (raw.size() != kEd25519PublicKeyBytes) {
        return invalidKey(
            u"Ed25519 public key has %1 bytes; expected %2 raw bytes"_s.arg(raw.size())
                .arg(kEd25519PublicKeyBytes));
    }
    EvpPkeyHandle key = wrapKey(EVP_PKEY_new_raw_public_key_ex(
        nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char *>(raw.data()),
        size_t(raw.size())));
    if (!key) {
        return invalidKey(u"cannot load the raw Ed25519 public key: %1"_s.arg(takeOpenSslError()));
    }
    return Ed25519PublicKey(std::move(key));
}

Result<Ed25519PublicKey> Ed25519PublicKey::fromSpkiDer(QByteArrayView der)
{
    auto key = parseSpkiDer(der, "an Ed25519 public key"_L1);
    if (!key)
        return key.error();
    if (auto checked = checkEd25519Key(key->get()); !checked)
        return checked.error();
    return Ed25519PublicKey(std::move(key).value());
}

Result<Ed25519PublicKey> Ed25519PublicKey::fromPem(QByteArrayView pem)
{
    auto der = readPemBlock(pem, "PUBLIC KEY");
    if (!der)
        return der.error();
    return fromSpkiDer(der->view());
}

Result<Ed25519PublicKey> Ed25519PublicKey::fromBase64(QStringView text, QStringView field)
{
    auto raw = decodeBase64(text, field);
    if (!raw)
        return raw.error();
    if (raw->size() != kEd25519PublicKeyBytes) {
        return invalidKey(u"%1 decodes to %2 bytes; an Ed25519 public key is %3 raw bytes in "
                          "base64"_s.arg(field)
                              .arg(raw->size())
                              .arg(kEd25519PublicKeyBytes));
    }
    return fromRaw(raw.value());
}

QByteArray Ed25519PublicKey::raw() const
{
    QByteArray raw(kEd25519PublicKeyBytes, Qt::Uninitialized);
    size_t length = size_t(raw.size());
    if (EVP_PKEY_get_raw_public_key(m_key.get(), reinterpret_cast<unsigned char *>(raw.data()),
                                    &length)
            != 1
        || length != size_t(kEd25519PublicKeyBytes)) {
        ERR_clear_error();
        return {};
    }
    return raw;
}

QString Ed25519PublicKey::rawBase64() const
{
    return encodeBase64(raw());
}

QByteArray Ed25519PublicKey::spkiDer() const
{
    return encodeSpkiDer(m_key.get());
}

QByteArray Ed25519PublicKey::pem() const
{
    return encodeSpkiPem(m_key.get());
}

QString Ed25519PublicKey::fingerprint() const
{
    return sha256Hex(spkiDer());
}

bool Ed25519PublicKey::verify(QByteArrayView message, QByteArrayView signature) const
{
    if (signature.size() != kEd25519SignatureBytes)
        return false;

    EvpMdCtxHandle ctx(EVP_MD_CTX_new());
    const bool verified = ctx
        && EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, m_key.get(),
                                   nullptr)
            == 1
        && EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(signature.data()),
                            size_t(signature.size()),
                            reinterpret_cast<const unsigned char *>(message.data()),
                            size_t(message.size()))
            == 1;
    ERR_clear_error();
    return verified;
}

// Ed25519PrivateKey

Result<Ed25519PrivateKey> Ed25519PrivateKey::generate()
{
    EVP_PKEY *generated = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!generated) {
        return makeError(Reason::Internal,
                         u"Ed25519 key generation failed: %1"_s.arg(takeOpenSslError()));
    }
    return Ed25519PrivateKey(wrapKey(generated));
}

Result<Ed25519PrivateKey> Ed25519PrivateKey::fromPkcs8Pem(QByteArrayView pem)
{
    auto der = readPemBlock(pem, "PRIVATE KEY");
    if (!der)
        return der.error();
    return fromPkcs8Der(der->view());
}

Result<Ed25519PrivateKey> Ed25519PrivateKey::fromPkcs8Der(QByteArrayView der)
{
    auto key = parsePkcs8Der(der, "an Ed25519 private key"_L1);
    if (!key)
        return key.error();
    if (auto checked = checkEd25519Key(key->get()); !checked)
        return checked.error();
    return Ed25519PrivateKey(std::move(key).value());
}

SecureBuffer Ed25519PrivateKey::pkcs8Der() const
{
    return encodePrivateKey(m_key.get(), "DER");
}

SecureBuffer Ed25519PrivateKey::pkcs8Pem() const
{
    return encodePrivateKey(m_key.get(), "PEM");
}

Ed25519PublicKey Ed25519PrivateKey::publicKey() const
{
    return Ed25519PublicKey(publicOnlyCopy(m_key.get()));
}

QByteArray Ed25519PrivateKey::sign(QByteArrayView message) const
{
    EvpMdCtxHandle ctx(EVP_MD_CTX_new());
    QByteArray signature(kEd25519SignatureBytes, Qt::Uninitialized);
    size_t length = size_t(signature.size());
    if (!ctx
        || EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, m_key.get(),
                                 nullptr)
            != 1
        || EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(signature.data()), &length,
                          reinterpret_cast<const unsigned char *>(message.data()),
                          size_t(message.size()))
            != 1
        || length != size_t(kEd25519SignatureBytes)) {
        ERR_clear_error();
        return {};
    }
    return signature;
}

} // namespace sealrelay
