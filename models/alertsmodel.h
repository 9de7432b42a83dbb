// The console's alerts list: newest first with unacknowledged critical alerts
// pinned on top, an unacknowledged count for the navigation badge, and a
// proxy that filters by severity and acknowledged state.
#pragma once

#include "eventbatch.h"

#include <QAbstractListModel>
#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QSortFilterProxyModel>
#include <QTimer>

#include <chrono>

namespace sealrelay::models {

// Rank of an alert severity: 3 critical, 2 high, 1 medium, 0 unknown.
int severityRank(QStringView severity);

class AlertsModel : public QAbstractListModel {
    Q_OBJECT
    Q_PROPERTY(int unacknowledgedCount READ unacknowledgedCount NOTIFY unacknowledgedCountChanged)

public:
    enum Role {
        AlertIdRole = Qt::UserRole + 1,
        TypeRole,
        SeverityRole, // medium, high or critical
        SeverityRankRole, // severityRank() of the severity
        SubjectRole, // e.g. "credential:<id>/agent:<id>"
        DetailsRole, // QVariant of the `details` JSON, null when absent
        FirstSeenRole, // QDateTime
        LastSeenRole, // QDateTime
        CountRole,
        AcknowledgedRole,
        AcknowledgedByRole,
    };
    Q_ENUM(Role)

    // Maximum delay between enqueue() and the batch that applies it.
    static constexpr std::chrono::milliseconds kMaxBatchInterval = EventBatch::kMaxInterval;

    explicit AlertsModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Replaces every row with the `alerts` array of GET /api/alerts or of a
    // snapshot frame, with one model reset, and drops queued events. Entries
    // that are not objects or have no alert_id are skipped.
    void loadSnapshot(const QJsonArray &alerts);

    // Queues one event frame (`alert_raised`, `alert_acknowledged`; other
    // types are ignored). `alert_raised` inserts the alert or replaces the
    // row with the same alert_id. The batch timer applies the queue with at
    // most one layout change and one dataChanged per batch, plus one insert
    // per new alert (a reset above 64 new alerts).
    void enqueue(const QJsonObject &event);
    // Applies the queued events now.
    void flush();

    // Clamped to 0-50 ms; the default is 20 ms.
    void setBatchInterval(std::chrono::milliseconds interval);

    int unacknowledgedCount() const { return m_unacknowledged; }

Q_SIGNALS:
    void unacknowledgedCountChanged(int count);
    void batchApplied(int eventCount);

private:
    struct Entry {
        QJsonObject alert; // as from GET /api/alerts
        QDateTime lastSeen;
        int severityRank = 0;
        bool acknowledged = false;
    };

    static Entry makeEntry(const QJsonObject &alert);
    bool lessThan(const QString &left, const QString &right) const;
    void sortRows();
    void applyBatch(const QList<QJsonObject> &events);
    void updateUnacknowledgedCount();

    QHash<QString, Entry> m_entries;
    QStringList m_order; // alert ids in row order
    EventBatch m_batch { this, [this] { flush(); } };
    int m_unacknowledged = 0;
};

// Filters an AlertsModel by severity, acknowledged state and a search text,
// keeping its order.
class AlertsFilterModel : public QSortFilterProxyModel {
    Q_OBJECT
    // Only alerts with this severity pass. Empty lets every severity pass.
    Q_PROPERTY(QString severity READ severity WRITE setSeverity NOTIFY severityChanged)
    Q_PROPERTY(Acknowledged acknowledged READ acknowledged WRITE setAcknowledged NOTIFY
                   acknowledgedChanged)
    // Case-insensitive substring of the type, written either as the wire name
    // ("credential_sync_stalled") or in words ("credential sync stalled"), or
    // of the subject ("credential:<id>/agent:<id>"). Leading and trailing
    // spaces are ignored. Empty lets every alert pass.
    Q_PROPERTY(QString search READ search WRITE setSearch NOTIFY searchChanged)

public:
    enum class Acknowledged { Any, Unacknowledged, Acknowledged };
    Q_ENUM(Acknowledged)

    explicit AlertsFilterModel(QObject *parent = nullptr);

    QString severity() const { return m_severity; }
    void setSeverity(const QString &severity);
    Acknowledged acknowledged() const { return m_acknowledged; }
    void setAcknowledged(Acknowledged acknowledged);
    QString search() const { return m_search; }
    void setSearch(const QString &search);

Q_SIGNALS:
    void severityChanged();
    void acknowledgedChanged();
    void searchChanged();

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QString m_severity;
    Acknowledged m_acknowledged = Acknowledged::Any;
    QString m_search; // trimmed
};

} // namespace sealrelay::models
