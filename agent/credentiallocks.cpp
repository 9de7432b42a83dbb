// The per-credential lock table.
#include "credentiallocks.h"

namespace sealrelay::agent {

CredentialLock::CredentialLock(std::shared_ptr<std::mutex> mutex)
    : m_mutex(std::move(mutex))
    , m_lock(*m_mutex)
{
}

CredentialLock CredentialLocks::lock(const QString &credentialId)
{
    std::shared_ptr<std::mutex> mutex;
    {
        const std::lock_guard<std::mutex> guard(m_tableMutex);
        // Entries whose lock has no holder any more are dropped, so the table
        // stays as small as the number of credentials in progress.
        for (auto it = m_table.begin(); it != m_table.end();) {
            if (it.value().expired())
                it = m_table.erase(it);
            else
                ++it;
        }
        mutex = m_table.value(credentialId).lock();
        if (!mutex) {
            mutex = std::make_shared<std::mutex>();
            m_table.insert(credentialId, mutex);
        }
    }
    return CredentialLock(std::move(mutex));
}

} // namespace sealrelay::agent
