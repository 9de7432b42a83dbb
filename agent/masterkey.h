// Sources of the vault master key (32 bytes, AES-256). They are tried in this
// order, and the first that exists wins:
//   1. the systemd credential $CREDENTIALS_DIRECTORY/sealrelay-vault-key;
//   2. a key file, by default <data dir>/vault.key, accepted only with mode
//      0600;
//   3. the OS keychain through QtKeychain: service "sealrelay", key
//      "vault-master-key:<absolute data dir>".
// A credential or key file contains the key as 64 hexadecimal digits,
// optionally followed by one newline (`openssl rand -hex 32` writes that
// form). The keychain entry contains the 32 raw bytes.
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QString>

#include <chrono>

namespace sealrelay::agent {

enum class MasterKeySource { SystemdCredential, KeyFile, Keychain };

QString masterKeySourceName(MasterKeySource source);

inline constexpr QLatin1StringView kSystemdCredentialName { "sealrelay-vault-key" };
inline constexpr QLatin1StringView kKeychainService { "sealrelay" };

struct MasterKeyLocations {
    QString dataDirectory; // names the keychain entry
    QString credentialsDirectory; // $CREDENTIALS_DIRECTORY, or "" when unset
    QString keyFilePath;
    bool useKeychain = true;
    std::chrono::milliseconds keychainTimeout = std::chrono::seconds(5);

    // The default locations for `dataDirectory`, with the credentials
    // directory taken from the environment.
    static MasterKeyLocations forDataDirectory(const QString &dataDirectory);

    QString systemdCredentialPath() const; // "" without a credentials directory
    QString keychainKey() const;
};

struct MasterKey {
    SecureBuffer key; // 32 bytes
    MasterKeySource source = MasterKeySource::KeyFile;
    QString location; // the path, or the keychain service and key
};

// Loads the key from the first source that exists. A source that exists but
// is unusable (a key file with another mode than 0600, a malformed key) is an
// error and no later source is tried. With no source at all, the error
// (Reason::NotFound) names all three.
Result<MasterKey> loadMasterKey(const MasterKeyLocations &locations);

// Generates a new random key and stores it at `destination`, which is
// KeyFile (created with mode 0600, never replacing a file) or Keychain
// (never replacing an entry). A systemd credential is provisioned by the
// host's administrator, so it is no destination.
Result<MasterKey> createMasterKey(const MasterKeyLocations &locations, MasterKeySource destination);

// Parses 64 hexadecimal digits with an optional trailing newline; `origin`
// names the file in the error.
Result<SecureBuffer> parseMasterKeyText(QByteArrayView text, const QString &origin);

} // namespace sealrelay::agent
