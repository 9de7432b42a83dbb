// Three backend replicas on shared PostgreSQL and Redis, with agent edge-a on
// replica 0, edge-b on replica 1 and edge-c on replica 2. The tests cover one
// rewrap per (credential, agent) however many replicas request it, replies
// and console events that cross replicas, a Redis outage, a replica killed
// mid-dispatch and the status route. They run in order and share the cluster.
//
// A failed attempt waits 10 minutes (the backoff schedule), so after the
// first failed sync of a row only the test's retries, and the reconciler
// sweeps those retries make due, sync it again.
#include "eventfeedclient.h"
#include "replicacluster.h"
#include "scriptedagent.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSet>
#include <QtTest>

#include <algorithm>
#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::replicatest;
using namespace sealrelay::synctest;

namespace {

// Replica settings that the test relies on, as
// ReplicaCluster::defaultReplicaEnvironment() sets them.
constexpr int kPeerTimeoutMs = 3000;
constexpr int kDegradedAfterMs = 3000;
constexpr int kSwitchHoldMs = 5000;
constexpr int kConvergeMs = 30000;
// Time after a sync in which a second dispatch of the same pair, if any
// replica started one, would reach the audit trail: a peer timeout and the
// wait for a reply routed from another replica (5 s), with margin.
constexpr int kSettleMs = kPeerTimeoutMs + 5000 + 2000;

const QString kAgentA = u"edge-a"_s;
const QString kAgentB = u"edge-b"_s;
const QString kAgentC = u"edge-c"_s;
const QString kSuccessSeries = u"sealrelay_dispatches_total{outcome=\"success\"}"_s;

QJsonObject secretOf(const QString &password)
{
    return QJsonObject { { u"password"_s, password }, { u"username"_s, u"svc"_s } };
}

QString retryPath(const QString &credentialId)
{
    return u"/api/credentials/%1/retry"_s.arg(credentialId);
}

} // namespace

class ReplicasTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanup();
    void cleanupTestCase();

    void rewrapCoordinationStatus();
    void feedShowsOtherReplicas();
    void samePairOnAllReplicas();
    void responseOnOtherReplica();
    void redisKilledMidRun();
    void replicaKilledMidDispatch();

private:
    // Uploads credential `name` with `scope`, sealed by the creator to
    // `holders` only, while the holders are stopped, so the first sync of
    // every other agent in scope fails with NO_ELIGIBLE_PEER and waits out
    // the backoff. Starts the holders again and waits until they store it.
    // Returns the credential id, or empty with the reason in m_failure.
    QString uploadHeldBy(const QString &name, const QStringList &scope,
                         const QStringList &holders);
    // Runs samePairOnAllReplicas on a new credential called `name`.
    void checkSamePair(const QString &name);

    QJsonObject credentialRow(int replica, const QString &credentialId,
                              const QString &agentName);
    // Dispatch audit rows of (credential, agent) with `outcome`, or all of
    // them for an empty outcome, oldest first.
    QList<QJsonObject> dispatchRows(const QString &credentialId, const QString &agentName,
                                    const QString &outcome = {});
    // Lines `rewrap_sent credential=ID` in the agent's local audit log.
    int rewrapsSent(const QString &agentName, const QString &credentialId);
    bool holdsVersion(const QString &agentName, const QString &credentialId, qint64 version);
    // Each replica's count of successful dispatches (GET /metrics).
    QList<double> successCounts();
    // The replica_id of each replica's own status, by replica index.
    QStringList replicaIds();
    // The entries of replica `index`'s status route whose replica_id is in
    // `ids`, by replica_id.
    QHash<QString, QJsonObject> listedReplicas(int index, const QStringList &ids);
    // True when replica `index` lists every running replica with this store
    // and degraded flag.
    bool listsEveryReplicaOn(int index, const QString &coordination, bool degraded);
    QByteArray shownStatus(int index);
    // True when GET /api/agents of replica `index` shows every agent of
    // `names` with sync.connection "online", wherever it is connected.
    bool seesOnline(int index, const QStringList &names);

    std::unique_ptr<ReplicaCluster> m_cluster;
    std::unique_ptr<ScriptedAgent> m_peer;
    QString m_failure;
};

void ReplicasTest::initTestCase()
{
    QProcessEnvironment settings;
    settings.insert(u"SEALRELAY_RECONCILER_BACKOFF_SCHEDULE_MS"_s, u"600000"_s);
    m_cluster = std::make_unique<ReplicaCluster>(3, settings);
    const QString started = m_cluster->start();
    QVERIFY2(started.isEmpty(), qPrintable(started));

    QVERIFY2(!m_cluster->addAgent(0, kAgentA).isEmpty(), qPrintable(m_cluster->lastError()));
    QVERIFY2(!m_cluster->addAgent(1, kAgentB).isEmpty(), qPrintable(m_cluster->lastError()));
    QVERIFY2(!m_cluster->addAgent(2, kAgentC).isEmpty(), qPrintable(m_cluster->lastError()));
}

void ReplicasTest::cleanupTestCase()
{
    if (m_cluster)
        m_cluster->stop();
}

void ReplicasTest::cleanup()
{
    if (QTest::currentTestFailed()) {
        for (int index = 0; index < m_cluster->replicaCount(); ++index)
            qInfo().noquote() << u"---- end of the log of replica %1 ----\n"_s.arg(index)
                                     + m_cluster->replicaLog(index, 40);
    }

    // A failed test may leave Redis, a replica or an agent down, which the
    // next test needs.
    if (!m_cluster->redis().isRunning()) {
        if (!m_cluster->startRedis())
            qWarning().noquote() << m_cluster->lastError();
        for (int index = 0; index < m_cluster->replicaCount(); ++index) {
            const bool back = QTest::qWaitFor(
                [&] {
                    return m_cluster->coordinationStatus(index)
                               .value(u"coordination"_s)
                               .toString()
                        == u"redis"_s;
                },
                kSwitchHoldMs + 15000);
            if (!back)
                qWarning("replica %d did not return to Redis", index);
        }
    }
    for (int index = 0; index < m_cluster->replicaCount(); ++index) {
        if (!m_cluster->isReplicaRunning(index) && !m_cluster->startReplica(index))
            qWarning().noquote() << m_cluster->lastError();
    }
    SyncCluster &sync = m_cluster->sync();
    for (const QString &agent : { kAgentA, kAgentB, kAgentC }) {
        if (!sync.isAgentRunning(agent) && !sync.startAgent(agent))
            qWarning().noquote() << sync.lastError();
    }
}

QJsonObject ReplicasTest::credentialRow(int replica, const QString &credentialId,
                                        const QString &agentName)
{
    const BackendReply reply =
        m_cluster->request(replica, "GET", u"/api/credentials/"_s + credentialId);
    const QString agentId = m_cluster->sync().agentId(agentName);
    for (const QJsonValue &value : reply.json.value(u"agents"_s).toArray()) {
        if (value.toObject().value(u"agent_id"_s).toString() == agentId)
            return value.toObject();
    }
    return {};
}

QList<QJsonObject> ReplicasTest::dispatchRows(const QString &credentialId,
                                              const QString &agentName, const QString &outcome)
{
    const QString agentId = m_cluster->sync().agentId(agentName);
    QList<QJsonObject> found;
    for (const QJsonValue &value : m_cluster->sync().audit(u"dispatch"_s)) {
        const QJsonObject row = value.toObject();
        if (row.value(u"credential_id"_s).toString() != credentialId
            || row.value(u"agent_id"_s).toString() != agentId)
            continue;
        if (!outcome.isEmpty() && row.value(u"outcome"_s).toString() != outcome)
            continue;
        found.append(row);
    }
    return found;
}

int ReplicasTest::rewrapsSent(const QString &agentName, const QString &credentialId)
{
    SyncCluster &sync = m_cluster->sync();
    const ProcessResult audit =
        sync.runAgentCommand(agentName, { u"audit"_s, u"--data-dir"_s, sync.dataDir(agentName) });
    if (audit.exitCode != 0)
        return -1;
    const QString entry = u" rewrap_sent credential=%1"_s.arg(credentialId);
    int count = 0;
    for (const QString &line : audit.out.split(u'\n')) {
        if (line.contains(entry))
            ++count;
    }
    return count;
}

bool ReplicasTest::holdsVersion(const QString &agentName, const QString &credentialId,
                                qint64 version)
{
    const auto held = m_cluster->sync().vaultHolds(agentName, credentialId);
    return held && held->first == version;
}

QList<double> ReplicasTest::successCounts()
{
    QList<double> counts;
    for (int index = 0; index < m_cluster->replicaCount(); ++index)
        counts.append(m_cluster->metric(index, kSuccessSeries));
    return counts;
}

QString ReplicasTest::uploadHeldBy(const QString &name, const QStringList &scope,
                                   const QStringList &holders)
{
    SyncCluster &sync = m_cluster->sync();
    for (const QString &holder : holders) {
        if (!sync.stopAgent(holder)) {
            m_failure = sync.lastError();
            return {};
        }
    }
    const Upload created = sync.createCredential(name, secretOf(name + u"-pw"_s), scope, holders);
    if (created.status != 201) {
        m_failure = sync.lastError();
        return {};
    }
    const QString id = created.credentialId;

    // Each agent in scope that lacks an envelope fails its first sync.
    for (const QString &agent : scope) {
        if (holders.contains(agent))
            continue;
        const bool failed = QTest::qWaitFor(
            [&] {
                return credentialRow(m_cluster->requestReplica(), id, agent)
                           .value(u"attempts"_s)
                           .toInt()
                    >= 1;
            },
            kConvergeMs);
        if (!failed) {
            const QJsonObject row = credentialRow(m_cluster->requestReplica(), id, agent);
            m_failure = u"the first sync of %1 to %2 did not fail; its row is %3"_s.arg(
                name, agent, QString::fromUtf8(QJsonDocument(row).toJson(QJsonDocument::Compact)));
            return {};
        }
    }

    for (const QString &holder : holders) {
        if (!sync.startAgent(holder)) {
            m_failure = sync.lastError();
            return {};
        }
    }
    for (const QString &holder : holders) {
        if (!QTest::qWaitFor([&] { return holdsVersion(holder, id, 1); }, kConvergeMs)) {
            m_failure = u"%1 did not store %2 from the creator's envelope"_s.arg(holder, name);
            return {};
        }
    }
    return id;
}

QStringList ReplicasTest::replicaIds()
{
    QStringList ids;
    for (int index = 0; index < m_cluster->replicaCount(); ++index)
        ids.append(m_cluster->coordinationStatus(index).value(u"replica_id"_s).toString());
    return ids;
}

QHash<QString, QJsonObject> ReplicasTest::listedReplicas(int index, const QStringList &ids)
{
    QHash<QString, QJsonObject> listed;
    const QJsonArray entries =
        m_cluster->coordinationStatus(index).value(u"replicas"_s).toArray();
    for (const QJsonValue &value : entries) {
        const QJsonObject entry = value.toObject();
        const QString id = entry.value(u"replica_id"_s).toString();
        if (ids.contains(id))
            listed.insert(id, entry);
    }
    return listed;
}

bool ReplicasTest::listsEveryReplicaOn(int index, const QString &coordination, bool degraded)
{
    const QStringList ids = replicaIds();
    const QHash<QString, QJsonObject> listed = listedReplicas(index, ids);
    if (listed.size() != ids.size())
        return false;
    return std::all_of(listed.cbegin(), listed.cend(), [&](const QJsonObject &entry) {
        return entry.value(u"coordination"_s).toString() == coordination
            && entry.value(u"degraded"_s).toBool(!degraded) == degraded;
    });
}

QByteArray ReplicasTest::shownStatus(int index)
{
    return QJsonDocument(m_cluster->coordinationStatus(index)).toJson(QJsonDocument::Compact);
}

bool ReplicasTest::seesOnline(int index, const QStringList &names)
{
    QSet<QString> wanted;
    for (const QString &name : names)
        wanted.insert(m_cluster->sync().agentId(name));
    const BackendReply reply = m_cluster->request(index, "GET", u"/api/agents"_s);
    for (const QJsonValue &value : reply.json.value(u"agents"_s).toArray()) {
        const QJsonObject agent = value.toObject();
        const QString connection =
            agent.value(u"sync"_s).toObject().value(u"connection"_s).toString();
        if (connection == u"online"_s)
            wanted.remove(agent.value(u"agent_id"_s).toString());
    }
    return wanted.isEmpty();
}

void ReplicasTest::rewrapCoordinationStatus()
{
    const QStringList ids = replicaIds();
    QCOMPARE(QSet<QString>(ids.cbegin(), ids.cend()).size(), m_cluster->replicaCount());
    QVERIFY(!ids.contains(QString()));

    // Every replica lists every replica, each with its store and its
    // degraded flag. A replica writes its entry every 10 s.
    for (int index = 0; index < m_cluster->replicaCount(); ++index) {
        QTRY_VERIFY2_WITH_TIMEOUT(listedReplicas(index, ids).size() == ids.size(),
                                  shownStatus(index).constData(), 15000);
        const QHash<QString, QJsonObject> listed = listedReplicas(index, ids);
        for (const QString &id : ids) {
            const QJsonObject entry = listed.value(id);
            QCOMPARE(entry.value(u"coordination"_s).toString(), u"redis"_s);
            QVERIFY(entry.value(u"degraded"_s).isBool());
            QCOMPARE(entry.value(u"degraded"_s).toBool(), false);
            QCOMPARE(entry.value(u"stale"_s).toBool(true), false);
            QCOMPARE(entry.value(u"this_replica"_s).toBool(), id == ids.at(index));
        }
    }
}

void ReplicasTest::feedShowsOtherReplicas()
{
    // A console on replica 0 watches an upload to replica 1, which delivers
    // the creator's envelope to edge-b, its own agent.
    EventFeedClient feed;
    QVERIFY(feed.open(m_cluster->replicaUrl(0), m_cluster->adminToken()));
    const int requestReplica = m_cluster->requestReplica();
    m_cluster->setRequestReplica(1);
    const Upload created = m_cluster->sync().createCredential(
        u"db-watched"_s, secretOf(u"db-watched-pw"_s), QStringList { kAgentB });
    m_cluster->setRequestReplica(requestReplica);
    QVERIFY2(created.status == 201, qPrintable(m_cluster->sync().lastError()));

    const QString agentId = m_cluster->sync().agentId(kAgentB);
    QTRY_VERIFY2_WITH_TIMEOUT(
        !feed.syncChanges(created.credentialId, agentId, u"delivered"_s).isEmpty(),
        qPrintable(feed.state()), kConvergeMs);
    feed.close();
}

void ReplicasTest::checkSamePair(const QString &name)
{
    const QString id = uploadHeldBy(name, { kAgentA, kAgentB, kAgentC }, { kAgentA, kAgentB });
    QVERIFY2(!id.isEmpty(), qPrintable(m_failure));
    QVERIFY(!holdsVersion(kAgentC, id, 1));
    const qsizetype rowsBefore = dispatchRows(id, kAgentC).size();
    const QList<double> successesBefore = successCounts();

    // On a retry, a replica syncs only the agents it lists as connected.
    for (int index = 0; index < m_cluster->replicaCount(); ++index)
        QTRY_VERIFY_WITH_TIMEOUT(seesOnline(index, { kAgentA, kAgentB, kAgentC }), 25000);

    // Every replica is asked to sync (credential, edge-c) at the same moment.
    const QList<BackendReply> replies =
        m_cluster->requestAtOnce({ 0, 1, 2 }, "POST", retryPath(id));
    for (int index = 0; index < replies.size(); ++index) {
        const BackendReply &reply = replies.at(index);
        QVERIFY2(reply.status == 200,
                 qPrintable(u"replica %1 returned %2: %3"_s.arg(QString::number(index),
                                                                QString::number(reply.status),
                                                                QString::fromUtf8(reply.body))));
        QCOMPARE(reply.json.value(u"rows_reset"_s), replies.first().json.value(u"rows_reset"_s));
    }

    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(kAgentC, id, 1), kConvergeMs);
    QTest::qWait(kSettleMs);

    // Exactly one dispatch ran: one pending row and one success row.
    const QList<QJsonObject> rows = dispatchRows(id, kAgentC).mid(rowsBefore);
    QString shown;
    for (const QJsonObject &row : rows)
        shown += QString::fromUtf8(QJsonDocument(row).toJson(QJsonDocument::Compact)) + u'\n';
    QVERIFY2(rows.size() == 2, qPrintable(shown));
    QCOMPARE(rows.at(0).value(u"outcome"_s).toString(), u"pending"_s);
    QCOMPARE(rows.at(1).value(u"outcome"_s).toString(), u"success"_s);
    QCOMPARE(rows.at(1).value(u"dispatch_audit_id"_s), rows.at(0).value(u"dispatch_audit_id"_s));
    const QString peer =
        rows.at(1).value(u"details"_s).toObject().value(u"peer_agent_id"_s).toString();
    const QSet<QString> holders { m_cluster->sync().agentId(kAgentA),
                                  m_cluster->sync().agentId(kAgentB) };
    QVERIFY2(holders.contains(peer), qPrintable(peer));

    // The peers sealed it once between them.
    const int sentByA = rewrapsSent(kAgentA, id);
    const int sentByB = rewrapsSent(kAgentB, id);
    QVERIFY(sentByA >= 0);
    QVERIFY(sentByB >= 0);
    QCOMPARE(sentByA + sentByB, 1);

    // One replica ran the dispatch; the others waited for its outcome.
    const QList<double> successesAfter = successCounts();
    int dispatchingReplicas = 0;
    for (int index = 0; index < successesAfter.size(); ++index) {
        const double added = successesAfter.at(index) - successesBefore.at(index);
        QVERIFY2(added == 0 || added == 1,
                 qPrintable(u"replica %1 counted %2 successful dispatches"_s.arg(
                     QString::number(index), QString::number(added))));
        if (added == 1)
            ++dispatchingReplicas;
    }
    QCOMPARE(dispatchingReplicas, 1);

    // Every replica reports the same outcome for the pair.
    for (int index = 0; index < m_cluster->replicaCount(); ++index) {
        const QJsonObject row = credentialRow(index, id, kAgentC);
        QCOMPARE(row.value(u"secret_stored"_s).toBool(), true);
        QCOMPARE(row.value(u"stored_version"_s).toInteger(), 1);
        QCOMPARE(row.value(u"attempts"_s).toInt(), 0);
        QVERIFY(row.value(u"last_error"_s).isNull());
    }
    for (const QJsonValue &value : m_cluster->sync().audit(u"rewrap_response_unsolicited"_s))
        QVERIFY(value.toObject().value(u"credential_id"_s).toString() != id);

    const ProcessResult got = m_cluster->sync().get(kAgentC, name);
    QVERIFY2(got.exitCode == 0, qPrintable(got.err));
    QVERIFY2(got.out.contains(name + u"-pw"_s), qPrintable(got.out));
}

void ReplicasTest::samePairOnAllReplicas()
{
    checkSamePair(u"db-same-pair"_s);
}

void ReplicasTest::responseOnOtherReplica()
{
    // edge-a (replica 0) is the only peer and edge-c (replica 2) the target;
    // replica 1 starts the dispatch.
    const QString id = uploadHeldBy(u"db-cross"_s, { kAgentA, kAgentC }, { kAgentA });
    QVERIFY2(!id.isEmpty(), qPrintable(m_failure));
    const QList<double> successesBefore = successCounts();

    QTRY_VERIFY_WITH_TIMEOUT(seesOnline(1, { kAgentA, kAgentC }), 25000);
    QCOMPARE(m_cluster->request(1, "POST", retryPath(id)).status, 200);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(kAgentC, id, 1), kConvergeMs);
    // The target stores the credential before it replies, so the backend
    // records the success a moment after the vault contains it.
    QTRY_COMPARE_WITH_TIMEOUT(dispatchRows(id, kAgentC, u"success"_s).size(), 1, kConvergeMs);

    const QList<QJsonObject> successes = dispatchRows(id, kAgentC, u"success"_s);
    const QJsonObject details = successes.first().value(u"details"_s).toObject();
    QCOMPARE(details.value(u"source"_s).toString(), u"peer"_s);
    QCOMPARE(details.value(u"peer_agent_id"_s).toString(), m_cluster->sync().agentId(kAgentA));
    QCOMPARE(rewrapsSent(kAgentA, id), 1);

    // The replica that counted the success ran the dispatch. It counts the
    // success when it reports the outcome, after the audit row is written.
    const auto dispatchingReplicas = [&] {
        const QList<double> successesAfter = successCounts();
        QList<int> dispatching;
        for (int index = 0; index < successesAfter.size(); ++index) {
            if (successesAfter.at(index) > successesBefore.at(index))
                dispatching.append(index);
        }
        return dispatching;
    };
    QTRY_VERIFY_WITH_TIMEOUT(!dispatchingReplicas().isEmpty(), kConvergeMs);
    const QList<int> dispatching = dispatchingReplicas();
    QCOMPARE(dispatching.size(), 1);
    // NOTE: a reconciler sweep may take the due row in the moment between
    // the retry's reset and replica 1's lock. The dispatch then starts on
    // another replica, and the test fails only if that is replica 0.
    QVERIFY2(dispatching.first() != m_cluster->replicaOfAgent(kAgentA),
             qPrintable(u"replica %1, the peer's own replica, ran the dispatch"_s.arg(
                 dispatching.first())));

    const ProcessResult got = m_cluster->sync().get(kAgentC, u"db-cross"_s);
    QVERIFY2(got.exitCode == 0, qPrintable(got.err));
    QVERIFY2(got.out.contains(u"db-cross-pw"_s), qPrintable(got.out));
}

void ReplicasTest::redisKilledMidRun()
{
    QElapsedTimer elapsed;
    elapsed.start();
    m_cluster->killRedis();

    for (int index = 0; index < m_cluster->replicaCount(); ++index) {
        QTRY_VERIFY2_WITH_TIMEOUT(
            m_cluster->coordinationStatus(index).value(u"degraded"_s).toBool(),
            QJsonDocument(m_cluster->coordinationStatus(index)).toJson().constData(),
            kDegradedAfterMs + 10000);
        const QJsonObject status = m_cluster->coordinationStatus(index);
        QCOMPARE(status.value(u"coordination"_s).toString(), u"postgresql"_s);
    }
    QVERIFY2(elapsed.elapsed() >= kDegradedAfterMs - 100,
             qPrintable(u"degraded after only %1 ms"_s.arg(elapsed.elapsed())));
    // Each replica's list shows the others' move within their next report.
    for (int index = 0; index < m_cluster->replicaCount(); ++index)
        QTRY_VERIFY2_WITH_TIMEOUT(listsEveryReplicaOn(index, u"postgresql"_s, true),
                                  shownStatus(index).constData(), 15000);

    checkSamePair(u"db-on-postgresql"_s);
    if (QTest::currentTestFailed())
        return;

    QVERIFY2(m_cluster->startRedis(), qPrintable(m_cluster->lastError()));
    for (int index = 0; index < m_cluster->replicaCount(); ++index) {
        QTRY_COMPARE_WITH_TIMEOUT(
            m_cluster->coordinationStatus(index).value(u"coordination"_s).toString(), u"redis"_s,
            kSwitchHoldMs + 15000);
        QCOMPARE(m_cluster->coordinationStatus(index).value(u"degraded"_s).toBool(true), false);
    }
    // Redis came back empty, so each replica must publish its agents'
    // presence again before the others see them.
    QElapsedTimer presence;
    presence.start();
    for (int index = 0; index < m_cluster->replicaCount(); ++index) {
        QTRY_VERIFY_WITH_TIMEOUT(seesOnline(index, { kAgentA, kAgentB, kAgentC }), 25000);
        qInfo("replica %d sees every agent online %lld ms after Redis was back", index,
              presence.elapsed());
    }
    for (int index = 0; index < m_cluster->replicaCount(); ++index)
        QTRY_VERIFY2_WITH_TIMEOUT(listsEveryReplicaOn(index, u"redis"_s, false),
                                  shownStatus(index).constData(), 15000);
}

void ReplicasTest::replicaKilledMidDispatch()
{
    // Peer P on replica 1 stores what the creator seals to it and ignores
    // rewrap requests until the test lets it reply.
    m_peer = std::make_unique<ScriptedAgent>();
    ScriptedAgent &peer = *m_peer;
    peer.setAutoStore(true);
    peer.setRewrapHandler([](const RewrapRequest &) { return std::optional<AgentMessage>(); });
    QVERIFY2(!m_cluster->addScriptedAgent(1, peer, u"peer-p"_s).isEmpty(),
             qPrintable(m_cluster->lastError()));
    QVERIFY(peer.waitFor<Registered>(20000).has_value());

    SyncCluster &sync = m_cluster->sync();
    const Upload created = sync.createCredential(u"db-orphan"_s, secretOf(u"db-orphan-pw"_s),
                                                 { u"peer-p"_s, kAgentC },
                                                 QStringList { u"peer-p"_s });
    QVERIFY2(created.status == 201, qPrintable(sync.lastError()));
    const QString id = created.credentialId;
    QTRY_VERIFY_WITH_TIMEOUT(peer.payloadFor(id).has_value(), kConvergeMs);
    // The first dispatch to edge-c times out on the silent peer.
    QTRY_COMPARE_WITH_TIMEOUT(
        credentialRow(m_cluster->requestReplica(), id, kAgentC).value(u"attempts"_s).toInt(), 1,
        kConvergeMs);
    // Replica 0 must see both agents, which are connected to other replicas.
    QTRY_VERIFY_WITH_TIMEOUT(seesOnline(0, { u"peer-p"_s, kAgentC }), 25000);
    // A sweep of another replica may have started a dispatch of the pair
    // meanwhile; the retry below would then wait for its lock. Every pending
    // dispatch row gets its final row first.
    const auto dispatchRunning = [&] {
        QSet<QString> pending;
        for (const QJsonObject &row : dispatchRows(id, kAgentC)) {
            const QString dispatch = row.value(u"dispatch_audit_id"_s).toString();
            if (row.value(u"outcome"_s).toString() == u"pending"_s)
                pending.insert(dispatch);
            else
                pending.remove(dispatch);
        }
        return !pending.isEmpty();
    };
    QTRY_VERIFY_WITH_TIMEOUT(!dispatchRunning(), kConvergeMs);
    while (peer.waitFor<RewrapRequest>(0)) { }
    const qsizetype rowsBefore = dispatchRows(id, kAgentC).size();

    // Replica 0 starts a dispatch; the peer gets the request and stays silent.
    // NOTE: as in responseOnOtherReplica, a sweep of another replica may
    // start it first; the trigger check below then fails.
    QCOMPARE(m_cluster->request(0, "POST", retryPath(id)).status, 200);
    const std::optional<RewrapRequest> request = peer.waitFor<RewrapRequest>(20000);
    QVERIFY(request.has_value());
    QCOMPARE(request->credentialId, id);
    const QList<QJsonObject> started = dispatchRows(id, kAgentC).mid(rowsBefore);
    QCOMPARE(started.size(), 1);
    QCOMPARE(started.first().value(u"outcome"_s).toString(), u"pending"_s);
    // Only replica 0 got a retry; a reconciler sweep would record "reconciler".
    QCOMPARE(started.first().value(u"details"_s).toObject().value(u"trigger"_s).toString(),
             u"retry"_s);
    const QJsonValue orphanId = started.first().value(u"dispatch_audit_id"_s);

    QVERIFY2(m_cluster->killReplica(0), qPrintable(m_cluster->lastError()));

    // The peer replies from now on, so the first dispatch of a surviving
    // replica succeeds, because a failed one would wait out the 10-minute
    // backoff. The request of replica 0 gets no reply.
    peer.setRewrapHandler({});
    peer.setAutoRewrap(true);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(kAgentC, id, 1), 60000);
    QTRY_VERIFY_WITH_TIMEOUT(!dispatchRows(id, kAgentC, u"success"_s).isEmpty(), kConvergeMs);

    const QList<QJsonObject> rows = dispatchRows(id, kAgentC).mid(rowsBefore);
    QList<QJsonObject> orphanRows;
    QList<QJsonObject> successes;
    for (const QJsonObject &row : rows) {
        if (row.value(u"dispatch_audit_id"_s) == orphanId)
            orphanRows.append(row);
        if (row.value(u"outcome"_s).toString() == u"success"_s)
            successes.append(row);
    }
    // With its replica gone, the first dispatch never got a final row, even
    // though its peer timeout and the lock TTL have passed.
    QCOMPARE(orphanRows.size(), 1);
    QCOMPARE(orphanRows.first().value(u"outcome"_s).toString(), u"pending"_s);
    QCOMPARE(successes.size(), 1);
    QVERIFY(successes.first().value(u"dispatch_audit_id"_s) != orphanId);
    const QJsonObject details = successes.first().value(u"details"_s).toObject();
    QCOMPARE(details.value(u"trigger"_s).toString(), u"reconciler"_s);
    QCOMPARE(details.value(u"peer_agent_id"_s).toString(), peer.agentId());

    const ProcessResult got = sync.get(kAgentC, u"db-orphan"_s);
    QVERIFY2(got.exitCode == 0, qPrintable(got.err));
    QVERIFY2(got.out.contains(u"db-orphan-pw"_s), qPrintable(got.out));

    // Replica 0 comes back on its port and edge-a reconnects to it.
    const QString registeredBefore = sync.statusField(kAgentA, u"last_registration"_s);
    QVERIFY2(m_cluster->startReplica(0), qPrintable(m_cluster->lastError()));
    QTRY_VERIFY_WITH_TIMEOUT(sync.statusField(kAgentA, u"last_registration"_s) != registeredBefore,
                             20000);
}

QTEST_MAIN(ReplicasTest)
#include "tst_replicas.moc"
