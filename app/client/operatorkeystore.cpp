// The keychain entry contains the PKCS#8 DER of the key, which the Secret
// Service encrypts at rest. The key file contains it sealed under a passphrase.
#include "operatorkeystore.h"

#include "digest.h"
#include "keychainstore.h"

#include <QFile>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

// How an operator without a usable keychain keeps the signing key.
const QString kKeychainAlternative =
    QStringLiteral("use a passphrase-protected key file instead");

} // namespace

QString operatorFingerprint(const Ed25519PublicKey &key)
{
    return key.fingerprint();
}

QString displayOperatorFingerprint(const Ed25519PublicKey &key)
{
    return formatFingerprintForDisplay(key.fingerprint());
}

QString trustedOperatorsLine(const Ed25519PublicKey &key)
{
    return key.rawBase64();
}

OperatorKey::OperatorKey(Ed25519PrivateKey key, QString location)
    : m_key(std::move(key))
    , m_location(std::move(location))
{
}

OperatorKeyStore::OperatorKeyStore(Backend backend, QString name, std::chrono::milliseconds timeout)
    : m_backend(backend)
    , m_name(std::move(name))
    , m_timeout(timeout)
{
}

OperatorKeyStore OperatorKeyStore::keychain(const QString &profile,
                                            std::chrono::milliseconds timeout)
{
    return OperatorKeyStore(Backend::Keychain, u"operator-key:"_s + profile, timeout);
}

OperatorKeyStore OperatorKeyStore::keyFile(const QString &path, QByteArrayView passphrase,
                                           const ScryptParameters &parameters)
{
    OperatorKeyStore store(Backend::KeyFile, path, std::chrono::milliseconds(0));
    store.m_passphrase = std::make_shared<const SecureBuffer>(passphrase);
    store.m_parameters = parameters;
    return store;
}

QString OperatorKeyStore::location() const
{
    if (m_backend == Backend::Keychain)
        return u"OS keychain entry %1 (service \"%2\")"_s.arg(m_name, kKeychainService);
    return u"key file "_s + m_name;
}

Result<OperatorKey> OperatorKeyStore::load() const
{
    if (m_backend == Backend::KeyFile) {
        Result<Ed25519PrivateKey> key = readOperatorKeyFile(m_name, m_passphrase->view());
        if (!key)
            return key.error();
        return OperatorKey(std::move(key).value(), location());
    }

    const KeychainStore keychain(QString(kKeychainService), kKeychainAlternative,
                                 m_timeout);
    Result<std::optional<SecureBuffer>> stored = keychain.read(m_name);
    if (!stored)
        return stored.error();
    if (!stored->has_value())
        return makeError(Reason::NotFound,
                         u"no operator key is stored in the %1"_s.arg(location()));
    Result<Ed25519PrivateKey> key = Ed25519PrivateKey::fromPkcs8Der(stored->value().view());
    if (!key) {
        return makeError(Reason::InvalidKey,
                         u"the %1 holds no Ed25519 PKCS#8 key; remove the entry to create a new "
                         u"key"_s.arg(location()));
    }
    return OperatorKey(std::move(key).value(), location());
}

Result<OperatorKey> OperatorKeyStore::loadOrCreate() const
{
    Result<OperatorKey> existing = load();
    if (existing || existing.error().reason != Reason::NotFound)
        return existing;

    Result<Ed25519PrivateKey> generated = Ed25519PrivateKey::generate();
    if (!generated)
        return generated.error();

    if (m_backend == Backend::KeyFile) {
        Result<void> written = writeOperatorKeyFile(m_name, generated.value(), m_passphrase->view(),
                                                    WriteMode::CreateNew, m_parameters);
        if (!written)
            return written.error();
        return OperatorKey(std::move(generated).value(), location());
    }

    SecureBuffer pkcs8 = generated->pkcs8Der();
    if (pkcs8.isEmpty())
        return makeError(Reason::InvalidKey, u"OpenSSL could not encode the new operator key"_s);
    const KeychainStore keychain(QString(kKeychainService), kKeychainAlternative,
                                 m_timeout);
    if (Result<void> written = keychain.write(m_name, pkcs8.view()); !written)
        return written.error();
    return OperatorKey(std::move(generated).value(), location());
}

Result<void> OperatorKeyStore::remove() const
{
    if (m_backend == Backend::Keychain)
        return KeychainStore(QString(kKeychainService), kKeychainAlternative, m_timeout)
            .remove(m_name);
    if (QFile::exists(m_name) && !QFile::remove(m_name))
        return makeError(Reason::IoError,
                         u"could not remove the operator key file %1"_s.arg(m_name));
    return {};
}

} // namespace sealrelay::client
