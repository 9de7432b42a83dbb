// SyncEngine: routing of agents' replies to running syncs, the checks of
// unsolicited responses, uploads and retries, and the shared audit, alert and
// failure bookkeeping.
#include "syncengine.h"

#include "backfill.h"
#include "digest.h"
#include "metrics.h"
#include "reconciler.h"
#include "rowjson.h"
#include "settings.h"
#include "syncsupport.h"
#include "synctask.h"

#include <QJsonDocument>

#include <utility>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay::backend::sync;

namespace sealrelay::backend {

QString syncTriggerName(SyncTrigger trigger)
{
    switch (trigger) {
    case SyncTrigger::Upload:
        return u"upload"_s;
    case SyncTrigger::Backfill:
        return u"backfill"_s;
    case SyncTrigger::Jit:
        return u"jit"_s;
    case SyncTrigger::Reconciler:
        return u"reconciler"_s;
    case SyncTrigger::Retry:
        return u"retry"_s;
    }
    return u"unknown"_s;
}

QByteArray SyncOutcome::toJson() const
{
    static const char *const results[] = { "delivered", "applied", "up_to_date", "failed" };
    return QJsonDocument(QJsonObject { { u"result"_s, QLatin1StringView(results[int(result)]) },
                                       { u"audit_outcome"_s, auditOutcome },
                                       { u"public_reason"_s, reasonName(publicReason) },
                                       { u"error"_s, error } })
        .toJson(QJsonDocument::Compact);
}

std::optional<SyncOutcome> SyncOutcome::fromJson(const QByteArray &json)
{
    const QJsonObject object = QJsonDocument::fromJson(json).object();
    static const QHash<QString, SyncResult> results { { u"delivered"_s, SyncResult::Delivered },
                                                      { u"applied"_s, SyncResult::Applied },
                                                      { u"up_to_date"_s, SyncResult::UpToDate },
                                                      { u"failed"_s, SyncResult::Failed } };
    const auto result = results.constFind(object.value(u"result"_s).toString());
    const auto reason = reasonFromName(object.value(u"public_reason"_s).toString());
    if (result == results.constEnd() || !reason)
        return std::nullopt;
    SyncOutcome outcome;
    outcome.result = result.value();
    outcome.auditOutcome = object.value(u"audit_outcome"_s).toString();
    outcome.publicReason = *reason;
    outcome.error = object.value(u"error"_s).toString();
    return outcome;
}

QJsonObject agentSyncJson(const AgentSyncState &state, AgentStatus status)
{
    const QString connection = !state.connected ? u"offline"_s
        : state.backfilling                     ? u"backfilling"_s
                                                : u"online"_s;
    return QJsonObject { { u"connection"_s, connection },
                         { u"eligible_for_work"_s,
                           status == AgentStatus::Approved && connection == u"online"_s },
                         { u"backfill_done"_s, state.backfillDone },
                         { u"backfill_total"_s, state.backfillTotal } };
}

SyncOptions syncOptionsFrom(const BackendSettings &settings, const QString &replicaId)
{
    using std::chrono::milliseconds;
    SyncOptions options;
    options.replicaId = replicaId;
    options.dispatchMaxPeers = settings.dispatchMaxPeers;
    options.peerTimeout = milliseconds(settings.dispatchPeerTimeoutMs);
    options.lockTtl = milliseconds(settings.lockTtlMs);
    options.lockRenew = milliseconds(settings.lockRenewMs);
    options.reconcilerInterval = milliseconds(settings.reconcilerIntervalMs);
    options.reconcilerLockTtl = milliseconds(settings.reconcilerLockTtlMs);
    options.reconcilerBatchRows = settings.reconcilerBatchRows;
    QList<milliseconds> delays;
    for (const qint64 delay : settings.backoffScheduleMs)
        delays.append(milliseconds(delay));
    options.backoff = BackoffSchedule(delays, settings.maxDeliveryAttempts);
    options.stalledDedupe = milliseconds(settings.stalledDedupeMs);
    options.jitPerMinute = settings.jitPerMinute;
    options.jitFloodThreshold = settings.jitFloodThreshold;
    options.jitFloodWindow = milliseconds(settings.jitFloodWindowMs);
    options.backfillConcurrency = settings.backfillConcurrency;
    options.reconnectLimitPerMinute = settings.reconnectLimitPerMinute;
    options.reconnectMaxWait = milliseconds(settings.reconnectMaxWaitMs);
    options.commitmentFloodThreshold = settings.commitmentFloodThreshold;
    options.commitmentFloodWindow = milliseconds(settings.commitmentFloodWindowMs);
    options.blocklistTtl = milliseconds(settings.blocklistTtlMs);
    return options;
}

SyncEngine::SyncEngine(Storage &storage, CoordinationStore &store, AgentLink link, Metrics &metrics,
                       SyncOptions options, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_store(store)
    , m_link(std::move(link))
    , m_metrics(metrics)
    , m_options(std::move(options))
{
    m_reconciler = std::make_unique<Reconciler>(*this);
    m_checkThread.setMaxThreadCount(1);
    m_checkThread.setObjectName(u"sync-checks"_s);
}

SyncEngine::~SyncEngine()
{
    stop();
    // A check that finishes now posts its report to this engine, and the
    // report is dropped with the engine's other posted events.
    m_checkThread.waitForDone();
}

void SyncEngine::start()
{
    m_stopped = false;
    m_reconciler->start();
}

void SyncEngine::stop()
{
    if (m_stopped)
        return;
    m_stopped = true;
    m_reconciler->stop();
    // Paused backfills start nothing when the abandoned syncs report back.
    for (Backfill *backfill : std::as_const(m_backfills))
        backfill->pause();
    m_deferred.clear();
    const QList<SyncTask *> tasks = m_tasks.values();
    for (SyncTask *task : tasks)
        task->abandon();
    qDeleteAll(m_backfills);
    m_backfills.clear();
}

QDateTime SyncEngine::now() const
{
    return m_options.clock ? m_options.clock() : QDateTime::currentDateTimeUtc();
}

QString SyncEngine::rowKey(const QString &orgId, const QString &credentialId,
                           const QString &agentId)
{
    return orgId + u'/' + credentialId + u'/' + agentId;
}

QString SyncEngine::agentKey(const QString &orgId, const QString &agentId)
{
    return orgId + u'/' + agentId;
}

bool SyncEngine::isConnected(const QString &orgId, const QString &agentId) const
{
    return m_link.isConnected && m_link.isConnected(orgId, agentId);
}

QHash<QString, int> SyncEngine::rewrapsAwaitingReply() const
{
    QHash<QString, int> waiting;
    for (const QPointer<SyncTask> &task : m_byRequestId) {
        if (task)
            ++waiting[task->currentPeer()];
    }
    return waiting;
}

bool SyncEngine::creatorDeliveryRunning(const QString &orgId, const QString &credentialId,
                                        const QString &exceptAgent) const
{
    for (const SyncTask *task : m_tasks) {
        if (task->orgId() == orgId && task->credentialId() == credentialId
            && task->targetId() != exceptAgent && task->mayDeliverFromCreator())
            return true;
    }
    return false;
}

bool SyncEngine::sendTo(const QString &orgId, const QString &agentId, const AgentMessage &message)
{
    return m_link.send && m_link.send(orgId, agentId, message);
}

// ---- Messages ---------------------------------------------------------------

void SyncEngine::handleMessage(const QString &orgId, const QString &agentId,
                               const AgentMessage &message)
{
    if (m_stopped)
        return;
    if (const auto *response = std::get_if<RewrapResponse>(&message))
        handleRewrapResponse(orgId, agentId, *response);
    else if (const auto *refused = std::get_if<RewrapRefused>(&message))
        handleRewrapRefused(orgId, agentId, *refused);
    else if (const auto *stored = std::get_if<CredentialStored>(&message))
        handleCredentialStored(orgId, agentId, *stored);
    else if (const auto *failure = std::get_if<CredentialIntegrityFailure>(&message))
        handleIntegrityFailure(orgId, agentId, *failure);
    else if (const auto *applied = std::get_if<StatementApplied>(&message))
        handleStatementApplied(orgId, agentId, *applied);
    else if (const auto *missing = std::get_if<CredentialMissing>(&message))
        handleCredentialMissing(orgId, agentId, *missing);
    else if (const auto *registration = std::get_if<Register>(&message))
        handleRegister(orgId, agentId, *registration);
}

void SyncEngine::auditUnsolicited(const QString &orgId, const QString &senderId,
                                  const QString &requestId, const QString &reason,
                                  const QJsonObject &details)
{
    QJsonObject all = details;
    all.insert(u"request_id"_s, requestId);
    all.insert(u"sender_agent_id"_s, senderId);
    log()->warn("unsolicited rewrap response {} from agent {}: {}; nothing relayed",
                text(requestId), text(senderId), text(reason));
    audit(AuditEntry { orgId, u"rewrap_response_unsolicited"_s, u"agent:"_s + senderId,
                       details.value(u"credential_id"_s).toString().isEmpty()
                           ? std::nullopt
                           : std::optional<QString>(details.value(u"credential_id"_s).toString()),
                       senderId, std::nullopt, u"rejected"_s, reason, compactJson(all) });
}

void SyncEngine::handleRewrapResponse(const QString &orgId, const QString &agentId,
                                      const RewrapResponse &response)
{
    const QJsonObject details { { u"credential_id"_s, response.credentialId },
                                { u"target_agent_id"_s, response.targetAgentId } };
    SyncTask *task = m_byRequestId.value(response.requestId);
    if (!task || task->orgId() != orgId) {
        if (routeRewrapReply(orgId, agentId, response.requestId, response.credentialId,
                             response.targetAgentId, response))
            return;
        auditUnsolicited(orgId, agentId, response.requestId, u"UNKNOWN_REQUEST"_s, details);
        return;
    }
    // Binding 1: only the peer that received the request may respond, and
    // the dispatch stays pending for that peer.
    if (task->currentPeer() != agentId) {
        auditUnsolicited(orgId, agentId, response.requestId, u"WRONG_SENDER"_s, details);
        return;
    }
    task->onRewrapResponse(agentId, response);
}

void SyncEngine::handleRewrapRefused(const QString &orgId, const QString &agentId,
                                     const RewrapRefused &refused)
{
    SyncTask *task = m_byRequestId.value(refused.requestId);
    const QJsonObject details { { u"credential_id"_s, refused.credentialId },
                                { u"target_agent_id"_s, refused.targetAgentId },
                                { u"refusal"_s, reasonName(refused.reason) } };
    if (!task || task->orgId() != orgId) {
        if (routeRewrapReply(orgId, agentId, refused.requestId, refused.credentialId,
                             refused.targetAgentId, refused))
            return;
        auditUnsolicited(orgId, agentId, refused.requestId, u"UNKNOWN_REQUEST"_s, details);
        return;
    }
    if (task->currentPeer() != agentId) {
        auditUnsolicited(orgId, agentId, refused.requestId, u"WRONG_SENDER"_s, details);
        return;
    }
    task->onRewrapRefused(agentId, refused);
}

void SyncEngine::handleMalformedRewrapResponse(const QString &orgId, const QString &agentId,
                                               const QString &requestId, const QString &problem)
{
    SyncTask *task = m_byRequestId.value(requestId);
    QJsonObject details { { u"problem"_s, problem } };
    if (task && task->orgId() == orgId) {
        details.insert(u"credential_id"_s, task->credentialId());
        details.insert(u"target_agent_id"_s, task->targetId());
    }
    if (task && task->orgId() == orgId && task->currentPeer() != agentId) {
        auditUnsolicited(orgId, agentId, requestId, u"WRONG_SENDER"_s, details);
        return;
    }
    auditUnsolicited(
        orgId, agentId, requestId,
        task && task->orgId() == orgId ? u"MALFORMED_ENVELOPE"_s : u"UNKNOWN_REQUEST"_s, details);
    if (task && task->orgId() == orgId)
        task->onMalformedRewrapResponse(agentId, problem);
}

void SyncEngine::handleCredentialStored(const QString &orgId, const QString &agentId,
                                        const CredentialStored &stored)
{
    SyncTask *task = m_byDeliveryId.value(stored.deliveryId);
    if (task && task->orgId() == orgId && task->targetId() == agentId
        && task->credentialId() == stored.credentialId) {
        task->onCredentialStored(stored);
        return;
    }
    routeDeliveryReply(orgId, agentId, stored.deliveryId, stored, [=] {
        log()->info("agent {} stored credential {} for delivery {} that no sync waits for; the "
                    "reconciler checks the row",
                    text(agentId), text(stored.credentialId), text(stored.deliveryId));
    });
}

void SyncEngine::handleIntegrityFailure(const QString &orgId, const QString &agentId,
                                        const CredentialIntegrityFailure &failure)
{
    SyncTask *task = m_byDeliveryId.value(failure.deliveryId);
    if (task && task->orgId() == orgId && task->targetId() == agentId
        && task->credentialId() == failure.credentialId) {
        task->onIntegrityFailure(failure);
        return;
    }
    routeDeliveryReply(orgId, agentId, failure.deliveryId, failure, [=] {
        log()->warn("agent {} refused credential {} ({}) for delivery {} that no sync waits for",
                    text(agentId), text(failure.credentialId), text(reasonName(failure.reason)),
                    text(failure.deliveryId));
    });
}

void SyncEngine::handleStatementApplied(const QString &orgId, const QString &agentId,
                                        const StatementApplied &applied)
{
    SyncTask *task = m_byDeliveryId.value(applied.deliveryId);
    if (task && task->orgId() == orgId && task->targetId() == agentId
        && task->credentialId() == applied.credentialId) {
        task->onStatementApplied(applied);
        return;
    }
    routeDeliveryReply(orgId, agentId, applied.deliveryId, applied, [=] {
        log()->info("agent {} applied a statement of credential {} for delivery {} that no sync "
                    "waits for",
                    text(agentId), text(applied.credentialId), text(applied.deliveryId));
    });
}

void SyncEngine::handleRoutedReply(const QString &orgId, const QString &agentId,
                                   const AgentMessage &message)
{
    if (m_stopped)
        return;
    const bool isReply = std::holds_alternative<RewrapResponse>(message)
        || std::holds_alternative<RewrapRefused>(message)
        || std::holds_alternative<CredentialStored>(message)
        || std::holds_alternative<CredentialIntegrityFailure>(message)
        || std::holds_alternative<StatementApplied>(message);
    if (!isReply) {
        log()->warn("ignored a routed {} from agent {}: replicas route only replies",
                    QString(messageType(message)).toStdString(), text(agentId));
        return;
    }
    const bool wasRouted = std::exchange(m_handlingRoutedReply, true);
    handleMessage(orgId, agentId, message);
    m_handlingRoutedReply = wasRouted;
}

bool SyncEngine::routeRewrapReply(const QString &orgId, const QString &agentId,
                                  const QString &requestId, const QString &credentialId,
                                  const QString &targetAgentId, const AgentMessage &message)
{
    if (m_handlingRoutedReply || !m_link.sendReplyTo)
        return false;
    auto pending = m_storage.pendingDispatch(orgId, requestId);
    if (!pending || !pending.value()
        || pending.value()->originatingReplicaId == m_options.replicaId)
        return false;
    const PendingDispatchRow dispatch = *pending.value();
    const QJsonObject details { { u"credential_id"_s, credentialId },
                                { u"target_agent_id"_s, targetAgentId },
                                { u"dispatch_audit_id"_s, dispatch.dispatchAuditId },
                                { u"originating_replica_id"_s, dispatch.originatingReplicaId } };
    // The bindings this replica can check without the dispatch's state: the
    // sender is the peer asked, for that credential and target. The
    // originating replica checks the rest when the reply reaches it.
    if (dispatch.peerAgentId != agentId) {
        auditUnsolicited(orgId, agentId, requestId, u"WRONG_SENDER"_s, details);
        return true;
    }
    if (dispatch.credentialId != credentialId) {
        auditUnsolicited(orgId, agentId, requestId, u"WRONG_CREDENTIAL"_s, details);
        return true;
    }
    if (dispatch.targetAgentId != targetAgentId) {
        auditUnsolicited(orgId, agentId, requestId, u"WRONG_TARGET"_s, details);
        return true;
    }
    // Deleting the row is the claim. Of this reply, any duplicate of it and
    // the originator's timeout, exactly one deletes the row.
    auto claimed = m_storage.claimPendingDispatch(orgId, requestId);
    if (!claimed) {
        log()->error("cannot claim dispatch {}: {}", text(requestId),
                     text(claimed.error().message));
        return true;
    }
    if (!claimed.value()) {
        auditUnsolicited(orgId, agentId, requestId, u"ALREADY_CLAIMED"_s, details);
        return true;
    }
    log()->info("routing the reply of peer {} for dispatch {} to replica {}", text(agentId),
                text(requestId), text(dispatch.originatingReplicaId));
    m_link.sendReplyTo(dispatch.originatingReplicaId, orgId, agentId, message);
    return true;
}

void SyncEngine::routeDeliveryReply(const QString &orgId, const QString &agentId,
                                    const QString &deliveryId, const AgentMessage &message,
                                    std::function<void()> unmatched)
{
    if (m_handlingRoutedReply || !m_link.routeReply) {
        unmatched();
        return;
    }
    m_link.routeReply(orgId, agentId, message, deliveryId,
                      [unmatched = std::move(unmatched)](bool routed) {
                          if (!routed)
                              unmatched();
                      });
}

void SyncEngine::handleRemoteAgentLeft(const QString &orgId, const QString &agentId)
{
    if (isConnected(orgId, agentId))
        return;
    const QList<SyncTask *> tasks = m_tasks.values();
    for (SyncTask *task : tasks) {
        if (task->orgId() == orgId)
            task->onAgentDisconnected(agentId);
    }
}

void SyncEngine::handleAgentDisconnected(const QString &orgId, const QString &agentId)
{
    // The backfill pauses first, so the syncs that end below go back to its
    // queue instead of counting as failed and making room for new ones.
    Backfill *backfill = m_backfills.value(agentKey(orgId, agentId));
    if (backfill)
        backfill->pause();
    const QList<SyncTask *> tasks = m_tasks.values();
    for (SyncTask *task : tasks) {
        if (task->orgId() == orgId)
            task->onAgentDisconnected(agentId);
    }
    if (backfill && m_backfills.value(agentKey(orgId, agentId)) == backfill)
        publishBackfill(*backfill);
}

// ---- Uploads and retries -----------------------------------------------------

void SyncEngine::credentialWritten(const QString &orgId, const QString &credentialId)
{
    auto detail = m_storage.credentialDetail(orgId, credentialId);
    if (!detail || !detail.value())
        return;
    const qint64 version = detail.value()->credential.version;
    // Envelopes of earlier versions would only be refused as SUPERSEDED.
    logIfFailed(m_storage.deletePendingDeliveriesBefore(orgId, credentialId, version),
                "delete creator envelopes of earlier versions");

    // Agents with a creator envelope get it first. The others wait until
    // those deliveries ended, so that the peers they need exist when their
    // rewrap dispatch starts.
    QStringList withEnvelope;
    QStringList others;
    for (const CredentialAgentRow &row : detail.value()->agents) {
        if (!isConnected(orgId, row.agentId))
            continue;
        auto envelopes = m_storage.pendingDeliveriesFor(orgId, row.agentId, credentialId);
        if (envelopes && !envelopes->isEmpty())
            withEnvelope.append(row.agentId);
        else
            others.append(row.agentId);
    }
    const auto syncOthers = [this, orgId, credentialId, others] {
        for (const QString &agentId : others)
            syncRow(orgId, credentialId, agentId, SyncTrigger::Upload);
    };
    if (withEnvelope.isEmpty()) {
        syncOthers();
        return;
    }
    auto remaining = std::make_shared<qsizetype>(withEnvelope.size());
    for (const QString &agentId : std::as_const(withEnvelope)) {
        syncRow(orgId, credentialId, agentId, SyncTrigger::Upload,
                [remaining, syncOthers](const SyncOutcome &) {
                    if (--*remaining == 0)
                        syncOthers();
                });
    }
}

void SyncEngine::retryCredential(const QString &orgId, const QString &credentialId)
{
    auto detail = m_storage.credentialDetail(orgId, credentialId);
    if (!detail || !detail.value())
        return;
    for (const CredentialAgentRow &row : detail.value()->agents) {
        if (isConnected(orgId, row.agentId))
            syncRow(orgId, credentialId, row.agentId, SyncTrigger::Retry);
    }
}

void SyncEngine::syncRow(const QString &orgId, const QString &credentialId, const QString &agentId,
                         SyncTrigger trigger, SyncCallback done, const QString &missingRequestId,
                         std::function<void()> dispatchEnded)
{
    if (m_stopped) {
        if (dispatchEnded)
            dispatchEnded();
        if (done)
            done({ SyncResult::Failed, {}, Reason::BackendBusy, u"BACKEND_STOPPING"_s, false });
        return;
    }
    const QString key = rowKey(orgId, credentialId, agentId);
    if (SyncTask *running = m_tasks.value(key)) {
        running->join(std::move(done), missingRequestId, std::move(dispatchEnded));
        return;
    }
    auto *task = new SyncTask(*this, orgId, credentialId, agentId, trigger);
    task->join(std::move(done), missingRequestId, std::move(dispatchEnded));
    m_tasks.insert(key, task);
    task->start();
}

void SyncEngine::taskFinished(SyncTask *task, const SyncOutcome &outcome)
{
    m_tasks.remove(rowKey(task->orgId(), task->credentialId(), task->targetId()));
    m_byRequestId.removeIf([task](const auto &entry) { return entry.value() == task; });
    m_byDeliveryId.removeIf([task](const auto &entry) { return entry.value() == task; });

    if (!outcome.succeeded() && outcome.countsAsAttempt)
        recordFailure(task->orgId(), task->credentialId(), task->targetId(), outcome);

    const QList<SyncCallback> callbacks = task->takeCallbacks();
    task->deleteLater();
    for (const SyncCallback &callback : callbacks)
        callback(outcome);

    if (m_stopped)
        return;
    if (outcome.error == kAwaitingCreatorDelivery) {
        m_deferred.insert(rowKey(task->orgId(), task->credentialId(), task->targetId()),
                          DeferredSync { task->orgId(), task->credentialId(), task->targetId(),
                                         task->trigger() });
    }
    resumeDeferredSyncs(task->orgId(), task->credentialId());
}

void SyncEngine::resumeDeferredSyncs(const QString &orgId, const QString &credentialId)
{
    for (auto it = m_deferred.begin(); it != m_deferred.end();) {
        const DeferredSync deferred = it.value();
        if (deferred.orgId != orgId || deferred.credentialId != credentialId
            || m_tasks.contains(it.key())
            || creatorDeliveryRunning(orgId, credentialId, deferred.agentId)) {
            ++it;
            continue;
        }
        it = m_deferred.erase(it);
        // The new task may finish at once and change m_deferred, so the
        // loop stops here; its own taskFinished resumes the rest.
        syncRow(orgId, credentialId, deferred.agentId, deferred.trigger);
        return;
    }
}

AgentSyncState SyncEngine::agentState(const QString &orgId, const QString &agentId) const
{
    AgentSyncState state;
    state.connected = isConnected(orgId, agentId);
    const QString key = agentKey(orgId, agentId);
    if (const Backfill *backfill = m_backfills.value(key)) {
        state.backfilling = state.connected;
        state.backfillDone = backfill->done();
        state.backfillTotal = backfill->total();
    } else if (const auto last = m_lastBackfill.constFind(key); last != m_lastBackfill.cend()) {
        state.backfillDone = last->first;
        state.backfillTotal = last->second;
    }
    return state;
}

// ---- Shared bookkeeping ------------------------------------------------------

std::optional<AuditRecord> SyncEngine::audit(AuditEntry entry)
{
    auto record = m_storage.appendAudit(entry);
    if (!record) {
        log()->error("cannot append audit row {} for org {}: {}", text(entry.event),
                     text(entry.orgId), text(record.error().message));
        return std::nullopt;
    }
    if (m_writeTogetherDepth > 0)
        m_unannouncedAudit.append(record.value());
    else
        Q_EMIT auditAppended(record.value());
    return record.value();
}

void SyncEngine::writeThenReport(QObject *owner, QStringView purpose,
                                 const std::function<void()> &work, std::function<void()> report)
{
    if (!m_storage.syncsInBackground()) {
        writeTogether(purpose, work);
        report();
        return;
    }
    writeTogether(purpose, work, Durability::WithNextDurableCommit);
    m_storage.afterCommitsDurable(
        [owner = QPointer<QObject>(owner), report = std::move(report),
         purpose = purpose.toString()](Result<void> synced) {
            // The writes are committed; only their durability is unknown.
            if (!synced)
                log()->error("cannot make the writes to {} durable: {}", text(purpose),
                             text(synced.error().message));
            if (owner)
                report();
        });
}

void SyncEngine::checkOffThread(QObject *owner, std::function<Result<void>()> check,
                                std::function<void(Result<void>)> report)
{
    m_checkThread.start([this, owner = QPointer<QObject>(owner), check = std::move(check),
                         report = std::move(report)]() mutable {
        Result<void> checked = check();
        QMetaObject::invokeMethod(
            this,
            [owner = std::move(owner), report = std::move(report), checked = std::move(checked)] {
                if (owner)
                    report(checked);
            },
            Qt::QueuedConnection);
    });
}

void SyncEngine::writeTogether(QStringView purpose, const std::function<void()> &work,
                               Durability durability)
{
    bool ran = false;
    ++m_writeTogetherDepth;
    auto written = m_storage.inTransaction(
        purpose,
        [&]() -> Result<void> {
            ran = true;
            work();
            return {};
        },
        durability);
    if (!ran)
        work();
    if (--m_writeTogetherDepth > 0)
        return;
    const QList<AuditRecord> records = std::exchange(m_unannouncedAudit, {});
    if (!written && ran) {
        log()->error("cannot commit the writes to {}: {}", text(purpose.toString()),
                     text(written.error().message));
        return;
    }
    for (const AuditRecord &record : records)
        Q_EMIT auditAppended(record);
}

std::optional<AlertRow> SyncEngine::raiseAlert(const QString &orgId, const QString &type,
                                               AlertSeverity severity, const QString &subject,
                                               const QJsonObject &details)
{
    auto raised =
        m_storage.raiseAlert(AlertRaise { orgId, type, severity, subject, compactJson(details) });
    if (!raised) {
        log()->error("cannot raise alert {} on {}: {}", text(type), text(subject),
                     text(raised.error().message));
        return std::nullopt;
    }
    m_metrics.countAlertRaised(type);
    // A repeat only bumps the open alert's count, so it is logged quietly.
    if (!raised->created)
        log()->info("alert {} on {} raised again ({} times)", text(type), text(subject),
                    raised->alert.count);
    else if (severity == AlertSeverity::Critical)
        log()->critical("alert {} raised on {}", text(type), text(subject));
    else
        log()->warn("alert {} raised on {}", text(type), text(subject));
    Q_EMIT alertRaised(raised->alert);
    return raised->alert;
}

void SyncEngine::recordFailure(const QString &orgId, const QString &credentialId,
                               const QString &agentId, const SyncOutcome &outcome)
{
    auto before = m_storage.credentialAgent(orgId, credentialId, agentId);
    if (!before || !before.value())
        return;
    const QDateTime now = this->now();
    const auto delay = m_options.backoff.delayAfterFailure(before.value()->attempts);
    const QDateTime next = delay ? now.addMSecs(delay->count()) : now;
    // An agent whose copy failed an integrity check keeps that marker until
    // it stores the credential again, so the console's badge survives retries.
    const QString error =
        before.value()->lastError == kSourceMismatchError ? kSourceMismatchError : outcome.error;
    auto after = m_storage.recordDeliveryFailure(orgId, credentialId, agentId, error, next,
                                                 m_options.backoff.retireAtFailure());
    if (!after || !after.value()) {
        log()->error("cannot record the failed sync of credential {} to agent {}",
                     text(credentialId), text(agentId));
        return;
    }
    const CredentialAgentRow &row = *after.value();
    if (!row.stalled || before.value()->stalled) {
        publishSyncChange(
            orgId, credentialId, agentId, u"attempt_failed"_s,
            QJsonObject { { u"error"_s, outcome.error }, { u"attempts"_s, row.attempts } });
        return;
    }

    log()->warn("credential {} is stalled on agent {} after {} failed attempts (last: {})",
                text(credentialId), text(agentId), row.attempts, text(outcome.error));
    audit(AuditEntry { orgId, u"delivery_stalled"_s, u"backend"_s, credentialId, agentId,
                       std::nullopt, u"stalled"_s, u"MAX_RETRIES_EXCEEDED"_s,
                       compactJson(QJsonObject { { u"attempts"_s, row.attempts },
                                                 { u"last_error"_s, outcome.error } }) });
    publishSyncChange(
        orgId, credentialId, agentId, u"stalled"_s,
        QJsonObject { { u"error"_s, u"MAX_RETRIES_EXCEEDED"_s }, { u"attempts"_s, row.attempts } });

    // One credential_sync_stalled per (credential, agent) in the
    // deduplication window, even when an operator acknowledged the last one.
    const QString subject = u"credential:%1/agent:%2"_s.arg(credentialId, agentId);
    AlertFilter filter;
    filter.type = u"credential_sync_stalled"_s;
    filter.subject = subject;
    filter.seenSince = now.addMSecs(-m_options.stalledDedupe.count());
    filter.limit = 1;
    auto recent = m_storage.alerts(orgId, filter);
    if (recent && !recent->isEmpty())
        return;
    raiseAlert(orgId, u"credential_sync_stalled"_s, AlertSeverity::Medium, subject,
               QJsonObject { { u"credential_id"_s, credentialId },
                             { u"agent_id"_s, agentId },
                             { u"attempts"_s, row.attempts },
                             { u"last_error"_s, outcome.error } });
}

void SyncEngine::setEventsWatched(std::function<bool(const QString &orgId)> watched)
{
    m_eventsWatched = std::move(watched);
}

bool SyncEngine::eventsWatched(const QString &orgId) const
{
    return !m_eventsWatched || m_eventsWatched(orgId);
}

void SyncEngine::publishSyncChange(const QString &orgId, const QString &credentialId,
                                   const QString &agentId, const QString &change,
                                   const QJsonObject &extra)
{
    // The summary costs a read of the credential and its delivery rows.
    if (!eventsWatched(orgId))
        return;
    QJsonObject event = extra;
    event.insert(u"credential_id"_s, credentialId);
    event.insert(u"agent_id"_s, agentId);
    event.insert(u"change"_s, change);
    if (auto detail = m_storage.credentialDetail(orgId, credentialId); detail && detail.value())
        event.insert(u"credential"_s, credentialSummaryJson(*detail.value()));
    Q_EMIT eventPublished(orgId, u"credential_sync_changed"_s, event);
}

} // namespace sealrelay::backend
