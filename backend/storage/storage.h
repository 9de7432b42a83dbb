// Storage: the backend's durable state behind one interface, implemented on
// SQLite and PostgreSQL by SqlStorage. Every method but the token and
// enrolment look-ups by hash is scoped to one org and never reads another's.
#pragma once

#include "durability.h"
#include "error.h"
#include "rows.h"

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QString>

#include <functional>
#include <optional>

namespace sealrelay::backend {

class Storage {
public:
    // Source of "now" for every time Storage stamps itself (created_at,
    // used_at, the audit row's `at`, due and expiry comparisons).
    using Clock = std::function<QDateTime()>;

    virtual ~Storage() = default;

    // Replaces the clock; the default is QDateTime::currentDateTimeUtc.
    virtual void setClock(Clock clock) = 0;

    // ---- Schema -----------------------------------------------------------

    // Applies the numbered migrations this build carries that the database
    // lacks, and records each in schema_migrations. Safe to call from several
    // processes at once and to call again.
    virtual Result<void> migrate() = 0;

    // Highest applied migration number; 0 for an empty database.
    virtual Result<int> schemaVersion() = 0;

    // Cheap round trip for readiness checks.
    virtual Result<void> ping() = 0;

    // Runs `work` inside one write transaction, so the writes it makes
    // through this Storage commit together, or not at all when `work` or the
    // commit fails. Each write method called inside keeps its own atomicity;
    // calls nest, and a nested call's durability is the outermost one's.
    virtual Result<void> inTransaction(QStringView purpose,
                                       const std::function<Result<void>()> &work,
                                       Durability durability) = 0;
    Result<void> inTransaction(QStringView purpose, const std::function<Result<void>()> &work)
    {
        return inTransaction(purpose, work, Durability::OnCommit);
    }

    // True when a transaction committed WithNextDurableCommit is made durable
    // in the background by afterCommitsDurable() (SQLite). On PostgreSQL it
    // is false, and a caller that waits with afterCommitsDurable() commits
    // OnCommit.
    virtual bool syncsInBackground() const = 0;
    // Runs `done` on this thread once the transactions committed so far are
    // on disk, or with the error that stopped the sync. Where nothing syncs
    // in the background, `done` runs at once.
    virtual void afterCommitsDurable(std::function<void(Result<void>)> done) = 0;

    // True when the connected role could alter or drop audit_log or its
    // triggers: on PostgreSQL it owns the table, is a member of its owner
    // role, or is a superuser. Always false on SQLite, which has no roles.
    // The service refuses to run when this is true.
    virtual Result<bool> connectedRoleOwnsAuditLog() = 0;

    // ---- Orgs and API tokens ----------------------------------------------

    // createdAt is stamped by Storage in every create* and add* call.
    virtual Result<void> createOrg(const OrgRow &org) = 0;
    virtual Result<std::optional<OrgRow>> org(const QString &orgId) = 0;
    virtual Result<QList<OrgRow>> orgs() = 0;

    virtual Result<void> createApiToken(const ApiTokenRow &token) = 0;
    // Finds a token by the SHA-256 of the presented bearer token, in any org:
    // the token is what tells which org a request belongs to. Revoked tokens
    // are returned too, with revokedAt set.
    virtual Result<std::optional<ApiTokenRow>> apiTokenByHash(const QByteArray &tokenHash) = 0;
    virtual Result<QList<ApiTokenRow>> apiTokens(const QString &orgId) = 0;
    // Returns false when the org has no such token or it was already revoked.
    virtual Result<bool> revokeApiToken(const QString &orgId, const QString &tokenId) = 0;

    // ---- Enrolment tokens -------------------------------------------------

    // Rejects (Reason::Malformed) an expiry more than 24 h after now.
    virtual Result<void> createEnrolmentToken(const EnrolmentTokenRow &token) = 0;
    virtual Result<QList<EnrolmentTokenRow>> enrolmentTokens(const QString &orgId) = 0;
    // Marks the token with this hash used by `agentId`, atomically: of two
    // agents presenting one token, exactly one gets Consumed. A token is
    // looked up in any org, like apiTokenByHash.
    virtual Result<EnrolmentConsumption> consumeEnrolmentToken(const QByteArray &tokenHash,
                                                               const QString &agentName,
                                                               const QString &agentId) = 0;

    // ---- Agents -----------------------------------------------------------

    // Inserts the agent, or for a known agent_id (a rekey) replaces its
    // name, keys and status and keeps its certificate, generation, last_seen,
    // quarantine flag and created_at.
    virtual Result<void> upsertAgent(const AgentRow &agent) = 0;
    virtual Result<std::optional<AgentRow>> agent(const QString &orgId, const QString &agentId) = 0;
    // Agents ordered by agent_id; with `status`, only those in that status.
    virtual Result<QList<AgentRow>> agents(const QString &orgId,
                                           std::optional<AgentStatus> status = std::nullopt) = 0;
    // Each returns false when the org has no such agent.
    virtual Result<bool> setAgentStatus(const QString &orgId, const QString &agentId,
                                        AgentStatus status) = 0;
    virtual Result<bool> setAgentQuarantined(const QString &orgId, const QString &agentId,
                                             bool quarantined) = 0;
    virtual Result<bool> touchAgent(const QString &orgId, const QString &agentId) = 0;
    // Stores a certificate and sets the agent approved. Returns false when
    // the org has no such agent or the certificate's generation is not
    // higher than the stored one.
    virtual Result<bool> setAgentCertificate(const QString &orgId, const QString &agentId,
                                             const AgentCertificate &certificate) = 0;

    // ---- Credentials ------------------------------------------------------

    // Creates version 1 revision 1 (anything else is Reason::Malformed) and a
    // credential_agents row, due now, for each of `agentIds`. This write,
    // rotateCredential and updateCredentialStatement then set in_scope on
    // every row of the credential in the same transaction. It is true for
    // every row under scope auto_all, and under scope explicit only for the
    // agents in scopeAgentIds.
    virtual Result<CredentialWriteOutcome> createCredential(const CredentialRow &credential,
                                                            const QStringList &agentIds) = 0;
    // Rotation: `next` must have version = expected.version + 1 and revision 1
    // (Reason::Malformed otherwise). Written only while the stored row still
    // matches `expected`; a second rotation racing the first gets Conflict.
    // Every credential_agents row of the credential is made due now with its
    // attempts cleared, and rows are added for `agentIds` that lack one.
    virtual Result<CredentialWriteOutcome> rotateCredential(const CredentialExpectation &expected,
                                                            const CredentialRow &next,
                                                            const QStringList &agentIds) = 0;
    // Scope change or delete: `next` must keep the version and commitment and
    // have revision = expected.revision + 1 (Reason::Malformed otherwise).
    // Compare-and-set and credential_agents rows as for rotateCredential.
    virtual Result<CredentialWriteOutcome>
    updateCredentialStatement(const CredentialExpectation &expected, const CredentialRow &next,
                              const QStringList &agentIds) = 0;

    virtual Result<std::optional<CredentialRow>> credential(const QString &orgId,
                                                            const QString &credentialId) = 0;
    // The active credential with this name.
    virtual Result<std::optional<CredentialRow>> credentialByName(const QString &orgId,
                                                                  const QString &name) = 0;
    virtual Result<std::optional<CredentialDetail>>
    credentialDetail(const QString &orgId, const QString &credentialId) = 0;
    // Credentials ordered by name, then credential_id, each with its rows.
    virtual Result<QList<CredentialDetail>> credentialDetails(const QString &orgId,
                                                              bool includeDeleted) = 0;
    // Every credential, deleted ones included, in the order of
    // credentialDetails(), each with only the row of `agentId` when it has one.
    virtual Result<QList<CredentialDetail>> credentialDetailsOfAgent(const QString &orgId,
                                                                     const QString &agentId) = 0;
    // Reads in one query the credential's credential_agents rows whose agent
    // exists, ordered by agent_id. Each row carries its agent's status,
    // quarantine flag, certificate presence and expiry, and whether
    // blockedPeers() lists the agent. SyncTask chooses rewrap peers from them.
    virtual Result<QList<PeerCandidateRow>> peerCandidates(const QString &orgId,
                                                           const QString &credentialId) = 0;

    // ---- Delivery state per (credential, agent) ----------------------------

    // Inserts the row or replaces every field of an existing one.
    virtual Result<void> upsertCredentialAgent(const CredentialAgentRow &row) = 0;
    // Adds the row of `agentId`, due now, to every active auto_all credential
    // of the org that has none: an agent enrolled after such an upload is in
    // its scope. Returns the number of rows added.
    virtual Result<int> addAutoAllRows(const QString &orgId, const QString &agentId) = 0;
    virtual Result<std::optional<CredentialAgentRow>>
    credentialAgent(const QString &orgId, const QString &credentialId, const QString &agentId) = 0;
    // Records a signed receipt of a credential_store or a statement_update.
    // It sets secret_stored, the stored version and revision and the
    // receipt, and clears attempts, last_error and stalled. Returns false
    // when there is no such row.
    virtual Result<bool> markDelivered(const QString &orgId, const QString &credentialId,
                                       const QString &agentId, const DeliveryReceipt &receipt) = 0;
    // Keeps an agent's signed `refused` receipt as the row's receipt, so a
    // console that connects later can still verify the refusal. The stored
    // version, revision and secret_stored stay as they were. Returns false
    // when there is no such row.
    virtual Result<bool> recordRefusal(const QString &orgId, const QString &credentialId,
                                       const QString &agentId, const QByteArray &receiptStatement,
                                       const QByteArray &receiptSignature,
                                       const QDateTime &at) = 0;
    // Counts a failed attempt: attempts + 1, last_error, next_attempt_at; the
    // row becomes stalled when attempts reaches maxAttempts. Returns the
    // updated row, or std::nullopt when there is no such row.
    virtual Result<std::optional<CredentialAgentRow>>
    recordDeliveryFailure(const QString &orgId, const QString &credentialId, const QString &agentId,
                          const QString &error, const QDateTime &nextAttemptAt,
                          int maxAttempts) = 0;
    // Marks that the agent does not hold a valid secret any more (the source
    // of an integrity failure): secret_stored false and last_error set.
    virtual Result<bool> markSecretLost(const QString &orgId, const QString &credentialId,
                                        const QString &agentId, const QString &error) = 0;
    // Manual retry: every row of the credential becomes due now, with
    // attempts and stalled cleared. Returns the number of rows changed.
    virtual Result<int> retryCredential(const QString &orgId, const QString &credentialId) = 0;
    // Starts over every row of an agent that regenerated its keys, which
    // purges its vault: secret_stored false, no stored version or revision,
    // no receipt, attempts 0, not stalled, no last_error, due now. Returns
    // the number of rows changed.
    virtual Result<int> resetAgentDeliveries(const QString &orgId, const QString &agentId) = 0;
    // Every row of one agent, ordered by credential_id.
    virtual Result<QList<CredentialAgentRow>> credentialAgentsOf(const QString &orgId,
                                                                 const QString &agentId) = 0;
    // At most `limit` undelivered rows whose next_attempt_at has passed, not
    // stalled, of approved agents, ordered by next_attempt_at, credential_id,
    // agent_id. With `onlyAgents`, only rows of those agents (e.g. the
    // connected ones). "Behind" below means the stored (version, revision)
    // is lower than the credential's. A row is undelivered when either:
    // - the credential is active, the row is in scope, and the agent never
    //   stored it, is behind, or lost the secret (secret_stored false); or
    // - the credential is deleted or the row is out of scope, and the agent
    //   stored an older statement (it is behind), so it needs the
    //   statement_update that purges the secret.
    // So a row whose agent never stored a deleted or out-of-scope credential
    // is never due.
    virtual Result<QList<CredentialAgentRow>>
    dueCredentialAgents(const QString &orgId, int limit,
                        const std::optional<QStringList> &onlyAgents = std::nullopt) = 0;

    // ---- Pending deliveries ------------------------------------------------

    virtual Result<void> addPendingDelivery(const PendingDeliveryRow &delivery) = 0;
    virtual Result<std::optional<PendingDeliveryRow>>
    pendingDelivery(const QString &orgId, const QString &deliveryId) = 0;
    // Deliveries for one target, oldest first.
    virtual Result<QList<PendingDeliveryRow>> pendingDeliveriesFor(const QString &orgId,
                                                                   const QString &agentId) = 0;
    // Deliveries of one credential for one target, oldest first.
    virtual Result<QList<PendingDeliveryRow>>
    pendingDeliveriesFor(const QString &orgId, const QString &agentId,
                         const QString &credentialId) = 0;
    virtual Result<bool> deletePendingDelivery(const QString &orgId, const QString &deliveryId) = 0;
    // Deletes the credential's deliveries of versions lower than `version`,
    // which a rotation made stale; returns how many.
    virtual Result<int> deletePendingDeliveriesBefore(const QString &orgId,
                                                      const QString &credentialId,
                                                      qint64 version) = 0;

    // ---- Pending dispatches ------------------------------------------------

    virtual Result<void> addPendingDispatch(const PendingDispatchRow &dispatch) = 0;
    virtual Result<std::optional<PendingDispatchRow>>
    pendingDispatch(const QString &orgId, const QString &dispatchId) = 0;
    // Deletes the dispatch and returns it to the one caller whose delete
    // removed it; every other caller, concurrent or later, gets std::nullopt.
    virtual Result<std::optional<PendingDispatchRow>>
    claimPendingDispatch(const QString &orgId, const QString &dispatchId) = 0;
    // Dispatches ordered by deadline.
    virtual Result<QList<PendingDispatchRow>> pendingDispatches(const QString &orgId) = 0;

    // ---- Replicas ------------------------------------------------------------

    // Writes the replica's row, replacing its previous status.
    virtual Result<void> recordReplicaStatus(const ReplicaStatusRow &status) = 0;
    // Replicas whose last status is from `since` or later, by replica id.
    virtual Result<QList<ReplicaStatusRow>> replicaStatuses(const QDateTime &since) = 0;

    // ---- Peer blocklist ----------------------------------------------------

    // Blocks the source until `expiresAt`; blocking it again replaces the
    // reporter and the expiry.
    virtual Result<void> blockPeer(const QString &orgId, const QString &credentialId,
                                   const QString &sourceAgentId, const QString &reporterAgentId,
                                   const QDateTime &expiresAt) = 0;
    // True while an unexpired entry blocks the source for this credential.
    virtual Result<bool> isPeerBlocked(const QString &orgId, const QString &credentialId,
                                       const QString &sourceAgentId) = 0;
    // Unexpired entries of one credential, ordered by source_agent_id.
    virtual Result<QList<BlocklistRow>> blockedPeers(const QString &orgId,
                                                     const QString &credentialId) = 0;
    // Deletes the org's expired entries; returns how many.
    virtual Result<int> purgeExpiredBlocks(const QString &orgId) = 0;

    // ---- Alerts -----------------------------------------------------------

    // Opens an alert, or bumps count and last_seen of the open alert with the
    // same (type, subject) and replaces its details.
    virtual Result<AlertRaiseResult> raiseAlert(const AlertRaise &raise) = 0;
    // Alerts matching `filter`, newest last_seen first. With type, subject,
    // seenSince and limit 1 it returns the newest raise of one condition,
    // open or acknowledged, for deduplication over a time window.
    virtual Result<QList<AlertRow>> alerts(const QString &orgId, const AlertFilter &filter) = 0;
    // Returns false when the org has no such alert or it is already
    // acknowledged.
    virtual Result<bool> acknowledgeAlert(const QString &orgId, const QString &alertId,
                                          const QString &acknowledgedBy) = 0;

    // ---- Audit trail ------------------------------------------------------

    // Appends a row to the org's chain; appends of one org are serialised so
    // the chain never forks. details, when set, must be a JSON object or
    // array (Reason::Malformed otherwise).
    virtual Result<AuditRecord> appendAudit(const AuditEntry &entry) = 0;
    virtual Result<QList<AuditRecord>> auditRecords(const QString &orgId,
                                                    const AuditFilter &filter) = 0;
    // Walks the org's chain from its first row and stops at the first broken
    // row. With `knownHead` (the head of an earlier verification), that row
    // must still exist with the same row_hash, which detects history
    // rewritten before it even when every later hash was recomputed.
    virtual Result<AuditVerification>
    verifyAuditChain(const QString &orgId,
                     const std::optional<AuditHead> &knownHead = std::nullopt) = 0;
};

} // namespace sealrelay::backend
