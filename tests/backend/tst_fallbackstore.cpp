// FallbackStore over a real redis-server on 127.0.0.1 and a MemoryStore: the
// start without Redis, the return to Redis, short and long failures, the
// lock hold after a switch and subscriptions that move with the store.
#include "fallbackstore.h"
#include "memorystore.h"
#include "redisserver.h"
#include "redisstore.h"

#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;
using namespace std::chrono_literals;

namespace {

constexpr int kWaitMs = 5000;
constexpr std::chrono::milliseconds kHold = 600ms;

// Stores the reply of one store operation.
template <typename T>
class Reply {
public:
    StoreCallback<T> callback()
    {
        return [state = m_state](Result<T> result) { state->result.emplace(std::move(result)); };
    }
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
    };
    std::shared_ptr<State> m_state = std::make_shared<State>();
};

// Messages a subscription received, in order.
struct Inbox {
    QList<QByteArray> messages;

    CoordinationStore::MessageHandler handler()
    {
        return [this](const QString &, const QByteArray &message) { messages.append(message); };
    }
};

RedisStoreOptions redisOptions()
{
    RedisStoreOptions options;
    options.operationTimeout = 500ms;
    options.reconnectMin = 20ms;
    options.reconnectMax = 200ms;
    return options;
}

FallbackStoreOptions fallbackOptions(std::chrono::milliseconds degradedAfter)
{
    FallbackStoreOptions options;
    options.degradedAfter = degradedAfter;
    options.switchHold = kHold;
    options.startTimeout = 300ms;
    options.probeInterval = 100ms;
    return options;
}

} // namespace

class TestFallbackStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void startWithoutRedis();
    void returnsToRedis();
    void startWithRedis();
    void shortFailureKeepsRedis();
    void longFailureSwitches();
    void pausedRedisReturns();
    void lockNotGrantedDuringHold();
    void subscriptionAcrossSwitches();
    void cancelledSubscriptionStays();

private:
    std::unique_ptr<FallbackStore> makeStore(std::chrono::milliseconds degradedAfter);
    // Publishes through redis-cli, outside the store.
    void publishDirectly(const QString &channel, const QByteArray &message);

    std::unique_ptr<test::RedisServer> m_redis;
};

void TestFallbackStore::init()
{
    m_redis = std::make_unique<test::RedisServer>();
    QVERIFY2(m_redis->start(), qPrintable(m_redis->errorString()));
}

void TestFallbackStore::cleanup()
{
    m_redis.reset();
}

std::unique_ptr<FallbackStore> TestFallbackStore::makeStore(std::chrono::milliseconds degradedAfter)
{
    RedisEndpoint endpoint;
    endpoint.host = u"127.0.0.1"_s;
    endpoint.port = m_redis->port();
    return std::make_unique<FallbackStore>(std::make_unique<RedisStore>(endpoint, redisOptions()),
                                           std::make_unique<MemoryStore>(),
                                           fallbackOptions(degradedAfter));
}

void TestFallbackStore::publishDirectly(const QString &channel, const QByteArray &message)
{
    const QByteArray receivers =
            m_redis->command({u"PUBLISH"_s, channel, QString::fromUtf8(message)});
    QCOMPARE(receivers, QByteArray("1"));
}

void TestFallbackStore::startWithoutRedis()
{
    m_redis->stop();
    auto store = makeStore(60s);
    QSignalSpy modes(store.get(), &FallbackStore::modeChanged);

    QCOMPARE(store->mode(), FallbackStore::Mode::Starting);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, 2000);
    QCOMPARE(modes.size(), 1);
    QCOMPARE(store->activeKind(), u"memory"_s);
    QCOMPARE(store->health().kind, u"redis"_s);
    QVERIFY(store->health().usable);
    QVERIFY(store->health().degraded);
    QVERIFY(store->health().detail.contains(u"127.0.0.1"_s));
    QCOMPARE(store->failureCount(), qint64(1));
    // The first choice starts no hold, so locks work on memory at once.
    QVERIFY(!store->isHolding());
    Reply<bool> lock;
    store->setIfAbsent(u"inflight:a:b"_s, "t1", 5s, nullptr, lock.callback());
    const auto locked = lock.wait();
    QVERIFY2(locked.ok(), qPrintable(locked.ok() ? QString() : locked.error().message));
    QVERIFY(locked.value());
}

void TestFallbackStore::returnsToRedis()
{
    m_redis->stop();
    auto store = makeStore(60s);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, 2000);

    QVERIFY2(m_redis->start(), qPrintable(m_redis->errorString()));
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, kWaitMs);
    QCOMPARE(store->activeKind(), u"redis"_s);
    QVERIFY(!store->health().degraded);
    QVERIFY(store->health().usable);
    QVERIFY(store->isHolding());

    // After the hold, a lock is granted on Redis itself.
    QTRY_VERIFY_WITH_TIMEOUT(!store->isHolding(), kWaitMs);
    Reply<bool> lock;
    store->setIfAbsent(u"inflight:a:b"_s, "t1", 5s, nullptr, lock.callback());
    const auto locked = lock.wait();
    QVERIFY(locked.ok());
    QVERIFY(locked.value());
    QCOMPARE(m_redis->command({u"GET"_s, u"inflight:a:b"_s}), QByteArray("t1"));
}

void TestFallbackStore::startWithRedis()
{
    auto store = makeStore(60s);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);
    QCOMPARE(store->activeKind(), u"redis"_s);
    QCOMPARE(store->failureCount(), qint64(0));
    QVERIFY(!store->isHolding());
    QVERIFY(!store->health().degraded);
}

void TestFallbackStore::shortFailureKeepsRedis()
{
    auto store = makeStore(3s);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);
    QSignalSpy modes(store.get(), &FallbackStore::modeChanged);
    QSignalSpy failed(store.get(), &FallbackStore::primaryFailed);
    QSignalSpy recovered(store.get(), &FallbackStore::primaryRecovered);

    m_redis->kill();
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, kWaitMs);
    QCOMPARE(store->failureCount(), qint64(1));
    QVERIFY(!store->health().usable);
    QVERIFY(!store->health().degraded);

    QVERIFY2(m_redis->start(), qPrintable(m_redis->errorString()));
    QTRY_COMPARE_WITH_TIMEOUT(recovered.size(), 1, kWaitMs);
    QVERIFY(store->health().usable);
    QCOMPARE(store->mode(), FallbackStore::Mode::Primary);
    QCOMPARE(modes.size(), 0);
    QVERIFY(!store->isHolding());
}

void TestFallbackStore::longFailureSwitches()
{
    auto store = makeStore(800ms);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);
    QSignalSpy failed(store.get(), &FallbackStore::primaryFailed);

    m_redis->kill();
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, kWaitMs);
    QCOMPARE(store->mode(), FallbackStore::Mode::Primary);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, kWaitMs);
    QCOMPARE(store->activeKind(), u"memory"_s);
    QVERIFY(store->health().degraded);
    QVERIFY(store->health().usable);
    QVERIFY(store->isHolding());
    QCOMPARE(store->failureCount(), qint64(1));
}

void TestFallbackStore::pausedRedisReturns()
{
    auto store = makeStore(800ms);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);

    // A paused server keeps its connections, so only an operation that
    // times out shows the failure.
    m_redis->pause();
    Reply<std::optional<QByteArray>> value;
    store->get(u"k"_s, nullptr, value.callback());
    const auto read = value.wait();
    QVERIFY(!read.ok());
    QCOMPARE(read.error().reason, Reason::BackendBusy);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, kWaitMs);

    // Only the probe sends anything to Redis now, and its reply ends the stall.
    m_redis->resume();
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, kWaitMs);
    QVERIFY(!store->health().degraded);
    QVERIFY(store->health().usable);
}

void TestFallbackStore::lockNotGrantedDuringHold()
{
    auto store = makeStore(300ms);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);
    m_redis->kill();
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, kWaitMs);
    QVERIFY(store->isHolding());

    Reply<bool> during;
    store->setIfAbsent(u"inflight:a:b"_s, "t1", 5s, nullptr, during.callback());
    const auto notGranted = during.wait();
    QVERIFY(notGranted.ok());
    QVERIFY(!notGranted.value());
    // The call wrote nothing: the key is still free on memory.
    Reply<std::optional<QByteArray>> value;
    store->get(u"inflight:a:b"_s, nullptr, value.callback());
    const auto read = value.wait();
    QVERIFY(read.ok());
    QVERIFY(!read.value().has_value());

    QTRY_VERIFY_WITH_TIMEOUT(!store->isHolding(), kWaitMs);
    Reply<bool> granted;
    store->setIfAbsent(u"inflight:a:b"_s, "t2", 5s, nullptr, granted.callback());
    const auto locked = granted.wait();
    QVERIFY(locked.ok());
    QVERIFY(locked.value());
}

void TestFallbackStore::subscriptionAcrossSwitches()
{
    auto store = makeStore(300ms);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);
    Inbox inbox;
    Reply<void> ready;
    Subscription subscription =
            store->subscribe(u"outcome:a"_s, nullptr, inbox.handler(), ready.callback());
    QVERIFY(ready.wait().ok());

    publishDirectly(u"outcome:a"_s, "on-redis");
    QTRY_COMPARE_WITH_TIMEOUT(inbox.messages.size(), 1, kWaitMs);
    QCOMPARE(inbox.messages.at(0), QByteArray("on-redis"));

    m_redis->kill();
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, kWaitMs);
    Reply<int> published;
    store->publish(u"outcome:a"_s, "on-memory", nullptr, published.callback());
    const auto sent = published.wait();
    QVERIFY(sent.ok());
    QCOMPARE(sent.value(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(inbox.messages.size(), 2, kWaitMs);
    QCOMPARE(inbox.messages.at(1), QByteArray("on-memory"));

    QVERIFY2(m_redis->start(), qPrintable(m_redis->errorString()));
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, kWaitMs);
    // The subscription is confirmed on Redis shortly after the switch.
    const auto redisSubscribers = [this] {
        const QByteArray output = m_redis->command({u"PUBSUB"_s, u"NUMSUB"_s, u"outcome:a"_s});
        return output.split('\n').value(1);
    };
    QTRY_COMPARE_WITH_TIMEOUT(redisSubscribers(), QByteArray("1"), kWaitMs);
    publishDirectly(u"outcome:a"_s, "back-on-redis");
    QTRY_COMPARE_WITH_TIMEOUT(inbox.messages.size(), 3, kWaitMs);
    QCOMPARE(inbox.messages.at(2), QByteArray("back-on-redis"));
}

void TestFallbackStore::cancelledSubscriptionStays()
{
    auto store = makeStore(300ms);
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Primary, 2000);
    Inbox inbox;
    Reply<void> ready;
    Subscription subscription =
            store->subscribe(u"outcome:b"_s, nullptr, inbox.handler(), ready.callback());
    QVERIFY(ready.wait().ok());
    subscription.cancel();

    m_redis->kill();
    QTRY_COMPARE_WITH_TIMEOUT(store->mode(), FallbackStore::Mode::Fallback, kWaitMs);
    Reply<int> published;
    store->publish(u"outcome:b"_s, "after-cancel", nullptr, published.callback());
    const auto sent = published.wait();
    QVERIFY(sent.ok());
    QCOMPARE(sent.value(), 0);
    QTest::qWait(100);
    QVERIFY(inbox.messages.isEmpty());
}

QTEST_GUILESS_MAIN(TestFallbackStore)
#include "tst_fallbackstore.moc"
