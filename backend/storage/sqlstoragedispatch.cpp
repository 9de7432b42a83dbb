// SqlStorage: pending creator deliveries, pending rewrap dispatches and the
// peer blocklist.
#include "sqlstorage.h"
#include "sqlvalues.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kDeliveryColumns =
    u"org_id, delivery_id, credential_id, version, target_agent_id, envelope, "
    "attestation_statement, attestation_signature, created_at"_s;

const QString kDispatchColumns =
    u"org_id, dispatch_id, credential_id, target_agent_id, peer_agent_id, attempt, "
    "originating_replica_id, dispatch_audit_id, started_at, deadline"_s;

const QString kBlocklistColumns =
    u"org_id, credential_id, source_agent_id, reporter_agent_id, created_at, expires_at"_s;

PendingDeliveryRow deliveryAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    PendingDeliveryRow row;
    row.orgId = columns.value(u"org_id"_s).toString();
    row.deliveryId = columns.value(u"delivery_id"_s).toString();
    row.credentialId = columns.value(u"credential_id"_s).toString();
    row.version = columns.value(u"version"_s).toLongLong();
    row.targetAgentId = columns.value(u"target_agent_id"_s).toString();
    row.envelope = columns.value(u"envelope"_s).toString().toUtf8();
    row.attestationStatement = columns.value(u"attestation_statement"_s).toByteArray();
    row.attestationSignature = columns.value(u"attestation_signature"_s).toByteArray();
    row.createdAt = timeAt(columns, u"created_at"_s);
    return row;
}

PendingDispatchRow dispatchAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    PendingDispatchRow row;
    row.orgId = columns.value(u"org_id"_s).toString();
    row.dispatchId = columns.value(u"dispatch_id"_s).toString();
    row.credentialId = columns.value(u"credential_id"_s).toString();
    row.targetAgentId = columns.value(u"target_agent_id"_s).toString();
    row.peerAgentId = columns.value(u"peer_agent_id"_s).toString();
    row.attempt = columns.value(u"attempt"_s).toInt();
    row.originatingReplicaId = columns.value(u"originating_replica_id"_s).toString();
    row.dispatchAuditId = columns.value(u"dispatch_audit_id"_s).toString();
    row.startedAt = timeAt(columns, u"started_at"_s);
    row.deadline = timeAt(columns, u"deadline"_s);
    return row;
}

BlocklistRow blocklistAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    BlocklistRow row;
    row.orgId = columns.value(u"org_id"_s).toString();
    row.credentialId = columns.value(u"credential_id"_s).toString();
    row.sourceAgentId = columns.value(u"source_agent_id"_s).toString();
    row.reporterAgentId = columns.value(u"reporter_agent_id"_s).toString();
    row.createdAt = timeAt(columns, u"created_at"_s);
    row.expiresAt = timeAt(columns, u"expires_at"_s);
    return row;
}

} // namespace

// ---- Pending deliveries --------------------------------------------------------

Result<void> SqlStorage::addPendingDelivery(const PendingDeliveryRow &delivery)
{
    // The envelope is canonical JSON and goes into a TEXT column, so it is
    // bound as a string: PostgreSQL would store a byte array as escaped hex.
    auto query = m_connection->exec(
        u"queue delivery %1"_s.arg(delivery.deliveryId),
        u"INSERT INTO pending_deliveries (%1) VALUES (:org_id, :delivery_id, :credential_id, "
        ":version, :target_agent_id, :envelope, :attestation_statement, :attestation_signature, "
        ":created_at)"_s.arg(kDeliveryColumns),
        { { u":org_id"_s, delivery.orgId },
          { u":delivery_id"_s, delivery.deliveryId },
          { u":credential_id"_s, delivery.credentialId },
          { u":version"_s, QVariant::fromValue<qlonglong>(delivery.version) },
          { u":target_agent_id"_s, delivery.targetAgentId },
          { u":envelope"_s, QString::fromUtf8(delivery.envelope) },
          { u":attestation_statement"_s, delivery.attestationStatement },
          { u":attestation_signature"_s, delivery.attestationSignature },
          { u":created_at"_s, dbTime(now()) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<std::optional<PendingDeliveryRow>> SqlStorage::pendingDelivery(const QString &orgId,
                                                                      const QString &deliveryId)
{
    auto query = m_connection->exec(
        u"read delivery %1"_s.arg(deliveryId),
        u"SELECT %1 FROM pending_deliveries WHERE org_id = :org_id AND delivery_id = :delivery_id"_s
            .arg(kDeliveryColumns),
        { { u":org_id"_s, orgId }, { u":delivery_id"_s, deliveryId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<PendingDeliveryRow>();
    }
    return std::optional<PendingDeliveryRow>(deliveryAt(query.value()));
}

Result<QList<PendingDeliveryRow>> SqlStorage::pendingDeliveriesFor(const QString &orgId,
                                                                   const QString &agentId)
{
    auto query = m_connection->exec(
        u"list the deliveries for agent %1"_s.arg(agentId),
        u"SELECT %1 FROM pending_deliveries WHERE org_id = :org_id "
        "AND target_agent_id = :agent_id ORDER BY created_at, delivery_id"_s.arg(kDeliveryColumns),
        { { u":org_id"_s, orgId }, { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    QList<PendingDeliveryRow> rows;
    while (query->next()) {
        rows.append(deliveryAt(query.value()));
    }
    return rows;
}

Result<QList<PendingDeliveryRow>> SqlStorage::pendingDeliveriesFor(const QString &orgId,
                                                                   const QString &agentId,
                                                                   const QString &credentialId)
{
    auto query = m_connection->exec(
        u"list the deliveries of credential %1 for agent %2"_s.arg(credentialId, agentId),
        u"SELECT %1 FROM pending_deliveries WHERE org_id = :org_id "
        "AND target_agent_id = :agent_id AND credential_id = :credential_id "
        "ORDER BY created_at, delivery_id"_s.arg(kDeliveryColumns),
        { { u":org_id"_s, orgId },
          { u":agent_id"_s, agentId },
          { u":credential_id"_s, credentialId } });
    if (!query) {
        return query.error();
    }
    QList<PendingDeliveryRow> rows;
    while (query->next()) {
        rows.append(deliveryAt(query.value()));
    }
    return rows;
}

Result<bool> SqlStorage::deletePendingDelivery(const QString &orgId, const QString &deliveryId)
{
    auto query = m_connection->exec(
        u"delete delivery %1"_s.arg(deliveryId),
        u"DELETE FROM pending_deliveries WHERE org_id = :org_id AND delivery_id = :delivery_id "
        "RETURNING delivery_id"_s,
        { { u":org_id"_s, orgId }, { u":delivery_id"_s, deliveryId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<int> SqlStorage::deletePendingDeliveriesBefore(const QString &orgId,
                                                      const QString &credentialId, qint64 version)
{
    auto query = m_connection->exec(
        u"delete the deliveries of credential %1 older than version %2"_s.arg(
            credentialId, QString::number(version)),
        u"DELETE FROM pending_deliveries WHERE org_id = :org_id "
        "AND credential_id = :credential_id AND version < :version RETURNING delivery_id"_s,
        { { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":version"_s, QVariant::fromValue<qlonglong>(version) } });
    if (!query) {
        return query.error();
    }
    int deleted = 0;
    while (query->next()) {
        ++deleted;
    }
    return deleted;
}

// ---- Pending dispatches --------------------------------------------------------

Result<void> SqlStorage::addPendingDispatch(const PendingDispatchRow &dispatch)
{
    auto query = m_connection->exec(
        u"record dispatch %1"_s.arg(dispatch.dispatchId),
        u"INSERT INTO pending_dispatches (%1) VALUES (:org_id, :dispatch_id, :credential_id, "
        ":target_agent_id, :peer_agent_id, :attempt, :originating_replica_id, "
        ":dispatch_audit_id, :started_at, :deadline)"_s.arg(kDispatchColumns),
        { { u":org_id"_s, dispatch.orgId },
          { u":dispatch_id"_s, dispatch.dispatchId },
          { u":credential_id"_s, dispatch.credentialId },
          { u":target_agent_id"_s, dispatch.targetAgentId },
          { u":peer_agent_id"_s, dispatch.peerAgentId },
          { u":attempt"_s, dispatch.attempt },
          { u":originating_replica_id"_s, dispatch.originatingReplicaId },
          { u":dispatch_audit_id"_s, dispatch.dispatchAuditId },
          { u":started_at"_s, dbTime(dispatch.startedAt) },
          { u":deadline"_s, dbTime(dispatch.deadline) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<std::optional<PendingDispatchRow>> SqlStorage::pendingDispatch(const QString &orgId,
                                                                      const QString &dispatchId)
{
    auto query = m_connection->exec(
        u"read dispatch %1"_s.arg(dispatchId),
        u"SELECT %1 FROM pending_dispatches WHERE org_id = :org_id AND dispatch_id = :dispatch_id"_s
            .arg(kDispatchColumns),
        { { u":org_id"_s, orgId }, { u":dispatch_id"_s, dispatchId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<PendingDispatchRow>();
    }
    return std::optional<PendingDispatchRow>(dispatchAt(query.value()));
}

Result<std::optional<PendingDispatchRow>>
SqlStorage::claimPendingDispatch(const QString &orgId, const QString &dispatchId)
{
    // DELETE ... RETURNING removes the row at most once; the caller whose
    // statement removed it gets the row back, every other caller none.
    auto query = m_connection->exec(
        u"claim dispatch %1"_s.arg(dispatchId),
        u"DELETE FROM pending_dispatches WHERE org_id = :org_id AND dispatch_id = :dispatch_id "
        "RETURNING %1"_s.arg(kDispatchColumns),
        { { u":org_id"_s, orgId }, { u":dispatch_id"_s, dispatchId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<PendingDispatchRow>();
    }
    PendingDispatchRow row = dispatchAt(query.value());
    query->finish();
    return std::optional<PendingDispatchRow>(std::move(row));
}

Result<QList<PendingDispatchRow>> SqlStorage::pendingDispatches(const QString &orgId)
{
    auto query = m_connection->exec(u"list the dispatches of org %1"_s.arg(orgId),
                                    u"SELECT %1 FROM pending_dispatches WHERE org_id = :org_id "
                                    "ORDER BY deadline, dispatch_id"_s.arg(kDispatchColumns),
                                    { { u":org_id"_s, orgId } });
    if (!query) {
        return query.error();
    }
    QList<PendingDispatchRow> rows;
    while (query->next()) {
        rows.append(dispatchAt(query.value()));
    }
    return rows;
}

// ---- Peer blocklist --------------------------------------------------------------

Result<void> SqlStorage::blockPeer(const QString &orgId, const QString &credentialId,
                                   const QString &sourceAgentId, const QString &reporterAgentId,
                                   const QDateTime &expiresAt)
{
    auto query = m_connection->exec(
        u"block peer %1 for credential %2"_s.arg(sourceAgentId, credentialId),
        u"INSERT INTO peer_blocklist (%1) VALUES (:org_id, :credential_id, :source_agent_id, "
        ":reporter_agent_id, :created_at, :expires_at) "
        "ON CONFLICT (org_id, credential_id, source_agent_id) DO UPDATE SET "
        "reporter_agent_id = excluded.reporter_agent_id, created_at = excluded.created_at, "
        "expires_at = excluded.expires_at"_s.arg(kBlocklistColumns),
        { { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":source_agent_id"_s, sourceAgentId },
          { u":reporter_agent_id"_s, reporterAgentId },
          { u":created_at"_s, dbTime(now()) },
          { u":expires_at"_s, dbTime(expiresAt) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<bool> SqlStorage::isPeerBlocked(const QString &orgId, const QString &credentialId,
                                       const QString &sourceAgentId)
{
    auto query = m_connection->exec(
        u"check whether peer %1 is blocked"_s.arg(sourceAgentId),
        u"SELECT source_agent_id FROM peer_blocklist WHERE org_id = :org_id "
        "AND credential_id = :credential_id AND source_agent_id = :source_agent_id "
        "AND expires_at > :now"_s,
        { { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":source_agent_id"_s, sourceAgentId },
          { u":now"_s, dbTime(now()) } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<QList<BlocklistRow>> SqlStorage::blockedPeers(const QString &orgId,
                                                     const QString &credentialId)
{
    auto query = m_connection->exec(
        u"list the blocked peers of credential %1"_s.arg(credentialId),
        u"SELECT %1 FROM peer_blocklist WHERE org_id = :org_id AND credential_id = :credential_id "
        "AND expires_at > :now ORDER BY source_agent_id"_s.arg(kBlocklistColumns),
        { { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":now"_s, dbTime(now()) } });
    if (!query) {
        return query.error();
    }
    QList<BlocklistRow> rows;
    while (query->next()) {
        rows.append(blocklistAt(query.value()));
    }
    return rows;
}

Result<int> SqlStorage::purgeExpiredBlocks(const QString &orgId)
{
    auto query = m_connection->exec(
        u"purge the expired blocklist entries of org %1"_s.arg(orgId),
        u"DELETE FROM peer_blocklist WHERE org_id = :org_id AND expires_at <= :now "
        "RETURNING source_agent_id"_s,
        { { u":org_id"_s, orgId }, { u":now"_s, dbTime(now()) } });
    if (!query) {
        return query.error();
    }
    int purged = 0;
    while (query->next()) {
        ++purged;
    }
    return purged;
}

} // namespace sealrelay::backend
