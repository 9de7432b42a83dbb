// The profile the operator tools share (sealrelayctl and the console): the
// backend URL, the org id, and where the API token and the operator key are
// kept, in <config folder>/sealrelay/profile-<name>.json (mode 0600).
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QJsonObject>
#include <QString>

namespace sealrelay::client {

struct Profile {
    QString name;
    QString backendUrl;
    QString orgId;
    QString tokenFile; // empty: the token is in the OS keychain
    QString operatorKeyFile; // empty: the operator key is in the OS keychain
    // PEM CA certificates trusted for the backend besides the system's;
    // empty: the system's only.
    QString caFile;

    // <config folder>/sealrelay/profile-<name>.json, where the config folder
    // is QStandardPaths::GenericConfigLocation ($XDG_CONFIG_HOME or ~/.config).
    static QString path(const QString &name);
    // Reads the profile `name`. A missing file is an empty profile of that
    // name; a file that is not a JSON object is Reason::Malformed.
    static Result<Profile> load(const QString &name);
    Result<void> save() const;
    QJsonObject toJson() const;
};

// Keychain entry of the API token of a profile (service "sealrelay").
QString tokenKeychainKey(const QString &profile);

// Where a profile keeps its token, for messages: the token file or the
// keychain entry.
QString tokenLocation(const Profile &profile);

// Reads the token of `profile` from its token file, or from the OS keychain
// when it has none. Reason::NotFound when no token is stored there.
Result<SecureBuffer> readStoredToken(const Profile &profile);

// Stores `token` in the profile's token file (one line, mode 0600), or in
// the OS keychain when it has none.
Result<void> storeToken(const Profile &profile, QByteArrayView token);

// Removes the stored token: the token file, or the keychain entry. A token
// that is not stored is not an error.
Result<void> removeStoredToken(const Profile &profile);

} // namespace sealrelay::client
