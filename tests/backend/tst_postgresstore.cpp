// PostgresStore against a real PostgreSQL 15 server on 127.0.0.1, with two
// stores on one database standing for two replicas, and FallbackStores that
// move from a real redis-server to PostgreSQL and back.
#include "fallbackstore.h"
#include "postgresserver.h"
#include "postgresstore.h"
#include "redisserver.h"
#include "redisstore.h"

#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTest>
#include <QThread>

#include <array>
#include <atomic>
#include <latch>
#include <memory>
#include <vector>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;
using namespace std::chrono_literals;

namespace {

constexpr int kWaitMs = 5000;

// Holds the reply of one store operation and counts how often its callback ran.
template <typename T>
class Reply {
public:
    StoreCallback<T> callback()
    {
        return [state = m_state](Result<T> result) {
            ++state->calls;
            state->result.emplace(std::move(result));
        };
    }
    int calls() const { return m_state->calls; }
    // Waits for the callback and returns its result.
    Result<T> wait(int timeoutMs = kWaitMs)
    {
        const auto state = m_state;
        if (!QTest::qWaitFor([state] { return state->result.has_value(); }, timeoutMs))
            return makeError(Reason::Internal, u"The store callback did not run."_s);
        return *m_state->result;
    }

private:
    struct State {
        std::optional<Result<T>> result;
        int calls = 0;
    };
    std::shared_ptr<State> m_state = std::make_shared<State>();
};

// Messages a subscription received, in order.
struct Inbox {
    QByteArrayList messages;

    CoordinationStore::MessageHandler handler()
    {
        return [this](const QString &, const QByteArray &message) { messages.append(message); };
    }
};

PostgresStoreOptions testOptions()
{
    PostgresStoreOptions options;
    options.checkInterval = 100ms;
    options.reconnectMin = 50ms;
    options.reconnectMax = 300ms;
    return options;
}

QString errorText(const Result<bool> &result)
{
    return result ? QString() : result.error().message;
}

} // namespace

class TestPostgresStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void lockOneWinner();
    void lockExpires();
    void ownerRenewsAndDeletes();
    void staleHolderKeepsSuccessor();
    void claimOnce();
    void claimMissingOrExpired();
    void repliesInIssueOrder();
    void destroyedContextDropsReply();
    void invalidDuration_data();
    void invalidDuration();

    void publishAcrossStores();
    void largeMessageWhole();
    void cancelledGetsNothing();
    void publishCountsLocal();

    void windowSameMillisecond();
    void windowDropsOld();
    void windowTrim();
    void windowKeyExpires();

    void setMemberExpiry();
    void setReaddResets();
    void setRemoveMember();

    void concurrentOpen();
    void restartRecovers();
    void wrongPasswordHidden();
    void roleWithoutCreateFails();
    void roleUsesGrantedTables();

    void fallbackSharedAcrossReplicas();

private:
    std::unique_ptr<PostgresStore> makeStore(const QString &url);
    PostgresStore &first() { return *m_first; }
    PostgresStore &second() { return *m_second; }
    bool setIfAbsent(PostgresStore &store, const QString &key, const QByteArray &token,
                     std::chrono::milliseconds ttl);
    std::optional<QByteArray> value(PostgresStore &store, const QString &key);
    qint64 windowCount(PostgresStore &store, const QString &key, std::chrono::milliseconds window);
    bool setContains(PostgresStore &store, const QString &key, const QByteArray &member);
    // Runs `sql` as the superuser on the test database and returns the first
    // column of the first row.
    QVariant superuserValue(const QString &sql);

    std::unique_ptr<test::PostgresServer> m_server;
    QString m_database;
    std::unique_ptr<PostgresStore> m_first;
    std::unique_ptr<PostgresStore> m_second;
};

void TestPostgresStore::initTestCase()
{
    m_server = std::make_unique<test::PostgresServer>();
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    m_database = m_server->createDatabase();
    QVERIFY2(!m_database.isEmpty(), qPrintable(m_server->errorString()));
}

void TestPostgresStore::init()
{
    m_first = makeStore(m_server->ownerUrl(m_database));
    m_second = makeStore(m_server->ownerUrl(m_database));
    QVERIFY(m_first && m_second);
    QVERIFY2(first().health().usable, qPrintable(first().health().detail));
    QVERIFY2(second().health().usable, qPrintable(second().health().detail));

    const QString connection = m_server->superuserConnection(m_database);
    QVERIFY2(!connection.isEmpty(), qPrintable(m_server->errorString()));
    QSqlQuery query(QSqlDatabase::database(connection, false));
    QVERIFY(query.exec(u"TRUNCATE coordination_values, coordination_window_keys, "
                       "coordination_window_events, coordination_set_members, "
                       "coordination_messages"_s));
}

void TestPostgresStore::cleanup()
{
    m_first.reset();
    m_second.reset();
}

std::unique_ptr<PostgresStore> TestPostgresStore::makeStore(const QString &url)
{
    const Result<PostgresUrl> parsed = parsePostgresUrl(url);
    if (!parsed)
        return nullptr;
    return std::make_unique<PostgresStore>(parsed.value(), testOptions());
}

bool TestPostgresStore::setIfAbsent(PostgresStore &store, const QString &key,
                                    const QByteArray &token, std::chrono::milliseconds ttl)
{
    Reply<bool> reply;
    store.setIfAbsent(key, token, ttl, this, reply.callback());
    const Result<bool> result = reply.wait();
    return result && result.value();
}

std::optional<QByteArray> TestPostgresStore::value(PostgresStore &store, const QString &key)
{
    Reply<std::optional<QByteArray>> reply;
    store.get(key, this, reply.callback());
    const auto result = reply.wait();
    return result ? result.value() : std::nullopt;
}

qint64 TestPostgresStore::windowCount(PostgresStore &store, const QString &key,
                                      std::chrono::milliseconds window)
{
    Reply<qint64> reply;
    store.windowCount(key, window, this, reply.callback());
    const Result<qint64> result = reply.wait();
    return result ? result.value() : -1;
}

bool TestPostgresStore::setContains(PostgresStore &store, const QString &key,
                                    const QByteArray &member)
{
    Reply<bool> reply;
    store.setContains(key, member, this, reply.callback());
    const Result<bool> result = reply.wait();
    return result && result.value();
}

QVariant TestPostgresStore::superuserValue(const QString &sql)
{
    QSqlQuery query(QSqlDatabase::database(m_server->superuserConnection(m_database), false));
    if (!query.exec(sql) || !query.next())
        return {};
    return query.value(0);
}

// ---- Values -------------------------------------------------------------------

void TestPostgresStore::lockOneWinner()
{
    Reply<bool> firstLock;
    Reply<bool> secondLock;
    first().setIfAbsent(u"inflight:c1:a1"_s, "token-a", 60s, this, firstLock.callback());
    second().setIfAbsent(u"inflight:c1:a1"_s, "token-b", 60s, this, secondLock.callback());

    const Result<bool> firstResult = firstLock.wait();
    const Result<bool> secondResult = secondLock.wait();
    QVERIFY2(firstResult.ok(), qPrintable(errorText(firstResult)));
    QVERIFY2(secondResult.ok(), qPrintable(errorText(secondResult)));
    QVERIFY(firstResult.value());
    QVERIFY(!secondResult.value());
    QCOMPARE(value(second(), u"inflight:c1:a1"_s), std::optional<QByteArray>("token-a"));
}

void TestPostgresStore::lockExpires()
{
    QVERIFY(setIfAbsent(first(), u"lock"_s, "token-a", 300ms));
    QCOMPARE(value(second(), u"lock"_s), std::optional<QByteArray>("token-a"));
    QVERIFY(!setIfAbsent(second(), u"lock"_s, "token-b", 300ms));

    QTest::qWait(400);
    QCOMPARE(value(second(), u"lock"_s), std::nullopt);
    QVERIFY(setIfAbsent(second(), u"lock"_s, "token-b", 300ms));
    QCOMPARE(value(first(), u"lock"_s), std::optional<QByteArray>("token-b"));
}

void TestPostgresStore::ownerRenewsAndDeletes()
{
    QVERIFY(setIfAbsent(first(), u"lock"_s, "token-a", 500ms));
    QTest::qWait(300);

    Reply<bool> renewed;
    first().compareAndRenew(u"lock"_s, "token-a", 500ms, this, renewed.callback());
    const Result<bool> renewResult = renewed.wait();
    QVERIFY(renewResult.ok());
    QVERIFY(renewResult.value());

    // The original TTL ended 200 ms after the renewal.
    QTest::qWait(300);
    QCOMPARE(value(second(), u"lock"_s), std::optional<QByteArray>("token-a"));

    Reply<bool> wrongToken;
    second().compareAndDelete(u"lock"_s, "token-b", this, wrongToken.callback());
    const Result<bool> wrongResult = wrongToken.wait();
    QVERIFY(wrongResult.ok());
    QVERIFY(!wrongResult.value());

    Reply<bool> deleted;
    first().compareAndDelete(u"lock"_s, "token-a", this, deleted.callback());
    const Result<bool> deleteResult = deleted.wait();
    QVERIFY(deleteResult.ok());
    QVERIFY(deleteResult.value());
    QCOMPARE(value(second(), u"lock"_s), std::nullopt);
}

void TestPostgresStore::staleHolderKeepsSuccessor()
{
    QVERIFY(setIfAbsent(first(), u"lock"_s, "token-a", 200ms));
    QTest::qWait(300);
    QVERIFY(setIfAbsent(second(), u"lock"_s, "token-b", 60s));

    // The expired holder's row was taken over, so its token no longer matches.
    Reply<bool> renewed;
    first().compareAndRenew(u"lock"_s, "token-a", 1ms, this, renewed.callback());
    const Result<bool> renewResult = renewed.wait();
    QVERIFY(renewResult.ok());
    QVERIFY(!renewResult.value());

    Reply<bool> deleted;
    first().compareAndDelete(u"lock"_s, "token-a", this, deleted.callback());
    const Result<bool> deleteResult = deleted.wait();
    QVERIFY(deleteResult.ok());
    QVERIFY(!deleteResult.value());

    QCOMPARE(value(first(), u"lock"_s), std::optional<QByteArray>("token-b"));
    const double ttlSeconds =
            superuserValue(u"SELECT extract(epoch FROM expires_at - clock_timestamp()) "
                           "FROM coordination_values WHERE key = 'lock'"_s)
                    .toDouble();
    QVERIFY2(ttlSeconds > 50 && ttlSeconds <= 60, qPrintable(QString::number(ttlSeconds)));
}

void TestPostgresStore::claimOnce()
{
    QVERIFY(setIfAbsent(first(), u"pending:d1"_s, "replica-1", 30s));

    Reply<bool> firstClaim;
    Reply<bool> secondClaim;
    first().remove(u"pending:d1"_s, this, firstClaim.callback());
    second().remove(u"pending:d1"_s, this, secondClaim.callback());

    const Result<bool> firstResult = firstClaim.wait();
    const Result<bool> secondResult = secondClaim.wait();
    QVERIFY(firstResult.ok());
    QVERIFY(secondResult.ok());
    QCOMPARE(int(firstResult.value()) + int(secondResult.value()), 1);
}

void TestPostgresStore::claimMissingOrExpired()
{
    Reply<bool> missing;
    first().remove(u"pending:none"_s, this, missing.callback());
    const Result<bool> missingResult = missing.wait();
    QVERIFY(missingResult.ok());
    QVERIFY(!missingResult.value());

    QVERIFY(setIfAbsent(first(), u"pending:d2"_s, "replica-1", 200ms));
    QTest::qWait(300);
    Reply<bool> expired;
    second().remove(u"pending:d2"_s, this, expired.callback());
    const Result<bool> expiredResult = expired.wait();
    QVERIFY(expiredResult.ok());
    QVERIFY(!expiredResult.value());
}

void TestPostgresStore::repliesInIssueOrder()
{
    QList<int> order;
    const auto record = [&order](int step) {
        return [&order, step](const auto &) { order.append(step); };
    };

    first().setIfAbsent(u"lock"_s, "token-a", 1s, this, record(1));
    first().get(u"lock"_s, this, record(2));
    first().setIfAbsent(u"lock"_s, "token-b", 0ms, this, record(3));
    first().compareAndDelete(u"lock"_s, "token-a", this, record(4));
    first().setAdd(u"set"_s, "m", 1s, nullptr, record(5));
    first().windowAdd(u"window"_s, "e", 1s, this, record(6));
    first().publish(u"ch"_s, "m", this, record(7));
    QVERIFY(order.isEmpty());

    QTRY_COMPARE_WITH_TIMEOUT(order.size(), 7, kWaitMs);
    QCOMPARE(order, (QList<int>{1, 2, 3, 4, 5, 6, 7}));
}

void TestPostgresStore::destroyedContextDropsReply()
{
    bool called = false;
    auto context = std::make_unique<QObject>();
    first().setIfAbsent(u"lock"_s, "token-a", 60s, context.get(),
                        [&called](const Result<bool> &) { called = true; });
    context.reset();

    QTest::qWait(20);
    QVERIFY(!called);
    QCOMPARE(value(second(), u"lock"_s), std::optional<QByteArray>("token-a"));
}

void TestPostgresStore::invalidDuration_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<qint64>("durationMs");

    QTest::newRow("setIfAbsent zero") << u"setIfAbsent"_s << qint64(0);
    QTest::newRow("setIfAbsent negative") << u"setIfAbsent"_s << qint64(-5);
    QTest::newRow("compareAndRenew zero") << u"compareAndRenew"_s << qint64(0);
    QTest::newRow("windowAdd zero") << u"windowAdd"_s << qint64(0);
    QTest::newRow("windowCount negative") << u"windowCount"_s << qint64(-1);
    QTest::newRow("windowTrim zero") << u"windowTrim"_s << qint64(0);
    QTest::newRow("setAdd zero") << u"setAdd"_s << qint64(0);
}

void TestPostgresStore::invalidDuration()
{
    QFETCH(QString, operation);
    QFETCH(qint64, durationMs);
    const std::chrono::milliseconds duration(durationMs);

    std::optional<Error> error;
    if (operation == u"setIfAbsent") {
        Reply<bool> reply;
        first().setIfAbsent(u"key-1"_s, "t", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"compareAndRenew") {
        Reply<bool> reply;
        first().compareAndRenew(u"key-1"_s, "t", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"windowAdd") {
        Reply<qint64> reply;
        first().windowAdd(u"key-1"_s, "m", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"windowCount") {
        Reply<qint64> reply;
        first().windowCount(u"key-1"_s, duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"windowTrim") {
        Reply<qint64> reply;
        first().windowTrim(u"key-1"_s, duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else {
        Reply<void> reply;
        first().setAdd(u"key-1"_s, "m", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    }

    QCOMPARE(error->reason, Reason::Malformed);
    QVERIFY2(error->message.contains(u"key-1"_s), qPrintable(error->message));
    QVERIFY2(error->message.contains(QString::number(durationMs)), qPrintable(error->message));
    QCOMPARE(superuserValue(u"SELECT count(*) FROM coordination_values"_s).toInt(), 0);
    QCOMPARE(superuserValue(u"SELECT count(*) FROM coordination_window_keys"_s).toInt(), 0);
    QCOMPARE(superuserValue(u"SELECT count(*) FROM coordination_set_members"_s).toInt(), 0);
}

// ---- Publish/subscribe --------------------------------------------------------------

void TestPostgresStore::publishAcrossStores()
{
    QStringList received;
    std::vector<Subscription> subscriptions;
    Reply<void> lastReady;
    for (const QString &name : {u"s1"_s, u"s2"_s}) {
        subscriptions.push_back(second().subscribe(
                u"inflight_result:c1:a1"_s, this,
                [&received, name](const QString &channel, const QByteArray &message) {
                    QCOMPARE(channel, u"inflight_result:c1:a1"_s);
                    received.append(name + u':' + QString::fromLatin1(message));
                },
                name == u"s2" ? lastReady.callback() : StoreCallback<void>()));
    }
    QVERIFY(lastReady.wait().ok());
    Inbox otherChannel;
    subscriptions.push_back(
            second().subscribe(u"inflight_result:c2:a1"_s, this, otherChannel.handler(), {}));

    for (const QByteArray &message : {QByteArray("m1"), QByteArray("m2"), QByteArray("m3")})
        first().publish(u"inflight_result:c1:a1"_s, message, this, {});

    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 6, kWaitMs);
    QCOMPARE(received, (QStringList{u"s1:m1"_s, u"s2:m1"_s, u"s1:m2"_s, u"s2:m2"_s, u"s1:m3"_s,
                                    u"s2:m3"_s}));
    QVERIFY(otherChannel.messages.isEmpty());
}

void TestPostgresStore::largeMessageWhole()
{
    // Every byte value, and far more than NOTIFY's 8000-byte payload limit.
    QByteArray message;
    for (int i = 0; i < 100'000; ++i)
        message.append(char(i % 256));

    Inbox inbox;
    Reply<void> ready;
    const Subscription subscription =
            second().subscribe(u"outcome:large"_s, this, inbox.handler(), ready.callback());
    QVERIFY(ready.wait().ok());

    Reply<int> published;
    first().publish(u"outcome:large"_s, message, this, published.callback());
    const Result<int> publishResult = published.wait();
    QVERIFY2(publishResult.ok(), qPrintable(publishResult ? QString() : publishResult.error().message));

    QTRY_COMPARE_WITH_TIMEOUT(inbox.messages.size(), 1, kWaitMs);
    QCOMPARE(inbox.messages.first().size(), message.size());
    QCOMPARE(inbox.messages.first(), message);
}

void TestPostgresStore::cancelledGetsNothing()
{
    Inbox cancelledInbox;
    Inbox activeInbox;
    Reply<void> ready;
    Subscription cancelled =
            second().subscribe(u"ch"_s, this, cancelledInbox.handler(), {});
    const Subscription active = second().subscribe(u"ch"_s, this, activeInbox.handler(),
                                                   ready.callback());
    QVERIFY(ready.wait().ok());
    cancelled.cancel();
    QVERIFY(!cancelled.isActive());

    first().publish(u"ch"_s, "after-cancel", this, {});
    QTRY_COMPARE_WITH_TIMEOUT(activeInbox.messages.size(), 1, kWaitMs);
    QTest::qWait(20);
    QVERIFY(cancelledInbox.messages.isEmpty());
}

void TestPostgresStore::publishCountsLocal()
{
    Reply<void> ready;
    const Subscription here =
            first().subscribe(u"ch"_s, this, [](auto &, auto &) {}, ready.callback());
    const Subscription there =
            second().subscribe(u"ch"_s, this, [](auto &, auto &) {}, {});
    QVERIFY(ready.wait().ok());

    Reply<int> counted;
    first().publish(u"ch"_s, "x", this, counted.callback());
    const Result<int> result = counted.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), 1);

    Reply<int> none;
    first().publish(u"other"_s, "x", this, none.callback());
    const Result<int> noneResult = none.wait();
    QVERIFY(noneResult.ok());
    QCOMPARE(noneResult.value(), 0);
}

// ---- Sliding windows ------------------------------------------------------------------

void TestPostgresStore::windowSameMillisecond()
{
    // Adds alternate between the two stores, and every event counts once
    // whatever time it shares with others.
    constexpr int kEvents = 200;
    std::vector<std::unique_ptr<Reply<qint64>>> replies;
    for (int i = 0; i < kEvents; ++i) {
        replies.push_back(std::make_unique<Reply<qint64>>());
        PostgresStore &store = i % 2 == 0 ? first() : second();
        store.windowAdd(u"jit:agent-1"_s, "event-" + QByteArray::number(i), 60s, this,
                        replies.back()->callback());
    }
    for (int i = 0; i < kEvents; ++i) {
        const Result<qint64> result = replies[size_t(i)]->wait();
        QVERIFY(result.ok());
        QCOMPARE(result.value(), qint64(i + 1));
    }
    QCOMPARE(windowCount(first(), u"jit:agent-1"_s, 60s), qint64(kEvents));
    QCOMPARE(windowCount(second(), u"jit:agent-1"_s, 60s), qint64(kEvents));

    // Events that share one millisecond all count. The adds above may each
    // fall in a different millisecond, so this UPDATE forces the case.
    QCOMPARE(superuserValue(u"UPDATE coordination_window_events SET recorded_at = "
                            "date_trunc('milliseconds', now()) "
                            "WHERE key = 'jit:agent-1' RETURNING 1"_s)
                     .toInt(),
             1);
    QCOMPARE(superuserValue(u"SELECT count(DISTINCT recorded_at) FROM coordination_window_events"_s)
                     .toInt(),
             1);
    QCOMPARE(windowCount(second(), u"jit:agent-1"_s, 60s), qint64(kEvents));
    Reply<qint64> added;
    first().windowAdd(u"jit:agent-1"_s, "event-last", 60s, this, added.callback());
    const Result<qint64> addResult = added.wait();
    QVERIFY(addResult.ok());
    QCOMPARE(addResult.value(), qint64(kEvents + 1));
}

void TestPostgresStore::windowDropsOld()
{
    first().windowAdd(u"w"_s, "e1", 600ms, this, {});
    QTest::qWait(300);
    second().windowAdd(u"w"_s, "e2", 600ms, this, {});
    QCOMPARE(windowCount(first(), u"w"_s, 600ms), qint64(2));

    // e1 is about 400 ms old, e2 about 100 ms.
    QTest::qWait(100);
    QCOMPARE(windowCount(first(), u"w"_s, 250ms), qint64(1));
    QCOMPARE(windowCount(second(), u"w"_s, 600ms), qint64(2));

    QTest::qWait(300);
    QCOMPARE(windowCount(first(), u"w"_s, 600ms), qint64(1));
}

void TestPostgresStore::windowTrim()
{
    first().windowAdd(u"w"_s, "e1", 5min, this, {});
    first().windowAdd(u"w"_s, "e2", 5min, this, {});
    QTest::qWait(300);
    second().windowAdd(u"w"_s, "e3", 5min, this, {});

    Reply<qint64> trimmed;
    second().windowTrim(u"w"_s, 200ms, this, trimmed.callback());
    const Result<qint64> trimResult = trimmed.wait();
    QVERIFY(trimResult.ok());
    QCOMPARE(trimResult.value(), qint64(2));
    QCOMPARE(windowCount(first(), u"w"_s, 5min), qint64(1));
}

void TestPostgresStore::windowKeyExpires()
{
    Reply<qint64> added;
    first().windowAdd(u"w"_s, "e1", 300ms, this, added.callback());
    QVERIFY(added.wait().ok());
    QCOMPARE(windowCount(second(), u"w"_s, 60s), qint64(1));

    // The key expired 300 ms after its last add, so a longer window counts no event.
    QTest::qWait(400);
    QCOMPARE(windowCount(second(), u"w"_s, 60s), qint64(0));

    // A new add starts from an empty window.
    Reply<qint64> again;
    second().windowAdd(u"w"_s, "e2", 60s, this, again.callback());
    const Result<qint64> againResult = again.wait();
    QVERIFY(againResult.ok());
    QCOMPARE(againResult.value(), qint64(1));

    first().purgeExpired();
    QCOMPARE(superuserValue(u"SELECT count(*) FROM coordination_window_events"_s).toInt(), 1);
}

// ---- Sets with TTL -----------------------------------------------------------------------

void TestPostgresStore::setMemberExpiry()
{
    first().setAdd(u"blocklist"_s, "c1|agent-a", 300ms, this, {});
    first().setAdd(u"blocklist"_s, "c1|agent-b", 800ms, this, {});
    QVERIFY(setContains(second(), u"blocklist"_s, "c1|agent-a"));

    QTest::qWait(400);
    QVERIFY(!setContains(second(), u"blocklist"_s, "c1|agent-a"));
    QVERIFY(setContains(second(), u"blocklist"_s, "c1|agent-b"));

    Reply<QList<QByteArray>> members;
    second().setMembers(u"blocklist"_s, this, members.callback());
    const Result<QList<QByteArray>> membersResult = members.wait();
    QVERIFY(membersResult.ok());
    QCOMPARE(membersResult.value(), QList<QByteArray>{"c1|agent-b"});

    QTest::qWait(500);
    Reply<QList<QByteArray>> empty;
    second().setMembers(u"blocklist"_s, this, empty.callback());
    const Result<QList<QByteArray>> emptyResult = empty.wait();
    QVERIFY(emptyResult.ok());
    QVERIFY(emptyResult.value().isEmpty());

    first().purgeExpired();
    QCOMPARE(superuserValue(u"SELECT count(*) FROM coordination_set_members"_s).toInt(), 0);
}

void TestPostgresStore::setReaddResets()
{
    first().setAdd(u"dedup"_s, "stalled|c1", 500ms, this, {});
    QTest::qWait(300);
    second().setAdd(u"dedup"_s, "stalled|c1", 500ms, this, {});
    QTest::qWait(300);
    QVERIFY(setContains(first(), u"dedup"_s, "stalled|c1"));
}

void TestPostgresStore::setRemoveMember()
{
    first().setAdd(u"s"_s, "m1", 10s, this, {});

    Reply<bool> removed;
    second().setRemove(u"s"_s, "m1", this, removed.callback());
    const Result<bool> removedResult = removed.wait();
    QVERIFY(removedResult.ok());
    QVERIFY(removedResult.value());

    Reply<bool> again;
    first().setRemove(u"s"_s, "m1", this, again.callback());
    const Result<bool> againResult = again.wait();
    QVERIFY(againResult.ok());
    QVERIFY(!againResult.value());
}

// ---- Connections -------------------------------------------------------------------------

void TestPostgresStore::concurrentOpen()
{
    const QString database = m_server->createDatabase();
    QVERIFY2(!database.isEmpty(), qPrintable(m_server->errorString()));
    const Result<PostgresUrl> url = parsePostgresUrl(m_server->ownerUrl(database));
    QVERIFY(url.ok());

    // Both threads create their store at the same moment on an empty database.
    std::latch start(2);
    std::array<QString, 2> failures;
    std::atomic<int> usable{0};
    const auto open = [&](int index) {
        start.arrive_and_wait();
        PostgresStore store(url.value(), testOptions());
        if (store.health().usable)
            ++usable;
        else
            failures[size_t(index)] = store.health().detail;
    };
    std::unique_ptr<QThread> a(QThread::create(open, 0));
    std::unique_ptr<QThread> b(QThread::create(open, 1));
    a->start();
    b->start();
    QVERIFY(a->wait(30'000));
    QVERIFY(b->wait(30'000));

    QVERIFY2(failures[0].isEmpty(), qPrintable(failures[0]));
    QVERIFY2(failures[1].isEmpty(), qPrintable(failures[1]));
    QCOMPARE(usable.load(), 2);
}

void TestPostgresStore::restartRecovers()
{
    QSignalSpy firstHealth(m_first.get(), &CoordinationStore::healthChanged);
    Inbox inbox;
    Reply<void> ready;
    const Subscription subscription =
            second().subscribe(u"outcome:a"_s, this, inbox.handler(), ready.callback());
    QVERIFY(ready.wait().ok());

    m_server->stopServer();
    QTRY_VERIFY_WITH_TIMEOUT(!first().health().usable, kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(!second().health().usable, kWaitMs);
    QVERIFY(!firstHealth.isEmpty());
    QVERIFY2(first().health().detail.contains(u"127.0.0.1:%1"_s.arg(m_server->port())),
             qPrintable(first().health().detail));

    Reply<bool> lock;
    first().setIfAbsent(u"lock"_s, "token-a", 60s, this, lock.callback());
    const Result<bool> lockResult = lock.wait();
    QVERIFY(!lockResult.ok());
    QCOMPARE(lockResult.error().reason, Reason::BackendBusy);
    QVERIFY2(lockResult.error().message.contains(u"'lock'"_s),
             qPrintable(lockResult.error().message));
    QCOMPARE(lock.calls(), 1);

    // Reconnect attempts fail while the server is down.
    QTest::qWait(500);
    QVERIFY(!first().health().usable);
    QVERIFY(!second().health().usable);

    QVERIFY2(m_server->startAgain(), qPrintable(m_server->errorString()));
    QTRY_VERIFY2_WITH_TIMEOUT(first().health().usable, qPrintable(first().health().detail),
                              10'000);
    QTRY_VERIFY2_WITH_TIMEOUT(second().health().usable, qPrintable(second().health().detail),
                              10'000);
    QVERIFY(first().health().detail.isEmpty());

    // The subscription LISTENs again and receives what is published now.
    Reply<int> published;
    first().publish(u"outcome:a"_s, "after-restart", this, published.callback());
    const Result<int> publishResult = published.wait();
    QVERIFY2(publishResult.ok(),
             qPrintable(publishResult ? QString() : publishResult.error().message));
    QTRY_COMPARE_WITH_TIMEOUT(inbox.messages, QByteArrayList{"after-restart"}, kWaitMs);
    QVERIFY(setIfAbsent(first(), u"lock"_s, "token-a", 60s));
    QCOMPARE(lock.calls(), 1);
}

void TestPostgresStore::wrongPasswordHidden()
{
    const QString url = u"postgresql://%1:battery-staple@127.0.0.1:%2/%3"_s.arg(
            QLatin1StringView(test::PostgresServer::kOwnerRole))
                                .arg(m_server->port())
                                .arg(m_database);
    const std::unique_ptr<PostgresStore> store = makeStore(url);
    QVERIFY(store);
    QVERIFY(!store->health().usable);
    QVERIFY2(store->health().detail.contains(u"password authentication failed"_s),
             qPrintable(store->health().detail));
    QVERIFY2(!store->health().detail.contains(u"battery-staple"_s),
             qPrintable(store->health().detail));

    Reply<bool> lock;
    store->setIfAbsent(u"lock"_s, "token-a", 60s, this, lock.callback());
    const Result<bool> result = lock.wait();
    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::BackendBusy);
    QVERIFY2(!result.error().message.contains(u"battery-staple"_s),
             qPrintable(result.error().message));
}

void TestPostgresStore::roleWithoutCreateFails()
{
    // On PostgreSQL 15 only the database owner may create tables in public.
    const QString database = m_server->createDatabase();
    QVERIFY2(!database.isEmpty(), qPrintable(m_server->errorString()));
    const std::unique_ptr<PostgresStore> store = makeStore(m_server->serviceUrl(database));
    QVERIFY(store);
    QVERIFY(!store->health().usable);
    QVERIFY2(store->health().detail.contains(u"create the coordination tables"_s),
             qPrintable(store->health().detail));
    QVERIFY2(store->health().detail.contains(u"permission denied"_s),
             qPrintable(store->health().detail));
}

void TestPostgresStore::roleUsesGrantedTables()
{
    // The owner's store creates the tables, and the owner grants the service
    // role what it uses.
    const QString database = m_server->createDatabase();
    QVERIFY2(!database.isEmpty(), qPrintable(m_server->errorString()));
    const std::unique_ptr<PostgresStore> ownerStore = makeStore(m_server->ownerUrl(database));
    QVERIFY2(ownerStore->health().usable, qPrintable(ownerStore->health().detail));
    {
        QSqlDatabase owner = QSqlDatabase::addDatabase(u"QPSQL"_s, u"grant"_s);
        const Result<PostgresUrl> url = parsePostgresUrl(m_server->ownerUrl(database));
        QVERIFY(url.ok());
        owner.setHostName(url.value().host);
        owner.setPort(url.value().port);
        owner.setDatabaseName(url.value().database);
        owner.setUserName(url.value().user);
        owner.setPassword(url.value().password);
        QVERIFY(owner.open());
        QSqlQuery query(owner);
        QVERIFY(query.exec(u"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                           "TO %1"_s.arg(QLatin1StringView(test::PostgresServer::kServiceRole))));
        QVERIFY(query.exec(u"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %1"_s.arg(
                QLatin1StringView(test::PostgresServer::kServiceRole))));
        owner.close();
    }
    QSqlDatabase::removeDatabase(u"grant"_s);

    const std::unique_ptr<PostgresStore> serviceStore = makeStore(m_server->serviceUrl(database));
    QVERIFY2(serviceStore->health().usable, qPrintable(serviceStore->health().detail));
    QVERIFY(setIfAbsent(*serviceStore, u"lock"_s, "service", 60s));
    QVERIFY(!setIfAbsent(*ownerStore, u"lock"_s, "owner", 60s));

    Inbox inbox;
    Reply<void> ready;
    const Subscription subscription =
            ownerStore->subscribe(u"ch"_s, this, inbox.handler(), ready.callback());
    QVERIFY(ready.wait().ok());
    Reply<int> published;
    serviceStore->publish(u"ch"_s, "from-service", this, published.callback());
    QVERIFY(published.wait().ok());
    QTRY_COMPARE_WITH_TIMEOUT(inbox.messages, QByteArrayList{"from-service"}, kWaitMs);
}

// ---- FallbackStore on Redis and PostgreSQL ---------------------------------------------------

void TestPostgresStore::fallbackSharedAcrossReplicas()
{
    test::RedisServer redis;
    QVERIFY2(redis.start(), qPrintable(redis.errorString()));
    RedisEndpoint endpoint;
    endpoint.host = u"127.0.0.1"_s;
    endpoint.port = redis.port();
    RedisStoreOptions redisOptions;
    redisOptions.operationTimeout = 500ms;
    redisOptions.reconnectMin = 20ms;
    redisOptions.reconnectMax = 200ms;
    FallbackStoreOptions options;
    options.degradedAfter = 300ms;
    options.switchHold = 500ms;
    options.startTimeout = 2s;
    options.probeInterval = 100ms;

    const Result<PostgresUrl> url = parsePostgresUrl(m_server->ownerUrl(m_database));
    QVERIFY(url.ok());
    std::array<std::unique_ptr<FallbackStore>, 2> replicas;
    for (auto &replica : replicas) {
        replica = std::make_unique<FallbackStore>(
                std::make_unique<RedisStore>(endpoint, redisOptions),
                std::make_unique<PostgresStore>(url.value(), testOptions()), options);
    }
    for (const auto &replica : replicas)
        QTRY_COMPARE_WITH_TIMEOUT(replica->mode(), FallbackStore::Mode::Primary, kWaitMs);

    redis.kill();
    for (const auto &replica : replicas) {
        QTRY_COMPARE_WITH_TIMEOUT(replica->mode(), FallbackStore::Mode::Fallback, kWaitMs);
        QCOMPARE(replica->activeKind(), u"postgresql"_s);
        QVERIFY(replica->health().degraded);
        QVERIFY2(replica->health().usable, qPrintable(replica->health().detail));
    }

    // After the hold, a lock granted through one replica is rejected through
    // the other, because both use the same table.
    for (const auto &replica : replicas)
        QTRY_VERIFY_WITH_TIMEOUT(!replica->isHolding(), kWaitMs);
    Reply<bool> granted;
    replicas[0]->setIfAbsent(u"reconciler:sweep"_s, "replica-0", 30s, this, granted.callback());
    const Result<bool> grantedResult = granted.wait();
    QVERIFY2(grantedResult.ok(), qPrintable(errorText(grantedResult)));
    QVERIFY(grantedResult.value());
    Reply<bool> rejected;
    replicas[1]->setIfAbsent(u"reconciler:sweep"_s, "replica-1", 30s, this, rejected.callback());
    const Result<bool> rejectedResult = rejected.wait();
    QVERIFY2(rejectedResult.ok(), qPrintable(errorText(rejectedResult)));
    QVERIFY(!rejectedResult.value());
    QCOMPARE(superuserValue(u"SELECT value FROM coordination_values "
                            "WHERE key = 'reconciler:sweep'"_s)
                     .toByteArray(),
             QByteArray("replica-0"));

    QVERIFY2(redis.start(), qPrintable(redis.errorString()));
    for (const auto &replica : replicas) {
        QTRY_COMPARE_WITH_TIMEOUT(replica->mode(), FallbackStore::Mode::Primary, kWaitMs);
        QCOMPARE(replica->activeKind(), u"redis"_s);
        QVERIFY(!replica->health().degraded);
    }
}

QTEST_GUILESS_MAIN(TestPostgresStore)
#include "tst_postgresstore.moc"
