// SqlStorage: opening, migrations, orgs, API tokens and enrolment tokens.
#include "sqlstorage.h"

#include "migrations.h"
#include "sqlvalues.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kApiTokenColumns =
    u"org_id, token_id, token_hash, role, label, created_at, revoked_at"_s;

const QString kEnrolmentTokenColumns =
    u"org_id, token_id, token_hash, agent_name, created_by, created_at, expires_at, used_at, "
    "used_by_agent_id"_s;

ApiTokenRow apiTokenAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    ApiTokenRow token;
    token.orgId = columns.value(u"org_id"_s).toString();
    token.tokenId = columns.value(u"token_id"_s).toString();
    token.tokenHash = columns.value(u"token_hash"_s).toByteArray();
    token.role = parseApiRole(columns.value(u"role"_s).toString()).value_or(ApiRole::Auditor);
    token.label = columns.value(u"label"_s).toString();
    token.createdAt = timeAt(columns, u"created_at"_s);
    token.revokedAt = optionalTimeAt(columns, u"revoked_at"_s);
    return token;
}

EnrolmentTokenRow enrolmentTokenAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    EnrolmentTokenRow token;
    token.orgId = columns.value(u"org_id"_s).toString();
    token.tokenId = columns.value(u"token_id"_s).toString();
    token.tokenHash = columns.value(u"token_hash"_s).toByteArray();
    token.agentName = columns.value(u"agent_name"_s).toString();
    token.createdBy = columns.value(u"created_by"_s).toString();
    token.createdAt = timeAt(columns, u"created_at"_s);
    token.expiresAt = timeAt(columns, u"expires_at"_s);
    token.usedAt = optionalTimeAt(columns, u"used_at"_s);
    token.usedByAgentId = optionalTextAt(columns, u"used_by_agent_id"_s);
    return token;
}

} // namespace

Result<std::unique_ptr<SqlStorage>> SqlStorage::open(const StorageConfig &config)
{
    if (config.engine == SqlEngine::Sqlite) {
        if (config.sqlitePath.isEmpty()) {
            return makeError(Reason::Malformed, u"the SQLite database path is empty"_s);
        }
        auto connection = SqlConnection::openSqlite(config.sqlitePath, config.sqliteBusyTimeoutMs);
        if (!connection) {
            return connection.error();
        }
        return std::unique_ptr<SqlStorage>(
            new SqlStorage(config, std::nullopt, std::move(connection).value()));
    }

    auto url = parsePostgresUrl(config.postgresUrl);
    if (!url) {
        return url.error();
    }
    if (!config.postgresMigrationUrl.isEmpty()) {
        if (auto migrationUrl = parsePostgresUrl(config.postgresMigrationUrl); !migrationUrl) {
            return makeError(Reason::Malformed,
                             u"migration connection: "_s + migrationUrl.error().message);
        }
    }
    auto connection = SqlConnection::openPostgres(url.value());
    if (!connection) {
        return connection.error();
    }
    return std::unique_ptr<SqlStorage>(
        new SqlStorage(config, url.value(), std::move(connection).value()));
}

SqlStorage::SqlStorage(const StorageConfig &config, std::optional<PostgresUrl> serviceUrl,
                       std::unique_ptr<SqlConnection> connection)
    : m_config(config)
    , m_serviceUrl(std::move(serviceUrl))
    , m_connection(std::move(connection))
    , m_clock([] { return QDateTime::currentDateTimeUtc(); })
{
}

void SqlStorage::setClock(Clock clock)
{
    m_clock = std::move(clock);
}

QDateTime SqlStorage::now() const
{
    return toStoredPrecision(m_clock());
}

// ---- Schema ----------------------------------------------------------------

Result<void> SqlStorage::migrate()
{
    auto migrations = bundledMigrations(engine());
    if (!migrations) {
        return migrations.error();
    }

    if (engine() == SqlEngine::Postgres && !m_config.postgresMigrationUrl.isEmpty()) {
        auto ownerUrl = parsePostgresUrl(m_config.postgresMigrationUrl);
        if (!ownerUrl) {
            return ownerUrl.error();
        }
        auto owner = SqlConnection::openPostgres(ownerUrl.value());
        if (!owner) {
            return owner.error();
        }
        // The service role needs no grants when it is the migration role.
        std::optional<QString> serviceRole;
        if (m_serviceUrl->user != ownerUrl->user) {
            serviceRole = m_serviceUrl->user;
        }
        auto applied = applyMigrations(*owner.value(), migrations.value(), serviceRole, now());
        if (!applied) {
            return applied.error();
        }
        return {};
    }

    auto applied = applyMigrations(*m_connection, migrations.value(), std::nullopt, now());
    if (!applied) {
        return applied.error();
    }
    return {};
}

Result<int> SqlStorage::schemaVersion()
{
    return appliedSchemaVersion(*m_connection);
}

Result<void> SqlStorage::ping()
{
    auto query = m_connection->exec(u"check the database connection", u"SELECT 1"_s);
    if (!query) {
        return query.error();
    }
    return {};
}

Result<void> SqlStorage::inTransaction(QStringView purpose,
                                       const std::function<Result<void>()> &work,
                                       Durability durability)
{
    SqlTransaction transaction(*m_connection, durability);
    if (auto begun = transaction.begin(purpose); !begun) {
        return begun.error();
    }
    if (auto done = work(); !done) {
        return done.error();
    }
    return transaction.commit(purpose);
}

void SqlStorage::afterCommitsDurable(std::function<void(Result<void>)> done)
{
    if (!syncsInBackground()) {
        done({});
        return;
    }
    if (!m_walSync) {
        m_walSync = std::make_unique<WalSync>(m_config.sqlitePath + u"-wal"_s);
    }
    m_walSync->afterSync(std::move(done));
}

Result<bool> SqlStorage::connectedRoleOwnsAuditLog()
{
    if (engine() == SqlEngine::Sqlite) {
        return false;
    }
    auto query =
        m_connection->exec(u"check who owns audit_log",
                           u"SELECT pg_has_role(current_user, c.relowner, 'MEMBER') "
                           "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                           "FROM pg_class c WHERE c.oid = 'audit_log'::regclass"_s);
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return makeError(Reason::IoError, u"audit_log does not exist; run the migrations first"_s);
    }
    return query->value(0).toBool();
}

// ---- Orgs ------------------------------------------------------------------

Result<void> SqlStorage::createOrg(const OrgRow &org)
{
    auto query = m_connection->exec(
        u"create org %1"_s.arg(org.orgId),
        u"INSERT INTO orgs (org_id, name, created_at) VALUES (:org_id, :name, :created_at)"_s,
        { { u":org_id"_s, org.orgId },
          { u":name"_s, org.name },
          { u":created_at"_s, dbTime(now()) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<std::optional<OrgRow>> SqlStorage::org(const QString &orgId)
{
    auto query =
        m_connection->exec(u"read org %1"_s.arg(orgId),
                           u"SELECT org_id, name, created_at FROM orgs WHERE org_id = :org_id"_s,
                           { { u":org_id"_s, orgId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<OrgRow>();
    }
    return std::optional<OrgRow>(OrgRow { query->value(0).toString(), query->value(1).toString(),
                                          timeAt(query.value(), u"created_at"_s) });
}

Result<QList<OrgRow>> SqlStorage::orgs()
{
    auto query = m_connection->exec(u"list orgs",
                                    u"SELECT org_id, name, created_at FROM orgs ORDER BY org_id"_s);
    if (!query) {
        return query.error();
    }
    QList<OrgRow> orgs;
    while (query->next()) {
        orgs.append(OrgRow { query->value(0).toString(), query->value(1).toString(),
                             timeAt(query.value(), u"created_at"_s) });
    }
    return orgs;
}

// ---- Replicas --------------------------------------------------------------

Result<void> SqlStorage::recordReplicaStatus(const ReplicaStatusRow &status)
{
    auto query = m_connection->exec(
        u"record the status of replica %1"_s.arg(status.replicaId),
        u"INSERT INTO replica_status (replica_id, coordination, degraded, usable, detail, "
        "version, started_at, seen_at) VALUES (:replica_id, :coordination, :degraded, :usable, "
        ":detail, :version, :started_at, :seen_at) ON CONFLICT (replica_id) DO UPDATE SET "
        "coordination = excluded.coordination, degraded = excluded.degraded, "
        "usable = excluded.usable, detail = excluded.detail, version = excluded.version, "
        "started_at = excluded.started_at, seen_at = excluded.seen_at"_s,
        { { u":replica_id"_s, status.replicaId },
          { u":coordination"_s, status.coordination },
          { u":degraded"_s, status.degraded },
          { u":usable"_s, status.usable },
          { u":detail"_s, status.detail },
          { u":version"_s, status.version },
          { u":started_at"_s, dbTime(status.startedAt) },
          { u":seen_at"_s, dbTime(status.seenAt) } });
    if (!query)
        return query.error();
    return {};
}

Result<QList<ReplicaStatusRow>> SqlStorage::replicaStatuses(const QDateTime &since)
{
    auto query = m_connection->exec(
        u"list replica statuses",
        u"SELECT replica_id, coordination, degraded, usable, detail, version, started_at, "
        "seen_at FROM replica_status WHERE seen_at >= :since ORDER BY replica_id"_s,
        { { u":since"_s, dbTime(since) } });
    if (!query)
        return query.error();
    QList<ReplicaStatusRow> rows;
    while (query->next()) {
        ReplicaStatusRow row;
        row.replicaId = query->value(u"replica_id"_s).toString();
        row.coordination = query->value(u"coordination"_s).toString();
        row.degraded = query->value(u"degraded"_s).toBool();
        row.usable = query->value(u"usable"_s).toBool();
        row.detail = query->value(u"detail"_s).toString();
        row.version = query->value(u"version"_s).toString();
        row.startedAt = timeAt(query.value(), u"started_at"_s);
        row.seenAt = timeAt(query.value(), u"seen_at"_s);
        rows.append(row);
    }
    return rows;
}

// ---- API tokens ------------------------------------------------------------

Result<void> SqlStorage::createApiToken(const ApiTokenRow &token)
{
    auto query = m_connection->exec(
        u"create API token %1"_s.arg(token.tokenId),
        u"INSERT INTO api_tokens (%1) VALUES (:org_id, :token_id, :token_hash, :role, :label, "
        ":created_at, :revoked_at)"_s.arg(kApiTokenColumns),
        { { u":org_id"_s, token.orgId },
          { u":token_id"_s, token.tokenId },
          { u":token_hash"_s, token.tokenHash },
          { u":role"_s, apiRoleName(token.role) },
          { u":label"_s, token.label },
          { u":created_at"_s, dbTime(now()) },
          { u":revoked_at"_s, dbTime(token.revokedAt) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<std::optional<ApiTokenRow>> SqlStorage::apiTokenByHash(const QByteArray &tokenHash)
{
    auto query = m_connection->exec(
        u"look up an API token by hash",
        u"SELECT %1 FROM api_tokens WHERE token_hash = :token_hash"_s.arg(kApiTokenColumns),
        { { u":token_hash"_s, tokenHash } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<ApiTokenRow>();
    }
    return std::optional<ApiTokenRow>(apiTokenAt(query.value()));
}

Result<QList<ApiTokenRow>> SqlStorage::apiTokens(const QString &orgId)
{
    auto query = m_connection->exec(
        u"list the API tokens of org %1"_s.arg(orgId),
        u"SELECT %1 FROM api_tokens WHERE org_id = :org_id ORDER BY created_at, token_id"_s.arg(
            kApiTokenColumns),
        { { u":org_id"_s, orgId } });
    if (!query) {
        return query.error();
    }
    QList<ApiTokenRow> tokens;
    while (query->next()) {
        tokens.append(apiTokenAt(query.value()));
    }
    return tokens;
}

Result<bool> SqlStorage::revokeApiToken(const QString &orgId, const QString &tokenId)
{
    auto query =
        m_connection->exec(u"revoke API token %1"_s.arg(tokenId),
                           u"UPDATE api_tokens SET revoked_at = :revoked_at "
                           "WHERE org_id = :org_id AND token_id = :token_id AND revoked_at IS NULL "
                           "RETURNING token_id"_s,
                           { { u":revoked_at"_s, dbTime(now()) },
                             { u":org_id"_s, orgId },
                             { u":token_id"_s, tokenId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

// ---- Enrolment tokens --------------------------------------------------------

Result<void> SqlStorage::createEnrolmentToken(const EnrolmentTokenRow &token)
{
    const QDateTime createdAt = now();
    const qint64 lifetimeMs = createdAt.msecsTo(token.expiresAt);
    if (lifetimeMs <= 0 || lifetimeMs > kMaxEnrolmentTokenLifetimeMs) {
        return makeError(Reason::Malformed,
                         u"enrolment token %1 expires at %2, which is not within 24 hours of "
                         "now; choose an expiry at most 24 hours ahead"_s.arg(
                             token.tokenId, token.expiresAt.toString(Qt::ISODateWithMs)));
    }

    auto query = m_connection->exec(
        u"create enrolment token %1"_s.arg(token.tokenId),
        u"INSERT INTO enrolment_tokens (%1) VALUES (:org_id, :token_id, :token_hash, :agent_name, "
        ":created_by, :created_at, :expires_at, NULL, NULL)"_s.arg(kEnrolmentTokenColumns),
        { { u":org_id"_s, token.orgId },
          { u":token_id"_s, token.tokenId },
          { u":token_hash"_s, token.tokenHash },
          { u":agent_name"_s, token.agentName },
          { u":created_by"_s, token.createdBy },
          { u":created_at"_s, dbTime(createdAt) },
          { u":expires_at"_s, dbTime(token.expiresAt) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<QList<EnrolmentTokenRow>> SqlStorage::enrolmentTokens(const QString &orgId)
{
    auto query = m_connection->exec(u"list the enrolment tokens of org %1"_s.arg(orgId),
                                    u"SELECT %1 FROM enrolment_tokens WHERE org_id = :org_id "
                                    "ORDER BY created_at, token_id"_s.arg(kEnrolmentTokenColumns),
                                    { { u":org_id"_s, orgId } });
    if (!query) {
        return query.error();
    }
    QList<EnrolmentTokenRow> tokens;
    while (query->next()) {
        tokens.append(enrolmentTokenAt(query.value()));
    }
    return tokens;
}

Result<EnrolmentConsumption> SqlStorage::consumeEnrolmentToken(const QByteArray &tokenHash,
                                                               const QString &agentName,
                                                               const QString &agentId)
{
    const QDateTime usedAt = now();

    // One conditional UPDATE is the whole consumption, so two agents
    // presenting the same token cannot both see it unused.
    {
        auto consumed = m_connection->exec(
            u"consume an enrolment token",
            u"UPDATE enrolment_tokens SET used_at = :used_at, used_by_agent_id = :agent_id "
            "WHERE token_hash = :token_hash AND used_at IS NULL AND expires_at > :now "
            "AND agent_name = :agent_name RETURNING %1"_s.arg(kEnrolmentTokenColumns),
            { { u":used_at"_s, dbTime(usedAt) },
              { u":agent_id"_s, agentId },
              { u":token_hash"_s, tokenHash },
              { u":now"_s, dbTime(usedAt) },
              { u":agent_name"_s, agentName } });
        if (!consumed) {
            return consumed.error();
        }
        if (consumed->next()) {
            return EnrolmentConsumption { EnrolmentOutcome::Consumed,
                                          enrolmentTokenAt(consumed.value()) };
        }
    }

    // Not consumed: find out why, for the caller's alert and reply.
    auto query =
        m_connection->exec(u"read an enrolment token",
                           u"SELECT %1 FROM enrolment_tokens WHERE token_hash = :token_hash"_s.arg(
                               kEnrolmentTokenColumns),
                           { { u":token_hash"_s, tokenHash } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return EnrolmentConsumption { EnrolmentOutcome::Unknown, std::nullopt };
    }
    const EnrolmentTokenRow token = enrolmentTokenAt(query.value());
    if (token.usedAt) {
        return EnrolmentConsumption { EnrolmentOutcome::AlreadyUsed, token };
    }
    if (token.expiresAt <= usedAt) {
        return EnrolmentConsumption { EnrolmentOutcome::Expired, token };
    }
    return EnrolmentConsumption { EnrolmentOutcome::NameMismatch, token };
}

} // namespace sealrelay::backend
