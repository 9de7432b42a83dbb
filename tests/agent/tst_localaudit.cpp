// LocalAudit: the hash chain's formula, append-only triggers, and the
// verifier's report of the first broken row after tampering.
#include "agenttestsupport.h"
#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"
#include "localaudit.h"
#include "vault.h"

#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

namespace {

// Runs statements on a connection of its own and returns the error text of
// the first that fails, or "" when all succeed.
QString runSql(const QString &path, const QStringList &statements)
{
    const QString name = u"raw."_s + newUuid();
    QString failure;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        db.setDatabaseName(path);
        if (!db.open())
            return db.lastError().text();
        for (const QString &sql : statements) {
            QSqlQuery query(db);
            if (!query.exec(sql)) {
                failure = query.lastError().text();
                break;
            }
        }
    }
    QSqlDatabase::removeDatabase(name);
    return failure;
}

LocalAuditEntry entry(int index)
{
    LocalAuditEntry row;
    row.event = u"credential_refused"_s;
    row.severity = index % 2 ? AuditSeverity::Critical : AuditSeverity::Info;
    row.credentialId = u"5a1f0e2d-3c4b-4a59-8e7f-6d5c4b3a2910"_s;
    row.version = index;
    row.revision = index % 2 ? std::optional<qint64>(1) : std::nullopt;
    row.reason = u"BAD_ATTESTATION"_s;
    row.referenceId = u"delivery-%1"_s.arg(index);
    row.detail = u"row %1"_s.arg(index);
    return row;
}

} // namespace

class TestLocalAudit : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void chainsRows();
    void rowHashFormula();
    void rejectsUpdate();
    void rejectsDelete();
    void rejectsReplace();
    void reportsChangedRow();
    void reportsRemovedRow();
    void reportsRemovedTail();
    void reportsRewrittenHead();
    void emptyLogIsIntact();
    void deferredAppendKeepsFullSync();

private:
    void appendRows(int count);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Vault> m_vault;
    QString m_path;
};

void TestLocalAudit::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_path = m_dir->filePath(u"vault.db"_s);
    Result<std::unique_ptr<Vault>> vault =
        Vault::create(m_path, testMasterKey(), VaultOptions { 5000, testClock() });
    QVERIFY(vault.ok());
    m_vault = std::move(vault).value();
}

void TestLocalAudit::cleanup()
{
    m_vault.reset();
    m_dir.reset();
}

void TestLocalAudit::appendRows(int count)
{
    for (int i = 1; i <= count; ++i)
        QCOMPARE(m_vault->audit().append(entry(i)).value(), qint64(i));
}

void TestLocalAudit::chainsRows()
{
    appendRows(4);
    Result<QList<LocalAuditRecord>> rows = m_vault->audit().records();
    QVERIFY(rows.ok());
    QCOMPARE(rows->size(), 4);
    QCOMPARE(rows->at(0).prevHash, encodeBase64(QByteArray(32, '\0')));
    for (qsizetype i = 1; i < rows->size(); ++i)
        QCOMPARE(rows->at(i).prevHash, rows->at(i - 1).rowHash);
    QCOMPARE(rows->at(0).entry.severity, AuditSeverity::Critical);
    QCOMPARE(rows->at(1).entry.severity, AuditSeverity::Info);
    QCOMPARE(rows->at(0).entry.revision, std::optional<qint64>(1));
    QCOMPARE(rows->at(1).entry.revision, std::optional<qint64>());

    Result<LocalAuditVerification> verified = m_vault->audit().verify();
    QVERIFY(verified.ok());
    QVERIFY(verified->intact);
    QCOMPARE(verified->rowsChecked, 4);
    QCOMPARE(verified->head->id, 4);
    QCOMPARE(verified->head->rowHash, rows->last().rowHash);
}

// A row appended WithinSyncDelay is committed at once, and the connection
// is back at synchronous=FULL for the commits that follow it.
void TestLocalAudit::deferredAppendKeepsFullSync()
{
    appendRows(1);
    Result<qint64> id = m_vault->audit().append(entry(2), CommitDurability::WithinSyncDelay);
    QVERIFY2(id.ok(), id.ok() ? "" : qPrintable(id.error().message));
    QCOMPARE(id.value(), qint64(2));

    QSqlQuery synchronous(QSqlDatabase::database(m_vault->connectionName(), false));
    QVERIFY(synchronous.exec(u"PRAGMA synchronous"_s));
    QVERIFY(synchronous.next());
    QCOMPARE(synchronous.value(0).toInt(), 2); // FULL
    synchronous.finish();

    // The background sync runs within the delay. The chain stays intact, and
    // the next append commits as usual.
    QTest::qWait(int(kDeferredSyncDelay.count()) * 3);
    QCOMPARE(m_vault->audit().append(entry(3)).value(), qint64(3));
    Result<LocalAuditVerification> verified = m_vault->audit().verify();
    QVERIFY(verified.ok());
    QVERIFY(verified->intact);
    QCOMPARE(verified->rowsChecked, 3);

    // A vault closed before its sync ran keeps the row.
    QVERIFY(m_vault->audit().append(entry(4), CommitDurability::WithinSyncDelay).ok());
    m_vault.reset();
    Result<std::unique_ptr<Vault>> reopened =
        Vault::open(m_path, testMasterKey(), VaultOptions { 5000, testClock() });
    QVERIFY(reopened.ok());
    QCOMPARE(reopened.value()->audit().records()->size(), 4);
}

// Recomputes row 1's hash from the documented formula, independently of
// the implementation.
void TestLocalAudit::rowHashFormula()
{
    appendRows(1);
    const LocalAuditRecord row = m_vault->audit().records()->first();
    const QJsonObject fields {
        { u"id"_s, 1 },
        { u"at"_s, u"2026-12-10T12:00:00.000Z"_s },
        { u"event"_s, u"credential_refused"_s },
        { u"severity"_s, u"critical"_s },
        { u"credential_id"_s, u"5a1f0e2d-3c4b-4a59-8e7f-6d5c4b3a2910"_s },
        { u"version"_s, 1 },
        { u"revision"_s, 1 },
        { u"reason"_s, u"BAD_ATTESTATION"_s },
        { u"reference_id"_s, u"delivery-1"_s },
        { u"counterpart_id"_s, u""_s },
        { u"detail"_s, u"row 1"_s },
        { u"prev_hash"_s, encodeBase64(QByteArray(32, '\0')) },
    };
    const QByteArray hashed = QByteArray(32, '\0') + canonicalJson(fields).value();
    QCOMPARE(row.rowHash, sha256Base64(hashed));
}

void TestLocalAudit::rejectsUpdate()
{
    appendRows(2);
    const QString failure = runSql(m_path, { u"UPDATE local_audit SET detail = 'x'"_s });
    QVERIFY(failure.contains(u"append-only"_s));
    QVERIFY(m_vault->audit().verify()->intact);
}

void TestLocalAudit::rejectsDelete()
{
    appendRows(2);
    const QString failure = runSql(m_path, { u"DELETE FROM local_audit WHERE id = 2"_s });
    QVERIFY(failure.contains(u"append-only"_s));
    QCOMPARE(m_vault->audit().records()->size(), 2);
}

void TestLocalAudit::rejectsReplace()
{
    appendRows(2);
    const QString failure = runSql(m_path,
                                   { u"PRAGMA recursive_triggers = ON"_s,
                                     u"INSERT OR REPLACE INTO local_audit SELECT * FROM local_audit"
                                     u" WHERE id = 1"_s });
    QVERIFY(failure.contains(u"append-only"_s));
}

// Someone with write access drops the triggers and edits a row.
void TestLocalAudit::reportsChangedRow()
{
    appendRows(4);
    QCOMPARE(runSql(m_path,
                    { u"DROP TRIGGER local_audit_no_update"_s,
                      u"UPDATE local_audit SET reason = 'SUPERSEDED' WHERE id = 2"_s }),
             QString());
    Result<LocalAuditVerification> verified = m_vault->audit().verify();
    QVERIFY(verified.ok());
    QVERIFY(!verified->intact);
    QCOMPARE(verified->firstBrokenId, std::optional<qint64>(2));
    QVERIFY(verified->problem.contains(u"row_hash"_s));
}

void TestLocalAudit::reportsRemovedRow()
{
    appendRows(4);
    QCOMPARE(runSql(m_path,
                    { u"DROP TRIGGER local_audit_no_delete"_s,
                      u"DELETE FROM local_audit WHERE id = 2"_s }),
             QString());
    Result<LocalAuditVerification> verified = m_vault->audit().verify();
    QVERIFY(verified.ok());
    QVERIFY(!verified->intact);
    QCOMPARE(verified->firstBrokenId, std::optional<qint64>(3));
    QVERIFY(verified->problem.contains(u"prev_hash"_s));
}

void TestLocalAudit::reportsRemovedTail()
{
    appendRows(4);
    const LocalAuditHead head = *m_vault->audit().verify()->head;
    QCOMPARE(runSql(m_path,
                    { u"DROP TRIGGER local_audit_no_delete"_s,
                      u"DELETE FROM local_audit WHERE id = 4"_s }),
             QString());

    // Without the head the shorter chain is consistent; with it, not.
    QVERIFY(m_vault->audit().verify()->intact);
    Result<LocalAuditVerification> verified = m_vault->audit().verify(head);
    QVERIFY(verified.ok());
    QVERIFY(!verified->intact);
    QCOMPARE(verified->firstBrokenId, std::optional<qint64>(4));
}

// Every row rewritten with recomputed hashes still differs from the head a
// verifier kept.
void TestLocalAudit::reportsRewrittenHead()
{
    appendRows(2);
    const LocalAuditHead head = *m_vault->audit().verify()->head;
    QCOMPARE(
        runSql(m_path, { u"DROP TRIGGER local_audit_no_delete"_s, u"DELETE FROM local_audit"_s }),
        QString());
    // Rows 1 and 2 again with other content and a valid chain.
    for (int i = 1; i <= 2; ++i) {
        LocalAuditEntry forged = entry(i);
        forged.detail = u"forged"_s;
        QVERIFY(m_vault->audit().append(forged).ok());
    }
    Result<LocalAuditVerification> verified = m_vault->audit().verify(head);
    QVERIFY(verified.ok());
    QVERIFY(!verified->intact);
    QCOMPARE(verified->firstBrokenId, std::optional<qint64>(2));
}

void TestLocalAudit::emptyLogIsIntact()
{
    Result<LocalAuditVerification> verified = m_vault->audit().verify();
    QVERIFY(verified.ok());
    QVERIFY(verified->intact);
    QCOMPARE(verified->rowsChecked, 0);
    QVERIFY(!verified->head);
}

QTEST_GUILESS_MAIN(TestLocalAudit)
#include "tst_localaudit.moc"
