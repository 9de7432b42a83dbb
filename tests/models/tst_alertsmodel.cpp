// AlertsModel and AlertsFilterModel: newest-first order with unacknowledged
// critical alerts pinned, the unacknowledged count, filters by severity,
// acknowledged state and search text, and a burst of 5,000 raise and
// acknowledge events applied in batches.
#include "alertsmodel.h"
#include "ids.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <memory>
#include <numeric>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::models;

namespace {

QDateTime baseTime()
{
    return QDateTime(QDate(2026, 12, 10), QTime(2, 0), Qt::UTC);
}

QString timeText(int minutes)
{
    return baseTime().addSecs(minutes * 60).toString(Qt::ISODateWithMs);
}

// An alert as GET /api/alerts returns it, last seen `minutes` after 02:00.
QJsonObject alertJson(const QString &alertId, const QString &severity, int minutes, int count = 1,
                      bool acknowledged = false)
{
    return QJsonObject {
        { u"alert_id"_s, alertId },
        { u"type"_s, u"credential_sync_stalled"_s },
        { u"severity"_s, severity },
        { u"subject"_s, u"credential:0d7c3f7e-5a51-4bd4-8f0b-0e0f3d1c2a11"_s },
        { u"details"_s, QJsonObject { { u"attempts"_s, 10 } } },
        { u"first_seen"_s, timeText(0) },
        { u"last_seen"_s, timeText(minutes) },
        { u"count"_s, count },
        { u"acknowledged_at"_s, acknowledged ? QJsonValue(timeText(minutes)) : QJsonValue() },
        { u"acknowledged_by"_s, acknowledged ? QJsonValue(u"ops@example.test"_s) : QJsonValue() },
    };
}

QJsonObject raisedEvent(const QJsonObject &alert)
{
    return QJsonObject { { u"type"_s, u"alert_raised"_s }, { u"data"_s, alert } };
}

QJsonObject acknowledgedEvent(const QString &alertId)
{
    return QJsonObject {
        { u"type"_s, u"alert_acknowledged"_s },
        { u"data"_s,
          QJsonObject { { u"alert_id"_s, alertId },
                        { u"acknowledged_by"_s, u"ops@example.test"_s },
                        { u"acknowledged_at"_s, timeText(90) } } },
    };
}

QStringList idsInOrder(const QAbstractItemModel &model)
{
    QStringList ids;
    for (int row = 0; row < model.rowCount(); ++row)
        ids.append(model.index(row, 0).data(AlertsModel::AlertIdRole).toString());
    return ids;
}

} // namespace

class TestAlertsModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();

    void severityRanked_data();
    void severityRanked();
    void rolesFromSnapshot();
    void newestFirst();
    void criticalPinnedUntilAcknowledged();
    void raiseBumpsExisting();
    void unacknowledgedCountUpdates();
    void unknownAcknowledgementIgnored();
    void filterBySeverity();
    void filterByAcknowledged();
    void search_data();
    void search();
    void searchWithSeverity();
    void searchNotifies();
    void burstAppliedInBatches();

private:
    std::unique_ptr<AlertsModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
    std::unique_ptr<AlertsFilterModel> m_filter;
    std::unique_ptr<QAbstractItemModelTester> m_filterTester;
};

void TestAlertsModel::init()
{
    m_filterTester.reset();
    m_filter.reset();
    m_tester.reset();
    m_model = std::make_unique<AlertsModel>();
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    m_filter = std::make_unique<AlertsFilterModel>();
    m_filter->setSourceModel(m_model.get());
    m_filterTester = std::make_unique<QAbstractItemModelTester>(
        m_filter.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

void TestAlertsModel::severityRanked_data()
{
    QTest::addColumn<QString>("severity");
    QTest::addColumn<int>("rank");

    QTest::newRow("critical") << u"critical"_s << 3;
    QTest::newRow("high") << u"high"_s << 2;
    QTest::newRow("medium") << u"medium"_s << 1;
    QTest::newRow("unknown") << u"low"_s << 0;
    QTest::newRow("empty") << QString() << 0;
}

void TestAlertsModel::severityRanked()
{
    QFETCH(QString, severity);
    QFETCH(int, rank);

    QCOMPARE(severityRank(severity), rank);
    m_model->loadSnapshot(QJsonArray { alertJson(u"a1"_s, severity, 1) });
    QCOMPARE(m_model->index(0).data(AlertsModel::SeverityRankRole).toInt(), rank);
}

void TestAlertsModel::rolesFromSnapshot()
{
    m_model->loadSnapshot(QJsonArray { alertJson(u"a1"_s, u"high"_s, 5, 3, true) });
    const QModelIndex row = m_model->index(0);
    QCOMPARE(row.data(AlertsModel::AlertIdRole).toString(), u"a1"_s);
    QCOMPARE(row.data(AlertsModel::TypeRole).toString(), u"credential_sync_stalled"_s);
    QCOMPARE(row.data(AlertsModel::SeverityRole).toString(), u"high"_s);
    QCOMPARE(row.data(AlertsModel::SubjectRole).toString(),
             u"credential:0d7c3f7e-5a51-4bd4-8f0b-0e0f3d1c2a11"_s);
    QCOMPARE(row.data(AlertsModel::DetailsRole).toMap().value(u"attempts"_s).toInt(), 10);
    QCOMPARE(row.data(AlertsModel::FirstSeenRole).toDateTime(), baseTime());
    QCOMPARE(row.data(AlertsModel::LastSeenRole).toDateTime(), baseTime().addSecs(300));
    QCOMPARE(row.data(AlertsModel::CountRole).toInt(), 3);
    QVERIFY(row.data(AlertsModel::AcknowledgedRole).toBool());
    QCOMPARE(row.data(AlertsModel::AcknowledgedByRole).toString(), u"ops@example.test"_s);
}

void TestAlertsModel::newestFirst()
{
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"old"_s, u"high"_s, 1),
        alertJson(u"new"_s, u"medium"_s, 9),
        alertJson(u"mid"_s, u"high"_s, 5),
    });
    QCOMPARE(idsInOrder(*m_model), (QStringList { u"new"_s, u"mid"_s, u"old"_s }));
}

void TestAlertsModel::criticalPinnedUntilAcknowledged()
{
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"critical"_s, u"critical"_s, 1),
        alertJson(u"newer"_s, u"high"_s, 9),
    });
    QCOMPARE(idsInOrder(*m_model), (QStringList { u"critical"_s, u"newer"_s }));

    QSignalSpy layouts(m_model.get(), &QAbstractItemModel::layoutChanged);
    m_model->enqueue(acknowledgedEvent(u"critical"_s));
    m_model->flush();
    QCOMPARE(layouts.size(), 1);
    QCOMPARE(idsInOrder(*m_model), (QStringList { u"newer"_s, u"critical"_s }));
}

void TestAlertsModel::raiseBumpsExisting()
{
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"a1"_s, u"high"_s, 1),
        alertJson(u"a2"_s, u"high"_s, 5),
    });
    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    m_model->enqueue(raisedEvent(alertJson(u"a1"_s, u"high"_s, 10, 2)));
    m_model->flush();
    QCOMPARE(inserted.size(), 0);
    QCOMPARE(changes.size(), 1);
    QCOMPARE(m_model->rowCount(), 2);
    QCOMPARE(idsInOrder(*m_model), (QStringList { u"a1"_s, u"a2"_s }));
    QCOMPARE(m_model->index(0).data(AlertsModel::CountRole).toInt(), 2);

    m_model->enqueue(raisedEvent(alertJson(u"a3"_s, u"medium"_s, 11)));
    m_model->flush();
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(idsInOrder(*m_model), (QStringList { u"a3"_s, u"a1"_s, u"a2"_s }));
}

void TestAlertsModel::unacknowledgedCountUpdates()
{
    QSignalSpy counts(m_model.get(), &AlertsModel::unacknowledgedCountChanged);
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"a1"_s, u"high"_s, 1),
        alertJson(u"a2"_s, u"high"_s, 2),
        alertJson(u"a3"_s, u"high"_s, 3, 1, true),
    });
    QCOMPARE(m_model->unacknowledgedCount(), 2);
    QCOMPARE(m_model->property("unacknowledgedCount").toInt(), 2);
    QCOMPARE(counts.size(), 1);

    m_model->enqueue(raisedEvent(alertJson(u"a4"_s, u"critical"_s, 4)));
    m_model->flush();
    QCOMPARE(m_model->unacknowledgedCount(), 3);
    QCOMPARE(counts.size(), 2);
    QCOMPARE(counts.last().at(0).toInt(), 3);

    m_model->enqueue(acknowledgedEvent(u"a1"_s));
    m_model->enqueue(acknowledgedEvent(u"a4"_s));
    m_model->flush();
    QCOMPARE(m_model->unacknowledgedCount(), 1);
    QCOMPARE(counts.size(), 3);

    // A bump that changes nothing about acknowledgement emits no count change.
    m_model->enqueue(raisedEvent(alertJson(u"a2"_s, u"high"_s, 20, 2)));
    m_model->flush();
    QCOMPARE(counts.size(), 3);
}

void TestAlertsModel::unknownAcknowledgementIgnored()
{
    m_model->loadSnapshot(QJsonArray { alertJson(u"a1"_s, u"high"_s, 1) });
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    m_model->enqueue(acknowledgedEvent(u"missing"_s));
    m_model->flush();
    QCOMPARE(changes.size(), 0);
    QCOMPARE(m_model->rowCount(), 1);
    QCOMPARE(m_model->unacknowledgedCount(), 1);
}

void TestAlertsModel::filterBySeverity()
{
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"a1"_s, u"high"_s, 1),
        alertJson(u"a2"_s, u"critical"_s, 2),
        alertJson(u"a3"_s, u"medium"_s, 3),
        alertJson(u"a4"_s, u"high"_s, 4),
    });
    QCOMPARE(m_filter->rowCount(), 4);
    m_filter->setSeverity(u"high"_s);
    QCOMPARE(idsInOrder(*m_filter), (QStringList { u"a4"_s, u"a1"_s }));
    m_filter->setSeverity(QString());
    QCOMPARE(m_filter->rowCount(), 4);
}

void TestAlertsModel::filterByAcknowledged()
{
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"a1"_s, u"high"_s, 1),
        alertJson(u"a2"_s, u"high"_s, 2, 1, true),
    });
    m_filter->setAcknowledged(AlertsFilterModel::Acknowledged::Unacknowledged);
    QCOMPARE(idsInOrder(*m_filter), QStringList { u"a1"_s });
    m_filter->setAcknowledged(AlertsFilterModel::Acknowledged::Acknowledged);
    QCOMPARE(idsInOrder(*m_filter), QStringList { u"a2"_s });

    // A live acknowledgement moves the row into the acknowledged view.
    m_model->enqueue(acknowledgedEvent(u"a1"_s));
    m_model->flush();
    QCOMPARE(m_filter->rowCount(), 2);
}

void TestAlertsModel::search_data()
{
    QTest::addColumn<QString>("search");
    QTest::addColumn<QStringList>("ids");

    QTest::newRow("empty") << QString() << QStringList { u"a3"_s, u"a2"_s, u"a1"_s };
    QTest::newRow("type in words") << u"sync stalled"_s << QStringList { u"a1"_s };
    QTest::newRow("type as sent") << u"credential_sync_stalled"_s << QStringList { u"a1"_s };
    QTest::newRow("type, other case") << u"Commitment Flood"_s << QStringList { u"a2"_s };
    QTest::newRow("subject id") << u"2d9b7b2a"_s << QStringList { u"a2"_s };
    QTest::newRow("subject kind") << u"agent:"_s << QStringList { u"a3"_s, u"a2"_s };
    QTest::newRow("surrounding spaces") << u"  flood  "_s << QStringList { u"a2"_s };
    QTest::newRow("no match") << u"audit"_s << QStringList();
}

void TestAlertsModel::search()
{
    QFETCH(QString, search);
    QFETCH(QStringList, ids);

    QJsonObject flood = alertJson(u"a2"_s, u"high"_s, 2);
    flood.insert(u"type"_s, u"agent_commitment_flood"_s);
    flood.insert(u"subject"_s, u"agent:2d9b7b2a-ae3f-4a4c-95e6-7f8091a2b3c4"_s);
    QJsonObject rejected = alertJson(u"a3"_s, u"medium"_s, 3);
    rejected.insert(u"type"_s, u"target_certificate_rejected"_s);
    rejected.insert(u"subject"_s, u"agent:0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s);
    m_model->loadSnapshot(QJsonArray { alertJson(u"a1"_s, u"medium"_s, 1), flood, rejected });

    m_filter->setSearch(search);
    QCOMPARE(idsInOrder(*m_filter), ids);
}

void TestAlertsModel::searchWithSeverity()
{
    m_model->loadSnapshot(QJsonArray {
        alertJson(u"a1"_s, u"high"_s, 1),
        alertJson(u"a2"_s, u"medium"_s, 2),
    });
    m_filter->setSearch(u"stalled"_s);
    m_filter->setSeverity(u"high"_s);
    QCOMPARE(idsInOrder(*m_filter), QStringList { u"a1"_s });
}

void TestAlertsModel::searchNotifies()
{
    QSignalSpy changed(m_filter.get(), &AlertsFilterModel::searchChanged);
    QVERIFY(m_filter->setProperty("search", u"stalled"_s));
    QVERIFY(m_filter->setProperty("search", u"stalled "_s));
    QCOMPARE(changed.size(), 1);
    QCOMPARE(m_filter->property("search").toString(), u"stalled"_s);
}

void TestAlertsModel::burstAppliedInBatches()
{
    constexpr int kAlerts = 40;
    constexpr int kEvents = 5000;
    QStringList ids;
    QJsonArray alerts;
    for (int i = 0; i < kAlerts; ++i) {
        ids.append(newUuid());
        alerts.append(alertJson(ids.last(), i % 4 == 0 ? u"critical"_s : u"high"_s, i));
    }
    m_model->loadSnapshot(alerts);
    m_model->setBatchInterval(std::chrono::milliseconds(0));

    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy inserts(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy layouts(m_model.get(), &QAbstractItemModel::layoutChanged);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    QSignalSpy counts(m_model.get(), &AlertsModel::unacknowledgedCountChanged);
    QSignalSpy batches(m_model.get(), &AlertsModel::batchApplied);

    // Repeated raises of the listed alerts, with rising counts and times. The
    // last 20 events acknowledge the even-numbered alerts.
    const int raises = kEvents - kAlerts / 2;
    for (int i = 0; i < raises; ++i) {
        const int alert = i % kAlerts;
        const int round = i / kAlerts;
        m_model->enqueue(raisedEvent(alertJson(ids.at(alert),
                                               alert % 4 == 0 ? u"critical"_s : u"high"_s,
                                               kAlerts + i, round + 2)));
        if (i % 250 == 0)
            QCoreApplication::processEvents();
    }
    for (int alert = 0; alert < kAlerts; alert += 2)
        m_model->enqueue(acknowledgedEvent(ids.at(alert)));

    QTRY_COMPARE_WITH_TIMEOUT(std::accumulate(batches.cbegin(), batches.cend(), 0,
                                              [](int sum, const QList<QVariant> &args) {
                                                  return sum + args.at(0).toInt();
                                              }),
                              kEvents, 10000);
    QCOMPARE(resets.size(), 0);
    QCOMPARE(inserts.size(), 0);
    QVERIFY2(layouts.size() <= batches.size(), "at most one layout change per batch");
    QVERIFY2(changes.size() <= batches.size(), "at most one dataChanged per batch");
    QVERIFY2(batches.size() > 1, "the burst was applied in more than one batch");
    QVERIFY2(batches.size() <= 40, qPrintable(u"%1 batches"_s.arg(batches.size())));
    QVERIFY2(counts.size() <= batches.size(), "at most one count change per batch");

    QCOMPARE(m_model->rowCount(), kAlerts);
    QCOMPARE(m_model->unacknowledgedCount(), kAlerts / 2);
    // The alert raised last is the newest. Every critical alert has an even
    // number and was acknowledged, so nothing is pinned above it.
    const int lastRaised = (raises - 1) % kAlerts;
    QCOMPARE(m_model->index(0).data(AlertsModel::AlertIdRole).toString(), ids.at(lastRaised));
    const int finalRound = (raises - 1) / kAlerts;
    for (int row = 0; row < m_model->rowCount(); ++row) {
        const QModelIndex index = m_model->index(row);
        const int alert =
            static_cast<int>(ids.indexOf(index.data(AlertsModel::AlertIdRole).toString()));
        const int lastRound = alert <= lastRaised ? finalRound : finalRound - 1;
        QCOMPARE(index.data(AlertsModel::CountRole).toInt(), lastRound + 2);
        QCOMPARE(index.data(AlertsModel::AcknowledgedRole).toBool(), alert % 2 == 0);
    }
}

QTEST_GUILESS_MAIN(TestAlertsModel)
#include "tst_alertsmodel.moc"
