// DispatchSlots: the limit holds, waiting syncs are admitted in order with
// the slot handed straight to them, a cancelled place is skipped, and a new
// sync queues behind the ones that wait.
#include "dispatchslots.h"

#include <QTest>

using namespace sealrelay::backend;

class TestDispatchSlots : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void limitHolds();
    void admitsInOrder();
    void cancelledPlaceSkipped();
    void noOvertakingWhileOthersWait();
    void admittedSyncMayGiveSlotBackAtOnce();
};

void TestDispatchSlots::limitHolds()
{
    DispatchSlots slots(2);
    QVERIFY(slots.tryTake());
    QVERIFY(slots.tryTake());
    QVERIFY(!slots.tryTake());
    QCOMPARE(slots.taken(), 2);
    slots.release();
    QCOMPARE(slots.taken(), 1);
    QVERIFY(slots.tryTake());

    // A limit below one still admits one sync at a time.
    DispatchSlots single(0);
    QCOMPARE(single.limit(), 1);
    QVERIFY(single.tryTake());
    QVERIFY(!single.tryTake());
}

void TestDispatchSlots::admitsInOrder()
{
    DispatchSlots slots(1);
    QVERIFY(slots.tryTake());
    QList<int> admitted;
    QList<bool> atOnce;
    for (int sync = 1; sync <= 3; ++sync) {
        QVERIFY(slots.wait([&, sync](bool now) {
            admitted.append(sync);
            atOnce.append(now);
        }) != 0);
    }
    QCOMPARE(slots.waiting(), 3);

    slots.release();
    QCOMPARE(admitted, QList<int>({ 1 }));
    // The slot passed to the admitted sync: none was free in between.
    QCOMPARE(slots.taken(), 1);
    QVERIFY(!slots.tryTake());

    slots.release(true);
    slots.release();
    QCOMPARE(admitted, QList<int>({ 1, 2, 3 }));
    QCOMPARE(atOnce, QList<bool>({ false, true, false }));
    QCOMPARE(slots.waiting(), 0);

    slots.release();
    QCOMPARE(slots.taken(), 0);
}

void TestDispatchSlots::cancelledPlaceSkipped()
{
    DispatchSlots slots(1);
    QVERIFY(slots.tryTake());
    QList<int> admitted;
    const DispatchSlots::Ticket first = slots.wait([&](bool) { admitted.append(1); });
    slots.wait([&](bool) { admitted.append(2); });
    slots.cancel(first);
    // A ticket no longer queued, and the empty ticket, change nothing.
    slots.cancel(first);
    slots.cancel(0);
    QCOMPARE(slots.waiting(), 1);

    slots.release();
    QCOMPARE(admitted, QList<int>({ 2 }));
}

void TestDispatchSlots::noOvertakingWhileOthersWait()
{
    DispatchSlots slots(2);
    QVERIFY(slots.tryTake());
    QVERIFY(slots.tryTake());
    QList<int> admitted;
    slots.wait([&](bool) { admitted.append(1); });
    slots.wait([&](bool) { admitted.append(2); });

    // One slot comes back and goes to the first waiting sync, so a new sync
    // finds none free.
    slots.release();
    QVERIFY(!slots.tryTake());
    QCOMPARE(admitted, QList<int>({ 1 }));
}

void TestDispatchSlots::admittedSyncMayGiveSlotBackAtOnce()
{
    // A sync whose send fails gives its slot back while it is admitted; the
    // next waiting sync then gets it.
    DispatchSlots slots(1);
    QVERIFY(slots.tryTake());
    QList<int> admitted;
    slots.wait([&](bool) {
        admitted.append(1);
        slots.release(true);
    });
    slots.wait([&](bool) { admitted.append(2); });

    slots.release(true);
    QCOMPARE(admitted, QList<int>({ 1, 2 }));
    QCOMPARE(slots.taken(), 1);
    QCOMPARE(slots.waiting(), 0);
}

QTEST_GUILESS_MAIN(TestDispatchSlots)
#include "tst_dispatchslots.moc"
