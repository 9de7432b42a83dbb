// AgentsFilterModel: search over agent name, agent id and fingerprint
// (grouped or not) over an AgentsModel with real certificates.
#include "agentsfiltermodel.h"
#include "agentsmodel.h"
#include "keys.h"
#include "syncfixture.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::models;
using namespace sealrelay::models::testing;

class TestAgentsFilterModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void search_data();
    void search();
    void fingerprintGrouped();
    void fingerprintOfOneAgent();
    void searchNotifies();

private:
    QStringList visibleNames() const;

    SyncFixture m_fx;
    std::unique_ptr<AgentsModel> m_agents;
    std::unique_ptr<AgentsFilterModel> m_filter;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestAgentsFilterModel::init()
{
    QVERIFY(m_fx.reset());
    m_agents = std::make_unique<AgentsModel>(*m_fx.certificates);
    QVERIFY(m_agents->loadSnapshot(m_fx.pinnedAgents()).ok());
    m_filter = std::make_unique<AgentsFilterModel>();
    m_filter->setSourceModel(m_agents.get());
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_filter.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

void TestAgentsFilterModel::cleanup()
{
    m_tester.reset();
    m_filter.reset();
    m_agents.reset();
}

QStringList TestAgentsFilterModel::visibleNames() const
{
    QStringList names;
    for (int row = 0; row < m_filter->rowCount(); ++row)
        names.append(m_filter->index(row, 0).data(AgentsModel::NameRole).toString());
    return names;
}

void TestAgentsFilterModel::search_data()
{
    QTest::addColumn<QString>("search");
    QTest::addColumn<QStringList>("names");

    QTest::newRow("empty") << QString() << QStringList { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s };
    QTest::newRow("name") << u"edge-2"_s << QStringList { u"edge-2"_s };
    QTest::newRow("name, other case") << u"EDGE-3"_s << QStringList { u"edge-3"_s };
    QTest::newRow("agent id") << kAgentIds.at(0).left(13) << QStringList { u"edge-1"_s };
    QTest::newRow("no match") << u"core"_s << QStringList();
}

void TestAgentsFilterModel::search()
{
    QFETCH(QString, search);
    QFETCH(QStringList, names);

    m_filter->setSearch(search);
    QCOMPARE(visibleNames(), names);
}

void TestAgentsFilterModel::fingerprintGrouped()
{
    const QString fingerprint =
        m_agents->index(1).data(AgentsModel::FingerprintRole).toString().toUpper();
    QCOMPARE(fingerprint.size(), 64);
    // "AB12 CD34 EF56 ..." as read from an agent host's screen.
    QString grouped;
    for (int i = 0; i < 16; i += 4)
        grouped += fingerprint.mid(i, 4) + u' ';
    m_filter->setSearch(grouped);
    QCOMPARE(visibleNames(), QStringList { u"edge-2"_s });

    QString colons = fingerprint.left(8);
    colons.insert(4, u':');
    m_filter->setSearch(colons);
    QCOMPARE(visibleNames(), QStringList { u"edge-2"_s });
}

void TestAgentsFilterModel::fingerprintOfOneAgent()
{
    for (int row = 0; row < m_agents->rowCount(); ++row) {
        const QModelIndex agent = m_agents->index(row);
        m_filter->setSearch(agent.data(AgentsModel::FingerprintRole).toString());
        QCOMPARE(visibleNames(), QStringList { agent.data(AgentsModel::NameRole).toString() });
    }
}

void TestAgentsFilterModel::searchNotifies()
{
    QSignalSpy changed(m_filter.get(), &AgentsFilterModel::searchChanged);
    QVERIFY(m_filter->setProperty("search", u"edge"_s));
    QVERIFY(m_filter->setProperty("search", u" edge "_s));
    QCOMPARE(changed.size(), 1);
    QCOMPARE(m_filter->property("search").toString(), u"edge"_s);
}

QTEST_GUILESS_MAIN(TestAgentsFilterModel)
#include "tst_agentsfiltermodel.moc"
