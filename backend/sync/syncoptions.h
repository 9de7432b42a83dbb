// SyncOptions: the intervals, limits and windows of the sync engine, and the
// link through which it reaches connected agents.
#pragma once

#include "backoff.h"
#include "messages.h"

#include <QDateTime>
#include <QString>
#include <QStringList>

#include <chrono>
#include <functional>

namespace sealrelay::backend {

struct BackendSettings;

struct SyncOptions {
    QString replicaId;

    // Rewrap dispatch: peers tried per dispatch and the wait for each.
    int dispatchMaxPeers = 3;
    std::chrono::milliseconds peerTimeout { 30'000 };
    // Per (credential, target) lock in the coordination store.
    std::chrono::milliseconds lockTtl { 60'000 };
    std::chrono::milliseconds lockRenew { 20'000 };

    std::chrono::milliseconds reconcilerInterval { 60'000 };
    std::chrono::milliseconds reconcilerLockTtl { 55'000 };
    int reconcilerBatchRows = 100;
    BackoffSchedule backoff = BackoffSchedule::reconciler();
    std::chrono::milliseconds stalledDedupe { 24LL * 60 * 60 * 1000 };

    // JIT repair: credential_missing per minute before RATE_LIMITED, and the
    // count in jitFloodWindow that raises agent_credential_flood.
    int jitPerMinute = 30;
    int jitFloodThreshold = 100;
    std::chrono::milliseconds jitFloodWindow { 300'000 };

    int backfillConcurrency = 5;
    // Registrations per minute before an agent is made to wait, and the
    // longest wait.
    int reconnectLimitPerMinute = 5;
    std::chrono::milliseconds reconnectMaxWait { 300'000 };

    // Integrity response: mismatch reports in the window that quarantine the
    // reporter, and how long a source stays blocklisted.
    int commitmentFloodThreshold = 10;
    std::chrono::milliseconds commitmentFloodWindow { 300'000 };
    std::chrono::milliseconds blocklistTtl { 24LL * 60 * 60 * 1000 };

    // Source of "now" for stored times; empty means the current UTC time.
    std::function<QDateTime()> clock;

    // Maximum wait for another replica's dispatch of the same (credential,
    // target): every peer's timeout plus one lock TTL.
    std::chrono::milliseconds remoteWait() const
    {
        return peerTimeout * dispatchMaxPeers + lockTtl;
    }
};

// The options `settings` configure, for replica `replicaId`.
SyncOptions syncOptionsFrom(const BackendSettings &settings, const QString &replicaId);

// Link from the engine to connected agents: the agent gateway in the
// service, a scripted stand-in in tests.
struct AgentLink {
    // True while the agent has a live, authenticated session.
    std::function<bool(const QString &orgId, const QString &agentId)> isConnected;
    // Sends one message; false when the agent has no session or the socket
    // did not take the frame.
    std::function<bool(const QString &orgId, const QString &agentId, const AgentMessage &message)>
        send;
    // Agent ids with a live session in `orgId`.
    std::function<QStringList(const QString &orgId)> connectedAgents;

    // Set only when several replicas share the stores. Sends a reply that no
    // sync here waits for to the replica that recorded a route for
    // `replyToId`; `routed` gets false when none did.
    std::function<void(const QString &orgId, const QString &agentId, const AgentMessage &message,
                       const QString &replyToId, std::function<void(bool routed)> routed)>
        routeReply;
    // Set only when several replicas share the stores. Sends a reply to the
    // replica `replicaId`, whose sync waits for it.
    std::function<void(const QString &replicaId, const QString &orgId, const QString &agentId,
                       const AgentMessage &message)>
        sendReplyTo;
};

} // namespace sealrelay::backend
