// The console's credentials table: one row per active credential with its
// verified sync chip, sorted with problems first, updated from the event feed
// in batches so a burst of events does not stall the view.
#pragma once

#include "eventbatch.h"

#include "credentialsyncstate.h"
#include "syncverifier.h"

#include <QAbstractListModel>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QTimer>

#include <chrono>

namespace sealrelay::models {

// NOTE: verification runs on the thread that owns the model, inside each
// batch. The signature cache of SyncVerifier limits an unchanged receipt to
// one Ed25519 check, but a batch of many new receipts blocks that thread for
// about one check per receipt.
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
    };
    Q_ENUM(Role)

    // Maximum delay between enqueue() and the batch that applies it.
    static constexpr std::chrono::milliseconds kMaxBatchInterval = EventBatch::kMaxInterval;

    // `verifier` must outlive the model.
    explicit CredentialsModel(SyncVerifier &verifier, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Replaces every row from a `snapshot` frame of /api/events (the whole
    // frame or its `data`) with one model reset, and drops queued events,
    // which the snapshot supersedes. A malformed agent list is
    // Reason::Malformed and leaves the model unchanged.
    Result<void> loadSnapshot(const QJsonObject &snapshot);

    // Queues one event frame (`credential_sync_changed`,
    // `agent_status_changed`; other types are ignored). The batch timer
    // applies the queue with one model change per batch.
    void enqueue(const QJsonObject &event);
    // Applies the queued events now.
    void flush();

    // Clamped to 0-50 ms; the default is 20 ms.
    void setBatchInterval(std::chrono::milliseconds interval);

    // The state of one credential, or nullptr when it is not listed.
    const CredentialSyncState *syncState(const QString &credentialId) const;

Q_SIGNALS:
    void batchApplied(int eventCount);

private:
    struct Entry {
        QJsonObject credential; // as from GET /api/credentials/{id}, with `agents`
        CredentialSyncState state;
    };

    bool lessThan(const QString &left, const QString &right) const;
    bool isSorted() const;
    void sortRows();
    void mergeCredentialEvent(const QJsonObject &data, QSet<QString> &changed,
                              QSet<QString> &removed);
    bool mergeAgentEvent(const QJsonObject &data);
    void applyBatch(const QList<QJsonObject> &events);
    void removeRows(const QSet<QString> &removed);
    void insertRows(const QStringList &added);

    SyncVerifier &m_verifier;
    QHash<QString, Entry> m_entries;
    QStringList m_order; // credential ids in row order
    EventBatch m_batch { this, [this] { flush(); } };
};

} // namespace sealrelay::models
