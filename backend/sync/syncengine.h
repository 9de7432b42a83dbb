// SyncEngine: moves sealed credentials to the agents in their scope. It sends
// creator envelopes and statement updates, runs rewrap dispatches through
// peers, handles credential_missing, backfills registering agents, runs the
// integrity response and owns the reconciler (PROTOCOL.md §7 and §8).
#pragma once

#include "coordinationstore.h"
#include "messages.h"
#include "rows.h"
#include "storage.h"
#include "syncoptions.h"

#include <QDateTime>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QThreadPool>

#include <functional>
#include <memory>
#include <optional>

namespace sealrelay::backend {

class Backfill;
class Metrics;
class Reconciler;
class SyncTask;

// Event that started a sync of one (credential, agent).
enum class SyncTrigger { Upload, Backfill, Jit, Reconciler, Retry };
QString syncTriggerName(SyncTrigger trigger);

enum class SyncResult {
    Delivered, // the agent stored the current value (credential_stored)
    Applied, // the agent applied a newer statement (statement_applied)
    UpToDate, // nothing to send: the agent already stores the current statement
    Failed,
};

struct SyncOutcome {
    SyncResult result = SyncResult::Failed;
    // The final audit row's outcome: success, peer_failed, timeout or
    // exhausted; empty when no dispatch ran.
    QString auditOutcome;
    // What a waiting credential_missing gets when the sync failed.
    Reason publicReason = Reason::NoEligiblePeer;
    // The row's last_error, e.g. NO_ELIGIBLE_PEER or PEER_TIMEOUT.
    QString error;
    // False when the failure must not count as a delivery attempt, e.g. a
    // lost lock or a storage error.
    bool countsAsAttempt = true;

    bool succeeded() const { return result != SyncResult::Failed; }
    QByteArray toJson() const;
    static std::optional<SyncOutcome> fromJson(const QByteArray &json);
};

using SyncCallback = std::function<void(const SyncOutcome &outcome)>;

// Runtime sync state of one agent, for the agent list and the console.
struct AgentSyncState {
    bool connected = false;
    // True from registration until the backfill finished, also while a
    // reconnected agent has not registered again to resume it.
    bool backfilling = false;
    // Counts of the running backfill, or of the last finished one.
    qint64 backfillDone = 0;
    qint64 backfillTotal = 0;
};

// A target's report that what a source sealed does not match the operator's
// commitment, as the integrity response takes it.
struct IntegrityReport {
    QString orgId;
    QString credentialId;
    QString reporterId; // the target that reported it
    std::optional<QString> sourceAgentId; // empty when the creator sealed it
    QString reason; // DECRYPT_FAILED, ..., or REPORTED_COMMITMENT_DIFFERS
    QString deliveryId;
    QString dispatchAuditId;
    QString attestationSha256;
};

// {"connection": "offline" | "online" | "backfilling", "eligible_for_work",
// "backfill_done", "backfill_total"}: an agent is eligible for work while it
// is approved, online and not backfilling.
QJsonObject agentSyncJson(const AgentSyncState &state, AgentStatus status);

class SyncEngine : public QObject {
    Q_OBJECT

public:
    SyncEngine(Storage &storage, CoordinationStore &store, AgentLink link, Metrics &metrics,
               SyncOptions options, QObject *parent = nullptr);
    ~SyncEngine() override;

    // Starts the reconciler.
    void start();
    // Stops the reconciler and abandons running syncs without counting them.
    void stop();

    // Feeds one message from an approved agent's live session.
    void handleMessage(const QString &orgId, const QString &agentId, const AgentMessage &message);
    // A rewrap_response frame from `agentId` that failed to parse; audited
    // as MALFORMED_ENVELOPE against the dispatch it names.
    void handleMalformedRewrapResponse(const QString &orgId, const QString &agentId,
                                       const QString &requestId, const QString &problem);
    // The agent's session closed: its backfill pauses and syncs waiting on it
    // fail now instead of at their timeouts.
    void handleAgentDisconnected(const QString &orgId, const QString &agentId);
    // A reply that another replica received from its agent and routed here,
    // because a sync of this replica waits for it. Handled like a message
    // of a local session, except that it is never routed on again.
    void handleRoutedReply(const QString &orgId, const QString &agentId,
                           const AgentMessage &message);
    // An agent connected to another replica left it: syncs here waiting on
    // it fail now instead of at their timeouts.
    void handleRemoteAgentLeft(const QString &orgId, const QString &agentId);

    // After an upload: sends creator envelopes, statement updates and
    // dispatches to the connected agents the credential concerns.
    void credentialWritten(const QString &orgId, const QString &credentialId);
    // An operator's retry: every undelivered row of the credential whose
    // agent is connected is synced at once.
    void retryCredential(const QString &orgId, const QString &credentialId);

    // Syncs one (credential, agent) now, joining a sync of the same pair that
    // is already running. `done` runs once with the outcome. `dispatchEnded`
    // runs once before it, as soon as no peer or target works on the sync any
    // more: the target replied, or the sync ends without that.
    void syncRow(const QString &orgId, const QString &credentialId, const QString &agentId,
                 SyncTrigger trigger, SyncCallback done = {}, const QString &missingRequestId = {},
                 std::function<void()> dispatchEnded = {});

    // Sets the test of whether a console receives the events of an org. The
    // engine builds no event for an org that fails it, and without a test
    // every org counts as watched.
    void setEventsWatched(std::function<bool(const QString &orgId)> watched);

    AgentSyncState agentState(const QString &orgId, const QString &agentId) const;
    Reconciler &reconciler() { return *m_reconciler; }
    const SyncOptions &options() const { return m_options; }
    QDateTime now() const;

Q_SIGNALS:
    // A change consoles should see, as the event feed carries it.
    void eventPublished(const QString &orgId, const QString &type, const QJsonObject &data);
    void alertRaised(const sealrelay::backend::AlertRow &alert);
    void auditAppended(const sealrelay::backend::AuditRecord &record);

private:
    friend class Backfill;
    friend class Reconciler;
    friend class SyncTask;

    // ---- Message handlers (syncengine.cpp) --------------------------------
    void handleRewrapResponse(const QString &orgId, const QString &agentId,
                              const RewrapResponse &response);
    void handleRewrapRefused(const QString &orgId, const QString &agentId,
                             const RewrapRefused &refused);
    void handleCredentialStored(const QString &orgId, const QString &agentId,
                                const CredentialStored &stored);
    void handleIntegrityFailure(const QString &orgId, const QString &agentId,
                                const CredentialIntegrityFailure &failure);
    void handleStatementApplied(const QString &orgId, const QString &agentId,
                                const StatementApplied &applied);
    void auditUnsolicited(const QString &orgId, const QString &senderId, const QString &requestId,
                          const QString &reason, const QJsonObject &details = {});
    // A rewrap reply for a dispatch that another replica started: checks it
    // against the pending_dispatches row, claims the row and sends the reply
    // to the originating replica. Returns false when no other replica's
    // dispatch has that request_id, and the caller handles it as unknown.
    bool routeRewrapReply(const QString &orgId, const QString &agentId, const QString &requestId,
                          const QString &credentialId, const QString &targetAgentId,
                          const AgentMessage &message);
    // A delivery reply that no sync here waits for goes to the replica that
    // sent the delivery, if one waits for it; otherwise `unmatched` runs.
    void routeDeliveryReply(const QString &orgId, const QString &agentId,
                            const QString &deliveryId, const AgentMessage &message,
                            std::function<void()> unmatched);

    // ---- JIT repair (jitrepair.cpp) ---------------------------------------
    void handleCredentialMissing(const QString &orgId, const QString &agentId,
                                 const CredentialMissing &missing);
    void answerMissing(const QString &orgId, const QString &agentId,
                       const CredentialMissing &missing, const QDateTime &receivedAt);
    void sendUnavailable(const QString &orgId, const QString &agentId, const QString &requestId,
                         const std::optional<QString> &credentialId, Reason reason);

    // ---- Registration and backfill (backfill.cpp) -------------------------
    void handleRegister(const QString &orgId, const QString &agentId, const Register &message);
    void startBackfill(const QString &orgId, const QString &agentId, const Register &message);
    void backfillFinished(Backfill *backfill);
    void publishBackfill(const Backfill &backfill);
    void updateBackfillMetrics();

    // ---- Integrity response (integrityresponse.cpp) -----------------------
    // Runs the integrity response; `done` runs when its writes finished.
    void runIntegrityResponse(const IntegrityReport &report, std::function<void()> done);
    void actOnIntegrityReport(const IntegrityReport &report);

    // ---- Shared services (syncengine.cpp) ---------------------------------
    // Appends an audit row and announces it, or logs a storage failure.
    // Inside writeTogether() the announcement waits for the commit.
    std::optional<AuditRecord> audit(AuditEntry entry);
    // Runs `work` so that the writes it makes commit in one transaction, with
    // one disk sync instead of one per write. A failed commit is logged and
    // loses those writes, as a failed single write does. When the
    // transaction cannot begin, `work` still runs and each write commits alone.
    void writeTogether(QStringView purpose, const std::function<void()> &work,
                       Durability durability = Durability::OnCommit);
    // Runs `work` as writeTogether() does and `report` once its writes are
    // durable. Where the storage syncs in the background, the commit does
    // not wait for the disk, so this thread serves other work meanwhile, and
    // `report` runs after the sync, unless `owner` is gone by then.
    void writeThenReport(QObject *owner, QStringView purpose, const std::function<void()> &work,
                         std::function<void()> report);
    // Runs `check` on the engine's check thread and `report` with its result
    // on this thread, unless `owner` is gone by then. Checks run one at a
    // time, in the order given. `check` must use only what it captured.
    void checkOffThread(QObject *owner, std::function<Result<void>()> check,
                        std::function<void(Result<void>)> report);
    // Raises (or bumps) an alert and announces it.
    std::optional<AlertRow> raiseAlert(const QString &orgId, const QString &type,
                                       AlertSeverity severity, const QString &subject,
                                       const QJsonObject &details);
    // Counts a failed attempt on the row and raises credential_sync_stalled
    // when it retires the row.
    void recordFailure(const QString &orgId, const QString &credentialId, const QString &agentId,
                       const SyncOutcome &outcome);
    bool eventsWatched(const QString &orgId) const;
    // Publishes credential_sync_changed with the credential's summary.
    void publishSyncChange(const QString &orgId, const QString &credentialId,
                           const QString &agentId, const QString &change,
                           const QJsonObject &extra = {});
    bool isConnected(const QString &orgId, const QString &agentId) const;
    // The number of rewrap requests that wait for a peer's reply, by peer.
    QHash<QString, int> rewrapsAwaitingReply() const;
    // True while a sync of the credential to another agent than `exceptAgent`
    // waits for its lock or delivers the creator's envelope.
    bool creatorDeliveryRunning(const QString &orgId, const QString &credentialId,
                                const QString &exceptAgent) const;
    bool sendTo(const QString &orgId, const QString &agentId, const AgentMessage &message);
    void taskFinished(SyncTask *task, const SyncOutcome &outcome);
    // Runs again the deferred syncs of `credentialId` that no creator
    // delivery holds back any more.
    void resumeDeferredSyncs(const QString &orgId, const QString &credentialId);
    static QString rowKey(const QString &orgId, const QString &credentialId,
                          const QString &agentId);
    static QString agentKey(const QString &orgId, const QString &agentId);

    Storage &m_storage;
    CoordinationStore &m_store;
    AgentLink m_link;
    Metrics &m_metrics;
    SyncOptions m_options;
    std::function<bool(const QString &orgId)> m_eventsWatched;
    std::unique_ptr<Reconciler> m_reconciler;
    bool m_stopped = false;
    // Nesting of writeTogether(), and the audit rows it has not announced.
    int m_writeTogetherDepth = 0;
    QList<AuditRecord> m_unannouncedAudit;
    // True while a reply routed from another replica is handled.
    bool m_handlingRoutedReply = false;
    // The thread of checkOffThread(). Signature checks of agents' replies
    // run there, so this thread relays the next messages meanwhile.
    QThreadPool m_checkThread;

    // Running syncs by rowKey, and the ids their messages come back with.
    QHash<QString, SyncTask *> m_tasks;
    QHash<QString, QPointer<SyncTask>> m_byRequestId; // rewrap request_id
    QHash<QString, QPointer<SyncTask>> m_byDeliveryId; // credential_store / statement_update
    // Syncs that ended with kAwaitingCreatorDelivery, by rowKey.
    struct DeferredSync {
        QString orgId;
        QString credentialId;
        QString agentId;
        SyncTrigger trigger;
    };
    QHash<QString, DeferredSync> m_deferred;
    // Backfills by agentKey; a paused one stays until the agent registers again.
    QHash<QString, Backfill *> m_backfills;
    // (done, total) of each agent's last finished backfill, by agentKey.
    QHash<QString, QPair<qint64, qint64>> m_lastBackfill;
    // Registrations seen per agentKey; a delayed registration runs only if
    // no newer one arrived meanwhile.
    QHash<QString, quint64> m_registrations;
};

} // namespace sealrelay::backend
