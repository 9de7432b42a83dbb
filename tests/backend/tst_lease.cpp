// Lease on a MemoryStore with a manual clock: acquisition, renewal schedule,
// loss, and release that never deletes a later holder's key.
#include "lease.h"
#include "memorystore.h"

#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;
using namespace std::chrono_literals;

namespace {

constexpr int kWaitMs = 1000;
const QString kKey = u"inflight:c1:a1"_s;

} // namespace

class TestLease : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void acquireHoldsKey();
    void secondLeaseBusy();
    void notDueBeforeInterval();
    void renewsOnSchedule();
    void renewalsKeepKey();
    void lossWhenKeyGone();
    void lossWhenOwnerChanged();
    void releaseDeletes();
    void staleReleaseKeepsNewHolder();
    void reconcilerTtl();
    void destructorReleases();
    void reacquireNewToken();
    void timerDrivesRenewal();

private:
    LeaseOptions options(std::chrono::milliseconds ttl = 60s,
                         std::chrono::milliseconds renewInterval = 20s);
    bool acquire(Lease &lease);
    // Calls renewIfDue() and waits until the store's reply has been handled.
    void renew(Lease &lease);
    std::optional<QByteArray> storedToken();

    qint64 m_now = 0;
    std::unique_ptr<MemoryStore> m_store;
};

void TestLease::init()
{
    m_now = 7'000'000;
    m_store = std::make_unique<MemoryStore>([this] { return m_now; });
}

void TestLease::cleanup()
{
    m_store.reset();
}

LeaseOptions TestLease::options(std::chrono::milliseconds ttl,
                                std::chrono::milliseconds renewInterval)
{
    LeaseOptions result;
    result.ttl = ttl;
    result.renewInterval = renewInterval;
    result.clock = [this] { return m_now; };
    return result;
}

bool TestLease::acquire(Lease &lease)
{
    QSignalSpy finished(&lease, &Lease::acquireFinished);
    lease.acquire();
    if (!finished.wait(kWaitMs))
        return false;
    return finished.first().first().toBool();
}

void TestLease::renew(Lease &lease)
{
    lease.renewIfDue();
    // A store round trip behind the renewal: its reply arrives after the
    // renewal's reply has been handled.
    bool flushed = false;
    m_store->get(kKey, this, [&flushed](const auto &) { flushed = true; });
    if (!QTest::qWaitFor([&flushed] { return flushed; }, kWaitMs))
        QTest::qFail("The store did not reply after a renewal.", __FILE__, __LINE__);
}

std::optional<QByteArray> TestLease::storedToken()
{
    std::optional<std::optional<QByteArray>> stored;
    m_store->get(kKey, this, [&stored](const Result<std::optional<QByteArray>> &result) {
        stored = result ? result.value() : std::nullopt;
    });
    if (!QTest::qWaitFor([&stored] { return stored.has_value(); }, kWaitMs))
        QTest::qFail("The store did not reply to get().", __FILE__, __LINE__);
    return stored.value_or(std::nullopt);
}

void TestLease::acquireHoldsKey()
{
    Lease lease(*m_store, kKey, options());

    QVERIFY(acquire(lease));
    QVERIFY(lease.isHeld());
    QCOMPARE(lease.state(), Lease::State::Held);
    QCOMPARE(lease.token().size(), 32);
    QCOMPARE(storedToken(), std::optional<QByteArray>(lease.token()));
    QCOMPARE(lease.lastRenewedAt(), m_now);
}

void TestLease::secondLeaseBusy()
{
    Lease first(*m_store, kKey, options());
    Lease second(*m_store, kKey, options());

    QVERIFY(acquire(first));
    QVERIFY(!acquire(second));
    QCOMPARE(second.state(), Lease::State::Idle);
    QVERIFY(first.token() != second.token());
    QCOMPARE(storedToken(), std::optional<QByteArray>(first.token()));
}

void TestLease::notDueBeforeInterval()
{
    Lease lease(*m_store, kKey, options());
    QVERIFY(acquire(lease));
    const qint64 acquiredAt = m_now;

    m_now += 19'999;
    renew(lease);
    QCOMPARE(lease.lastRenewedAt(), acquiredAt);

    // Without a renewal the key ends with the first TTL.
    m_now = acquiredAt + 60'000;
    QCOMPARE(storedToken(), std::nullopt);
}

void TestLease::renewsOnSchedule()
{
    Lease lease(*m_store, kKey, options());
    QVERIFY(acquire(lease));
    const qint64 acquiredAt = m_now;

    m_now += 20'000;
    renew(lease);
    QCOMPARE(lease.lastRenewedAt(), acquiredAt + 20'000);
    QVERIFY(lease.isHeld());

    // The renewal at 20 s moved the expiry to 80 s.
    m_now = acquiredAt + 79'999;
    QCOMPARE(storedToken(), std::optional<QByteArray>(lease.token()));
    m_now = acquiredAt + 80'000;
    QCOMPARE(storedToken(), std::nullopt);
}

void TestLease::renewalsKeepKey()
{
    Lease lease(*m_store, kKey, options());
    QSignalSpy lost(&lease, &Lease::lost);
    QVERIFY(acquire(lease));

    for (int cycle = 0; cycle < 10; ++cycle) {
        m_now += 20'000;
        renew(lease);
    }

    QVERIFY(lease.isHeld());
    QCOMPARE(lost.size(), 0);
    QCOMPARE(storedToken(), std::optional<QByteArray>(lease.token()));
}

void TestLease::lossWhenKeyGone()
{
    Lease lease(*m_store, kKey, options());
    QSignalSpy lost(&lease, &Lease::lost);
    QVERIFY(acquire(lease));

    m_store->remove(kKey, this, {});
    m_now += 20'000;
    renew(lease);

    QCOMPARE(lost.size(), 1);
    QCOMPARE(lease.state(), Lease::State::Idle);
}

void TestLease::lossWhenOwnerChanged()
{
    Lease stale(*m_store, kKey, options());
    Lease next(*m_store, kKey, options());
    QSignalSpy lost(&stale, &Lease::lost);
    QVERIFY(acquire(stale));

    // The stale holder missed its renewals; its key expired and was taken.
    m_now += 60'000;
    QVERIFY(acquire(next));
    renew(stale);

    QCOMPARE(lost.size(), 1);
    QVERIFY(!stale.isHeld());
    QVERIFY(next.isHeld());
    QCOMPARE(storedToken(), std::optional<QByteArray>(next.token()));
}

void TestLease::releaseDeletes()
{
    Lease lease(*m_store, kKey, options());
    QSignalSpy released(&lease, &Lease::released);
    QVERIFY(acquire(lease));

    lease.release();
    QCOMPARE(lease.state(), Lease::State::Releasing);
    QVERIFY(released.wait(kWaitMs));

    QCOMPARE(released.first().first().toBool(), true);
    QCOMPARE(lease.state(), Lease::State::Idle);
    QCOMPARE(storedToken(), std::nullopt);
}

void TestLease::staleReleaseKeepsNewHolder()
{
    Lease stale(*m_store, kKey, options());
    Lease next(*m_store, kKey, options());
    QSignalSpy released(&stale, &Lease::released);
    QVERIFY(acquire(stale));

    m_now += 60'000;
    QVERIFY(acquire(next));
    stale.release();
    QVERIFY(released.wait(kWaitMs));

    QCOMPARE(released.first().first().toBool(), false);
    QCOMPARE(storedToken(), std::optional<QByteArray>(next.token()));
}

void TestLease::reconcilerTtl()
{
    Lease lease(*m_store, u"reconciler"_s, options(55s, 20s));
    QSignalSpy finished(&lease, &Lease::acquireFinished);
    lease.acquire();
    QVERIFY(finished.wait(kWaitMs));
    QVERIFY(lease.isHeld());

    Lease other(*m_store, u"reconciler"_s, options(55s, 20s));
    QSignalSpy otherFinished(&other, &Lease::acquireFinished);
    m_now += 54'999;
    other.acquire();
    QVERIFY(otherFinished.wait(kWaitMs));
    QCOMPARE(otherFinished.first().first().toBool(), false);

    m_now += 1;
    other.acquire();
    QVERIFY(otherFinished.wait(kWaitMs));
    QCOMPARE(otherFinished.at(1).first().toBool(), true);
}

void TestLease::destructorReleases()
{
    QByteArray token;
    {
        Lease lease(*m_store, kKey, options());
        QVERIFY(acquire(lease));
        token = lease.token();
    }

    QCOMPARE(storedToken(), std::nullopt);
    Lease next(*m_store, kKey, options());
    QVERIFY(acquire(next));
    QVERIFY(next.token() != token);
}

void TestLease::reacquireNewToken()
{
    Lease lease(*m_store, kKey, options());
    QSignalSpy released(&lease, &Lease::released);

    QVERIFY(acquire(lease));
    const QByteArray firstToken = lease.token();
    lease.release();
    QVERIFY(released.wait(kWaitMs));

    QVERIFY(acquire(lease));
    QVERIFY(lease.token() != firstToken);
    QCOMPARE(storedToken(), std::optional<QByteArray>(lease.token()));
}

void TestLease::timerDrivesRenewal()
{
    // A 10 ms interval keeps the real wait to a few event-loop turns.
    Lease lease(*m_store, kKey, options(1000ms, 10ms));
    QVERIFY(acquire(lease));
    const qint64 acquiredAt = m_now;

    m_now += 10;
    QTRY_COMPARE_WITH_TIMEOUT(lease.lastRenewedAt(), acquiredAt + 10, kWaitMs);
    QVERIFY(lease.isHeld());
}

QTEST_GUILESS_MAIN(TestLease)
#include "tst_lease.moc"
