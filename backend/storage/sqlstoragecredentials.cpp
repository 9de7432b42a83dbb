// SqlStorage: credentials, their compare-and-set statement writes, and the
// delivery state of each credential on each agent.
#include "digest.h"
#include "sqlstorage.h"
#include "sqlvalues.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kCredentialColumns =
    u"org_id, credential_id, name, kind, version, revision, statement, signature, "
    "statement_sha256, commitment, commitment_version, scope, scope_agents, state, created_at, "
    "updated_at"_s;

const QString kCredentialAgentColumns =
    u"org_id, credential_id, agent_id, in_scope, secret_stored, stored_version, stored_revision, "
    "attempts, next_attempt_at, last_error, stalled, receipt_statement, receipt_signature, "
    "receipt_at"_s;

QString scopeAgentsJson(const QStringList &agentIds)
{
    return QString::fromUtf8(
        QJsonDocument(QJsonArray::fromStringList(agentIds)).toJson(QJsonDocument::Compact));
}

QStringList scopeAgentsFromJson(const QString &json)
{
    QStringList agentIds;
    const QJsonArray array = QJsonDocument::fromJson(json.toUtf8()).array();
    for (const QJsonValue &value : array) {
        agentIds.append(value.toString());
    }
    return agentIds;
}

CredentialRow credentialAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    CredentialRow row;
    row.orgId = columns.value(u"org_id"_s).toString();
    row.credentialId = columns.value(u"credential_id"_s).toString();
    row.name = columns.value(u"name"_s).toString();
    row.kind = columns.value(u"kind"_s).toString();
    row.version = columns.value(u"version"_s).toLongLong();
    row.revision = columns.value(u"revision"_s).toLongLong();
    row.statement = columns.value(u"statement"_s).toByteArray();
    row.signature = columns.value(u"signature"_s).toByteArray();
    row.statementSha256 = columns.value(u"statement_sha256"_s).toString();
    row.commitment = optionalBytesAt(columns, u"commitment"_s);
    if (const auto version = optionalIntegerAt(columns, u"commitment_version"_s)) {
        row.commitmentVersion = int(*version);
    }
    row.scope = parseCredentialScope(columns.value(u"scope"_s).toString())
                    .value_or(CredentialScope::Explicit);
    row.scopeAgentIds = scopeAgentsFromJson(columns.value(u"scope_agents"_s).toString());
    row.state =
        parseCredentialState(columns.value(u"state"_s).toString()).value_or(CredentialState::Active);
    row.createdAt = timeAt(columns, u"created_at"_s);
    row.updatedAt = timeAt(columns, u"updated_at"_s);
    return row;
}

CredentialAgentRow credentialAgentAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    CredentialAgentRow row;
    row.orgId = columns.value(u"org_id"_s).toString();
    row.credentialId = columns.value(u"credential_id"_s).toString();
    row.agentId = columns.value(u"agent_id"_s).toString();
    row.inScope = columns.value(u"in_scope"_s).toBool();
    row.secretStored = columns.value(u"secret_stored"_s).toBool();
    row.storedVersion = optionalIntegerAt(columns, u"stored_version"_s);
    row.storedRevision = optionalIntegerAt(columns, u"stored_revision"_s);
    row.attempts = columns.value(u"attempts"_s).toInt();
    row.nextAttemptAt = timeAt(columns, u"next_attempt_at"_s);
    row.lastError = optionalTextAt(columns, u"last_error"_s);
    row.stalled = columns.value(u"stalled"_s).toBool();
    row.receiptStatement = optionalBytesAt(columns, u"receipt_statement"_s);
    row.receiptSignature = optionalBytesAt(columns, u"receipt_signature"_s);
    row.receiptAt = optionalTimeAt(columns, u"receipt_at"_s);
    return row;
}

// Checks the fields every stored statement needs; the version and revision
// rules of each kind of write are checked by the caller.
Result<void> checkCredentialRow(const CredentialRow &row)
{
    if (row.orgId.isEmpty() || row.credentialId.isEmpty()) {
        return makeError(Reason::Malformed, u"a credential needs org_id and credential_id"_s);
    }
    if (row.statement.isEmpty() || row.signature.isEmpty()) {
        return makeError(
            Reason::Malformed,
            u"credential %1 has no statement bytes or signature"_s.arg(row.credentialId));
    }
    if (row.commitment.has_value() != row.commitmentVersion.has_value()) {
        return makeError(Reason::Malformed,
                         u"credential %1: commitment and commitment_version must be set "
                         "together"_s.arg(row.credentialId));
    }
    if (row.commitmentVersion && *row.commitmentVersion != kCommitmentVersion) {
        return makeError(Reason::Malformed,
                         u"credential %1: commitment_version %2 is unknown; only %3 exists"_s.arg(
                             row.credentialId, QString::number(*row.commitmentVersion),
                             QString::number(kCommitmentVersion)));
    }
    return {};
}

Error versionRuleError(const CredentialRow &next, QStringView rule)
{
    return makeError(Reason::Malformed,
                     u"credential %1 version %2 revision %3 breaks the rule: %4"_s.arg(
                         next.credentialId, QString::number(next.version),
                         QString::number(next.revision), rule));
}

} // namespace

// ---- Credentials --------------------------------------------------------------

Result<bool> SqlStorage::activeNameTaken(const QString &orgId, const QString &name,
                                         const QString &exceptCredentialId)
{
    auto query = m_connection->exec(
        u"check whether credential name is taken",
        u"SELECT credential_id FROM credentials WHERE org_id = :org_id AND name = :name "
        "AND state = 'active' AND credential_id <> :credential_id"_s,
        { { u":org_id"_s, orgId },
          { u":name"_s, name },
          { u":credential_id"_s, exceptCredentialId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<void> SqlStorage::scheduleCredentialAgents(const QString &orgId, const QString &credentialId,
                                                  const QStringList &agentIds, bool resetExisting)
{
    const QDateTime dueAt = now();

    if (resetExisting) {
        auto reset = m_connection->exec(
            u"make the agents of credential %1 due"_s.arg(credentialId),
            u"UPDATE credential_agents SET attempts = 0, stalled = FALSE, last_error = NULL, "
            "next_attempt_at = :due_at WHERE org_id = :org_id AND credential_id = :credential_id"_s,
            { { u":due_at"_s, dbTime(dueAt) },
              { u":org_id"_s, orgId },
              { u":credential_id"_s, credentialId } });
        if (!reset) {
            return reset.error();
        }
    }

    for (const QString &agentId : agentIds) {
        auto inserted = m_connection->exec(
            u"add agent %1 to credential %2"_s.arg(agentId, credentialId),
            u"INSERT INTO credential_agents (org_id, credential_id, agent_id, next_attempt_at) "
            "VALUES (:org_id, :credential_id, :agent_id, :due_at) "
            "ON CONFLICT (org_id, credential_id, agent_id) DO NOTHING"_s,
            { { u":org_id"_s, orgId },
              { u":credential_id"_s, credentialId },
              { u":agent_id"_s, agentId },
              { u":due_at"_s, dbTime(dueAt) } });
        if (!inserted) {
            return inserted.error();
        }
    }
    return {};
}

Result<void> SqlStorage::applyCredentialScope(const CredentialRow &credential)
{
    SqlBindings bindings { { u":org_id"_s, credential.orgId },
                           { u":credential_id"_s, credential.credentialId } };

    QString inScope = u"TRUE"_s;
    if (credential.scope == CredentialScope::Explicit) {
        QStringList placeholders;
        for (qsizetype i = 0; i < credential.scopeAgentIds.size(); ++i) {
            placeholders.append(u":scope_agent_%1"_s.arg(i));
            bindings.append({ placeholders.last(), credential.scopeAgentIds.at(i) });
        }
        // "IN ()" is invalid SQL, so an empty list is written as FALSE.
        inScope = placeholders.isEmpty()
            ? u"FALSE"_s
            : u"CASE WHEN agent_id IN (%1) THEN TRUE ELSE FALSE END"_s.arg(
                placeholders.join(u", "));
    }

    auto updated = m_connection->exec(
        u"set the scope of the agents of credential %1"_s.arg(credential.credentialId),
        u"UPDATE credential_agents SET in_scope = %1 "
        "WHERE org_id = :org_id AND credential_id = :credential_id"_s.arg(inScope),
        bindings);
    if (!updated) {
        return updated.error();
    }
    return {};
}

Result<CredentialWriteOutcome> SqlStorage::classifyLostCreate(const CredentialRow &credential)
{
    auto existing = this->credential(credential.orgId, credential.credentialId);
    if (!existing) {
        return existing.error();
    }
    return existing->has_value() ? CredentialWriteOutcome::AlreadyExists
                                 : CredentialWriteOutcome::NameTaken;
}

Result<CredentialWriteOutcome> SqlStorage::createCredential(const CredentialRow &credential,
                                                            const QStringList &agentIds)
{
    if (auto checked = checkCredentialRow(credential); !checked) {
        return checked.error();
    }
    if (credential.version != 1 || credential.revision != 1) {
        return versionRuleError(credential, u"a new credential is version 1 revision 1");
    }

    SqlTransaction transaction(*m_connection);
    if (auto begun = transaction.begin(u"create a credential"); !begun) {
        return begun.error();
    }

    {
        auto existing =
            m_connection->exec(u"check whether credential %1 exists"_s.arg(credential.credentialId),
                               u"SELECT credential_id FROM credentials "
                               "WHERE org_id = :org_id AND credential_id = :credential_id"_s,
                               { { u":org_id"_s, credential.orgId },
                                 { u":credential_id"_s, credential.credentialId } });
        if (!existing) {
            return existing.error();
        }
        if (existing->next()) {
            return CredentialWriteOutcome::AlreadyExists;
        }
    }
    auto nameTaken = activeNameTaken(credential.orgId, credential.name, credential.credentialId);
    if (!nameTaken) {
        return nameTaken.error();
    }
    if (nameTaken.value()) {
        return CredentialWriteOutcome::NameTaken;
    }

    const QDateTime createdAt = now();
    {
        auto inserted = m_connection->exec(
            u"create credential %1"_s.arg(credential.credentialId),
            u"INSERT INTO credentials (%1) VALUES (:org_id, :credential_id, :name, :kind, "
            ":version, :revision, :statement, :signature, :statement_sha256, :commitment, "
            ":commitment_version, :scope, :scope_agents, :state, :created_at, :updated_at)"_s.arg(
                kCredentialColumns),
            { { u":org_id"_s, credential.orgId },
              { u":credential_id"_s, credential.credentialId },
              { u":name"_s, credential.name },
              { u":kind"_s, credential.kind },
              { u":version"_s, QVariant::fromValue<qlonglong>(credential.version) },
              { u":revision"_s, QVariant::fromValue<qlonglong>(credential.revision) },
              { u":statement"_s, credential.statement },
              { u":signature"_s, credential.signature },
              { u":statement_sha256"_s, sha256Base64(credential.statement) },
              { u":commitment"_s, dbBytes(credential.commitment) },
              { u":commitment_version"_s, dbInteger(credential.commitmentVersion) },
              { u":scope"_s, credentialScopeName(credential.scope) },
              { u":scope_agents"_s, scopeAgentsJson(credential.scopeAgentIds) },
              { u":state"_s, credentialStateName(credential.state) },
              { u":created_at"_s, dbTime(createdAt) },
              { u":updated_at"_s, dbTime(createdAt) } });
        if (!inserted) {
            // On PostgreSQL a concurrent create can pass the checks above
            // and then lose at a unique index.
            if (m_connection->lastErrorWasUniqueViolation()) {
                transaction.rollback();
                return classifyLostCreate(credential);
            }
            return inserted.error();
        }
    }

    if (auto scheduled =
            scheduleCredentialAgents(credential.orgId, credential.credentialId, agentIds, false);
        !scheduled) {
        return scheduled.error();
    }
    if (auto scoped = applyCredentialScope(credential); !scoped) {
        return scoped.error();
    }
    if (auto committed = transaction.commit(u"create a credential"); !committed) {
        return committed.error();
    }
    return CredentialWriteOutcome::Written;
}

Result<CredentialWriteOutcome> SqlStorage::rotateCredential(const CredentialExpectation &expected,
                                                            const CredentialRow &next,
                                                            const QStringList &agentIds)
{
    if (next.version != expected.version + 1 || next.revision != 1) {
        return versionRuleError(next, u"a rotation is the stored version + 1, revision 1");
    }
    return replaceCredential(expected, next, agentIds, u"rotate a credential");
}

Result<CredentialWriteOutcome>
SqlStorage::updateCredentialStatement(const CredentialExpectation &expected,
                                      const CredentialRow &next, const QStringList &agentIds)
{
    if (next.version != expected.version || next.revision != expected.revision + 1) {
        return versionRuleError(
            next, u"a scope change or delete keeps the version and takes the stored revision + 1");
    }
    return replaceCredential(expected, next, agentIds, u"update a credential statement");
}

Result<CredentialWriteOutcome> SqlStorage::replaceCredential(const CredentialExpectation &expected,
                                                             const CredentialRow &next,
                                                             const QStringList &agentIds,
                                                             QStringView purpose)
{
    if (auto checked = checkCredentialRow(next); !checked) {
        return checked.error();
    }
    const bool sameVersion = next.version == expected.version;

    SqlTransaction transaction(*m_connection);
    if (auto begun = transaction.begin(purpose); !begun) {
        return begun.error();
    }

    if (next.state == CredentialState::Active) {
        auto nameTaken = activeNameTaken(next.orgId, next.name, next.credentialId);
        if (!nameTaken) {
            return nameTaken.error();
        }
        if (nameTaken.value()) {
            return CredentialWriteOutcome::NameTaken;
        }
    }

    // The WHERE clause is the compare-and-set: the row changes only while
    // it still has the expected version, revision and statement. A
    // statement update must also keep the stored commitment.
    QString sql =
        u"UPDATE credentials SET name = :name, kind = :kind, version = :version, "
        "revision = :revision, statement = :statement, signature = :signature, "
        "statement_sha256 = :statement_sha256, commitment = :commitment, "
        "commitment_version = :commitment_version, scope = :scope, scope_agents = :scope_agents, "
        "state = :state, updated_at = :updated_at "
        "WHERE org_id = :org_id AND credential_id = :credential_id "
        "AND version = :expected_version AND revision = :expected_revision "
        "AND statement_sha256 = :expected_sha256"_s;
    SqlBindings bindings {
        { u":name"_s, next.name },
        { u":kind"_s, next.kind },
        { u":version"_s, QVariant::fromValue<qlonglong>(next.version) },
        { u":revision"_s, QVariant::fromValue<qlonglong>(next.revision) },
        { u":statement"_s, next.statement },
        { u":signature"_s, next.signature },
        { u":statement_sha256"_s, sha256Base64(next.statement) },
        { u":commitment"_s, dbBytes(next.commitment) },
        { u":commitment_version"_s, dbInteger(next.commitmentVersion) },
        { u":scope"_s, credentialScopeName(next.scope) },
        { u":scope_agents"_s, scopeAgentsJson(next.scopeAgentIds) },
        { u":state"_s, credentialStateName(next.state) },
        { u":updated_at"_s, dbTime(now()) },
        { u":org_id"_s, next.orgId },
        { u":credential_id"_s, next.credentialId },
        { u":expected_version"_s, QVariant::fromValue<qlonglong>(expected.version) },
        { u":expected_revision"_s, QVariant::fromValue<qlonglong>(expected.revision) },
        { u":expected_sha256"_s, expected.statementSha256 },
    };
    if (sameVersion) {
        if (next.commitment) {
            sql += u" AND commitment = :expected_commitment"_s;
            bindings.append({ u":expected_commitment"_s, *next.commitment });
        } else {
            sql += u" AND commitment IS NULL"_s;
        }
    }
    sql += u" RETURNING credential_id"_s;

    {
        auto updated =
            m_connection->exec(u"%1 %2"_s.arg(purpose, next.credentialId), sql, bindings);
        if (!updated) {
            // On PostgreSQL a concurrent create or rename can take the name
            // after the check above.
            if (m_connection->lastErrorWasUniqueViolation()) {
                return CredentialWriteOutcome::NameTaken;
            }
            return updated.error();
        }
        if (!updated->next()) {
            auto current = credential(next.orgId, next.credentialId);
            if (!current) {
                return current.error();
            }
            return current->has_value() ? CredentialWriteOutcome::Conflict
                                        : CredentialWriteOutcome::NotFound;
        }
    }

    if (auto scheduled = scheduleCredentialAgents(next.orgId, next.credentialId, agentIds, true);
        !scheduled) {
        return scheduled.error();
    }
    if (auto scoped = applyCredentialScope(next); !scoped) {
        return scoped.error();
    }
    if (auto committed = transaction.commit(purpose); !committed) {
        return committed.error();
    }
    return CredentialWriteOutcome::Written;
}

Result<std::optional<CredentialRow>> SqlStorage::credential(const QString &orgId,
                                                            const QString &credentialId)
{
    auto query = m_connection->exec(
        u"read credential %1"_s.arg(credentialId),
        u"SELECT %1 FROM credentials WHERE org_id = :org_id AND credential_id = :credential_id"_s
            .arg(kCredentialColumns),
        { { u":org_id"_s, orgId }, { u":credential_id"_s, credentialId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<CredentialRow>();
    }
    return std::optional<CredentialRow>(credentialAt(query.value()));
}

Result<std::optional<CredentialRow>> SqlStorage::credentialByName(const QString &orgId,
                                                                  const QString &name)
{
    auto query =
        m_connection->exec(u"find a credential by name",
                           u"SELECT %1 FROM credentials WHERE org_id = :org_id AND name = :name "
                           "AND state = 'active'"_s.arg(kCredentialColumns),
                           { { u":org_id"_s, orgId }, { u":name"_s, name } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<CredentialRow>();
    }
    return std::optional<CredentialRow>(credentialAt(query.value()));
}

Result<std::optional<CredentialDetail>> SqlStorage::credentialDetail(const QString &orgId,
                                                                     const QString &credentialId)
{
    auto row = credential(orgId, credentialId);
    if (!row) {
        return row.error();
    }
    if (!row->has_value()) {
        return std::optional<CredentialDetail>();
    }

    auto query = m_connection->exec(
        u"read the agents of credential %1"_s.arg(credentialId),
        u"SELECT %1 FROM credential_agents WHERE org_id = :org_id "
        "AND credential_id = :credential_id ORDER BY agent_id"_s.arg(kCredentialAgentColumns),
        { { u":org_id"_s, orgId }, { u":credential_id"_s, credentialId } });
    if (!query) {
        return query.error();
    }
    CredentialDetail detail { std::move(*row.value()), {} };
    while (query->next()) {
        detail.agents.append(credentialAgentAt(query.value()));
    }
    return std::optional<CredentialDetail>(std::move(detail));
}

Result<QList<CredentialDetail>> SqlStorage::credentialDetails(const QString &orgId,
                                                              bool includeDeleted)
{
    return readCredentialDetails(orgId, includeDeleted, {});
}

Result<QList<CredentialDetail>> SqlStorage::credentialDetailsOfAgent(const QString &orgId,
                                                                     const QString &agentId)
{
    return readCredentialDetails(orgId, true, agentId);
}

Result<QList<CredentialDetail>>
SqlStorage::readCredentialDetails(const QString &orgId, bool includeDeleted, const QString &agentId)
{
    QList<CredentialDetail> details;
    QHash<QString, qsizetype> indexById;
    {
        auto query = m_connection->exec(
            u"list the credentials of org %1"_s.arg(orgId),
            u"SELECT %1 FROM credentials WHERE org_id = :org_id%2 ORDER BY name, credential_id"_s
                .arg(kCredentialColumns, includeDeleted ? QString() : u" AND state = 'active'"_s),
            { { u":org_id"_s, orgId } });
        if (!query) {
            return query.error();
        }
        while (query->next()) {
            CredentialDetail detail { credentialAt(query.value()), {} };
            indexById.insert(detail.credential.credentialId, details.size());
            details.append(std::move(detail));
        }
    }

    SqlBindings bindings { { u":org_id"_s, orgId } };
    if (!agentId.isEmpty())
        bindings.append({ u":agent_id"_s, agentId });
    auto query =
        m_connection->exec(u"list the credential agents of org %1"_s.arg(orgId),
                           u"SELECT %1 FROM credential_agents WHERE org_id = :org_id%2 "
                           "ORDER BY credential_id, agent_id"_s.arg(
                               kCredentialAgentColumns,
                               agentId.isEmpty() ? QString() : u" AND agent_id = :agent_id"_s),
                           bindings);
    if (!query) {
        return query.error();
    }
    while (query->next()) {
        CredentialAgentRow row = credentialAgentAt(query.value());
        const auto index = indexById.constFind(row.credentialId);
        if (index != indexById.constEnd()) {
            details[*index].agents.append(std::move(row));
        }
    }
    return details;
}

Result<QList<PeerCandidateRow>> SqlStorage::peerCandidates(const QString &orgId,
                                                           const QString &credentialId)
{
    // The blocked column applies the rule of blockedPeers(), so an entry
    // blocks until its expires_at on the storage clock.
    auto query = m_connection->exec(
        u"read the peer candidates of credential %1"_s.arg(credentialId),
        u"SELECT ca.agent_id, ca.secret_stored, ca.stored_version, a.status, a.quarantined, "
        "a.certificate_statement IS NOT NULL AS has_certificate, a.expires_at, "
        "EXISTS (SELECT 1 FROM peer_blocklist b WHERE b.org_id = ca.org_id "
        "AND b.credential_id = ca.credential_id AND b.source_agent_id = ca.agent_id "
        "AND b.expires_at > :now) AS blocked "
        "FROM credential_agents ca "
        "JOIN agents a ON a.org_id = ca.org_id AND a.agent_id = ca.agent_id "
        "WHERE ca.org_id = :org_id AND ca.credential_id = :credential_id "
        "ORDER BY ca.agent_id"_s,
        { { u":now"_s, dbTime(now()) },
          { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId } });
    if (!query) {
        return query.error();
    }
    QList<PeerCandidateRow> rows;
    while (query->next()) {
        PeerCandidateRow row;
        row.agentId = query->value(u"agent_id"_s).toString();
        row.secretStored = query->value(u"secret_stored"_s).toBool();
        row.storedVersion = optionalIntegerAt(query.value(), u"stored_version"_s);
        row.status = parseAgentStatus(query->value(u"status"_s).toString())
                         .value_or(AgentStatus::PendingApproval);
        row.quarantined = query->value(u"quarantined"_s).toBool();
        row.hasCertificate = query->value(u"has_certificate"_s).toBool();
        row.certificateExpiresAt = optionalTimeAt(query.value(), u"expires_at"_s);
        row.blocked = query->value(u"blocked"_s).toBool();
        rows.append(std::move(row));
    }
    return rows;
}

// ---- Delivery state ------------------------------------------------------------

Result<void> SqlStorage::upsertCredentialAgent(const CredentialAgentRow &row)
{
    auto query = m_connection->exec(
        u"store the state of credential %1 on agent %2"_s.arg(row.credentialId, row.agentId),
        u"INSERT INTO credential_agents (%1) VALUES (:org_id, :credential_id, :agent_id, "
        ":in_scope, :secret_stored, :stored_version, :stored_revision, :attempts, "
        ":next_attempt_at, :last_error, :stalled, :receipt_statement, :receipt_signature, "
        ":receipt_at) "
        "ON CONFLICT (org_id, credential_id, agent_id) DO UPDATE SET "
        "in_scope = excluded.in_scope, secret_stored = excluded.secret_stored, "
        "stored_version = excluded.stored_version, stored_revision = excluded.stored_revision, "
        "attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, "
        "last_error = excluded.last_error, "
        "stalled = excluded.stalled, receipt_statement = excluded.receipt_statement, "
        "receipt_signature = excluded.receipt_signature, receipt_at = excluded.receipt_at"_s.arg(
            kCredentialAgentColumns),
        { { u":org_id"_s, row.orgId },
          { u":credential_id"_s, row.credentialId },
          { u":agent_id"_s, row.agentId },
          { u":in_scope"_s, row.inScope },
          { u":secret_stored"_s, row.secretStored },
          { u":stored_version"_s, dbInteger(row.storedVersion) },
          { u":stored_revision"_s, dbInteger(row.storedRevision) },
          { u":attempts"_s, row.attempts },
          { u":next_attempt_at"_s, dbTime(row.nextAttemptAt) },
          { u":last_error"_s, dbText(row.lastError) },
          { u":stalled"_s, row.stalled },
          { u":receipt_statement"_s, dbBytes(row.receiptStatement) },
          { u":receipt_signature"_s, dbBytes(row.receiptSignature) },
          { u":receipt_at"_s, dbTime(row.receiptAt) } });
    if (!query) {
        return query.error();
    }
    return {};
}

Result<int> SqlStorage::addAutoAllRows(const QString &orgId, const QString &agentId)
{
    auto query = m_connection->exec(
        u"add the rows of agent %1 to the auto_all credentials"_s.arg(agentId),
        u"INSERT INTO credential_agents (org_id, credential_id, agent_id, in_scope, "
        "secret_stored, attempts, next_attempt_at, stalled) "
        "SELECT c.org_id, c.credential_id, :agent_id, TRUE, FALSE, 0, :due_at, FALSE "
        "FROM credentials c WHERE c.org_id = :org_id AND c.state = 'active' "
        "AND c.scope = 'auto_all' AND NOT EXISTS (SELECT 1 FROM credential_agents ca "
        "WHERE ca.org_id = c.org_id AND ca.credential_id = c.credential_id "
        "AND ca.agent_id = :row_agent_id)"_s,
        { { u":agent_id"_s, agentId },
          { u":due_at"_s, dbTime(now()) },
          { u":org_id"_s, orgId },
          { u":row_agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    return query->numRowsAffected();
}

Result<std::optional<CredentialAgentRow>> SqlStorage::credentialAgent(const QString &orgId,
                                                                      const QString &credentialId,
                                                                      const QString &agentId)
{
    auto query = m_connection->exec(
        u"read the state of credential %1 on agent %2"_s.arg(credentialId, agentId),
        u"SELECT %1 FROM credential_agents WHERE org_id = :org_id "
        "AND credential_id = :credential_id AND agent_id = :agent_id"_s.arg(
            kCredentialAgentColumns),
        { { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<CredentialAgentRow>();
    }
    return std::optional<CredentialAgentRow>(credentialAgentAt(query.value()));
}

Result<bool> SqlStorage::markDelivered(const QString &orgId, const QString &credentialId,
                                       const QString &agentId, const DeliveryReceipt &receipt)
{
    auto query = m_connection->exec(
        u"mark credential %1 delivered to agent %2"_s.arg(credentialId, agentId),
        u"UPDATE credential_agents SET secret_stored = :secret_stored, "
        "stored_version = :stored_version, stored_revision = :stored_revision, attempts = 0, "
        "last_error = NULL, stalled = FALSE, receipt_statement = :receipt_statement, "
        "receipt_signature = :receipt_signature, receipt_at = :receipt_at "
        "WHERE org_id = :org_id AND credential_id = :credential_id AND agent_id = :agent_id "
        "RETURNING agent_id"_s,
        { { u":secret_stored"_s, receipt.secretStored },
          { u":stored_version"_s, QVariant::fromValue<qlonglong>(receipt.version) },
          { u":stored_revision"_s, QVariant::fromValue<qlonglong>(receipt.revision) },
          { u":receipt_statement"_s, receipt.statement },
          { u":receipt_signature"_s, receipt.signature },
          { u":receipt_at"_s, dbTime(receipt.at) },
          { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<bool> SqlStorage::recordRefusal(const QString &orgId, const QString &credentialId,
                                       const QString &agentId, const QByteArray &receiptStatement,
                                       const QByteArray &receiptSignature, const QDateTime &at)
{
    auto query = m_connection->exec(
        u"record the refusal of credential %1 by agent %2"_s.arg(credentialId, agentId),
        u"UPDATE credential_agents SET receipt_statement = :receipt_statement, "
        "receipt_signature = :receipt_signature, receipt_at = :receipt_at "
        "WHERE org_id = :org_id AND credential_id = :credential_id AND agent_id = :agent_id "
        "RETURNING agent_id"_s,
        { { u":receipt_statement"_s, receiptStatement },
          { u":receipt_signature"_s, receiptSignature },
          { u":receipt_at"_s, dbTime(at) },
          { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":agent_id"_s, agentId } });
    if (!query)
        return query.error();
    return query->next();
}

Result<std::optional<CredentialAgentRow>>
SqlStorage::recordDeliveryFailure(const QString &orgId, const QString &credentialId,
                                  const QString &agentId, const QString &error,
                                  const QDateTime &nextAttemptAt, int maxAttempts)
{
    auto query = m_connection->exec(
        u"record a failed delivery of credential %1 to agent %2"_s.arg(credentialId, agentId),
        u"UPDATE credential_agents SET attempts = attempts + 1, last_error = :last_error, "
        "next_attempt_at = :next_attempt_at, "
        "stalled = CASE WHEN attempts + 1 >= :max_attempts THEN TRUE ELSE stalled END "
        "WHERE org_id = :org_id AND credential_id = :credential_id AND agent_id = :agent_id "
        "RETURNING %1"_s.arg(kCredentialAgentColumns),
        { { u":last_error"_s, error },
          { u":next_attempt_at"_s, dbTime(nextAttemptAt) },
          { u":max_attempts"_s, maxAttempts },
          { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return std::optional<CredentialAgentRow>();
    }
    return std::optional<CredentialAgentRow>(credentialAgentAt(query.value()));
}

Result<bool> SqlStorage::markSecretLost(const QString &orgId, const QString &credentialId,
                                        const QString &agentId, const QString &error)
{
    auto query = m_connection->exec(
        u"mark credential %1 lost on agent %2"_s.arg(credentialId, agentId),
        u"UPDATE credential_agents SET secret_stored = FALSE, last_error = :last_error "
        "WHERE org_id = :org_id AND credential_id = :credential_id AND agent_id = :agent_id "
        "RETURNING agent_id"_s,
        { { u":last_error"_s, error },
          { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId },
          { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

Result<int> SqlStorage::retryCredential(const QString &orgId, const QString &credentialId)
{
    auto query = m_connection->exec(
        u"retry credential %1"_s.arg(credentialId),
        u"UPDATE credential_agents SET attempts = 0, stalled = FALSE, next_attempt_at = :due_at "
        "WHERE org_id = :org_id AND credential_id = :credential_id RETURNING agent_id"_s,
        { { u":due_at"_s, dbTime(now()) },
          { u":org_id"_s, orgId },
          { u":credential_id"_s, credentialId } });
    if (!query) {
        return query.error();
    }
    int changed = 0;
    while (query->next()) {
        ++changed;
    }
    return changed;
}

Result<int> SqlStorage::resetAgentDeliveries(const QString &orgId, const QString &agentId)
{
    auto query = m_connection->exec(
        u"reset the deliveries to agent %1"_s.arg(agentId),
        u"UPDATE credential_agents SET secret_stored = FALSE, stored_version = NULL, "
        "stored_revision = NULL, attempts = 0, stalled = FALSE, last_error = NULL, "
        "next_attempt_at = :due_at, receipt_statement = NULL, receipt_signature = NULL, "
        "receipt_at = NULL WHERE org_id = :org_id AND agent_id = :agent_id "
        "RETURNING credential_id"_s,
        { { u":due_at"_s, dbTime(now()) }, { u":org_id"_s, orgId }, { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    int changed = 0;
    while (query->next()) {
        ++changed;
    }
    return changed;
}

Result<QList<CredentialAgentRow>> SqlStorage::credentialAgentsOf(const QString &orgId,
                                                                 const QString &agentId)
{
    auto query = m_connection->exec(
        u"list the credentials of agent %1"_s.arg(agentId),
        u"SELECT %1 FROM credential_agents WHERE org_id = :org_id AND agent_id = :agent_id "
        "ORDER BY credential_id"_s.arg(kCredentialAgentColumns),
        { { u":org_id"_s, orgId }, { u":agent_id"_s, agentId } });
    if (!query) {
        return query.error();
    }
    QList<CredentialAgentRow> rows;
    while (query->next()) {
        rows.append(credentialAgentAt(query.value()));
    }
    return rows;
}

Result<QList<CredentialAgentRow>>
SqlStorage::dueCredentialAgents(const QString &orgId, int limit,
                                const std::optional<QStringList> &onlyAgents)
{
    if (onlyAgents && onlyAgents->isEmpty()) {
        return QList<CredentialAgentRow>();
    }

    QString columns;
    for (const QStringView column : QStringView(kCredentialAgentColumns).split(u", ")) {
        columns += (columns.isEmpty() ? u"ca."_s : u", ca."_s) + column;
    }
    SqlBindings bindings { { u":org_id"_s, orgId },
                           { u":now"_s, dbTime(now()) },
                           { u":limit"_s, limit } };

    QString agentFilter;
    if (onlyAgents) {
        QStringList placeholders;
        for (qsizetype i = 0; i < onlyAgents->size(); ++i) {
            placeholders.append(u":agent_%1"_s.arg(i));
            bindings.append({ placeholders.last(), onlyAgents->at(i) });
        }
        agentFilter = u" AND ca.agent_id IN (%1)"_s.arg(placeholders.join(u", "));
    }

    // The two branches of the rule documented in storage.h. A stored
    // version without a stored revision counts as revision 0, so it is
    // behind every statement.
    const QString behind = u"(ca.stored_version < c.version OR (ca.stored_version = c.version "
                           "AND COALESCE(ca.stored_revision, 0) < c.revision))"_s;
    const QString undelivered =
        u"((c.state = 'active' AND ca.in_scope = TRUE "
        "AND (ca.stored_version IS NULL OR %1 OR ca.secret_stored = FALSE)) "
        "OR ((c.state = 'deleted' OR ca.in_scope = FALSE) "
        "AND ca.stored_version IS NOT NULL AND %1))"_s.arg(behind);

    auto query = m_connection->exec(
        u"list the due deliveries of org %1"_s.arg(orgId),
        u"SELECT %1 FROM credential_agents ca "
        "JOIN credentials c ON c.org_id = ca.org_id AND c.credential_id = ca.credential_id "
        "JOIN agents a ON a.org_id = ca.org_id AND a.agent_id = ca.agent_id "
        "WHERE ca.org_id = :org_id AND ca.stalled = FALSE AND ca.next_attempt_at <= :now "
        "AND a.status = 'approved'%2 AND %3 "
        "ORDER BY ca.next_attempt_at, ca.credential_id, ca.agent_id LIMIT :limit"_s.arg(
            columns, agentFilter, undelivered),
        bindings);
    if (!query) {
        return query.error();
    }
    QList<CredentialAgentRow> rows;
    while (query->next()) {
        rows.append(credentialAgentAt(query.value()));
    }
    return rows;
}

} // namespace sealrelay::backend
