// The worker-thread side of CredentialsModel: a queue that the model fills
// with credentials to verify, and a worker that drains it on its own thread
// with a ReceiptVerifier and hands the results back.
#pragma once

#include "credentialsyncstate.h"
#include "syncverifier.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QObject>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>

namespace sealrelay::models {

// One credential JSON to verify, tagged with the model's sequence number.
struct VerificationRequest {
    QString credentialId;
    quint64 sequence = 0;
    QJsonObject credential;
};

// The outcome of one VerificationRequest.
struct VerificationResult {
    QString credentialId;
    quint64 sequence = 0;
    QJsonObject credential; // the JSON that was verified
    CredentialVerification verification;
    CredentialSyncState state;
};

// Requests, agent and key changes from the model and results from the
// worker, guarded by one std::mutex. ThreadSanitizer checks a std::mutex, but
// reports false double locks on QMutex when QtCore is not built with it. A new request for a credential replaces the
// one still waiting, so only the newest JSON is verified. Agent and key
// changes are applied before the requests taken with them.
class VerificationQueue {
public:
    // Called, with the mutex released, when the worker must be woken.
    void setWake(std::function<void()> wake) { m_wake = std::move(wake); }

    // Model's thread.
    void setTrustedKeys(QList<QByteArray> keys);
    void setAgents(QList<CheckedAgent> agents);
    void updateAgent(CheckedAgent agent);
    void setKnownAgents(QList<KnownAgent> agents);
    // Queues `requests` under one lock, so the worker takes them together.
    void request(QList<VerificationRequest> requests);
    QList<VerificationResult> takeResults();
    // Blocks until everything queued so far has been verified.
    void waitUntilIdle();
    qint64 signatureChecks() const;
    void setObserver(std::function<void(const QString &)> observer);

    // Worker's thread.
    struct Work {
        std::optional<QList<QByteArray>> trustedKeys;
        std::optional<QList<CheckedAgent>> agents; // replaces every agent
        QList<CheckedAgent> agentUpdates;
        std::optional<QList<KnownAgent>> knownAgents;
        QList<VerificationRequest> requests;
        std::function<void(const QString &)> observer;
    };
    // Takes the key and agent changes and up to `maxRequests` requests, or
    // returns std::nullopt and marks the worker idle when nothing waits.
    std::optional<Work> takeWork(qsizetype maxRequests);
    void finish(QList<VerificationResult> results, qint64 signatureChecks);

private:
    // Mutex held by the caller. Returns true when the caller must call m_wake.
    bool markPending();

    mutable std::mutex m_mutex;
    std::condition_variable m_idle;
    std::function<void()> m_wake;
    std::function<void(const QString &)> m_observer;
    bool m_busy = false; // the worker is between takeWork() and its idle return
    bool m_wakePending = false; // a wake-up was sent and not yet taken
    std::optional<QList<QByteArray>> m_trustedKeys;
    std::optional<QList<CheckedAgent>> m_agents;
    QList<CheckedAgent> m_agentUpdates;
    std::optional<QList<KnownAgent>> m_knownAgents;
    QHash<QString, VerificationRequest> m_requests;
    QList<VerificationResult> m_results;
    qint64 m_signatureChecks = 0;
};

// Lives on CredentialsModel's verification thread and owns the
// ReceiptVerifier, whose signature cache it alone uses.
class VerificationWorker : public QObject {
    Q_OBJECT

public:
    // Credentials verified per pass. Each pass hands its results back, so
    // the first rows of a large snapshot do not wait for the last. The GUI
    // thread applies the results of a pass in one turn. In bench_console,
    // with 10,000 rows, the turns that applied 256 results held 5 to 9 ms
    // of GUI-thread CPU, so a pass is 128 credentials.
    static constexpr qsizetype kMaxRequestsPerPass = 128;

    // `clock` decides whether a known agent's certificate has expired.
    VerificationWorker(VerificationQueue &queue, QList<QByteArray> trustedKeys, QString orgId,
                       client::Clock clock);

    // Drains the queue. Runs on the worker's thread.
    void process();

Q_SIGNALS:
    void resultsReady();

private:
    VerificationQueue &m_queue;
    ReceiptVerifier m_verifier;
};

} // namespace sealrelay::models
