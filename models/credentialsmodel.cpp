// Credentials table model: snapshot loading, batched event application,
// verification on the worker thread and problems-first ordering.
#include "credentialsmodel.h"

#include "verificationworker.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QJsonArray>
#include <QSet>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// Above this many new credentials in one batch a model reset is cheaper for
// views than one insert per row.
constexpr qsizetype kMaxInsertsPerBatch = 64;

// Maximum dataChanged signals for one set of updated rows.
constexpr qsizetype kMaxRangesPerUpdate = 16;

// Orders the rows of the table by problem rank (problems first), then by
// name ignoring case, then by credential id.
bool rowLess(const CredentialSyncState &a, const QString &aId, const CredentialSyncState &b,
             const QString &bId)
{
    if (a.problemRank() != b.problemRank())
        return a.problemRank() < b.problemRank();
    if (const int byName = a.name.compare(b.name, Qt::CaseInsensitive); byName != 0)
        return byName < 0;
    return aId < bId;
}

// Returns the runs of consecutive true values of `changed`, as first and
// last row where `changed[0]` is row `firstRow`. Above kMaxRangesPerUpdate
// runs, runs separated by the fewest unchanged rows are joined, because
// every dataChanged costs each proxy and view a pass of its own.
QList<std::pair<int, int>> changedRanges(const std::vector<bool> &changed, int firstRow)
{
    QList<std::pair<int, int>> ranges;
    for (size_t i = 0; i < changed.size(); ++i) {
        if (!changed[i])
            continue;
        const int row = firstRow + static_cast<int>(i);
        if (!ranges.isEmpty() && ranges.last().second == row - 1)
            ranges.last().second = row;
        else
            ranges.append({ row, row });
    }

    int joinGap = 1;
    while (ranges.size() > kMaxRangesPerUpdate) {
        QList<std::pair<int, int>> joined;
        for (const auto &range : std::as_const(ranges)) {
            if (!joined.isEmpty() && range.first - joined.last().second - 1 <= joinGap)
                joined.last().second = range.second;
            else
                joined.append(range);
        }
        ranges = std::move(joined);
        joinGap *= 2;
    }
    return ranges;
}

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

    m_snapshotTimer.setSingleShot(true);
    m_snapshotTimer.setInterval(0);
    connect(&m_snapshotTimer, &QTimer::timeout, this, &CredentialsModel::applySnapshotStep);
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
    return roleNameTable();
}

QHash<int, QByteArray> CredentialsModel::roleNameTable()
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

bool CredentialsModel::awaitsResult(const Entry &entry)
{
    return entry.sentSequence > entry.shownSequence;
}

void CredentialsModel::setSequences(Entry &entry, quint64 sent, quint64 shown)
{
    const bool before = awaitsResult(entry);
    entry.sentSequence = sent;
    entry.shownSequence = shown;
    m_awaitingResults += int(awaitsResult(entry)) - int(before);
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
    return rowLess(m_entries.constFind(left)->state, left, m_entries.constFind(right)->state,
                   right);
}

QStringList::const_iterator CredentialsModel::lowerBoundRow(QStringList::const_iterator first,
                                                            QStringList::const_iterator last,
                                                            const QString &id,
                                                            const CredentialSyncState &state) const
{
    const auto rowBefore = [this, &state](const QString &rowId, const QString &searched) {
        return rowLess(m_entries.constFind(rowId)->state, rowId, state, searched);
    };
    return std::lower_bound(first, last, id, rowBefore);
}

void CredentialsModel::sortRows()
{
    std::sort(m_order.begin(), m_order.end(),
              [this](const QString &a, const QString &b) { return lessThan(a, b); });
}

PreparedSnapshot CredentialsModel::prepareSnapshot(const QJsonObject &snapshot)
{
    PreparedSnapshot prepared;
    const QJsonObject data = eventData(snapshot);
    Result<QList<client::AgentRow>> agents = client::parseAgentList(data);
    if (!agents) {
        prepared.error = agents.error();
        return prepared;
    }
    prepared.agents = std::move(agents).value();

    const QJsonArray credentials = data.value(u"credentials"_s).toArray();
    prepared.credentials.reserve(credentials.size());
    for (const QJsonValue &value : credentials) {
        QJsonObject credential = value.toObject();
        QString id = credential.value(u"credential_id"_s).toString();
        if (id.isEmpty() || prepared.credentialIds.contains(id))
            continue;
        prepared.credentialIds.insert(id);
        CredentialSyncState awaiting = CredentialSyncState::awaitingVerification(credential);
        prepared.credentials.append(
            PreparedCredential { std::move(id), std::move(credential), std::move(awaiting) });
    }
    std::sort(prepared.credentials.begin(), prepared.credentials.end(),
              [](const PreparedCredential &a, const PreparedCredential &b) {
                  return rowLess(a.awaiting, a.credentialId, b.awaiting, b.credentialId);
              });
    return prepared;
}

void CredentialsModel::setAgents(const QList<client::AgentRow> &agents)
{
    m_agents.clear();
    for (const client::AgentRow &agent : agents)
        m_agents.insert(agent.agentId, agent);
    QList<CheckedAgent> checked = m_verifier.checkAgents(agents);
    m_queue->setTrustedKeys(m_verifier.trustedKeys());
    m_queue->setAgents(std::move(checked));
    m_verifier.saveKnownAgents();
    m_queue->setKnownAgents(m_verifier.knownAgents());
}

Result<void> CredentialsModel::loadSnapshot(const QJsonObject &snapshot)
{
    const PreparedSnapshot prepared = prepareSnapshot(snapshot);
    if (prepared.error)
        return *prepared.error;
    cancelSnapshotSteps();
    setAgents(prepared.agents);

    // A credential listed before keeps its verified state until the new
    // result arrives, so a reconnect does not flash every chip.
    QHash<QString, Entry> entries;
    QStringList order;
    entries.reserve(prepared.credentials.size());
    order.reserve(prepared.credentials.size());
    for (const PreparedCredential &credential : prepared.credentials) {
        Entry entry;
        const auto previous = m_entries.constFind(credential.credentialId);
        if (previous != m_entries.constEnd() && previous->verified) {
            entry.verified = previous->verified;
            entry.state = previous->state;
            entry.shownSequence = previous->shownSequence;
        } else {
            entry.state = credential.awaiting;
            entry.shownSequence = m_sequence;
        }
        entry.credential = credential.credential;
        entry.listed = true;
        entries.insert(credential.credentialId, std::move(entry));
        order.append(credential.credentialId);
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
    recountTotals();
    endResetModel();

    requestVerification(m_order);
    for (const QString &id : std::as_const(removed))
        Q_EMIT credentialRemoved(id);
    return {};
}

void CredentialsModel::loadSnapshotInSteps(const QJsonObject &snapshot)
{
    cancelSnapshotSteps();
    const quint64 load = ++m_snapshotLoad;
    m_snapshotLoading = true;
    m_batch.clear();

    auto *watcher = new QFutureWatcher<PreparedSnapshot>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, load] {
        watcher->deleteLater();
        // flush() may have taken the result already, or a newer load began.
        if (load != m_snapshotLoad || !m_preparing)
            return;
        m_preparing.reset();
        startSnapshotSteps(watcher->result());
    });
    m_preparing = QtConcurrent::run(&CredentialsModel::prepareSnapshot, snapshot);
    watcher->setFuture(*m_preparing);
}

// Takes the agents and removes the rows the snapshot no longer lists, then
// starts the steps that insert and update the others.
void CredentialsModel::startSnapshotSteps(PreparedSnapshot snapshot)
{
    if (snapshot.error) {
        m_snapshotLoading = false;
        Q_EMIT snapshotRejected(snapshot.error->message);
        applyQueuedEvents();
        return;
    }
    setAgents(snapshot.agents);

    QSet<QString> removed;
    for (const QString &id : std::as_const(m_order)) {
        if (!snapshot.credentialIds.contains(id))
            removed.insert(id);
    }
    removeRows(removed);

    m_snapshot = std::move(snapshot);
    m_snapshotNext = 0;
    m_snapshotTimer.setInterval(0);
    m_snapshotTimer.start();
}

// Inserts or updates the next credentials of the snapshot, chunk by chunk,
// and sends them for verification. A step stops after kSnapshotRowsPerStep
// rows, or after the chunk that ends kSnapshotStepBudget after the step
// began, so chunks that cost more leave the rest to a later turn.
//
// The first kSnapshotPacedRows rows of the snapshot are the top of the
// table, which a view shows. A list view creates a delegate for each of
// them in its next frame, not in the insert, so the time budget does not see
// that cost. In bench/console the first 250 rows made one frame of about
// 20 ms of CPU. These rows are therefore inserted kSnapshotPacedStepRows per
// step, one step per kSnapshotPacedInterval, so that a frame can come
// between two steps.
// NOTE: once results move verified rows below the rows still verifying,
// later steps insert at the top again, which the pacing does not cover. The
// credentials view reuses the delegates that such an insert pushes out of
// view. In bench_console_rows a frame after 25 rows inserted at the top
// cost about 6 ms of CPU with reuse and 15 to 18 ms without it.
void CredentialsModel::applySnapshotStep()
{
    if (!m_snapshot)
        return;
    QElapsedTimer elapsed;
    elapsed.start();
    const bool paced = m_snapshotNext < kSnapshotPacedRows;
    const qsizetype stepEnd =
        std::min(m_snapshotNext + (paced ? kSnapshotPacedStepRows : kSnapshotRowsPerStep),
                 m_snapshot->credentials.size());
    while (m_snapshotNext < stepEnd) {
        applySnapshotChunk(std::min(m_snapshotNext + kSnapshotRowsPerChunk, stepEnd));
        if (elapsed.elapsed() >= kSnapshotStepBudget.count())
            break;
    }

    if (m_snapshotNext < m_snapshot->credentials.size()) {
        m_snapshotTimer.setInterval(m_snapshotNext < kSnapshotPacedRows
                                            ? kSnapshotPacedInterval
                                            : std::chrono::milliseconds(0));
        m_snapshotTimer.start();
    } else {
        finishSnapshotSteps();
    }
}

// Inserts or updates the credentials of the snapshot from m_snapshotNext up
// to `end` and sends them for verification.
void CredentialsModel::applySnapshotChunk(qsizetype end)
{

    // Listed rows without a verified state take the snapshot's state, so
    // their rows are found before any state changes.
    QStringList unverifiedIds;
    for (qsizetype i = m_snapshotNext; i < end; ++i) {
        const auto found = m_entries.constFind(m_snapshot->credentials.at(i).credentialId);
        if (found != m_entries.constEnd() && !found->verified)
            unverifiedIds.append(found.key());
    }
    const QHash<QString, int> previousRows = rowsOf(unverifiedIds);

    QStringList added;
    QStringList requested;
    requested.reserve(end - m_snapshotNext);
    for (qsizetype i = m_snapshotNext; i < end; ++i) {
        const PreparedCredential &prepared = m_snapshot->credentials.at(i);
        const QString &id = prepared.credentialId;
        auto found = m_entries.find(id);
        if (found == m_entries.end()) {
            Entry entry;
            entry.credential = prepared.credential;
            entry.state = prepared.awaiting;
            entry.shownSequence = m_sequence;
            entry.listed = true;
            found = m_entries.insert(id, std::move(entry));
            countEntry(*found, 1);
            added.append(id);
        } else if (found->verified) {
            // The row keeps its verified state until the new result arrives.
            found->credential = prepared.credential;
        } else {
            countEntry(*found, -1);
            found->credential = prepared.credential;
            found->state = prepared.awaiting;
            setSequences(*found, found->sentSequence, m_sequence);
            countEntry(*found, 1);
        }
        requested.append(id);
    }

    // emitUpdated() re-sorts the listed rows first, because the inserts
    // search the row order for their places.
    emitUpdated(previousRows);
    insertSortedRows(added);
    requestVerification(requested);
    m_snapshotNext = end;
}

void CredentialsModel::finishSnapshotSteps()
{
    m_snapshotTimer.stop();
    m_snapshot.reset();
    m_snapshotNext = 0;
    m_snapshotLoading = false;
    Q_EMIT snapshotLoaded();
    applyQueuedEvents();
}

void CredentialsModel::cancelSnapshotSteps()
{
    m_snapshotTimer.stop();
    m_preparing.reset();
    m_snapshot.reset();
    m_snapshotNext = 0;
    m_snapshotLoading = false;
}

void CredentialsModel::countEntry(const Entry &entry, int sign)
{
    if (!entry.listed)
        return;
    const CredentialSyncState &state = entry.state;
    const bool badged = state.integrityFailure || state.unprotected;
    const bool problem = state.stalled || state.chip != SyncChip::Synced || badged;
    m_stalledCount += state.stalled ? sign : 0;
    m_problemCount += problem ? sign : 0;
    if (!entry.verified)
        return;
    for (const AgentSyncResult &agent : entry.verified->verification.agents) {
        auto holdings = m_holdings.find(agent.agentId);
        if (holdings == m_holdings.end())
            holdings = m_holdings.insert(agent.agentId, AgentHoldings {});
        holdings->inScope += sign;
        if (agent.status == AgentSyncStatus::Synced)
            holdings->held += sign;
        if (holdings->inScope == 0 && holdings->held == 0)
            m_holdings.erase(holdings);
    }
}

// Removes the entry of a listed credential and its share of the totals.
void CredentialsModel::forgetEntry(const QString &credentialId)
{
    const auto found = m_entries.constFind(credentialId);
    countEntry(*found, -1);
    m_awaitingResults -= awaitsResult(*found) ? 1 : 0;
    m_entries.erase(found);
}

void CredentialsModel::recountTotals()
{
    m_stalledCount = 0;
    m_problemCount = 0;
    m_awaitingResults = 0;
    m_holdings.clear();
    for (const Entry &entry : std::as_const(m_entries)) {
        countEntry(entry, 1);
        m_awaitingResults += awaitsResult(entry) ? 1 : 0;
    }
}

void CredentialsModel::reloadTrustedOperators()
{
    setAgents(m_agents.values());
    requestVerification(m_order);
}

void CredentialsModel::requestVerification(const QStringList &credentialIds)
{
    QList<VerificationRequest> requests;
    requests.reserve(credentialIds.size());
    for (const QString &id : credentialIds) {
        Entry &entry = m_entries[id];
        setSequences(entry, ++m_sequence, entry.shownSequence);
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
    // Events that arrived after a snapshot wait until it is loaded.
    if (m_snapshotLoading)
        return;
    const QList<QJsonObject> events = m_batch.take();
    if (events.isEmpty())
        return;
    applyBatch(events);
    Q_EMIT batchApplied(static_cast<int>(events.size()));
}

void CredentialsModel::flush()
{
    if (m_preparing) {
        PreparedSnapshot prepared = m_preparing->result();
        m_preparing.reset();
        startSnapshotSteps(std::move(prepared));
    }
    while (m_snapshot)
        applySnapshotStep();
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
            countEntry(entry, 1);
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

    // The rows of the credentials whose state changes are found while the
    // rows are still sorted by the states they show.
    QStringList changedIds;
    for (const VerificationResult &result : results) {
        const auto found = m_entries.constFind(result.credentialId);
        if (found != m_entries.constEnd() && result.sequence > found->shownSequence
            && !(result.state == found->state))
            changedIds.append(result.credentialId);
    }
    const QHash<QString, int> previousRows = rowsOf(changedIds);

    QStringList applied;
    for (const VerificationResult &result : results) {
        const auto found = m_entries.find(result.credentialId);
        if (found == m_entries.end() || result.sequence <= found->shownSequence)
            continue;
        setSequences(*found, found->sentSequence, result.sequence);
        countEntry(*found, -1);
        found->state = result.state;
        found->verified = VerifiedCredential { result.credential, result.verification,
                                               result.state };
        countEntry(*found, 1);
        applied.append(result.credentialId);
    }

    emitUpdated(previousRows);
    if (!applied.isEmpty())
        Q_EMIT verified(applied);
}

// Re-sorts the updated rows and emits dataChanged for each run of rows that
// now show another credential or an updated one. Moved rows are reported
// as changed data, not as a layout change, because QSortFilterProxyModel
// (Qt 6.4) forwards a layout change without its VerticalSortHint, and QML's
// DelegateModel handles that as a reset that recreates every delegate. With
// 10,000 rows each such reset cost the GUI thread about 200 ms of CPU in
// bench/console.
// NOTE: a persistent index therefore keeps its row, not its credential, when
// the rows are re-sorted.
void CredentialsModel::emitUpdated(const QHash<QString, int> &previousRows)
{
    if (previousRows.isEmpty())
        return;

    // Only the updated rows can be out of order. The others stay sorted, so
    // a binary search among them places each updated row. That costs O(n)
    // list copies and O(k log n) comparisons, each of which looks up two
    // entries. The scan it replaces looked up every row's entry, and it took
    // about a third of the GUI thread's CPU time in a perf recording of
    // bench/console with 10,000 rows.
    const auto isLess = [this](const QString &a, const QString &b) { return lessThan(a, b); };
    QList<int> oldRows = previousRows.values();
    std::sort(oldRows.begin(), oldRows.end());
    QStringList moved = previousRows.keys();
    std::sort(moved.begin(), moved.end(), isLess);

    QStringList others;
    others.reserve(m_order.size() - oldRows.size());
    qsizetype nextOld = 0;
    for (qsizetype row = 0; row < m_order.size(); ++row) {
        if (nextOld < oldRows.size() && oldRows.at(nextOld) == row)
            ++nextOld;
        else
            others.append(m_order.at(row));
    }

    QStringList sorted;
    sorted.reserve(m_order.size());
    QList<int> newRows;
    newRows.reserve(moved.size());
    qsizetype copied = 0;
    for (const QString &id : std::as_const(moved)) {
        const auto position = lowerBoundRow(others.cbegin() + copied, others.cend(), id,
                                            m_entries.constFind(id)->state);
        const qsizetype end = position - others.cbegin();
        for (; copied < end; ++copied)
            sorted.append(others.at(copied));
        newRows.append(static_cast<int>(sorted.size()));
        sorted.append(id);
    }
    for (; copied < others.size(); ++copied)
        sorted.append(others.at(copied));

    // A row changed when it shows another credential than before or an
    // updated one. Only rows between the first and the last old or new place
    // of an updated row can have changed.
    const int first = std::min(oldRows.first(), newRows.first());
    const int last = std::max(oldRows.last(), newRows.last());
    std::vector<bool> changed(static_cast<size_t>(last - first + 1), false);
    for (const int row : std::as_const(newRows))
        changed[static_cast<size_t>(row - first)] = true;
    for (int row = first; row <= last; ++row) {
        if (m_order.at(row) != sorted.at(row))
            changed[static_cast<size_t>(row - first)] = true;
    }
    m_order = std::move(sorted);

    for (const auto &[runFirst, runLast] : changedRanges(changed, first))
        Q_EMIT dataChanged(index(runFirst), index(runLast));
}

// Returns the row of each listed id of `ids`. Call it while the rows are
// still sorted by the states they show, before any of those states changes.
QHash<QString, int> CredentialsModel::rowsOf(const QStringList &ids) const
{
    QHash<QString, int> rows;
    rows.reserve(ids.size());
    for (const QString &id : ids) {
        const auto found = m_entries.constFind(id);
        if (found == m_entries.constEnd() || rows.contains(id))
            continue;
        const auto position = lowerBoundRow(m_order.cbegin(), m_order.cend(), id, found->state);
        if (position != m_order.cend() && *position == id)
            rows.insert(id, static_cast<int>(position - m_order.cbegin()));
    }
    return rows;
}

void CredentialsModel::removeRows(const QSet<QString> &removed)
{
    if (removed.isEmpty())
        return;
    QList<int> rows;
    QStringList removedIds;
    for (qsizetype row = 0; row < m_order.size(); ++row) {
        if (removed.contains(m_order.at(row))) {
            rows.append(static_cast<int>(row));
            removedIds.append(m_order.at(row));
        }
    }
    // Credentials created and deleted within one batch have no row.
    for (const QString &id : removed) {
        const auto found = m_entries.constFind(id);
        if (found != m_entries.constEnd() && !found->listed) {
            m_awaitingResults -= awaitsResult(*found) ? 1 : 0;
            m_entries.erase(found);
        }
    }

    // Contiguous rows are removed together, from the bottom up. Above
    // kMaxInsertsPerBatch separate ranges one reset is cheaper for views.
    QList<std::pair<int, int>> ranges; // first and last row, bottom range first
    for (qsizetype i = rows.size() - 1; i >= 0; --i) {
        if (!ranges.isEmpty() && ranges.last().first == rows.at(i) + 1)
            ranges.last().first = rows.at(i);
        else
            ranges.append({ rows.at(i), rows.at(i) });
    }
    if (ranges.size() > kMaxInsertsPerBatch) {
        beginResetModel();
        for (const QString &id : std::as_const(removedIds))
            forgetEntry(id);
        m_order.removeIf([&removed](const QString &id) { return removed.contains(id); });
        endResetModel();
    } else {
        for (const auto &[first, last] : std::as_const(ranges)) {
            beginRemoveRows({}, first, last);
            for (int row = last; row >= first; --row) {
                forgetEntry(m_order.takeAt(row));
            }
            endRemoveRows();
        }
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

// Inserts the rows of `added`, which must be sorted by lessThan(). Their
// places in the row order never decrease, so ids that fall between the same
// two rows are inserted with one beginInsertRows().
void CredentialsModel::insertSortedRows(const QStringList &added)
{
    const auto isLess = [this](const QString &a, const QString &b) { return lessThan(a, b); };
    qsizetype next = 0;
    qsizetype searchFrom = 0;
    while (next < added.size()) {
        const auto position =
            std::lower_bound(m_order.cbegin() + searchFrom, m_order.cend(), added.at(next), isLess);
        const qsizetype row = position - m_order.cbegin();
        qsizetype end = next + 1;
        while (end < added.size() && (row == m_order.size() || lessThan(added.at(end), m_order.at(row))))
            ++end;
        const qsizetype count = end - next;

        beginInsertRows({}, static_cast<int>(row), static_cast<int>(row + count - 1));
        m_order.insert(row, count, QString());
        for (qsizetype i = 0; i < count; ++i)
            m_order[row + i] = added.at(next + i);
        endInsertRows();

        searchFrom = row + count;
        next = end;
    }
}

} // namespace sealrelay::models
