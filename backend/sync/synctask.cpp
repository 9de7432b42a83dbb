// SyncTask: the lock, the choice between statement update, creator envelope
// and rewrap dispatch, the peer attempts with their timeouts, the checks of
// the target's reply and the write-ahead dispatch audit.
#include "synctask.h"

#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"
#include "metrics.h"
#include "syncsupport.h"

#include <QCryptographicHash>
#include <QJsonDocument>
#include <QRandomGenerator>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay::backend::sync;

namespace sealrelay::backend {

namespace {

bool versionBefore(qint64 version, qint64 revision, qint64 otherVersion, qint64 otherRevision)
{
    return version < otherVersion || (version == otherVersion && revision < otherRevision);
}

// Time a sync waits past a peer's timeout for a reply that another replica
// claimed and routes here.
constexpr std::chrono::milliseconds kRoutedReplyGrace { 5'000 };

// Interval between tries of a lock that another replica holds: a twelfth of
// the lock TTL (5 s for the default 60 s), at least 250 ms.
std::chrono::milliseconds lockRetryInterval(const SyncOptions &options)
{
    return std::max(options.lockTtl / 12, std::chrono::milliseconds(250));
}

bool isAttributedReason(Reason reason)
{
    return reason == Reason::DecryptFailed || reason == Reason::PayloadMismatch
        || reason == Reason::CommitmentMismatch;
}

} // namespace

SyncTask::SyncTask(SyncEngine &engine, QString orgId, QString credentialId, QString targetId,
                   SyncTrigger trigger)
    : m_engine(engine)
    , m_orgId(std::move(orgId))
    , m_credentialId(std::move(credentialId))
    , m_targetId(std::move(targetId))
    , m_trigger(trigger)
{
    m_lockRetry.setSingleShot(true);
    connect(&m_lockRetry, &QTimer::timeout, this, [this] {
        if (m_step == Step::Locking && m_lease)
            m_lease->acquire();
    });
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, [this] {
        switch (m_step) {
        case Step::Locking:
            finish({ SyncResult::Failed, {}, Reason::BackendBusy, u"LOCK_WAIT_TIMEOUT"_s, false });
            break;
        case Step::AwaitingPeer:
            if (!m_claimGraceUsed && !claimPendingDispatch()) {
                // Another replica claimed the peer's reply first and routes
                // it here, so the reply gets a short while to arrive.
                m_claimGraceUsed = true;
                m_timer.start(kRoutedReplyGrace);
                break;
            }
            releasePendingDispatch();
            m_anyTimeout = true;
            peerFailed(u"timeout"_s, u"PEER_TIMEOUT"_s);
            break;
        case Step::AwaitingTarget:
            finishDispatch(u"timeout"_s, SyncResult::Failed, u"TARGET_TIMEOUT"_s,
                           Reason::NoEligiblePeer);
            break;
        case Step::AwaitingStatement:
            finish({ SyncResult::Failed,
                     {},
                     Reason::NoEligiblePeer,
                     u"STATEMENT_UPDATE_TIMEOUT"_s,
                     true });
            break;
        case Step::CheckingReceipt:
        case Step::Recording:
        case Step::Finished:
            break;
        }
    });
}

SyncTask::~SyncTask() = default;

void SyncTask::join(SyncCallback done, const QString &missingRequestId,
                    std::function<void()> dispatchEnded)
{
    if (done)
        m_callbacks.append(std::move(done));
    if (m_missingRequestId.isEmpty())
        m_missingRequestId = missingRequestId;
    if (!dispatchEnded)
        return;
    if (m_dispatchEnded)
        dispatchEnded();
    else
        m_dispatchEndedCallbacks.append(std::move(dispatchEnded));
}

void SyncTask::endDispatch()
{
    if (m_dispatchEnded)
        return;
    m_dispatchEnded = true;
    for (const auto &ended : std::exchange(m_dispatchEndedCallbacks, {}))
        ended();
}

void SyncTask::start()
{
    const QString pair = m_orgId + u':' + m_credentialId + u':' + m_targetId;
    const SyncOptions &options = m_engine.options();
    m_lease = std::make_unique<Lease>(m_engine.m_store, u"inflight:"_s + pair,
                                      LeaseOptions { options.lockTtl, options.lockRenew, {} });
    connect(m_lease.get(), &Lease::acquireFinished, this, &SyncTask::onLockResult);
    connect(m_lease.get(), &Lease::lost, this, [this] {
        log()->warn("lost the lock of credential {} for agent {} while syncing it",
                    text(m_credentialId), text(m_targetId));
        finish({ SyncResult::Failed, {}, Reason::BackendBusy, u"LOCK_LOST"_s, false });
    });

    // The lock is requested together with the subscription, without waiting
    // for it. A lock refused before the subscription is ready is requested
    // again once it is. So an outcome published by the replica that holds the
    // lock cannot slip between the refusal and the subscription, because
    // either that replica has finished and the lock is free, or its outcome
    // arrives.
    m_outcomeSubscription = m_engine.m_store.subscribe(
        u"inflight_result:"_s + pair, this,
        [this](const QString &, const QByteArray &message) { onRemoteOutcome(message); },
        [this](Result<void> ready) {
            m_subscribed = true;
            if (m_step != Step::Locking || m_lease->isHeld())
                return;
            if (!ready) {
                finish({ SyncResult::Failed,
                         {},
                         Reason::BackendBusy,
                         u"COORDINATION_FAILED"_s,
                         false });
                return;
            }
            if (std::exchange(m_lockRefusedEarly, false))
                m_lease->acquire();
        });
    m_lease->acquire();
}

void SyncTask::abandon()
{
    finish({ SyncResult::Failed, {}, Reason::BackendBusy, u"BACKEND_STOPPING"_s, false });
}

void SyncTask::onLockResult(bool acquired)
{
    if (m_step != Step::Locking) {
        // A retried lock that came back after another replica's outcome
        // ended this sync is not kept.
        if (acquired)
            m_lease->release();
        return;
    }
    if (!acquired && !m_subscribed) {
        m_lockRefusedEarly = true;
        return;
    }
    if (!acquired) {
        // Another replica syncs this pair, so wait for the outcome it
        // publishes, and try the lock again meanwhile. During the hold after
        // a store switch no replica has the lock, and a replica that died
        // keeps it only until its TTL runs out.
        if (!m_timer.isActive())
            m_timer.start(m_engine.options().remoteWait());
        m_lockRetry.start(lockRetryInterval(m_engine.options()));
        return;
    }
    m_lockRetry.stop();
    m_outcomeSubscription.cancel();
    plan();
}

void SyncTask::onRemoteOutcome(const QByteArray &message)
{
    if (m_step != Step::Locking || m_lease->isHeld())
        return;
    auto outcome = SyncOutcome::fromJson(message);
    if (!outcome) {
        log()->warn("ignored an unreadable sync outcome for credential {} and agent {}",
                    text(m_credentialId), text(m_targetId));
        return;
    }
    // The replica that ran the sync recorded it; callers here only learn it.
    outcome->countsAsAttempt = false;
    finish(*outcome);
}

Result<void> SyncTask::loadState()
{
    Storage &storage = m_engine.m_storage;
    auto credential = storage.credential(m_orgId, m_credentialId);
    if (!credential)
        return credential.error();
    if (!credential.value())
        return makeError(Reason::UnknownCredential, u"no credential "_s + m_credentialId);
    m_credential = *credential.value();

    auto fields = parseStatement(StatementContext::Credential, m_credential.statement);
    if (!fields)
        return fields.error();
    auto statement = CredentialStatement::fromFields(fields.value());
    if (!statement)
        return statement.error();
    m_statement = statement.value();

    auto target = storage.agent(m_orgId, m_targetId);
    if (!target)
        return target.error();
    if (!target.value())
        return makeError(Reason::NotFound, u"no agent "_s + m_targetId);
    m_target = *target.value();

    auto row = storage.credentialAgent(m_orgId, m_credentialId, m_targetId);
    if (!row)
        return row.error();
    m_row = row.value();
    return {};
}

void SyncTask::plan()
{
    auto loaded = loadState();
    if (!loaded) {
        const bool unknown = loaded.error().reason == Reason::UnknownCredential;
        if (!unknown)
            log()->error("cannot sync credential {} to agent {}: {}", text(m_credentialId),
                         text(m_targetId), text(loaded.error().message));
        finish({ SyncResult::Failed,
                 {},
                 unknown ? Reason::UnknownCredential : Reason::BackendBusy,
                 unknown ? u"UNKNOWN_CREDENTIAL"_s : u"STORAGE_ERROR"_s,
                 false });
        return;
    }
    if (m_target.status != AgentStatus::Approved || !m_target.certificateStatement
        || !m_engine.isConnected(m_orgId, m_targetId)) {
        finish({ SyncResult::Failed, {}, Reason::NoEligiblePeer, u"AGENT_OFFLINE"_s, false });
        return;
    }
    // Peers reject an expired certificate, so asking them would only look
    // like a backend that swapped the target's key.
    if (m_target.expiresAt && *m_target.expiresAt <= m_engine.now()) {
        finish({ SyncResult::Failed,
                 {},
                 Reason::NoEligiblePeer,
                 u"TARGET_CERTIFICATE_EXPIRED"_s,
                 true });
        return;
    }

    const qint64 version = m_credential.version;
    const qint64 revision = m_credential.revision;
    const bool holdsStatement = m_row && m_row->storedVersion && m_row->storedRevision;
    const bool behind = !holdsStatement
        || versionBefore(*m_row->storedVersion, *m_row->storedRevision, version, revision);

    // An agent outside the scope only ever gets the statement that purges
    // the copy it stores.
    if (!m_statement.covers(m_targetId)) {
        if (holdsStatement && behind) {
            sendStatementUpdate();
            return;
        }
        finish({ SyncResult::UpToDate,
                 {},
                 m_credential.state == CredentialState::Deleted ? Reason::UnknownCredential
                                                                : Reason::NotInScope,
                 {},
                 false });
        return;
    }

    const bool holdsValue =
        holdsStatement && m_row->secretStored && *m_row->storedVersion == version;
    if (holdsValue && behind) {
        sendStatementUpdate();
        return;
    }
    if (holdsValue) {
        finish({ SyncResult::UpToDate, {}, Reason::NoEligiblePeer, {}, false });
        return;
    }

    auto deliveries = m_engine.m_storage.pendingDeliveriesFor(m_orgId, m_targetId, m_credentialId);
    if (!deliveries) {
        finish({ SyncResult::Failed, {}, Reason::BackendBusy, u"STORAGE_ERROR"_s, false });
        return;
    }
    for (const PendingDeliveryRow &delivery : deliveries.value()) {
        if (delivery.credentialId != m_credentialId || delivery.version != version)
            continue;
        if (!sealedToCurrentKey(delivery)) {
            // The target regenerated its keys after the upload: the envelope
            // is sealed to a key it no longer holds, and it would refuse it.
            logIfFailed(m_engine.m_storage.deletePendingDelivery(m_orgId, delivery.deliveryId),
                        "drop a creator envelope sealed to a replaced key");
            continue;
        }
        sendCreatorDelivery(delivery);
        return;
    }
    startDispatch();
}

bool SyncTask::sealedToCurrentKey(const PendingDeliveryRow &delivery) const
{
    auto fields = parseStatement(StatementContext::Attestation, delivery.attestationStatement);
    if (!fields)
        return false;
    auto attestation = Attestation::fromFields(fields.value());
    if (!attestation)
        return false;
    const QString current = QString::fromLatin1(
        QCryptographicHash::hash(m_target.encryptionKey, QCryptographicHash::Sha256).toHex());
    return attestation->targetKeyFingerprint == current;
}

void SyncTask::sendStatementUpdate()
{
    StatementUpdate update;
    update.id = newUuid();
    update.deliveryId = newUuid();
    update.credentialId = m_credentialId;
    update.statement = SignedStatement { m_credential.statement, m_credential.signature };
    m_deliveryId = update.deliveryId;
    m_engine.m_byDeliveryId.insert(m_deliveryId, this);
    m_step = Step::AwaitingStatement;
    if (!m_engine.sendTo(m_orgId, m_targetId, update)) {
        finish({ SyncResult::Failed, {}, Reason::NoEligiblePeer, u"AGENT_OFFLINE"_s, false });
        return;
    }
    armTimer();
}

void SyncTask::sendCreatorDelivery(const PendingDeliveryRow &delivery)
{
    auto envelopeJson = parseCanonicalJsonObject(delivery.envelope);
    Result<Envelope> envelope = envelopeJson ? Envelope::fromJson(envelopeJson.value())
                                             : Result<Envelope>(envelopeJson.error());
    if (!envelope) {
        log()->error("stored creator envelope {} of credential {} is unreadable ({}); deleting "
                     "it and asking a peer instead",
                     text(delivery.deliveryId), text(m_credentialId),
                     text(envelope.error().message));
        logIfFailed(m_engine.m_storage.deletePendingDelivery(m_orgId, delivery.deliveryId),
                    "delete an unreadable creator envelope");
        startDispatch();
        return;
    }

    m_creatorDelivery = delivery;
    m_dispatchAuditId = newUuid();
    m_engine.audit(AuditEntry {
        m_orgId, u"dispatch"_s, u"backend"_s, m_credentialId, m_targetId, m_dispatchAuditId,
        u"pending"_s, std::nullopt,
        QString::fromUtf8(QJsonDocument(QJsonObject { { u"source"_s, u"creator"_s },
                                                      { u"trigger"_s, syncTriggerName(m_trigger) },
                                                      { u"version"_s, m_credential.version } })
                              .toJson(QJsonDocument::Compact)) });

    CredentialStore store;
    store.id = newUuid();
    store.deliveryId = delivery.deliveryId;
    if (!m_missingRequestId.isEmpty())
        store.requestId = m_missingRequestId;
    store.credentialId = m_credentialId;
    store.statement = SignedStatement { m_credential.statement, m_credential.signature };
    store.envelope = envelope.value();
    store.attestation =
        SignedStatement { delivery.attestationStatement, delivery.attestationSignature };
    store.source.kind = AttestationSource::Creator;
    store.source.operatorKey = m_statement.operatorKey;
    sendToTarget(store);
}

void SyncTask::startDispatch()
{
    m_creatorDelivery.reset();
    m_peers = eligiblePeers();
    if (m_peers.isEmpty() && m_dispatchAuditId.isEmpty()
        && m_engine.creatorDeliveryRunning(m_orgId, m_credentialId, m_targetId)) {
        // Another agent is receiving the creator's envelope and will be a
        // peer soon: this is no failed attempt, and the engine runs the sync
        // again once that delivery ends.
        finish({ SyncResult::Failed, {}, Reason::NoEligiblePeer, kAwaitingCreatorDelivery, false });
        return;
    }
    if (m_dispatchAuditId.isEmpty()) {
        // Written with the first attempt's pending dispatch row, or with the
        // final row when no peer is asked.
        m_dispatchAuditId = newUuid();
        m_pendingAuditDue = true;
    }
    tryNextPeer();
}

void SyncTask::writePendingAudit()
{
    if (!m_pendingAuditDue)
        return;
    m_pendingAuditDue = false;
    m_engine.audit(AuditEntry {
        m_orgId, u"dispatch"_s, u"backend"_s, m_credentialId, m_targetId, m_dispatchAuditId,
        u"pending"_s, std::nullopt,
        QString::fromUtf8(QJsonDocument(QJsonObject { { u"source"_s, u"peer"_s },
                                                      { u"trigger"_s, syncTriggerName(m_trigger) },
                                                      { u"version"_s, m_credential.version } })
                              .toJson(QJsonDocument::Compact)) });
}

QStringList SyncTask::eligiblePeers()
{
    // One query returns every candidate with its agent's current status,
    // quarantine flag, certificate and blocklist entry. Nothing of it is kept
    // past this call, because an operator can change each of them.
    auto candidates = m_engine.m_storage.peerCandidates(m_orgId, m_credentialId);
    if (!candidates)
        return {};
    const QDateTime now = m_engine.now();

    QStringList peers;
    for (const PeerCandidateRow &row : candidates.value()) {
        if (row.agentId == m_targetId || !row.secretStored
            || row.storedVersion != m_credential.version || !m_statement.covers(row.agentId)
            || row.blocked || !m_engine.isConnected(m_orgId, row.agentId))
            continue;
        // A quarantined agent reported floods of mismatches; it is not asked
        // to seal anything until an operator clears it.
        if (row.status != AgentStatus::Approved || row.quarantined || !row.hasCertificate
            || (row.certificateExpiresAt && *row.certificateExpiresAt <= now))
            continue;
        peers.append(row.agentId);
    }
    // The peer with the fewest rewrap requests of this replica waiting for
    // its reply comes first, so that no peer queues requests while another
    // idles. Peers with as many are tried in random order.
    std::shuffle(peers.begin(), peers.end(), *QRandomGenerator::global());
    const QHash<QString, int> waiting = m_engine.rewrapsAwaitingReply();
    std::stable_sort(peers.begin(), peers.end(), [&](const QString &left, const QString &right) {
        return waiting.value(left) < waiting.value(right);
    });
    return peers;
}

void SyncTask::tryNextPeer()
{
    const SyncOptions &options = m_engine.options();
    while (m_attempt < options.dispatchMaxPeers && !m_peers.isEmpty()) {
        const QString peer = m_peers.takeFirst();
        // The blocklist may have grown since the candidates were chosen, which
        // for the first attempt happened just now.
        if (m_attempt > 0) {
            auto blocked = m_engine.m_storage.isPeerBlocked(m_orgId, m_credentialId, peer);
            if (!blocked || blocked.value())
                continue;
        }
        if (!m_engine.isConnected(m_orgId, peer))
            continue;

        ++m_attempt;
        m_claimGraceUsed = false;
        m_peerId = peer;
        m_requestId = newUuid();
        PendingDispatchRow pending;
        pending.orgId = m_orgId;
        pending.dispatchId = m_requestId;
        pending.credentialId = m_credentialId;
        pending.targetAgentId = m_targetId;
        pending.peerAgentId = peer;
        pending.attempt = m_attempt;
        pending.originatingReplicaId = options.replicaId;
        pending.dispatchAuditId = m_dispatchAuditId;
        pending.startedAt = m_engine.now();
        pending.deadline = pending.startedAt.addMSecs(options.peerTimeout.count());
        // The pending rows are committed before the request leaves. They
        // reach the disk with the sync's final commit: when a power loss
        // takes them, the peer's response finds no pending dispatch and
        // nothing is relayed.
        Result<void> added;
        m_engine.writeTogether(
            u"record a rewrap dispatch",
            [&] {
                writePendingAudit();
                added = m_engine.m_storage.addPendingDispatch(pending);
            },
            Durability::WithNextDurableCommit);
        if (!added) {
            log()->error("cannot record the dispatch of credential {} to peer {}: {}",
                         text(m_credentialId), text(peer), text(added.error().message));
            finishDispatch(u"exhausted"_s, SyncResult::Failed, u"STORAGE_ERROR"_s,
                           Reason::BackendBusy);
            return;
        }
        m_engine.m_byRequestId.insert(m_requestId, this);

        RewrapRequest request;
        request.id = newUuid();
        request.requestId = m_requestId;
        request.credentialId = m_credentialId;
        request.version = m_credential.version;
        request.targetAgentId = m_targetId;
        request.targetCertificate =
            SignedStatement { *m_target.certificateStatement,
                              m_target.certificateSignature.value_or(QByteArray()) };
        request.statement = SignedStatement { m_credential.statement, m_credential.signature };
        m_step = Step::AwaitingPeer;
        if (!m_engine.sendTo(m_orgId, peer, request)) {
            releasePendingDispatch();
            peerFailed(u"unreachable"_s, u"PEER_UNREACHABLE"_s);
            return;
        }
        armTimer();
        return;
    }

    if (m_attempt == 0)
        finishDispatch(u"exhausted"_s, SyncResult::Failed, u"NO_ELIGIBLE_PEER"_s,
                       Reason::NoEligiblePeer);
    else if (m_anyTimeout)
        finishDispatch(u"timeout"_s, SyncResult::Failed, u"PEER_TIMEOUT"_s, Reason::NoEligiblePeer);
    else
        finishDispatch(u"exhausted"_s, SyncResult::Failed, u"PEERS_FAILED"_s,
                       Reason::NoEligiblePeer);
}

bool SyncTask::claimPendingDispatch()
{
    if (m_requestId.isEmpty())
        return true;
    // A claim lost with a power loss leaves a dispatch row that the
    // reconciler drops once its deadline has long passed.
    bool removedHere = false;
    const Result<void> claimed = m_engine.m_storage.inTransaction(
        u"claim a pending dispatch",
        [&]() -> Result<void> {
            auto row = m_engine.m_storage.claimPendingDispatch(m_orgId, m_requestId);
            if (!row)
                return row.error();
            removedHere = row.value().has_value();
            return {};
        },
        Durability::WithNextDurableCommit);
    logIfFailed(claimed, "claim a pending dispatch");
    // A storage failure counts as claimed here, because waiting would not help.
    return !claimed || removedHere;
}

void SyncTask::releasePendingDispatch()
{
    if (m_requestId.isEmpty())
        return;
    m_engine.m_byRequestId.remove(m_requestId);
    claimPendingDispatch();
    m_requestId.clear();
}

void SyncTask::peerFailed(const QString &result, const QString &error)
{
    m_attempts.append(QJsonObject {
        { u"peer_agent_id"_s, m_peerId }, { u"result"_s, result }, { u"error"_s, error } });
    log()->info("peer {} did not rewrap credential {} for agent {}: {}", text(m_peerId),
                text(m_credentialId), text(m_targetId), text(error));
    m_peerId.clear();
    m_requestId.clear();
    tryNextPeer();
}

void SyncTask::onRewrapResponse(const QString &senderId, const RewrapResponse &response)
{
    if (m_step != Step::AwaitingPeer || senderId != m_peerId)
        return;
    m_timer.stop();
    releasePendingDispatch();

    const QJsonObject details { { u"dispatch_audit_id"_s, m_dispatchAuditId },
                                { u"credential_id"_s, response.credentialId },
                                { u"target_agent_id"_s, response.targetAgentId } };
    if (response.credentialId != m_credentialId) {
        m_engine.auditUnsolicited(m_orgId, senderId, response.requestId, u"WRONG_CREDENTIAL"_s,
                                  details);
        peerFailed(u"unsolicited"_s, u"WRONG_CREDENTIAL"_s);
        return;
    }
    if (response.targetAgentId != m_targetId) {
        m_engine.auditUnsolicited(m_orgId, senderId, response.requestId, u"WRONG_TARGET"_s,
                                  details);
        peerFailed(u"unsolicited"_s, u"WRONG_TARGET"_s);
        return;
    }

    auto peer = m_engine.m_storage.agent(m_orgId, senderId);
    if (!peer || !peer.value() || !peer.value()->certificateStatement) {
        peerFailed(u"unknown_peer"_s, u"PEER_CERTIFICATE_MISSING"_s);
        return;
    }
    CredentialStore store;
    store.id = newUuid();
    store.deliveryId = newUuid();
    if (!m_missingRequestId.isEmpty())
        store.requestId = m_missingRequestId;
    store.credentialId = m_credentialId;
    store.statement = SignedStatement { m_credential.statement, m_credential.signature };
    store.envelope = response.envelope;
    store.attestation = response.attestation;
    store.source.kind = AttestationSource::Peer;
    store.source.agentId = senderId;
    store.source.certificate =
        SignedStatement { *peer.value()->certificateStatement,
                          peer.value()->certificateSignature.value_or(QByteArray()) };
    sendToTarget(store);
}

void SyncTask::onRewrapRefused(const QString &senderId, const RewrapRefused &refused)
{
    if (m_step != Step::AwaitingPeer || senderId != m_peerId)
        return;
    m_timer.stop();
    releasePendingDispatch();
    if (refused.reason == Reason::UntrustedTargetKey) {
        // A peer that does not trust the target's certificate suggests the
        // backend handed out a key its operators never certified.
        m_engine.raiseAlert(m_orgId, u"target_certificate_rejected"_s, AlertSeverity::Critical,
                            u"agent:"_s + m_targetId,
                            QJsonObject { { u"credential_id"_s, m_credentialId },
                                          { u"peer_agent_id"_s, senderId },
                                          { u"target_agent_id"_s, m_targetId } });
    }
    peerFailed(u"refused"_s, reasonName(refused.reason));
}

void SyncTask::onMalformedRewrapResponse(const QString &senderId, const QString &problem)
{
    if (m_step != Step::AwaitingPeer || senderId != m_peerId)
        return;
    m_timer.stop();
    releasePendingDispatch();
    Q_UNUSED(problem);
    peerFailed(u"unsolicited"_s, u"MALFORMED_ENVELOPE"_s);
}

void SyncTask::sendToTarget(const CredentialStore &message)
{
    m_deliveryId = message.deliveryId;
    m_deliveredAttestation = message.attestation.bytes;
    m_engine.m_byDeliveryId.insert(m_deliveryId, this);
    m_step = Step::AwaitingTarget;
    if (!m_engine.sendTo(m_orgId, m_targetId, message)) {
        finishDispatch(u"exhausted"_s, SyncResult::Failed, u"AGENT_OFFLINE"_s,
                       Reason::NoEligiblePeer);
        return;
    }
    armTimer();
}

Receipt SyncTask::expectedReceipt(ReceiptState state) const
{
    Receipt expected;
    expected.orgId = m_orgId;
    expected.agentId = m_targetId;
    expected.credentialId = m_credentialId;
    expected.version = m_credential.version;
    expected.revision = m_credential.revision;
    expected.statementSha256 = m_credential.statementSha256;
    expected.state = state;
    return expected;
}

Result<void> SyncTask::checkReceipt(const SignedStatement &receipt, const QByteArray &identityKey,
                                    const Receipt &expected)
{
    auto signer = Ed25519PublicKey::fromRaw(identityKey);
    if (!signer)
        return signer.error();
    auto fields = verifyStatement(StatementContext::Receipt, receipt, signer.value());
    if (!fields)
        return fields.error();
    auto parsed = Receipt::fromFields(fields.value());
    if (!parsed)
        return parsed.error();
    const Receipt &value = parsed.value();
    if (value.orgId != expected.orgId || value.agentId != expected.agentId
        || value.credentialId != expected.credentialId || value.version != expected.version
        || value.revision != expected.revision || value.statementSha256 != expected.statementSha256
        || value.state != expected.state)
        return makeError(Reason::BadStatement,
                         u"the receipt does not name this delivery's org, agent, credential, "
                         "version, revision, statement or state"_s);
    return {};
}

void SyncTask::recordReceipt(const SignedStatement &signedReceipt, bool secretStored)
{
    DeliveryReceipt receipt;
    receipt.version = m_credential.version;
    receipt.revision = m_credential.revision;
    receipt.secretStored = secretStored;
    receipt.statement = signedReceipt.bytes;
    receipt.signature = signedReceipt.signature;
    receipt.at = m_engine.now();
    auto marked = m_engine.m_storage.markDelivered(m_orgId, m_credentialId, m_targetId, receipt);
    if (!marked)
        log()->error("cannot record the receipt of credential {} version {} revision {} from "
                     "agent {}: {}",
                     text(m_credentialId), m_credential.version, m_credential.revision,
                     text(m_targetId), text(marked.error().message));
}

void SyncTask::onCredentialStored(const CredentialStored &stored)
{
    if (m_step != Step::AwaitingTarget)
        return;
    m_timer.stop();
    // No peer or target works on this sync any more, so the next dispatch of
    // a backfill may start now. The receipt's signature is verified on the
    // engine's check thread, and this thread relays other messages meanwhile.
    m_step = Step::CheckingReceipt;
    endDispatch();
    m_engine.checkOffThread(
        this,
        [receipt = stored.receipt, identityKey = m_target.identityKey,
         expected = expectedReceipt(ReceiptState::Stored)] {
            return checkReceipt(receipt, identityKey, expected);
        },
        [this, stored](const Result<void> &checked) { onStoredReceiptChecked(stored, checked); });
}

void SyncTask::onStoredReceiptChecked(const CredentialStored &stored, const Result<void> &checked)
{
    if (m_step != Step::CheckingReceipt)
        return;
    if (!checked) {
        log()->warn("agent {} sent a receipt for credential {} that does not verify: {}",
                    text(m_targetId), text(m_credentialId), text(checked.error().message));
        finishDispatch(u"peer_failed"_s, SyncResult::Failed, u"BAD_RECEIPT"_s,
                       Reason::NoEligiblePeer);
        return;
    }
    // The target recomputed the commitment from what it decrypted; a value
    // that differs from the operator's means the source sealed another
    // secret.
    if (!m_credential.commitment
        || !constantTimeEquals(stored.commitment, *m_credential.commitment)) {
        integrityFailure(u"REPORTED_COMMITMENT_DIFFERS"_s,
                         m_creatorDelivery ? std::nullopt : std::optional<QString>(m_peerId));
        return;
    }

    // The sync ends, and keeps its lock until then, once the receipt, the
    // used envelope and the final audit row are on disk.
    m_step = Step::Recording;
    m_engine.writeThenReport(
        this, u"record a delivered credential",
        [&] {
            recordReceipt(stored.receipt, true);
            if (m_creatorDelivery)
                logIfFailed(m_engine.m_storage.deletePendingDelivery(
                                m_orgId, m_creatorDelivery->deliveryId),
                            "delete a used creator envelope");
            auditDispatchOutcome(u"success"_s, SyncResult::Delivered, {});
        },
        [this, receipt = stored.receipt] {
            m_engine.publishSyncChange(
                m_orgId, m_credentialId, m_targetId, u"delivered"_s,
                QJsonObject { { u"receipt"_s, receipt.toJson() },
                              { u"source"_s, m_creatorDelivery ? u"creator"_s : u"peer"_s } });
            finish({ SyncResult::Delivered, u"success"_s, Reason::NoEligiblePeer, {}, true });
        });
}

void SyncTask::onIntegrityFailure(const CredentialIntegrityFailure &failure)
{
    if (m_step != Step::AwaitingTarget)
        return;
    m_timer.stop();
    const QString reason = reasonName(failure.reason);
    if (auto checked = checkReceipt(failure.receipt, m_target.identityKey,
                                    expectedReceipt(ReceiptState::Refused));
        !checked) {
        log()->warn("agent {} refused credential {} ({}) with a receipt that does not verify: "
                    "{}",
                    text(m_targetId), text(m_credentialId), text(reason),
                    text(checked.error().message));
        finishDispatch(u"peer_failed"_s, SyncResult::Failed, reason, Reason::NoEligiblePeer);
        return;
    }
    logIfFailed(m_engine.m_storage.recordRefusal(m_orgId, m_credentialId, m_targetId,
                                                 failure.receipt.bytes, failure.receipt.signature,
                                                 m_engine.now()),
                "record a refused receipt");
    m_engine.publishSyncChange(
        m_orgId, m_credentialId, m_targetId, u"refused"_s,
        QJsonObject { { u"receipt"_s, failure.receipt.toJson() }, { u"reason"_s, reason } });

    // Only failures of what the source sealed are its fault, and only with
    // the attestation the backend relayed as evidence.
    const bool sameAttestation = failure.attestation.bytes == m_deliveredAttestation;
    if (isAttributedReason(failure.reason) && sameAttestation) {
        integrityFailure(reason,
                         m_creatorDelivery ? std::nullopt : std::optional<QString>(m_peerId));
        return;
    }

    if (failure.reason == Reason::Equivocation) {
        m_engine.raiseAlert(m_orgId, u"credential_equivocation_detected"_s, AlertSeverity::Critical,
                            u"credential:"_s + m_credentialId,
                            QJsonObject { { u"agent_id"_s, m_targetId },
                                          { u"version"_s, m_credential.version },
                                          { u"revision"_s, m_credential.revision } });
    }
    if (failure.reason == Reason::Superseded) {
        // The target already stores a newer statement than the one sent.
        finishDispatch(u"peer_failed"_s, SyncResult::Failed, reason, Reason::NoEligiblePeer);
        return;
    }
    if (m_creatorDelivery) {
        // The creator's envelope will never pass; a peer is asked instead.
        logIfFailed(
            m_engine.m_storage.deletePendingDelivery(m_orgId, m_creatorDelivery->deliveryId),
            "delete a used creator envelope");
        m_attempts.append(QJsonObject { { u"source"_s, u"creator"_s }, { u"result"_s, reason } });
        m_deliveryId.clear();
        startDispatch();
        return;
    }
    peerFailed(u"target_refused"_s, reason);
}

void SyncTask::integrityFailure(const QString &reason, const std::optional<QString> &sourceAgentId)
{
    IntegrityReport report;
    report.orgId = m_orgId;
    report.credentialId = m_credentialId;
    report.reporterId = m_targetId;
    report.sourceAgentId = sourceAgentId;
    report.reason = reason;
    report.deliveryId = m_deliveryId;
    report.dispatchAuditId = m_dispatchAuditId;
    report.attestationSha256 = sha256Base64(m_deliveredAttestation);
    if (m_creatorDelivery)
        logIfFailed(
            m_engine.m_storage.deletePendingDelivery(m_orgId, m_creatorDelivery->deliveryId),
            "delete a used creator envelope");
    m_engine.runIntegrityResponse(report, {});
    // Every waiting caller learns of the mismatch now, never by a timeout.
    finishDispatch(u"peer_failed"_s, SyncResult::Failed, u"COMMITMENT_MISMATCH"_s,
                   Reason::CommitmentMismatch);
}

void SyncTask::onStatementApplied(const StatementApplied &applied)
{
    if (m_step != Step::AwaitingStatement)
        return;
    m_timer.stop();
    const bool keeps = m_statement.covers(m_targetId);
    if (auto checked =
            checkReceipt(applied.receipt, m_target.identityKey,
                         expectedReceipt(keeps ? ReceiptState::Stored : ReceiptState::Deleted));
        !checked) {
        log()->warn("agent {} applied credential {} with a receipt that does not verify: {}",
                    text(m_targetId), text(m_credentialId), text(checked.error().message));
        finish({ SyncResult::Failed, {}, Reason::NoEligiblePeer, u"BAD_RECEIPT"_s, true });
        return;
    }
    recordReceipt(applied.receipt, keeps);
    m_engine.publishSyncChange(m_orgId, m_credentialId, m_targetId,
                               keeps ? u"statement_applied"_s : u"purged"_s,
                               QJsonObject { { u"receipt"_s, applied.receipt.toJson() } });
    finish({ SyncResult::Applied, {}, Reason::NoEligiblePeer, {}, false });
}

void SyncTask::onAgentDisconnected(const QString &agentId)
{
    if (agentId == m_targetId
        && (m_step == Step::AwaitingPeer || m_step == Step::AwaitingTarget
            || m_step == Step::AwaitingStatement)) {
        m_timer.stop();
        releasePendingDispatch();
        if (m_dispatchAuditId.isEmpty())
            finish({ SyncResult::Failed, {}, Reason::NoEligiblePeer, u"AGENT_OFFLINE"_s, false });
        else
            finishDispatch(u"exhausted"_s, SyncResult::Failed, u"AGENT_OFFLINE"_s,
                           Reason::NoEligiblePeer);
        return;
    }
    if (agentId == m_peerId && m_step == Step::AwaitingPeer) {
        m_timer.stop();
        releasePendingDispatch();
        peerFailed(u"disconnected"_s, u"PEER_DISCONNECTED"_s);
    }
}

void SyncTask::armTimer()
{
    m_timer.start(m_engine.options().peerTimeout);
}

void SyncTask::finishDispatch(const QString &auditOutcome, SyncResult result, const QString &error,
                              Reason publicReason)
{
    if (m_step == Step::Finished)
        return;
    m_engine.writeTogether(u"record a dispatch outcome",
                           [&] { auditDispatchOutcome(auditOutcome, result, error); });
    // A target that went away is not a failed delivery attempt: it is
    // backfilled when it registers again.
    const bool counts = error != u"AGENT_OFFLINE"_s;
    finish({ result, auditOutcome, publicReason, error, counts });
}

void SyncTask::auditDispatchOutcome(const QString &auditOutcome, SyncResult result,
                                    const QString &error)
{
    // A dispatch that asked no peer still has its pending row first.
    writePendingAudit();
    QJsonObject details { { u"source"_s, m_creatorDelivery ? u"creator"_s : u"peer"_s },
                          { u"trigger"_s, syncTriggerName(m_trigger) },
                          { u"version"_s, m_credential.version },
                          { u"attempts"_s, m_attempts } };
    if (result == SyncResult::Delivered && !m_creatorDelivery)
        details.insert(u"peer_agent_id"_s, m_peerId);
    m_engine.audit(AuditEntry {
        m_orgId, u"dispatch"_s, u"backend"_s, m_credentialId, m_targetId, m_dispatchAuditId,
        auditOutcome, error.isEmpty() ? std::nullopt : std::optional<QString>(error),
        QString::fromUtf8(QJsonDocument(details).toJson(QJsonDocument::Compact)) });
    m_engine.m_metrics.countDispatch(auditOutcome);
}

void SyncTask::finish(SyncOutcome outcome)
{
    if (m_step == Step::Finished)
        return;
    m_step = Step::Finished;
    m_timer.stop();
    m_lockRetry.stop();
    endDispatch();
    if (!m_requestId.isEmpty())
        releasePendingDispatch();
    m_outcomeSubscription.cancel();
    if (m_lease && m_lease->isHeld()) {
        const QString pair = m_orgId + u':' + m_credentialId + u':' + m_targetId;
        m_engine.m_store.publish(u"inflight_result:"_s + pair, outcome.toJson(), nullptr,
                                 [](Result<int>) {});
        m_lease->release();
    }
    m_engine.taskFinished(this, outcome);
}

} // namespace sealrelay::backend
