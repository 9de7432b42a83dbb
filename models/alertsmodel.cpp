// Alerts list model and its filter proxy.
#include "alertsmodel.h"

#include <QSet>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// Above this many new alerts in one batch a model reset is cheaper for views
// than one insert per row.
constexpr qsizetype kMaxInsertsPerBatch = 64;

QDateTime parseTime(const QJsonValue &value)
{
    return QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
}

// Unacknowledged critical alerts stay on top until acknowledged.
bool isPinned(int severityRank, bool acknowledged)
{
    return severityRank == 3 && !acknowledged;
}

} // namespace

int severityRank(QStringView severity)
{
    if (severity == u"critical")
        return 3;
    if (severity == u"high")
        return 2;
    if (severity == u"medium")
        return 1;
    return 0;
}

AlertsModel::AlertsModel(QObject *parent)
    : QAbstractListModel(parent)
{
}

int AlertsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_order.size());
}

QVariant AlertsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Entry &entry = *m_entries.constFind(m_order.at(index.row()));
    const QJsonObject &alert = entry.alert;
    switch (role) {
    case Qt::DisplayRole:
    case TypeRole:
        return alert.value(u"type"_s).toString();
    case AlertIdRole:
        return alert.value(u"alert_id"_s).toString();
    case SeverityRole:
        return alert.value(u"severity"_s).toString();
    case SeverityRankRole:
        return entry.severityRank;
    case SubjectRole:
        return alert.value(u"subject"_s).toString();
    case DetailsRole:
        return alert.value(u"details"_s).toVariant();
    case FirstSeenRole:
        return parseTime(alert.value(u"first_seen"_s));
    case LastSeenRole:
        return entry.lastSeen;
    case CountRole:
        return alert.value(u"count"_s).toInteger();
    case AcknowledgedRole:
        return entry.acknowledged;
    case AcknowledgedByRole:
        return alert.value(u"acknowledged_by"_s).toString();
    default:
        return {};
    }
}

QHash<int, QByteArray> AlertsModel::roleNames() const
{
    return {
        { AlertIdRole, "alertId" },
        { TypeRole, "type" },
        { SeverityRole, "severity" },
        { SeverityRankRole, "severityRank" },
        { SubjectRole, "subject" },
        { DetailsRole, "details" },
        { FirstSeenRole, "firstSeen" },
        { LastSeenRole, "lastSeen" },
        { CountRole, "count" },
        { AcknowledgedRole, "acknowledged" },
        { AcknowledgedByRole, "acknowledgedBy" },
    };
}

AlertsModel::Entry AlertsModel::makeEntry(const QJsonObject &alert)
{
    Entry entry;
    entry.alert = alert;
    entry.lastSeen = parseTime(alert.value(u"last_seen"_s));
    entry.severityRank = severityRank(alert.value(u"severity"_s).toString());
    entry.acknowledged = alert.value(u"acknowledged_at"_s).isString();
    return entry;
}

// Pinned first, then newest last_seen, then alert id for a stable order.
bool AlertsModel::lessThan(const QString &left, const QString &right) const
{
    const Entry &a = *m_entries.constFind(left);
    const Entry &b = *m_entries.constFind(right);
    const bool aPinned = isPinned(a.severityRank, a.acknowledged);
    const bool bPinned = isPinned(b.severityRank, b.acknowledged);
    if (aPinned != bPinned)
        return aPinned;
    if (a.lastSeen != b.lastSeen)
        return a.lastSeen > b.lastSeen;
    return left < right;
}

void AlertsModel::sortRows()
{
    std::sort(m_order.begin(), m_order.end(),
              [this](const QString &a, const QString &b) { return lessThan(a, b); });
}

void AlertsModel::loadSnapshot(const QJsonArray &alerts)
{
    beginResetModel();
    m_batch.clear();
    m_entries.clear();
    m_order.clear();
    for (const QJsonValue &value : alerts) {
        const QJsonObject alert = value.toObject();
        const QString id = alert.value(u"alert_id"_s).toString();
        if (id.isEmpty())
            continue;
        if (!m_entries.contains(id))
            m_order.append(id);
        m_entries.insert(id, makeEntry(alert));
    }
    sortRows();
    endResetModel();
    updateUnacknowledgedCount();
}

void AlertsModel::enqueue(const QJsonObject &event)
{
    m_batch.append(event);
}

void AlertsModel::flush()
{
    const QList<QJsonObject> events = m_batch.take();
    if (events.isEmpty())
        return;
    applyBatch(events);
    updateUnacknowledgedCount();
    Q_EMIT batchApplied(static_cast<int>(events.size()));
}

void AlertsModel::setBatchInterval(std::chrono::milliseconds interval)
{
    m_batch.setInterval(interval);
}

void AlertsModel::applyBatch(const QList<QJsonObject> &events)
{
    // Listed alerts start with their current object, so an acknowledgement
    // of an alert raised earlier in the same batch finds it.
    QHash<QString, QJsonObject> latest;
    for (const QJsonObject &event : events) {
        const QString type = event.value(u"type"_s).toString();
        const QJsonObject data = eventData(event);
        const QString id = data.value(u"alert_id"_s).toString();
        if (id.isEmpty())
            continue;
        if (type == u"alert_raised") {
            latest.insert(id, data);
        } else if (type == u"alert_acknowledged") {
            auto found = latest.find(id);
            if (found == latest.end()) {
                const auto entry = m_entries.constFind(id);
                if (entry == m_entries.constEnd())
                    continue; // acknowledgement of an alert this model never listed
                found = latest.insert(id, entry->alert);
            }
            found->insert(u"acknowledged_by"_s, data.value(u"acknowledged_by"_s));
            found->insert(u"acknowledged_at"_s, data.value(u"acknowledged_at"_s));
        }
    }

    QStringList added;
    QSet<QString> updated;
    for (auto it = latest.cbegin(); it != latest.cend(); ++it) {
        const auto previous = m_entries.constFind(it.key());
        if (previous == m_entries.constEnd()) {
            m_entries.insert(it.key(), makeEntry(*it));
            added.append(it.key());
        } else if (previous->alert != *it) {
            m_entries.insert(it.key(), makeEntry(*it));
            updated.insert(it.key());
        }
    }

    if (added.size() > kMaxInsertsPerBatch) {
        beginResetModel();
        m_order.append(added);
        sortRows();
        endResetModel();
        return;
    }

    const auto less = [this](const QString &a, const QString &b) { return lessThan(a, b); };
    if (!updated.isEmpty() && !std::is_sorted(m_order.cbegin(), m_order.cend(), less)) {
        const QModelIndexList persistent = persistentIndexList();
        QStringList persistentIds;
        for (const QModelIndex &index : persistent)
            persistentIds.append(m_order.at(index.row()));
        Q_EMIT layoutAboutToBeChanged({}, QAbstractItemModel::VerticalSortHint);
        sortRows();
        QModelIndexList moved;
        for (qsizetype i = 0; i < persistent.size(); ++i)
            moved.append(index(static_cast<int>(m_order.indexOf(persistentIds.at(i))),
                               persistent.at(i).column()));
        changePersistentIndexList(persistent, moved);
        Q_EMIT layoutChanged({}, QAbstractItemModel::VerticalSortHint);
    }
    if (!updated.isEmpty()) {
        int first = static_cast<int>(m_order.size());
        int last = -1;
        for (qsizetype row = 0; row < m_order.size(); ++row) {
            if (updated.contains(m_order.at(row))) {
                first = std::min(first, static_cast<int>(row));
                last = std::max(last, static_cast<int>(row));
            }
        }
        Q_EMIT dataChanged(index(first), index(last));
    }

    for (const QString &id : std::as_const(added)) {
        const auto position = std::lower_bound(m_order.cbegin(), m_order.cend(), id, less);
        const int row = static_cast<int>(position - m_order.cbegin());
        beginInsertRows({}, row, row);
        m_order.insert(row, id);
        endInsertRows();
    }
}

void AlertsModel::updateUnacknowledgedCount()
{
    const int count = static_cast<int>(std::count_if(
        m_entries.cbegin(), m_entries.cend(), [](const Entry &e) { return !e.acknowledged; }));
    if (count == m_unacknowledged)
        return;
    m_unacknowledged = count;
    Q_EMIT unacknowledgedCountChanged(count);
}

AlertsFilterModel::AlertsFilterModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
}

void AlertsFilterModel::setSeverity(const QString &severity)
{
    if (severity == m_severity)
        return;
    m_severity = severity;
    invalidateRowsFilter();
    Q_EMIT severityChanged();
}

void AlertsFilterModel::setAcknowledged(Acknowledged acknowledged)
{
    if (acknowledged == m_acknowledged)
        return;
    m_acknowledged = acknowledged;
    invalidateRowsFilter();
    Q_EMIT acknowledgedChanged();
}

void AlertsFilterModel::setSearch(const QString &search)
{
    const QString trimmed = search.trimmed();
    if (trimmed == m_search)
        return;
    m_search = trimmed;
    invalidateRowsFilter();
    Q_EMIT searchChanged();
}

bool AlertsFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    if (!m_severity.isEmpty()
        && index.data(AlertsModel::SeverityRole).toString() != m_severity)
        return false;
    if (!m_search.isEmpty()) {
        const QString type = index.data(AlertsModel::TypeRole).toString();
        QString typeWords = type;
        typeWords.replace(QLatin1Char('_'), QLatin1Char(' '));
        const bool found = type.contains(m_search, Qt::CaseInsensitive)
            || typeWords.contains(m_search, Qt::CaseInsensitive)
            || index.data(AlertsModel::SubjectRole).toString().contains(m_search,
                                                                        Qt::CaseInsensitive);
        if (!found)
            return false;
    }
    const bool acknowledged = index.data(AlertsModel::AcknowledgedRole).toBool();
    switch (m_acknowledged) {
    case Acknowledged::Any:
        return true;
    case Acknowledged::Unacknowledged:
        return !acknowledged;
    case Acknowledged::Acknowledged:
        return acknowledged;
    }
    return true;
}

} // namespace sealrelay::models
