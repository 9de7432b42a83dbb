// The protocol's key types on top of OpenSSL 3 EVP_PKEY: RSA-2048 encryption
// keys and Ed25519 identity and operator keys. Parsed keys are kept and
// reused, because parsing costs more than the operation itself.
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QByteArray>
#include <QString>

#include <memory>

typedef struct evp_pkey_st EVP_PKEY;

namespace sealrelay {

inline constexpr int kRsaKeyBits = 2048;
inline constexpr qsizetype kEd25519PublicKeyBytes = 32;
inline constexpr qsizetype kEd25519SignatureBytes = 64;

using EvpPkeyHandle = std::shared_ptr<EVP_PKEY>;

class RsaPublicKey {
public:
    // SubjectPublicKeyInfo, DER or PEM. A key that is not RSA, or not 2048
    // bits, or has an exponent other than 65537, is Reason::InvalidKey.
    static Result<RsaPublicKey> fromSpkiDer(QByteArrayView der);
    static Result<RsaPublicKey> fromPem(QByteArrayView pem);

    QByteArray spkiDer() const;
    QByteArray pem() const;
    // SHA-256 over the DER SubjectPublicKeyInfo, 64 lowercase hex digits.
    QString fingerprint() const;
    EVP_PKEY *handle() const { return m_key.get(); }

private:
    explicit RsaPublicKey(EvpPkeyHandle key) : m_key(std::move(key)) {}
    EvpPkeyHandle m_key;
    friend class RsaPrivateKey;
};

class RsaPrivateKey {
public:
    static Result<RsaPrivateKey> generate();
    // PKCS#8 PEM ("BEGIN PRIVATE KEY"), unencrypted; same checks as the public key.
    static Result<RsaPrivateKey> fromPkcs8Pem(QByteArrayView pem);
    static Result<RsaPrivateKey> fromPkcs8Der(QByteArrayView der);

    // Both exports are empty when OpenSSL cannot encode the key.
    SecureBuffer pkcs8Der() const;
    SecureBuffer pkcs8Pem() const;
    RsaPublicKey publicKey() const;
    EVP_PKEY *handle() const { return m_key.get(); }

private:
    explicit RsaPrivateKey(EvpPkeyHandle key) : m_key(std::move(key)) {}
    EvpPkeyHandle m_key;
};

class Ed25519PublicKey {
public:
    // The raw 32-byte form used inside statements.
    static Result<Ed25519PublicKey> fromRaw(QByteArrayView raw);
    static Result<Ed25519PublicKey> fromSpkiDer(QByteArrayView der);
    static Result<Ed25519PublicKey> fromPem(QByteArrayView pem);
    // A base64 raw key as written in trusted-operators files and statements.
    static Result<Ed25519PublicKey> fromBase64(QStringView text, QStringView field);

    QByteArray raw() const;
    QString rawBase64() const;
    QByteArray spkiDer() const;
    QByteArray pem() const;
    QString fingerprint() const;

    bool verify(QByteArrayView message, QByteArrayView signature) const;

    bool operator==(const Ed25519PublicKey &other) const { return raw() == other.raw(); }

private:
    explicit Ed25519PublicKey(EvpPkeyHandle key) : m_key(std::move(key)) {}
    EvpPkeyHandle m_key;
    friend class Ed25519PrivateKey;
};

class Ed25519PrivateKey {
public:
    static Result<Ed25519PrivateKey> generate();
    static Result<Ed25519PrivateKey> fromPkcs8Pem(QByteArrayView pem);
    static Result<Ed25519PrivateKey> fromPkcs8Der(QByteArrayView der);

    SecureBuffer pkcs8Der() const;
    SecureBuffer pkcs8Pem() const;
    Ed25519PublicKey publicKey() const;

    // Ed25519 signature (64 bytes) over `message`; empty if OpenSSL fails.
    QByteArray sign(QByteArrayView message) const;

private:
    explicit Ed25519PrivateKey(EvpPkeyHandle key) : m_key(std::move(key)) {}
    EvpPkeyHandle m_key;
};

} // namespace sealrelay
