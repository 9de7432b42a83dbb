// RedisStore against a real redis-server on 127.0.0.1: locks, claims,
// channels, windows, TTL sets, reconnects, deadlines and a Lease on top.
#include "lease.h"
#include "redisserver.h"
#include "redisstore.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>

#include <memory>
#include <vector>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;
using namespace std::chrono_literals;

namespace {

constexpr int kWaitMs = 5000;
// Short enough that the failure tests finish quickly.
constexpr std::chrono::milliseconds kOperationTimeout = 700ms;

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
    bool arrived() const { return m_state->result.has_value(); }
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

RedisStoreOptions testOptions()
{
    RedisStoreOptions options;
    options.operationTimeout = kOperationTimeout;
    options.reconnectMin = 20ms;
    options.reconnectMax = 200ms;
    return options;
}

} // namespace

class TestRedisStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void parseUrl_data();
    void parseUrl();
    void parseUrlInvalid_data();
    void parseUrlInvalid();

    void lockOneWinner();
    void lockExpires();
    void renewExtends();
    void renewWrongToken();
    void renewAfterExpiry();
    void staleDeleteKeepsNewHolder();
    void ownerDeletes();
    void claimOnce();
    void claimMissingOrExpired();
    void repliesInIssueOrder();
    void destroyedContextDropsReply();
    void invalidDuration_data();
    void invalidDuration();
    void wrongKindIsError();

    void publishInOrder();
    void publishCountsConnections();
    void noDeliveryAfterCancel();
    void resubscribeAfterCancel();
    void channelsSeparate();
    void subscribeThenLock();
    void resubscribeAfterRestarts();

    void windowSameMillisecond();
    void windowDropsOld();
    void windowMemberMoves();
    void windowTrim();
    void windowKeyExpires();

    void setMemberExpiry();
    void setReaddResets();
    void setRemoveMember();

    void downFailsWithinDeadline();
    void reconnectResumes();
    void pausedServerTimesOut();
    void health();
    void passwordAccepted();
    void wrongPasswordHidden();
    void unixSocket();

    void leaseAcquireRenew();
    void leaseLostWhenStolen();

private:
    std::unique_ptr<RedisStore> makeStore(const QString &url);
    bool waitUsable(RedisStore &store);
    bool setIfAbsent(const QString &key, const QByteArray &token, std::chrono::milliseconds ttl);
    std::optional<QByteArray> value(const QString &key);
    qint64 windowCount(const QString &key, std::chrono::milliseconds window);
    bool setContains(const QString &key, const QByteArray &member);
    // Publishes `probe` on `channel` until it reaches `subscribers` Redis
    // connections, which shows their SUBSCRIBE is in effect again.
    bool waitSubscribed(const QString &channel, int subscribers);

    std::unique_ptr<test::RedisServer> m_server;
    std::unique_ptr<RedisStore> m_store;
};

void TestRedisStore::initTestCase()
{
    m_server = std::make_unique<test::RedisServer>();
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
}

void TestRedisStore::init()
{
    if (!m_server->isRunning())
        QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    QCOMPARE(m_server->command({u"FLUSHALL"_s}), QByteArray("OK"));
    m_store = makeStore(m_server->url());
    QVERIFY(m_store);
    QVERIFY2(waitUsable(*m_store), qPrintable(m_store->health().detail));
}

void TestRedisStore::cleanup()
{
    m_store.reset();
}

std::unique_ptr<RedisStore> TestRedisStore::makeStore(const QString &url)
{
    const Result<RedisEndpoint> endpoint = parseRedisUrl(url);
    if (!endpoint)
        return nullptr;
    return std::make_unique<RedisStore>(endpoint.value(), testOptions());
}

bool TestRedisStore::waitUsable(RedisStore &store)
{
    return QTest::qWaitFor([&store] { return store.health().usable; }, kWaitMs);
}

bool TestRedisStore::setIfAbsent(const QString &key, const QByteArray &token,
                                 std::chrono::milliseconds ttl)
{
    Reply<bool> reply;
    m_store->setIfAbsent(key, token, ttl, this, reply.callback());
    const Result<bool> result = reply.wait();
    return result && result.value();
}

std::optional<QByteArray> TestRedisStore::value(const QString &key)
{
    Reply<std::optional<QByteArray>> reply;
    m_store->get(key, this, reply.callback());
    const auto result = reply.wait();
    return result ? result.value() : std::nullopt;
}

qint64 TestRedisStore::windowCount(const QString &key, std::chrono::milliseconds window)
{
    Reply<qint64> reply;
    m_store->windowCount(key, window, this, reply.callback());
    const Result<qint64> result = reply.wait();
    return result ? result.value() : -1;
}

bool TestRedisStore::setContains(const QString &key, const QByteArray &member)
{
    Reply<bool> reply;
    m_store->setContains(key, member, this, reply.callback());
    const Result<bool> result = reply.wait();
    return result && result.value();
}

bool TestRedisStore::waitSubscribed(const QString &channel, int subscribers)
{
    return QTest::qWaitFor(
            [&] {
                Reply<int> reply;
                m_store->publish(channel, "probe", this, reply.callback());
                const Result<int> result = reply.wait();
                return result && result.value() >= subscribers;
            },
            10'000);
}

// ---- URLs -------------------------------------------------------------------

void TestRedisStore::parseUrl_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("socketPath");
    QTest::addColumn<int>("database");
    QTest::addColumn<QString>("username");
    QTest::addColumn<QString>("password");

    QTest::newRow("defaults") << u"redis://127.0.0.1"_s << u"127.0.0.1"_s << 6379 << QString()
                              << 0 << QString() << QString();
    QTest::newRow("port and db") << u"redis://127.0.0.1:6380/3"_s << u"127.0.0.1"_s << 6380
                                 << QString() << 3 << QString() << QString();
    QTest::newRow("password") << u"redis://:s%40cret@127.0.0.1:6379/0"_s << u"127.0.0.1"_s
                              << 6379 << QString() << 0 << QString() << u"s@cret"_s;
    QTest::newRow("acl user") << u"redis://relay:pw@127.0.0.1/1"_s << u"127.0.0.1"_s << 6379
                              << QString() << 1 << u"relay"_s << u"pw"_s;
    QTest::newRow("unix url") << u"unix:///run/redis/redis.sock?db=2&password=pw"_s << QString()
                              << 6379 << u"/run/redis/redis.sock"_s << 2 << QString() << u"pw"_s;
    QTest::newRow("socket path") << u"/run/redis/redis.sock"_s << QString() << 6379
                                 << u"/run/redis/redis.sock"_s << 0 << QString() << QString();
}

void TestRedisStore::parseUrl()
{
    QFETCH(QString, url);
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(QString, socketPath);
    QFETCH(int, database);
    QFETCH(QString, username);
    QFETCH(QString, password);

    const Result<RedisEndpoint> endpoint = parseRedisUrl(url);
    QVERIFY2(endpoint.ok(), qPrintable(endpoint ? QString() : endpoint.error().message));
    QCOMPARE(endpoint.value().host, host);
    QCOMPARE(endpoint.value().port, port);
    QCOMPARE(endpoint.value().socketPath, socketPath);
    QCOMPARE(endpoint.value().database, database);
    QCOMPARE(endpoint.value().username, username);
    QCOMPARE(endpoint.value().password, password);
    if (!password.isEmpty())
        QVERIFY(!endpoint.value().describe().contains(password));
}

void TestRedisStore::parseUrlInvalid_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("problem");

    QTest::newRow("scheme") << u"http://:topsecret@127.0.0.1:6379"_s << u"scheme"_s;
    QTest::newRow("no host") << u"redis://:topsecret@:6379/0"_s << u"host"_s;
    QTest::newRow("database") << u"redis://:topsecret@127.0.0.1:6379/zero"_s << u"database"_s;
    QTest::newRow("relative socket") << u"unix:redis.sock?password=topsecret"_s << u"absolute"_s;
}

void TestRedisStore::parseUrlInvalid()
{
    QFETCH(QString, url);
    QFETCH(QString, problem);

    const Result<RedisEndpoint> endpoint = parseRedisUrl(url);
    QVERIFY(!endpoint.ok());
    QCOMPARE(endpoint.error().reason, Reason::Malformed);
    QVERIFY2(endpoint.error().message.contains(problem), qPrintable(endpoint.error().message));
    QVERIFY2(!endpoint.error().message.contains(u"topsecret"_s),
             qPrintable(endpoint.error().message));
}

// ---- Values -----------------------------------------------------------------

void TestRedisStore::lockOneWinner()
{
    Reply<bool> first;
    Reply<bool> second;
    m_store->setIfAbsent(u"inflight:c1:a1"_s, "token-a", 60s, this, first.callback());
    m_store->setIfAbsent(u"inflight:c1:a1"_s, "token-b", 60s, this, second.callback());

    const Result<bool> firstResult = first.wait();
    const Result<bool> secondResult = second.wait();
    QVERIFY(firstResult.ok());
    QVERIFY(secondResult.ok());
    QVERIFY(firstResult.value());
    QVERIFY(!secondResult.value());
    QCOMPARE(value(u"inflight:c1:a1"_s), std::optional<QByteArray>("token-a"));
}

void TestRedisStore::lockExpires()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 300ms));
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
    QVERIFY(!setIfAbsent(u"lock"_s, "token-b", 300ms));

    QTest::qWait(400);
    QCOMPARE(value(u"lock"_s), std::nullopt);
    QVERIFY(setIfAbsent(u"lock"_s, "token-b", 300ms));
}

void TestRedisStore::renewExtends()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 500ms));
    QTest::qWait(300);

    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-a", 500ms, this, renewed.callback());
    const Result<bool> result = renewed.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());

    // The original TTL ended 200 ms after the renewal.
    QTest::qWait(300);
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
    QTest::qWait(300);
    QCOMPARE(value(u"lock"_s), std::nullopt);
}

void TestRedisStore::renewWrongToken()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 60s));

    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-b", 120s, this, renewed.callback());
    const Result<bool> result = renewed.wait();
    QVERIFY(result.ok());
    QVERIFY(!result.value());

    const qint64 ttl = m_server->command({u"PTTL"_s, u"lock"_s}).toLongLong();
    QVERIFY2(ttl > 0 && ttl <= 60'000, qPrintable(QString::number(ttl)));
}

void TestRedisStore::renewAfterExpiry()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 200ms));
    QTest::qWait(300);

    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-a", 1000ms, this, renewed.callback());
    const Result<bool> result = renewed.wait();
    QVERIFY(result.ok());
    QVERIFY(!result.value());
    QCOMPARE(value(u"lock"_s), std::nullopt);
}

void TestRedisStore::staleDeleteKeepsNewHolder()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 200ms));
    QTest::qWait(300);
    QVERIFY(setIfAbsent(u"lock"_s, "token-b", 60s));

    Reply<bool> deleted;
    m_store->compareAndDelete(u"lock"_s, "token-a", this, deleted.callback());
    const Result<bool> result = deleted.wait();
    QVERIFY(result.ok());
    QVERIFY(!result.value());
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-b"));

    // A renewal by the expired holder leaves the new holder's TTL alone.
    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-a", 1ms, this, renewed.callback());
    const Result<bool> renewResult = renewed.wait();
    QVERIFY(renewResult.ok());
    QVERIFY(!renewResult.value());
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-b"));
}

void TestRedisStore::ownerDeletes()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 60s));

    Reply<bool> deleted;
    m_store->compareAndDelete(u"lock"_s, "token-a", this, deleted.callback());
    const Result<bool> result = deleted.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());
    QCOMPARE(value(u"lock"_s), std::nullopt);
    QVERIFY(setIfAbsent(u"lock"_s, "token-b", 60s));
}

void TestRedisStore::claimOnce()
{
    QVERIFY(setIfAbsent(u"pending:d1"_s, "replica-1", 30s));

    // Two replicas race to claim the same pending response.
    const std::unique_ptr<RedisStore> other = makeStore(m_server->url());
    QVERIFY(waitUsable(*other));
    Reply<bool> first;
    Reply<bool> second;
    m_store->remove(u"pending:d1"_s, this, first.callback());
    other->remove(u"pending:d1"_s, this, second.callback());

    const Result<bool> firstResult = first.wait();
    const Result<bool> secondResult = second.wait();
    QVERIFY(firstResult.ok());
    QVERIFY(secondResult.ok());
    QCOMPARE(int(firstResult.value()) + int(secondResult.value()), 1);
}

void TestRedisStore::claimMissingOrExpired()
{
    Reply<bool> missing;
    m_store->remove(u"pending:none"_s, this, missing.callback());
    const Result<bool> missingResult = missing.wait();
    QVERIFY(missingResult.ok());
    QVERIFY(!missingResult.value());

    QVERIFY(setIfAbsent(u"pending:d2"_s, "replica-1", 200ms));
    QTest::qWait(300);
    Reply<bool> expired;
    m_store->remove(u"pending:d2"_s, this, expired.callback());
    const Result<bool> expiredResult = expired.wait();
    QVERIFY(expiredResult.ok());
    QVERIFY(!expiredResult.value());
}

void TestRedisStore::repliesInIssueOrder()
{
    QList<int> order;
    const auto record = [&order](int step) {
        return [&order, step](const auto &) { order.append(step); };
    };

    m_store->setIfAbsent(u"lock"_s, "token-a", 1s, this, record(1));
    m_store->get(u"lock"_s, this, record(2));
    // Rejected without a round trip, yet delivered after the calls before it.
    m_store->setIfAbsent(u"lock"_s, "token-b", 0ms, this, record(3));
    m_store->compareAndDelete(u"lock"_s, "token-a", this, record(4));
    m_store->setAdd(u"set"_s, "m", 1s, nullptr, record(5));
    m_store->windowAdd(u"window"_s, "e", 1s, this, record(6));
    QVERIFY(order.isEmpty());

    QTRY_COMPARE_WITH_TIMEOUT(order.size(), 6, kWaitMs);
    QCOMPARE(order, (QList<int>{1, 2, 3, 4, 5, 6}));
}

void TestRedisStore::destroyedContextDropsReply()
{
    bool called = false;
    auto context = std::make_unique<QObject>();
    m_store->setIfAbsent(u"lock"_s, "token-a", 60s, context.get(),
                         [&called](const Result<bool> &) { called = true; });
    context.reset();

    // A later reply shows that the earlier one has been handled.
    Reply<bool> later;
    m_store->setIfAbsent(u"other"_s, "token-b", 60s, this, later.callback());
    QVERIFY(later.wait().ok());
    QTest::qWait(10);
    QVERIFY(!called);
    // The operation itself took effect.
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
}

void TestRedisStore::invalidDuration_data()
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

void TestRedisStore::invalidDuration()
{
    QFETCH(QString, operation);
    QFETCH(qint64, durationMs);
    const std::chrono::milliseconds duration(durationMs);

    std::optional<Error> error;
    if (operation == u"setIfAbsent") {
        Reply<bool> reply;
        m_store->setIfAbsent(u"key-1"_s, "t", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"compareAndRenew") {
        Reply<bool> reply;
        m_store->compareAndRenew(u"key-1"_s, "t", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"windowAdd") {
        Reply<qint64> reply;
        m_store->windowAdd(u"key-1"_s, "m", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"windowCount") {
        Reply<qint64> reply;
        m_store->windowCount(u"key-1"_s, duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else if (operation == u"windowTrim") {
        Reply<qint64> reply;
        m_store->windowTrim(u"key-1"_s, duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    } else {
        Reply<void> reply;
        m_store->setAdd(u"key-1"_s, "m", duration, this, reply.callback());
        const auto result = reply.wait();
        QVERIFY(!result.ok());
        error = result.error();
    }

    QCOMPARE(error->reason, Reason::Malformed);
    QVERIFY2(error->message.contains(u"key-1"_s), qPrintable(error->message));
    QVERIFY2(error->message.contains(QString::number(durationMs)), qPrintable(error->message));
    QCOMPARE(m_server->command({u"DBSIZE"_s}), QByteArray("0"));
}

void TestRedisStore::wrongKindIsError()
{
    m_store->windowAdd(u"w"_s, "e1", 60s, this, {});

    Reply<std::optional<QByteArray>> reply;
    m_store->get(u"w"_s, this, reply.callback());
    const auto result = reply.wait();
    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::Internal);
    QVERIFY2(result.error().message.contains(u"'w'"_s), qPrintable(result.error().message));
    QVERIFY2(result.error().message.contains(u"WRONGTYPE"_s), qPrintable(result.error().message));
}

// ---- Publish/subscribe ------------------------------------------------------

void TestRedisStore::publishInOrder()
{
    QStringList received;
    std::vector<Subscription> subscriptions;
    Reply<void> lastReady;
    for (const QString &name : {u"s1"_s, u"s2"_s, u"s3"_s}) {
        subscriptions.push_back(m_store->subscribe(
                u"inflight_result:c1:a1"_s, this,
                [&received, name](const QString &, const QByteArray &message) {
                    received.append(name + u':' + QString::fromLatin1(message));
                },
                name == u"s3" ? lastReady.callback() : StoreCallback<void>()));
    }
    QVERIFY(lastReady.wait().ok());

    m_store->publish(u"inflight_result:c1:a1"_s, "m1", this, {});
    m_store->publish(u"inflight_result:c1:a1"_s, "m2", this, {});
    QVERIFY(received.isEmpty());

    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 6, kWaitMs);
    QCOMPARE(received,
             (QStringList{u"s1:m1"_s, u"s2:m1"_s, u"s3:m1"_s, u"s1:m2"_s, u"s2:m2"_s, u"s3:m2"_s}));
}

void TestRedisStore::publishCountsConnections()
{
    Reply<void> firstReady;
    Reply<void> secondReady;
    const Subscription first =
            m_store->subscribe(u"ch"_s, this, [](auto &, auto &) {}, firstReady.callback());
    const Subscription second =
            m_store->subscribe(u"ch"_s, this, [](auto &, auto &) {}, secondReady.callback());
    QVERIFY(firstReady.wait().ok());
    QVERIFY(secondReady.wait().ok());

    Reply<int> reply;
    m_store->publish(u"ch"_s, "x", this, reply.callback());
    const Result<int> result = reply.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), 1);

    const std::unique_ptr<RedisStore> other = makeStore(m_server->url());
    Reply<void> otherReady;
    const Subscription third =
            other->subscribe(u"ch"_s, this, [](auto &, auto &) {}, otherReady.callback());
    QVERIFY(otherReady.wait().ok());
    Reply<int> both;
    m_store->publish(u"ch"_s, "x", this, both.callback());
    const Result<int> bothResult = both.wait();
    QVERIFY(bothResult.ok());
    QCOMPARE(bothResult.value(), 2);

    Reply<int> none;
    m_store->publish(u"other"_s, "x", this, none.callback());
    const Result<int> noneResult = none.wait();
    QVERIFY(noneResult.ok());
    QCOMPARE(noneResult.value(), 0);
}

void TestRedisStore::noDeliveryAfterCancel()
{
    // The handler cancels its own subscription on the first message, so the
    // messages read from Redis after it are not delivered.
    int delivered = 0;
    Subscription subscription;
    Reply<void> ready;
    subscription = m_store->subscribe(
            u"ch"_s, this,
            [&delivered, &subscription](const QString &, const QByteArray &) {
                ++delivered;
                subscription.cancel();
            },
            ready.callback());
    QVERIFY(ready.wait().ok());

    Reply<int> last;
    m_store->publish(u"ch"_s, "m1", this, {});
    m_store->publish(u"ch"_s, "m2", this, {});
    m_store->publish(u"ch"_s, "m3", this, last.callback());
    QVERIFY(last.wait().ok());
    QTRY_COMPARE_WITH_TIMEOUT(delivered, 1, kWaitMs);
    QVERIFY(!subscription.isActive());

    // Once Redis has processed the UNSUBSCRIBE, nothing reaches this store.
    QVERIFY(QTest::qWaitFor(
            [this] {
                Reply<int> after;
                m_store->publish(u"ch"_s, "after", this, after.callback());
                const Result<int> result = after.wait();
                return result && result.value() == 0;
            },
            kWaitMs));
    QTest::qWait(20);
    QCOMPARE(delivered, 1);
}

void TestRedisStore::resubscribeAfterCancel()
{
    // The second subscribe() arrives while the UNSUBSCRIBE is in flight.
    Reply<void> firstReady;
    Subscription first =
            m_store->subscribe(u"ch"_s, this, [](auto &, auto &) {}, firstReady.callback());
    QVERIFY(firstReady.wait().ok());
    first.cancel();

    QByteArrayList received;
    Reply<void> secondReady;
    const Subscription second = m_store->subscribe(
            u"ch"_s, this, [&received](const QString &, const QByteArray &m) { received.append(m); },
            secondReady.callback());
    QVERIFY(secondReady.wait().ok());

    Reply<int> published;
    m_store->publish(u"ch"_s, "again", this, published.callback());
    const Result<int> result = published.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(received, QByteArrayList{"again"}, kWaitMs);
}

void TestRedisStore::channelsSeparate()
{
    QByteArrayList first;
    QByteArrayList second;
    Reply<void> firstReady;
    Reply<void> secondReady;
    const Subscription a = m_store->subscribe(
            u"ch-a"_s, this, [&first](const QString &, const QByteArray &m) { first.append(m); },
            firstReady.callback());
    const Subscription b = m_store->subscribe(
            u"ch-b"_s, this, [&second](const QString &, const QByteArray &m) { second.append(m); },
            secondReady.callback());
    QVERIFY(firstReady.wait().ok());
    QVERIFY(secondReady.wait().ok());

    m_store->publish(u"ch-a"_s, "for-a", this, {});
    m_store->publish(u"ch-b"_s, "for-b", this, {});

    QTRY_COMPARE_WITH_TIMEOUT(first.size() + second.size(), 2, kWaitMs);
    QCOMPARE(first, QByteArrayList{"for-a"});
    QCOMPARE(second, QByteArrayList{"for-b"});
}

void TestRedisStore::subscribeThenLock()
{
    const QString channel = u"inflight_result:c1:a1"_s;
    const QString lockKey = u"inflight:c1:a1"_s;
    const std::unique_ptr<RedisStore> waiterStore = makeStore(m_server->url());
    QVERIFY(waitUsable(*waiterStore));

    // The winner, on this store, holds the lock before the waiter arrives.
    QVERIFY(setIfAbsent(lockKey, "winner", 60s));

    // The waiter subscribes first, then tries the lock once subscribed.
    QByteArrayList outcomes;
    Reply<bool> waiterLock;
    RedisStore *waiter = waiterStore.get();
    const Subscription subscription = waiter->subscribe(
            channel, this,
            [&outcomes](const QString &, const QByteArray &message) { outcomes.append(message); },
            [this, waiter, lockKey, &waiterLock](const Result<void> &ready) {
                QVERIFY(ready.ok());
                waiter->setIfAbsent(lockKey, "waiter", 60s, this, waiterLock.callback());
            });
    const Result<bool> lockResult = waiterLock.wait();
    QVERIFY(lockResult.ok());
    QVERIFY(!lockResult.value());

    // The winner publishes its outcome and releases by compare-and-delete.
    Reply<int> published;
    m_store->publish(channel, "stored", this, published.callback());
    Reply<bool> released;
    m_store->compareAndDelete(lockKey, "winner", this, released.callback());

    const Result<int> publishResult = published.wait();
    QVERIFY(publishResult.ok());
    QCOMPARE(publishResult.value(), 1);
    const Result<bool> releaseResult = released.wait();
    QVERIFY(releaseResult.ok());
    QVERIFY(releaseResult.value());
    QTRY_COMPARE_WITH_TIMEOUT(outcomes.size(), 1, kWaitMs);
    QCOMPARE(outcomes.first(), QByteArray("stored"));
}

void TestRedisStore::resubscribeAfterRestarts()
{
    constexpr int kChannels = 20;
    const std::unique_ptr<RedisStore> subscriberStore = makeStore(m_server->url());
    QVERIFY(waitUsable(*subscriberStore));

    // Channel i gets one handler on the subscriber store and, for even i,
    // one on this store too.
    QList<QByteArrayList> received(kChannels);
    QList<QByteArrayList> receivedHere(kChannels);
    std::vector<Subscription> subscriptions;
    std::vector<std::unique_ptr<Reply<void>>> ready;
    for (int i = 0; i < kChannels; ++i) {
        const QString channel = u"inflight_result:c%1:a1"_s.arg(i);
        ready.push_back(std::make_unique<Reply<void>>());
        subscriptions.push_back(subscriberStore->subscribe(
                channel, this,
                [&received, i](const QString &, const QByteArray &m) { received[i].append(m); },
                ready.back()->callback()));
        if (i % 2 == 0) {
            ready.push_back(std::make_unique<Reply<void>>());
            subscriptions.push_back(m_store->subscribe(
                    channel, this,
                    [&receivedHere, i](const QString &, const QByteArray &m) {
                        receivedHere[i].append(m);
                    },
                    ready.back()->callback()));
        }
    }
    for (const auto &reply : ready)
        QVERIFY(reply->wait().ok());

    // Two crashes of redis-server 300 ms apart.
    m_server->kill();
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    QTest::qWait(300);
    m_server->kill();
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));

    QVERIFY2(waitUsable(*subscriberStore), qPrintable(subscriberStore->health().detail));
    QVERIFY2(waitUsable(*m_store), qPrintable(m_store->health().detail));
    for (int i = 0; i < kChannels; ++i) {
        const QString channel = u"inflight_result:c%1:a1"_s.arg(i);
        QVERIFY2(waitSubscribed(channel, i % 2 == 0 ? 2 : 1), qPrintable(channel));
    }

    for (int i = 0; i < kChannels; ++i)
        m_store->publish(u"inflight_result:c%1:a1"_s.arg(i), "after-restart", this, {});
    for (int i = 0; i < kChannels; ++i) {
        QTRY_VERIFY2_WITH_TIMEOUT(received[i].contains("after-restart"),
                                  qPrintable(QString::number(i)), kWaitMs);
        if (i % 2 == 0)
            QTRY_VERIFY2_WITH_TIMEOUT(receivedHere[i].contains("after-restart"),
                                      qPrintable(QString::number(i)), kWaitMs);
    }
}

// ---- Sliding windows --------------------------------------------------------

void TestRedisStore::windowSameMillisecond()
{
    constexpr int kEvents = 1000;
    std::vector<std::unique_ptr<Reply<qint64>>> replies;
    for (int i = 0; i < kEvents; ++i) {
        replies.push_back(std::make_unique<Reply<qint64>>());
        m_store->windowAdd(u"jit:agent-1"_s, "event-" + QByteArray::number(i), 60s, this,
                           replies.back()->callback());
    }
    for (int i = 0; i < kEvents; ++i) {
        const Result<qint64> result = replies[static_cast<size_t>(i)]->wait();
        QVERIFY(result.ok());
        QCOMPARE(result.value(), qint64(i + 1));
    }
    QCOMPARE(windowCount(u"jit:agent-1"_s, 60s), qint64(kEvents));

    // Many events share a millisecond score, and each still counts once.
    const QByteArrayList scored = m_server->command({u"ZRANGE"_s, u"jit:agent-1"_s, u"0"_s,
                                                     u"-1"_s, u"WITHSCORES"_s})
                                          .split('\n');
    QCOMPARE(scored.size(), 2 * kEvents);
    QSet<QByteArray> scores;
    for (int i = 1; i < scored.size(); i += 2)
        scores.insert(scored[i]);
    QVERIFY2(scores.size() < kEvents / 2, qPrintable(QString::number(scores.size())));
}

void TestRedisStore::windowDropsOld()
{
    m_store->windowAdd(u"w"_s, "e1", 600ms, this, {});
    QTest::qWait(300);
    m_store->windowAdd(u"w"_s, "e2", 600ms, this, {});
    QCOMPARE(windowCount(u"w"_s, 600ms), qint64(2));

    // e1 is 400 ms old, e2 100 ms.
    QTest::qWait(100);
    QCOMPARE(windowCount(u"w"_s, 250ms), qint64(1));
    QCOMPARE(windowCount(u"w"_s, 600ms), qint64(2));

    QTest::qWait(300);
    QCOMPARE(windowCount(u"w"_s, 600ms), qint64(1));
    QTest::qWait(300);
    QCOMPARE(windowCount(u"w"_s, 600ms), qint64(0));
}

void TestRedisStore::windowMemberMoves()
{
    m_store->windowAdd(u"w"_s, "same", 500ms, this, {});
    QTest::qWait(300);

    Reply<qint64> added;
    m_store->windowAdd(u"w"_s, "same", 500ms, this, added.callback());
    const Result<qint64> addResult = added.wait();
    QVERIFY(addResult.ok());
    QCOMPARE(addResult.value(), qint64(1));

    // Moved to the second add's time, so it outlives the first add's window.
    QTest::qWait(300);
    QCOMPARE(windowCount(u"w"_s, 500ms), qint64(1));
}

void TestRedisStore::windowTrim()
{
    m_store->windowAdd(u"w"_s, "e1", 5min, this, {});
    m_store->windowAdd(u"w"_s, "e2", 5min, this, {});
    QTest::qWait(300);
    m_store->windowAdd(u"w"_s, "e3", 5min, this, {});

    Reply<qint64> trimmed;
    m_store->windowTrim(u"w"_s, 200ms, this, trimmed.callback());
    const Result<qint64> trimResult = trimmed.wait();
    QVERIFY(trimResult.ok());
    QCOMPARE(trimResult.value(), qint64(2));
    QCOMPARE(windowCount(u"w"_s, 5min), qint64(1));
}

void TestRedisStore::windowKeyExpires()
{
    Reply<qint64> added;
    m_store->windowAdd(u"w"_s, "e1", 400ms, this, added.callback());
    QVERIFY(added.wait().ok());
    const qint64 ttl = m_server->command({u"PTTL"_s, u"w"_s}).toLongLong();
    QVERIFY2(ttl > 0 && ttl <= 400, qPrintable(QString::number(ttl)));

    QTest::qWait(500);
    QCOMPARE(m_server->command({u"EXISTS"_s, u"w"_s}), QByteArray("0"));
}

// ---- Sets with TTL ----------------------------------------------------------

void TestRedisStore::setMemberExpiry()
{
    m_store->setAdd(u"blocklist"_s, "c1|agent-a", 300ms, this, {});
    m_store->setAdd(u"blocklist"_s, "c1|agent-b", 800ms, this, {});
    QVERIFY(setContains(u"blocklist"_s, "c1|agent-a"));

    QTest::qWait(400);
    QVERIFY(!setContains(u"blocklist"_s, "c1|agent-a"));
    QVERIFY(setContains(u"blocklist"_s, "c1|agent-b"));

    Reply<QList<QByteArray>> members;
    m_store->setMembers(u"blocklist"_s, this, members.callback());
    const Result<QList<QByteArray>> membersResult = members.wait();
    QVERIFY(membersResult.ok());
    QCOMPARE(membersResult.value(), QList<QByteArray>{"c1|agent-b"});

    QTest::qWait(500);
    Reply<QList<QByteArray>> empty;
    m_store->setMembers(u"blocklist"_s, this, empty.callback());
    const Result<QList<QByteArray>> emptyResult = empty.wait();
    QVERIFY(emptyResult.ok());
    QVERIFY(emptyResult.value().isEmpty());
    QCOMPARE(m_server->command({u"EXISTS"_s, u"blocklist"_s}), QByteArray("0"));
}

void TestRedisStore::setReaddResets()
{
    m_store->setAdd(u"dedup"_s, "stalled|c1", 500ms, this, {});
    QTest::qWait(300);
    m_store->setAdd(u"dedup"_s, "stalled|c1", 500ms, this, {});
    QTest::qWait(300);
    QVERIFY(setContains(u"dedup"_s, "stalled|c1"));
}

void TestRedisStore::setRemoveMember()
{
    m_store->setAdd(u"s"_s, "m1", 10s, this, {});

    Reply<bool> removed;
    m_store->setRemove(u"s"_s, "m1", this, removed.callback());
    const Result<bool> removedResult = removed.wait();
    QVERIFY(removedResult.ok());
    QVERIFY(removedResult.value());

    Reply<bool> again;
    m_store->setRemove(u"s"_s, "m1", this, again.callback());
    const Result<bool> againResult = again.wait();
    QVERIFY(againResult.ok());
    QVERIFY(!againResult.value());
    QCOMPARE(m_server->command({u"EXISTS"_s, u"s"_s}), QByteArray("0"));
}

// ---- Failures and health ----------------------------------------------------

void TestRedisStore::downFailsWithinDeadline()
{
    QSignalSpy healthChanged(m_store.get(), &CoordinationStore::healthChanged);
    m_server->kill();
    QTRY_VERIFY_WITH_TIMEOUT(!m_store->health().usable, kWaitMs);
    QVERIFY(!healthChanged.isEmpty());
    QVERIFY2(m_store->health().detail.contains(u"127.0.0.1:%1"_s.arg(m_server->port())),
             qPrintable(m_store->health().detail));

    QElapsedTimer elapsed;
    elapsed.start();
    Reply<bool> lock;
    Reply<std::optional<QByteArray>> read;
    Reply<bool> release;
    Reply<int> published;
    Reply<qint64> window;
    Reply<void> added;
    Reply<QList<QByteArray>> members;
    Reply<void> ready;
    m_store->setIfAbsent(u"lock"_s, "token-a", 60s, this, lock.callback());
    m_store->get(u"lock"_s, this, read.callback());
    m_store->compareAndDelete(u"lock"_s, "token-a", this, release.callback());
    const Subscription subscription =
            m_store->subscribe(u"ch"_s, this, [](auto &, auto &) {}, ready.callback());
    m_store->publish(u"ch"_s, "x", this, published.callback());
    m_store->windowAdd(u"w"_s, "e", 60s, this, window.callback());
    m_store->setAdd(u"s"_s, "m", 60s, this, added.callback());
    m_store->setMembers(u"s"_s, this, members.callback());

    const Result<QList<QByteArray>> lastResult = members.wait();
    const qint64 took = elapsed.elapsed();
    QVERIFY(!lastResult.ok());
    QVERIFY2(took < kOperationTimeout.count() + 500, qPrintable(QString::number(took)));

    QCOMPARE(lock.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(read.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(release.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(ready.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(published.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(window.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(added.wait().error().reason, Reason::BackendBusy);
    QCOMPARE(lastResult.error().reason, Reason::BackendBusy);
    QVERIFY2(lock.wait().error().message.contains(u"'lock'"_s),
             qPrintable(lock.wait().error().message));

    // No callback runs a second time, not even once Redis is back.
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    QVERIFY(waitUsable(*m_store));
    QTest::qWait(100);
    QCOMPARE(lock.calls(), 1);
    QCOMPARE(read.calls(), 1);
    QCOMPARE(release.calls(), 1);
    QCOMPARE(ready.calls(), 1);
    QCOMPARE(published.calls(), 1);
    QCOMPARE(window.calls(), 1);
    QCOMPARE(added.calls(), 1);
    QCOMPARE(members.calls(), 1);
}

void TestRedisStore::reconnectResumes()
{
    QVERIFY(setIfAbsent(u"before"_s, "t", 60s));
    m_server->kill();
    QTRY_VERIFY_WITH_TIMEOUT(!m_store->health().usable, kWaitMs);

    // Issued while Redis is down, and sent once it is back within the deadline.
    Reply<bool> pending;
    m_store->setIfAbsent(u"during"_s, "t", 60s, this, pending.callback());
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    const Result<bool> pendingResult = pending.wait();
    QVERIFY2(pendingResult.ok(), qPrintable(pendingResult ? QString() : pendingResult.error().message));
    QVERIFY(pendingResult.value());

    QVERIFY(waitUsable(*m_store));
    QVERIFY(setIfAbsent(u"after"_s, "t", 60s));
    QCOMPARE(value(u"after"_s), std::optional<QByteArray>("t"));
}

void TestRedisStore::pausedServerTimesOut()
{
    // The connection stays open, but Redis does not reply.
    m_server->pause();
    QElapsedTimer elapsed;
    elapsed.start();
    Reply<bool> lock;
    m_store->setIfAbsent(u"lock"_s, "token-a", 60s, this, lock.callback());
    const Result<bool> result = lock.wait();
    const qint64 took = elapsed.elapsed();
    m_server->resume();

    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::BackendBusy);
    QVERIFY2(result.error().message.contains(u"did not reply"_s),
             qPrintable(result.error().message));
    QVERIFY2(took >= kOperationTimeout.count() - 50, qPrintable(QString::number(took)));
    QVERIFY2(took < kOperationTimeout.count() + 500, qPrintable(QString::number(took)));
    QVERIFY(!m_store->health().usable);
    QVERIFY2(m_store->health().detail.contains(u"did not reply"_s),
             qPrintable(m_store->health().detail));

    // The late reply is dropped, and the next reply makes the store usable again.
    QVERIFY(setIfAbsent(u"other"_s, "token-b", 60s));
    QVERIFY(m_store->health().usable);
    QTest::qWait(50);
    QCOMPARE(lock.calls(), 1);
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
}

void TestRedisStore::health()
{
    const CoordinationHealth health = m_store->health();
    QCOMPARE(m_store->kind(), u"redis"_s);
    QCOMPARE(health.kind, u"redis"_s);
    QVERIFY(health.usable);
    QVERIFY(!health.degraded);
    QVERIFY(health.detail.isEmpty());

    const std::unique_ptr<RedisStore> unreachable = makeStore(u"redis://127.0.0.1:1/0"_s);
    QVERIFY(!unreachable->health().usable);
    QTRY_VERIFY_WITH_TIMEOUT(unreachable->health().detail.contains(u"Cannot reach"_s), kWaitMs);
    QVERIFY2(unreachable->health().detail.contains(u"127.0.0.1:1"_s),
             qPrintable(unreachable->health().detail));
}

void TestRedisStore::passwordAccepted()
{
    test::RedisServer server(u"correct-horse"_s);
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    const std::unique_ptr<RedisStore> store = makeStore(server.url());
    QVERIFY2(waitUsable(*store), qPrintable(store->health().detail));

    Reply<bool> reply;
    store->setIfAbsent(u"lock"_s, "token-a", 60s, this, reply.callback());
    const Result<bool> result = reply.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());
    QCOMPARE(server.command({u"GET"_s, u"lock"_s}), QByteArray("token-a"));
}

void TestRedisStore::wrongPasswordHidden()
{
    test::RedisServer server(u"correct-horse"_s);
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    const std::unique_ptr<RedisStore> store =
            makeStore(u"redis://:battery-staple@127.0.0.1:%1/0"_s.arg(server.port()));
    QVERIFY(store);

    QTRY_VERIFY_WITH_TIMEOUT(store->health().detail.contains(u"handshake"_s), kWaitMs);
    QVERIFY(!store->health().usable);
    QVERIFY2(!store->health().detail.contains(u"battery-staple"_s),
             qPrintable(store->health().detail));

    Reply<bool> reply;
    store->setIfAbsent(u"lock"_s, "token-a", 60s, this, reply.callback());
    const Result<bool> result = reply.wait();
    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::BackendBusy);
    QVERIFY2(!result.error().message.contains(u"battery-staple"_s),
             qPrintable(result.error().message));
}

void TestRedisStore::unixSocket()
{
    const std::unique_ptr<RedisStore> store =
            makeStore(u"unix://%1?db=2"_s.arg(m_server->socketPath()));
    QVERIFY(store);
    QVERIFY2(waitUsable(*store), qPrintable(store->health().detail));

    Reply<bool> reply;
    store->setIfAbsent(u"lock"_s, "token-a", 60s, this, reply.callback());
    const Result<bool> result = reply.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());
    QCOMPARE(m_server->command({u"-n"_s, u"2"_s, u"GET"_s, u"lock"_s}), QByteArray("token-a"));
    QCOMPARE(m_server->command({u"-n"_s, u"0"_s, u"EXISTS"_s, u"lock"_s}), QByteArray("0"));
}

// ---- Lease ------------------------------------------------------------------

void TestRedisStore::leaseAcquireRenew()
{
    Lease lease(*m_store, u"inflight:c1:a1"_s, LeaseOptions{600ms, 200ms, {}});
    QSignalSpy acquired(&lease, &Lease::acquireFinished);
    QSignalSpy lost(&lease, &Lease::lost);

    lease.acquire();
    QTRY_COMPARE_WITH_TIMEOUT(acquired.size(), 1, kWaitMs);
    QVERIFY(acquired.first().first().toBool());
    QVERIFY(lease.isHeld());

    Lease rival(*m_store, u"inflight:c1:a1"_s, LeaseOptions{600ms, 200ms, {}});
    QSignalSpy rivalAcquired(&rival, &Lease::acquireFinished);
    rival.acquire();
    QTRY_COMPARE_WITH_TIMEOUT(rivalAcquired.size(), 1, kWaitMs);
    QVERIFY(!rivalAcquired.first().first().toBool());

    // Renewals keep the key well past its 600 ms TTL.
    QTest::qWait(1500);
    QVERIFY(lease.isHeld());
    QVERIFY(lost.isEmpty());
    QCOMPARE(value(u"inflight:c1:a1"_s), std::optional<QByteArray>(lease.token()));

    QSignalSpy released(&lease, &Lease::released);
    lease.release();
    QTRY_COMPARE_WITH_TIMEOUT(released.size(), 1, kWaitMs);
    QVERIFY(released.first().first().toBool());
    QCOMPARE(value(u"inflight:c1:a1"_s), std::nullopt);
}

void TestRedisStore::leaseLostWhenStolen()
{
    auto lease = std::make_unique<Lease>(*m_store, u"inflight:c1:a1"_s,
                                         LeaseOptions{600ms, 200ms, {}});
    QSignalSpy acquired(lease.get(), &Lease::acquireFinished);
    QSignalSpy lost(lease.get(), &Lease::lost);
    lease->acquire();
    QTRY_COMPARE_WITH_TIMEOUT(acquired.size(), 1, kWaitMs);
    QVERIFY(lease->isHeld());

    // Another owner overwrites the key, as after an expiry and a new SET NX.
    QCOMPARE(m_server->command({u"SET"_s, u"inflight:c1:a1"_s, u"intruder"_s}), QByteArray("OK"));
    QTRY_COMPARE_WITH_TIMEOUT(lost.size(), 1, kWaitMs);
    QVERIFY(!lease->isHeld());
    QCOMPARE(value(u"inflight:c1:a1"_s), std::optional<QByteArray>("intruder"));

    // Destroying the lost lease leaves the new owner's key too.
    lease.reset();
    QCOMPARE(value(u"inflight:c1:a1"_s), std::optional<QByteArray>("intruder"));
}

QTEST_GUILESS_MAIN(TestRedisStore)
#include "tst_redisstore.moc"
