// One lock per credential id, so that deliveries and statement updates for
// one credential are processed one at a time while other credentials go on.
// Handlers on several threads share one table. The vault's compare-and-set
// still decides between writers that do not share it, such as other
// processes.
#pragma once

#include <QHash>
#include <QString>

#include <memory>
#include <mutex>

namespace sealrelay::agent {

// Holds one credential's lock until destroyed.
class CredentialLock {
public:
    explicit CredentialLock(std::shared_ptr<std::mutex> mutex);

    // Move assignment is left out: it would release the old mutex's owner
    // before unlocking it.
    CredentialLock(CredentialLock &&) noexcept = default;
    CredentialLock &operator=(CredentialLock &&) = delete;

private:
    std::shared_ptr<std::mutex> m_mutex; // keeps the mutex alive while locked
    std::unique_lock<std::mutex> m_lock;
};

class CredentialLocks {
public:
    // Blocks until no other holder has `credentialId`'s lock. The lock is not
    // recursive: taking it twice on one thread deadlocks.
    CredentialLock lock(const QString &credentialId);

private:
    std::mutex m_tableMutex;
    QHash<QString, std::weak_ptr<std::mutex>> m_table;
};

} // namespace sealrelay::agent
