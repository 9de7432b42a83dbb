// The console's credentials table: one row per active credential with its
// verified sync chip, sorted with problems first, updated from the event feed
// in batches so a burst of events does not stall the view.
#pragma once

#include "eventbatch.h"

#include "agentsmodel.h"
#include "credentialsyncstate.h"
#include "syncverifier.h"

#include <QAbstractListModel>
#include <QFuture>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QSet>
#include <QThread>
#include <QTimer>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace sealrelay::models {

class VerificationQueue;
class VerificationWorker;

// A credential as last verified: the JSON the verification thread checked,
// its outcome and the sync state computed from both.
struct VerifiedCredential {
    QJsonObject credential; // as from GET /api/credentials/{id}, with `agents`
    CredentialVerification verification;
    CredentialSyncState state;
};

// One credential of a snapshot frame, read by CredentialsModel::prepareSnapshot().
struct PreparedCredential {
    QString credentialId;
    QJsonObject credential; // as from GET /api/credentials/{id}, with `agents`
    CredentialSyncState awaiting; // the state shown until its first verification result
};

// A snapshot frame read into the model's terms. prepareSnapshot() builds it
// on any thread, because it reads only the frame.
struct PreparedSnapshot {
    // Set when the frame is malformed, and then the other members are empty.
    std::optional<Error> error;
    QList<client::AgentRow> agents;
    // One entry per credential id, sorted as the table sorts rows that await
    // their first verification result.
    QList<PreparedCredential> credentials;
    QSet<QString> credentialIds; // the ids of `credentials`
};

// Threads: the model merges event JSON and checks agent certificates on its
// own thread, because AgentCertificates and its GenerationRecord are not
// thread-safe and the session uses them there too. Receipts and statements
// are verified on a QThread that the model owns, by a ReceiptVerifier that
// reads only raw key bytes and CheckedAgent copies. loadSnapshotInSteps()
// reads its frame on a thread of QThreadPool::globalInstance(), with
// prepareSnapshot(), which reads nothing else. Rows are inserted and
// removed when events are merged. Results come back queued, and each set
// that arrives is applied with one dataChanged per run of rows that it
// changed or re-sorted (at most 16). Every request carries a sequence number, and a result whose
// number is not above the one shown is dropped, so a result computed from
// older JSON or older agent data never replaces a newer one. A new
// credential is listed at once in the "⏳ Verifying" state, which has no
// counts and is never green.
class CredentialsModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Role {
        CredentialIdRole = Qt::UserRole + 1,
        NameRole,
        KindRole,
        VersionRole,
        RevisionRole,
        ScopeRole, // auto_all or explicit
        ChipRole, // SyncChip as int: 0 synced, 1 partial, 2 pending
        ChipTextRole, // translated text with its symbol, e.g. "⚠ 2/3 synced"
        SyncedCountRole, // k: agents with a verified receipt for the current statement
        AgentCountRole, // n: agents in scope
        PendingCountRole,
        UnverifiedCountRole, // agents the backend claims as stored without a verified receipt
        IntegrityFailureRole,
        UnprotectedRole,
        StalledRole,
        LastChangeRole, // QDateTime of the credential's updated_at
        BadgesRole, // translated badge texts (QStringList)
        VerifyingRole, // true until the first verification result of the row
    };
    Q_ENUM(Role)

    // Maximum delay between enqueue() and the batch that applies it.
    static constexpr std::chrono::milliseconds kMaxBatchInterval = EventBatch::kMaxInterval;

    // `verifier` must outlive the model. The model uses it on its own thread
    // to check agent certificates, which also records them in its known-agent
    // list, and to read the pinned operator keys and the known agents. It
    // never calls its verify().
    explicit CredentialsModel(SyncVerifier &verifier, QObject *parent = nullptr);
    // Stops the verification thread, after the pass it is running.
    ~CredentialsModel() override;

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;
    // The role names that CredentialRow.qml reads, also for the models that
    // stand in for this one in tests and benchmarks.
    static QHash<int, QByteArray> roleNameTable();

    // Maximum rows a step of loadSnapshotInSteps() inserts or updates.
    static constexpr qsizetype kSnapshotRowsPerStep = 250;
    // A step applies chunks of kSnapshotRowsPerChunk rows until it has
    // applied kSnapshotRowsPerStep rows or kSnapshotStepBudget of wall time
    // has passed.
    static constexpr qsizetype kSnapshotRowsPerChunk = 25;
    static constexpr std::chrono::milliseconds kSnapshotStepBudget { 4 };
    // The first kSnapshotPacedRows rows go in steps of kSnapshotPacedStepRows,
    // kSnapshotPacedInterval apart, because views create their delegates.
    static constexpr qsizetype kSnapshotPacedRows = 48;
    static constexpr qsizetype kSnapshotPacedStepRows = 8;
    static constexpr std::chrono::milliseconds kSnapshotPacedInterval { 16 };

    // Replaces every row from a `snapshot` frame of /api/events (the whole
    // frame or its `data`) with one model reset, drops queued events, which
    // the snapshot supersedes, and sends every credential for verification.
    // A credential listed before keeps its last verified state until its new
    // result arrives, and a new one shows "⏳ Verifying". A malformed agent
    // list is Reason::Malformed and leaves the model unchanged. It cancels a
    // load that loadSnapshotInSteps() started.
    Result<void> loadSnapshot(const QJsonObject &snapshot);
    // Loads a snapshot like loadSnapshot(), but reads the frame on a worker
    // thread. It then removes and inserts rows instead of a reset, in steps
    // of at most kSnapshotRowsPerStep rows and about kSnapshotStepBudget of
    // time, one step per turn of the event loop, and the first
    // kSnapshotPacedRows rows in smaller steps further apart. Events queued before the call are dropped, and events queued
    // after it are applied once the last step is done. Emits
    // snapshotLoaded() at the end. When the frame is malformed it emits
    // snapshotRejected() and applies the queued events. A later snapshot
    // cancels the steps still left.
    void loadSnapshotInSteps(const QJsonObject &snapshot);
    // True from loadSnapshotInSteps() until its last step.
    bool isLoadingSnapshot() const { return m_snapshotLoading; }
    // Reads a snapshot frame into credentials sorted for the table. It
    // touches no model, so it runs on any thread.
    static PreparedSnapshot prepareSnapshot(const QJsonObject &snapshot);

    // Queues one event frame (`credential_sync_changed`,
    // `agent_status_changed`; other types are ignored). The batch timer
    // merges the queue, inserts and removes rows, and sends the changed
    // credentials for verification. Their results arrive later.
    void enqueue(const QJsonObject &event);
    // Finishes a snapshot load in steps, merges the queued events now, then
    // blocks until the verification thread has verified everything sent so
    // far and applies the results. It is meant for tests and shutdown,
    // because the event loop does all of this by itself.
    void flush();

    // Re-reads the pinned operator keys from the SyncVerifier, checks every
    // agent certificate again and re-verifies every credential. Call it
    // after the trusted operators changed.
    void reloadTrustedOperators();

    // Clamped to 0-50 ms; the default is 20 ms.
    void setBatchInterval(std::chrono::milliseconds interval);

    // The state shown for one credential, or nullptr when it is not listed.
    // Its `verified` is false until the first result arrived.
    const CredentialSyncState *syncState(const QString &credentialId) const;
    // The last verified form of one credential, or nullptr when it is not
    // listed or has no result yet.
    const VerifiedCredential *verifiedCredential(const QString &credentialId) const;
    // The verification of every listed credential that has a result, for
    // countHoldings().
    QList<CredentialVerification> verifications() const;

    // Totals over the listed rows, updated as each row changes, so reading
    // them costs nothing per row. A stalled row has an agent retired after
    // the maximum attempts. A problem row is stalled, not synced on every
    // agent (including rows still being verified) or carries a badge.
    int stalledCount() const { return m_stalledCount; }
    int problemCount() const { return m_problemCount; }
    // Per agent id, the credentials with a verification result that list the
    // agent, and those it holds: countHoldings(verifications()), kept up to
    // date as results arrive. Agents that no credential lists are missing.
    const QHash<QString, AgentHoldings> &holdings() const { return m_holdings; }
    // True while sent credentials have no result yet.
    bool isVerifying() const { return m_awaitingResults > 0; }

    // Number of receipt and statement signatures the verification thread
    // checked, cache misses only.
    qint64 signatureChecks() const;
    QThread *verificationThread() { return &m_thread; }
    // Calls `observer` on the verification thread with each credential id
    // just before it is verified. It is meant for tests and diagnostics and
    // must return quickly, because verification waits for it.
    void setVerificationObserver(std::function<void(const QString &credentialId)> observer);

Q_SIGNALS:
    // A batch of `eventCount` queued events was merged.
    void batchApplied(int eventCount);
    // Verification results were applied, with at most 16 dataChanged.
    // `credentialIds` lists the credentials whose result was applied,
    // whether or not their state changed.
    void verified(const QStringList &credentialIds);
    // A credential left the table, by a delete event or a snapshot.
    void credentialRemoved(const QString &credentialId);
    // The last step of loadSnapshotInSteps() is done.
    void snapshotLoaded();
    // loadSnapshotInSteps() left the rows unchanged because the frame is
    // malformed. `message` describes the error.
    void snapshotRejected(const QString &message);

private:
    struct Entry {
        QJsonObject credential; // newest merged JSON, as from GET /api/credentials/{id}
        quint64 sentSequence = 0; // sequence of the newest request sent for it
        quint64 shownSequence = 0; // sequence of the result shown; older results are dropped
        bool listed = false; // has a row in m_order
        std::optional<VerifiedCredential> verified;
        CredentialSyncState state; // verified->state, or the awaiting-verification state
    };

    // True when a request was sent for `entry` after the result it shows.
    static bool awaitsResult(const Entry &entry);
    // Sets both sequence numbers of `entry` and keeps m_awaitingResults.
    void setSequences(Entry &entry, quint64 sent, quint64 shown);
    void forgetEntry(const QString &credentialId);
    bool lessThan(const QString &left, const QString &right) const;
    // std::lower_bound() by lessThan() for `id`, whose entry has `state`. It
    // looks up the entry of each row it compares with, but not `id`'s, so a
    // search costs half the hash lookups of one by lessThan().
    QStringList::const_iterator lowerBoundRow(QStringList::const_iterator first,
                                              QStringList::const_iterator last, const QString &id,
                                              const CredentialSyncState &state) const;
    void sortRows();
    void setAgents(const QList<client::AgentRow> &agents);
    void startSnapshotSteps(PreparedSnapshot snapshot);
    void applySnapshotStep();
    void applySnapshotChunk(qsizetype end);
    void finishSnapshotSteps();
    void cancelSnapshotSteps();
    // Adds (`sign` 1) or subtracts (-1) a listed entry's share of the totals.
    void countEntry(const Entry &entry, int sign);
    void recountTotals();
    void mergeCredentialEvent(const QJsonObject &data, QSet<QString> &changed,
                              QSet<QString> &removed);
    bool mergeAgentEvent(const QJsonObject &data);
    void applyQueuedEvents();
    void applyBatch(const QList<QJsonObject> &events);
    void applyResults();
    void requestVerification(const QStringList &credentialIds);
    void removeRows(const QSet<QString> &removed);
    void insertRows(const QStringList &added);
    void insertSortedRows(const QStringList &added);
    QHash<QString, int> rowsOf(const QStringList &ids) const;
    // Re-sorts the rows of `previousRows` (credential id to its row before
    // its state changed) and emits dataChanged for the rows that changed.
    void emitUpdated(const QHash<QString, int> &previousRows);

    SyncVerifier &m_verifier;
    QHash<QString, client::AgentRow> m_agents; // rows from the snapshot and agent events
    QHash<QString, Entry> m_entries;
    QStringList m_order; // credential ids in row order
    quint64 m_sequence = 0; // last sequence number handed out
    EventBatch m_batch { this, [this] { applyQueuedEvents(); } };

    int m_stalledCount = 0;
    int m_problemCount = 0;
    int m_awaitingResults = 0; // entries for which awaitsResult() is true
    QHash<QString, AgentHoldings> m_holdings;

    // A snapshot load in steps: the frame is read on a worker thread
    // (m_preparing), then m_snapshot is applied from m_snapshotNext on, one
    // step per m_snapshotTimer timeout. Queued events wait while it runs.
    bool m_snapshotLoading = false;
    quint64 m_snapshotLoad = 0; // number of the latest load; older preparations are dropped
    std::optional<QFuture<PreparedSnapshot>> m_preparing;
    std::optional<PreparedSnapshot> m_snapshot;
    qsizetype m_snapshotNext = 0;
    QTimer m_snapshotTimer;

    std::unique_ptr<VerificationQueue> m_queue;
    VerificationWorker *m_worker = nullptr; // lives on m_thread, deleted after it stops
    QThread m_thread;
};

} // namespace sealrelay::models
