#include "keyfile.h"

#include "commandline.h"

#include <optional>

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

// Names the PEM blocks sealrelay does not read, with the command that
// converts each; std::nullopt when none of them is present.
std::optional<Error> unsupportedPemBlock(const QString &path, QByteArrayView pem)
{
    if (pem.contains("-----BEGIN RSA PRIVATE KEY-----"))
        return makeError(Reason::InvalidKey,
                         QStringLiteral("%1 holds a PKCS#1 RSA key (\"BEGIN RSA PRIVATE KEY\"); "
                                        "convert it to PKCS#8 with: openssl pkcs8 -topk8 -nocrypt "
                                        "-in %1 -out %1.pk8")
                             .arg(path));
    if (pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        return makeError(Reason::InvalidKey,
                         QStringLiteral("%1 holds a passphrase-encrypted key; write an "
                                        "unencrypted copy with: openssl pkcs8 -in %1 -out %1.plain")
                             .arg(path));
    if (pem.contains("-----BEGIN CERTIFICATE-----"))
        return makeError(Reason::InvalidKey,
                         QStringLiteral("%1 holds an X.509 certificate; extract its key with: "
                                        "openssl x509 -in %1 -pubkey -noout")
                             .arg(path));
    return std::nullopt;
}

Error unrecognisedPem(const QString &path)
{
    return makeError(Reason::InvalidKey,
                     QStringLiteral("%1 holds no PEM key sealrelay reads; expected a "
                                    "\"BEGIN PUBLIC KEY\" (SubjectPublicKeyInfo) or an "
                                    "unencrypted \"BEGIN PRIVATE KEY\" (PKCS#8) block")
                         .arg(path));
}

Error notRsaOrEd25519(const QString &path, const Error &rsaError)
{
    return makeError(Reason::InvalidKey,
                     QStringLiteral("%1 holds no RSA-2048 or Ed25519 key: %2")
                         .arg(path, rsaError.message));
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
    if (auto unsupported = unsupportedPemBlock(path, pem.value()))
        return *unsupported;
    return unrecognisedPem(path);
}

Result<RsaPrivateKey> loadRsaPrivateKeyFile(const QString &path)
{
    auto pem = readFile(path, kMaxKeyFileBytes);
    if (!pem)
        return pem.error();
    if (auto unsupported = unsupportedPemBlock(path, pem.value()))
        return *unsupported;
    if (isPublicKeyPem(pem.value()))
        return makeError(Reason::InvalidKey,
                         QStringLiteral("%1 holds a public key; this option needs the private "
                                        "key (\"BEGIN PRIVATE KEY\")")
                             .arg(path));
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

    // RSA is tried first. Its error is kept because a wrong-size RSA key is a
    // likelier mistake than an unusual algorithm.
    if (isPublicKeyPem(pem.value())) {
        auto rsa = RsaPublicKey::fromPem(pem.value());
        if (rsa)
            return KeyFileFingerprint{QStringLiteral("RSA-2048"), false, rsa->fingerprint()};
        auto ed25519 = Ed25519PublicKey::fromPem(pem.value());
        if (ed25519)
            return KeyFileFingerprint{QStringLiteral("Ed25519"), false, ed25519->fingerprint()};
        return notRsaOrEd25519(path, rsa.error());
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
        return notRsaOrEd25519(path, rsa.error());
    }
    if (auto unsupported = unsupportedPemBlock(path, pem.value()))
        return *unsupported;
    return unrecognisedPem(path);
}

} // namespace sealrelay::ctl
