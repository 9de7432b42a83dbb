// Secrets in the OS keychain through QtKeychain, with a deadline on every
// job, because a job waits forever on a session bus that accepts the
// connection and never replies (tst_masterkey reproduces this with
// QtKeychain 0.13). The insecure plaintext fallback is never enabled.
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QString>

#include <chrono>
#include <optional>

namespace sealrelay {

class KeychainStore {
public:
    // Jobs wait for a running QCoreApplication's event loop, up to `timeout`.
    // `alternative` ends the error message of an unusable keychain, e.g.
    // "use a key file there instead".
    KeychainStore(QString service, QString alternative,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

    const QString &service() const { return m_service; }

    // Returns the secret stored under `key`, or std::nullopt when the
    // keychain has no such entry. A keychain that cannot be reached, or a job
    // that does not finish in time, is Reason::IoError.
    Result<std::optional<SecureBuffer>> read(const QString &key) const;

    // Stores `secret` under `key`, replacing an existing entry.
    Result<void> write(const QString &key, QByteArrayView secret) const;

    // Removes the entry; a missing entry is not an error.
    Result<void> remove(const QString &key) const;

private:
    QString m_service;
    QString m_alternative;
    std::chrono::milliseconds m_timeout;
};

} // namespace sealrelay
