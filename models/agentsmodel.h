// The console's agents table: one row per agent with its status, locally
// computed fingerprint and verified certificate, updated from the event feed
// in batches.
#pragma once

#include "eventbatch.h"

#include "agentcertificates.h"
#include "syncverifier.h"

#include <QAbstractListModel>
#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QTimer>

#include <chrono>

namespace sealrelay::models {

// An agent's status as the console shows it, derived from the backend's
// `status` and `sync.connection`.
enum class AgentStatus {
    PendingApproval, // status pending_approval
    Revoked, // status revoked
    Online, // approved, connection online
    Backfilling, // approved, connection backfilling
    Offline, // approved, connection offline or unknown
};

// Credentials stored by one agent, out of those in its scope.
struct AgentHoldings {
    int held = 0; // in-scope credentials with a verified `stored` receipt for the current statement
    int inScope = 0;

    bool operator==(const AgentHoldings &other) const = default;
};

// Counts, per agent id, the credentials that list the agent in scope and
// those where its status is AgentSyncStatus::Synced.
QHash<QString, AgentHoldings> countHoldings(const QList<CredentialVerification> &verifications);

// Derives the status from a row of GET /api/agents.
AgentStatus deriveAgentStatus(const QJsonObject &agent);

class AgentsModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Role {
        AgentIdRole = Qt::UserRole + 1,
        NameRole,
        StatusRole, // AgentStatus as int
        StatusTextRole, // translated, e.g. "Backfilling 412/1000"
        FingerprintRole, // 64 hex digits, computed here from agent_id and both keys
        CertificateValidRole,
        CertificateErrorRole, // why the certificate was rejected, empty when valid
        GenerationRole, // from the verified certificate, else the backend's row
        ExpiresAtRole, // QDateTime, from the verified certificate, else the backend's row
        LastSeenRole, // QDateTime, invalid when never seen
        QuarantinedRole,
        BackfillDoneRole,
        BackfillTotalRole,
        HeldCountRole, // N of "N of M credentials held", from setHoldings()
        InScopeCountRole, // M of "N of M credentials held", from setHoldings()
    };
    Q_ENUM(Role)

    // Maximum delay between enqueue() and the batch that applies it.
    static constexpr std::chrono::milliseconds kMaxBatchInterval = EventBatch::kMaxInterval;

    // `certificates` must outlive the model.
    explicit AgentsModel(client::AgentCertificates &certificates, QObject *parent = nullptr);

    // Checks certificates with verifier->verifyCertificate(), which can use
    // prechecks from a worker thread, instead of certificates.verify(). The
    // verifier must use the same AgentCertificates and outlive the model.
    void setVerifier(SyncVerifier *verifier) { m_verifier = verifier; }

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Replaces every row with the `agents` array of GET /api/agents or of a
    // snapshot frame, with one model reset, and drops queued events. A
    // malformed row is Reason::Malformed and leaves the model unchanged.
    Result<void> loadSnapshot(const QJsonArray &agents);

    // Queues one event frame (`agent_status_changed`,
    // `agent_backfill_progress`; other types are ignored). The batch timer
    // applies the queue with at most one layout change, one dataChanged and
    // the row inserts of new agents per batch, or one reset above 64 new agents.
    void enqueue(const QJsonObject &event);
    // Applies the queued events now.
    void flush();

    // Clamped to 0-50 ms; the default is 20 ms.
    void setBatchInterval(std::chrono::milliseconds interval);

    // Sets the "N of M credentials held" counts. The model does not compute
    // them: the console passes CredentialsModel::holdings() after each
    // change. Agents missing from `holdings` show 0 of 0.
    void setHoldings(const QHash<QString, AgentHoldings> &holdings);

    // Number of pending_approval agents, for the navigation badge.
    int pendingApprovalCount() const;

    // The row of `agentId`, or an invalid index when it is not listed.
    QModelIndex indexOf(const QString &agentId) const;

Q_SIGNALS:
    void batchApplied(int eventCount);

private:
    struct Entry {
        QJsonObject agent; // as from GET /api/agents
        AgentStatus status = AgentStatus::Offline;
        QString fingerprint;
        bool certificateValid = false;
        QString certificateError;
        qint64 generation = 0;
        QDateTime expiresAt;
        QDateTime lastSeen;
        bool quarantined = false;
        qint64 backfillDone = 0;
        qint64 backfillTotal = 0;
        AgentHoldings holdings;

        bool operator==(const Entry &other) const = default;
    };

    Result<Entry> makeEntry(const QJsonObject &agent, const Entry *previous);
    QString statusText(const Entry &entry) const;
    bool lessThan(const QString &left, const QString &right) const;
    void sortRows();
    void applyBatch(const QList<QJsonObject> &events);
    void emitChanged(const QSet<QString> &updated);

    client::AgentCertificates &m_certificates;
    SyncVerifier *m_verifier = nullptr;
    QHash<QString, Entry> m_entries;
    QStringList m_order; // agent ids in row order: pending approval first, then by name
    QHash<QString, AgentHoldings> m_holdings;
    EventBatch m_batch { this, [this] { flush(); } };
};

} // namespace sealrelay::models
