// The prepared-statement cache on a real SQLite file: reuse, a statement held
// twice, cleared bindings, duplicate placeholders, the capacity and failed
// preparation.
#include "sqlstatementcache.h"

#include <QSqlDatabase>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

class TestSqlStatementCache : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void reusesStatement();
    void heldStatementGetsCopy();
    void releaseResetsResultAndBindings();
    void repeatedPlaceholder();
    void capacityBoundsCache();
    void failedPrepareNotCached();
    void unpreparedRunsDirectly();

private:
    // Runs an INSERT through the cache with `value` bound to :value.
    void insert(SqlStatementCache &cache, int value);
    int count();

    QTemporaryDir m_dir;
    QSqlDatabase m_database;
};

void TestSqlStatementCache::init()
{
    QVERIFY(m_dir.isValid());
    m_database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"cache"_s);
    m_database.setDatabaseName(m_dir.filePath(u"cache.db"_s));
    QVERIFY(m_database.open());
    SqlQuery create = SqlQuery::unprepared(m_database);
    QVERIFY(create.execDirect(u"CREATE TABLE items (value INTEGER, other INTEGER)"_s));
}

void TestSqlStatementCache::cleanup()
{
    m_database.close();
    m_database = QSqlDatabase();
    QSqlDatabase::removeDatabase(u"cache"_s);
    QFile::remove(m_dir.filePath(u"cache.db"_s));
}

void TestSqlStatementCache::insert(SqlStatementCache &cache, int value)
{
    SqlQuery query = cache.take(m_database, u"INSERT INTO items (value) VALUES (:value)"_s);
    QVERIFY2(query.isPrepared(), qPrintable(query.lastError().text()));
    query.bindValue(u":value"_s, value);
    QVERIFY2(query.exec(), qPrintable(query.lastError().text()));
}

int TestSqlStatementCache::count()
{
    SqlQuery query = SqlQuery::unprepared(m_database);
    if (!query.execDirect(u"SELECT COUNT(*) FROM items"_s) || !query.next())
        return -1;
    return query.value(0).toInt();
}

void TestSqlStatementCache::reusesStatement()
{
    SqlStatementCache cache;
    for (int value = 0; value < 5; ++value)
        insert(cache, value);
    QCOMPARE(cache.size(), 1);
    QCOMPARE(count(), 5);

    SqlQuery select = cache.take(m_database, u"SELECT SUM(value) FROM items WHERE value >= :from"_s);
    select.bindValue(u":from"_s, 3);
    QVERIFY(select.exec());
    QVERIFY(select.next());
    QCOMPARE(select.value(0).toInt(), 7);
    QCOMPARE(cache.size(), 2);
}

void TestSqlStatementCache::heldStatementGetsCopy()
{
    SqlStatementCache cache;
    insert(cache, 1);
    insert(cache, 2);
    const QString sql = u"SELECT value FROM items WHERE value >= :from ORDER BY value"_s;

    // The outer query still iterates when the same SQL runs again.
    SqlQuery outer = cache.take(m_database, sql);
    outer.bindValue(u":from"_s, 1);
    QVERIFY(outer.exec());
    QVERIFY(outer.next());
    QCOMPARE(outer.value(0).toInt(), 1);
    {
        SqlQuery inner = cache.take(m_database, sql);
        QVERIFY(inner.isPrepared());
        inner.bindValue(u":from"_s, 2);
        QVERIFY(inner.exec());
        QVERIFY(inner.next());
        QCOMPARE(inner.value(0).toInt(), 2);
        QVERIFY(!inner.next());
    }
    QVERIFY(outer.next());
    QCOMPARE(outer.value(0).toInt(), 2);
    QVERIFY(!outer.next());
    // The INSERT and the SELECT; the copy was not cached.
    QCOMPARE(cache.size(), 2);
}

void TestSqlStatementCache::releaseResetsResultAndBindings()
{
    SqlStatementCache cache;
    insert(cache, 1);
    insert(cache, 2);
    const QString sql = u"SELECT value FROM items WHERE value = :value"_s;
    {
        SqlQuery query = cache.take(m_database, sql);
        query.bindValue(u":value"_s, 2);
        QVERIFY(query.exec());
        QVERIFY(query.next());
        // Left with a row unread: the release resets it.
    }
    SqlQuery again = cache.take(m_database, sql);
    const QSqlQuery &raw = again;
    QVERIFY(!raw.isActive());
    const QVariantList bound = raw.boundValues();
    QCOMPARE(bound.size(), 1);
    QVERIFY(!bound.first().isValid());

    // A moved query releases once, from its new owner.
    SqlQuery moved = std::move(again);
    moved.bindValue(u":value"_s, 1);
    QVERIFY(moved.exec());
    QVERIFY(moved.next());
    QCOMPARE(moved.value(u"value"_s).toInt(), 1);
}

void TestSqlStatementCache::repeatedPlaceholder()
{
    SqlStatementCache cache;
    const QString sql = u"INSERT INTO items (value, other) VALUES (:value, :value)"_s;
    for (int value = 1; value <= 3; ++value) {
        SqlQuery query = cache.take(m_database, sql);
        query.bindValue(u":value"_s, value);
        QVERIFY2(query.exec(), qPrintable(query.lastError().text()));
    }
    SqlQuery check = SqlQuery::unprepared(m_database);
    QVERIFY(check.execDirect(u"SELECT COUNT(*) FROM items WHERE value = other"_s));
    QVERIFY(check.next());
    QCOMPARE(check.value(0).toInt(), 3);
}

void TestSqlStatementCache::capacityBoundsCache()
{
    SqlStatementCache cache(2);
    for (int column = 0; column < 4; ++column) {
        SqlQuery query = cache.take(m_database, u"SELECT :value + %1"_s.arg(column));
        QVERIFY(query.isPrepared());
        query.bindValue(u":value"_s, 1);
        QVERIFY(query.exec());
        QVERIFY(query.next());
        QCOMPARE(query.value(0).toInt(), 1 + column);
    }
    QCOMPARE(cache.size(), 2);
    cache.clear();
    QCOMPARE(cache.size(), 0);
}

void TestSqlStatementCache::failedPrepareNotCached()
{
    SqlStatementCache cache;
    SqlQuery query = cache.take(m_database, u"SELECT value FROM missing WHERE value = :value"_s);
    QVERIFY(!query.isPrepared());
    QVERIFY(query.lastError().text().contains(u"missing"));
    QCOMPARE(cache.size(), 0);
}

void TestSqlStatementCache::unpreparedRunsDirectly()
{
    SqlQuery query = SqlQuery::unprepared(m_database);
    QVERIFY(!query.isPrepared());
    QVERIFY(query.execDirect(u"INSERT INTO items (value) VALUES (9)"_s));
    QCOMPARE(query.numRowsAffected(), 1);
    QCOMPARE(count(), 1);
}

QTEST_GUILESS_MAIN(TestSqlStatementCache)
#include "tst_sqlstatementcache.moc"
