// One real sealrelay-backend coordinating through a real redis-server on
// 127.0.0.1, with two real agents: credentials sync on Redis, while Redis is
// down (in-memory fallback, alert, status route, metrics) and after it is
// back. The tests run in order and share the cluster.
#include "redisserver.h"
#include "synccluster.h"

#include <QJsonArray>
#include <QRegularExpression>
#include <QtTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::synctest;

namespace {

// Continuous failure before the move to memory; SyncCluster sets 3000 ms.
constexpr int kDegradedAfterMs = 3000;
// A delivery waits out the lock hold (5 s, the cluster's lock TTL) and the
// wait for another replica's outcome before the reconciler retries it.
constexpr int kConvergeMs = 60000;

bool holdsVersion(SyncCluster &cluster, const QString &agentName, const QString &credentialId,
                  qint64 version)
{
    const auto held = cluster.vaultHolds(agentName, credentialId);
    return held && held->first == version;
}

// A Redis password that no output of the backend may contain.
const QString kPassword = u"pw-never-shown"_s;

// The value of an unlabelled series of GET /metrics, or -1 when it is absent.
double metricValue(SyncCluster &cluster, const QString &name)
{
    const BackendReply metrics = cluster.request("GET", u"/metrics"_s);
    const QRegularExpression line(u"^"_s + QRegularExpression::escape(name) + u" (\\S+)$"_s,
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch match = line.match(QString::fromUtf8(metrics.body));
    return match.hasMatch() ? match.captured(1).toDouble() : -1;
}

QJsonObject secretOf(const QString &password)
{
    return QJsonObject{{u"password"_s, password}, {u"username"_s, u"svc"_s}};
}

} // namespace

class CoordinationFailoverTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void settingsRejected_data();
    void settingsRejected();
    void syncOnRedis();
    void redisDownDegrades();
    void syncWhileDegraded();
    void redisBackReturns();
    void syncAfterReturn();

private:
    QJsonObject status();
    // True when this redis-server process has run SET, which only lock
    // acquisition (SET NX PX) sends.
    bool redisTookLocks();
    // Uploads a credential for both agents and waits until both hold it.
    void createAndConverge(const QString &name);

    test::RedisServer m_redis;
    std::unique_ptr<SyncCluster> m_cluster;
};

void CoordinationFailoverTest::initTestCase()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
    QProcessEnvironment environment;
    environment.insert(u"SEALRELAY_COORDINATION_URL"_s, m_redis.url());
    environment.insert(u"SEALRELAY_COORDINATION_DEGRADED_AFTER_MS"_s,
                       QString::number(kDegradedAfterMs));
    environment.insert(u"SEALRELAY_COORDINATION_SWITCH_HOLD_MS"_s, u"5000"_s);
    m_cluster = std::make_unique<SyncCluster>(environment);
    const QString started = m_cluster->start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    QVERIFY2(!m_cluster->addAgent(u"edge-1"_s).isEmpty(), qPrintable(m_cluster->lastError()));
    QVERIFY2(!m_cluster->addAgent(u"edge-2"_s).isEmpty(), qPrintable(m_cluster->lastError()));
}

void CoordinationFailoverTest::cleanupTestCase()
{
    if (m_cluster)
        m_cluster->stop();
    m_redis.stop();
}

QJsonObject CoordinationFailoverTest::status()
{
    return m_cluster->request("GET", u"/api/system/rewrap-coordination-status"_s).json;
}

bool CoordinationFailoverTest::redisTookLocks()
{
    return m_redis.command({u"INFO"_s, u"commandstats"_s}).contains("cmdstat_set:calls=");
}

void CoordinationFailoverTest::createAndConverge(const QString &name)
{
    const Upload created = m_cluster->createCredential(name, secretOf(name + u"-pw"_s));
    QVERIFY2(created.status == 201, qPrintable(m_cluster->lastError()));
    const QString id = created.credentialId;
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(*m_cluster, u"edge-1"_s, id, 1), kConvergeMs);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(*m_cluster, u"edge-2"_s, id, 1), kConvergeMs);
}

void CoordinationFailoverTest::settingsRejected_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected");

    const QString redisUrl = u"redis://:%1@127.0.0.1:6390/0"_s.arg(kPassword);
    QTest::newRow("bad port") << QStringList{u"--coordination"_s,
                                             u"redis://:%1@127.0.0.1:99999"_s.arg(kPassword)}
                              << u"--coordination"_s;
    QTest::newRow("bad scheme") << QStringList{u"--set"_s,
                                               u"coordination.url=http://u:%1@host"_s.arg(
                                                       kPassword)}
                                << u"coordination.url"_s;
    QTest::newRow("bad unix db")
            << QStringList{u"--coordination"_s,
                           u"unix:///tmp/redis.sock?password=%1&db=x"_s.arg(kPassword)}
            << u"password=redacted"_s;
    QTest::newRow("bad replicas") << QStringList{u"--set"_s, u"coordination.replicas=many"_s}
                                  << u"\"single\" or \"several\""_s;
    QTest::newRow("several on sqlite")
            << QStringList{u"--coordination"_s, redisUrl, u"--set"_s,
                           u"coordination.replicas=several"_s}
            << u"[storage] database"_s;
    QTest::newRow("several on memory")
            << QStringList{u"--database"_s, u"postgresql://svc@127.0.0.1:5432/db"_s, u"--set"_s,
                           u"coordination.replicas=several"_s}
            << u"[coordination] url"_s;
    QTest::newRow("hold below lock TTL")
            << QStringList{u"--coordination"_s, redisUrl, u"--set"_s,
                           u"coordination.switch_hold_ms=1000"_s}
            << u"switch_hold_ms"_s;
}

void CoordinationFailoverTest::settingsRejected()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);

    QProcess process;
    process.start(BackendProcess::binaryPath(),
                  QStringList{u"run"_s, u"--data-dir"_s, m_cluster->rootDir()} + arguments);
    QVERIFY(process.waitForFinished(15000));
    const QString output = QString::fromUtf8(process.readAllStandardError()
                                             + process.readAllStandardOutput());
    QCOMPARE(process.exitCode(), 2);
    QVERIFY2(output.contains(expected), qPrintable(output));
    QVERIFY2(!output.contains(kPassword), qPrintable(output));
}

void CoordinationFailoverTest::syncOnRedis()
{
    QTRY_COMPARE_WITH_TIMEOUT(status().value(u"coordination"_s).toString(), u"redis"_s, 5000);
    const QJsonObject current = status();
    QCOMPARE(current.value(u"degraded"_s).toBool(true), false);
    QVERIFY(!current.value(u"replica_id"_s).toString().isEmpty());
    QCOMPARE(m_cluster->request("GET", u"/readyz"_s).status, 200);

    createAndConverge(u"db-on-redis"_s);
    QVERIFY(redisTookLocks());
}

void CoordinationFailoverTest::redisDownDegrades()
{
    QCOMPARE(m_cluster->alerts(u"redis_coordination_degraded"_s).size(), 0);
    QElapsedTimer elapsed;
    elapsed.start();
    m_redis.kill();

    QTRY_VERIFY_WITH_TIMEOUT(status().value(u"degraded"_s).toBool(), kDegradedAfterMs + 5000);
    QVERIFY2(elapsed.elapsed() >= kDegradedAfterMs - 100,
             qPrintable(u"degraded after only %1 ms"_s.arg(elapsed.elapsed())));
    const QJsonObject current = status();
    QCOMPARE(current.value(u"coordination"_s).toString(), u"memory"_s);
    QVERIFY(current.value(u"detail"_s).toString().contains(u"127.0.0.1"_s));
    QCOMPARE(m_cluster->request("GET", u"/readyz"_s).status, 200);

    const QJsonArray alerts = m_cluster->alerts(u"redis_coordination_degraded"_s);
    QCOMPARE(alerts.size(), 1);
    const QJsonObject alert = alerts.at(0).toObject();
    QCOMPARE(alert.value(u"subject"_s).toString(), u"system:coordination"_s);
    QCOMPARE(alert.value(u"severity"_s).toString(), u"medium"_s);
    QVERIFY(alert.value(u"acknowledged_at"_s).isNull());

    QCOMPARE(metricValue(*m_cluster, u"sealrelay_coordination_degraded"_s), 1.0);
    QCOMPARE(metricValue(*m_cluster, u"sealrelay_coordination_failures_total"_s), 1.0);
}

void CoordinationFailoverTest::syncWhileDegraded()
{
    createAndConverge(u"db-on-memory"_s);
}

void CoordinationFailoverTest::redisBackReturns()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
    QTRY_COMPARE_WITH_TIMEOUT(status().value(u"coordination"_s).toString(), u"redis"_s, 10000);
    QCOMPARE(status().value(u"degraded"_s).toBool(true), false);
    QCOMPARE(metricValue(*m_cluster, u"sealrelay_coordination_degraded"_s), 0.0);

    const QJsonArray alerts = m_cluster->alerts(u"redis_coordination_degraded"_s);
    QCOMPARE(alerts.size(), 1);
    const QJsonObject alert = alerts.at(0).toObject();
    QCOMPARE(alert.value(u"acknowledged_by"_s).toString(), u"backend"_s);
}

void CoordinationFailoverTest::syncAfterReturn()
{
    createAndConverge(u"db-back-on-redis"_s);
    QVERIFY(redisTookLocks());
}

QTEST_MAIN(CoordinationFailoverTest)
#include "tst_coordinationfailover.moc"
