// Vault: identity and certificate records, the master key check, sealed rows
// that cannot be swapped, compare-and-set writes, tombstones, the rekey
// purge, the durability settings, survival of SIGKILL in the middle of a
// burst of stores, the lookup by name or id, and schema upgrades.
#include "agenttestsupport.h"
#include "digest.h"
#include "ids.h"
#include "vault.h"
#include "vaultdatabase.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QProcess>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

namespace {

// Runs `sql` on its own connection to the file, as an administrator with
// the sqlite3 shell would, and returns the first column of the last
// statement's first row.
QVariant runSql(const QString &path, const QStringList &statements)
{
    const QString name = u"raw."_s + newUuid();
    QVariant value;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        db.setDatabaseName(path);
        if (!db.open())
            qFatal("cannot open %s", qPrintable(path));
        for (const QString &sql : statements) {
            QSqlQuery query(db);
            if (!query.exec(sql))
                qFatal("%s failed: %s", qPrintable(sql), qPrintable(query.lastError().text()));
            if (query.next())
                value = query.value(0);
        }
    }
    QSqlDatabase::removeDatabase(name);
    return value;
}

QVariant runSql(const QString &path, const QString &sql)
{
    return runSql(path, QStringList { sql });
}

QVariant pragmaOf(const Vault &vault, const QString &pragma)
{
    QSqlQuery query(QSqlDatabase::database(vault.connectionName(), false));
    if (!query.exec(u"PRAGMA "_s + pragma) || !query.next())
        return {};
    return query.value(0);
}

QByteArray schemaVersionOf(const QString &path)
{
    return runSql(path, u"SELECT value FROM vault_meta WHERE key = 'schema_version'"_s)
        .toByteArray();
}

int nameIndexCount(const QString &path)
{
    return runSql(path,
                  u"SELECT count(*) FROM sqlite_master"
                  u" WHERE type = 'index' AND name = 'credentials_name'"_s)
        .toInt();
}

// The query plan SQLite picks for the lookup by name, one step a line.
QString nameLookupPlan(const QString &path)
{
    const QString connection = u"plan."_s + newUuid();
    QString plan;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, connection);
        db.setDatabaseName(path);
        if (!db.open())
            qFatal("cannot open %s", qPrintable(path));
        QSqlQuery query(db);
        if (!query.exec(u"EXPLAIN QUERY PLAN SELECT credential_id FROM credentials"
                        u" WHERE name = 'core-router'"_s)) {
            qFatal("EXPLAIN QUERY PLAN failed: %s", qPrintable(query.lastError().text()));
        }
        while (query.next())
            plan += query.value(3).toString() + u'\n';
    }
    QSqlDatabase::removeDatabase(connection);
    return plan;
}

} // namespace

class TestVault : public QObject {
    Q_OBJECT

public:
    TestVault()
        : m_identity(generatedIdentity(m_org.orgId))
        , m_secret(makeSecret())
    {
    }

private Q_SLOTS:
    void init();
    void cleanup();

    void reopensWithIdentity();
    void fileModeIsPrivate();
    void durabilitySettings();
    void wrongKeyChangesNothing();
    void wrongKeyAfterCrashChangesNothing();
    void createRefusesExistingFile();
    void openRefusesMissingFile();
    void openRefusesOtherDatabase();
    void storesAndLoadsPayload();
    void tombstoneAfterDelete();
    void swappedPayloadDoesNotOpen();
    void changedVersionDoesNotOpen();
    void swappedIdentityKeyDoesNotOpen();
    void compareAndSetKeepsNewer();
    void batchCommitsItsWritesTogether();
    void droppedBatchKeepsNothing();
    void savepointRollsBackItsOwnWrites();
    void failedStatementStopsTransaction();
    void statementKeepsMatchingPayload();
    void generationOnlyRises();
    void orgIdFixedOnceSet();
    void storesCertificate();
    void purgeForRekey();
    void survivesKillDuringBurst();
    void findsCredentialById();
    void findsCredentialByName();
    void nameLookupPrefersStored();
    void unknownNameOrIdNotFound();
    void createsCurrentSchema();
    void upgradesSchemaVersion1();
    void rejectsNewerSchema();

private:
    std::unique_ptr<Vault> createVault();
    // Starts agent_vault_burst on the vault, SIGKILLs it once it has
    // acknowledged `acknowledgedBeforeKill` stores, and returns the ids it
    // acknowledged.
    QList<QByteArray> runBurstAndKill(int acknowledgedBeforeKill);
    LocalAuditEntry auditEntry(const QString &credentialId) const;
    Result<StatementWriteResult> store(Vault &vault, const QString &credentialId, qint64 version,
                                       qint64 revision, const QByteArray &payload);
    // Writes credential `credentialId` named `name` in `state`: Stored with
    // a payload, Pending as a statement without one, Tombstone as a deleted
    // statement.
    void storeNamed(Vault &vault, const QString &credentialId, const QString &name,
                    HeldState state);

    TestOrg m_org;
    AgentIdentity m_identity;
    TestSecret m_secret;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_path;
};

void TestVault::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_path = m_dir->filePath(u"vault.db"_s);
}

void TestVault::cleanup()
{
    m_dir.reset();
}

std::unique_ptr<Vault> TestVault::createVault()
{
    Result<std::unique_ptr<Vault>> vault =
        Vault::create(m_path, testMasterKey(), VaultOptions { 5000, testClock() });
    if (!vault) {
        QTest::qFail(qPrintable(vault.error().message), __FILE__, __LINE__);
        return {};
    }
    if (!vault.value()->storeIdentity(m_identity)) {
        QTest::qFail("storeIdentity failed", __FILE__, __LINE__);
        return {};
    }
    return std::move(vault).value();
}

LocalAuditEntry TestVault::auditEntry(const QString &credentialId) const
{
    LocalAuditEntry entry;
    entry.event = u"credential_stored"_s;
    entry.credentialId = credentialId;
    return entry;
}

Result<StatementWriteResult> TestVault::store(Vault &vault, const QString &credentialId,
                                              qint64 version, qint64 revision,
                                              const QByteArray &payload)
{
    const CredentialStatement fields =
        m_org.statementFields(credentialId, version, revision, m_secret.commitment);
    return vault.storeCredential(m_org.sign(fields), fields, payload, auditEntry(credentialId));
}

void TestVault::storeNamed(Vault &vault, const QString &credentialId, const QString &name,
                           HeldState state)
{
    CredentialStatement fields = m_org.statementFields(credentialId, 1, 1, m_secret.commitment);
    fields.name = name;
    Result<StatementWriteResult> written = makeError(Reason::Internal, u"not written"_s);
    switch (state) {
    case HeldState::Stored:
        written =
            vault.storeCredential(m_org.sign(fields), fields,
                                  makePayload(credentialId, 1, m_secret), auditEntry(credentialId));
        break;
    case HeldState::Pending:
        written = vault.storeStatement(m_org.sign(fields), fields, false, auditEntry(credentialId));
        break;
    case HeldState::Tombstone:
        fields.deleted = true;
        written = vault.storeStatement(m_org.sign(fields), fields, true, auditEntry(credentialId));
        break;
    }
    QVERIFY2(written.ok(), written.ok() ? "" : qPrintable(written.error().message));
    QCOMPARE(written->outcome, VaultWrite::Written);
    QCOMPARE(written->state, state);
}

void TestVault::reopensWithIdentity()
{
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
        QVERIFY(vault->storeOrgId(m_org.orgId).ok());
    }
    Result<std::unique_ptr<Vault>> reopened = Vault::open(m_path, testMasterKey());
    QVERIFY2(reopened.ok(), reopened.ok() ? "" : qPrintable(reopened.error().message));
    Result<std::optional<AgentIdentity>> identity = reopened.value()->loadIdentity();
    QVERIFY(identity.ok());
    QVERIFY(identity->has_value());
    const AgentIdentity &loaded = identity->value();
    QCOMPARE(loaded.agentId, m_identity.agentId);
    QCOMPARE(loaded.orgId, m_org.orgId);
    QCOMPARE(loaded.encryptionKey.publicKey().spkiDer(),
             m_identity.encryptionKey.publicKey().spkiDer());
    QCOMPARE(loaded.identityKey.publicKey().raw(), m_identity.identityKey.publicKey().raw());
    QCOMPARE(loaded.fingerprint(), m_identity.fingerprint());
}

void TestVault::fileModeIsPrivate()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    struct stat status { };
    QCOMPARE(::stat(QFile::encodeName(m_path).constData(), &status), 0);
    QCOMPARE(status.st_mode & 0777, mode_t(0600));
}

void TestVault::durabilitySettings()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    QCOMPARE(pragmaOf(*vault, u"journal_mode"_s).toString(), u"wal"_s);
    // 2 is FULL: the WAL is synced at every commit.
    QCOMPARE(pragmaOf(*vault, u"synchronous"_s).toInt(), 2);
    QCOMPARE(pragmaOf(*vault, u"secure_delete"_s).toInt(), 1);
}

void TestVault::wrongKeyChangesNothing()
{
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
        QVERIFY(store(*vault, newUuid(), 1, 1, makePayload(newUuid(), 1, m_secret)).ok());
    }
    const QByteArray digestBefore = fileDigest(m_path);

    Result<std::unique_ptr<Vault>> opened = Vault::open(m_path, testMasterKey('b'));
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::InvalidKey);
    QVERIFY2(opened.error().message.startsWith(u"the vault master key does not match this vault"_s),
             qPrintable(opened.error().message));
    QVERIFY(opened.error().message.contains(m_path));

    QCOMPARE(fileDigest(m_path), digestBefore);
    // The read-only key check may leave SQLite's WAL file behind, but empty.
    QCOMPARE(QFileInfo(m_path + u"-wal"_s).size(), 0);

    // The right key still opens it.
    QVERIFY(Vault::open(m_path, testMasterKey()).ok());
}

// After a crash the WAL contains commits that are not yet in the main file,
// and a wrong key must not checkpoint them into it either.
void TestVault::wrongKeyAfterCrashChangesNothing()
{
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
    }
    const QList<QByteArray> acknowledged = runBurstAndKill(20);
    QVERIFY(acknowledged.size() >= 20);
    QVERIFY(QFileInfo(m_path + u"-wal"_s).size() > 0);
    const QByteArray mainBefore = fileDigest(m_path);
    const QByteArray walBefore = fileDigest(m_path + u"-wal"_s);

    Result<std::unique_ptr<Vault>> opened = Vault::open(m_path, testMasterKey('b'));
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::InvalidKey);

    QCOMPARE(fileDigest(m_path), mainBefore);
    QCOMPARE(fileDigest(m_path + u"-wal"_s), walBefore);
}

void TestVault::createRefusesExistingFile()
{
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
    }
    const QByteArray digestBefore = fileDigest(m_path);
    Result<std::unique_ptr<Vault>> again = Vault::create(m_path, testMasterKey('b'));
    QVERIFY(!again.ok());
    QVERIFY(again.error().message.contains(u"already exists"_s));
    QCOMPARE(fileDigest(m_path), digestBefore);
}

void TestVault::openRefusesMissingFile()
{
    Result<std::unique_ptr<Vault>> opened = Vault::open(m_path, testMasterKey());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::NotFound);
    QVERIFY(opened.error().message.contains(u"sealrelay-agent init"_s));
}

void TestVault::openRefusesOtherDatabase()
{
    runSql(m_path, u"CREATE TABLE other (id INTEGER)"_s);
    Result<std::unique_ptr<Vault>> opened = Vault::open(m_path, testMasterKey());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::Malformed);
    QVERIFY(opened.error().message.contains(u"not a sealrelay vault"_s));
}

void TestVault::storesAndLoadsPayload()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString credentialId = newUuid();
    const QByteArray payload = makePayload(credentialId, 3, m_secret);
    Result<StatementWriteResult> written = store(*vault, credentialId, 3, 2, payload);
    QVERIFY(written.ok());
    QCOMPARE(written->outcome, VaultWrite::Written);
    QCOMPARE(written->state, HeldState::Stored);

    Result<std::optional<HeldCredential>> held = vault->findCredential(credentialId);
    QVERIFY(held.ok());
    QVERIFY(held->has_value());
    QCOMPARE(held->value().version, 3);
    QCOMPARE(held->value().revision, 2);
    QCOMPARE(held->value().commitment, m_secret.commitment);
    QCOMPARE(held->value().state, HeldState::Stored);

    Result<SecureBuffer> loaded = vault->loadPayload(credentialId);
    QVERIFY(loaded.ok());
    QCOMPARE(loaded->view().toByteArray(), payload);

    // The file contains the payload only in sealed form.
    QVERIFY(!runSql(m_path, u"SELECT sealed_payload FROM credentials"_s)
                 .toByteArray()
                 .contains(m_secret.secretBytes));

    Result<QList<LocalAuditRecord>> audit = vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), 1);
    QCOMPARE(audit->first().entry.credentialId, credentialId);
}

void TestVault::tombstoneAfterDelete()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString credentialId = newUuid();
    QVERIFY(store(*vault, credentialId, 1, 1, makePayload(credentialId, 1, m_secret)).ok());

    CredentialStatement deleted = m_org.statementFields(credentialId, 1, 2, m_secret.commitment);
    deleted.deleted = true;
    const SignedStatement statement = m_org.sign(deleted);
    Result<StatementWriteResult> written =
        vault->storeStatement(statement, deleted, true, auditEntry(credentialId));
    QVERIFY(written.ok());
    QCOMPARE(written->state, HeldState::Tombstone);

    Result<std::optional<HeldCredential>> held = vault->findCredential(credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().state, HeldState::Tombstone);
    QCOMPARE(held->value().statement.bytes, statement.bytes);
    QCOMPARE(held->value().revision, 2);

    Result<SecureBuffer> payload = vault->loadPayload(credentialId);
    QVERIFY(!payload.ok());
    QCOMPARE(payload.error().reason, Reason::NotFound);
    QVERIFY(runSql(m_path, u"SELECT sealed_payload FROM credentials"_s).isNull());
}

void TestVault::swappedPayloadDoesNotOpen()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString first = newUuid();
    const QString second = newUuid();
    QVERIFY(store(*vault, first, 1, 1, makePayload(first, 1, m_secret)).ok());
    QVERIFY(store(*vault, second, 1, 1, makePayload(second, 1, m_secret)).ok());

    // Swap the two sealed payloads, as someone with write access to the file
    // could.
    runSql(m_path,
           { u"CREATE TEMP TABLE original AS"
             u" SELECT credential_id, sealed_payload FROM credentials"_s,
             u"UPDATE credentials SET sealed_payload = (SELECT sealed_payload FROM"
             u" original WHERE original.credential_id != credentials.credential_id)"_s });

    for (const QString &credentialId : { first, second }) {
        Result<SecureBuffer> payload = vault->loadPayload(credentialId);
        QVERIFY(!payload.ok());
        QCOMPARE(payload.error().reason, Reason::DecryptFailed);
        QVERIFY(payload.error().message.contains(credentialId));
    }
}

void TestVault::changedVersionDoesNotOpen()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString credentialId = newUuid();
    QVERIFY(store(*vault, credentialId, 1, 1, makePayload(credentialId, 1, m_secret)).ok());
    runSql(m_path, u"UPDATE credentials SET version = 2"_s);

    Result<SecureBuffer> payload = vault->loadPayload(credentialId);
    QVERIFY(!payload.ok());
    QCOMPARE(payload.error().reason, Reason::DecryptFailed);
}

void TestVault::swappedIdentityKeyDoesNotOpen()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    runSql(m_path, u"UPDATE identity SET sealed_identity_key = sealed_encryption_key"_s);
    Result<std::optional<AgentIdentity>> identity = vault->loadIdentity();
    QVERIFY(!identity.ok());
    QCOMPARE(identity.error().reason, Reason::DecryptFailed);
}

void TestVault::compareAndSetKeepsNewer()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString credentialId = newUuid();
    QVERIFY(store(*vault, credentialId, 2, 1, makePayload(credentialId, 2, m_secret)).ok());
    const QByteArray rowsBefore = credentialRowsDigest(m_path);

    Result<StatementWriteResult> older =
        store(*vault, credentialId, 1, 4, makePayload(credentialId, 1, m_secret));
    QVERIFY(older.ok());
    QCOMPARE(older->outcome, VaultWrite::Superseded);

    CredentialStatement other = m_org.statementFields(credentialId, 2, 1, m_secret.commitment);
    other.issuedAt = other.issuedAt.addSecs(1);
    Result<StatementWriteResult> conflicting = vault->storeCredential(
        m_org.sign(other), other, makePayload(credentialId, 2, m_secret), auditEntry(credentialId));
    QVERIFY(conflicting.ok());
    QCOMPARE(conflicting->outcome, VaultWrite::Equivocation);

    QCOMPARE(credentialRowsDigest(m_path), rowsBefore);
    Result<QList<LocalAuditRecord>> audit = vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), 1);
}

void TestVault::statementKeepsMatchingPayload()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString credentialId = newUuid();
    const QByteArray payload = makePayload(credentialId, 1, m_secret);
    QVERIFY(store(*vault, credentialId, 1, 1, payload).ok());

    const CredentialStatement scope =
        m_org.statementFields(credentialId, 1, 2, m_secret.commitment, { m_identity.agentId });
    Result<StatementWriteResult> kept =
        vault->storeStatement(m_org.sign(scope), scope, false, auditEntry(credentialId));
    QVERIFY(kept.ok());
    QCOMPARE(kept->state, HeldState::Stored);
    Result<SecureBuffer> loaded = vault->loadPayload(credentialId);
    QVERIFY(loaded.ok());
    QCOMPARE(loaded->view().toByteArray(), payload);

    // Another commitment at the same version does not match the payload held.
    const TestSecret other = makeSecret(R"({"password":"other"})");
    const CredentialStatement changed = m_org.statementFields(credentialId, 1, 3, other.commitment);
    Result<StatementWriteResult> pending =
        vault->storeStatement(m_org.sign(changed), changed, false, auditEntry(credentialId));
    QVERIFY(pending.ok());
    QCOMPARE(pending->state, HeldState::Pending);
    QVERIFY(!vault->loadPayload(credentialId).ok());
}

void TestVault::batchCommitsItsWritesTogether()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString first = newUuid();
    const QString second = newUuid();

    Result<VaultBatch> batch = vault->beginBatch();
    QVERIFY2(batch.ok(), batch.ok() ? "" : qPrintable(batch.error().message));
    QVERIFY(store(*vault, first, 2, 1, makePayload(first, 2, m_secret)).ok());
    QVERIFY(store(*vault, second, 1, 1, makePayload(second, 1, m_secret)).ok());
    // The compare-and-set inside the batch reads the batch's own write.
    Result<StatementWriteResult> older = store(*vault, first, 1, 1, makePayload(first, 1, m_secret));
    QVERIFY(older.ok());
    QCOMPARE(older->outcome, VaultWrite::Superseded);

    // Another connection reads no row before the commit.
    QCOMPARE(runSql(m_path, u"SELECT COUNT(*) FROM credentials"_s).toInt(), 0);
    QVERIFY(batch->commit().ok());
    QCOMPARE(runSql(m_path, u"SELECT COUNT(*) FROM credentials"_s).toInt(), 2);
    QCOMPARE(runSql(m_path, u"SELECT version FROM credentials WHERE credential_id = '%1'"_s.arg(
                                first))
                 .toInt(),
             2);
    Result<QList<LocalAuditRecord>> audit = vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), 2);
    QVERIFY(vault->audit().verify()->intact);
}

void TestVault::droppedBatchKeepsNothing()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString dropped = newUuid();
    {
        Result<VaultBatch> batch = vault->beginBatch();
        QVERIFY(batch.ok());
        QVERIFY(store(*vault, dropped, 1, 1, makePayload(dropped, 1, m_secret)).ok());
    }
    QVERIFY(!vault->findCredential(dropped)->has_value());
    QCOMPARE(vault->audit().records()->size(), 0);

    // The vault takes writes of its own again.
    const QString kept = newUuid();
    QVERIFY(store(*vault, kept, 1, 1, makePayload(kept, 1, m_secret)).ok());
    QVERIFY(vault->findCredential(kept)->has_value());
}

void TestVault::savepointRollsBackItsOwnWrites()
{
    Result<std::unique_ptr<VaultDatabase>> opened = VaultDatabase::open(m_path, 5000);
    QVERIFY(opened.ok());
    VaultDatabase &database = *opened.value();
    QVERIFY(database.exec(u"create a table", u"CREATE TABLE t (v INTEGER)"_s).ok());
    const auto insert = [&](int value) {
        return database.exec(u"insert", u"INSERT INTO t (v) VALUES (:v)"_s, { { u":v"_s, value } })
            .ok();
    };
    {
        WriteTransaction outer(database);
        QVERIFY(outer.begin(u"write").ok());
        QVERIFY(insert(1));
        {
            WriteTransaction rolledBack(database);
            QVERIFY(rolledBack.begin(u"write").ok());
            QVERIFY(insert(2));
        }
        WriteTransaction kept(database);
        QVERIFY(kept.begin(u"write").ok());
        QVERIFY(insert(3));
        QVERIFY(kept.commit(u"write").ok());
        QVERIFY(outer.commit(u"write").ok());
    }
    QCOMPARE(runSql(m_path, u"SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY v)"_s)
                 .toString(),
             u"1,3"_s);
}

void TestVault::failedStatementStopsTransaction()
{
    Result<std::unique_ptr<VaultDatabase>> opened = VaultDatabase::open(m_path, 5000);
    QVERIFY(opened.ok());
    VaultDatabase &database = *opened.value();
    QVERIFY(
        database.exec(u"create a table", u"CREATE TABLE t (v INTEGER NOT NULL)"_s).ok());
    {
        WriteTransaction outer(database);
        QVERIFY(outer.begin(u"write").ok());
        QVERIFY(database.exec(u"insert", u"INSERT INTO t (v) VALUES (1)"_s).ok());
        QVERIFY(!database.exec(u"insert", u"INSERT INTO t (v) VALUES (NULL)"_s).ok());

        // SQLite may have rolled the transaction back, so nothing of it
        // commits and no savepoint starts a transaction of its own.
        WriteTransaction nested(database);
        Result<void> begun = nested.begin(u"write");
        QVERIFY(!begun.ok());
        QVERIFY(begun.error().message.contains(u"an earlier statement"_s));
        QVERIFY(!outer.commit(u"write").ok());
    }
    QCOMPARE(runSql(m_path, u"SELECT COUNT(*) FROM t"_s).toInt(), 0);

    // The next transaction on the connection works.
    WriteTransaction next(database);
    QVERIFY(next.begin(u"write").ok());
    QVERIFY(database.exec(u"insert", u"INSERT INTO t (v) VALUES (3)"_s).ok());
    QVERIFY(next.commit(u"write").ok());
    QCOMPARE(runSql(m_path, u"SELECT COUNT(*) FROM t"_s).toInt(), 1);
}

void TestVault::generationOnlyRises()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString agentId = newUuid();
    QVERIFY(!vault->highestGeneration(agentId)->has_value());
    QVERIFY(vault->recordGeneration(agentId, 3).ok());
    QVERIFY(vault->recordGeneration(agentId, 2).ok());
    QCOMPARE(vault->highestGeneration(agentId)->value(), 3);
    QVERIFY(vault->recordGeneration(agentId, 4).ok());
    QCOMPARE(vault->highestGeneration(agentId)->value(), 4);
}

void TestVault::orgIdFixedOnceSet()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    QVERIFY(vault->storeOrgId(m_org.orgId).ok());
    QVERIFY(vault->storeOrgId(m_org.orgId).ok());
    Result<void> moved = vault->storeOrgId(newUuid());
    QVERIFY(!moved.ok());
    QCOMPARE(moved.error().reason, Reason::Forbidden);
    QCOMPARE(vault->loadIdentity()->value().orgId, m_org.orgId);
}

void TestVault::storesCertificate()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    QVERIFY(!vault->loadCertificate()->has_value());
    const AgentCertificate fields = m_org.certificateFields(m_identity, 2);
    const SignedStatement certificate = m_org.certify(fields, m_org.operatorKey);
    QVERIFY(vault->storeCertificate(certificate, fields).ok());

    Result<std::optional<SignedStatement>> loaded = vault->loadCertificate();
    QVERIFY(loaded.ok());
    QCOMPARE(loaded->value().bytes, certificate.bytes);
    QCOMPARE(loaded->value().signature, certificate.signature);
    QCOMPARE(vault->highestGeneration(m_identity.agentId)->value(), 2);
}

void TestVault::purgeForRekey()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const AgentCertificate fields = m_org.certificateFields(m_identity, 1);
    QVERIFY(vault->storeCertificate(m_org.certify(fields, m_org.operatorKey), fields).ok());
    const QString credentialId = newUuid();
    QVERIFY(store(*vault, credentialId, 1, 1, makePayload(credentialId, 1, m_secret)).ok());

    AgentIdentity stranger = generatedIdentity(m_org.orgId);
    Result<void> refused = vault->purgeForRekey(stranger);
    QVERIFY(!refused.ok());
    QCOMPARE(refused.error().reason, Reason::Forbidden);
    QVERIFY(vault->findCredential(credentialId)->has_value());

    AgentIdentity rekeyed = generatedIdentity(m_org.orgId);
    rekeyed.agentId = m_identity.agentId;
    QVERIFY(vault->purgeForRekey(rekeyed).ok());

    QVERIFY(vault->credentials()->isEmpty());
    QVERIFY(!vault->loadCertificate()->has_value());
    QCOMPARE(vault->highestGeneration(m_identity.agentId)->value(), 1);
    const AgentIdentity loaded = vault->loadIdentity()->value();
    QCOMPARE(loaded.agentId, m_identity.agentId);
    QCOMPARE(loaded.identityKey.publicKey().raw(), rekeyed.identityKey.publicKey().raw());
    QVERIFY(loaded.identityKey.publicKey().raw() != m_identity.identityKey.publicKey().raw());
    QCOMPARE(vault->audit().records()->last().entry.event, u"vault_rekeyed"_s);
}

QList<QByteArray> TestVault::runBurstAndKill(int acknowledgedBeforeKill)
{
    QProcess burst;
    burst.setProgram(QStringLiteral(AGENT_VAULT_BURST_PATH));
    burst.setArguments({ m_path, QString::fromLatin1(testMasterKey().toHex()), u"100000"_s });
    burst.setProcessChannelMode(QProcess::SeparateChannels);
    burst.start();
    if (!burst.waitForStarted(10000)) {
        QTest::qFail(qPrintable(burst.errorString()), __FILE__, __LINE__);
        return {};
    }

    // Kill it once it has acknowledged some stores, in the middle of its loop.
    QByteArray output;
    QElapsedTimer timer;
    timer.start();
    while (output.count('\n') < acknowledgedBeforeKill && timer.elapsed() < 60000) {
        burst.waitForReadyRead(1000);
        output += burst.readAllStandardOutput();
        if (burst.state() != QProcess::Running) {
            QTest::qFail(burst.readAllStandardError().constData(), __FILE__, __LINE__);
            return {};
        }
    }
    burst.kill(); // SIGKILL
    if (!burst.waitForFinished(10000) || burst.exitStatus() != QProcess::CrashExit) {
        QTest::qFail("the burst helper was not killed", __FILE__, __LINE__);
        return {};
    }
    output += burst.readAllStandardOutput();

    // Only complete lines were acknowledged; a cut-off last line was not.
    QList<QByteArray> lines = output.split('\n');
    lines.removeLast();
    return lines;
}

void TestVault::survivesKillDuringBurst()
{
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
    }
    const QList<QByteArray> acknowledged = runBurstAndKill(40);
    QVERIFY(acknowledged.size() >= 40);

    Result<std::unique_ptr<Vault>> reopened = Vault::open(m_path, testMasterKey());
    QVERIFY2(reopened.ok(), reopened.ok() ? "" : qPrintable(reopened.error().message));
    for (const QByteArray &line : acknowledged) {
        const QString credentialId = QString::fromLatin1(line);
        Result<std::optional<HeldCredential>> held = reopened.value()->findCredential(credentialId);
        QVERIFY(held.ok());
        QVERIFY2(held->has_value(), line.constData());
        QVERIFY2(reopened.value()->loadPayload(credentialId).ok(), line.constData());
    }
    QCOMPARE(runSql(m_path, u"PRAGMA integrity_check"_s).toString(), u"ok"_s);
    Result<LocalAuditVerification> chain = reopened.value()->audit().verify();
    QVERIFY(chain.ok());
    QVERIFY(chain->intact);
}

void TestVault::findsCredentialById()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString deletedId = newUuid();
    const QString storedId = newUuid();
    storeNamed(*vault, deletedId, u"old-router"_s, HeldState::Tombstone);
    // A name equal to another credential's id does not hide that credential.
    storeNamed(*vault, storedId, deletedId, HeldState::Stored);

    Result<std::optional<HeldCredential>> stored = vault->findCredentialByNameOrId(storedId);
    QVERIFY(stored.ok());
    QVERIFY(stored->has_value());
    QCOMPARE(stored->value().credentialId, storedId);
    QCOMPARE(stored->value().state, HeldState::Stored);

    Result<std::optional<HeldCredential>> deleted = vault->findCredentialByNameOrId(deletedId);
    QVERIFY(deleted.ok());
    QVERIFY(deleted->has_value());
    QCOMPARE(deleted->value().credentialId, deletedId);
    QCOMPARE(deleted->value().state, HeldState::Tombstone);
}

void TestVault::findsCredentialByName()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    const QString routerId = newUuid();
    const QString switchId = newUuid();
    storeNamed(*vault, routerId, u"core-router"_s, HeldState::Stored);
    storeNamed(*vault, switchId, u"core-switch"_s, HeldState::Stored);

    Result<std::optional<HeldCredential>> held = vault->findCredentialByNameOrId(u"core-switch"_s);
    QVERIFY(held.ok());
    QVERIFY(held->has_value());
    QCOMPARE(held->value().credentialId, switchId);
    QCOMPARE(held->value().name, u"core-switch"_s);
    QCOMPARE(held->value().version, 1);
    QCOMPARE(held->value().commitment, m_secret.commitment);

    // Names are compared exactly.
    Result<std::optional<HeldCredential>> otherCase =
        vault->findCredentialByNameOrId(u"Core-Switch"_s);
    QVERIFY(otherCase.ok());
    QVERIFY(!otherCase->has_value());
}

void TestVault::nameLookupPrefersStored()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    // The Stored row gets the highest id, so the order of ids alone would
    // not pick it.
    QStringList ids = { newUuid(), newUuid(), newUuid() };
    ids.sort();
    const QString name = u"shared-name"_s;
    storeNamed(*vault, ids.at(0), name, HeldState::Tombstone);
    storeNamed(*vault, ids.at(1), name, HeldState::Pending);
    storeNamed(*vault, ids.at(2), name, HeldState::Stored);

    Result<std::optional<HeldCredential>> stored = vault->findCredentialByNameOrId(name);
    QVERIFY(stored.ok());
    QVERIFY(stored->has_value());
    QCOMPARE(stored->value().credentialId, ids.at(2));
    QCOMPARE(stored->value().state, HeldState::Stored);

    // Without a Stored row, the Pending one comes before the Tombstone.
    CredentialStatement deleted = m_org.statementFields(ids.at(2), 1, 2, m_secret.commitment);
    deleted.name = name;
    deleted.deleted = true;
    QVERIFY(vault->storeStatement(m_org.sign(deleted), deleted, true, auditEntry(ids.at(2))).ok());
    Result<std::optional<HeldCredential>> pending = vault->findCredentialByNameOrId(name);
    QVERIFY(pending.ok());
    QVERIFY(pending->has_value());
    QCOMPARE(pending->value().credentialId, ids.at(1));
    QCOMPARE(pending->value().state, HeldState::Pending);
}

void TestVault::unknownNameOrIdNotFound()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    storeNamed(*vault, newUuid(), u"core-router"_s, HeldState::Stored);

    for (const QString &unknown : { newUuid(), u"core-route"_s, QString(u""_s) }) {
        Result<std::optional<HeldCredential>> held = vault->findCredentialByNameOrId(unknown);
        QVERIFY(held.ok());
        QVERIFY2(!held->has_value(), qPrintable(unknown));
    }
}

void TestVault::createsCurrentSchema()
{
    std::unique_ptr<Vault> vault = createVault();
    QVERIFY(vault);
    QCOMPARE(schemaVersionOf(m_path), QByteArray("2"));
    QCOMPARE(nameIndexCount(m_path), 1);
    const QString plan = nameLookupPlan(m_path);
    QVERIFY2(plan.contains(u"credentials_name"_s), qPrintable(plan));
}

void TestVault::upgradesSchemaVersion1()
{
    const QString routerId = newUuid();
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
        storeNamed(*vault, routerId, u"core-router"_s, HeldState::Stored);
        storeNamed(*vault, newUuid(), u"core-switch"_s, HeldState::Tombstone);
    }
    // Schema version 1 is version 2 without the index, so removing it and
    // writing the old version makes the file a version 1 vault.
    runSql(m_path,
           { u"DROP INDEX credentials_name"_s,
             u"UPDATE vault_meta SET value = CAST('1' AS BLOB) WHERE key = 'schema_version'"_s });
    QCOMPARE(schemaVersionOf(m_path), QByteArray("1"));
    QCOMPARE(nameIndexCount(m_path), 0);
    const QByteArray rowsBefore = credentialRowsDigest(m_path);

    Result<std::unique_ptr<Vault>> opened = Vault::open(m_path, testMasterKey());
    QVERIFY2(opened.ok(), opened.ok() ? "" : qPrintable(opened.error().message));
    QCOMPARE(schemaVersionOf(m_path), QByteArray("2"));
    QCOMPARE(nameIndexCount(m_path), 1);
    const QString plan = nameLookupPlan(m_path);
    QVERIFY2(plan.contains(u"credentials_name"_s), qPrintable(plan));
    QCOMPARE(credentialRowsDigest(m_path), rowsBefore);

    Result<std::optional<HeldCredential>> held =
        opened.value()->findCredentialByNameOrId(u"core-router"_s);
    QVERIFY(held.ok());
    QVERIFY(held->has_value());
    QCOMPARE(held->value().credentialId, routerId);
    QVERIFY(opened.value()->loadPayload(routerId).ok());
    Result<LocalAuditVerification> chain = opened.value()->audit().verify();
    QVERIFY(chain.ok());
    QVERIFY(chain->intact);
    opened.value().reset();

    // A second open finds the current version and changes nothing.
    const QByteArray upgradedDigest = fileDigest(m_path);
    QVERIFY(Vault::open(m_path, testMasterKey()).ok());
    QCOMPARE(schemaVersionOf(m_path), QByteArray("2"));
    QCOMPARE(fileDigest(m_path), upgradedDigest);
}

void TestVault::rejectsNewerSchema()
{
    {
        std::unique_ptr<Vault> vault = createVault();
        QVERIFY(vault);
        storeNamed(*vault, newUuid(), u"core-router"_s, HeldState::Stored);
    }
    runSql(m_path,
           u"UPDATE vault_meta SET value = CAST('3' AS BLOB) WHERE key = 'schema_version'"_s);
    const QByteArray digestBefore = fileDigest(m_path);

    Result<std::unique_ptr<Vault>> opened = Vault::open(m_path, testMasterKey());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::Malformed);
    const QString &message = opened.error().message;
    QVERIFY2(message.contains(m_path), qPrintable(message));
    QVERIFY2(message.contains(u"schema version 3"_s), qPrintable(message));
    QVERIFY2(message.contains(u"up to 2"_s), qPrintable(message));
    QCOMPARE(fileDigest(m_path), digestBefore);
    QCOMPARE(schemaVersionOf(m_path), QByteArray("3"));
}

QTEST_GUILESS_MAIN(TestVault)
#include "tst_vault.moc"
