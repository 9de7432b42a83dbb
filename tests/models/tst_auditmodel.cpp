// AuditModel: paging, the rule for live rows, a burst of 3,000 live rows
// applied in batches, and the chain verification result.
#include "auditmodel.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <memory>
#include <numeric>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::models;

namespace {

const QString kCredentialId = u"0d7c3f7e-5a51-4bd4-8f0b-0e0f3d1c2a11"_s;
const QString kAgentId = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;

QDateTime baseTime()
{
    return QDateTime(QDate(2026, 12, 4), QTime(21, 9), Qt::UTC);
}

// One dispatch row as GET /api/audit returns it.
QJsonObject record(qint64 id)
{
    return QJsonObject {
        { u"id"_s, id },
        { u"at"_s, baseTime().addSecs(id).toString(Qt::ISODateWithMs) },
        { u"event"_s, u"dispatch"_s },
        { u"actor"_s, u"backend"_s },
        { u"credential_id"_s, kCredentialId },
        { u"agent_id"_s, kAgentId },
        { u"outcome"_s, u"timeout"_s },
        { u"reason"_s, u"PEER_TIMEOUT"_s },
        { u"details"_s, QJsonObject { { u"trigger"_s, u"backfill"_s }, { u"version"_s, 2 } } },
        { u"dispatch_audit_id"_s, id },
        { u"prev_hash"_s, u"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="_s },
        { u"row_hash"_s, u"b2YNxDnjEBWSfT9cFehBmqi4+wCfwd4XPftSxVUhWIk="_s },
    };
}

QJsonArray records(qint64 first, qint64 last)
{
    QJsonArray page;
    for (qint64 id = first; id <= last; ++id)
        page.append(record(id));
    return page;
}

QJsonObject appendedEvent(qint64 id)
{
    return QJsonObject { { u"type"_s, u"audit_appended"_s }, { u"data"_s, record(id) } };
}

QList<qint64> idsInOrder(const AuditModel &model)
{
    QList<qint64> ids;
    for (int row = 0; row < model.rowCount(); ++row)
        ids.append(model.index(row).data(AuditModel::IdRole).toLongLong());
    return ids;
}

} // namespace

class TestAuditModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();

    void rolesFromRecord();
    void nullFieldsEmpty();
    void pagesAppended();
    void overlappingPageDeduplicated();
    void malformedPageRejected();
    void liveRowsAppendedOnLastPage();
    void liveRowsSkippedWithMorePages();
    void liveRowsSkippedWhenFiltered();
    void clearResetsPaging();
    void burstAppliedInBatches();
    void verificationRead_data();
    void verificationRead();
    void malformedVerificationRejected_data();
    void malformedVerificationRejected();

private:
    std::unique_ptr<AuditModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestAuditModel::init()
{
    m_tester.reset();
    m_model = std::make_unique<AuditModel>();
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

void TestAuditModel::rolesFromRecord()
{
    QVERIFY(m_model->appendPage(records(7, 7), std::nullopt).ok());
    const QModelIndex row = m_model->index(0);
    QCOMPARE(row.data(AuditModel::IdRole).toLongLong(), 7);
    QCOMPARE(row.data(AuditModel::AtRole).toDateTime(), baseTime().addSecs(7));
    QCOMPARE(row.data(AuditModel::EventRole).toString(), u"dispatch"_s);
    QCOMPARE(row.data(AuditModel::ActorRole).toString(), u"backend"_s);
    QCOMPARE(row.data(AuditModel::CredentialIdRole).toString(), kCredentialId);
    QCOMPARE(row.data(AuditModel::AgentIdRole).toString(), kAgentId);
    QCOMPARE(row.data(AuditModel::OutcomeRole).toString(), u"timeout"_s);
    QCOMPARE(row.data(AuditModel::ReasonRole).toString(), u"PEER_TIMEOUT"_s);
    QCOMPARE(row.data(AuditModel::DetailsRole).toMap().value(u"trigger"_s).toString(),
             u"backfill"_s);
}

void TestAuditModel::nullFieldsEmpty()
{
    QJsonObject row = record(1);
    row.insert(u"credential_id"_s, QJsonValue::Null);
    row.insert(u"agent_id"_s, QJsonValue::Null);
    row.insert(u"reason"_s, QJsonValue::Null);
    QVERIFY(m_model->appendPage(QJsonArray { row }, std::nullopt).ok());
    QCOMPARE(m_model->index(0).data(AuditModel::CredentialIdRole).toString(), QString());
    QCOMPARE(m_model->index(0).data(AuditModel::AgentIdRole).toString(), QString());
    QCOMPARE(m_model->index(0).data(AuditModel::ReasonRole).toString(), QString());
}

void TestAuditModel::pagesAppended()
{
    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy paging(m_model.get(), &AuditModel::pagingChanged);

    QVERIFY(m_model->appendPage(records(1, 100), 100).ok());
    QVERIFY(m_model->hasMore());
    QCOMPARE(m_model->nextAfterId(), 100);
    QCOMPARE(m_model->rowCount(), 100);

    QVERIFY(m_model->appendPage(records(101, 150), std::nullopt).ok());
    QVERIFY(!m_model->hasMore());
    QCOMPARE(m_model->nextAfterId(), 0);
    QCOMPARE(m_model->rowCount(), 150);
    QCOMPARE(m_model->lastId(), 150);
    QCOMPARE(inserted.size(), 2);
    QCOMPARE(paging.size(), 2);
    QCOMPARE(m_model->index(100).data(AuditModel::IdRole).toLongLong(), 101);
}

void TestAuditModel::overlappingPageDeduplicated()
{
    QVERIFY(m_model->appendPage(records(1, 10), 10).ok());
    QVERIFY(m_model->appendPage(records(8, 12), std::nullopt).ok());
    QCOMPARE(m_model->rowCount(), 12);
    QCOMPARE(idsInOrder(*m_model).last(), 12);
}

void TestAuditModel::malformedPageRejected()
{
    QVERIFY(m_model->appendPage(records(1, 2), 2).ok());
    QJsonArray bad = records(3, 4);
    QJsonObject row = bad.at(1).toObject();
    row.insert(u"id"_s, u"4"_s);
    bad.replace(1, row);
    const Result<void> result = m_model->appendPage(bad, std::nullopt);
    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::Malformed);
    QVERIFY(result.error().message.contains(u"records[1]"_s));
    QCOMPARE(m_model->rowCount(), 2);
    QVERIFY(m_model->hasMore());
}

void TestAuditModel::liveRowsAppendedOnLastPage()
{
    QVERIFY(m_model->appendPage(records(1, 5), std::nullopt).ok());
    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    m_model->enqueue(appendedEvent(7));
    m_model->enqueue(appendedEvent(6));
    m_model->enqueue(appendedEvent(5)); // already listed
    m_model->enqueue(QJsonObject { { u"type"_s, u"alert_raised"_s } });
    m_model->flush();
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(idsInOrder(*m_model), (QList<qint64> { 1, 2, 3, 4, 5, 6, 7 }));
}

void TestAuditModel::liveRowsSkippedWithMorePages()
{
    QVERIFY(m_model->appendPage(records(1, 5), 5).ok());
    QSignalSpy batches(m_model.get(), &AuditModel::batchApplied);
    m_model->enqueue(appendedEvent(9));
    m_model->flush();
    QCOMPARE(batches.size(), 1);
    QCOMPARE(m_model->rowCount(), 5);

    // The next pages bring the rows in order, including the skipped one.
    QVERIFY(m_model->appendPage(records(6, 9), std::nullopt).ok());
    QCOMPARE(idsInOrder(*m_model), (QList<qint64> { 1, 2, 3, 4, 5, 6, 7, 8, 9 }));
}

void TestAuditModel::liveRowsSkippedWhenFiltered()
{
    m_model->clear(true);
    QVERIFY(m_model->isFiltered());
    QVERIFY(m_model->appendPage(records(1, 5), std::nullopt).ok());
    m_model->enqueue(appendedEvent(6));
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 5);
}

void TestAuditModel::clearResetsPaging()
{
    QVERIFY(m_model->appendPage(records(1, 5), 5).ok());
    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    m_model->clear(false);
    QCOMPARE(resets.size(), 1);
    QCOMPARE(m_model->rowCount(), 0);
    QVERIFY(!m_model->hasMore());
    QVERIFY(!m_model->isFiltered());
    QCOMPARE(m_model->lastId(), 0);
}

void TestAuditModel::burstAppliedInBatches()
{
    constexpr int kEvents = 3000;
    QVERIFY(m_model->appendPage(records(1, 100), std::nullopt).ok());
    m_model->setBatchInterval(std::chrono::milliseconds(0));

    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy batches(m_model.get(), &AuditModel::batchApplied);
    for (int i = 0; i < kEvents; ++i) {
        m_model->enqueue(appendedEvent(101 + i));
        if (i % 250 == 0)
            QCoreApplication::processEvents();
    }
    QTRY_COMPARE_WITH_TIMEOUT(std::accumulate(batches.cbegin(), batches.cend(), 0,
                                              [](int sum, const QList<QVariant> &args) {
                                                  return sum + args.at(0).toInt();
                                              }),
                              kEvents, 10000);
    QVERIFY2(inserted.size() <= batches.size(), "at most one insert per batch");
    QVERIFY2(batches.size() > 1, "the burst was applied in more than one batch");
    QVERIFY2(batches.size() <= 20, qPrintable(u"%1 batches"_s.arg(batches.size())));
    QCOMPARE(m_model->rowCount(), 100 + kEvents);
    QCOMPARE(m_model->lastId(), 100 + kEvents);
    const QList<qint64> ids = idsInOrder(*m_model);
    QVERIFY(std::is_sorted(ids.cbegin(), ids.cend()));
}

void TestAuditModel::verificationRead_data()
{
    QTest::addColumn<QJsonObject>("reply");
    QTest::addColumn<bool>("intact");
    QTest::addColumn<qint64>("rowsVerified");
    QTest::addColumn<qint64>("headRowId");
    QTest::addColumn<qint64>("breakRowId");
    QTest::addColumn<QString>("breakKind");

    QTest::newRow("intact") << QJsonObject {
        { u"first_break"_s, QJsonValue::Null },
        { u"head"_s,
          QJsonObject { { u"row_hash"_s, u"X2kfu1ofknk6z9blHhFTepDen3ae0AS1pxTIT8DI6HE="_s },
                        { u"row_id"_s, 2 } } },
        { u"intact"_s, true },
        { u"org_id"_s, u"8c680cea-6a3e-4a4a-9a5e-1f3c6d7e8f90"_s },
        { u"rows_verified"_s, 2 },
        { u"verified_at"_s, u"2026-12-04T21:02:39.201Z"_s },
    } << true << qint64(2) << qint64(2) << qint64(0) << QString();
    QTest::newRow("broken") << QJsonObject {
        { u"first_break"_s,
          QJsonObject { { u"row_id"_s, 41 },
                        { u"kind"_s, u"prev_hash_mismatch"_s },
                        { u"message"_s, u"row 41 does not follow row 40"_s } } },
        { u"head"_s, QJsonValue::Null },
        { u"intact"_s, false },
        { u"rows_verified"_s, 40 },
        { u"verified_at"_s, u"2026-12-04T21:02:39.201Z"_s },
    } << false << qint64(40) << qint64(0) << qint64(41) << u"prev_hash_mismatch"_s;
}

void TestAuditModel::verificationRead()
{
    QFETCH(QJsonObject, reply);
    QFETCH(bool, intact);
    QFETCH(qint64, rowsVerified);
    QFETCH(qint64, headRowId);
    QFETCH(qint64, breakRowId);
    QFETCH(QString, breakKind);

    QVERIFY(!m_model->verification().checked);
    QSignalSpy changed(m_model.get(), &AuditModel::verificationChanged);
    QVERIFY(m_model->setVerification(reply).ok());
    QCOMPARE(changed.size(), 1);

    const AuditVerification verification = m_model->verification();
    QVERIFY(verification.checked);
    QCOMPARE(verification.intact, intact);
    QCOMPARE(verification.rowsVerified, rowsVerified);
    QCOMPARE(verification.headRowId, headRowId);
    QCOMPARE(verification.firstBreakRowId, breakRowId);
    QCOMPARE(verification.firstBreakKind, breakKind);
    QCOMPARE(verification.verifiedAt,
             QDateTime(QDate(2026, 12, 4), QTime(21, 2, 39, 201), Qt::UTC));
    // The gadget's properties are what QML reads.
    const QVariant property = m_model->property("verification");
    QCOMPARE(property.value<AuditVerification>().rowsVerified, rowsVerified);

    QVERIFY(m_model->setVerification(reply).ok());
    QCOMPARE(changed.size(), 1);
}

void TestAuditModel::malformedVerificationRejected_data()
{
    QTest::addColumn<QJsonObject>("reply");

    QTest::newRow("missing intact") << QJsonObject { { u"rows_verified"_s, 2 } };
    QTest::newRow("intact as text")
        << QJsonObject { { u"intact"_s, u"true"_s }, { u"rows_verified"_s, 2 } };
    QTest::newRow("missing rows_verified") << QJsonObject { { u"intact"_s, true } };
    QTest::newRow("first_break as text") << QJsonObject {
        { u"intact"_s, false }, { u"rows_verified"_s, 2 }, { u"first_break"_s, u"row 3"_s }
    };
}

void TestAuditModel::malformedVerificationRejected()
{
    QFETCH(QJsonObject, reply);

    QSignalSpy changed(m_model.get(), &AuditModel::verificationChanged);
    const Result<void> result = m_model->setVerification(reply);
    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::Malformed);
    QCOMPARE(changed.size(), 0);
    QVERIFY(!m_model->verification().checked);
}

QTEST_GUILESS_MAIN(TestAuditModel)
#include "tst_auditmodel.moc"
