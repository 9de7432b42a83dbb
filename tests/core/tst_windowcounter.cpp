// Sliding-window counting per key, limits, and the bound on stored events and keys.
#include "windowcounter.h"

#include <QTest>

#include <chrono>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace std::chrono_literals;

class TestWindowCounter : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void recordReturnsCount();
    void sameMillisecondCounts();
    void oldEventsDrop();
    void windowEdge();
    void keysAreSeparate();
    void limits_data();
    void limits();
    void resetForgetsKey();
    void idleKeysDisappear();
    void purgeDropsIdleKeys();
    void burstTakesOneEntry();
    void defaultClockCounts();

private:
    qint64 m_now = 0;
    MonotonicClock clock()
    {
        return [this] { return m_now; };
    }
};

void TestWindowCounter::init()
{
    m_now = 1'000'000;
}

void TestWindowCounter::recordReturnsCount()
{
    WindowCounter counter(1min, 30, clock());

    QCOMPARE(counter.record(u"agent-1"_s), 1);
    m_now += 10;
    QCOMPARE(counter.record(u"agent-1"_s), 2);
    QCOMPARE(counter.count(u"agent-1"_s), 2);
}

void TestWindowCounter::sameMillisecondCounts()
{
    WindowCounter counter(1min, 30, clock());

    for (int i = 1; i <= 5; ++i)
        QCOMPARE(counter.record(u"agent-1"_s), i);
    QCOMPARE(counter.count(u"agent-1"_s), 5);
}

void TestWindowCounter::oldEventsDrop()
{
    WindowCounter counter(1min, 30, clock());

    counter.record(u"agent-1"_s);
    m_now += 30'000;
    counter.record(u"agent-1"_s);
    m_now += 30'000;

    QCOMPARE(counter.count(u"agent-1"_s), 1);
    m_now += 30'000;
    QCOMPARE(counter.count(u"agent-1"_s), 0);
}

void TestWindowCounter::windowEdge()
{
    WindowCounter counter(1min, 30, clock());

    counter.record(u"agent-1"_s);
    m_now += 59'999;
    QCOMPARE(counter.count(u"agent-1"_s), 1);
    m_now += 1;
    QCOMPARE(counter.count(u"agent-1"_s), 0);
}

void TestWindowCounter::keysAreSeparate()
{
    WindowCounter counter(1min, 30, clock());

    counter.record(u"agent-1"_s);
    counter.record(u"agent-1"_s);
    counter.record(u"agent-2"_s);

    QCOMPARE(counter.count(u"agent-1"_s), 2);
    QCOMPARE(counter.count(u"agent-2"_s), 1);
    QCOMPARE(counter.count(u"agent-3"_s), 0);
}

void TestWindowCounter::limits_data()
{
    QTest::addColumn<qint64>("windowMs");
    QTest::addColumn<int>("limit");

    QTest::newRow("jit 30 per minute") << qint64(60'000) << 30;
    QTest::newRow("flood 100 in 5 min") << qint64(300'000) << 100;
    QTest::newRow("mismatch 10 in 5 min") << qint64(300'000) << 10;
    QTest::newRow("reconnects 5 per minute") << qint64(60'000) << 5;
}

void TestWindowCounter::limits()
{
    QFETCH(qint64, windowMs);
    QFETCH(int, limit);

    WindowCounter counter(std::chrono::milliseconds(windowMs), limit, clock());
    const qint64 step = windowMs / (limit + 2);

    for (int i = 0; i < limit; ++i) {
        counter.record(u"agent-1"_s);
        m_now += step;
    }
    QVERIFY(!counter.exceeds(u"agent-1"_s));

    QCOMPARE(counter.record(u"agent-1"_s), limit + 1);
    QVERIFY(counter.exceeds(u"agent-1"_s));
    QVERIFY(counter.exceeds(u"agent-1"_s, limit));
    QVERIFY(!counter.exceeds(u"agent-1"_s, limit + 1));

    // Once the first event leaves the window the count is back at the limit.
    m_now += windowMs - limit * step;
    QCOMPARE(counter.count(u"agent-1"_s), limit);
    QVERIFY(!counter.exceeds(u"agent-1"_s));
}

void TestWindowCounter::resetForgetsKey()
{
    WindowCounter counter(5min, 10, clock());

    for (int i = 0; i < 12; ++i)
        counter.record(u"agent-1"_s);
    QVERIFY(counter.exceeds(u"agent-1"_s));

    counter.reset(u"agent-1"_s);
    QCOMPARE(counter.count(u"agent-1"_s), 0);
    QCOMPARE(counter.keyCount(), 0);
}

void TestWindowCounter::idleKeysDisappear()
{
    WindowCounter counter(1min, 30, clock());

    for (int i = 0; i < 100; ++i)
        counter.record(u"agent-%1"_s.arg(i));
    QCOMPARE(counter.keyCount(), 100);

    // Recording for one key after a full window sweeps the idle ones.
    m_now += 60'000;
    counter.record(u"agent-active"_s);
    QCOMPARE(counter.keyCount(), 1);
    QCOMPARE(counter.storedEntryCount(), 1);
}

void TestWindowCounter::purgeDropsIdleKeys()
{
    WindowCounter counter(1min, 30, clock());

    counter.record(u"agent-1"_s);
    m_now += 30'000;
    counter.record(u"agent-2"_s);
    m_now += 30'000;

    counter.purge();
    QCOMPARE(counter.keyCount(), 1);
    QCOMPARE(counter.count(u"agent-2"_s), 1);
}

void TestWindowCounter::burstTakesOneEntry()
{
    WindowCounter counter(1min, 30, clock());

    for (int i = 0; i < 1000; ++i)
        counter.record(u"agent-1"_s);
    QCOMPARE(counter.count(u"agent-1"_s), 1000);
    QCOMPARE(counter.storedEntryCount(), 1);

    // Spread over the window, entries stay bounded by the window's milliseconds.
    for (int i = 0; i < 70'000; ++i) {
        ++m_now;
        counter.record(u"agent-1"_s);
    }
    QVERIFY2(counter.storedEntryCount() <= 60'000,
             qPrintable(QString::number(counter.storedEntryCount())));
    QCOMPARE(counter.count(u"agent-1"_s), 60'000);
}

void TestWindowCounter::defaultClockCounts()
{
    WindowCounter counter(1min, 1);

    counter.record(u"agent-1"_s);
    counter.record(u"agent-1"_s);
    QVERIFY(counter.exceeds(u"agent-1"_s));
}

QTEST_GUILESS_MAIN(TestWindowCounter)
#include "tst_windowcounter.moc"
