// SqlStorage: agents, their certificates and liveness.
#include "sqlstorage.h"
#include "sqlvalues.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kAgentColumns =
    u"org_id, agent_id, name, status, encryption_key, identity_key, certificate_statement, "
    "certificate_signature, generation, expires_at, last_seen, quarantined, created_at"_s;

AgentRow agentAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    AgentRow agent;
    agent.orgId = columns.value(u"org_id"_s).toString();
    agent.agentId = columns.value(u"agent_id"_s).toString();
    agent.name = columns.value(u"name"_s).toString();
    agent.status = parseAgentStatus(columns.value(u"status"_s).toString())
                       .value_or(AgentStatus::PendingApproval);
    agent.encryptionKey = columns.value(u"encryption_key"_s).toByteArray();
    agent.identityKey = columns.value(u"identity_key"_s).toByteArray();
    agent.certificateStatement = optionalBytesAt(columns, u"certificate_statement"_s);
    agent.certificateSignature = optionalBytesAt(columns, u"certificate_signature"_s);
    agent.generation = columns.value(u"generation"_s).toLongLong();
    agent.expiresAt = optionalTimeAt(columns, u"expires_at"_s);
    agent.lastSeen = optionalTimeAt(columns, u"last_seen"_s);
    agent.quarantined = columns.value(u"quarantined"_s).toBool();
    agent.createdAt = timeAt(columns, u"created_at"_s);
    return agent;
}

} // namespace

Result<void> SqlStorage::upsertAgent(const AgentRow &agent)
{
    auto query = m_connection->exec(
        u"store agent %1"_s.arg(agent.agentId),
        u"INSERT INTO agents (org_id, agent_id, name, status, encryption_key, identity_key, "
        "quarantined, created_at) "
        "VALUES (:org_id, :agent_id, :name, :status, :encryption_key, :identity_key, FALSE, "
        ":created_at) "
        "ON CONFLICT (org_id, agent_id) DO UPDATE SET name = excluded.name, "
        "status = excluded.status, encryption_key = excluded.encryption_key, "
        "identity_key = excluded.identity_key"_s,
        { { u":org_id"_s, agent.orgId },
          { u":agent_id"_s, agent.agentId },
          { u":name"_s, agent.name },
          { u":status"_s, agentStatusName(agent.status) },
          { u":encryption_key"_s, agent.encryptionKey },
          { u":identity_key"_s, agent.identityKey },
          { u":created_at"_s, dbTime(now()) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<std::optional<AgentRow>> SqlStorage::agent(const QString &orgId, const QString &agentId)
{
    auto query = m_connection->exec(
        u"read agent %1"_s.arg(agentId),
        u"SELECT %1 FROM agents WHERE org_id = :org_id AND agent_id = :agent_id"_s.arg(
            kAgentColumns),
        { { u":org_id"_s, orgId }, { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<AgentRow>();
    }
    return std::optional<AgentRow>(agentAt(query.value()));
}

Result<QList<AgentRow>> SqlStorage::agents(const QString &orgId, std::optional<AgentStatus> status)
{
    QString sql = u"SELECT %1 FROM agents WHERE org_id = :org_id"_s.arg(kAgentColumns);
    SqlBindings bindings { { u":org_id"_s, orgId } };
    if (status) {
        sql += u" AND status = :status"_s;
        bindings.append({ u":status"_s, agentStatusName(*status) });
    }
    sql += u" ORDER BY agent_id"_s;

    auto query = m_connection->exec(u"list the agents of org %1"_s.arg(orgId), sql, bindings);
    if (!query) {
        return query.error();
    }
    QList<AgentRow> agents;
    while (query->next()) {
        agents.append(agentAt(query.value()));
    }
    return agents;
}

Result<bool> SqlStorage::setAgentStatus(const QString &orgId, const QString &agentId,
                                        AgentStatus status)
{
    auto query = m_connection->exec(
        u"set the status of agent %1"_s.arg(agentId),
        u"UPDATE agents SET status = :status WHERE org_id = :org_id AND agent_id = :agent_id "
        "RETURNING agent_id"_s,
        { { u":status"_s, agentStatusName(status) },
          { u":org_id"_s, orgId },
          { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<bool> SqlStorage::setAgentQuarantined(const QString &orgId, const QString &agentId,
                                             bool quarantined)
{
    auto query =
        m_connection->exec(u"set the quarantine flag of agent %1"_s.arg(agentId),
                           u"UPDATE agents SET quarantined = :quarantined "
                           "WHERE org_id = :org_id AND agent_id = :agent_id RETURNING agent_id"_s,
                           { { u":quarantined"_s, quarantined },
                             { u":org_id"_s, orgId },
                             { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<bool> SqlStorage::touchAgent(const QString &orgId, const QString &agentId)
{
    auto query = m_connection->exec(
        u"record that agent %1 was seen"_s.arg(agentId),
        u"UPDATE agents SET last_seen = :last_seen WHERE org_id = :org_id AND agent_id = :agent_id "
        "RETURNING agent_id"_s,
        { { u":last_seen"_s, dbTime(now()) },
          { u":org_id"_s, orgId },
          { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<bool> SqlStorage::setAgentCertificate(const QString &orgId, const QString &agentId,
                                             const AgentCertificate &certificate)
{
    // The generation only grows, so a replayed or raced older certificate
    // cannot replace a newer one.
    auto query = m_connection->exec(
        u"store the certificate of agent %1"_s.arg(agentId),
        u"UPDATE agents SET certificate_statement = :statement, "
        "certificate_signature = :signature, generation = :generation, "
        "expires_at = :expires_at, status = :status "
        "WHERE org_id = :org_id AND agent_id = :agent_id AND generation < :min_generation "
        "RETURNING agent_id"_s,
        { { u":statement"_s, certificate.statement },
          { u":signature"_s, certificate.signature },
          { u":generation"_s, QVariant::fromValue<qlonglong>(certificate.generation) },
          { u":expires_at"_s, dbTime(certificate.expiresAt) },
          { u":status"_s, agentStatusName(AgentStatus::Approved) },
          { u":org_id"_s, orgId },
          { u":agent_id"_s, agentId },
          { u":min_generation"_s, QVariant::fromValue<qlonglong>(certificate.generation) } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

} // namespace sealrelay::backend
