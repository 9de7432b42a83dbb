// Credentials table model: snapshot loading, batched event application and
// problems-first ordering.
#include "credentialsmodel.h"

#include <QJsonArray>
#include <QSet>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// Above this many new credentials in one batch a model reset is cheaper for
// views than one insert per row.
constexpr qsizetype kMaxInsertsPerBatch = 64;

// Applies the sync change of one agent, as `credential_sync_changed` reports
// it, to that agent's row of the credential.
void applyAgentChange(QJsonObject &row, const QJsonObject &data)
{
    const QString change = data.value(u"change"_s).toString();
    if (data.value(u"receipt"_s).isObject())
        row.insert(u"receipt"_s, data.value(u"receipt"_s));
    if (data.contains(u"attempts"_s))
        row.insert(u"attempts"_s, data.value(u"attempts"_s));

    if (change == u"delivered" || change == u"statement_applied") {
        row.insert(u"secret_stored"_s, true);
        row.insert(u"stalled"_s, false);
        row.insert(u"last_error"_s, QJsonValue::Null);
    } else if (change == u"purged") {
        row.insert(u"secret_stored"_s, false);
    } else if (change == u"refused" || change == u"integrity_failure") {
        row.insert(u"secret_stored"_s, false);
        const QJsonValue error =
            data.contains(u"error"_s) ? data.value(u"error"_s) : data.value(u"reason"_s);
        row.insert(u"last_error"_s, error);
    } else if (change == u"attempt_failed") {
        row.insert(u"last_error"_s, data.value(u"error"_s));
    } else if (change == u"stalled") {
        row.insert(u"stalled"_s, true);
        if (data.contains(u"error"_s))
            row.insert(u"last_error"_s, data.value(u"error"_s));
    }
}

} // namespace

CredentialsModel::CredentialsModel(SyncVerifier &verifier, QObject *parent)
    : QAbstractListModel(parent)
    , m_verifier(verifier)
{
}

int CredentialsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_order.size());
}

QVariant CredentialsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const CredentialSyncState &state = m_entries.constFind(m_order.at(index.row()))->state;
    switch (role) {
    case Qt::DisplayRole:
    case NameRole:
        return state.name;
    case CredentialIdRole:
        return state.credentialId;
    case KindRole:
        return state.kind;
    case VersionRole:
        return state.version;
    case RevisionRole:
        return state.revision;
    case ScopeRole:
        return state.scope;
    case ChipRole:
        return static_cast<int>(state.chip);
    case ChipTextRole:
        return state.chipText();
    case SyncedCountRole:
        return state.syncedCount;
    case AgentCountRole:
        return state.agentCount;
    case PendingCountRole:
        return state.pendingCount;
    case UnverifiedCountRole:
        return state.unverifiedCount;
    case IntegrityFailureRole:
        return state.integrityFailure;
    case UnprotectedRole:
        return state.unprotected;
    case StalledRole:
        return state.stalled;
    case LastChangeRole:
        return state.lastChange;
    case BadgesRole:
        return state.badges();
    default:
        return {};
    }
}

QHash<int, QByteArray> CredentialsModel::roleNames() const
{
    return {
        { CredentialIdRole, "credentialId" },
        { NameRole, "name" },
        { KindRole, "kind" },
        { VersionRole, "version" },
        { RevisionRole, "revision" },
        { ScopeRole, "scope" },
        { ChipRole, "chip" },
        { ChipTextRole, "chipText" },
        { SyncedCountRole, "syncedCount" },
        { AgentCountRole, "agentCount" },
        { PendingCountRole, "pendingCount" },
        { UnverifiedCountRole, "unverifiedCount" },
        { IntegrityFailureRole, "integrityFailure" },
        { UnprotectedRole, "unprotected" },
        { StalledRole, "stalled" },
        { LastChangeRole, "lastChange" },
        { BadgesRole, "badges" },
    };
}

const CredentialSyncState *CredentialsModel::syncState(const QString &credentialId) const
{
    const auto found = m_entries.constFind(credentialId);
    return found == m_entries.constEnd() ? nullptr : &found->state;
}

void CredentialsModel::setBatchInterval(std::chrono::milliseconds interval)
{
    m_batch.setInterval(interval);
}

bool CredentialsModel::lessThan(const QString &left, const QString &right) const
{
    const CredentialSyncState &a = m_entries.constFind(left)->state;
    const CredentialSyncState &b = m_entries.constFind(right)->state;
    if (a.problemRank() != b.problemRank())
        return a.problemRank() < b.problemRank();
    if (const int byName = a.name.compare(b.name, Qt::CaseInsensitive); byName != 0)
        return byName < 0;
    return left < right;
}

bool CredentialsModel::isSorted() const
{
    return std::is_sorted(m_order.cbegin(), m_order.cend(),
                          [this](const QString &a, const QString &b) { return lessThan(a, b); });
}

void CredentialsModel::sortRows()
{
    std::sort(m_order.begin(), m_order.end(),
              [this](const QString &a, const QString &b) { return lessThan(a, b); });
}

Result<void> CredentialsModel::loadSnapshot(const QJsonObject &snapshot)
{
    const QJsonObject data = eventData(snapshot);
    Result<QList<client::AgentRow>> agents = client::parseAgentList(data);
    if (!agents)
        return agents.error();

    beginResetModel();
    m_batch.clear();
    m_verifier.setAgents(agents.value());
    m_entries.clear();
    m_order.clear();
    for (const QJsonValue &value : data.value(u"credentials"_s).toArray()) {
        const QJsonObject credential = value.toObject();
        const QString id = credential.value(u"credential_id"_s).toString();
        if (id.isEmpty() || m_entries.contains(id))
            continue;
        Entry entry { credential,
                      CredentialSyncState::fromVerification(credential,
                                                            m_verifier.verify(credential)) };
        m_entries.insert(id, std::move(entry));
        m_order.append(id);
    }
    sortRows();
    endResetModel();
    return {};
}

void CredentialsModel::enqueue(const QJsonObject &event)
{
    m_batch.append(event);
}

void CredentialsModel::flush()
{
    const QList<QJsonObject> events = m_batch.take();
    if (events.isEmpty())
        return;
    applyBatch(events);
    Q_EMIT batchApplied(static_cast<int>(events.size()));
}

void CredentialsModel::mergeCredentialEvent(const QJsonObject &data, QSet<QString> &changed,
                                            QSet<QString> &removed)
{
    QJsonObject credential = data.value(u"credential"_s).toObject();
    const QString id = data.value(u"credential_id"_s).toString();
    if (id.isEmpty() || credential.value(u"credential_id"_s).toString() != id)
        return;
    if (credential.value(u"state"_s).toString() == u"deleted") {
        removed.insert(id);
        changed.remove(id);
        return;
    }
    removed.remove(id);

    // The event's credential carries `sync` but usually no `agents` rows, so
    // the rows known so far are kept and the one agent's change is applied.
    QJsonObject &stored = m_entries[id].credential;
    if (!credential.contains(u"agents"_s))
        credential.insert(u"agents"_s, stored.value(u"agents"_s));
    const QString agentId = data.value(u"agent_id"_s).toString();
    if (!agentId.isEmpty()) {
        QJsonArray rows = credential.value(u"agents"_s).toArray();
        qsizetype index = 0;
        while (index < rows.size()
               && rows.at(index).toObject().value(u"agent_id"_s).toString() != agentId)
            ++index;
        QJsonObject row = index < rows.size()
            ? rows.at(index).toObject()
            : QJsonObject { { u"credential_id"_s, id }, { u"agent_id"_s, agentId } };
        applyAgentChange(row, data);
        if (index < rows.size())
            rows.replace(index, row);
        else
            rows.append(row);
        credential.insert(u"agents"_s, rows);
    }
    stored = credential;
    changed.insert(id);
}

bool CredentialsModel::mergeAgentEvent(const QJsonObject &data)
{
    Result<client::AgentRow> agent = client::AgentRow::fromJson(data.value(u"agent"_s).toObject());
    if (!agent)
        return false;
    m_verifier.updateAgent(agent.value());
    return true;
}

void CredentialsModel::applyBatch(const QList<QJsonObject> &events)
{
    QSet<QString> changed;
    QSet<QString> removed;
    bool agentsChanged = false;
    for (const QJsonObject &event : events) {
        const QString type = event.value(u"type"_s).toString();
        if (type == u"credential_sync_changed")
            mergeCredentialEvent(eventData(event), changed, removed);
        else if (type == u"agent_status_changed")
            agentsChanged = mergeAgentEvent(eventData(event)) || agentsChanged;
    }
    // An agent's certificate or status counts for every credential.
    if (agentsChanged) {
        for (const QString &id : std::as_const(m_order)) {
            if (!removed.contains(id))
                changed.insert(id);
        }
    }

    removeRows(removed);

    // New states of listed rows; rows whose state did not change emit nothing.
    QStringList added;
    QSet<QString> updated;
    for (const QString &id : std::as_const(changed)) {
        Entry &entry = m_entries[id];
        CredentialSyncState state = CredentialSyncState::fromVerification(
            entry.credential, m_verifier.verify(entry.credential));
        const bool listed = !entry.state.credentialId.isEmpty();
        if (!listed) {
            entry.state = std::move(state);
            added.append(id);
        } else if (!(state == entry.state)) {
            entry.state = std::move(state);
            updated.insert(id);
        }
    }

    if (added.size() > kMaxInsertsPerBatch) {
        beginResetModel();
        m_order.append(added);
        sortRows();
        endResetModel();
        return;
    }

    if (!updated.isEmpty() && !isSorted()) {
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

    insertRows(added);
}

void CredentialsModel::removeRows(const QSet<QString> &removed)
{
    QList<int> rows;
    for (const QString &id : removed) {
        const qsizetype row = m_order.indexOf(id);
        if (row >= 0)
            rows.append(static_cast<int>(row));
        else
            m_entries.remove(id); // created and deleted within one batch
    }
    std::sort(rows.begin(), rows.end(), std::greater<>());

    // Contiguous rows are removed together, from the bottom up.
    qsizetype i = 0;
    while (i < rows.size()) {
        int last = rows.at(i);
        int first = last;
        while (i + 1 < rows.size() && rows.at(i + 1) == first - 1) {
            ++i;
            first = rows.at(i);
        }
        beginRemoveRows({}, first, last);
        for (int row = last; row >= first; --row)
            m_entries.remove(m_order.takeAt(row));
        endRemoveRows();
        ++i;
    }
}

void CredentialsModel::insertRows(const QStringList &added)
{
    for (const QString &id : added) {
        const auto position =
            std::lower_bound(m_order.cbegin(), m_order.cend(), id,
                             [this](const QString &a, const QString &b) { return lessThan(a, b); });
        const int row = static_cast<int>(position - m_order.cbegin());
        beginInsertRows({}, row, row);
        m_order.insert(row, id);
        endInsertRows();
    }
}

} // namespace sealrelay::models
