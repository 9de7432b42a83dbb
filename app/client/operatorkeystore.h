// The operator's Ed25519 signing key, generated on first use. It is kept in
// the OS keychain (service "sealrelay", key "operator-key:<profile>") or in a
// passphrase-encrypted key file (operatorkeyfile.h), never in plaintext.
#pragma once

#include "error.h"
#include "keys.h"
#include "operatorkeyfile.h"
#include "securebuffer.h"

#include <QString>

#include <chrono>
#include <memory>

namespace sealrelay::client {

inline constexpr auto kKeychainService = QLatin1StringView("sealrelay");

// The operator fingerprint shown to people: SHA-256 over the DER
// SubjectPublicKeyInfo of the Ed25519 public key, as for every key of the
// protocol, in 64 lowercase hex digits.
QString operatorFingerprint(const Ed25519PublicKey &key);

// The same, in groups of four for display: "9f2c 1a0b ...".
QString displayOperatorFingerprint(const Ed25519PublicKey &key);

// The line to paste into an agent's trusted-operators file: the base64 raw
// public key, the format core's readTrustedKeysFile() reads.
QString trustedOperatorsLine(const Ed25519PublicKey &key);

class OperatorKey {
public:
    explicit OperatorKey(Ed25519PrivateKey key, QString location);

    const Ed25519PrivateKey &privateKey() const { return m_key; }
    Ed25519PublicKey publicKey() const { return m_key.publicKey(); }
    QString fingerprint() const { return operatorFingerprint(publicKey()); }
    QString displayFingerprint() const { return displayOperatorFingerprint(publicKey()); }
    QString trustedOperatorsLine() const { return client::trustedOperatorsLine(publicKey()); }
    // Where the key is kept, for messages: the keychain entry or the file.
    const QString &location() const { return m_location; }

private:
    Ed25519PrivateKey m_key;
    QString m_location;
};

class OperatorKeyStore {
public:
    enum class Backend { Keychain, KeyFile };

    // The OS keychain entry of `profile`; jobs wait at most `timeout`.
    static OperatorKeyStore keychain(const QString &profile,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // A key file at `path` sealed under `passphrase` (UTF-8 bytes).
    static OperatorKeyStore keyFile(const QString &path, QByteArrayView passphrase,
                                    const ScryptParameters &parameters = {});

    Backend backend() const { return m_backend; }
    // "OS keychain entry operator-key:<profile>" or "key file <path>".
    QString location() const;

    // Loads the stored key. Reason::NotFound when none is stored; errors of
    // the keychain or the file otherwise.
    Result<OperatorKey> load() const;

    // Loads the stored key, or generates one and stores it when none exists.
    // A new key file is created without replacing a file that appeared in
    // the meantime.
    Result<OperatorKey> loadOrCreate() const;

    // Removes the stored key: the keychain entry, or the key file.
    Result<void> remove() const;

private:
    OperatorKeyStore(Backend backend, QString name, std::chrono::milliseconds timeout);

    Backend m_backend;
    QString m_name; // the keychain key, or the file path
    std::chrono::milliseconds m_timeout;
    std::shared_ptr<const SecureBuffer> m_passphrase;
    ScryptParameters m_parameters;
};

} // namespace sealrelay::client
