// Agents table model: status derivation, local fingerprints and certificate
// checks, and batched application of agent events.
#include "agentsmodel.h"

#include <QSet>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// Above this many new agents in one batch a model reset is cheaper for views
// than one insert per row.
constexpr qsizetype kMaxInsertsPerBatch = 64;

QDateTime parseTime(const QJsonValue &value)
{
    return QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
}

// The connection an `agent_backfill_progress` state implies: `paused` means
// the agent went away during its backfill.
QString connectionOfBackfillState(const QString &state)
{
    if (state == u"backfilling")
        return u"backfilling"_s;
    if (state == u"online")
        return u"online"_s;
    return u"offline"_s;
}

} // namespace

QHash<QString, AgentHoldings> countHoldings(const QList<CredentialVerification> &verifications)
{
    QHash<QString, AgentHoldings> counts;
    // Most credentials list the same agents in the same order (sorted by id),
    // so an agent at the same position as in the previous credential reuses
    // its entry, and a string comparison replaces a hash lookup.
    QStringList previousIds;
    QList<AgentHoldings *> previousHoldings;
    for (const CredentialVerification &verification : verifications) {
        for (qsizetype i = 0; i < verification.agents.size(); ++i) {
            const AgentSyncResult &agent = verification.agents.at(i);
            AgentHoldings *holdings = nullptr;
            if (i < previousIds.size() && previousIds.at(i) == agent.agentId) {
                holdings = previousHoldings.at(i);
            } else {
                const qsizetype sizeBefore = counts.size();
                holdings = &counts[agent.agentId];
                // An insertion may move every value of the hash.
                if (counts.size() != sizeBefore) {
                    previousIds.clear();
                    previousHoldings.clear();
                }
                if (i < previousIds.size()) {
                    previousIds[i] = agent.agentId;
                    previousHoldings[i] = holdings;
                } else if (i == previousIds.size()) {
                    previousIds.append(agent.agentId);
                    previousHoldings.append(holdings);
                }
            }
            ++holdings->inScope;
            if (agent.status == AgentSyncStatus::Synced)
                ++holdings->held;
        }
    }
    return counts;
}

AgentStatus deriveAgentStatus(const QJsonObject &agent)
{
    const QString status = agent.value(u"status"_s).toString();
    if (status == u"pending_approval")
        return AgentStatus::PendingApproval;
    if (status == u"revoked")
        return AgentStatus::Revoked;
    const QString connection =
        agent.value(u"sync"_s).toObject().value(u"connection"_s).toString();
    if (connection == u"online")
        return AgentStatus::Online;
    if (connection == u"backfilling")
        return AgentStatus::Backfilling;
    return AgentStatus::Offline;
}

AgentsModel::AgentsModel(client::AgentCertificates &certificates, QObject *parent)
    : QAbstractListModel(parent)
    , m_certificates(certificates)
{
}

int AgentsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_order.size());
}

QVariant AgentsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const QString &id = m_order.at(index.row());
    const Entry &entry = *m_entries.constFind(id);
    switch (role) {
    case Qt::DisplayRole:
    case NameRole:
        return entry.agent.value(u"name"_s).toString();
    case AgentIdRole:
        return id;
    case StatusRole:
        return static_cast<int>(entry.status);
    case StatusTextRole:
        return statusText(entry);
    case FingerprintRole:
        return entry.fingerprint;
    case CertificateValidRole:
        return entry.certificateValid;
    case CertificateErrorRole:
        return entry.certificateError;
    case GenerationRole:
        return entry.generation;
    case ExpiresAtRole:
        return entry.expiresAt;
    case LastSeenRole:
        return entry.lastSeen;
    case QuarantinedRole:
        return entry.quarantined;
    case BackfillDoneRole:
        return entry.backfillDone;
    case BackfillTotalRole:
        return entry.backfillTotal;
    case HeldCountRole:
        return entry.holdings.held;
    case InScopeCountRole:
        return entry.holdings.inScope;
    default:
        return {};
    }
}

QHash<int, QByteArray> AgentsModel::roleNames() const
{
    return {
        { AgentIdRole, "agentId" },
        { NameRole, "name" },
        { StatusRole, "status" },
        { StatusTextRole, "statusText" },
        { FingerprintRole, "fingerprint" },
        { CertificateValidRole, "certificateValid" },
        { CertificateErrorRole, "certificateError" },
        { GenerationRole, "generation" },
        { ExpiresAtRole, "expiresAt" },
        { LastSeenRole, "lastSeen" },
        { QuarantinedRole, "quarantined" },
        { BackfillDoneRole, "backfillDone" },
        { BackfillTotalRole, "backfillTotal" },
        { HeldCountRole, "heldCount" },
        { InScopeCountRole, "inScopeCount" },
    };
}

QString AgentsModel::statusText(const Entry &entry) const
{
    switch (entry.status) {
    case AgentStatus::PendingApproval:
        return tr("Pending approval");
    case AgentStatus::Revoked:
        return tr("Revoked");
    case AgentStatus::Online:
        return tr("Online");
    case AgentStatus::Backfilling:
        return tr("Backfilling %1/%2").arg(entry.backfillDone).arg(entry.backfillTotal);
    case AgentStatus::Offline:
        if (entry.lastSeen.isValid())
            return tr("Offline since %1")
                .arg(entry.lastSeen.toLocalTime().toString(u"yyyy-MM-dd HH:mm"_s));
        return tr("Offline");
    }
    return {};
}

// Reads one agent row and verifies its certificate. The certificate result of
// `previous` is reused when the certificate and both keys are unchanged, so
// repeated status events cost no signature check.
Result<AgentsModel::Entry> AgentsModel::makeEntry(const QJsonObject &agent, const Entry *previous)
{
    Result<client::AgentRow> row = client::AgentRow::fromJson(agent);
    if (!row)
        return row.error();

    Entry entry;
    entry.agent = agent;
    entry.status = deriveAgentStatus(agent);
    entry.fingerprint = agentFingerprint(row.value().agentId, row.value().encryptionKey,
                                         row.value().identityKey);
    entry.lastSeen = parseTime(agent.value(u"last_seen"_s));
    entry.quarantined = agent.value(u"quarantined"_s).toBool();
    const QJsonObject sync = agent.value(u"sync"_s).toObject();
    entry.backfillDone = sync.value(u"backfill_done"_s).toInteger();
    entry.backfillTotal = sync.value(u"backfill_total"_s).toInteger();
    entry.holdings = m_holdings.value(row.value().agentId);

    const bool sameCertificate = previous != nullptr
        && previous->agent.value(u"certificate"_s) == agent.value(u"certificate"_s)
        && previous->fingerprint == entry.fingerprint;
    if (sameCertificate) {
        entry.certificateValid = previous->certificateValid;
        entry.certificateError = previous->certificateError;
        entry.generation = previous->generation;
        entry.expiresAt = previous->expiresAt;
        return entry;
    }

    if (!row.value().certificate) {
        entry.certificateError = tr("No certificate: the agent is not approved.");
    } else if (Result<client::CertifiedAgent> certified = m_verifier
                   ? m_verifier->verifyCertificate(row.value())
                   : m_certificates.verify(row.value());
               certified) {
        entry.certificateValid = true;
        entry.generation = certified.value().certificate.generation;
        entry.expiresAt = certified.value().certificate.expiresAt;
        return entry;
    } else {
        entry.certificateError = certified.error().message;
    }
    // Without a verified certificate, generation and expiry come from the backend's row.
    entry.generation = agent.value(u"generation"_s).toInteger();
    entry.expiresAt = parseTime(agent.value(u"expires_at"_s));
    return entry;
}

bool AgentsModel::lessThan(const QString &left, const QString &right) const
{
    const Entry &a = *m_entries.constFind(left);
    const Entry &b = *m_entries.constFind(right);
    const bool aPending = a.status == AgentStatus::PendingApproval;
    const bool bPending = b.status == AgentStatus::PendingApproval;
    if (aPending != bPending)
        return aPending;
    const int byName = a.agent.value(u"name"_s).toString().compare(
        b.agent.value(u"name"_s).toString(), Qt::CaseInsensitive);
    if (byName != 0)
        return byName < 0;
    return left < right;
}

void AgentsModel::sortRows()
{
    std::sort(m_order.begin(), m_order.end(),
              [this](const QString &a, const QString &b) { return lessThan(a, b); });
}

Result<void> AgentsModel::loadSnapshot(const QJsonArray &agents)
{
    QHash<QString, Entry> entries;
    QStringList order;
    client::GenerationRecord::Batch generationWrites(m_certificates.generations());
    for (const QJsonValue &value : agents) {
        if (!value.isObject())
            return makeError(Reason::Malformed,
                             u"agents[%1] is not an object; reload the agent list"_s.arg(
                                 order.size()));
        const QJsonObject agent = value.toObject();
        const QString id = agent.value(u"agent_id"_s).toString();
        const auto previous = m_entries.constFind(id);
        Result<Entry> entry =
            makeEntry(agent, previous == m_entries.constEnd() ? nullptr : &*previous);
        if (!entry)
            return entry.error();
        if (!entries.contains(id))
            order.append(id);
        entries.insert(id, std::move(entry).value());
    }

    beginResetModel();
    m_batch.clear();
    m_entries = std::move(entries);
    m_order = std::move(order);
    sortRows();
    endResetModel();
    return {};
}

void AgentsModel::enqueue(const QJsonObject &event)
{
    m_batch.append(event);
}

void AgentsModel::flush()
{
    const QList<QJsonObject> events = m_batch.take();
    if (events.isEmpty())
        return;
    applyBatch(events);
    Q_EMIT batchApplied(static_cast<int>(events.size()));
}

void AgentsModel::setBatchInterval(std::chrono::milliseconds interval)
{
    m_batch.setInterval(interval);
}

void AgentsModel::setHoldings(const QHash<QString, AgentHoldings> &holdings)
{
    m_holdings = holdings;
    QSet<QString> updated;
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
        const AgentHoldings counts = m_holdings.value(it.key());
        if (it->holdings != counts) {
            it->holdings = counts;
            updated.insert(it.key());
        }
    }
    emitChanged(updated);
}

int AgentsModel::pendingApprovalCount() const
{
    return static_cast<int>(std::count_if(m_entries.cbegin(), m_entries.cend(), [](const Entry &e) {
        return e.status == AgentStatus::PendingApproval;
    }));
}

QModelIndex AgentsModel::indexOf(const QString &agentId) const
{
    const qsizetype row = m_order.indexOf(agentId);
    return row < 0 ? QModelIndex() : index(static_cast<int>(row));
}

void AgentsModel::applyBatch(const QList<QJsonObject> &events)
{
    // The latest agent object per agent id, with every event of the batch
    // applied in order.
    QHash<QString, QJsonObject> latest;
    const auto current = [&](const QString &id) -> QJsonObject * {
        auto found = latest.find(id);
        if (found != latest.end())
            return &*found;
        const auto entry = m_entries.constFind(id);
        if (entry == m_entries.constEnd())
            return nullptr;
        return &*latest.insert(id, entry->agent);
    };

    for (const QJsonObject &event : events) {
        const QString type = event.value(u"type"_s).toString();
        const QJsonObject data = eventData(event);
        const QString id = data.value(u"agent_id"_s).toString();
        if (id.isEmpty())
            continue;
        if (type == u"agent_status_changed") {
            if (data.value(u"agent"_s).isObject()) {
                latest.insert(id, data.value(u"agent"_s).toObject());
            } else if (QJsonObject *agent = current(id)) {
                agent->insert(u"status"_s, data.value(u"status"_s));
                if (data.contains(u"connected"_s)) {
                    QJsonObject sync = agent->value(u"sync"_s).toObject();
                    sync.insert(u"connection"_s,
                                data.value(u"connected"_s).toBool() ? u"online"_s
                                                                    : u"offline"_s);
                    agent->insert(u"sync"_s, sync);
                }
            }
        } else if (type == u"agent_backfill_progress") {
            QJsonObject *agent = current(id);
            if (agent == nullptr)
                continue;
            QJsonObject sync = agent->value(u"sync"_s).toObject();
            sync.insert(u"connection"_s,
                        connectionOfBackfillState(data.value(u"state"_s).toString()));
            sync.insert(u"eligible_for_work"_s, data.value(u"state"_s).toString() == u"online");
            sync.insert(u"backfill_done"_s, data.value(u"done"_s));
            sync.insert(u"backfill_total"_s, data.value(u"total"_s));
            agent->insert(u"sync"_s, sync);
        }
    }

    QStringList added;
    QSet<QString> updated;
    for (auto it = latest.cbegin(); it != latest.cend(); ++it) {
        const auto previous = m_entries.constFind(it.key());
        const bool listed = previous != m_entries.constEnd();
        Result<Entry> entry = makeEntry(*it, listed ? &*previous : nullptr);
        if (!entry)
            continue; // NOTE: a malformed agent object in an event is dropped without a log line.
        if (!listed) {
            m_entries.insert(it.key(), std::move(entry).value());
            added.append(it.key());
        } else if (!(entry.value() == *previous)) {
            m_entries.insert(it.key(), std::move(entry).value());
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

    emitChanged(updated);

    for (const QString &id : std::as_const(added)) {
        const auto position =
            std::lower_bound(m_order.cbegin(), m_order.cend(), id,
                             [this](const QString &a, const QString &b) { return lessThan(a, b); });
        const int row = static_cast<int>(position - m_order.cbegin());
        beginInsertRows({}, row, row);
        m_order.insert(row, id);
        endInsertRows();
    }
}

// Re-sorts with one layout change when `updated` rows moved, then emits one
// dataChanged over the span of updated rows.
void AgentsModel::emitChanged(const QSet<QString> &updated)
{
    if (updated.isEmpty())
        return;
    const auto less = [this](const QString &a, const QString &b) { return lessThan(a, b); };
    if (!std::is_sorted(m_order.cbegin(), m_order.cend(), less)) {
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

    int first = static_cast<int>(m_order.size());
    int last = -1;
    for (qsizetype row = 0; row < m_order.size(); ++row) {
        if (updated.contains(m_order.at(row))) {
            first = std::min(first, static_cast<int>(row));
            last = std::max(last, static_cast<int>(row));
        }
    }
    if (last >= 0)
        Q_EMIT dataChanged(index(first), index(last));
}

} // namespace sealrelay::models
