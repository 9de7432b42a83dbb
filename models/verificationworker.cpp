// Verification queue and worker of CredentialsModel.
#include "verificationworker.h"


namespace sealrelay::models {

bool VerificationQueue::markPending()
{
    if (m_busy || m_wakePending)
        return false;
    m_wakePending = true;
    return true;
}

void VerificationQueue::setTrustedKeys(QList<QByteArray> keys)
{
    std::unique_lock locker(m_mutex);
    m_trustedKeys = std::move(keys);
    const bool wake = markPending();
    locker.unlock();
    if (wake && m_wake)
        m_wake();
}

void VerificationQueue::setAgents(QList<CheckedAgent> agents)
{
    std::unique_lock locker(m_mutex);
    m_agents = std::move(agents);
    m_agentUpdates.clear();
    const bool wake = markPending();
    locker.unlock();
    if (wake && m_wake)
        m_wake();
}

void VerificationQueue::updateAgent(CheckedAgent agent)
{
    std::unique_lock locker(m_mutex);
    m_agentUpdates.append(std::move(agent));
    const bool wake = markPending();
    locker.unlock();
    if (wake && m_wake)
        m_wake();
}

void VerificationQueue::request(QList<VerificationRequest> requests)
{
    if (requests.isEmpty())
        return;
    std::unique_lock locker(m_mutex);
    for (VerificationRequest &request : requests) {
        const QString id = request.credentialId;
        m_requests.insert(id, std::move(request));
    }
    const bool wake = markPending();
    locker.unlock();
    if (wake && m_wake)
        m_wake();
}

void VerificationQueue::setKnownAgents(QList<KnownAgent> agents)
{
    std::unique_lock locker(m_mutex);
    m_knownAgents = std::move(agents);
    const bool wake = markPending();
    locker.unlock();
    if (wake && m_wake)
        m_wake();
}

QList<VerificationResult> VerificationQueue::takeResults()
{
    std::unique_lock locker(m_mutex);
    return std::exchange(m_results, {});
}

void VerificationQueue::waitUntilIdle()
{
    std::unique_lock locker(m_mutex);
    m_idle.wait(locker, [this] { return !m_busy && !m_wakePending; });
}

qint64 VerificationQueue::signatureChecks() const
{
    std::unique_lock locker(m_mutex);
    return m_signatureChecks;
}

void VerificationQueue::setObserver(std::function<void(const QString &)> observer)
{
    std::unique_lock locker(m_mutex);
    m_observer = std::move(observer);
}

std::optional<VerificationQueue::Work> VerificationQueue::takeWork(qsizetype maxRequests)
{
    std::unique_lock locker(m_mutex);
    m_wakePending = false;
    if (!m_trustedKeys && !m_agents && m_agentUpdates.isEmpty() && !m_knownAgents
        && m_requests.isEmpty()) {
        m_busy = false;
        m_idle.notify_all();
        return std::nullopt;
    }
    m_busy = true;

    Work work;
    work.trustedKeys = std::exchange(m_trustedKeys, std::nullopt);
    work.agents = std::exchange(m_agents, std::nullopt);
    work.agentUpdates = std::exchange(m_agentUpdates, {});
    work.knownAgents = std::exchange(m_knownAgents, std::nullopt);
    work.observer = m_observer;
    auto it = m_requests.begin();
    while (it != m_requests.end() && work.requests.size() < maxRequests) {
        work.requests.append(std::move(it.value()));
        it = m_requests.erase(it);
    }
    return work;
}

void VerificationQueue::finish(QList<VerificationResult> results, qint64 signatureChecks)
{
    std::unique_lock locker(m_mutex);
    m_results.append(std::move(results));
    m_signatureChecks = signatureChecks;
}

VerificationWorker::VerificationWorker(VerificationQueue &queue, QList<QByteArray> trustedKeys,
                                       QString orgId, client::Clock clock)
    : m_queue(queue)
    , m_verifier(std::move(trustedKeys), std::move(orgId), std::move(clock))
{
}

void VerificationWorker::process()
{
    while (std::optional<VerificationQueue::Work> work = m_queue.takeWork(kMaxRequestsPerPass)) {
        if (work->trustedKeys)
            m_verifier.setTrustedKeys(std::move(*work->trustedKeys));
        if (work->agents)
            m_verifier.setAgents(*work->agents);
        for (const CheckedAgent &agent : std::as_const(work->agentUpdates))
            m_verifier.updateAgent(agent);
        if (work->knownAgents)
            m_verifier.setKnownAgents(*work->knownAgents);

        QList<VerificationResult> results;
        results.reserve(work->requests.size());
        for (VerificationRequest &request : work->requests) {
            if (work->observer)
                work->observer(request.credentialId);
            VerificationResult result;
            result.credentialId = request.credentialId;
            result.sequence = request.sequence;
            result.verification = m_verifier.verify(request.credential);
            result.state = CredentialSyncState::fromVerification(request.credential,
                                                                 result.verification);
            result.credential = std::move(request.credential);
            results.append(std::move(result));
        }
        const bool any = !results.isEmpty();
        m_queue.finish(std::move(results), m_verifier.signatureChecks());
        if (any)
            Q_EMIT resultsReady();
    }
}

} // namespace sealrelay::models
