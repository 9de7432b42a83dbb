#include "keyfile.h"

#include "commandline.h"

namespace sealrelay::ctl {

namespace {

constexpr qsizetype kMaxKeyFileBytes = 64 * 1024;

bool isPrivateKeyPem(QByteArrayView pem)
{
    return pem.contains("-----BEGIN PRIVATE KEY-----");
}

bool isPublicKeyPem(QByteArrayView pem)
{
    return pem.contains("-----BEGIN PUBLIC KEY-----");
}

Error inFile(const QString &path, const Error &error)
{
    return makeError(error.reason, QStringLiteral("%1: %2").arg(path, error.message));
}

Error unrecognisedPem(const QString &path)
{
    return makeError(Reason::InvalidKey,
                     QStringLiteral("%1 holds no PEM key sealrelay reads; expected a "
                                    "\"BEGIN PUBLIC KEY\" (SubjectPublicKeyInfo) or an "
                                    "unencrypted \"BEGIN PRIVATE KEY\" (PKCS#8) block")
                         .arg(path));
}

} // namespace

Result<RsaPublicKey> loadRsaPublicKeyFile(const QString &path)
{
    auto pem = readFile(path, kMaxKeyFileBytes);
    if (!pem)
        return pem.error();

    if (isPublicKeyPem(pem.value())) {
        auto key = RsaPublicKey::fromPem(pem.value());
        if (!key)
            return inFile(path, key.error());
        return key;
    }
    if (isPrivateKeyPem(pem.value())) {
        auto key = RsaPrivateKey::fromPkcs8Pem(pem.value());
        if (!key)
            return inFile(path, key.error());
        return key->publicKey();
    }
    return unrecognisedPem(path);
}

Result<RsaPrivateKey> loadRsaPrivateKeyFile(const QString &path)
{
    auto pem = readFile(path, kMaxKeyFileBytes);
    if (!pem)
        return pem.error();
    if (!isPrivateKeyPem(pem.value()))
        return makeError(Reason::InvalidKey,
                         QStringLiteral("%1 holds no unencrypted PKCS#8 private key "
                                        "(\"BEGIN PRIVATE KEY\" block)")
                             .arg(path));

    auto key = RsaPrivateKey::fromPkcs8Pem(pem.value());
    if (!key)
        return inFile(path, key.error());
    return key;
}

Result<KeyFileFingerprint> fingerprintKeyFile(const QString &path)
{
    auto pem = readFile(path, kMaxKeyFileBytes);
    if (!pem)
        return pem.error();

    // RSA is tried first; its error is kept because a wrong-size RSA key is
    // the likelier mistake than an unusual algorithm.
    if (isPublicKeyPem(pem.value())) {
        auto rsa = RsaPublicKey::fromPem(pem.value());
        if (rsa)
            return KeyFileFingerprint{QStringLiteral("RSA-2048"), false, rsa->fingerprint()};
        auto ed25519 = Ed25519PublicKey::fromPem(pem.value());
        if (ed25519)
            return KeyFileFingerprint{QStringLiteral("Ed25519"), false, ed25519->fingerprint()};
        return inFile(path, rsa.error());
    }
    if (isPrivateKeyPem(pem.value())) {
        auto rsa = RsaPrivateKey::fromPkcs8Pem(pem.value());
        if (rsa)
            return KeyFileFingerprint{QStringLiteral("RSA-2048"), true,
                                      rsa->publicKey().fingerprint()};
        auto ed25519 = Ed25519PrivateKey::fromPkcs8Pem(pem.value());
        if (ed25519)
            return KeyFileFingerprint{QStringLiteral("Ed25519"), true,
                                      ed25519->publicKey().fingerprint()};
        return inFile(path, rsa.error());
    }
    return unrecognisedPem(path);
}

} // namespace sealrelay::ctl
