// The operator tools' pinned list of trusted operator public keys: the
// operator's own key plus keys the local user adds. It lives in a local file
// and is never taken from the backend, whose list of operator keys is for
// display only.
//
// The file has the format of an agent's trusted-operators file, so it can be
// copied to an agent as it is: one base64 raw Ed25519 key per line, with
// blank lines and lines starting with '#' ignored.
#pragma once

#include "error.h"
#include "keys.h"

#include <QList>
#include <QString>

namespace sealrelay::client {

struct TrustedOperator {
    Ed25519PublicKey key;
    QString fingerprint; // 64 hex digits, see operatorFingerprint()
};

class TrustedOperators {
public:
    // <config folder>/sealrelay/trusted-operators-<profile>, where the
    // config folder is QStandardPaths::GenericConfigLocation
    // ($XDG_CONFIG_HOME or ~/.config on Linux).
    static QString defaultPath(const QString &profile);

    // Reads the list at `path`, and a missing file is an empty list. A file
    // that group or others may access is Reason::Forbidden, because a user
    // who can write it decides which operators are trusted.
    static Result<TrustedOperators> load(const QString &path);

    const QString &path() const { return m_path; }
    const QList<Ed25519PublicKey> &keys() const { return m_keys; }
    QList<TrustedOperator> list() const;
    bool isEmpty() const { return m_keys.isEmpty(); }

    bool contains(const Ed25519PublicKey &key) const;
    // `raw` is a 32-byte raw Ed25519 public key.
    bool contains(QByteArrayView raw) const;

    // Adds `key` and rewrites the file (mode 0600, atomically). Returns false
    // when the key was already listed and nothing changed.
    Result<bool> add(const Ed25519PublicKey &key);
    // Removes `key` and rewrites the file. Returns false when it was not
    // listed.
    Result<bool> remove(const Ed25519PublicKey &key);

private:
    explicit TrustedOperators(QString path)
        : m_path(std::move(path))
    {
    }
    Result<void> save() const;

    QString m_path;
    QList<Ed25519PublicKey> m_keys;
};

} // namespace sealrelay::client
