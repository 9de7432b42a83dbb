// CredentialsFilterModel: search over name, kind and id, and the
// problems-only switch, over a CredentialsModel fed real signed receipts.
#include "credentialsfiltermodel.h"
#include "credentialsmodel.h"
#include "ids.h"
#include "syncfixture.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::models;
using namespace sealrelay::models::testing;

namespace {

const QString kSyncedId = u"11111111-1111-4111-8111-111111111111"_s;
const QString kPartialId = u"22222222-2222-4222-8222-222222222222"_s;
const QString kCertificateId = u"33333333-3333-4333-8333-333333333333"_s;

} // namespace

class TestCredentialsFilterModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void emptySearchPassesAll();
    void search_data();
    void search();
    void problemsOnly();
    void problemsOnlyWithSearch();
    void verifyingCountsAsProblem();
    void liveChangeRefilters();
    void propertiesNotify();

private:
    QStringList visibleIds() const;

    SyncFixture m_fx;
    QJsonObject m_partial;
    std::unique_ptr<CredentialsModel> m_credentials;
    std::unique_ptr<CredentialsFilterModel> m_filter;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestCredentialsFilterModel::init()
{
    QVERIFY(m_fx.reset());
    m_credentials = std::make_unique<CredentialsModel>(*m_fx.verifier);
    m_filter = std::make_unique<CredentialsFilterModel>();
    m_filter->setSourceModel(m_credentials.get());
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_filter.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);

    m_partial = m_fx.credentialStoredOn(kPartialId, u"Core-Router"_s, { 0 });
    const QJsonArray credentials {
        m_fx.credentialStoredOn(kSyncedId, u"core-switch"_s, { 0, 1, 2 }),
        m_partial,
        m_fx.credentialStoredOn(kCertificateId, u"edge-tls"_s, { 0, 1, 2 }, u"certificate"_s),
    };
    QVERIFY(m_credentials->loadSnapshot(m_fx.snapshot(credentials, m_fx.pinnedAgents())).ok());
    m_credentials->flush();
}

void TestCredentialsFilterModel::cleanup()
{
    m_tester.reset();
    m_filter.reset();
    m_credentials.reset();
}

QStringList TestCredentialsFilterModel::visibleIds() const
{
    QStringList ids;
    for (int row = 0; row < m_filter->rowCount(); ++row)
        ids.append(m_filter->index(row, 0).data(CredentialsModel::CredentialIdRole).toString());
    return ids;
}

void TestCredentialsFilterModel::emptySearchPassesAll()
{
    // Problems first: the partial credential, then the rest by name.
    QCOMPARE(visibleIds(), (QStringList { kPartialId, kSyncedId, kCertificateId }));
}

void TestCredentialsFilterModel::search_data()
{
    QTest::addColumn<QString>("search");
    QTest::addColumn<QStringList>("ids");

    QTest::newRow("name") << u"switch"_s << QStringList { kSyncedId };
    QTest::newRow("name, other case") << u"CORE"_s << QStringList { kPartialId, kSyncedId };
    QTest::newRow("kind") << u"certificate"_s << QStringList { kCertificateId };
    QTest::newRow("id prefix") << u"22222222"_s << QStringList { kPartialId };
    QTest::newRow("surrounding spaces") << u"  tls "_s << QStringList { kCertificateId };
    QTest::newRow("no match") << u"firewall"_s << QStringList();
}

void TestCredentialsFilterModel::search()
{
    QFETCH(QString, search);
    QFETCH(QStringList, ids);

    m_filter->setSearch(search);
    QCOMPARE(visibleIds(), ids);
}

void TestCredentialsFilterModel::problemsOnly()
{
    m_filter->setProblemsOnly(true);
    QCOMPARE(visibleIds(), QStringList { kPartialId });
    m_filter->setProblemsOnly(false);
    QCOMPARE(visibleIds().size(), 3);
}

void TestCredentialsFilterModel::problemsOnlyWithSearch()
{
    m_filter->setProblemsOnly(true);
    m_filter->setSearch(u"switch"_s);
    QCOMPARE(visibleIds(), QStringList());
    m_filter->setSearch(u"router"_s);
    QCOMPARE(visibleIds(), QStringList { kPartialId });
}

void TestCredentialsFilterModel::verifyingCountsAsProblem()
{
    m_filter->setProblemsOnly(true);
    const QString id = newUuid();
    m_credentials->enqueue(m_fx.syncEvent(
        m_fx.credentialStoredOn(id, u"new-one"_s, { 0, 1, 2 }), u"credential_created"_s));
    QSignalSpy batches(m_credentials.get(), &CredentialsModel::batchApplied);
    QVERIFY(batches.wait(2000));

    // Listed before its receipts are checked: not known to be synced yet.
    QVERIFY(visibleIds().contains(id));
    m_credentials->flush();
    QVERIFY(!visibleIds().contains(id));
}

void TestCredentialsFilterModel::liveChangeRefilters()
{
    m_filter->setProblemsOnly(true);
    QJsonObject body = m_partial;
    body.remove(u"agents"_s);
    const QString sha = m_partial.value(u"statement_sha256"_s).toString();
    for (int agent = 1; agent < 3; ++agent) {
        m_credentials->enqueue(m_fx.syncEvent(
            body, u"delivered"_s, agent,
            QJsonObject {
                { u"receipt"_s, m_fx.receipt(agent, kPartialId, 1, 1, sha).toJson() } }));
    }
    m_credentials->flush();
    QCOMPARE(visibleIds(), QStringList());
}

void TestCredentialsFilterModel::propertiesNotify()
{
    QSignalSpy search(m_filter.get(), &CredentialsFilterModel::searchChanged);
    QSignalSpy problems(m_filter.get(), &CredentialsFilterModel::problemsOnlyChanged);

    QVERIFY(m_filter->setProperty("search", u"core"_s));
    QVERIFY(m_filter->setProperty("search", u"core"_s));
    QVERIFY(m_filter->setProperty("problemsOnly", true));
    QVERIFY(m_filter->setProperty("problemsOnly", true));
    QCOMPARE(search.size(), 1);
    QCOMPARE(problems.size(), 1);
    QCOMPARE(m_filter->property("search").toString(), u"core"_s);
    QCOMPARE(m_filter->property("problemsOnly").toBool(), true);
}

QTEST_GUILESS_MAIN(TestCredentialsFilterModel)
#include "tst_credentialsfiltermodel.moc"
