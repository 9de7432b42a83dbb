// SyncTask: one sync of one (credential, target agent). It takes the
// (credential, target) lock, then sends the creator's envelope, a newer
// statement, or runs a rewrap dispatch through up to three peers, and
// finishes with one SyncOutcome for every caller that joined it.
#pragma once

#include "lease.h"
#include "messages.h"
#include "rows.h"
#include "statement.h"
#include "syncengine.h"

#include <QJsonArray>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <optional>

namespace sealrelay::backend {

class SyncTask : public QObject {
    Q_OBJECT

public:
    SyncTask(SyncEngine &engine, QString orgId, QString credentialId, QString targetId,
             SyncTrigger trigger);
    ~SyncTask() override;

    // Subscribes to the outcome channel, takes the lock and runs.
    void start();
    // Adds a caller. `missingRequestId` names the credential_missing that the
    // delivery completes. `dispatchEnded` runs once no peer or target works
    // on this sync any more, at once when that is already so.
    void join(SyncCallback done, const QString &missingRequestId,
              std::function<void()> dispatchEnded = {});
    // Ends the task now (the engine stops) without counting an attempt.
    void abandon();

    const QString &orgId() const { return m_orgId; }
    const QString &credentialId() const { return m_credentialId; }
    const QString &targetId() const { return m_targetId; }
    SyncTrigger trigger() const { return m_trigger; }

    // Replies routed here by request_id or delivery_id. The engine checked
    // that the message names this task's ids; the task checks the rest.
    void onRewrapResponse(const QString &senderId, const RewrapResponse &response);
    void onRewrapRefused(const QString &senderId, const RewrapRefused &refused);
    void onMalformedRewrapResponse(const QString &senderId, const QString &problem);
    void onCredentialStored(const CredentialStored &stored);
    void onIntegrityFailure(const CredentialIntegrityFailure &failure);
    void onStatementApplied(const StatementApplied &applied);
    // An agent's session closed.
    void onAgentDisconnected(const QString &agentId);

    // Hands the joined callers to the engine once the task finished.
    QList<SyncCallback> takeCallbacks() { return std::exchange(m_callbacks, {}); }

    // True while this task may still give its target the creator's envelope:
    // it waits for its lock, for the target's reply to that envelope, or for
    // the commit of that reply.
    bool mayDeliverFromCreator() const
    {
        return m_step == Step::Locking
            || (m_creatorDelivery.has_value()
                && (m_step == Step::AwaitingTarget || m_step == Step::CheckingReceipt
                    || m_step == Step::Recording));
    }

    // The peer a rewrap_request went to, or empty.
    const QString &currentPeer() const { return m_peerId; }

private:
    enum class Step {
        Locking, // waiting for the lock, or for another replica's outcome
        AwaitingPeer, // rewrap_request sent to m_peerId
        AwaitingTarget, // credential_store sent to the target
        AwaitingStatement, // statement_update sent to the target
        CheckingReceipt, // the target stored it, and its receipt is being verified
        Recording, // the receipt verified and waits for its commit
        Finished,
    };

    void onLockResult(bool acquired);
    void onRemoteOutcome(const QByteArray &message);
    void plan();
    Result<void> loadState();
    void sendStatementUpdate();
    // True when the creator envelope's attestation names the target's
    // current encryption key.
    bool sealedToCurrentKey(const PendingDeliveryRow &delivery) const;
    void sendCreatorDelivery(const PendingDeliveryRow &delivery);
    void startDispatch();
    void tryNextPeer();
    void sendToTarget(const CredentialStore &message);
    void peerFailed(const QString &result, const QString &error);
    void finishDispatch(const QString &auditOutcome, SyncResult result, const QString &error,
                        Reason publicReason);
    // Writes the dispatch's final audit row, preceded by its pending row when
    // that is still due, and counts the dispatch metric.
    void auditDispatchOutcome(const QString &auditOutcome, SyncResult result,
                              const QString &error);
    // Writes the pending audit row of a peer dispatch, once.
    void writePendingAudit();
    void finish(SyncOutcome outcome);
    void armTimer();
    // Ends the current wait for a peer: claims the pending_dispatches row.
    void releasePendingDispatch();
    // Deletes the pending_dispatches row of the current request. Returns
    // false when it was already gone: another replica claimed it for a reply
    // of the peer that it routes here.
    bool claimPendingDispatch();
    QStringList eligiblePeers();
    // Returns the fields a receipt of this sync must name (`at` and `reason`
    // are not compared).
    Receipt expectedReceipt(ReceiptState state) const;
    // Verifies the receipt's signature under `identityKey` (raw Ed25519) and
    // compares its fields with `expected`. Reads only its arguments, so it
    // may run on another thread.
    static Result<void> checkReceipt(const SignedStatement &receipt, const QByteArray &identityKey,
                                     const Receipt &expected);
    // Records a credential_stored once its receipt has been checked, or ends
    // the dispatch with BAD_RECEIPT when the check failed.
    void onStoredReceiptChecked(const CredentialStored &stored, const Result<void> &checked);
    // Stores a verified receipt on the (credential, target) row.
    void recordReceipt(const SignedStatement &receipt, bool secretStored);
    void integrityFailure(const QString &reason, const std::optional<QString> &sourceAgentId);

    SyncEngine &m_engine;
    QString m_orgId;
    QString m_credentialId;
    QString m_targetId;
    SyncTrigger m_trigger;
    Step m_step = Step::Locking;

    QList<SyncCallback> m_callbacks;
    QList<std::function<void()>> m_dispatchEndedCallbacks;
    bool m_dispatchEnded = false;
    // Runs the dispatchEnded callbacks, once.
    void endDispatch();
    QString m_missingRequestId;

    std::unique_ptr<Lease> m_lease;
    Subscription m_outcomeSubscription;
    bool m_subscribed = false; // the outcome subscription is ready or failed
    bool m_lockRefusedEarly = false; // the lock was refused before that
    QTimer m_timer;
    QTimer m_lockRetry; // tries the lock again while another replica holds it

    // State read from storage once the lock is held.
    CredentialRow m_credential;
    CredentialStatement m_statement;
    AgentRow m_target;
    std::optional<CredentialAgentRow> m_row;

    // Current exchange.
    QString m_deliveryId;
    std::optional<PendingDeliveryRow> m_creatorDelivery;
    QByteArray m_deliveredAttestation; // attestation bytes sent to the target
    QString m_requestId; // rewrap request_id
    QString m_peerId;
    QStringList m_peers; // candidates not tried yet
    int m_attempt = 0;
    QString m_dispatchAuditId;
    bool m_pendingAuditDue = false; // m_dispatchAuditId has no pending row yet
    QJsonArray m_attempts; // per-peer results for the final audit row
    bool m_anyTimeout = false;
    bool m_claimGraceUsed = false; // the current peer got its routed-reply grace
};

} // namespace sealrelay::backend
