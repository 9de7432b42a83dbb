// WalSync and SqlStorage's background sync on real SQLite files: the
// callbacks run on the requesting thread after the fdatasync, a burst of
// requests shares few syncs, and a missing log is reported with its path.
#include "ids.h"
#include "sqlstorage.h"
#include "walsync.h"

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

class TestWalSync : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void storageSyncsCommitsInBackground();
    void burstSharesSyncs();
    void missingLogNamesPath();
    void destroyedWithRequestsWaiting();

private:
    // Opens and migrates a SQLite storage in `dir`.
    std::unique_ptr<SqlStorage> openStorage(const QTemporaryDir &dir);
};

std::unique_ptr<SqlStorage> TestWalSync::openStorage(const QTemporaryDir &dir)
{
    StorageConfig config;
    config.engine = SqlEngine::Sqlite;
    config.sqlitePath = dir.filePath(u"backend.db"_s);
    auto storage = SqlStorage::open(config);
    if (!storage) {
        QTest::qFail(qPrintable(storage.error().message), __FILE__, __LINE__);
        return {};
    }
    if (auto migrated = storage.value()->migrate(); !migrated) {
        QTest::qFail(qPrintable(migrated.error().message), __FILE__, __LINE__);
        return {};
    }
    return std::move(storage).value();
}

void TestWalSync::storageSyncsCommitsInBackground()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    std::unique_ptr<SqlStorage> storage = openStorage(dir);
    QVERIFY(storage);
    QVERIFY(storage->syncsInBackground());

    const QString orgId = newUuid();
    Result<void> written = storage->inTransaction(
        u"create an org",
        [&] { return storage->createOrg(OrgRow { orgId, u"org"_s, {} }); },
        Durability::WithNextDurableCommit);
    QVERIFY2(written.ok(), written.ok() ? "" : qPrintable(written.error().message));

    bool called = false;
    QThread *calledOn = nullptr;
    storage->afterCommitsDurable([&](Result<void> synced) {
        QVERIFY2(synced.ok(), synced.ok() ? "" : qPrintable(synced.error().message));
        called = true;
        calledOn = QThread::currentThread();
    });
    // The callback waits for the event loop of the requesting thread.
    QVERIFY(!called);
    QTRY_VERIFY_WITH_TIMEOUT(called, 5000);
    QCOMPARE(calledOn, QThread::currentThread());
    QVERIFY(storage->org(orgId)->has_value());
}

void TestWalSync::burstSharesSyncs()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    std::unique_ptr<SqlStorage> storage = openStorage(dir);
    QVERIFY(storage);
    // The migrations wrote to the log, so it exists.
    WalSync sync(dir.filePath(u"backend.db-wal"_s));

    constexpr int kRequests = 200;
    QList<int> order;
    for (int i = 0; i < kRequests; ++i) {
        sync.afterSync([&order, i](Result<void> synced) {
            QVERIFY(synced.ok());
            order.append(i);
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(order.size(), kRequests, 10000);
    for (int i = 0; i < kRequests; ++i)
        QCOMPARE(order.at(i), i);
    // Requests that arrive while a sync runs wait for the next one together,
    // so far fewer syncs run than requests were made.
    QVERIFY2(sync.syncCount() < kRequests / 4, qPrintable(QString::number(sync.syncCount())));
    QVERIFY(sync.syncCount() >= 1);
}

void TestWalSync::missingLogNamesPath()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"none.db-wal"_s);
    WalSync sync(path);
    std::optional<Result<void>> result;
    sync.afterSync([&](Result<void> synced) { result = std::move(synced); });
    QTRY_VERIFY_WITH_TIMEOUT(result.has_value(), 5000);
    QVERIFY(!result->ok());
    QCOMPARE(result->error().reason, Reason::IoError);
    QVERIFY2(result->error().message.contains(path), qPrintable(result->error().message));
}

void TestWalSync::destroyedWithRequestsWaiting()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    std::unique_ptr<SqlStorage> storage = openStorage(dir);
    QVERIFY(storage);
    int called = 0;
    {
        WalSync sync(dir.filePath(u"backend.db-wal"_s));
        for (int i = 0; i < 50; ++i)
            sync.afterSync([&called](Result<void>) { ++called; });
    }
    // No callback runs once the object is gone.
    QTest::qWait(100);
    QCOMPARE(called, 0);
}

QTEST_GUILESS_MAIN(TestWalSync)
#include "tst_walsync.moc"
