// MemoryStore: locks with owner tokens, claims, channels, windows and TTL
// sets, all on a manual clock.
#include "memorystore.h"

#include <QSignalSpy>
#include <QTest>

#include <memory>
#include <vector>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;
using namespace std::chrono_literals;

namespace {

constexpr int kWaitMs = 1000;

// Holds the reply of one store operation once its callback has run.
template <typename T>
class Reply {
public:
    StoreCallback<T> callback()
    {
        return [state = m_state](Result<T> result) { state->emplace(std::move(result)); };
    }
    bool arrived() const { return m_state->has_value(); }
    // Waits a few event-loop turns for the callback and returns its result.
    Result<T> wait()
    {
        const std::shared_ptr<std::optional<Result<T>>> state = m_state;
        if (!QTest::qWaitFor([state] { return state->has_value(); }, kWaitMs))
            return makeError(Reason::Internal, u"The store callback did not run."_s);
        return **m_state;
    }

private:
    std::shared_ptr<std::optional<Result<T>>> m_state =
            std::make_shared<std::optional<Result<T>>>();
};

} // namespace

class TestMemoryStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void lockOneWinner();
    void lockExpires();
    void renewExtends();
    void renewWrongToken();
    void renewAfterExpiry();
    void staleDeleteKeepsNewHolder();
    void ownerDeletes();
    void claimOnce();
    void claimMissingOrExpired();
    void repliesQueuedInOrder();
    void destroyedContextDropsReply();
    void invalidDuration_data();
    void invalidDuration();

    void publishInOrder();
    void publishCountsReceivers();
    void noDeliveryAfterCancel();
    void handleEndsSubscription();
    void channelsSeparate();
    void subscribeThenLock();

    void windowSameMillisecond();
    void windowDropsOld_data();
    void windowDropsOld();
    void windowMemberMoves();
    void windowTrim();
    void windowKeyExpires();

    void setMemberExpiry();
    void setReaddResets();
    void setRemoveMember();

    void purgeFreesKeys();
    void purgeTimerRuns();
    void health();

private:
    bool setIfAbsent(const QString &key, const QByteArray &token, std::chrono::milliseconds ttl);
    std::optional<QByteArray> value(const QString &key);

    qint64 m_now = 0;
    std::unique_ptr<MemoryStore> m_store;
};

void TestMemoryStore::init()
{
    m_now = 5'000'000;
    m_store = std::make_unique<MemoryStore>([this] { return m_now; });
}

void TestMemoryStore::cleanup()
{
    m_store.reset();
}

bool TestMemoryStore::setIfAbsent(const QString &key, const QByteArray &token,
                                  std::chrono::milliseconds ttl)
{
    Reply<bool> reply;
    m_store->setIfAbsent(key, token, ttl, this, reply.callback());
    const Result<bool> result = reply.wait();
    return result && result.value();
}

std::optional<QByteArray> TestMemoryStore::value(const QString &key)
{
    Reply<std::optional<QByteArray>> reply;
    m_store->get(key, this, reply.callback());
    const auto result = reply.wait();
    return result ? result.value() : std::nullopt;
}

void TestMemoryStore::lockOneWinner()
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

void TestMemoryStore::lockExpires()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 1000ms));

    m_now += 999;
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
    QVERIFY(!setIfAbsent(u"lock"_s, "token-b", 1000ms));

    m_now += 1;
    QCOMPARE(value(u"lock"_s), std::nullopt);
    QVERIFY(setIfAbsent(u"lock"_s, "token-b", 1000ms));
}

void TestMemoryStore::renewExtends()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 1000ms));
    m_now += 800;

    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-a", 1000ms, this, renewed.callback());
    const Result<bool> result = renewed.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());

    // The original TTL would have ended 200 ms from now.
    m_now += 999;
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
    m_now += 1;
    QCOMPARE(value(u"lock"_s), std::nullopt);
}

void TestMemoryStore::renewWrongToken()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 1000ms));
    m_now += 800;

    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-b", 1000ms, this, renewed.callback());
    const Result<bool> result = renewed.wait();
    QVERIFY(result.ok());
    QVERIFY(!result.value());

    m_now += 200;
    QCOMPARE(value(u"lock"_s), std::nullopt);
}

void TestMemoryStore::renewAfterExpiry()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 1000ms));
    m_now += 1000;

    Reply<bool> renewed;
    m_store->compareAndRenew(u"lock"_s, "token-a", 1000ms, this, renewed.callback());
    const Result<bool> result = renewed.wait();
    QVERIFY(result.ok());
    QVERIFY(!result.value());
    QCOMPARE(value(u"lock"_s), std::nullopt);
}

void TestMemoryStore::staleDeleteKeepsNewHolder()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 1000ms));
    m_now += 1000;
    QVERIFY(setIfAbsent(u"lock"_s, "token-b", 1000ms));

    Reply<bool> deleted;
    m_store->compareAndDelete(u"lock"_s, "token-a", this, deleted.callback());
    const Result<bool> result = deleted.wait();
    QVERIFY(result.ok());
    QVERIFY(!result.value());
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-b"));
}

void TestMemoryStore::ownerDeletes()
{
    QVERIFY(setIfAbsent(u"lock"_s, "token-a", 1000ms));

    Reply<bool> deleted;
    m_store->compareAndDelete(u"lock"_s, "token-a", this, deleted.callback());
    const Result<bool> result = deleted.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());
    QCOMPARE(value(u"lock"_s), std::nullopt);
    QVERIFY(setIfAbsent(u"lock"_s, "token-b", 1000ms));
}

void TestMemoryStore::claimOnce()
{
    QVERIFY(setIfAbsent(u"pending:d1"_s, "replica-1", 30s));

    Reply<bool> first;
    Reply<bool> second;
    m_store->remove(u"pending:d1"_s, this, first.callback());
    m_store->remove(u"pending:d1"_s, this, second.callback());

    const Result<bool> firstResult = first.wait();
    const Result<bool> secondResult = second.wait();
    QVERIFY(firstResult.ok());
    QVERIFY(secondResult.ok());
    QVERIFY(firstResult.value());
    QVERIFY(!secondResult.value());
}

void TestMemoryStore::claimMissingOrExpired()
{
    Reply<bool> missing;
    m_store->remove(u"pending:none"_s, this, missing.callback());
    const Result<bool> missingResult = missing.wait();
    QVERIFY(missingResult.ok());
    QVERIFY(!missingResult.value());

    QVERIFY(setIfAbsent(u"pending:d2"_s, "replica-1", 30s));
    m_now += 30'000;
    Reply<bool> expired;
    m_store->remove(u"pending:d2"_s, this, expired.callback());
    const Result<bool> expiredResult = expired.wait();
    QVERIFY(expiredResult.ok());
    QVERIFY(!expiredResult.value());
}

void TestMemoryStore::repliesQueuedInOrder()
{
    QList<int> order;
    const auto record = [&order](int step) {
        return [&order, step](const auto &) { order.append(step); };
    };

    m_store->setIfAbsent(u"lock"_s, "token-a", 1s, this, record(1));
    m_store->get(u"lock"_s, this, record(2));
    m_store->compareAndDelete(u"lock"_s, "token-a", this, record(3));
    m_store->setAdd(u"set"_s, "m", 1s, nullptr, record(4));
    QVERIFY(order.isEmpty());

    QTRY_COMPARE_WITH_TIMEOUT(order.size(), 4, kWaitMs);
    QCOMPARE(order, (QList<int>{1, 2, 3, 4}));
}

void TestMemoryStore::destroyedContextDropsReply()
{
    bool called = false;
    auto context = std::make_unique<QObject>();
    m_store->setIfAbsent(u"lock"_s, "token-a", 1s, context.get(),
                         [&called](const Result<bool> &) { called = true; });
    context.reset();

    // A later reply on a live context shows the queue has been processed.
    Reply<bool> later;
    m_store->get(u"lock"_s, this, Reply<std::optional<QByteArray>>().callback());
    m_store->setIfAbsent(u"other"_s, "token-b", 1s, this, later.callback());
    QVERIFY(later.wait().ok());
    QVERIFY(!called);
    // The operation itself took effect.
    QCOMPARE(value(u"lock"_s), std::optional<QByteArray>("token-a"));
}

void TestMemoryStore::invalidDuration_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<qint64>("durationMs");

    QTest::newRow("setIfAbsent zero") << u"setIfAbsent"_s << qint64(0);
    QTest::newRow("setIfAbsent negative") << u"setIfAbsent"_s << qint64(-5);
    QTest::newRow("compareAndRenew zero") << u"compareAndRenew"_s << qint64(0);
    QTest::newRow("windowAdd zero") << u"windowAdd"_s << qint64(0);
    QTest::newRow("windowCount negative") << u"windowCount"_s << qint64(-1);
    QTest::newRow("setAdd zero") << u"setAdd"_s << qint64(0);
}

void TestMemoryStore::invalidDuration()
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
    QCOMPARE(m_store->keyCount(), 0);
}

void TestMemoryStore::publishInOrder()
{
    QStringList received;
    std::vector<Subscription> subscriptions;
    for (const QString &name : {u"s1"_s, u"s2"_s, u"s3"_s}) {
        subscriptions.push_back(m_store->subscribe(
                u"inflight_result:c1:a1"_s, this,
                [&received, name](const QString &, const QByteArray &message) {
                    received.append(name + u':' + QString::fromLatin1(message));
                },
                {}));
    }

    m_store->publish(u"inflight_result:c1:a1"_s, "m1", this, {});
    m_store->publish(u"inflight_result:c1:a1"_s, "m2", this, {});
    QVERIFY(received.isEmpty());

    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 6, kWaitMs);
    QCOMPARE(received,
             (QStringList{u"s1:m1"_s, u"s2:m1"_s, u"s3:m1"_s, u"s1:m2"_s, u"s2:m2"_s, u"s3:m2"_s}));
}

void TestMemoryStore::publishCountsReceivers()
{
    const Subscription first = m_store->subscribe(u"ch"_s, this, [](auto &, auto &) {}, {});
    const Subscription second = m_store->subscribe(u"ch"_s, this, [](auto &, auto &) {}, {});

    Reply<int> reply;
    m_store->publish(u"ch"_s, "x", this, reply.callback());
    const Result<int> result = reply.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), 2);

    Reply<int> none;
    m_store->publish(u"other"_s, "x", this, none.callback());
    const Result<int> noneResult = none.wait();
    QVERIFY(noneResult.ok());
    QCOMPARE(noneResult.value(), 0);
}

void TestMemoryStore::noDeliveryAfterCancel()
{
    int delivered = 0;
    Subscription subscription = m_store->subscribe(
            u"ch"_s, this, [&delivered](const QString &, const QByteArray &) { ++delivered; }, {});
    QVERIFY(subscription.isActive());

    // Queued before the cancel, but not delivered after it.
    m_store->publish(u"ch"_s, "queued", this, {});
    subscription.cancel();
    QVERIFY(!subscription.isActive());

    Reply<int> after;
    m_store->publish(u"ch"_s, "after", this, after.callback());
    const Result<int> result = after.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), 0);
    QTest::qWait(10);
    QCOMPARE(delivered, 0);
}

void TestMemoryStore::handleEndsSubscription()
{
    int delivered = 0;
    {
        const Subscription subscription = m_store->subscribe(
                u"ch"_s, this, [&delivered](const QString &, const QByteArray &) { ++delivered; },
                {});
        Subscription moved = m_store->subscribe(
                u"ch"_s, this, [&delivered](const QString &, const QByteArray &) { ++delivered; },
                {});
        Subscription target = std::move(moved);
        QVERIFY(!moved.isActive());
        QVERIFY(target.isActive());
    }

    Reply<int> reply;
    m_store->publish(u"ch"_s, "x", this, reply.callback());
    const Result<int> result = reply.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), 0);
    QCOMPARE(delivered, 0);
}

void TestMemoryStore::channelsSeparate()
{
    QByteArrayList first;
    QByteArrayList second;
    const Subscription a = m_store->subscribe(
            u"ch-a"_s, this, [&first](const QString &, const QByteArray &m) { first.append(m); },
            {});
    const Subscription b = m_store->subscribe(
            u"ch-b"_s, this, [&second](const QString &, const QByteArray &m) { second.append(m); },
            {});

    m_store->publish(u"ch-a"_s, "for-a", this, {});
    m_store->publish(u"ch-b"_s, "for-b", this, {});

    QTRY_COMPARE_WITH_TIMEOUT(first.size() + second.size(), 2, kWaitMs);
    QCOMPARE(first, QByteArrayList{"for-a"});
    QCOMPARE(second, QByteArrayList{"for-b"});
}

void TestMemoryStore::subscribeThenLock()
{
    const QString channel = u"inflight_result:c1:a1"_s;
    const QString lockKey = u"inflight:c1:a1"_s;

    // The winner holds the lock before the waiter arrives.
    QVERIFY(setIfAbsent(lockKey, "winner", 60s));

    // The waiter subscribes first, then tries the lock once subscribed.
    QByteArrayList outcomes;
    Reply<bool> waiterLock;
    Subscription waiter = m_store->subscribe(
            channel, this,
            [&outcomes](const QString &, const QByteArray &message) { outcomes.append(message); },
            [this, lockKey, &waiterLock](const Result<void> &) {
                m_store->setIfAbsent(lockKey, "waiter", 60s, this, waiterLock.callback());
            });
    const Result<bool> lockResult = waiterLock.wait();
    QVERIFY(lockResult.ok());
    QVERIFY(!lockResult.value());

    // The winner publishes its outcome and releases by compare-and-delete.
    // A replica that subscribes only now misses it.
    m_store->publish(channel, "stored", this, {});
    Reply<bool> released;
    m_store->compareAndDelete(lockKey, "winner", this, released.callback());
    QByteArrayList late;
    const Subscription lateSubscription = m_store->subscribe(
            channel, this, [&late](const QString &, const QByteArray &m) { late.append(m); }, {});

    const Result<bool> releaseResult = released.wait();
    QVERIFY(releaseResult.ok());
    QVERIFY(releaseResult.value());
    QTRY_COMPARE_WITH_TIMEOUT(outcomes.size(), 1, kWaitMs);
    QCOMPARE(outcomes.first(), QByteArray("stored"));
    QVERIFY(late.isEmpty());
}

void TestMemoryStore::windowSameMillisecond()
{
    for (qint64 expected = 1; expected <= 5; ++expected) {
        Reply<qint64> reply;
        m_store->windowAdd(u"jit:agent-1"_s, "event-" + QByteArray::number(expected), 60s, this,
                           reply.callback());
        const Result<qint64> result = reply.wait();
        QVERIFY(result.ok());
        QCOMPARE(result.value(), expected);
    }

    Reply<qint64> count;
    m_store->windowCount(u"jit:agent-1"_s, 60s, this, count.callback());
    const Result<qint64> result = count.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), qint64(5));
}

void TestMemoryStore::windowDropsOld_data()
{
    QTest::addColumn<qint64>("elapsedMs");
    QTest::addColumn<qint64>("expected");

    // Events at 0 s, 30 s and 50 s; a 60 s window read at 50 s + elapsed.
    QTest::newRow("all inside") << qint64(0) << qint64(3);
    QTest::newRow("first at edge") << qint64(9'999) << qint64(3);
    QTest::newRow("first dropped") << qint64(10'000) << qint64(2);
    QTest::newRow("one left") << qint64(40'000) << qint64(1);
    QTest::newRow("none left") << qint64(60'000) << qint64(0);
}

void TestMemoryStore::windowDropsOld()
{
    QFETCH(qint64, elapsedMs);
    QFETCH(qint64, expected);

    m_store->windowAdd(u"w"_s, "e1", 60s, this, {});
    m_now += 30'000;
    m_store->windowAdd(u"w"_s, "e2", 60s, this, {});
    m_now += 20'000;
    m_store->windowAdd(u"w"_s, "e3", 60s, this, {});
    m_now += elapsedMs;

    Reply<qint64> count;
    m_store->windowCount(u"w"_s, 60s, this, count.callback());
    const Result<qint64> result = count.wait();
    QVERIFY(result.ok());
    QCOMPARE(result.value(), expected);
}

void TestMemoryStore::windowMemberMoves()
{
    m_store->windowAdd(u"w"_s, "same", 60s, this, {});
    m_now += 50'000;

    Reply<qint64> added;
    m_store->windowAdd(u"w"_s, "same", 60s, this, added.callback());
    const Result<qint64> addResult = added.wait();
    QVERIFY(addResult.ok());
    QCOMPARE(addResult.value(), qint64(1));

    // Moved to the second add's time, so it outlives the first add's window.
    m_now += 20'000;
    Reply<qint64> count;
    m_store->windowCount(u"w"_s, 60s, this, count.callback());
    const Result<qint64> countResult = count.wait();
    QVERIFY(countResult.ok());
    QCOMPARE(countResult.value(), qint64(1));
}

void TestMemoryStore::windowTrim()
{
    m_store->windowAdd(u"w"_s, "e1", 5min, this, {});
    m_store->windowAdd(u"w"_s, "e2", 5min, this, {});
    m_now += 60'000;
    m_store->windowAdd(u"w"_s, "e3", 5min, this, {});

    Reply<qint64> trimmed;
    m_store->windowTrim(u"w"_s, 1min, this, trimmed.callback());
    const Result<qint64> trimResult = trimmed.wait();
    QVERIFY(trimResult.ok());
    QCOMPARE(trimResult.value(), qint64(2));

    Reply<qint64> count;
    m_store->windowCount(u"w"_s, 5min, this, count.callback());
    const Result<qint64> countResult = count.wait();
    QVERIFY(countResult.ok());
    QCOMPARE(countResult.value(), qint64(1));
}

void TestMemoryStore::windowKeyExpires()
{
    Reply<qint64> added;
    m_store->windowAdd(u"w"_s, "e1", 60s, this, added.callback());
    QVERIFY(added.wait().ok());
    QCOMPARE(m_store->keyCount(), 1);

    m_now += 60'000;
    m_store->purgeExpired();
    QCOMPARE(m_store->keyCount(), 0);
}

void TestMemoryStore::setMemberExpiry()
{
    m_store->setAdd(u"blocklist"_s, "c1|agent-a", 1000ms, this, {});
    m_store->setAdd(u"blocklist"_s, "c1|agent-b", 2000ms, this, {});

    Reply<bool> contains;
    m_store->setContains(u"blocklist"_s, "c1|agent-a", this, contains.callback());
    const Result<bool> containsResult = contains.wait();
    QVERIFY(containsResult.ok());
    QVERIFY(containsResult.value());

    m_now += 1000;
    Reply<bool> expired;
    m_store->setContains(u"blocklist"_s, "c1|agent-a", this, expired.callback());
    const Result<bool> expiredResult = expired.wait();
    QVERIFY(expiredResult.ok());
    QVERIFY(!expiredResult.value());

    Reply<QList<QByteArray>> members;
    m_store->setMembers(u"blocklist"_s, this, members.callback());
    const Result<QList<QByteArray>> membersResult = members.wait();
    QVERIFY(membersResult.ok());
    QCOMPARE(membersResult.value(), QList<QByteArray>{"c1|agent-b"});

    m_now += 1000;
    Reply<QList<QByteArray>> empty;
    m_store->setMembers(u"blocklist"_s, this, empty.callback());
    const Result<QList<QByteArray>> emptyResult = empty.wait();
    QVERIFY(emptyResult.ok());
    QVERIFY(emptyResult.value().isEmpty());
    QCOMPARE(m_store->keyCount(), 0);
}

void TestMemoryStore::setReaddResets()
{
    m_store->setAdd(u"dedup"_s, "stalled|c1", 1000ms, this, {});
    m_now += 900;
    m_store->setAdd(u"dedup"_s, "stalled|c1", 1000ms, this, {});
    m_now += 900;

    Reply<bool> contains;
    m_store->setContains(u"dedup"_s, "stalled|c1", this, contains.callback());
    const Result<bool> result = contains.wait();
    QVERIFY(result.ok());
    QVERIFY(result.value());
}

void TestMemoryStore::setRemoveMember()
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
    QCOMPARE(m_store->keyCount(), 0);
}

void TestMemoryStore::purgeFreesKeys()
{
    QVERIFY(setIfAbsent(u"short"_s, "t", 1s));
    QVERIFY(setIfAbsent(u"long"_s, "t", 10s));
    m_store->setAdd(u"set"_s, "m", 1s, this, {});
    m_store->windowAdd(u"window"_s, "e", 1s, this, {});
    QCOMPARE(m_store->keyCount(), 4);

    m_now += 1000;
    m_store->purgeExpired();
    QCOMPARE(m_store->keyCount(), 1);
    QCOMPARE(value(u"long"_s), std::optional<QByteArray>("t"));
}

void TestMemoryStore::purgeTimerRuns()
{
    QVERIFY(setIfAbsent(u"short"_s, "t", 1s));
    m_now += 1000;
    QCOMPARE(m_store->keyCount(), 1);

    // Nothing reads the key again; only the timer frees it.
    m_store->setPurgeInterval(5ms);
    QTRY_COMPARE_WITH_TIMEOUT(m_store->keyCount(), 0, kWaitMs);
}

void TestMemoryStore::health()
{
    QSignalSpy changed(m_store.get(), &CoordinationStore::healthChanged);

    QCOMPARE(m_store->kind(), u"memory"_s);
    QCOMPARE(m_store->health().kind, u"memory"_s);
    QVERIFY(m_store->health().usable);
    QVERIFY(!m_store->health().degraded);

    m_store->setDegraded(true, u"Redis at 127.0.0.1:6379 refused the connection"_s);
    QVERIFY(m_store->health().degraded);
    QCOMPARE(m_store->health().detail, u"Redis at 127.0.0.1:6379 refused the connection"_s);
    QCOMPARE(changed.size(), 1);

    m_store->setDegraded(true, u"Redis at 127.0.0.1:6379 refused the connection"_s);
    QCOMPARE(changed.size(), 1);

    m_store->setDegraded(false);
    QVERIFY(!m_store->health().degraded);
    QVERIFY(m_store->health().detail.isEmpty());
    QCOMPARE(changed.size(), 2);
}

QTEST_GUILESS_MAIN(TestMemoryStore)
#include "tst_memorystore.moc"
