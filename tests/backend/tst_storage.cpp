// Storage suite: every shared test runs once on SQLite (a temporary file) and
// once on a throwaway PostgreSQL 15 server, followed by the audit
// immutability tests that only one engine can express.
#include "auditchain.h"
#include "base64.h"
#include "digest.h"
#include "ids.h"
#include "migrations.h"
#include "postgresserver.h"
#include "sqlstorage.h"

#include <QFileInfo>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <latch>
#include <memory>
#include <thread>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

Q_DECLARE_METATYPE(sealrelay::backend::SqlEngine)

namespace {

const QByteArray kEnvelope =
    R"({"ciphertext":"AAE=","encrypted_key":"Ag==","iv":"Aw==","tag":"BA=="})";

// Number of the newest migration under resources/migrations.
constexpr int kSchemaVersion = 4;

const QDateTime kStart = QDateTime::fromString(u"2026-12-04T02:05:00.000Z"_s, Qt::ISODateWithMs);

// A clock that tests move by hand.
struct ManualClock {
    QDateTime now = kStart;

    void advanceMs(qint64 ms) { now = now.addMSecs(ms); }
};

QByteArray tokenHash(const QByteArray &token)
{
    return sha256(token);
}

// Statement bytes are opaque to Storage, so any distinct bytes will do.
QByteArray statementBytes(const QString &credentialId, qint64 version, qint64 revision,
                          const QString &extra = {})
{
    return u"{\"credential_id\":\"%1\",\"revision\":%2,\"version\":%3,\"x\":\"%4\"}"_s
        .arg(credentialId, QString::number(revision), QString::number(version), extra)
        .toUtf8();
}

CredentialRow credentialRow(const QString &orgId, const QString &credentialId, const QString &name,
                            qint64 version = 1, qint64 revision = 1,
                            const QByteArray &commitment = QByteArray(32, 'c'))
{
    CredentialRow row;
    row.orgId = orgId;
    row.credentialId = credentialId;
    row.name = name;
    row.kind = u"password"_s;
    row.version = version;
    row.revision = revision;
    row.statement = statementBytes(credentialId, version, revision);
    row.signature = QByteArray(64, 's');
    row.commitment = commitment;
    row.commitmentVersion = kCommitmentVersion;
    row.scope = CredentialScope::AutoAll;
    return row;
}

CredentialExpectation expectationOf(const CredentialRow &row)
{
    return CredentialExpectation { row.version, row.revision, sha256Base64(row.statement) };
}

AgentRow agentRow(const QString &orgId, const QString &agentId, const QString &name)
{
    AgentRow agent;
    agent.orgId = orgId;
    agent.agentId = agentId;
    agent.name = name;
    agent.status = AgentStatus::Approved;
    agent.encryptionKey = QByteArray(294, 'e');
    agent.identityKey = QByteArray(32, 'i');
    return agent;
}

PendingDispatchRow dispatchRow(const QString &orgId, const QString &dispatchId,
                               const QString &credentialId, const QString &target,
                               const QString &peer)
{
    PendingDispatchRow row;
    row.orgId = orgId;
    row.dispatchId = dispatchId;
    row.credentialId = credentialId;
    row.targetAgentId = target;
    row.peerAgentId = peer;
    row.attempt = 0;
    row.originatingReplicaId = u"replica-1"_s;
    row.dispatchAuditId = newUuid();
    row.startedAt = kStart;
    row.deadline = kStart.addSecs(30);
    return row;
}

PendingDeliveryRow deliveryRow(const QString &orgId, const QString &credentialId, qint64 version,
                               const QString &target)
{
    PendingDeliveryRow row;
    row.orgId = orgId;
    row.deliveryId = newUuid();
    row.credentialId = credentialId;
    row.version = version;
    row.targetAgentId = target;
    row.envelope = kEnvelope;
    row.attestationStatement = "attestation";
    row.attestationSignature = QByteArray(64, 'a');
    return row;
}

// Opens the connection that applies migrations: the SQLite file itself, or
// the owner role on PostgreSQL.
Result<std::unique_ptr<SqlConnection>> openMigrationConnection(const StorageConfig &config)
{
    if (config.engine == SqlEngine::Sqlite) {
        return SqlConnection::openSqlite(config.sqlitePath, 5000);
    }
    auto ownerUrl = parsePostgresUrl(config.postgresMigrationUrl);
    if (!ownerUrl) {
        return ownerUrl.error();
    }
    return SqlConnection::openPostgres(ownerUrl.value());
}

QString resultError(const Error &error)
{
    return reasonName(error.reason) + u": "_s + error.message;
}

} // namespace

// Fails the running test with the storage error and returns from it.
#define STORAGE_OK(expression)                                                                     \
    do {                                                                                           \
        const auto &storageResult_ = (expression);                                                 \
        if (!storageResult_.ok()) {                                                                \
            QFAIL(qPrintable(resultError(storageResult_.error())));                                \
        }                                                                                          \
    } while (false)

class TestStorage : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void postgresUrlParses();
    void postgresUrlRejected_data();
    void postgresUrlRejected();
    void auditRowHashVector();

    void migrateTwice_data() { addEngineRows(); }
    void migrateTwice();
    void migrateConcurrently_data() { addEngineRows(); }
    void migrateConcurrently();
    void migrationSetsScopeFlags_data() { addEngineRows(); }
    void migrationSetsScopeFlags();
    void staleEnvelopeDeleteUsesIndex();
    void apiTokenLifecycle_data() { addEngineRows(); }
    void apiTokenLifecycle();
    void enrolmentTokenSingleUse_data() { addEngineRows(); }
    void enrolmentTokenSingleUse();
    void enrolmentTokenExpiry_data() { addEngineRows(); }
    void enrolmentTokenExpiry();
    void enrolmentTokenRace_data() { addEngineRows(); }
    void enrolmentTokenRace();
    void agentLifecycle_data() { addEngineRows(); }
    void agentLifecycle();
    void credentialCreate_data() { addEngineRows(); }
    void credentialCreate();
    void credentialRotateAndUpdate_data() { addEngineRows(); }
    void credentialRotateAndUpdate();
    void credentialRotationRace_data() { addEngineRows(); }
    void credentialRotationRace();
    void credentialDetails_data() { addEngineRows(); }
    void credentialDetails();
    void rowsOfEnrolledAgent_data() { addEngineRows(); }
    void rowsOfEnrolledAgent();
    void peerCandidateStates_data() { addEngineRows(); }
    void peerCandidateStates();
    void dueRowsOrderAndLimit_data() { addEngineRows(); }
    void dueRowsOrderAndLimit();
    void deliveryFailureStalls_data() { addEngineRows(); }
    void deliveryFailureStalls();
    void dueRowsByScope_data();
    void dueRowsByScope();
    void scopeFlagsFollowStatement_data() { addEngineRows(); }
    void scopeFlagsFollowStatement();
    void resetAgentDeliveries_data() { addEngineRows(); }
    void resetAgentDeliveries();
    void credentialAgentsOfAgent_data() { addEngineRows(); }
    void credentialAgentsOfAgent();
    void transactionsNest_data() { addEngineRows(); }
    void transactionsNest();
    void deferredDurabilityCommits_data() { addEngineRows(); }
    void deferredDurabilityCommits();
    void pendingDeliveries_data() { addEngineRows(); }
    void pendingDeliveries();
    void staleDeliveriesDeleted_data() { addEngineRows(); }
    void staleDeliveriesDeleted();
    void dispatchClaimRace_data() { addEngineRows(); }
    void dispatchClaimRace();
    void replicaStatusRows_data() { addEngineRows(); }
    void replicaStatusRows();
    void blocklistExpiry_data() { addEngineRows(); }
    void blocklistExpiry();
    void alertIdempotency_data() { addEngineRows(); }
    void alertIdempotency();
    void alertNewestRaise_data() { addEngineRows(); }
    void alertNewestRaise();
    void orgIsolation_data() { addEngineRows(); }
    void orgIsolation();
    void auditAppendAndVerify_data() { addEngineRows(); }
    void auditAppendAndVerify();
    void auditQueryFilters_data() { addEngineRows(); }
    void auditQueryFilters();
    void auditConcurrentAppends_data() { addEngineRows(); }
    void auditConcurrentAppends();

    void sqliteConnectionSettings();
    void sqliteFilesOwnerOnly();
    void sqliteAuditRejectsChange_data();
    void sqliteAuditRejectsChange();
    void sqliteFileEditDetected();
    void postgresAuditOwnership();
    void postgresServiceCannotAlterAudit_data();
    void postgresServiceCannotAlterAudit();
    void postgresOwnerBlockedByTriggers();
    void postgresRewriteDetectedByHead();

private:
    static void addEngineRows();

    // A new empty database of `engine` and the configuration that reaches it
    // as the service role (with the owner role for migrations on PostgreSQL).
    StorageConfig newDatabase(SqlEngine engine);
    // Opens `config` and migrates; fails the test and returns nullptr on error.
    std::unique_ptr<SqlStorage> openMigrated(const StorageConfig &config, ManualClock *clock);
    std::unique_ptr<SqlStorage> freshStorage(SqlEngine engine, ManualClock *clock,
                                             StorageConfig *config = nullptr);
    bool createOrg(SqlStorage &storage, const QString &orgId);
    // Appends `count` rows to `orgId`'s chain and returns them.
    QList<AuditRecord> appendRows(SqlStorage &storage, const QString &orgId, int count);

    // Runs `work` on two threads, each with its own connection to `config`,
    // released together so that their statements race.
    template<typename T>
    std::array<T, 2> raceOnTwoConnections(const StorageConfig &config,
                                          const std::function<T(SqlStorage &)> &work);

    QTemporaryDir m_sqliteDir;
    int m_sqliteCount = 0;
    sealrelay::test::PostgresServer m_postgres;
};

void TestStorage::initTestCase()
{
    QVERIFY2(m_sqliteDir.isValid(), qPrintable(m_sqliteDir.errorString()));
    QVERIFY2(m_postgres.start(), qPrintable(m_postgres.errorString()));
}

void TestStorage::addEngineRows()
{
    QTest::addColumn<SqlEngine>("engine");
    QTest::newRow("sqlite") << SqlEngine::Sqlite;
    QTest::newRow("postgresql") << SqlEngine::Postgres;
}

StorageConfig TestStorage::newDatabase(SqlEngine engine)
{
    StorageConfig config;
    config.engine = engine;
    if (engine == SqlEngine::Sqlite) {
        config.sqlitePath = m_sqliteDir.filePath(u"storage-%1.db"_s.arg(++m_sqliteCount));
        return config;
    }
    const QString database = m_postgres.createDatabase();
    if (database.isEmpty()) {
        QTest::qFail(qPrintable(m_postgres.errorString()), __FILE__, __LINE__);
        return config;
    }
    config.postgresUrl = m_postgres.serviceUrl(database);
    config.postgresMigrationUrl = m_postgres.ownerUrl(database);
    return config;
}

std::unique_ptr<SqlStorage> TestStorage::openMigrated(const StorageConfig &config,
                                                      ManualClock *clock)
{
    auto storage = SqlStorage::open(config);
    if (!storage) {
        QTest::qFail(qPrintable(resultError(storage.error())), __FILE__, __LINE__);
        return nullptr;
    }
    if (clock != nullptr) {
        storage.value()->setClock([clock] { return clock->now; });
    }
    if (auto migrated = storage.value()->migrate(); !migrated) {
        QTest::qFail(qPrintable(resultError(migrated.error())), __FILE__, __LINE__);
        return nullptr;
    }
    return std::move(storage).value();
}

std::unique_ptr<SqlStorage> TestStorage::freshStorage(SqlEngine engine, ManualClock *clock,
                                                      StorageConfig *config)
{
    const StorageConfig created = newDatabase(engine);
    if (config != nullptr) {
        *config = created;
    }
    return openMigrated(created, clock);
}

bool TestStorage::createOrg(SqlStorage &storage, const QString &orgId)
{
    auto created = storage.createOrg(OrgRow { orgId, u"Org "_s + orgId.left(8), {} });
    if (!created) {
        QTest::qFail(qPrintable(resultError(created.error())), __FILE__, __LINE__);
        return false;
    }
    return true;
}

QList<AuditRecord> TestStorage::appendRows(SqlStorage &storage, const QString &orgId, int count)
{
    QList<AuditRecord> records;
    for (int i = 0; i < count; ++i) {
        AuditEntry entry;
        entry.orgId = orgId;
        entry.event = u"dispatch"_s;
        entry.actor = u"backend"_s;
        entry.credentialId = u"credential-%1"_s.arg(i % 2);
        entry.outcome = u"pending"_s;
        entry.details = u"{\"attempt\":%1}"_s.arg(i);
        auto appended = storage.appendAudit(entry);
        if (!appended) {
            QTest::qFail(qPrintable(resultError(appended.error())), __FILE__, __LINE__);
            return {};
        }
        records.append(appended.value());
    }
    return records;
}

template<typename T>
std::array<T, 2> TestStorage::raceOnTwoConnections(const StorageConfig &config,
                                                   const std::function<T(SqlStorage &)> &work)
{
    std::array<T, 2> results {};
    std::array<QString, 2> errors;
    std::latch ready(2);

    auto run = [&](int index) {
        auto storage = SqlStorage::open(config);
        ready.arrive_and_wait();
        if (!storage) {
            errors[index] = resultError(storage.error());
            return;
        }
        results[index] = work(*storage.value());
    };
    std::thread first(run, 0);
    std::thread second(run, 1);
    first.join();
    second.join();

    for (const QString &error : errors) {
        if (!error.isEmpty()) {
            QTest::qFail(qPrintable(error), __FILE__, __LINE__);
        }
    }
    return results;
}

// ---- Configuration and hashing ----------------------------------------------------

void TestStorage::postgresUrlParses()
{
    auto url = parsePostgresUrl(
        u"postgresql://svc%40x:p%3Ass@word@db.example:6543/sealrelay?sslmode=require"_s);
    STORAGE_OK(url);
    QCOMPARE(url->user, u"svc@x"_s);
    QCOMPARE(url->password, u"p:ss@word"_s);
    QCOMPARE(url->host, u"db.example"_s);
    QCOMPARE(url->port, 6543);
    QCOMPARE(url->database, u"sealrelay"_s);
    QCOMPARE(url->connectOptions, u"sslmode=require"_s);
    QVERIFY(!url->redacted().contains(u"ss@word"_s));

    auto defaults = parsePostgresUrl(u"postgres://svc:pw@[::1]/db"_s);
    STORAGE_OK(defaults);
    QCOMPARE(defaults->host, u"::1"_s);
    QCOMPARE(defaults->port, 5432);
}

void TestStorage::postgresUrlRejected_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("part");

    QTest::newRow("scheme") << u"mysql://u:secretpw@h:5432/db"_s << u"scheme"_s;
    QTest::newRow("no database") << u"postgresql://u:secretpw@h:5432"_s << u"database name"_s;
    QTest::newRow("empty database") << u"postgresql://u:secretpw@h:5432/"_s << u"database name"_s;
    QTest::newRow("no user") << u"postgresql://h:5432/db"_s << u"user"_s;
    QTest::newRow("empty user") << u"postgresql://:secretpw@h:5432/db"_s << u"user"_s;
    QTest::newRow("empty host") << u"postgresql://u:secretpw@:5432/db"_s << u"host"_s;
    QTest::newRow("port text") << u"postgresql://u:secretpw@h:abc/db"_s << u"port"_s;
    QTest::newRow("port range") << u"postgresql://u:secretpw@h:70000/db"_s << u"port"_s;
    QTest::newRow("nested path") << u"postgresql://u:secretpw@h/db/x"_s << u"database name"_s;
    QTest::newRow("unknown option")
        << u"postgresql://u:secretpw@h/db?host=evil"_s << u"query parameter"_s;
}

void TestStorage::postgresUrlRejected()
{
    QFETCH(QString, url);
    QFETCH(QString, part);

    auto parsed = parsePostgresUrl(url);
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, Reason::Malformed);
    QVERIFY2(parsed.error().message.contains(part), qPrintable(parsed.error().message));
    QVERIFY2(!parsed.error().message.contains(u"secretpw"_s), qPrintable(parsed.error().message));
}

void TestStorage::auditRowHashVector()
{
    // Expected values computed independently with Python's json.dumps
    // (sort_keys, compact separators) and hashlib.
    AuditRecord record;
    record.id = 7;
    record.orgId = u"5f0c8a52-3e7b-4d61-9a1e-2b7c4d8e9f01"_s;
    record.at = QDateTime::fromString(u"2026-12-04T02:05:00.123Z"_s, Qt::ISODateWithMs);
    record.event = u"dispatch"_s;
    record.actor = u"backend"_s;
    record.credentialId = u"c1d2e3f4-0000-4000-8000-000000000001"_s;
    record.dispatchAuditId = u"d1d2e3f4-0000-4000-8000-000000000002"_s;
    record.outcome = u"pending"_s;
    record.details = u"{\"attempt\":1}"_s;
    record.prevHash = auditGenesisHash();

    QCOMPARE(record.prevHash, u"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="_s);
    auto canonical = auditRowCanonicalJson(record);
    STORAGE_OK(canonical);
    const QByteArray expectedJson =
        R"({"actor":"backend","agent_id":null,"at":"2026-12-04T02:05:00.123Z",)"
        R"("credential_id":"c1d2e3f4-0000-4000-8000-000000000001",)"
        R"("details":"{\"attempt\":1}",)"
        R"("dispatch_audit_id":"d1d2e3f4-0000-4000-8000-000000000002",)"
        R"("event":"dispatch","id":7,)"
        R"("org_id":"5f0c8a52-3e7b-4d61-9a1e-2b7c4d8e9f01","outcome":"pending",)"
        R"("prev_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","reason":null})";
    QCOMPARE(canonical.value(), expectedJson);
    auto hash = computeAuditRowHash(record);
    STORAGE_OK(hash);
    QCOMPARE(hash.value(), u"udC4ZzMdHOhu80r7dvuBzCzgDK72/Bd68GV0vAZAeCs="_s);
}

// ---- Migrations ----------------------------------------------------------------------

void TestStorage::migrateTwice()
{
    QFETCH(SqlEngine, engine);
    StorageConfig config;
    auto storage = freshStorage(engine, nullptr, &config);
    QVERIFY(storage);

    STORAGE_OK(storage->migrate());
    auto version = storage->schemaVersion();
    STORAGE_OK(version);
    QCOMPARE(version.value(), kSchemaVersion);

    auto second = openMigrated(config, nullptr);
    QVERIFY(second);
    auto secondVersion = second->schemaVersion();
    STORAGE_OK(secondVersion);
    QCOMPARE(secondVersion.value(), kSchemaVersion);

    QSqlQuery count(QSqlDatabase::database(storage->connectionName()));
    QVERIFY2(count.exec(u"SELECT COUNT(*) FROM schema_migrations"_s),
             qPrintable(count.lastError().text()));
    QVERIFY(count.next());
    QCOMPARE(count.value(0).toInt(), kSchemaVersion);
    STORAGE_OK(storage->ping());
}

void TestStorage::migrateConcurrently()
{
    QFETCH(SqlEngine, engine);
    const StorageConfig config = newDatabase(engine);

    const auto results = raceOnTwoConnections<QString>(config, [](SqlStorage &storage) {
        auto migrated = storage.migrate();
        return migrated ? QString() : resultError(migrated.error());
    });
    QVERIFY2(results[0].isEmpty(), qPrintable(results[0]));
    QVERIFY2(results[1].isEmpty(), qPrintable(results[1]));

    auto storage = openMigrated(config, nullptr);
    QVERIFY(storage);
    auto version = storage->schemaVersion();
    STORAGE_OK(version);
    QCOMPARE(version.value(), kSchemaVersion);
}

// The delete that every upload runs (deletePendingDeliveriesBefore) finds
// the credential's envelopes through an index, instead of reading every
// envelope that waits in the org. The check runs on SQLite only, because
// PostgreSQL plans and prints its plans differently.
void TestStorage::staleEnvelopeDeleteUsesIndex()
{
    const StorageConfig config = newDatabase(SqlEngine::Sqlite);
    QVERIFY(openMigrated(config, nullptr));
    auto connection = openMigrationConnection(config);
    STORAGE_OK(connection);

    auto plan = connection.value()->exec(
        u"explain the delete of earlier envelopes",
        u"EXPLAIN QUERY PLAN DELETE FROM pending_deliveries WHERE org_id = :org_id "
        "AND credential_id = :credential_id AND version < :version RETURNING delivery_id"_s,
        { { u":org_id"_s, newUuid() },
          { u":credential_id"_s, newUuid() },
          { u":version"_s, 2 } });
    STORAGE_OK(plan);
    QStringList details;
    while (plan->next())
        details.append(plan->value(3).toString());
    const QString joined = details.join(u"; ");
    QVERIFY2(joined.contains(u"pending_deliveries_by_credential"), qPrintable(joined));
    QVERIFY2(joined.contains(u"credential_id=?"), qPrintable(joined));
}

void TestStorage::migrationSetsScopeFlags()
{
    QFETCH(SqlEngine, engine);
    const StorageConfig config = newDatabase(engine);
    const QString orgId = newUuid();
    const QString explicitId = newUuid();
    const QString autoAllId = newUuid();
    const QStringList agentIds { u"00000000-0000-4000-8000-00000000000a"_s,
                                 u"00000000-0000-4000-8000-00000000000b"_s,
                                 u"00000000-0000-4000-8000-00000000000c"_s };

    // A database at schema version 1 with rows written before in_scope
    // existed: an explicit credential scoped to a and b, and an auto_all
    // one, each with rows for a, b and c.
    {
        auto migrations = bundledMigrations(engine);
        STORAGE_OK(migrations);
        QVERIFY(!migrations->isEmpty());
        QCOMPARE(migrations->first().version, 1);

        auto connection = openMigrationConnection(config);
        STORAGE_OK(connection);
        SqlConnection &owner = *connection.value();
        auto applied = applyMigrations(owner, { migrations->first() }, std::nullopt, kStart);
        STORAGE_OK(applied);
        QCOMPARE(applied.value(), 1);

        const qint64 at = kStart.toMSecsSinceEpoch();
        STORAGE_OK(owner.exec(u"insert an org",
                              u"INSERT INTO orgs (org_id, name, created_at) "
                              "VALUES (:org_id, 'org', :at)"_s,
                              { { u":org_id"_s, orgId }, { u":at"_s, at } }));
        for (const QString &agentId : agentIds) {
            STORAGE_OK(owner.exec(u"insert an agent",
                                  u"INSERT INTO agents (org_id, agent_id, name, status, "
                                  "encryption_key, identity_key, created_at) VALUES (:org_id, "
                                  ":agent_id, 'edge', 'approved', :key, :key, :at)"_s,
                                  { { u":org_id"_s, orgId },
                                    { u":agent_id"_s, agentId },
                                    { u":key"_s, QByteArray(32, 'k') },
                                    { u":at"_s, at } }));
        }
        const std::pair<QString, QString> credentials[] = {
            { explicitId, u"[\"%1\",\"%2\"]"_s.arg(agentIds[0], agentIds[1]) },
            { autoAllId, u"[]"_s },
        };
        for (const auto &[credentialId, scopeAgents] : credentials) {
            STORAGE_OK(owner.exec(
                u"insert a credential",
                u"INSERT INTO credentials (org_id, credential_id, name, kind, version, revision, "
                "statement, signature, statement_sha256, scope, scope_agents, state, created_at, "
                "updated_at) VALUES (:org_id, :credential_id, :name, 'password', 1, 1, "
                ":statement, :signature, 'x', :scope, :scope_agents, 'active', :at, :at)"_s,
                { { u":org_id"_s, orgId },
                  { u":credential_id"_s, credentialId },
                  { u":name"_s, credentialId },
                  { u":statement"_s, statementBytes(credentialId, 1, 1) },
                  { u":signature"_s, QByteArray(64, 's') },
                  { u":scope"_s, credentialId == explicitId ? u"explicit"_s : u"auto_all"_s },
                  { u":scope_agents"_s, scopeAgents },
                  { u":at"_s, at } }));
            for (const QString &agentId : agentIds) {
                STORAGE_OK(owner.exec(u"insert a credential agent",
                                      u"INSERT INTO credential_agents (org_id, credential_id, "
                                      "agent_id, next_attempt_at) VALUES (:org_id, "
                                      ":credential_id, :agent_id, :at)"_s,
                                      { { u":org_id"_s, orgId },
                                        { u":credential_id"_s, credentialId },
                                        { u":agent_id"_s, agentId },
                                        { u":at"_s, at } }));
            }
        }
    }

    auto storage = openMigrated(config, nullptr);
    QVERIFY(storage);
    auto version = storage->schemaVersion();
    STORAGE_OK(version);
    QCOMPARE(version.value(), kSchemaVersion);

    auto scopeOf = [&](const QString &credentialId, const QString &agentId) {
        auto row = storage->credentialAgent(orgId, credentialId, agentId);
        return row && row->has_value() && (row.value())->inScope;
    };
    QVERIFY(scopeOf(explicitId, agentIds[0]));
    QVERIFY(scopeOf(explicitId, agentIds[1]));
    QVERIFY(!scopeOf(explicitId, agentIds[2]));
    QVERIFY(scopeOf(autoAllId, agentIds[0]));
    QVERIFY(scopeOf(autoAllId, agentIds[1]));
    QVERIFY(scopeOf(autoAllId, agentIds[2]));
}

// ---- Tokens ---------------------------------------------------------------------------

void TestStorage::apiTokenLifecycle()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    ApiTokenRow token;
    token.orgId = orgId;
    token.tokenId = newUuid();
    token.tokenHash = tokenHash("operator-token");
    token.role = ApiRole::Operator;
    token.label = u"ops laptop"_s;
    STORAGE_OK(storage->createApiToken(token));

    auto found = storage->apiTokenByHash(tokenHash("operator-token"));
    STORAGE_OK(found);
    QVERIFY(found->has_value());
    QCOMPARE((found.value())->orgId, orgId);
    QCOMPARE((found.value())->tokenId, token.tokenId);
    QCOMPARE((found.value())->role, ApiRole::Operator);
    QCOMPARE((found.value())->label, u"ops laptop"_s);
    QCOMPARE((found.value())->createdAt, kStart);
    QVERIFY(!(found.value())->revokedAt);

    auto unknown = storage->apiTokenByHash(tokenHash("other-token"));
    STORAGE_OK(unknown);
    QVERIFY(!unknown->has_value());

    auto duplicate = storage->createApiToken(token);
    QVERIFY(!duplicate.ok());
    QCOMPARE(duplicate.error().reason, Reason::IoError);

    clock.advanceMs(1000);
    auto revoked = storage->revokeApiToken(orgId, token.tokenId);
    STORAGE_OK(revoked);
    QVERIFY(revoked.value());
    auto revokedAgain = storage->revokeApiToken(orgId, token.tokenId);
    STORAGE_OK(revokedAgain);
    QVERIFY(!revokedAgain.value());

    auto afterRevoke = storage->apiTokenByHash(tokenHash("operator-token"));
    STORAGE_OK(afterRevoke);
    QVERIFY(afterRevoke->has_value());
    QCOMPARE((afterRevoke.value())->revokedAt, std::optional<QDateTime>(kStart.addMSecs(1000)));

    auto listed = storage->apiTokens(orgId);
    STORAGE_OK(listed);
    QCOMPARE(listed->size(), 1);
}

void TestStorage::enrolmentTokenSingleUse()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    EnrolmentTokenRow token;
    token.orgId = orgId;
    token.tokenId = newUuid();
    token.tokenHash = tokenHash("enrol-1");
    token.agentName = u"edge-1"_s;
    token.createdBy = u"token-admin"_s;
    token.expiresAt = kStart.addSecs(3600);
    STORAGE_OK(storage->createEnrolmentToken(token));

    const QString agentId = newUuid();
    auto wrongName = storage->consumeEnrolmentToken(tokenHash("enrol-1"), u"edge-2"_s, agentId);
    STORAGE_OK(wrongName);
    QCOMPARE(wrongName->outcome, EnrolmentOutcome::NameMismatch);

    auto consumed = storage->consumeEnrolmentToken(tokenHash("enrol-1"), u"edge-1"_s, agentId);
    STORAGE_OK(consumed);
    QCOMPARE(consumed->outcome, EnrolmentOutcome::Consumed);
    QVERIFY(consumed->token.has_value());
    QCOMPARE(consumed->token->orgId, orgId);
    QCOMPARE(consumed->token->usedByAgentId, std::optional<QString>(agentId));
    QCOMPARE(consumed->token->usedAt, std::optional<QDateTime>(kStart));

    auto reused = storage->consumeEnrolmentToken(tokenHash("enrol-1"), u"edge-1"_s, newUuid());
    STORAGE_OK(reused);
    QCOMPARE(reused->outcome, EnrolmentOutcome::AlreadyUsed);

    auto unknown = storage->consumeEnrolmentToken(tokenHash("never-issued"), u"edge-1"_s, agentId);
    STORAGE_OK(unknown);
    QCOMPARE(unknown->outcome, EnrolmentOutcome::Unknown);
    QVERIFY(!unknown->token.has_value());
}

void TestStorage::enrolmentTokenExpiry()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    EnrolmentTokenRow tooLong;
    tooLong.orgId = orgId;
    tooLong.tokenId = newUuid();
    tooLong.tokenHash = tokenHash("enrol-long");
    tooLong.agentName = u"edge-1"_s;
    tooLong.createdBy = u"token-admin"_s;
    tooLong.expiresAt = kStart.addMSecs(kMaxEnrolmentTokenLifetimeMs + 1);
    auto rejected = storage->createEnrolmentToken(tooLong);
    QVERIFY(!rejected.ok());
    QCOMPARE(rejected.error().reason, Reason::Malformed);

    EnrolmentTokenRow token = tooLong;
    token.tokenHash = tokenHash("enrol-day");
    token.expiresAt = kStart.addMSecs(kMaxEnrolmentTokenLifetimeMs);
    STORAGE_OK(storage->createEnrolmentToken(token));

    clock.advanceMs(kMaxEnrolmentTokenLifetimeMs);
    auto expired = storage->consumeEnrolmentToken(tokenHash("enrol-day"), u"edge-1"_s, newUuid());
    STORAGE_OK(expired);
    QCOMPARE(expired->outcome, EnrolmentOutcome::Expired);

    auto tokens = storage->enrolmentTokens(orgId);
    STORAGE_OK(tokens);
    QCOMPARE(tokens->size(), 1);
    QVERIFY(!tokens->first().usedAt.has_value());
}

void TestStorage::enrolmentTokenRace()
{
    QFETCH(SqlEngine, engine);
    StorageConfig config;
    auto storage = freshStorage(engine, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    constexpr int kTokens = 10;
    for (int i = 0; i < kTokens; ++i) {
        EnrolmentTokenRow token;
        token.orgId = orgId;
        token.tokenId = newUuid();
        token.tokenHash = tokenHash("race-" + QByteArray::number(i));
        token.agentName = u"edge-1"_s;
        token.createdBy = u"token-admin"_s;
        token.expiresAt = QDateTime::currentDateTimeUtc().addSecs(3600);
        STORAGE_OK(storage->createEnrolmentToken(token));
    }

    const auto results =
        raceOnTwoConnections<QList<EnrolmentOutcome>>(config, [](SqlStorage &connection) {
            QList<EnrolmentOutcome> outcomes;
            for (int i = 0; i < kTokens; ++i) {
                auto consumed = connection.consumeEnrolmentToken(
                    tokenHash("race-" + QByteArray::number(i)), u"edge-1"_s, newUuid());
                outcomes.append(consumed ? consumed->outcome : EnrolmentOutcome::Unknown);
            }
            return outcomes;
        });
    QCOMPARE(results[0].size(), kTokens);
    QCOMPARE(results[1].size(), kTokens);
    for (int i = 0; i < kTokens; ++i) {
        const int consumed = int(results[0][i] == EnrolmentOutcome::Consumed)
            + int(results[1][i] == EnrolmentOutcome::Consumed);
        const int reused = int(results[0][i] == EnrolmentOutcome::AlreadyUsed)
            + int(results[1][i] == EnrolmentOutcome::AlreadyUsed);
        QCOMPARE(consumed, 1);
        QCOMPARE(reused, 1);
    }
}

// ---- Agents -----------------------------------------------------------------------------

void TestStorage::agentLifecycle()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    AgentRow pending = agentRow(orgId, newUuid(), u"edge-1"_s);
    pending.status = AgentStatus::PendingApproval;
    STORAGE_OK(storage->upsertAgent(pending));

    const AgentCertificate first { "certificate-1", QByteArray(64, 'g'), 1, kStart.addDays(365) };
    auto certified = storage->setAgentCertificate(orgId, pending.agentId, first);
    STORAGE_OK(certified);
    QVERIFY(certified.value());
    auto replayed = storage->setAgentCertificate(orgId, pending.agentId, first);
    STORAGE_OK(replayed);
    QVERIFY(!replayed.value());

    auto stored = storage->agent(orgId, pending.agentId);
    STORAGE_OK(stored);
    QVERIFY(stored->has_value());
    QCOMPARE((stored.value())->status, AgentStatus::Approved);
    QCOMPARE((stored.value())->generation, 1);
    QCOMPARE((stored.value())->certificateStatement, std::optional<QByteArray>("certificate-1"));
    QCOMPARE((stored.value())->expiresAt, std::optional<QDateTime>(kStart.addDays(365)));
    QCOMPARE((stored.value())->encryptionKey, pending.encryptionKey);

    // A rekey replaces the keys and waits for approval again, keeping the
    // certificate so the next one must be generation 2.
    AgentRow rekeyed = pending;
    rekeyed.encryptionKey = QByteArray(294, 'E');
    rekeyed.status = AgentStatus::PendingApproval;
    STORAGE_OK(storage->upsertAgent(rekeyed));
    auto afterRekey = storage->agent(orgId, pending.agentId);
    STORAGE_OK(afterRekey);
    QCOMPARE((afterRekey.value())->status, AgentStatus::PendingApproval);
    QCOMPARE((afterRekey.value())->encryptionKey, rekeyed.encryptionKey);
    QCOMPARE((afterRekey.value())->generation, 1);

    clock.advanceMs(5000);
    auto touched = storage->touchAgent(orgId, pending.agentId);
    STORAGE_OK(touched);
    QVERIFY(touched.value());
    auto quarantined = storage->setAgentQuarantined(orgId, pending.agentId, true);
    STORAGE_OK(quarantined);
    QVERIFY(quarantined.value());
    STORAGE_OK(storage->upsertAgent(agentRow(orgId, newUuid(), u"edge-2"_s)));

    auto pendingOnly = storage->agents(orgId, AgentStatus::PendingApproval);
    STORAGE_OK(pendingOnly);
    QCOMPARE(pendingOnly->size(), 1);
    QCOMPARE(pendingOnly->first().lastSeen, std::optional<QDateTime>(kStart.addMSecs(5000)));
    QVERIFY(pendingOnly->first().quarantined);
    auto all = storage->agents(orgId);
    STORAGE_OK(all);
    QCOMPARE(all->size(), 2);

    auto revoked = storage->setAgentStatus(orgId, pending.agentId, AgentStatus::Revoked);
    STORAGE_OK(revoked);
    QVERIFY(revoked.value());
    auto missing = storage->setAgentStatus(orgId, newUuid(), AgentStatus::Revoked);
    STORAGE_OK(missing);
    QVERIFY(!missing.value());
}

// ---- Credentials ---------------------------------------------------------------------------

void TestStorage::credentialCreate()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    const CredentialRow row = credentialRow(orgId, newUuid(), u"core-switch"_s);
    auto created = storage->createCredential(row, {});
    STORAGE_OK(created);
    QCOMPARE(created.value(), CredentialWriteOutcome::Written);

    auto again = storage->createCredential(row, {});
    STORAGE_OK(again);
    QCOMPARE(again.value(), CredentialWriteOutcome::AlreadyExists);

    auto sameName =
        storage->createCredential(credentialRow(orgId, newUuid(), u"core-switch"_s), {});
    STORAGE_OK(sameName);
    QCOMPARE(sameName.value(), CredentialWriteOutcome::NameTaken);

    auto notFirst = storage->createCredential(credentialRow(orgId, newUuid(), u"x"_s, 2, 1), {});
    QVERIFY(!notFirst.ok());
    QCOMPARE(notFirst.error().reason, Reason::Malformed);

    auto stored = storage->credential(orgId, row.credentialId);
    STORAGE_OK(stored);
    QVERIFY(stored->has_value());
    QCOMPARE((stored.value())->statement, row.statement);
    QCOMPARE((stored.value())->signature, row.signature);
    QCOMPARE((stored.value())->statementSha256, sha256Base64(row.statement));
    QCOMPARE((stored.value())->commitment, row.commitment);
    QCOMPARE((stored.value())->commitmentVersion, std::optional<int>(1));
    QCOMPARE((stored.value())->version, 1);
    QCOMPARE((stored.value())->revision, 1);
    QCOMPARE((stored.value())->createdAt, kStart);

    CredentialRow noCommitment = credentialRow(orgId, newUuid(), u"imported"_s);
    noCommitment.commitment.reset();
    noCommitment.commitmentVersion.reset();
    noCommitment.scope = CredentialScope::Explicit;
    noCommitment.scopeAgentIds = { u"a-1"_s, u"a-2"_s };
    STORAGE_OK(storage->createCredential(noCommitment, {}));
    auto byName = storage->credentialByName(orgId, u"imported"_s);
    STORAGE_OK(byName);
    QVERIFY(byName->has_value());
    QVERIFY(!(byName.value())->commitment.has_value());
    QVERIFY(!(byName.value())->commitmentVersion.has_value());
    QCOMPARE((byName.value())->scope, CredentialScope::Explicit);
    QCOMPARE((byName.value())->scopeAgentIds, noCommitment.scopeAgentIds);
}

void TestStorage::credentialRotateAndUpdate()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow agent = agentRow(orgId, newUuid(), u"edge-1"_s);
    STORAGE_OK(storage->upsertAgent(agent));

    const CredentialRow v1 = credentialRow(orgId, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(v1, { agent.agentId }));

    const CredentialRow v2 =
        credentialRow(orgId, v1.credentialId, u"core-switch"_s, 2, 1, QByteArray(32, 'd'));
    auto badVersion = storage->rotateCredential(expectationOf(v1), v1, {});
    QVERIFY(!badVersion.ok());
    QCOMPARE(badVersion.error().reason, Reason::Malformed);

    auto rotated = storage->rotateCredential(expectationOf(v1), v2, {});
    STORAGE_OK(rotated);
    QCOMPARE(rotated.value(), CredentialWriteOutcome::Written);

    // A second rotation from the same starting point lost the race.
    CredentialRow otherV2 = v2;
    otherV2.statement = statementBytes(v1.credentialId, 2, 1, u"other"_s);
    auto stale = storage->rotateCredential(expectationOf(v1), otherV2, {});
    STORAGE_OK(stale);
    QCOMPARE(stale.value(), CredentialWriteOutcome::Conflict);

    CredentialRow unknown = credentialRow(orgId, newUuid(), u"nothing"_s, 2, 1);
    auto notFound = storage->rotateCredential(
        CredentialExpectation { 1, 1, sha256Base64("nothing") }, unknown, {});
    STORAGE_OK(notFound);
    QCOMPARE(notFound.value(), CredentialWriteOutcome::NotFound);

    // A scope change keeps version and commitment and takes revision + 1.
    CredentialRow v2r2 =
        credentialRow(orgId, v1.credentialId, u"core-switch"_s, 2, 2, QByteArray(32, 'd'));
    v2r2.scope = CredentialScope::Explicit;
    v2r2.scopeAgentIds = { agent.agentId };
    CredentialRow changedCommitment = v2r2;
    changedCommitment.commitment = QByteArray(32, 'z');
    auto commitmentMoved =
        storage->updateCredentialStatement(expectationOf(v2), changedCommitment, {});
    STORAGE_OK(commitmentMoved);
    QCOMPARE(commitmentMoved.value(), CredentialWriteOutcome::Conflict);

    auto scoped = storage->updateCredentialStatement(expectationOf(v2), v2r2, {});
    STORAGE_OK(scoped);
    QCOMPARE(scoped.value(), CredentialWriteOutcome::Written);
    auto replayed = storage->updateCredentialStatement(expectationOf(v2), v2r2, {});
    STORAGE_OK(replayed);
    QCOMPARE(replayed.value(), CredentialWriteOutcome::Conflict);

    auto stored = storage->credential(orgId, v1.credentialId);
    STORAGE_OK(stored);
    QCOMPARE((stored.value())->version, 2);
    QCOMPARE((stored.value())->revision, 2);
    QCOMPARE((stored.value())->statement, v2r2.statement);
    QCOMPARE((stored.value())->scopeAgentIds, QStringList { agent.agentId });

    // A delete frees the name for a new credential.
    CredentialRow deleted = v2r2;
    deleted.revision = 3;
    deleted.statement = statementBytes(v1.credentialId, 2, 3, u"deleted"_s);
    deleted.state = CredentialState::Deleted;
    auto deleteWritten = storage->updateCredentialStatement(expectationOf(v2r2), deleted, {});
    STORAGE_OK(deleteWritten);
    QCOMPARE(deleteWritten.value(), CredentialWriteOutcome::Written);
    auto byName = storage->credentialByName(orgId, u"core-switch"_s);
    STORAGE_OK(byName);
    QVERIFY(!byName->has_value());
    auto reused = storage->createCredential(credentialRow(orgId, newUuid(), u"core-switch"_s), {});
    STORAGE_OK(reused);
    QCOMPARE(reused.value(), CredentialWriteOutcome::Written);
}

void TestStorage::credentialRotationRace()
{
    QFETCH(SqlEngine, engine);
    StorageConfig config;
    auto storage = freshStorage(engine, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    constexpr int kCredentials = 8;
    QList<CredentialRow> firstVersions;
    for (int i = 0; i < kCredentials; ++i) {
        firstVersions.append(credentialRow(orgId, newUuid(), u"credential-%1"_s.arg(i)));
        STORAGE_OK(storage->createCredential(firstVersions.last(), {}));
    }

    std::atomic<int> nextCaller { 0 };
    const auto results =
        raceOnTwoConnections<QList<CredentialWriteOutcome>>(config, [&](SqlStorage &connection) {
            const QString caller = QString::number(nextCaller.fetch_add(1));
            QList<CredentialWriteOutcome> outcomes;
            for (const CredentialRow &v1 : firstVersions) {
                CredentialRow v2 = v1;
                v2.version = 2;
                v2.statement = statementBytes(v1.credentialId, 2, 1, caller);
                auto rotated = connection.rotateCredential(expectationOf(v1), v2, {});
                outcomes.append(rotated ? rotated.value() : CredentialWriteOutcome::NotFound);
            }
            return outcomes;
        });

    QCOMPARE(results[0].size(), kCredentials);
    QCOMPARE(results[1].size(), kCredentials);
    for (int i = 0; i < kCredentials; ++i) {
        const int written = int(results[0][i] == CredentialWriteOutcome::Written)
            + int(results[1][i] == CredentialWriteOutcome::Written);
        const int conflicts = int(results[0][i] == CredentialWriteOutcome::Conflict)
            + int(results[1][i] == CredentialWriteOutcome::Conflict);
        QCOMPARE(written, 1);
        QCOMPARE(conflicts, 1);

        auto stored = storage->credential(orgId, firstVersions[i].credentialId);
        STORAGE_OK(stored);
        QCOMPARE((stored.value())->version, 2);
    }
}

void TestStorage::credentialDetails()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow first = agentRow(orgId, u"00000000-0000-4000-8000-00000000000a"_s, u"a"_s);
    const AgentRow second = agentRow(orgId, u"00000000-0000-4000-8000-00000000000b"_s, u"b"_s);
    STORAGE_OK(storage->upsertAgent(first));
    STORAGE_OK(storage->upsertAgent(second));

    const CredentialRow beta = credentialRow(orgId, newUuid(), u"beta"_s);
    const CredentialRow alpha = credentialRow(orgId, newUuid(), u"alpha"_s);
    STORAGE_OK(storage->createCredential(beta, { second.agentId, first.agentId }));
    STORAGE_OK(storage->createCredential(alpha, { first.agentId }));

    auto detail = storage->credentialDetail(orgId, beta.credentialId);
    STORAGE_OK(detail);
    QVERIFY(detail->has_value());
    QCOMPARE((detail.value())->agents.size(), 2);
    QCOMPARE((detail.value())->agents[0].agentId, first.agentId);
    QCOMPARE((detail.value())->agents[1].agentId, second.agentId);
    QCOMPARE((detail.value())->agents[0].nextAttemptAt, kStart);
    QVERIFY(!(detail.value())->agents[0].secretStored);

    const DeliveryReceipt receipt { 1, 1, true, "receipt-bytes", QByteArray(64, 'r'), kStart };
    auto delivered = storage->markDelivered(orgId, beta.credentialId, second.agentId, receipt);
    STORAGE_OK(delivered);
    QVERIFY(delivered.value());

    auto all = storage->credentialDetails(orgId, false);
    STORAGE_OK(all);
    QCOMPARE(all->size(), 2);
    QCOMPARE(all->at(0).credential.name, u"alpha"_s);
    QCOMPARE(all->at(0).agents.size(), 1);
    QCOMPARE(all->at(1).credential.name, u"beta"_s);
    QCOMPARE(all->at(1).agents.size(), 2);
    QVERIFY(all->at(1).agents[1].secretStored);
    QCOMPARE(all->at(1).agents[1].receiptStatement, std::optional<QByteArray>("receipt-bytes"));
    QCOMPARE(all->at(1).agents[1].storedVersion, std::optional<qint64>(1));

    // A refusal keeps its receipt and leaves what the agent stores alone.
    auto refused = storage->recordRefusal(orgId, beta.credentialId, second.agentId,
                                          "refused-bytes", QByteArray(64, 's'), kStart);
    STORAGE_OK(refused);
    QVERIFY(refused.value());
    auto row = storage->credentialAgent(orgId, beta.credentialId, second.agentId);
    STORAGE_OK(row);
    QVERIFY(row->has_value());
    QCOMPARE(row.value()->receiptStatement, std::optional<QByteArray>("refused-bytes"));
    QVERIFY(row.value()->secretStored);
    QCOMPARE(row.value()->storedVersion, std::optional<qint64>(1));
    auto missing = storage->recordRefusal(orgId, alpha.credentialId, second.agentId,
                                          "refused-bytes", QByteArray(64, 's'), kStart);
    STORAGE_OK(missing);
    QVERIFY(!missing.value());
}

// An agent enrolled after some uploads: addAutoAllRows() gives it a row for
// each active auto_all credential that lacks one, and
// credentialDetailsOfAgent() lists every credential with that agent's row.
void TestStorage::rowsOfEnrolledAgent()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow early = agentRow(orgId, newUuid(), u"early"_s);
    const AgentRow late = agentRow(orgId, newUuid(), u"late"_s);
    STORAGE_OK(storage->upsertAgent(early));
    STORAGE_OK(storage->upsertAgent(late));

    // Two auto_all credentials, and the late agent has a delivered row for
    // one of them. One explicit credential lists only the early agent, and
    // one auto_all credential is deleted.
    const CredentialRow open = credentialRow(orgId, newUuid(), u"open"_s);
    const CredentialRow delivered = credentialRow(orgId, newUuid(), u"delivered"_s);
    CredentialRow listed = credentialRow(orgId, newUuid(), u"listed"_s);
    listed.scope = CredentialScope::Explicit;
    listed.scopeAgentIds = { early.agentId };
    const CredentialRow removed = credentialRow(orgId, newUuid(), u"removed"_s);
    STORAGE_OK(storage->createCredential(open, { early.agentId }));
    STORAGE_OK(storage->createCredential(delivered, { early.agentId, late.agentId }));
    STORAGE_OK(storage->createCredential(listed, { early.agentId }));
    STORAGE_OK(storage->createCredential(removed, { early.agentId }));
    CredentialRow removal = removed;
    removal.revision = 2;
    removal.statement = statementBytes(removed.credentialId, 1, 2, u"deleted"_s);
    removal.state = CredentialState::Deleted;
    STORAGE_OK(storage->updateCredentialStatement(expectationOf(removed), removal, {}));
    const DeliveryReceipt receipt { 1, 1, true, "receipt", QByteArray(64, 'r'), kStart };
    STORAGE_OK(storage->markDelivered(orgId, delivered.credentialId, late.agentId, receipt));

    clock.advanceMs(60000);
    auto added = storage->addAutoAllRows(orgId, late.agentId);
    STORAGE_OK(added);
    QCOMPARE(added.value(), 1);
    auto again = storage->addAutoAllRows(orgId, late.agentId);
    STORAGE_OK(again);
    QCOMPARE(again.value(), 0);

    auto row = storage->credentialAgent(orgId, open.credentialId, late.agentId);
    STORAGE_OK(row);
    QVERIFY(row->has_value());
    QVERIFY((row.value())->inScope);
    QVERIFY(!(row.value())->secretStored);
    QVERIFY(!(row.value())->storedVersion.has_value());
    QCOMPARE((row.value())->attempts, 0);
    QVERIFY(!(row.value())->stalled);
    QCOMPARE((row.value())->nextAttemptAt, clock.now);

    auto details = storage->credentialDetailsOfAgent(orgId, late.agentId);
    STORAGE_OK(details);
    QCOMPARE(details->size(), 4);
    QHash<QString, QList<CredentialAgentRow>> rowsByName;
    for (const CredentialDetail &detail : details.value())
        rowsByName.insert(detail.credential.name, detail.agents);
    QCOMPARE(rowsByName.value(u"open"_s).size(), 1);
    QCOMPARE(rowsByName.value(u"open"_s).first().agentId, late.agentId);
    QCOMPARE(rowsByName.value(u"delivered"_s).size(), 1);
    QCOMPARE(rowsByName.value(u"delivered"_s).first().agentId, late.agentId);
    QVERIFY(rowsByName.value(u"delivered"_s).first().secretStored);
    QVERIFY(rowsByName.contains(u"listed"_s));
    QVERIFY(rowsByName.value(u"listed"_s).isEmpty());
    QVERIFY(rowsByName.contains(u"removed"_s));
    QVERIFY(rowsByName.value(u"removed"_s).isEmpty());
    // Ordered by name, as credentialDetails() orders them.
    QCOMPARE(details->first().credential.name, u"delivered"_s);
    QCOMPARE(details->last().credential.name, u"removed"_s);
}

void TestStorage::peerCandidateStates()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    constexpr qint64 kDayMs = 24 * 3600 * 1000;

    // The ids sort in this order, which the result follows.
    const QString ready = u"00000000-0000-4000-8000-000000000001"_s;
    const QString quarantined = u"00000000-0000-4000-8000-000000000002"_s;
    const QString expired = u"00000000-0000-4000-8000-000000000003"_s;
    const QString unapproved = u"00000000-0000-4000-8000-000000000004"_s;
    const QString blocked = u"00000000-0000-4000-8000-000000000005"_s;
    const QString uncertified = u"00000000-0000-4000-8000-000000000006"_s;
    const QString otherCredentialOnly = u"00000000-0000-4000-8000-000000000007"_s;
    for (const QString &agentId :
         { ready, quarantined, expired, unapproved, blocked, uncertified, otherCredentialOnly }) {
        STORAGE_OK(storage->upsertAgent(agentRow(orgId, agentId, agentId.right(1))));
    }

    const QDateTime validUntil = kStart.addDays(365);
    const AgentCertificate current { "certificate", QByteArray(64, 'g'), 1, validUntil };
    const AgentCertificate lapsed { "certificate", QByteArray(64, 'g'), 1, kStart.addMSecs(-1) };
    for (const QString &agentId : { ready, quarantined, unapproved, blocked }) {
        auto certified = storage->setAgentCertificate(orgId, agentId, current);
        STORAGE_OK(certified);
        QVERIFY(certified.value());
    }
    auto lapsedStored = storage->setAgentCertificate(orgId, expired, lapsed);
    STORAGE_OK(lapsedStored);
    QVERIFY(lapsedStored.value());
    auto flagged = storage->setAgentQuarantined(orgId, quarantined, true);
    STORAGE_OK(flagged);
    QVERIFY(flagged.value());
    auto demoted = storage->setAgentStatus(orgId, unapproved, AgentStatus::PendingApproval);
    STORAGE_OK(demoted);
    QVERIFY(demoted.value());

    const CredentialRow credential = credentialRow(orgId, newUuid(), u"core-switch"_s);
    const CredentialRow other = credentialRow(orgId, newUuid(), u"edge-router"_s);
    STORAGE_OK(storage->createCredential(
        credential, { ready, quarantined, expired, unapproved, blocked, uncertified }));
    STORAGE_OK(storage->createCredential(other, { otherCredentialOnly, ready }));
    const DeliveryReceipt receipt { 1, 1, true, "receipt-bytes", QByteArray(64, 'r'), kStart };
    auto delivered = storage->markDelivered(orgId, credential.credentialId, ready, receipt);
    STORAGE_OK(delivered);
    QVERIFY(delivered.value());

    // An entry blocks its source for its own credential only, and an entry
    // that expires now blocks nothing.
    STORAGE_OK(storage->blockPeer(orgId, credential.credentialId, blocked, ready,
                                  kStart.addMSecs(kDayMs)));
    STORAGE_OK(storage->blockPeer(orgId, other.credentialId, ready, otherCredentialOnly,
                                  kStart.addMSecs(kDayMs)));
    STORAGE_OK(storage->blockPeer(orgId, credential.credentialId, quarantined, ready, kStart));

    auto candidates = storage->peerCandidates(orgId, credential.credentialId);
    STORAGE_OK(candidates);
    QStringList agentIds;
    for (const PeerCandidateRow &row : candidates.value()) {
        agentIds.append(row.agentId);
    }
    QCOMPARE(agentIds,
             QStringList({ ready, quarantined, expired, unapproved, blocked, uncertified }));
    const QList<PeerCandidateRow> &rows = candidates.value();

    QVERIFY(rows[0].secretStored);
    QCOMPARE(rows[0].storedVersion, std::optional<qint64>(1));
    QCOMPARE(rows[0].status, AgentStatus::Approved);
    QVERIFY(!rows[0].quarantined);
    QVERIFY(rows[0].hasCertificate);
    QCOMPARE(rows[0].certificateExpiresAt, std::optional<QDateTime>(validUntil));
    QVERIFY(!rows[0].blocked);

    QVERIFY(!rows[1].secretStored);
    QCOMPARE(rows[1].storedVersion, std::nullopt);
    QVERIFY(rows[1].quarantined);
    QCOMPARE(rows[1].status, AgentStatus::Approved);
    QVERIFY(!rows[1].blocked);

    QVERIFY(rows[2].hasCertificate);
    QCOMPARE(rows[2].certificateExpiresAt, std::optional<QDateTime>(kStart.addMSecs(-1)));
    QVERIFY(!rows[2].quarantined);

    QCOMPARE(rows[3].status, AgentStatus::PendingApproval);
    QVERIFY(rows[3].hasCertificate);

    QVERIFY(rows[4].blocked);
    QCOMPARE(rows[4].status, AgentStatus::Approved);
    QVERIFY(!rows[4].quarantined);

    QVERIFY(!rows[5].hasCertificate);
    QCOMPARE(rows[5].certificateExpiresAt, std::nullopt);
    QCOMPARE(rows[5].status, AgentStatus::Approved);

    auto otherRows = storage->peerCandidates(orgId, other.credentialId);
    STORAGE_OK(otherRows);
    QCOMPARE(otherRows->size(), 2);
    QCOMPARE(otherRows->at(0).agentId, ready);
    QVERIFY(!otherRows->at(0).secretStored);
    QVERIFY(otherRows->at(0).blocked);
    QCOMPARE(otherRows->at(1).agentId, otherCredentialOnly);
    QVERIFY(!otherRows->at(1).blocked);

    // The block ends at its expiry on the storage clock, as in blockedPeers().
    clock.advanceMs(kDayMs);
    auto later = storage->peerCandidates(orgId, credential.credentialId);
    STORAGE_OK(later);
    QCOMPARE(later->size(), 6);
    QCOMPARE(later->at(4).agentId, blocked);
    QVERIFY(!later->at(4).blocked);

    auto unknown = storage->peerCandidates(orgId, newUuid());
    STORAGE_OK(unknown);
    QVERIFY(unknown->isEmpty());
    auto otherOrg = storage->peerCandidates(newUuid(), credential.credentialId);
    STORAGE_OK(otherOrg);
    QVERIFY(otherOrg->isEmpty());
}

// ---- Delivery state --------------------------------------------------------------------------

void TestStorage::dueRowsOrderAndLimit()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    QStringList agentIds;
    for (int i = 0; i < 4; ++i) {
        agentIds.append(u"00000000-0000-4000-8000-00000000000%1"_s.arg(i));
        STORAGE_OK(storage->upsertAgent(agentRow(orgId, agentIds.last(), u"edge"_s)));
    }
    AgentRow pending = agentRow(orgId, u"00000000-0000-4000-8000-0000000000ff"_s, u"new"_s);
    pending.status = AgentStatus::PendingApproval;
    STORAGE_OK(storage->upsertAgent(pending));

    const CredentialRow credential =
        credentialRow(orgId, u"cccccccc-0000-4000-8000-000000000001"_s, u"core-switch"_s);
    STORAGE_OK(storage->createCredential(credential, {}));

    auto row = [&](const QString &agentId, qint64 dueInMs) {
        CredentialAgentRow state;
        state.orgId = orgId;
        state.credentialId = credential.credentialId;
        state.agentId = agentId;
        state.nextAttemptAt = kStart.addMSecs(dueInMs);
        return state;
    };
    // Due, in the order the query must return them: agent 2, 0, 1.
    STORAGE_OK(storage->upsertCredentialAgent(row(agentIds[0], -2000)));
    STORAGE_OK(storage->upsertCredentialAgent(row(agentIds[1], -1000)));
    STORAGE_OK(storage->upsertCredentialAgent(row(agentIds[2], -3000)));
    // Not due: in the future, or of an agent not approved yet.
    STORAGE_OK(storage->upsertCredentialAgent(row(agentIds[3], 60000)));
    STORAGE_OK(storage->upsertCredentialAgent(row(pending.agentId, -5000)));

    auto due = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(due);
    QCOMPARE(due->size(), 3);
    QCOMPARE(due->at(0).agentId, agentIds[2]);
    QCOMPARE(due->at(1).agentId, agentIds[0]);
    QCOMPARE(due->at(2).agentId, agentIds[1]);

    auto limited = storage->dueCredentialAgents(orgId, 2);
    STORAGE_OK(limited);
    QCOMPARE(limited->size(), 2);
    QCOMPARE(limited->at(0).agentId, agentIds[2]);
    QCOMPARE(limited->at(1).agentId, agentIds[0]);

    auto connectedOnly =
        storage->dueCredentialAgents(orgId, 100, QStringList { agentIds[1], agentIds[0] });
    STORAGE_OK(connectedOnly);
    QCOMPARE(connectedOnly->size(), 2);
    QCOMPARE(connectedOnly->at(0).agentId, agentIds[0]);
    QCOMPARE(connectedOnly->at(1).agentId, agentIds[1]);
    auto noneConnected = storage->dueCredentialAgents(orgId, 100, QStringList {});
    STORAGE_OK(noneConnected);
    QVERIFY(noneConnected->isEmpty());

    const DeliveryReceipt receipt { 1, 1, true, "receipt", QByteArray(64, 'r'), kStart };
    STORAGE_OK(storage->markDelivered(orgId, credential.credentialId, agentIds[2], receipt));
    CredentialAgentRow stalledRow = row(agentIds[0], -2000);
    stalledRow.stalled = true;
    STORAGE_OK(storage->upsertCredentialAgent(stalledRow));
    auto afterChanges = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(afterChanges);
    QCOMPARE(afterChanges->size(), 1);
    QCOMPARE(afterChanges->at(0).agentId, agentIds[1]);

    // A rotation makes every row due again, the delivered one included.
    CredentialRow v2 = credentialRow(orgId, credential.credentialId, u"core-switch"_s, 2, 1);
    STORAGE_OK(storage->rotateCredential(expectationOf(credential), v2, {}));
    auto afterRotation = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(afterRotation);
    QCOMPARE(afterRotation->size(), 4);

    // A lost secret makes a row due even at the current version.
    STORAGE_OK(
        storage->markDelivered(orgId, credential.credentialId, agentIds[3],
                               DeliveryReceipt { 2, 1, true, "r2", QByteArray(64, 'r'), kStart }));
    auto lost = storage->markSecretLost(orgId, credential.credentialId, agentIds[3],
                                        u"COMMITMENT_MISMATCH_SOURCE"_s);
    STORAGE_OK(lost);
    QVERIFY(lost.value());
    auto afterLoss = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(afterLoss);
    QCOMPARE(afterLoss->size(), 4);
}

void TestStorage::deliveryFailureStalls()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow agent = agentRow(orgId, newUuid(), u"edge"_s);
    STORAGE_OK(storage->upsertAgent(agent));
    const CredentialRow credential = credentialRow(orgId, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(credential, { agent.agentId }));

    for (int attempt = 1; attempt <= 3; ++attempt) {
        auto failed =
            storage->recordDeliveryFailure(orgId, credential.credentialId, agent.agentId,
                                           u"NO_ELIGIBLE_PEER"_s, kStart.addSecs(30 * attempt), 3);
        STORAGE_OK(failed);
        QVERIFY(failed->has_value());
        QCOMPARE((failed.value())->attempts, attempt);
        QCOMPARE((failed.value())->lastError, std::optional<QString>(u"NO_ELIGIBLE_PEER"_s));
        QCOMPARE((failed.value())->stalled, attempt == 3);
    }
    clock.advanceMs(3600 * 1000);
    auto due = storage->dueCredentialAgents(orgId, 10);
    STORAGE_OK(due);
    QVERIFY(due->isEmpty());

    auto retried = storage->retryCredential(orgId, credential.credentialId);
    STORAGE_OK(retried);
    QCOMPARE(retried.value(), 1);
    auto dueAfterRetry = storage->dueCredentialAgents(orgId, 10);
    STORAGE_OK(dueAfterRetry);
    QCOMPARE(dueAfterRetry->size(), 1);
    QCOMPARE(dueAfterRetry->first().attempts, 0);
    QVERIFY(!dueAfterRetry->first().stalled);

    auto missing = storage->recordDeliveryFailure(orgId, credential.credentialId, newUuid(), u"x"_s,
                                                  kStart, 3);
    STORAGE_OK(missing);
    QVERIFY(!missing->has_value());
}

void TestStorage::dueRowsByScope_data()
{
    QTest::addColumn<SqlEngine>("engine");
    QTest::addColumn<bool>("deleted");
    QTest::addColumn<bool>("inScope");
    QTest::addColumn<qint64>("storedVersion"); // 0 is NULL: never stored
    QTest::addColumn<qint64>("storedRevision"); // 0 is NULL
    QTest::addColumn<bool>("secretStored");
    QTest::addColumn<bool>("due");

    // The credential is at version 2 revision 2 in every row.
    struct Case {
        const char *name;
        bool deleted;
        bool inScope;
        qint64 storedVersion;
        qint64 storedRevision;
        bool secretStored;
        bool due;
    };
    const Case cases[] = {
        { "in scope never stored", false, true, 0, 0, false, true },
        { "in scope behind revision", false, true, 2, 1, true, true },
        { "in scope behind version", false, true, 1, 1, true, true },
        { "in scope current", false, true, 2, 2, true, false },
        { "in scope secret lost", false, true, 2, 2, false, true },
        { "out of scope never stored", false, false, 0, 0, false, false },
        { "out of scope behind revision", false, false, 2, 1, true, true },
        { "out of scope behind version", false, false, 1, 1, true, true },
        { "out of scope revision unknown", false, false, 2, 0, true, true },
        { "out of scope purged", false, false, 2, 2, false, false },
        { "deleted never stored", true, true, 0, 0, false, false },
        { "deleted behind revision", true, true, 2, 1, true, true },
        { "deleted behind version", true, true, 1, 1, true, true },
        { "deleted purged", true, true, 2, 2, false, false },
        { "deleted out of scope never stored", true, false, 0, 0, false, false },
        { "deleted out of scope behind", true, false, 2, 1, true, true },
    };
    const std::pair<const char *, SqlEngine> engines[] = { { "sqlite", SqlEngine::Sqlite },
                                                           { "postgresql", SqlEngine::Postgres } };
    for (const auto &[engineName, engine] : engines) {
        for (const Case &c : cases) {
            QTest::addRow("%s: %s", engineName, c.name)
                << engine << c.deleted << c.inScope << c.storedVersion << c.storedRevision
                << c.secretStored << c.due;
        }
    }
}

void TestStorage::dueRowsByScope()
{
    QFETCH(SqlEngine, engine);
    QFETCH(bool, deleted);
    QFETCH(bool, inScope);
    QFETCH(qint64, storedVersion);
    QFETCH(qint64, storedRevision);
    QFETCH(bool, secretStored);
    QFETCH(bool, due);

    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow agent = agentRow(orgId, newUuid(), u"edge"_s);
    STORAGE_OK(storage->upsertAgent(agent));

    // Version 1 revision 1, rotated to version 2, then a statement update
    // to revision 2 that deletes the credential or keeps it active.
    const CredentialRow v1 = credentialRow(orgId, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(v1, { agent.agentId }));
    const CredentialRow v2 = credentialRow(orgId, v1.credentialId, u"core-switch"_s, 2, 1);
    STORAGE_OK(storage->rotateCredential(expectationOf(v1), v2, {}));
    CredentialRow v2r2 = credentialRow(orgId, v1.credentialId, u"core-switch"_s, 2, 2);
    v2r2.state = deleted ? CredentialState::Deleted : CredentialState::Active;
    auto updated = storage->updateCredentialStatement(expectationOf(v2), v2r2, {});
    STORAGE_OK(updated);
    QCOMPARE(updated.value(), CredentialWriteOutcome::Written);

    CredentialAgentRow row;
    row.orgId = orgId;
    row.credentialId = v1.credentialId;
    row.agentId = agent.agentId;
    row.inScope = inScope;
    row.secretStored = secretStored;
    if (storedVersion != 0) {
        row.storedVersion = storedVersion;
    }
    if (storedRevision != 0) {
        row.storedRevision = storedRevision;
    }
    row.nextAttemptAt = kStart;
    STORAGE_OK(storage->upsertCredentialAgent(row));

    auto dueRows = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(dueRows);
    QCOMPARE(dueRows->size(), due ? 1 : 0);
    if (due) {
        QCOMPARE(dueRows->first().agentId, agent.agentId);
        QCOMPARE(dueRows->first().inScope, inScope);
    }

    // The same row is never due while next_attempt_at is in the future.
    row.nextAttemptAt = kStart.addSecs(30);
    STORAGE_OK(storage->upsertCredentialAgent(row));
    auto later = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(later);
    QVERIFY(later->isEmpty());
}

void TestStorage::scopeFlagsFollowStatement()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const QString a = u"00000000-0000-4000-8000-00000000000a"_s;
    const QString b = u"00000000-0000-4000-8000-00000000000b"_s;
    const QString c = u"00000000-0000-4000-8000-00000000000c"_s;
    const QString d = u"00000000-0000-4000-8000-00000000000d"_s;
    for (const QString &agentId : { a, b, c, d }) {
        STORAGE_OK(storage->upsertAgent(agentRow(orgId, agentId, u"edge"_s)));
    }
    const QString credentialId = newUuid();

    // Returns in_scope of each row of the credential, by agent id.
    auto scopeFlags = [&]() {
        QMap<QString, bool> flags;
        auto detail = storage->credentialDetail(orgId, credentialId);
        if (!detail || !detail->has_value()) {
            return flags;
        }
        for (const CredentialAgentRow &row : (detail.value())->agents) {
            flags.insert(row.agentId, row.inScope);
        }
        return flags;
    };

    // Create: explicit scope {a, b}, with rows for a, b and c.
    CredentialRow v1 = credentialRow(orgId, credentialId, u"core-switch"_s);
    v1.scope = CredentialScope::Explicit;
    v1.scopeAgentIds = { a, b };
    STORAGE_OK(storage->createCredential(v1, { a, b, c }));
    const QMap<QString, bool> afterCreate { { a, true }, { b, true }, { c, false } };
    QCOMPARE(scopeFlags(), afterCreate);

    // Rotate with the same scope. The new row for d is out of scope.
    CredentialRow v2 = credentialRow(orgId, credentialId, u"core-switch"_s, 2, 1);
    v2.scope = CredentialScope::Explicit;
    v2.scopeAgentIds = { a, b };
    STORAGE_OK(storage->rotateCredential(expectationOf(v1), v2, { d }));
    const QMap<QString, bool> afterRotate { { a, true }, { b, true }, { c, false }, { d, false } };
    QCOMPARE(scopeFlags(), afterRotate);

    // Scope change to {b, c, d}: removes a, adds c and d.
    CredentialRow v2r2 = credentialRow(orgId, credentialId, u"core-switch"_s, 2, 2);
    v2r2.scope = CredentialScope::Explicit;
    v2r2.scopeAgentIds = { b, c, d };
    STORAGE_OK(storage->updateCredentialStatement(expectationOf(v2), v2r2, {}));
    const QMap<QString, bool> afterChange { { a, false }, { b, true }, { c, true }, { d, true } };
    QCOMPARE(scopeFlags(), afterChange);

    // Scope change to auto_all: every row is in scope.
    CredentialRow v2r3 = credentialRow(orgId, credentialId, u"core-switch"_s, 2, 3);
    STORAGE_OK(storage->updateCredentialStatement(expectationOf(v2r2), v2r3, {}));
    const QMap<QString, bool> afterAutoAll { { a, true }, { b, true }, { c, true }, { d, true } };
    QCOMPARE(scopeFlags(), afterAutoAll);

    // An explicit scope that lists no agent leaves every row out of scope.
    CredentialRow v2r4 = credentialRow(orgId, credentialId, u"core-switch"_s, 2, 4);
    v2r4.scope = CredentialScope::Explicit;
    STORAGE_OK(storage->updateCredentialStatement(expectationOf(v2r3), v2r4, {}));
    const QMap<QString, bool> afterEmpty { { a, false }, { b, false }, { c, false }, { d, false } };
    QCOMPARE(scopeFlags(), afterEmpty);

    // None of the agents ever stored the credential, so no row is due.
    auto due = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(due);
    QVERIFY(due->isEmpty());
}

void TestStorage::resetAgentDeliveries()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow rekeyed = agentRow(orgId, newUuid(), u"rekeyed"_s);
    const AgentRow other = agentRow(orgId, newUuid(), u"other"_s);
    STORAGE_OK(storage->upsertAgent(rekeyed));
    STORAGE_OK(storage->upsertAgent(other));

    const CredentialRow first = credentialRow(orgId, newUuid(), u"first"_s);
    const CredentialRow second = credentialRow(orgId, newUuid(), u"second"_s);
    STORAGE_OK(storage->createCredential(first, { rekeyed.agentId, other.agentId }));
    STORAGE_OK(storage->createCredential(second, { rekeyed.agentId }));

    // The first credential is delivered to both agents; the second failed
    // on the rekeyed agent until it stalled.
    const DeliveryReceipt receipt { 1, 1, true, "receipt", QByteArray(64, 'r'), kStart };
    STORAGE_OK(storage->markDelivered(orgId, first.credentialId, rekeyed.agentId, receipt));
    STORAGE_OK(storage->markDelivered(orgId, first.credentialId, other.agentId, receipt));
    auto failed = storage->recordDeliveryFailure(orgId, second.credentialId, rekeyed.agentId,
                                                 u"NO_ELIGIBLE_PEER"_s, kStart.addSecs(7200), 1);
    STORAGE_OK(failed);
    QVERIFY((failed.value())->stalled);

    clock.advanceMs(60000);
    auto reset = storage->resetAgentDeliveries(orgId, rekeyed.agentId);
    STORAGE_OK(reset);
    QCOMPARE(reset.value(), 2);

    auto rows = storage->credentialAgentsOf(orgId, rekeyed.agentId);
    STORAGE_OK(rows);
    QCOMPARE(rows->size(), 2);
    for (const CredentialAgentRow &row : rows.value()) {
        QVERIFY(!row.secretStored);
        QVERIFY(!row.storedVersion.has_value());
        QVERIFY(!row.storedRevision.has_value());
        QCOMPARE(row.attempts, 0);
        QVERIFY(!row.stalled);
        QVERIFY(!row.lastError.has_value());
        QCOMPARE(row.nextAttemptAt, clock.now);
        QVERIFY(!row.receiptStatement.has_value());
        QVERIFY(!row.receiptSignature.has_value());
        QVERIFY(!row.receiptAt.has_value());
        QVERIFY(row.inScope);
    }

    // The other agent keeps its delivery.
    auto otherRow = storage->credentialAgent(orgId, first.credentialId, other.agentId);
    STORAGE_OK(otherRow);
    QVERIFY((otherRow.value())->secretStored);
    QCOMPARE((otherRow.value())->storedVersion, std::optional<qint64>(1));
    QCOMPARE((otherRow.value())->receiptStatement, std::optional<QByteArray>("receipt"));

    // Both rows of the rekeyed agent are due again.
    auto due = storage->dueCredentialAgents(orgId, 100);
    STORAGE_OK(due);
    QCOMPARE(due->size(), 2);
    QCOMPARE(due->at(0).agentId, rekeyed.agentId);
    QCOMPARE(due->at(1).agentId, rekeyed.agentId);

    auto unknown = storage->resetAgentDeliveries(orgId, newUuid());
    STORAGE_OK(unknown);
    QCOMPARE(unknown.value(), 0);
}

void TestStorage::transactionsNest()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow first = agentRow(orgId, newUuid(), u"first"_s);
    const AgentRow second = agentRow(orgId, newUuid(), u"second"_s);
    const AgentRow third = agentRow(orgId, newUuid(), u"third"_s);
    const auto stored = [&](const AgentRow &agent) {
        auto row = storage->agent(orgId, agent.agentId);
        return row && row.value().has_value();
    };

    // An inner failure undoes only the inner writes; the outer ones and a
    // write after it commit together.
    Result<void> outer = storage->inTransaction(u"test the outer transaction", [&] {
        if (auto written = storage->upsertAgent(first); !written)
            return written;
        Result<void> inner = storage->inTransaction(u"test the inner transaction", [&] {
            if (auto written = storage->upsertAgent(second); !written)
                return written;
            return Result<void>(makeError(Reason::IoError, u"inner failure"_s));
        });
        if (inner)
            return Result<void>(makeError(Reason::Internal, u"the inner failure was lost"_s));
        AuditEntry entry;
        entry.orgId = orgId;
        entry.event = u"dispatch"_s;
        entry.actor = u"backend"_s;
        auto audited = storage->appendAudit(entry);
        if (!audited)
            return Result<void>(audited.error());
        return Result<void>();
    });
    STORAGE_OK(outer);
    QVERIFY(stored(first));
    QVERIFY(!stored(second));
    auto verified = storage->verifyAuditChain(orgId);
    STORAGE_OK(verified);
    QCOMPARE(verified->rowsVerified, 1);
    QVERIFY(verified->intact());

    // A failed outer transaction keeps nothing, committed inner ones
    // included.
    Result<void> failed = storage->inTransaction(u"test a failing transaction", [&] {
        Result<void> inner = storage->inTransaction(u"test a committed inner transaction", [&] {
            return storage->upsertAgent(third);
        });
        if (!inner)
            return inner;
        return Result<void>(makeError(Reason::IoError, u"outer failure"_s));
    });
    QVERIFY(!failed);
    QVERIFY(!stored(third));

    // The connection is usable, outside any transaction, afterwards.
    STORAGE_OK(storage->upsertAgent(third));
    QVERIFY(stored(third));
}

void TestStorage::deferredDurabilityCommits()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow first = agentRow(orgId, newUuid(), u"first"_s);
    const AgentRow second = agentRow(orgId, newUuid(), u"second"_s);
    const AgentRow third = agentRow(orgId, newUuid(), u"third"_s);
    const auto stored = [&](const AgentRow &agent) {
        auto row = storage->agent(orgId, agent.agentId);
        return row && row.value().has_value();
    };
    // Every commit after a deferred one waits for the disk again: SQLite's
    // synchronous is back at FULL (2), and PostgreSQL's SET LOCAL ended
    // with its transaction. The test server turns synchronous_commit off,
    // so this session turns it on first.
    if (engine == SqlEngine::Postgres) {
        QSqlQuery on(QSqlDatabase::database(storage->connectionName()));
        QVERIFY(on.exec(u"SET synchronous_commit = on"_s));
    }
    const auto syncSetting = [&]() -> QString {
        QSqlQuery query(QSqlDatabase::database(storage->connectionName()));
        const QString sql = engine == SqlEngine::Sqlite ? u"PRAGMA synchronous"_s
                                                        : u"SHOW synchronous_commit"_s;
        if (!query.exec(sql) || !query.next())
            return u"unreadable"_s;
        return query.value(0).toString();
    };
    const QString waits = engine == SqlEngine::Sqlite ? u"2"_s : u"on"_s;
    const QString skips = engine == SqlEngine::Sqlite ? u"1"_s : u"off"_s;
    const auto syncsOnCommit = [&] { return syncSetting() == waits; };
    QVERIFY(syncsOnCommit());

    QString settingInside;
    STORAGE_OK(storage->inTransaction(
        u"test a deferred commit",
        [&] {
            settingInside = syncSetting();
            return storage->upsertAgent(first);
        },
        Durability::WithNextDurableCommit));
    QCOMPARE(settingInside, skips);
    QVERIFY(stored(first));
    QVERIFY(syncsOnCommit());

    // Inside a durable transaction a deferred one is a savepoint, and the
    // outer commit decides.
    STORAGE_OK(storage->inTransaction(u"test a durable outer transaction", [&] {
        return storage->inTransaction(
            u"test a deferred inner transaction", [&] { return storage->upsertAgent(second); },
            Durability::WithNextDurableCommit);
    }));
    QVERIFY(stored(second));
    QVERIFY(syncsOnCommit());

    // A failed deferred transaction keeps nothing.
    Result<void> failed = storage->inTransaction(
        u"test a failing deferred transaction",
        [&] {
            if (auto written = storage->upsertAgent(third); !written)
                return written;
            return Result<void>(makeError(Reason::IoError, u"failure"_s));
        },
        Durability::WithNextDurableCommit);
    QVERIFY(!failed);
    QVERIFY(!stored(third));
    QVERIFY(syncsOnCommit());
}

void TestStorage::credentialAgentsOfAgent()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow agent = agentRow(orgId, newUuid(), u"edge"_s);
    const AgentRow other = agentRow(orgId, newUuid(), u"other"_s);
    STORAGE_OK(storage->upsertAgent(agent));
    STORAGE_OK(storage->upsertAgent(other));

    // Created out of credential_id order.
    const QString idA = u"aaaaaaaa-0000-4000-8000-000000000001"_s;
    const QString idB = u"bbbbbbbb-0000-4000-8000-000000000001"_s;
    const QString idC = u"cccccccc-0000-4000-8000-000000000001"_s;
    STORAGE_OK(storage->createCredential(credentialRow(orgId, idC, u"c"_s), { agent.agentId }));
    STORAGE_OK(storage->createCredential(credentialRow(orgId, idA, u"a"_s),
                                         { agent.agentId, other.agentId }));
    STORAGE_OK(storage->createCredential(credentialRow(orgId, idB, u"b"_s), { other.agentId }));

    // upsertCredentialAgent stores in_scope as given.
    CredentialAgentRow outOfScope;
    outOfScope.orgId = orgId;
    outOfScope.credentialId = idB;
    outOfScope.agentId = agent.agentId;
    outOfScope.inScope = false;
    outOfScope.nextAttemptAt = kStart;
    STORAGE_OK(storage->upsertCredentialAgent(outOfScope));

    auto rows = storage->credentialAgentsOf(orgId, agent.agentId);
    STORAGE_OK(rows);
    QCOMPARE(rows->size(), 3);
    QCOMPARE(rows->at(0).credentialId, idA);
    QCOMPARE(rows->at(1).credentialId, idB);
    QCOMPARE(rows->at(2).credentialId, idC);
    QCOMPARE(rows->at(0).agentId, agent.agentId);
    QVERIFY(rows->at(0).inScope);
    QVERIFY(!rows->at(1).inScope);
    QCOMPARE(rows->at(2).nextAttemptAt, kStart);

    auto otherRows = storage->credentialAgentsOf(orgId, other.agentId);
    STORAGE_OK(otherRows);
    QCOMPARE(otherRows->size(), 2);

    auto unknown = storage->credentialAgentsOf(orgId, newUuid());
    STORAGE_OK(unknown);
    QVERIFY(unknown->isEmpty());
}

// ---- Deliveries, dispatches, blocklist ------------------------------------------------------

void TestStorage::pendingDeliveries()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow agent = agentRow(orgId, newUuid(), u"edge"_s);
    STORAGE_OK(storage->upsertAgent(agent));
    const CredentialRow credential = credentialRow(orgId, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(credential, {}));

    QList<PendingDeliveryRow> deliveries;
    for (int i = 0; i < 3; ++i) {
        PendingDeliveryRow delivery;
        delivery.orgId = orgId;
        delivery.deliveryId = newUuid();
        delivery.credentialId = credential.credentialId;
        delivery.version = 1;
        delivery.targetAgentId = agent.agentId;
        delivery.envelope = kEnvelope;
        delivery.attestationStatement = "attestation-" + QByteArray::number(i);
        delivery.attestationSignature = QByteArray(64, char(i));
        STORAGE_OK(storage->addPendingDelivery(delivery));
        deliveries.append(delivery);
        clock.advanceMs(10);
    }

    auto listed = storage->pendingDeliveriesFor(orgId, agent.agentId);
    STORAGE_OK(listed);
    QCOMPARE(listed->size(), 3);
    QCOMPARE(listed->at(0).deliveryId, deliveries[0].deliveryId);
    QCOMPARE(listed->at(2).deliveryId, deliveries[2].deliveryId);
    QCOMPARE(listed->at(0).envelope, deliveries[0].envelope);
    QCOMPARE(listed->at(1).attestationSignature, deliveries[1].attestationSignature);

    auto one = storage->pendingDelivery(orgId, deliveries[1].deliveryId);
    STORAGE_OK(one);
    QVERIFY(one->has_value());
    QCOMPARE((one.value())->attestationStatement, deliveries[1].attestationStatement);

    auto deleted = storage->deletePendingDelivery(orgId, deliveries[1].deliveryId);
    STORAGE_OK(deleted);
    QVERIFY(deleted.value());
    auto deletedAgain = storage->deletePendingDelivery(orgId, deliveries[1].deliveryId);
    STORAGE_OK(deletedAgain);
    QVERIFY(!deletedAgain.value());
    auto remaining = storage->pendingDeliveriesFor(orgId, agent.agentId);
    STORAGE_OK(remaining);
    QCOMPARE(remaining->size(), 2);
}

void TestStorage::staleDeliveriesDeleted()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow first = agentRow(orgId, newUuid(), u"first"_s);
    const AgentRow second = agentRow(orgId, newUuid(), u"second"_s);
    STORAGE_OK(storage->upsertAgent(first));
    STORAGE_OK(storage->upsertAgent(second));
    const CredentialRow rotated = credentialRow(orgId, newUuid(), u"rotated"_s);
    const CredentialRow untouched = credentialRow(orgId, newUuid(), u"untouched"_s);
    STORAGE_OK(storage->createCredential(rotated, {}));
    STORAGE_OK(storage->createCredential(untouched, {}));

    STORAGE_OK(
        storage->addPendingDelivery(deliveryRow(orgId, rotated.credentialId, 1, first.agentId)));
    STORAGE_OK(
        storage->addPendingDelivery(deliveryRow(orgId, rotated.credentialId, 1, second.agentId)));
    STORAGE_OK(
        storage->addPendingDelivery(deliveryRow(orgId, rotated.credentialId, 2, first.agentId)));
    clock.advanceMs(10);
    const PendingDeliveryRow current = deliveryRow(orgId, rotated.credentialId, 3, first.agentId);
    STORAGE_OK(storage->addPendingDelivery(current));
    clock.advanceMs(10);
    const PendingDeliveryRow otherCredential =
        deliveryRow(orgId, untouched.credentialId, 1, first.agentId);
    STORAGE_OK(storage->addPendingDelivery(otherCredential));

    auto noneOlder = storage->deletePendingDeliveriesBefore(orgId, rotated.credentialId, 1);
    STORAGE_OK(noneOlder);
    QCOMPARE(noneOlder.value(), 0);

    auto deleted = storage->deletePendingDeliveriesBefore(orgId, rotated.credentialId, 3);
    STORAGE_OK(deleted);
    QCOMPARE(deleted.value(), 3);

    auto firstLeft = storage->pendingDeliveriesFor(orgId, first.agentId);
    STORAGE_OK(firstLeft);
    QCOMPARE(firstLeft->size(), 2);
    QCOMPARE(firstLeft->at(0).deliveryId, current.deliveryId);
    QCOMPARE(firstLeft->at(1).deliveryId, otherCredential.deliveryId);

    // The look-up of one credential's envelope for one target.
    auto oneCredential = storage->pendingDeliveriesFor(orgId, first.agentId,
                                                       untouched.credentialId);
    STORAGE_OK(oneCredential);
    QCOMPARE(oneCredential->size(), 1);
    QCOMPARE(oneCredential->at(0).deliveryId, otherCredential.deliveryId);
    auto noneForSecond = storage->pendingDeliveriesFor(orgId, second.agentId,
                                                       untouched.credentialId);
    STORAGE_OK(noneForSecond);
    QVERIFY(noneForSecond->isEmpty());
    auto secondLeft = storage->pendingDeliveriesFor(orgId, second.agentId);
    STORAGE_OK(secondLeft);
    QVERIFY(secondLeft->isEmpty());

    auto deletedAgain = storage->deletePendingDeliveriesBefore(orgId, rotated.credentialId, 3);
    STORAGE_OK(deletedAgain);
    QCOMPARE(deletedAgain.value(), 0);
}

void TestStorage::dispatchClaimRace()
{
    QFETCH(SqlEngine, engine);
    StorageConfig config;
    auto storage = freshStorage(engine, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const AgentRow target = agentRow(orgId, newUuid(), u"target"_s);
    const AgentRow peer = agentRow(orgId, newUuid(), u"peer"_s);
    STORAGE_OK(storage->upsertAgent(target));
    STORAGE_OK(storage->upsertAgent(peer));
    const CredentialRow credential = credentialRow(orgId, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(credential, {}));

    constexpr int kDispatches = 20;
    QStringList dispatchIds;
    for (int i = 0; i < kDispatches; ++i) {
        dispatchIds.append(newUuid());
        STORAGE_OK(storage->addPendingDispatch(dispatchRow(
            orgId, dispatchIds.last(), credential.credentialId, target.agentId, peer.agentId)));
    }
    auto stored = storage->pendingDispatch(orgId, dispatchIds.first());
    STORAGE_OK(stored);
    QVERIFY(stored->has_value());
    QCOMPARE((stored.value())->peerAgentId, peer.agentId);
    QCOMPARE((stored.value())->deadline, kStart.addSecs(30));

    const auto results = raceOnTwoConnections<QList<bool>>(config, [&](SqlStorage &connection) {
        QList<bool> won;
        for (const QString &dispatchId : dispatchIds) {
            auto claimed = connection.claimPendingDispatch(orgId, dispatchId);
            won.append(claimed && claimed->has_value()
                       && (claimed.value())->dispatchId == dispatchId);
        }
        return won;
    });
    QCOMPARE(results[0].size(), kDispatches);
    QCOMPARE(results[1].size(), kDispatches);
    for (int i = 0; i < kDispatches; ++i) {
        QCOMPARE(int(results[0][i]) + int(results[1][i]), 1);
    }

    auto left = storage->pendingDispatches(orgId);
    STORAGE_OK(left);
    QVERIFY(left->isEmpty());
    auto late = storage->claimPendingDispatch(orgId, dispatchIds.first());
    STORAGE_OK(late);
    QVERIFY(!late->has_value());
}

void TestStorage::replicaStatusRows()
{
    QFETCH(SqlEngine, engine);
    auto storage = freshStorage(engine, nullptr);
    QVERIFY(storage);
    ReplicaStatusRow first;
    first.replicaId = u"replica-a"_s;
    first.coordination = u"redis"_s;
    first.version = u"0.1.0"_s;
    first.startedAt = kStart;
    first.seenAt = kStart;
    ReplicaStatusRow second = first;
    second.replicaId = u"replica-b"_s;
    second.seenAt = kStart.addSecs(-600);
    STORAGE_OK(storage->recordReplicaStatus(first));
    STORAGE_OK(storage->recordReplicaStatus(second));

    // A second report replaces the first one.
    first.coordination = u"postgresql"_s;
    first.degraded = true;
    first.usable = true;
    first.detail = u"Redis refused the connection"_s;
    first.seenAt = kStart.addSecs(10);
    STORAGE_OK(storage->recordReplicaStatus(first));

    auto recent = storage->replicaStatuses(kStart.addSecs(-60));
    STORAGE_OK(recent);
    QCOMPARE(recent->size(), 1);
    const ReplicaStatusRow &row = recent->first();
    QCOMPARE(row.replicaId, first.replicaId);
    QCOMPARE(row.coordination, u"postgresql"_s);
    QVERIFY(row.degraded);
    QVERIFY(row.usable);
    QCOMPARE(row.detail, first.detail);
    QCOMPARE(row.seenAt, kStart.addSecs(10));

    auto all = storage->replicaStatuses(kStart.addSecs(-3600));
    STORAGE_OK(all);
    QCOMPARE(all->size(), 2);
    QCOMPARE(all->at(1).replicaId, u"replica-b"_s);
    QVERIFY(!all->at(1).degraded);
}

void TestStorage::blocklistExpiry()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const CredentialRow credential = credentialRow(orgId, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(credential, {}));
    const QString source = newUuid();
    const QString reporter = newUuid();
    constexpr qint64 kDayMs = 24 * 3600 * 1000;

    STORAGE_OK(storage->blockPeer(orgId, credential.credentialId, source, reporter,
                                  kStart.addMSecs(kDayMs)));
    auto blocked = storage->isPeerBlocked(orgId, credential.credentialId, source);
    STORAGE_OK(blocked);
    QVERIFY(blocked.value());
    auto otherPeer = storage->isPeerBlocked(orgId, credential.credentialId, reporter);
    STORAGE_OK(otherPeer);
    QVERIFY(!otherPeer.value());
    auto listed = storage->blockedPeers(orgId, credential.credentialId);
    STORAGE_OK(listed);
    QCOMPARE(listed->size(), 1);
    QCOMPARE(listed->first().reporterAgentId, reporter);

    clock.advanceMs(kDayMs - 1);
    auto stillBlocked = storage->isPeerBlocked(orgId, credential.credentialId, source);
    STORAGE_OK(stillBlocked);
    QVERIFY(stillBlocked.value());

    clock.advanceMs(1);
    auto expired = storage->isPeerBlocked(orgId, credential.credentialId, source);
    STORAGE_OK(expired);
    QVERIFY(!expired.value());
    auto listedExpired = storage->blockedPeers(orgId, credential.credentialId);
    STORAGE_OK(listedExpired);
    QVERIFY(listedExpired->isEmpty());

    auto purged = storage->purgeExpiredBlocks(orgId);
    STORAGE_OK(purged);
    QCOMPARE(purged.value(), 1);
    auto purgedAgain = storage->purgeExpiredBlocks(orgId);
    STORAGE_OK(purgedAgain);
    QCOMPARE(purgedAgain.value(), 0);

    // Blocking again after expiry starts a new period.
    STORAGE_OK(storage->blockPeer(orgId, credential.credentialId, source, reporter,
                                  clock.now.addMSecs(kDayMs)));
    auto reblocked = storage->isPeerBlocked(orgId, credential.credentialId, source);
    STORAGE_OK(reblocked);
    QVERIFY(reblocked.value());
}

// ---- Alerts -----------------------------------------------------------------------------------

void TestStorage::alertIdempotency()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    const AlertRaise raise { orgId, u"peer_agent_integrity_failure"_s, AlertSeverity::Critical,
                             u"agent:peer-1"_s, u"{\"credential_id\":\"c-1\"}"_s };
    auto first = storage->raiseAlert(raise);
    STORAGE_OK(first);
    QVERIFY(first->created);
    QCOMPARE(first->alert.count, 1);

    clock.advanceMs(1000);
    AlertRaise again = raise;
    again.details = u"{\"credential_id\":\"c-2\"}"_s;
    auto second = storage->raiseAlert(again);
    STORAGE_OK(second);
    QVERIFY(!second->created);
    QCOMPARE(second->alert.alertId, first->alert.alertId);
    QCOMPARE(second->alert.count, 2);
    QCOMPARE(second->alert.firstSeen, kStart);
    QCOMPARE(second->alert.lastSeen, kStart.addMSecs(1000));
    QCOMPARE(second->alert.details, again.details);

    AlertRaise otherSubject = raise;
    otherSubject.subject = u"agent:peer-2"_s;
    auto third = storage->raiseAlert(otherSubject);
    STORAGE_OK(third);
    QVERIFY(third->created);
    QVERIFY(third->alert.alertId != first->alert.alertId);

    auto open = storage->alerts(
        orgId, AlertFilter { std::nullopt, std::nullopt, std::nullopt, false, std::nullopt, 100 });
    STORAGE_OK(open);
    QCOMPARE(open->size(), 2);

    auto acknowledged = storage->acknowledgeAlert(orgId, first->alert.alertId, u"token:ops"_s);
    STORAGE_OK(acknowledged);
    QVERIFY(acknowledged.value());
    auto acknowledgedAgain = storage->acknowledgeAlert(orgId, first->alert.alertId, u"token:ops"_s);
    STORAGE_OK(acknowledgedAgain);
    QVERIFY(!acknowledgedAgain.value());

    // Once acknowledged, the same condition opens a new alert.
    auto reopened = storage->raiseAlert(raise);
    STORAGE_OK(reopened);
    QVERIFY(reopened->created);
    QVERIFY(reopened->alert.alertId != first->alert.alertId);
    QCOMPARE(reopened->alert.count, 1);

    AlertFilter bySubject;
    bySubject.subject = u"agent:peer-1"_s;
    auto history = storage->alerts(orgId, bySubject);
    STORAGE_OK(history);
    QCOMPARE(history->size(), 2);
    AlertFilter acknowledgedOnly;
    acknowledgedOnly.acknowledged = true;
    auto done = storage->alerts(orgId, acknowledgedOnly);
    STORAGE_OK(done);
    QCOMPARE(done->size(), 1);
    QCOMPARE(done->first().acknowledgedBy, std::optional<QString>(u"token:ops"_s));
    QCOMPARE(done->first().acknowledgedAt, std::optional<QDateTime>(kStart.addMSecs(1000)));
    AlertFilter highOnly;
    highOnly.severity = AlertSeverity::High;
    auto none = storage->alerts(orgId, highOnly);
    STORAGE_OK(none);
    QVERIFY(none->isEmpty());
}

// ---- Tenancy ----------------------------------------------------------------------------------

void TestStorage::alertNewestRaise()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    constexpr qint64 kDayMs = 24 * 3600 * 1000;

    const AlertRaise raise { orgId,
                             u"credential_sync_stalled"_s,
                             AlertSeverity::Medium,
                             u"credential:c-1/agent:a-1"_s,
                             {} };
    auto raised = storage->raiseAlert(raise);
    STORAGE_OK(raised);
    clock.advanceMs(1000);
    STORAGE_OK(storage->raiseAlert(raise));
    STORAGE_OK(storage->acknowledgeAlert(orgId, raised->alert.alertId, u"token:ops"_s));
    AlertRaise otherSubject = raise;
    otherSubject.subject = u"credential:c-1/agent:a-2"_s;
    clock.advanceMs(1000);
    STORAGE_OK(storage->raiseAlert(otherSubject));

    // The query a 24-hour deduplication runs: the newest raise of one
    // (type, subject), acknowledged or not.
    AlertFilter newest;
    newest.type = raise.type;
    newest.subject = raise.subject;
    newest.limit = 1;

    clock.advanceMs(3600 * 1000);
    newest.seenSince = clock.now.addMSecs(-kDayMs);
    auto withinDay = storage->alerts(orgId, newest);
    STORAGE_OK(withinDay);
    QCOMPARE(withinDay->size(), 1);
    QCOMPARE(withinDay->first().alertId, raised->alert.alertId);
    QCOMPARE(withinDay->first().lastSeen, kStart.addMSecs(1000));
    QVERIFY(withinDay->first().acknowledgedAt.has_value());

    clock.advanceMs(kDayMs);
    newest.seenSince = clock.now.addMSecs(-kDayMs);
    auto afterDay = storage->alerts(orgId, newest);
    STORAGE_OK(afterDay);
    QVERIFY(afterDay->isEmpty());
}

void TestStorage::orgIsolation()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgA = newUuid();
    const QString orgB = newUuid();
    QVERIFY(createOrg(*storage, orgA));
    QVERIFY(createOrg(*storage, orgB));

    // Org A gets one row of every kind.
    ApiTokenRow token;
    token.orgId = orgA;
    token.tokenId = newUuid();
    token.tokenHash = tokenHash("a-token");
    token.role = ApiRole::Admin;
    STORAGE_OK(storage->createApiToken(token));
    EnrolmentTokenRow enrolment;
    enrolment.orgId = orgA;
    enrolment.tokenId = newUuid();
    enrolment.tokenHash = tokenHash("a-enrol");
    enrolment.agentName = u"edge"_s;
    enrolment.createdBy = token.tokenId;
    enrolment.expiresAt = kStart.addSecs(60);
    STORAGE_OK(storage->createEnrolmentToken(enrolment));
    const AgentRow agent = agentRow(orgA, newUuid(), u"edge"_s);
    const AgentRow peer = agentRow(orgA, newUuid(), u"peer"_s);
    STORAGE_OK(storage->upsertAgent(agent));
    STORAGE_OK(storage->upsertAgent(peer));
    const CredentialRow credential = credentialRow(orgA, newUuid(), u"core-switch"_s);
    STORAGE_OK(storage->createCredential(credential, { agent.agentId }));
    PendingDeliveryRow delivery;
    delivery.orgId = orgA;
    delivery.deliveryId = newUuid();
    delivery.credentialId = credential.credentialId;
    delivery.version = 1;
    delivery.targetAgentId = agent.agentId;
    delivery.envelope = "{}";
    delivery.attestationStatement = "a";
    delivery.attestationSignature = "s";
    STORAGE_OK(storage->addPendingDelivery(delivery));
    const PendingDispatchRow dispatch =
        dispatchRow(orgA, newUuid(), credential.credentialId, agent.agentId, peer.agentId);
    STORAGE_OK(storage->addPendingDispatch(dispatch));
    STORAGE_OK(storage->blockPeer(orgA, credential.credentialId, peer.agentId, agent.agentId,
                                  kStart.addSecs(3600)));
    auto alert = storage->raiseAlert(AlertRaise {
        orgA, u"credential_sync_stalled"_s, AlertSeverity::Medium, u"credential:x"_s, {} });
    STORAGE_OK(alert);
    QVERIFY(!appendRows(*storage, orgA, 2).isEmpty());

    // Nothing of it is visible or changeable through org B.
    auto tokens = storage->apiTokens(orgB);
    STORAGE_OK(tokens);
    QVERIFY(tokens->isEmpty());
    auto revoked = storage->revokeApiToken(orgB, token.tokenId);
    STORAGE_OK(revoked);
    QVERIFY(!revoked.value());
    auto enrolments = storage->enrolmentTokens(orgB);
    STORAGE_OK(enrolments);
    QVERIFY(enrolments->isEmpty());
    auto agents = storage->agents(orgB);
    STORAGE_OK(agents);
    QVERIFY(agents->isEmpty());
    auto agentRead = storage->agent(orgB, agent.agentId);
    STORAGE_OK(agentRead);
    QVERIFY(!agentRead->has_value());
    auto touched = storage->touchAgent(orgB, agent.agentId);
    STORAGE_OK(touched);
    QVERIFY(!touched.value());
    auto credentialRead = storage->credential(orgB, credential.credentialId);
    STORAGE_OK(credentialRead);
    QVERIFY(!credentialRead->has_value());
    auto byName = storage->credentialByName(orgB, credential.name);
    STORAGE_OK(byName);
    QVERIFY(!byName->has_value());
    auto details = storage->credentialDetails(orgB, true);
    STORAGE_OK(details);
    QVERIFY(details->isEmpty());
    CredentialRow v2 = credential;
    v2.orgId = orgB;
    v2.version = 2;
    auto rotated = storage->rotateCredential(expectationOf(credential), v2, {});
    STORAGE_OK(rotated);
    QCOMPARE(rotated.value(), CredentialWriteOutcome::NotFound);
    auto due = storage->dueCredentialAgents(orgB, 100);
    STORAGE_OK(due);
    QVERIFY(due->isEmpty());
    auto deliveries = storage->pendingDeliveriesFor(orgB, agent.agentId);
    STORAGE_OK(deliveries);
    QVERIFY(deliveries->isEmpty());
    auto deliveryDeleted = storage->deletePendingDelivery(orgB, delivery.deliveryId);
    STORAGE_OK(deliveryDeleted);
    QVERIFY(!deliveryDeleted.value());
    auto staleDeleted = storage->deletePendingDeliveriesBefore(orgB, credential.credentialId, 99);
    STORAGE_OK(staleDeleted);
    QCOMPARE(staleDeleted.value(), 0);
    auto agentRows = storage->credentialAgentsOf(orgB, agent.agentId);
    STORAGE_OK(agentRows);
    QVERIFY(agentRows->isEmpty());
    auto reset = storage->resetAgentDeliveries(orgB, agent.agentId);
    STORAGE_OK(reset);
    QCOMPARE(reset.value(), 0);
    auto claimed = storage->claimPendingDispatch(orgB, dispatch.dispatchId);
    STORAGE_OK(claimed);
    QVERIFY(!claimed->has_value());
    auto dispatches = storage->pendingDispatches(orgB);
    STORAGE_OK(dispatches);
    QVERIFY(dispatches->isEmpty());
    auto blocked = storage->isPeerBlocked(orgB, credential.credentialId, peer.agentId);
    STORAGE_OK(blocked);
    QVERIFY(!blocked.value());
    auto alerts = storage->alerts(orgB, AlertFilter {});
    STORAGE_OK(alerts);
    QVERIFY(alerts->isEmpty());
    auto acknowledged = storage->acknowledgeAlert(orgB, alert->alert.alertId, u"token:b"_s);
    STORAGE_OK(acknowledged);
    QVERIFY(!acknowledged.value());
    auto audit = storage->auditRecords(orgB, AuditFilter {});
    STORAGE_OK(audit);
    QVERIFY(audit->isEmpty());
    auto verification = storage->verifyAuditChain(orgB);
    STORAGE_OK(verification);
    QCOMPARE(verification->rowsVerified, 0);
    QVERIFY(verification->intact());

    // Org A still has everything.
    auto dispatchA = storage->pendingDispatch(orgA, dispatch.dispatchId);
    STORAGE_OK(dispatchA);
    QVERIFY(dispatchA->has_value());
    auto deliveryA = storage->pendingDelivery(orgA, delivery.deliveryId);
    STORAGE_OK(deliveryA);
    QVERIFY(deliveryA->has_value());
    auto verificationA = storage->verifyAuditChain(orgA);
    STORAGE_OK(verificationA);
    QCOMPARE(verificationA->rowsVerified, 2);
}

// ---- Audit trail ----------------------------------------------------------------------------

void TestStorage::auditAppendAndVerify()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgA = newUuid();
    const QString orgB = newUuid();
    QVERIFY(createOrg(*storage, orgA));
    QVERIFY(createOrg(*storage, orgB));

    // Interleaved appends of two orgs form two separate chains.
    QList<AuditRecord> chainA;
    QList<AuditRecord> chainB;
    for (int i = 0; i < 3; ++i) {
        chainA += appendRows(*storage, orgA, 1);
        chainB += appendRows(*storage, orgB, 1);
        clock.advanceMs(7);
    }
    QCOMPARE(chainA.size(), 3);
    QCOMPARE(chainB.size(), 3);
    QCOMPARE(chainA[0].prevHash, auditGenesisHash());
    QCOMPARE(chainB[0].prevHash, auditGenesisHash());
    for (int i = 1; i < 3; ++i) {
        QCOMPARE(chainA[i].prevHash, chainA[i - 1].rowHash);
        QCOMPARE(chainB[i].prevHash, chainB[i - 1].rowHash);
        QVERIFY(chainA[i].id > chainA[i - 1].id);
    }
    QCOMPARE(chainA[2].at, kStart.addMSecs(14));

    auto stored = storage->auditRecords(orgA, AuditFilter {});
    STORAGE_OK(stored);
    QCOMPARE(stored->size(), 3);
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(stored->at(i).id, chainA[i].id);
        QCOMPARE(stored->at(i).rowHash, chainA[i].rowHash);
        QCOMPARE(stored->at(i).details, chainA[i].details);
        auto recomputed = computeAuditRowHash(stored->at(i));
        STORAGE_OK(recomputed);
        QCOMPARE(recomputed.value(), chainA[i].rowHash);
    }

    auto verification = storage->verifyAuditChain(orgA);
    STORAGE_OK(verification);
    QVERIFY(verification->intact());
    QCOMPARE(verification->rowsVerified, 3);
    QCOMPARE(verification->head.rowId, chainA[2].id);
    QCOMPARE(verification->head.rowHash, chainA[2].rowHash);

    // The remembered head verifies on the next run, with later rows added.
    const AuditHead head = verification->head;
    QVERIFY(!appendRows(*storage, orgA, 2).isEmpty());
    auto later = storage->verifyAuditChain(orgA, head);
    STORAGE_OK(later);
    QVERIFY(later->intact());
    QCOMPARE(later->rowsVerified, 5);

    // A head that does not match what is stored is reported.
    auto forged = storage->verifyAuditChain(orgA, AuditHead { head.rowId, chainA[0].rowHash });
    STORAGE_OK(forged);
    QVERIFY(!forged->intact());
    QCOMPARE(forged->firstBreak->kind, AuditBreakKind::KnownHeadChanged);
    QCOMPARE(forged->firstBreak->rowId, head.rowId);
    auto vanished = storage->verifyAuditChain(orgA, AuditHead { head.rowId + 1000, head.rowHash });
    STORAGE_OK(vanished);
    QVERIFY(!vanished->intact());
    QCOMPARE(vanished->firstBreak->kind, AuditBreakKind::KnownHeadMissing);

    AuditEntry badDetails;
    badDetails.orgId = orgA;
    badDetails.event = u"dispatch"_s;
    badDetails.actor = u"backend"_s;
    badDetails.details = u"{not json"_s;
    auto rejected = storage->appendAudit(badDetails);
    QVERIFY(!rejected.ok());
    QCOMPARE(rejected.error().reason, Reason::Malformed);

    AuditEntry unknownEvent;
    unknownEvent.orgId = orgA;
    unknownEvent.event = u"credential_peeked"_s;
    unknownEvent.actor = u"backend"_s;
    auto refused = storage->appendAudit(unknownEvent);
    QVERIFY(!refused.ok());
    QCOMPARE(refused.error().reason, Reason::Malformed);
    QVERIFY(refused.error().message.contains(u"credential_peeked"_s));
    AuditFilter byUnknownEvent;
    byUnknownEvent.event = unknownEvent.event;
    auto none = storage->auditRecords(orgA, byUnknownEvent);
    STORAGE_OK(none);
    QVERIFY(none->isEmpty());
}

void TestStorage::auditQueryFilters()
{
    QFETCH(SqlEngine, engine);
    ManualClock clock;
    auto storage = freshStorage(engine, &clock);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    const QStringList events = { u"dispatch"_s, u"dispatch"_s, u"commitment_mismatch_detected"_s,
                                 u"agent_approved"_s, u"dispatch"_s };
    for (int i = 0; i < events.size(); ++i) {
        AuditEntry entry;
        entry.orgId = orgId;
        entry.event = events[i];
        entry.actor = u"backend"_s;
        entry.credentialId = i % 2 == 0 ? std::optional<QString>(u"cred-even"_s) : std::nullopt;
        entry.agentId = u"agent-%1"_s.arg(i % 3);
        STORAGE_OK(storage->appendAudit(entry));
        clock.advanceMs(1000);
    }

    AuditFilter byCredential;
    byCredential.credentialId = u"cred-even"_s;
    auto credentialRows = storage->auditRecords(orgId, byCredential);
    STORAGE_OK(credentialRows);
    QCOMPARE(credentialRows->size(), 3);

    AuditFilter byAgent;
    byAgent.agentId = u"agent-0"_s;
    auto agentRows = storage->auditRecords(orgId, byAgent);
    STORAGE_OK(agentRows);
    QCOMPARE(agentRows->size(), 2);

    AuditFilter byEvent;
    byEvent.event = u"dispatch"_s;
    auto eventRows = storage->auditRecords(orgId, byEvent);
    STORAGE_OK(eventRows);
    QCOMPARE(eventRows->size(), 3);

    AuditFilter byTime;
    byTime.from = kStart.addSecs(1);
    byTime.until = kStart.addSecs(3);
    auto timeRows = storage->auditRecords(orgId, byTime);
    STORAGE_OK(timeRows);
    QCOMPARE(timeRows->size(), 2);
    QCOMPARE(timeRows->at(0).at, kStart.addSecs(1));
    QCOMPARE(timeRows->at(1).at, kStart.addSecs(2));

    // Paging forwards by id, two rows at a time, visits every row once.
    QList<qint64> visited;
    AuditFilter page;
    page.limit = 2;
    for (;;) {
        auto rows = storage->auditRecords(orgId, page);
        STORAGE_OK(rows);
        if (rows->isEmpty()) {
            break;
        }
        for (const AuditRecord &record : rows.value()) {
            visited.append(record.id);
        }
        page.afterId = rows->last().id;
    }
    QCOMPARE(visited.size(), 5);
    QVERIFY(std::is_sorted(visited.cbegin(), visited.cend()));

    AuditFilter newest;
    newest.newestFirst = true;
    newest.limit = 2;
    auto newestRows = storage->auditRecords(orgId, newest);
    STORAGE_OK(newestRows);
    QCOMPARE(newestRows->size(), 2);
    QCOMPARE(newestRows->at(0).id, visited.last());
    AuditFilter older = newest;
    older.beforeId = newestRows->last().id;
    auto olderRows = storage->auditRecords(orgId, older);
    STORAGE_OK(olderRows);
    QCOMPARE(olderRows->at(0).id, visited[2]);
}

void TestStorage::auditConcurrentAppends()
{
    QFETCH(SqlEngine, engine);
    StorageConfig config;
    auto storage = freshStorage(engine, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));

    constexpr int kPerWriter = 25;
    const auto results = raceOnTwoConnections<QString>(config, [&](SqlStorage &connection) {
        for (int i = 0; i < kPerWriter; ++i) {
            AuditEntry entry;
            entry.orgId = orgId;
            entry.event = u"dispatch"_s;
            entry.actor = u"backend"_s;
            auto appended = connection.appendAudit(entry);
            if (!appended) {
                return resultError(appended.error());
            }
        }
        return QString();
    });
    QVERIFY2(results[0].isEmpty(), qPrintable(results[0]));
    QVERIFY2(results[1].isEmpty(), qPrintable(results[1]));

    auto verification = storage->verifyAuditChain(orgId);
    STORAGE_OK(verification);
    QVERIFY2(verification->intact(),
             verification->intact() ? "" : qPrintable(verification->firstBreak->message));
    QCOMPARE(verification->rowsVerified, 2 * kPerWriter);
}

// ---- SQLite immutability ------------------------------------------------------------------------

void TestStorage::sqliteConnectionSettings()
{
    auto storage = freshStorage(SqlEngine::Sqlite, nullptr);
    QVERIFY(storage);
    QSqlDatabase db = QSqlDatabase::database(storage->connectionName());

    const QList<std::pair<QString, QString>> expected = {
        { u"journal_mode"_s, u"wal"_s },     { u"foreign_keys"_s, u"1"_s },
        { u"recursive_triggers"_s, u"1"_s }, { u"busy_timeout"_s, u"5000"_s },
        { u"synchronous"_s, u"2"_s },
    };
    for (const auto &[pragma, value] : expected) {
        QSqlQuery query(db);
        QVERIFY2(query.exec(u"PRAGMA "_s + pragma), qPrintable(query.lastError().text()));
        QVERIFY(query.next());
        QCOMPARE(query.value(0).toString().toLower(), value);
    }

    auto owns = storage->connectedRoleOwnsAuditLog();
    STORAGE_OK(owns);
    QVERIFY(!owns.value());
}

void TestStorage::sqliteFilesOwnerOnly()
{
    const QString path = m_sqliteDir.filePath(u"owner-only.db"_s);
    StorageConfig config;
    config.engine = SqlEngine::Sqlite;
    config.sqlitePath = path;
    auto storage = SqlStorage::open(config);
    STORAGE_OK(storage);
    STORAGE_OK(storage.value()->migrate());

    const QFileDevice::Permissions ownerOnly = QFileDevice::ReadOwner | QFileDevice::WriteOwner
        | QFileDevice::ReadUser | QFileDevice::WriteUser;
    QCOMPARE(QFileInfo(path).permissions(), ownerOnly);
    QVERIFY(QFileInfo::exists(path + u"-wal"_s));
    QCOMPARE(QFileInfo(path + u"-wal"_s).permissions(), ownerOnly);
    QCOMPARE(QFileInfo(path + u"-shm"_s).permissions(), ownerOnly);
}

void TestStorage::sqliteAuditRejectsChange_data()
{
    QTest::addColumn<QString>("sql");
    QTest::newRow("update") << u"UPDATE audit_log SET reason = 'edited' WHERE id = %1"_s;
    QTest::newRow("delete") << u"DELETE FROM audit_log WHERE id = %1"_s;
    QTest::newRow("insert or replace")
        << u"INSERT OR REPLACE INTO audit_log SELECT id, org_id, at, 'edited', actor, "
           "credential_id, agent_id, dispatch_audit_id, outcome, reason, details, prev_hash, "
           "row_hash FROM audit_log WHERE id = %1"_s;
    QTest::newRow("replace") << u"REPLACE INTO audit_log SELECT * FROM audit_log WHERE id = %1"_s;
}

void TestStorage::sqliteAuditRejectsChange()
{
    QFETCH(QString, sql);
    auto storage = freshStorage(SqlEngine::Sqlite, nullptr);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const QList<AuditRecord> rows = appendRows(*storage, orgId, 3);
    QCOMPARE(rows.size(), 3);

    QSqlQuery query(QSqlDatabase::database(storage->connectionName()));
    QVERIFY(!query.exec(sql.arg(rows[1].id)));
    QVERIFY2(query.lastError().text().contains(u"append-only"_s),
             qPrintable(query.lastError().text()));

    auto verification = storage->verifyAuditChain(orgId);
    STORAGE_OK(verification);
    QVERIFY(verification->intact());
    QCOMPARE(verification->rowsVerified, 3);
}

void TestStorage::sqliteFileEditDetected()
{
    StorageConfig config;
    auto storage = freshStorage(SqlEngine::Sqlite, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const QList<AuditRecord> rows = appendRows(*storage, orgId, 5);
    QCOMPARE(rows.size(), 5);

    // Anyone who can write the file can drop the triggers, but the chain
    // still shows the edit.
    {
        QSqlDatabase raw = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"raw-editor"_s);
        raw.setDatabaseName(config.sqlitePath);
        QVERIFY(raw.open());
        QSqlQuery query(raw);
        QVERIFY2(query.exec(u"DROP TRIGGER audit_log_reject_update"_s),
                 qPrintable(query.lastError().text()));
        QVERIFY2(
            query.exec(u"UPDATE audit_log SET outcome = 'success' WHERE id = %1"_s.arg(rows[2].id)),
            qPrintable(query.lastError().text()));
        raw.close();
    }
    QSqlDatabase::removeDatabase(u"raw-editor"_s);

    auto verification = storage->verifyAuditChain(orgId);
    STORAGE_OK(verification);
    QVERIFY(!verification->intact());
    QCOMPARE(verification->firstBreak->rowId, rows[2].id);
    QCOMPARE(verification->firstBreak->kind, AuditBreakKind::RowHashMismatch);
    QCOMPARE(verification->rowsVerified, 2);
    QCOMPARE(verification->head.rowId, rows[1].id);
}

// ---- PostgreSQL immutability
// ----------------------------------------------------------------------

void TestStorage::postgresAuditOwnership()
{
    StorageConfig config;
    auto storage = freshStorage(SqlEngine::Postgres, nullptr, &config);
    QVERIFY(storage);
    auto serviceOwns = storage->connectedRoleOwnsAuditLog();
    STORAGE_OK(serviceOwns);
    QVERIFY(!serviceOwns.value());

    StorageConfig asOwner = config;
    asOwner.postgresUrl = config.postgresMigrationUrl;
    auto owner = SqlStorage::open(asOwner);
    STORAGE_OK(owner);
    auto ownerOwns = owner.value()->connectedRoleOwnsAuditLog();
    STORAGE_OK(ownerOwns);
    QVERIFY(ownerOwns.value());
}

void TestStorage::postgresServiceCannotAlterAudit_data()
{
    QTest::addColumn<QString>("sql");
    QTest::newRow("update") << u"UPDATE audit_log SET reason = 'edited' WHERE id = %1"_s;
    QTest::newRow("delete") << u"DELETE FROM audit_log WHERE id = %1"_s;
    QTest::newRow("truncate") << u"TRUNCATE audit_log"_s;
    QTest::newRow("disable trigger") << u"ALTER TABLE audit_log DISABLE TRIGGER USER"_s;
    QTest::newRow("drop trigger") << u"DROP TRIGGER audit_log_reject_update_delete ON audit_log"_s;
    QTest::newRow("drop table") << u"DROP TABLE audit_log"_s;
}

void TestStorage::postgresServiceCannotAlterAudit()
{
    QFETCH(QString, sql);
    auto storage = freshStorage(SqlEngine::Postgres, nullptr);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const QList<AuditRecord> rows = appendRows(*storage, orgId, 3);
    QCOMPARE(rows.size(), 3);

    QSqlQuery query(QSqlDatabase::database(storage->connectionName()));
    QVERIFY(!query.exec(sql.contains(u"%1"_s) ? sql.arg(rows[1].id) : sql));
    // SQLSTATE insufficient_privilege: the role lacks the privilege or is
    // not the table's owner.
    QCOMPARE(query.lastError().nativeErrorCode(), u"42501"_s);

    auto verification = storage->verifyAuditChain(orgId);
    STORAGE_OK(verification);
    QVERIFY(verification->intact());
    QCOMPARE(verification->rowsVerified, 3);
}

void TestStorage::postgresOwnerBlockedByTriggers()
{
    StorageConfig config;
    auto storage = freshStorage(SqlEngine::Postgres, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    const QList<AuditRecord> rows = appendRows(*storage, orgId, 2);
    QCOMPARE(rows.size(), 2);

    // The owner has every privilege, so only the triggers stop it.
    StorageConfig asOwner = config;
    asOwner.postgresUrl = config.postgresMigrationUrl;
    auto owner = SqlStorage::open(asOwner);
    STORAGE_OK(owner);
    QSqlQuery query(QSqlDatabase::database(owner.value()->connectionName()));
    const QStringList statements = {
        u"UPDATE audit_log SET reason = 'edited'"_s,
        u"DELETE FROM audit_log"_s,
        u"TRUNCATE audit_log"_s,
    };
    for (const QString &statement : statements) {
        QVERIFY2(!query.exec(statement), qPrintable(statement));
        QVERIFY2(query.lastError().text().contains(u"append-only"_s),
                 qPrintable(query.lastError().text()));
    }
}

void TestStorage::postgresRewriteDetectedByHead()
{
    StorageConfig config;
    auto storage = freshStorage(SqlEngine::Postgres, nullptr, &config);
    QVERIFY(storage);
    const QString orgId = newUuid();
    QVERIFY(createOrg(*storage, orgId));
    QList<AuditRecord> rows = appendRows(*storage, orgId, 6);
    QCOMPARE(rows.size(), 6);

    auto first = storage->verifyAuditChain(orgId);
    STORAGE_OK(first);
    QVERIFY(first->intact());
    const AuditHead head = first->head;

    // A superuser rewrites row 2 and recomputes every later hash, so the
    // chain on its own verifies again.
    auto url = parsePostgresUrl(config.postgresUrl);
    STORAGE_OK(url);
    const QString superuser = m_postgres.superuserConnection(url->database);
    QVERIFY2(!superuser.isEmpty(), qPrintable(m_postgres.errorString()));
    QSqlQuery query(QSqlDatabase::database(superuser));
    QVERIFY2(query.exec(u"ALTER TABLE audit_log DISABLE TRIGGER USER"_s),
             qPrintable(query.lastError().text()));
    rows[2].outcome = u"success"_s;
    for (int k = 2; k < rows.size(); ++k) {
        if (k > 2) {
            rows[k].prevHash = rows[k - 1].rowHash;
        }
        auto rehashed = computeAuditRowHash(rows[k]);
        STORAGE_OK(rehashed);
        rows[k].rowHash = rehashed.value();
        QVERIFY(query.prepare(u"UPDATE audit_log SET outcome = :outcome, prev_hash = :prev_hash, "
                              "row_hash = :row_hash WHERE id = :id"_s));
        query.bindValue(u":outcome"_s, rows[k].outcome.value());
        query.bindValue(u":prev_hash"_s, rows[k].prevHash);
        query.bindValue(u":row_hash"_s, rows[k].rowHash);
        query.bindValue(u":id"_s, rows[k].id);
        QVERIFY2(query.exec(), qPrintable(query.lastError().text()));
    }
    QVERIFY2(query.exec(u"ALTER TABLE audit_log ENABLE TRIGGER USER"_s),
             qPrintable(query.lastError().text()));

    auto withoutHead = storage->verifyAuditChain(orgId);
    STORAGE_OK(withoutHead);
    QVERIFY(withoutHead->intact());

    auto withHead = storage->verifyAuditChain(orgId, head);
    STORAGE_OK(withHead);
    QVERIFY(!withHead->intact());
    QCOMPARE(withHead->firstBreak->kind, AuditBreakKind::KnownHeadChanged);
    QCOMPARE(withHead->firstBreak->rowId, head.rowId);
}

QTEST_GUILESS_MAIN(TestStorage)
#include "tst_storage.moc"
