// SqlStorage: Storage on Qt SQL, for SQLite and PostgreSQL alike. The queries
// are shared; the few statements that differ come from SqlConnection.
#pragma once

#include "databaseurl.h"
#include "sqlconnection.h"
#include "storage.h"
#include "walsync.h"

#include <memory>
#include <optional>

namespace sealrelay::backend {

class SqlStorage final : public Storage {
public:
    // Connects as configured; call migrate() before anything else. One
    // SqlStorage is used from the thread that opened it, because Qt SQL
    // connections are bound to their thread.
    static Result<std::unique_ptr<SqlStorage>> open(const StorageConfig &config);

    SqlEngine engine() const { return m_connection->engine(); }
    // Qt connection name of the service connection, for diagnostics and
    // tests that run their own SQL on it.
    QString connectionName() const { return m_connection->name(); }

    void setClock(Clock clock) override;

    Result<void> migrate() override;
    Result<int> schemaVersion() override;
    Result<void> ping() override;
    using Storage::inTransaction;
    Result<void> inTransaction(QStringView purpose, const std::function<Result<void>()> &work,
                               Durability durability) override;
    // On SQLite a WalSync thread syncs the write-ahead log.
    bool syncsInBackground() const override { return engine() == SqlEngine::Sqlite; }
    void afterCommitsDurable(std::function<void(Result<void>)> done) override;
    Result<bool> connectedRoleOwnsAuditLog() override;

    Result<void> createOrg(const OrgRow &org) override;
    Result<std::optional<OrgRow>> org(const QString &orgId) override;
    Result<QList<OrgRow>> orgs() override;

    Result<void> createApiToken(const ApiTokenRow &token) override;
    Result<std::optional<ApiTokenRow>> apiTokenByHash(const QByteArray &tokenHash) override;
    Result<QList<ApiTokenRow>> apiTokens(const QString &orgId) override;
    Result<bool> revokeApiToken(const QString &orgId, const QString &tokenId) override;

    Result<void> createEnrolmentToken(const EnrolmentTokenRow &token) override;
    Result<QList<EnrolmentTokenRow>> enrolmentTokens(const QString &orgId) override;
    Result<EnrolmentConsumption> consumeEnrolmentToken(const QByteArray &tokenHash,
                                                       const QString &agentName,
                                                       const QString &agentId) override;

    Result<void> upsertAgent(const AgentRow &agent) override;
    Result<std::optional<AgentRow>> agent(const QString &orgId, const QString &agentId) override;
    Result<QList<AgentRow>> agents(const QString &orgId,
                                   std::optional<AgentStatus> status = std::nullopt) override;
    Result<bool> setAgentStatus(const QString &orgId, const QString &agentId,
                                AgentStatus status) override;
    Result<bool> setAgentQuarantined(const QString &orgId, const QString &agentId,
                                     bool quarantined) override;
    Result<bool> touchAgent(const QString &orgId, const QString &agentId) override;
    Result<bool> setAgentCertificate(const QString &orgId, const QString &agentId,
                                     const AgentCertificate &certificate) override;

    Result<CredentialWriteOutcome> createCredential(const CredentialRow &credential,
                                                    const QStringList &agentIds) override;
    Result<CredentialWriteOutcome> rotateCredential(const CredentialExpectation &expected,
                                                    const CredentialRow &next,
                                                    const QStringList &agentIds) override;
    Result<CredentialWriteOutcome> updateCredentialStatement(const CredentialExpectation &expected,
                                                             const CredentialRow &next,
                                                             const QStringList &agentIds) override;
    Result<std::optional<CredentialRow>> credential(const QString &orgId,
                                                    const QString &credentialId) override;
    Result<std::optional<CredentialRow>> credentialByName(const QString &orgId,
                                                          const QString &name) override;
    Result<std::optional<CredentialDetail>> credentialDetail(const QString &orgId,
                                                             const QString &credentialId) override;
    Result<QList<CredentialDetail>> credentialDetailsOfAgent(const QString &orgId,
                                                             const QString &agentId) override;
    Result<QList<CredentialDetail>> credentialDetails(const QString &orgId,
                                                      bool includeDeleted) override;
    Result<QList<PeerCandidateRow>> peerCandidates(const QString &orgId,
                                                   const QString &credentialId) override;

    Result<void> upsertCredentialAgent(const CredentialAgentRow &row) override;
    Result<int> addAutoAllRows(const QString &orgId, const QString &agentId) override;
    Result<std::optional<CredentialAgentRow>> credentialAgent(const QString &orgId,
                                                              const QString &credentialId,
                                                              const QString &agentId) override;
    Result<bool> recordRefusal(const QString &orgId, const QString &credentialId,
                               const QString &agentId, const QByteArray &receiptStatement,
                               const QByteArray &receiptSignature, const QDateTime &at) override;
    Result<bool> markDelivered(const QString &orgId, const QString &credentialId,
                               const QString &agentId, const DeliveryReceipt &receipt) override;
    Result<std::optional<CredentialAgentRow>>
    recordDeliveryFailure(const QString &orgId, const QString &credentialId, const QString &agentId,
                          const QString &error, const QDateTime &nextAttemptAt,
                          int maxAttempts) override;
    Result<bool> markSecretLost(const QString &orgId, const QString &credentialId,
                                const QString &agentId, const QString &error) override;
    Result<int> retryCredential(const QString &orgId, const QString &credentialId) override;
    Result<int> resetAgentDeliveries(const QString &orgId, const QString &agentId) override;
    Result<QList<CredentialAgentRow>> credentialAgentsOf(const QString &orgId,
                                                         const QString &agentId) override;
    Result<QList<CredentialAgentRow>>
    dueCredentialAgents(const QString &orgId, int limit,
                        const std::optional<QStringList> &onlyAgents = std::nullopt) override;

    Result<void> addPendingDelivery(const PendingDeliveryRow &delivery) override;
    Result<std::optional<PendingDeliveryRow>> pendingDelivery(const QString &orgId,
                                                              const QString &deliveryId) override;
    Result<QList<PendingDeliveryRow>> pendingDeliveriesFor(const QString &orgId,
                                                           const QString &agentId) override;
    Result<QList<PendingDeliveryRow>> pendingDeliveriesFor(const QString &orgId,
                                                           const QString &agentId,
                                                           const QString &credentialId) override;
    Result<bool> deletePendingDelivery(const QString &orgId, const QString &deliveryId) override;
    Result<int> deletePendingDeliveriesBefore(const QString &orgId, const QString &credentialId,
                                              qint64 version) override;

    Result<void> addPendingDispatch(const PendingDispatchRow &dispatch) override;
    Result<std::optional<PendingDispatchRow>> pendingDispatch(const QString &orgId,
                                                              const QString &dispatchId) override;
    Result<std::optional<PendingDispatchRow>>
    claimPendingDispatch(const QString &orgId, const QString &dispatchId) override;
    Result<QList<PendingDispatchRow>> pendingDispatches(const QString &orgId) override;

    Result<void> recordReplicaStatus(const ReplicaStatusRow &status) override;
    Result<QList<ReplicaStatusRow>> replicaStatuses(const QDateTime &since) override;

    Result<void> blockPeer(const QString &orgId, const QString &credentialId,
                           const QString &sourceAgentId, const QString &reporterAgentId,
                           const QDateTime &expiresAt) override;
    Result<bool> isPeerBlocked(const QString &orgId, const QString &credentialId,
                               const QString &sourceAgentId) override;
    Result<QList<BlocklistRow>> blockedPeers(const QString &orgId,
                                             const QString &credentialId) override;
    Result<int> purgeExpiredBlocks(const QString &orgId) override;

    Result<AlertRaiseResult> raiseAlert(const AlertRaise &raise) override;
    Result<QList<AlertRow>> alerts(const QString &orgId, const AlertFilter &filter) override;
    Result<bool> acknowledgeAlert(const QString &orgId, const QString &alertId,
                                  const QString &acknowledgedBy) override;

    Result<AuditRecord> appendAudit(const AuditEntry &entry) override;
    Result<QList<AuditRecord>> auditRecords(const QString &orgId,
                                            const AuditFilter &filter) override;
    Result<AuditVerification>
    verifyAuditChain(const QString &orgId,
                     const std::optional<AuditHead> &knownHead = std::nullopt) override;

private:
    SqlStorage(const StorageConfig &config, std::optional<PostgresUrl> serviceUrl,
               std::unique_ptr<SqlConnection> connection);

    // The clock's current time at the precision the database keeps.
    QDateTime now() const;

    // Shared body of credentialDetails and credentialDetailsOfAgent: the rows
    // of `agentId` only, or every row for an empty `agentId`.
    Result<QList<CredentialDetail>> readCredentialDetails(const QString &orgId, bool includeDeleted,
                                                          const QString &agentId);
    // Shared body of rotateCredential and updateCredentialStatement.
    Result<CredentialWriteOutcome> replaceCredential(const CredentialExpectation &expected,
                                                     const CredentialRow &next,
                                                     const QStringList &agentIds,
                                                     QStringView purpose);
    // Adds missing credential_agents rows and makes every row of the
    // credential due now; runs inside the caller's transaction.
    Result<void> scheduleCredentialAgents(const QString &orgId, const QString &credentialId,
                                          const QStringList &agentIds, bool resetExisting);
    // Sets in_scope on every row of the credential from its scope, inside
    // the caller's transaction.
    Result<void> applyCredentialScope(const CredentialRow &credential);
    // Tells why a create lost a race at a unique index.
    Result<CredentialWriteOutcome> classifyLostCreate(const CredentialRow &credential);
    // Whether another active credential of the org has `name`.
    Result<bool> activeNameTaken(const QString &orgId, const QString &name,
                                 const QString &exceptCredentialId);

    StorageConfig m_config;
    std::optional<PostgresUrl> m_serviceUrl;
    std::unique_ptr<SqlConnection> m_connection;
    Clock m_clock;
    // Created at the first afterCommitsDurable() on SQLite.
    std::unique_ptr<WalSync> m_walSync;
};

} // namespace sealrelay::backend
