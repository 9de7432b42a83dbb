// The reconciler's backoff table with retirement, and jittered exponential backoff.
#include "backoff.h"

#include <QSet>
#include <QTest>

#include <chrono>

using namespace sealrelay;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

// Random sources that pin the jitter to one end of its range.
quint64 lowestValue(quint64 lowest, quint64)
{
    return lowest;
}

quint64 highestValue(quint64, quint64 highest)
{
    return highest;
}

} // namespace

class TestBackoff : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reconcilerDelays_data();
    void reconcilerDelays();
    void reconcilerRetiresAtTenth();
    void negativeAttemptIsFirst();
    void customTable();
    void tableEndRepeats();
    void ceilingDoubles_data();
    void ceilingDoubles();
    void jitterLowestBound();
    void jitterHighestBound();
    void jitterClampsSource();
    void jitterWithinBounds_data();
    void jitterWithinBounds();
    void jitterVaries();
    void presets();
};

void TestBackoff::reconcilerDelays_data()
{
    QTest::addColumn<int>("attempt");
    QTest::addColumn<qint64>("delayMs");

    QTest::newRow("attempt 0") << 0 << qint64(30'000);
    QTest::newRow("attempt 1") << 1 << qint64(120'000);
    QTest::newRow("attempt 2") << 2 << qint64(480'000);
    QTest::newRow("attempt 3") << 3 << qint64(1'800'000);
    QTest::newRow("attempt 4") << 4 << qint64(7'200'000);
    QTest::newRow("attempt 5") << 5 << qint64(7'200'000);
    QTest::newRow("attempt 8") << 8 << qint64(7'200'000);
}

void TestBackoff::reconcilerDelays()
{
    QFETCH(int, attempt);
    QFETCH(qint64, delayMs);

    const auto delay = BackoffSchedule::reconciler().delayAfterFailure(attempt);
    QVERIFY(delay.has_value());
    QCOMPARE(delay->count(), delayMs);
}

void TestBackoff::reconcilerRetiresAtTenth()
{
    const BackoffSchedule schedule = BackoffSchedule::reconciler();

    QCOMPARE(schedule.retireAtFailure(), 10);
    QVERIFY(!schedule.retires(9));
    QVERIFY(schedule.retires(10));
    QVERIFY(schedule.retires(11));
    // Attempt 9 is the tenth try, so its failure retires the row.
    QVERIFY(schedule.delayAfterFailure(8).has_value());
    QVERIFY(!schedule.delayAfterFailure(9).has_value());
    QVERIFY(!schedule.delayAfterFailure(25).has_value());
    QCOMPARE(schedule.delays().size(), 10);
    QCOMPARE(schedule.delays().at(9), milliseconds(2h));
}

void TestBackoff::negativeAttemptIsFirst()
{
    const auto delay = BackoffSchedule::reconciler().delayAfterFailure(-3);
    QVERIFY(delay.has_value());
    QCOMPARE(*delay, milliseconds(30s));
}

void TestBackoff::customTable()
{
    const BackoffSchedule schedule({1s, 5s}, 3);

    QCOMPARE(schedule.delayAfterFailure(0), std::optional<milliseconds>(1s));
    QCOMPARE(schedule.delayAfterFailure(1), std::optional<milliseconds>(5s));
    QVERIFY(!schedule.delayAfterFailure(2).has_value());
    QCOMPARE(schedule.retireAtFailure(), 3);
}

void TestBackoff::tableEndRepeats()
{
    const BackoffSchedule schedule({1s, 5s}, 100);

    QCOMPARE(schedule.delayAfterFailure(2), std::optional<milliseconds>(5s));
    QCOMPARE(schedule.delayAfterFailure(50), std::optional<milliseconds>(5s));
}

void TestBackoff::ceilingDoubles_data()
{
    QTest::addColumn<int>("attempt");
    QTest::addColumn<qint64>("ceilingMs");

    QTest::newRow("attempt 0") << 0 << qint64(1'000);
    QTest::newRow("attempt 1") << 1 << qint64(2'000);
    QTest::newRow("attempt 5") << 5 << qint64(32'000);
    QTest::newRow("attempt 6 capped") << 6 << qint64(60'000);
    QTest::newRow("attempt 1000 capped") << 1000 << qint64(60'000);
}

void TestBackoff::ceilingDoubles()
{
    QFETCH(int, attempt);
    QFETCH(qint64, ceilingMs);

    const ExponentialBackoff backoff(1s, 60s, lowestValue);
    QCOMPARE(backoff.ceiling(attempt).count(), ceilingMs);
}

void TestBackoff::jitterLowestBound()
{
    const ExponentialBackoff backoff(1s, 60s, lowestValue);

    QCOMPARE(backoff.delay(0), milliseconds(1s));
    QCOMPARE(backoff.delay(10), milliseconds(1s));
}

void TestBackoff::jitterHighestBound()
{
    const ExponentialBackoff backoff(1s, 60s, highestValue);

    QCOMPARE(backoff.delay(0), milliseconds(1s));
    QCOMPARE(backoff.delay(3), milliseconds(8s));
    QCOMPARE(backoff.delay(10), milliseconds(60s));
}

void TestBackoff::jitterClampsSource()
{
    const ExponentialBackoff above(1s, 60s, [](quint64, quint64) { return quint64(10'000'000); });
    const ExponentialBackoff below(1s, 60s, [](quint64, quint64) { return quint64(0); });

    QCOMPARE(above.delay(2), milliseconds(4s));
    QCOMPARE(below.delay(2), milliseconds(1s));
}

void TestBackoff::jitterWithinBounds_data()
{
    QTest::addColumn<qint64>("minimumMs");
    QTest::addColumn<qint64>("maximumMs");

    QTest::newRow("agent reconnect") << qint64(1'000) << qint64(60'000);
    QTest::newRow("backfill wait") << qint64(1'000) << qint64(300'000);
    QTest::newRow("equal bounds") << qint64(500) << qint64(500);
}

void TestBackoff::jitterWithinBounds()
{
    QFETCH(qint64, minimumMs);
    QFETCH(qint64, maximumMs);

    const ExponentialBackoff backoff{milliseconds(minimumMs), milliseconds(maximumMs)};
    for (int attempt = 0; attempt < 20; ++attempt) {
        for (int draw = 0; draw < 50; ++draw) {
            const qint64 delay = backoff.delay(attempt).count();
            QVERIFY2(delay >= minimumMs, qPrintable(QString::number(delay)));
            QVERIFY2(delay <= backoff.ceiling(attempt).count(), qPrintable(QString::number(delay)));
            QVERIFY2(delay <= maximumMs, qPrintable(QString::number(delay)));
        }
    }
}

void TestBackoff::jitterVaries()
{
    const ExponentialBackoff backoff(1s, 60s);
    QSet<qint64> seen;
    for (int draw = 0; draw < 50; ++draw)
        seen.insert(backoff.delay(10).count());
    QVERIFY2(seen.size() > 10, qPrintable(QString::number(seen.size())));
}

void TestBackoff::presets()
{
    const ExponentialBackoff agent = ExponentialBackoff::agentReconnect();
    const ExponentialBackoff backfill = ExponentialBackoff::backfillReconnect();

    QCOMPARE(agent.minimum(), milliseconds(1s));
    QCOMPARE(agent.maximum(), milliseconds(60s));
    QCOMPARE(backfill.minimum(), milliseconds(1s));
    QCOMPARE(backfill.maximum(), milliseconds(5min));
}

QTEST_GUILESS_MAIN(TestBackoff)
#include "tst_backoff.moc"
