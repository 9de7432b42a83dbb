// Credentials table model: snapshot loading, batched event application,
// verification on the worker thread and problems-first ordering.
#include "credentialsmodel.h"

#include "verificationworker.h"

#include <QJsonArray>
#include <QSet>

#include <algorithm>
#include <iterator>

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
    , m_queue(std::make_unique<VerificationQueue>())
{
    m_worker = new VerificationWorker(*m_queue, verifier.trustedKeys(), verifier.orgId(),
                                      verifier.clock());
    m_worker->moveToThread(&m_thread);
    connect(m_worker, &VerificationWorker::resultsReady, this, &CredentialsModel::applyResults,
            Qt::QueuedConnection);
    VerificationWorker *worker = m_worker;
    m_queue->setWake([worker] {
        QMetaObject::invokeMethod(worker, &VerificationWorker::process, Qt::QueuedConnection);
    });
    m_thread.setObjectName(u"credential-verification"_s);
    m_thread.start();
}

CredentialsModel::~CredentialsModel()
{
    m_thread.quit();
    m_thread.wait();
    delete m_worker;
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
    case VerifyingRole:
        return !state.verified;
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
        { VerifyingRole, "verifying" },
    };
}

const CredentialSyncState *CredentialsModel::syncState(const QString &credentialId) const
{
    const auto found = m_entries.constFind(credentialId);
    return found == m_entries.constEnd() ? nullptr : &found->state;
}

const VerifiedCredential *CredentialsModel::verifiedCredential(const QString &credentialId) const
{
    const auto found = m_entries.constFind(credentialId);
    if (found == m_entries.constEnd() || !found->verified)
        return nullptr;
    return &*found->verified;
}

QList<CredentialVerification> CredentialsModel::verifications() const
{
    QList<CredentialVerification> result;
    result.reserve(m_order.size());
    for (const QString &id : m_order) {
        const Entry &entry = *m_entries.constFind(id);
        if (entry.verified)
            result.append(entry.verified->verification);
    }
    return result;
}

bool CredentialsModel::isVerifying() const
{
    return std::any_of(m_entries.cbegin(), m_entries.cend(),
                       [](const Entry &entry) { return entry.sentSequence > entry.shownSequence; });
}

qint64 CredentialsModel::signatureChecks() const
{
    return m_queue->signatureChecks();
}

void CredentialsModel::setVerificationObserver(
    std::function<void(const QString &credentialId)> observer)
{
    m_queue->setObserver(std::move(observer));
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

    m_agents.clear();
    QList<CheckedAgent> checked;
    for (const client::AgentRow &agent : agents.value()) {
        m_agents.insert(agent.agentId, agent);
        checked.append(m_verifier.checkAgent(agent));
    }

    // A credential listed before keeps its verified state until the new
    // result arrives, so a reconnect does not flash every chip.
    QHash<QString, Entry> entries;
    QStringList order;
    for (const QJsonValue &value : data.value(u"credentials"_s).toArray()) {
        const QJsonObject credential = value.toObject();
        const QString id = credential.value(u"credential_id"_s).toString();
        if (id.isEmpty() || entries.contains(id))
            continue;
        Entry entry;
        const auto previous = m_entries.constFind(id);
        if (previous != m_entries.constEnd() && previous->verified) {
            entry.verified = previous->verified;
            entry.state = previous->state;
            entry.shownSequence = previous->shownSequence;
        } else {
            entry.state = CredentialSyncState::awaitingVerification(credential);
            entry.shownSequence = m_sequence;
        }
        entry.credential = credential;
        entry.listed = true;
        entries.insert(id, std::move(entry));
        order.append(id);
    }
    QStringList removed;
    for (auto it = m_entries.cbegin(); it != m_entries.cend(); ++it) {
        if (!entries.contains(it.key()))
            removed.append(it.key());
    }

    beginResetModel();
    m_batch.clear();
    m_entries = std::move(entries);
    m_order = std::move(order);
    sortRows();
    endResetModel();

    m_queue->setTrustedKeys(m_verifier.trustedKeys());
    m_queue->setAgents(std::move(checked));
    m_verifier.saveKnownAgents();
    m_queue->setKnownAgents(m_verifier.knownAgents());
    requestVerification(m_order);
    for (const QString &id : std::as_const(removed))
        Q_EMIT credentialRemoved(id);
    return {};
}

void CredentialsModel::reloadTrustedOperators()
{
    QList<CheckedAgent> checked;
    for (const client::AgentRow &agent : std::as_const(m_agents))
        checked.append(m_verifier.checkAgent(agent));
    m_queue->setTrustedKeys(m_verifier.trustedKeys());
    m_queue->setAgents(std::move(checked));
    m_verifier.saveKnownAgents();
    m_queue->setKnownAgents(m_verifier.knownAgents());
    requestVerification(m_order);
}

void CredentialsModel::requestVerification(const QStringList &credentialIds)
{
    QList<VerificationRequest> requests;
    requests.reserve(credentialIds.size());
    for (const QString &id : credentialIds) {
        Entry &entry = m_entries[id];
        entry.sentSequence = ++m_sequence;
        requests.append(VerificationRequest { id, entry.sentSequence, entry.credential });
    }
    m_queue->request(std::move(requests));
}

void CredentialsModel::enqueue(const QJsonObject &event)
{
    m_batch.append(event);
}

void CredentialsModel::applyQueuedEvents()
{
    const QList<QJsonObject> events = m_batch.take();
    if (events.isEmpty())
        return;
    applyBatch(events);
    Q_EMIT batchApplied(static_cast<int>(events.size()));
}

void CredentialsModel::flush()
{
    applyQueuedEvents();
    m_queue->waitUntilIdle();
    applyResults();
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

    auto found = m_entries.find(id);
    if (found == m_entries.end()) {
        // Results requested for an earlier credential of this id are dropped.
        found = m_entries.insert(id, Entry {});
        found->shownSequence = m_sequence;
    }

    // The event's credential carries `sync` but usually no `agents` rows, so
    // the rows known so far are kept and the one agent's change is applied.
    QJsonObject &stored = found->credential;
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
    m_agents.insert(agent.value().agentId, agent.value());
    m_queue->updateAgent(m_verifier.checkAgent(agent.value()));
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
    // An agent's certificate or status counts for every credential, and a
    // newly certified agent may have joined the known-agent list.
    if (agentsChanged) {
        m_verifier.saveKnownAgents();
        m_queue->setKnownAgents(m_verifier.knownAgents());
        for (const QString &id : std::as_const(m_order)) {
            if (!removed.contains(id))
                changed.insert(id);
        }
    }

    removeRows(removed);

    QStringList added;
    for (const QString &id : std::as_const(changed)) {
        Entry &entry = m_entries[id];
        if (!entry.listed) {
            entry.state = CredentialSyncState::awaitingVerification(entry.credential);
            entry.listed = true;
            added.append(id);
        }
    }
    requestVerification(QStringList(changed.cbegin(), changed.cend()));

    if (added.size() > kMaxInsertsPerBatch) {
        beginResetModel();
        m_order.append(added);
        sortRows();
        endResetModel();
        return;
    }
    insertRows(added);
}

void CredentialsModel::applyResults()
{
    const QList<VerificationResult> results = m_queue->takeResults();
    if (results.isEmpty())
        return;

    QSet<QString> updated;
    QStringList applied;
    for (const VerificationResult &result : results) {
        const auto found = m_entries.find(result.credentialId);
        if (found == m_entries.end() || result.sequence <= found->shownSequence)
            continue;
        found->shownSequence = result.sequence;
        if (!(result.state == found->state))
            updated.insert(result.credentialId);
        found->state = result.state;
        found->verified = VerifiedCredential { result.credential, result.verification,
                                               result.state };
        applied.append(result.credentialId);
    }

    emitUpdated(updated);
    if (!applied.isEmpty())
        Q_EMIT verified(applied);
}

// Re-sorts the rows and emits one dataChanged over the span of rows whose
// credential or state changed. Moved rows are reported as changed data, not
// as a layout change, because QSortFilterProxyModel (Qt 6.4) forwards a
// layout change without its VerticalSortHint, and QML's DelegateModel
// handles that as a reset that recreates every delegate. With 10,000 rows
// each such reset cost the GUI thread about 200 ms of CPU in bench/console.
// NOTE: a persistent index therefore keeps its row, not its credential, when
// the rows are re-sorted.
void CredentialsModel::emitUpdated(const QSet<QString> &updated)
{
    if (updated.isEmpty())
        return;

    // Only the updated rows can be out of order, so the others stay sorted
    // and one merge places the updated rows: O(n + k log k) comparisons
    // instead of a full sort.
    const auto isLess = [this](const QString &a, const QString &b) {
        return lessThan(a, b);
    };
    QStringList unchanged;
    QStringList changed;
    unchanged.reserve(m_order.size());
    for (const QString &id : std::as_const(m_order))
        (updated.contains(id) ? changed : unchanged).append(id);
    std::sort(changed.begin(), changed.end(), isLess);
    QStringList sorted;
    sorted.reserve(m_order.size());
    std::merge(unchanged.cbegin(), unchanged.cend(), changed.cbegin(), changed.cend(),
               std::back_inserter(sorted), isLess);

    int first = static_cast<int>(m_order.size());
    int last = -1;
    for (qsizetype row = 0; row < sorted.size(); ++row) {
        const QString &id = sorted.at(row);
        if (id != m_order.at(row) || updated.contains(id)) {
            first = std::min(first, static_cast<int>(row));
            last = std::max(last, static_cast<int>(row));
        }
    }
    m_order = std::move(sorted);
    if (last >= 0)
        Q_EMIT dataChanged(index(first), index(last));
}

void CredentialsModel::removeRows(const QSet<QString> &removed)
{
    QList<int> rows;
    QStringList removedIds;
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
        for (int row = last; row >= first; --row) {
            removedIds.append(m_order.at(row));
            m_entries.remove(m_order.takeAt(row));
        }
        endRemoveRows();
        ++i;
    }
    for (const QString &id : std::as_const(removedIds))
        Q_EMIT credentialRemoved(id);
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
