// End-to-end flows of the sync engine with real sealrelay-agent processes:
// creator delivery, peer rewrap, offline agents catching up, backfill, JIT
// repair through `sealrelay-agent get`, scope changes, deletes and manual retry.
//
// SEALRELAY_SYNCFLOW_BACKFILL_CREDENTIALS sets how many credentials
// backfillThousand uploads (default 1000).
#include "eventfeedclient.h"
#include "scriptedagent.h"
#include "synccluster.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::synctest;

namespace {

constexpr int kConvergeMs = 20000;

QJsonObject secretOf(const QString &password)
{
    return QJsonObject { { u"password"_s, password }, { u"username"_s, u"admin"_s } };
}

// The value of one series of GET /metrics, written as it appears there
// (e.g. `name{label="value"}`), or -1 when it is absent.
double metricValue(SyncCluster &cluster, const QString &series)
{
    const BackendReply metrics = cluster.request("GET", u"/metrics"_s);
    const QRegularExpression line(u"^"_s + QRegularExpression::escape(series) + u" (\\S+)$"_s,
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch match = line.match(QString::fromUtf8(metrics.body));
    return match.hasMatch() ? match.captured(1).toDouble() : -1;
}

// The row of GET /api/credentials/{id} for one agent; empty when absent.
QJsonObject credentialRow(SyncCluster &cluster, const QString &credentialId,
                          const QString &agentName)
{
    const QString agentId = cluster.agentId(agentName);
    const QJsonArray rows = cluster.credential(credentialId).value(u"agents"_s).toArray();
    for (const QJsonValue &row : rows) {
        if (row.toObject().value(u"agent_id"_s).toString() == agentId)
            return row.toObject();
    }
    return {};
}

// The fields of a signed statement object ({statement_b64, signature}).
QJsonObject statementFields(const QJsonValue &signedObject)
{
    const QByteArray bytes = QByteArray::fromBase64(
        signedObject.toObject().value(u"statement_b64"_s).toString().toLatin1());
    return QJsonDocument::fromJson(bytes).object();
}

// The dispatch audit rows of one (credential, agent) with `outcome`; an
// empty outcome matches every row.
QList<QJsonObject> dispatchRows(SyncCluster &cluster, const QString &credentialId,
                                const QString &agentId, const QString &outcome = {})
{
    QList<QJsonObject> found;
    const QJsonArray rows = cluster.audit(u"dispatch"_s);
    for (const QJsonValue &value : rows) {
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

// Counts the rows of pending_deliveries (queued creator envelopes) for
// `credentialId` in the backend's SQLite file. Returns -1 when the file
// cannot be read.
int pendingDeliveries(SyncCluster &cluster, const QString &credentialId)
{
    const QString connectionName = u"pending-deliveries"_s;
    int count = -1;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, connectionName);
        database.setDatabaseName(QDir(cluster.rootDir()).filePath(u"backend/backend.db"_s));
        database.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=5000"_s);
        if (database.open()) {
            QSqlQuery query(database);
            query.prepare(u"SELECT count(*) FROM pending_deliveries WHERE credential_id = ?"_s);
            query.addBindValue(credentialId);
            if (query.exec() && query.next())
                count = query.value(0).toInt();
            else
                qWarning("cannot count pending_deliveries: %s",
                         qPrintable(query.lastError().text()));
        } else {
            qWarning("cannot open the backend database: %s",
                     qPrintable(database.lastError().text()));
        }
    }
    QSqlDatabase::removeDatabase(connectionName);
    return count;
}

bool holdsVersion(SyncCluster &cluster, const QString &agentName, const QString &credentialId,
                  qint64 version)
{
    const auto held = cluster.vaultHolds(agentName, credentialId);
    return held && held->first == version;
}

} // namespace

class SyncFlowTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void cleanup();

    void offlineAgentGetsRotation();
    void creatorDeliveryReachesAll();
    void peerRewrapReachesOthers();
    void backfillThousand();
    void warmReconnectGapOnly();
    void jitRepairDelivers();
    void getUnavailable_data();
    void getUnavailable();
    void getTimesOutDuringRepair();
    void explicitScopeExcludes();
    void scopeChangeAndDeletePurge();
    void manualRetryClearsStall();

private:
    // Starts a fresh cluster with `backendSettings` and real agents named
    // `agentNames` (with `agentSettings` added to their environment); false
    // (with the reason logged) when anything failed.
    bool startCluster(const QStringList &agentNames,
                      const QProcessEnvironment &backendSettings = {},
                      const QHash<QString, QString> &agentSettings = {});

    std::unique_ptr<SyncCluster> m_cluster;
    QHash<QString, QString> m_relaxedAgentSettings;
    // A cluster kept across the rows of getUnavailable.
    std::unique_ptr<SyncCluster> m_scopeCluster;
};

bool SyncFlowTest::startCluster(const QStringList &agentNames,
                                const QProcessEnvironment &backendSettings,
                                const QHash<QString, QString> &agentSettings)
{
    m_cluster = std::make_unique<SyncCluster>(backendSettings);
    const QString started = m_cluster->start();
    if (!started.isEmpty()) {
        qWarning("cluster did not start: %s", qPrintable(started));
        return false;
    }
    for (const QString &name : agentNames) {
        if (m_cluster->addAgent(name, agentSettings).isEmpty()) {
            qWarning("agent %s was not added: %s", qPrintable(name),
                     qPrintable(m_cluster->lastError()));
            return false;
        }
    }
    return true;
}

void SyncFlowTest::cleanup()
{
    // Every case but the getUnavailable rows gets a fresh cluster.
    if (m_cluster) {
        m_cluster->stop();
        m_cluster.reset();
    }
    if (m_scopeCluster && QTest::currentTestFunction() != QByteArray("getUnavailable")) {
        m_scopeCluster->stop();
        m_scopeCluster.reset();
    }
}

// edge-3 is stopped while the credential is created and rotated; on restart
// it receives version 2 and never version 1, whose envelope the rotation
// dropped.
void SyncFlowTest::offlineAgentGetsRotation()
{
    QVERIFY(startCluster({ u"edge-1"_s, u"edge-2"_s, u"edge-3"_s }));
    SyncCluster &cluster = *m_cluster;
    const QString offlineId = cluster.agentId(u"edge-3"_s);
    QVERIFY(cluster.stopAgent(u"edge-3"_s));

    const Upload created = cluster.createCredential(
        u"core-switch"_s, secretOf(u"pw-1"_s),
        {}, QStringList { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    QCOMPARE(created.json.value(u"deliveries_queued"_s).toInt(), 3);
    const QString id = created.credentialId;
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-1"_s, id, 1), kConvergeMs);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-2"_s, id, 1), kConvergeMs);

    const Upload rotated = cluster.rotateCredential(id, secretOf(u"pw-2"_s));
    QVERIFY2(rotated.status == 200, qPrintable(cluster.lastError()));
    QCOMPARE(rotated.version, 2);
    QCOMPARE(rotated.json.value(u"deliveries_queued"_s).toInt(), 3);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-1"_s, id, 2), kConvergeMs);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-2"_s, id, 2), kConvergeMs);

    QVERIFY2(cluster.startAgent(u"edge-3"_s), qPrintable(cluster.lastError()));
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-3"_s, id, 2), kConvergeMs);
    QCOMPARE(cluster.vaultHolds(u"edge-3"_s, id)->second, 1);

    QTRY_COMPARE_WITH_TIMEOUT(
        credentialRow(cluster, id, u"edge-3"_s).value(u"stored_version"_s).toInteger(), 2, 5000);
    const QJsonObject row = credentialRow(cluster, id, u"edge-3"_s);
    QCOMPARE(row.value(u"secret_stored"_s).toBool(), true);
    QCOMPARE(row.value(u"stored_revision"_s).toInteger(), 1);
    QCOMPARE(row.value(u"stalled"_s).toBool(), false);
    const QJsonObject receipt = statementFields(row.value(u"receipt"_s));
    QCOMPARE(receipt.value(u"state"_s).toString(), u"stored"_s);
    QCOMPARE(receipt.value(u"version"_s).toInteger(), 2);
    QCOMPARE(receipt.value(u"agent_id"_s).toString(), offlineId);

    // No dispatch of version 1 ever started for edge-3.
    for (const QJsonObject &dispatch : dispatchRows(cluster, id, offlineId)) {
        const QJsonObject details = dispatch.value(u"details"_s).toObject();
        QCOMPARE(details.value(u"version"_s).toInteger(), 2);
    }
    const QList<QJsonObject> successes = dispatchRows(cluster, id, offlineId, u"success"_s);
    QCOMPARE(successes.size(), 1);
    QCOMPARE(successes.first().value(u"details"_s).toObject().value(u"source"_s).toString(),
             u"creator"_s);
}

void SyncFlowTest::creatorDeliveryReachesAll()
{
    const QStringList names { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s };
    QVERIFY(startCluster(names));
    SyncCluster &cluster = *m_cluster;

    const Upload created = cluster.createCredential(u"db-primary"_s, secretOf(u"pw-1"_s));
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    QCOMPARE(created.json.value(u"deliveries_queued"_s).toInt(), 3);
    const QString id = created.credentialId;

    for (const QString &name : names)
        QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, name, id, 1), kConvergeMs);
    QTRY_COMPARE_WITH_TIMEOUT(cluster.credential(id)
                                  .value(u"sync"_s)
                                  .toObject()
                                  .value(u"delivered"_s)
                                  .toInt(),
                              3, 5000);

    // Each creator envelope is deleted once its agent stored it.
    QTRY_COMPARE_WITH_TIMEOUT(pendingDeliveries(cluster, id), 0, 5000);

    const QJsonObject sync = cluster.credential(id).value(u"sync"_s).toObject();
    QCOMPARE(sync.value(u"in_scope"_s).toInt(), 3);
    QCOMPARE(sync.value(u"pending"_s).toInt(), 0);
    QCOMPARE(sync.value(u"failed"_s).toInt(), 0);
    for (const QString &name : names) {
        const QString agentId = cluster.agentId(name);
        const QJsonObject row = credentialRow(cluster, id, name);
        QCOMPARE(row.value(u"secret_stored"_s).toBool(), true);
        QCOMPARE(row.value(u"stored_version"_s).toInteger(), 1);
        QCOMPARE(row.value(u"attempts"_s).toInt(), 0);
        QVERIFY(row.value(u"receipt"_s).isObject());

        const QList<QJsonObject> successes = dispatchRows(cluster, id, agentId, u"success"_s);
        QCOMPARE(successes.size(), 1);
        const QJsonObject details = successes.first().value(u"details"_s).toObject();
        QCOMPARE(details.value(u"source"_s).toString(), u"creator"_s);
        QCOMPARE(details.value(u"trigger"_s).toString(), u"upload"_s);
        QVERIFY(!details.contains(u"peer_agent_id"_s));
        // One pending row and its final row, linked by dispatch_audit_id.
        const QList<QJsonObject> all = dispatchRows(cluster, id, agentId);
        QCOMPARE(all.size(), 2);
        QCOMPARE(all.first().value(u"outcome"_s).toString(), u"pending"_s);
        QCOMPARE(all.first().value(u"dispatch_audit_id"_s),
                 successes.first().value(u"dispatch_audit_id"_s));
    }

    // A retry sends nothing, because every agent already stores the current value.
    QVERIFY(cluster.request("POST", u"/api/credentials/%1/retry"_s.arg(id)).status < 300);
    QTest::qWait(1500);
    for (const QString &name : names)
        QCOMPARE(dispatchRows(cluster, id, cluster.agentId(name)).size(), 2);

    // No console watched the upload above. One that opens the feed now
    // receives the deliveries of the next upload and their dispatch audit rows.
    EventFeedClient feed;
    QVERIFY(feed.open(cluster.backendUrl(), cluster.adminToken()));
    const Upload next = cluster.createCredential(u"db-standby"_s, secretOf(u"pw-2"_s));
    QVERIFY2(next.status == 201, qPrintable(cluster.lastError()));
    for (const QString &name : names) {
        const QString agentId = cluster.agentId(name);
        QTRY_VERIFY2_WITH_TIMEOUT(
            !feed.syncChanges(next.credentialId, agentId, u"delivered"_s).isEmpty(),
            qPrintable(feed.state()), kConvergeMs);
        const auto dispatchSucceeded = [&] {
            for (const QJsonObject &row : feed.data(u"audit_appended"_s)) {
                if (row.value(u"event"_s) == u"dispatch"_s
                    && row.value(u"credential_id"_s) == next.credentialId
                    && row.value(u"agent_id"_s) == agentId
                    && row.value(u"outcome"_s) == u"success"_s)
                    return true;
            }
            return false;
        };
        QTRY_VERIFY2_WITH_TIMEOUT(dispatchSucceeded(), qPrintable(feed.state()), 5000);
    }
    QVERIFY(feed.syncChanges(id, cluster.agentId(u"edge-1"_s), u"delivered"_s).isEmpty());
    feed.close();
}

void SyncFlowTest::peerRewrapReachesOthers()
{
    const QStringList names { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s };
    QVERIFY(startCluster(names));
    SyncCluster &cluster = *m_cluster;

    const Upload created = cluster.createCredential(u"api-token"_s, secretOf(u"pw-1"_s), {},
                                                    QStringList { u"edge-1"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    QCOMPARE(created.json.value(u"deliveries_queued"_s).toInt(), 1);
    const QString id = created.credentialId;

    for (const QString &name : names)
        QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, name, id, 1), kConvergeMs);

    const QSet<QString> ids { cluster.agentId(u"edge-1"_s), cluster.agentId(u"edge-2"_s),
                              cluster.agentId(u"edge-3"_s) };
    for (const QString &name : { u"edge-2"_s, u"edge-3"_s }) {
        const QString agentId = cluster.agentId(name);
        QTRY_COMPARE_WITH_TIMEOUT(dispatchRows(cluster, id, agentId, u"success"_s).size(), 1,
                                  5000);
        const QJsonObject success = dispatchRows(cluster, id, agentId, u"success"_s).first();
        const QJsonObject details = success.value(u"details"_s).toObject();
        QCOMPARE(details.value(u"source"_s).toString(), u"peer"_s);
        const QString peer = details.value(u"peer_agent_id"_s).toString();
        QVERIFY2(ids.contains(peer), qPrintable(peer));
        QVERIFY(peer != agentId);
        // The pending row of the same dispatch names the peer source too.
        bool pendingFound = false;
        for (const QJsonObject &row : dispatchRows(cluster, id, agentId, u"pending"_s)) {
            if (row.value(u"dispatch_audit_id"_s) == success.value(u"dispatch_audit_id"_s))
                pendingFound = true;
        }
        QVERIFY(pendingFound);
        QCOMPARE(credentialRow(cluster, id, name).value(u"secret_stored"_s).toBool(), true);
        // The creator's delivery ran first, so the first dispatch found a
        // peer: no attempt failed.
        QCOMPARE(dispatchRows(cluster, id, agentId, u"exhausted"_s).size(), 0);
        QCOMPARE(credentialRow(cluster, id, name).value(u"attempts"_s).toInt(), 0);
    }
    const QJsonObject creatorRow =
        dispatchRows(cluster, id, cluster.agentId(u"edge-1"_s), u"success"_s).value(0);
    QCOMPARE(creatorRow.value(u"details"_s).toObject().value(u"source"_s).toString(),
             u"creator"_s);

    QVERIFY(metricValue(cluster, u"sealrelay_dispatches_total{outcome=\"success\"}"_s) >= 3);
    QVERIFY(metricValue(cluster, u"sealrelay_reconciler_sweeps_total"_s) > 0);
}

// NOTE: the creates run while both agents store their deliveries, so their
// duration depends on the machine's load. The qInfo lines print both durations.
void SyncFlowTest::backfillThousand()
{
    const int count = qEnvironmentVariableIsSet("SEALRELAY_SYNCFLOW_BACKFILL_CREDENTIALS")
        ? qEnvironmentVariableIntValue("SEALRELAY_SYNCFLOW_BACKFILL_CREDENTIALS")
        : 1000;
    QVERIFY(count > 0);
    // Liveness checks are relaxed here, because on a loaded machine the
    // thousand uploads can delay a process's pongs by seconds, and a
    // reconnect would only pause the backfill being measured.
    QProcessEnvironment backendSettings;
    backendSettings.insert(u"SEALRELAY_AGENT_PING_INTERVAL_MS"_s, u"2000"_s);
    backendSettings.insert(u"SEALRELAY_AGENT_SILENCE_TIMEOUT_MS"_s, u"60000"_s);
    m_relaxedAgentSettings = { { u"SEALRELAY_CONNECTION_PING_INTERVAL_MS"_s, u"2000"_s },
                               { u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s, u"60000"_s } };
    QVERIFY(startCluster({ u"edge-1"_s, u"edge-2"_s }, backendSettings, m_relaxedAgentSettings));
    SyncCluster &cluster = *m_cluster;

    QElapsedTimer timer;
    timer.start();
    QStringList ids;
    for (int i = 0; i < count; ++i) {
        const Upload created =
            cluster.createCredential(u"bulk-%1"_s.arg(i), secretOf(u"bulk-%1"_s.arg(i)));
        QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
        ids.append(created.credentialId);
    }
    qInfo("%d creates took %lld ms", count, timer.elapsed());

    // Both existing agents hold every credential before the third one joins.
    const auto deliveredTo = [&cluster](int agents) {
        int delivered = 0;
        const QJsonArray credentials =
            cluster.request("GET", u"/api/credentials"_s).json.value(u"credentials"_s).toArray();
        for (const QJsonValue &credential : credentials) {
            if (credential.toObject().value(u"sync"_s).toObject().value(u"delivered"_s).toInt()
                == agents)
                ++delivered;
        }
        return delivered;
    };
    QTRY_COMPARE_WITH_TIMEOUT(deliveredTo(2), count, 120000);
    qInfo("deliveries to 2 agents done %lld ms after the first create", timer.elapsed());

    EventFeedClient feed;
    QVERIFY(feed.open(cluster.backendUrl(), cluster.adminToken()));
    timer.restart();
    const QString newId = cluster.addAgent(u"edge-3"_s, m_relaxedAgentSettings);
    QVERIFY2(!newId.isEmpty(), qPrintable(cluster.lastError()));
    const qint64 registeredMs = timer.elapsed();

    bool sawBackfilling = false;
    bool eligibleWhileBackfilling = false;
    qint64 highestTotal = 0;
    QString connection;
    const QDeadlineTimer deadline(180000);
    while (!deadline.hasExpired()) {
        const QJsonObject sync = cluster.agent(u"edge-3"_s).value(u"sync"_s).toObject();
        connection = sync.value(u"connection"_s).toString();
        if (connection == u"backfilling"_s) {
            sawBackfilling = true;
            eligibleWhileBackfilling |= sync.value(u"eligible_for_work"_s).toBool();
            highestTotal = qMax(highestTotal, sync.value(u"backfill_total"_s).toInteger());
        }
        // A backfill paused by a reconnect shows `online` until it resumes, so
        // the end is the feed's `online` progress event.
        const QList<QJsonObject> progress = feed.backfillProgress(newId);
        if (connection == u"online"_s && sawBackfilling && !progress.isEmpty()
            && progress.last().value(u"state"_s) == u"online"_s)
            break;
        QTest::qWait(200);
    }
    const qint64 backfillMs = timer.elapsed();
    qInfo("backfill of %d credentials to a new agent took %lld ms (registered after %lld ms)",
          count, backfillMs, registeredMs);

    QVERIFY(sawBackfilling);
    QVERIFY(!eligibleWhileBackfilling);
    QCOMPARE(highestTotal, qint64(count));
    QCOMPARE(connection, u"online"_s);
    QCOMPARE(cluster.agent(u"edge-3"_s).value(u"sync"_s).toObject().value(u"eligible_for_work"_s)
                 .toBool(),
             true);
    // The finished backfill leaves the agent row, so its counts come from the feed.
    QTRY_VERIFY2_WITH_TIMEOUT(!feed.backfillProgress(newId).isEmpty()
                                  && feed.backfillProgress(newId).last().value(u"state"_s)
                                      == u"online"_s,
                              qPrintable(feed.state()), 5000);
    qsizetype pauses = 0;
    for (const QJsonObject &progress : feed.backfillProgress(newId))
        pauses += progress.value(u"state"_s) == u"paused"_s ? 1 : 0;
    qInfo("the backfill paused %lld times for a reconnect", qlonglong(pauses));
    const QJsonObject finished = feed.backfillProgress(newId).last();
    QCOMPARE(finished.value(u"total"_s).toInteger(), qint64(count));
    QCOMPARE(finished.value(u"done"_s).toInteger(), qint64(count));
    QCOMPARE(finished.value(u"failed"_s).toInteger(), 0);
    feed.close();

    QTRY_COMPARE_WITH_TIMEOUT(deliveredTo(3), count, 10000);
    for (const int index : { 0, count / 2, count - 1 })
        QVERIFY2(holdsVersion(cluster, u"edge-3"_s, ids.at(index), 1), qPrintable(ids.at(index)));
}

void SyncFlowTest::warmReconnectGapOnly()
{
    QVERIFY(startCluster({ u"edge-1"_s, u"edge-2"_s }));
    SyncCluster &cluster = *m_cluster;
    const QString agentId = cluster.agentId(u"edge-2"_s);

    QStringList old;
    for (int i = 0; i < 3; ++i) {
        const Upload created =
            cluster.createCredential(u"old-%1"_s.arg(i), secretOf(u"old-%1"_s.arg(i)));
        QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
        old.append(created.credentialId);
    }
    for (const QString &id : old)
        QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-2"_s, id, 1), kConvergeMs);

    EventFeedClient feed;
    QVERIFY(feed.open(cluster.backendUrl(), cluster.adminToken()));
    QVERIFY(cluster.stopAgent(u"edge-2"_s));

    QStringList fresh;
    for (int i = 0; i < 3; ++i) {
        const Upload created =
            cluster.createCredential(u"new-%1"_s.arg(i), secretOf(u"new-%1"_s.arg(i)));
        QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
        fresh.append(created.credentialId);
    }
    const Upload rotated = cluster.rotateCredential(old.first(), secretOf(u"old-0b"_s));
    QVERIFY2(rotated.status == 200, qPrintable(cluster.lastError()));

    QVERIFY2(cluster.startAgent(u"edge-2"_s), qPrintable(cluster.lastError()));
    QVERIFY(cluster.statusField(u"edge-2"_s, u"last_registration"_s)
                .startsWith(u"warm_reconnect"_s));

    QTRY_VERIFY_WITH_TIMEOUT(!feed.backfillProgress(agentId).isEmpty()
                                 && feed.backfillProgress(agentId).last().value(u"state"_s)
                                     == u"online"_s,
                             kConvergeMs);
    const QList<QJsonObject> progress = feed.backfillProgress(agentId);
    QCOMPARE(progress.first().value(u"total"_s).toInteger(), 4);
    QCOMPARE(progress.last().value(u"total"_s).toInteger(), 4);
    QCOMPARE(progress.last().value(u"done"_s).toInteger(), 4);
    QCOMPARE(progress.last().value(u"failed"_s).toInteger(), 0);

    for (const QString &id : fresh)
        QVERIFY2(holdsVersion(cluster, u"edge-2"_s, id, 1), qPrintable(id));
    QVERIFY(holdsVersion(cluster, u"edge-2"_s, old.at(0), 2));
    QVERIFY(holdsVersion(cluster, u"edge-2"_s, old.at(1), 1));
    QVERIFY(holdsVersion(cluster, u"edge-2"_s, old.at(2), 1));
    // The credentials it already held got no second dispatch.
    QCOMPARE(dispatchRows(cluster, old.at(1), agentId).size(), 2);
    QCOMPARE(dispatchRows(cluster, old.at(2), agentId).size(), 2);
    feed.close();
}

// The reconciler sweeps only every 10 minutes here, so edge-2 gets the
// credential only through its own credential_missing.
void SyncFlowTest::jitRepairDelivers()
{
    QProcessEnvironment settings;
    settings.insert(u"SEALRELAY_RECONCILER_INTERVAL_MS"_s, u"600000"_s);
    QVERIFY(startCluster({ u"edge-1"_s, u"edge-2"_s }, settings));
    SyncCluster &cluster = *m_cluster;

    // edge-1, the only agent with an envelope, is away at upload, so
    // edge-2's first attempt finds no peer and waits for the reconciler.
    QVERIFY2(cluster.stopAgent(u"edge-1"_s), qPrintable(cluster.lastError()));
    const Upload created = cluster.createCredential(u"jit-db"_s, secretOf(u"jit-pw"_s), {},
                                                    QStringList { u"edge-1"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    const QString id = created.credentialId;
    QTRY_COMPARE_WITH_TIMEOUT(
        credentialRow(cluster, id, u"edge-2"_s).value(u"attempts"_s).toInt(), 1, 5000);
    QVERIFY2(cluster.startAgent(u"edge-1"_s), qPrintable(cluster.lastError()));
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-1"_s, id, 1), kConvergeMs);
    QCOMPARE(credentialRow(cluster, id, u"edge-2"_s).value(u"attempts"_s).toInt(), 1);
    QCOMPARE(credentialRow(cluster, id, u"edge-2"_s).value(u"secret_stored"_s).toBool(), false);
    QVERIFY(!cluster.vaultHolds(u"edge-2"_s, id).has_value());

    const double before = metricValue(cluster, u"sealrelay_jit_repair_latency_seconds_count"_s);
    QVERIFY(before >= 0);
    const ProcessResult result = cluster.get(u"edge-2"_s, u"jit-db"_s, { u"--field"_s,
                                                                          u"password"_s });
    QVERIFY2(result.exitCode == 0, qPrintable(result.err));
    qInfo("get with a JIT repair took %lld ms", result.elapsedMs);
    QCOMPARE(result.out.trimmed(), u"jit-pw"_s);
    // The agent waits up to 5 s for a repair.
    QVERIFY2(result.elapsedMs < 4000, qPrintable(QString::number(result.elapsedMs)));
    // The backend observes the latency when the store reply arrives, which may
    // be after the agent already returned the secret.
    QTRY_COMPARE_WITH_TIMEOUT(
        metricValue(cluster, u"sealrelay_jit_repair_latency_seconds_count"_s), before + 1, 5000);

    QVERIFY(holdsVersion(cluster, u"edge-2"_s, id, 1));
    const QList<QJsonObject> successes =
        dispatchRows(cluster, id, cluster.agentId(u"edge-2"_s), u"success"_s);
    QCOMPARE(successes.size(), 1);
    QCOMPARE(successes.first().value(u"details"_s).toObject().value(u"trigger"_s).toString(),
             u"jit"_s);
}

void SyncFlowTest::getUnavailable_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<int>("exitCode");
    QTest::newRow("unknown name") << u"no-such-credential"_s << u"UNKNOWN_CREDENTIAL"_s << 3;
    QTest::newRow("outside scope") << u"edge-1-only"_s << u"NOT_IN_SCOPE"_s << 4;
}

void SyncFlowTest::getUnavailable()
{
    QFETCH(QString, name);
    QFETCH(QString, reason);
    QFETCH(int, exitCode);
    if (!m_scopeCluster) {
        m_scopeCluster = std::make_unique<SyncCluster>();
        const QString started = m_scopeCluster->start();
        QVERIFY2(started.isEmpty(), qPrintable(started));
        QVERIFY2(!m_scopeCluster->addAgent(u"edge-1"_s).isEmpty(),
                 qPrintable(m_scopeCluster->lastError()));
        QVERIFY2(!m_scopeCluster->addAgent(u"edge-2"_s).isEmpty(),
                 qPrintable(m_scopeCluster->lastError()));
        const Upload created = m_scopeCluster->createCredential(
            u"edge-1-only"_s, secretOf(u"pw-1"_s), { u"edge-1"_s });
        QVERIFY2(created.status == 201, qPrintable(m_scopeCluster->lastError()));
    }

    const ProcessResult result = m_scopeCluster->get(u"edge-2"_s, name);
    QCOMPARE(result.exitCode, exitCode);
    QVERIFY2(result.err.contains(reason), qPrintable(result.err));
    QCOMPARE(result.out, QString());
    // The backend replies at once instead of letting the 5 s wait run out.
    QVERIFY2(result.elapsedMs < 4000, qPrintable(QString::number(result.elapsedMs)));
}

// The only peer holding the credential never replies to a rewrap_request,
// and the backend waits 10 s for it, so edge-2 gives up after its own 1.5 s
// wait.
void SyncFlowTest::getTimesOutDuringRepair()
{
    QProcessEnvironment settings;
    settings.insert(u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"10000"_s);
    QVERIFY(startCluster({}, settings));
    SyncCluster &cluster = *m_cluster;
    ScriptedAgent silent;
    silent.setAutoStore(true);
    silent.setRewrapHandler([](const RewrapRequest &) { return std::optional<AgentMessage>(); });
    QVERIFY2(!cluster.addScriptedAgent(silent, u"silent-peer"_s).isEmpty(),
             qPrintable(cluster.lastError()));
    QVERIFY(silent.waitFor<Registered>(5000).has_value());
    QVERIFY2(!cluster.addAgent(u"edge-2"_s, { { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"1500"_s } })
                  .isEmpty(),
             qPrintable(cluster.lastError()));

    const Upload created = cluster.createCredential(u"db-slow"_s, secretOf(u"pw-1"_s), {},
                                                    QStringList { u"silent-peer"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    QTRY_VERIFY_WITH_TIMEOUT(silent.payloadFor(created.credentialId).has_value(), kConvergeMs);
    // Until the backend records the creator delivery, the peer is not
    // eligible, and a get is answered NO_ELIGIBLE_PEER at once.
    QTRY_VERIFY_WITH_TIMEOUT(credentialRow(cluster, created.credentialId, u"silent-peer"_s)
                                 .value(u"secret_stored"_s)
                                 .toBool(),
                             kConvergeMs);

    const ProcessResult result =
        cluster.get(u"edge-2"_s, u"db-slow"_s, { u"--missing-wait"_s, u"1500"_s });
    QVERIFY2(result.exitCode == 5, qPrintable(result.err));
    // The agent's wait is a coarse Qt timer, which may fire up to 5 % early.
    QVERIFY2(result.elapsedMs >= 1425, qPrintable(QString::number(result.elapsedMs)));
    QVERIFY2(result.elapsedMs < 10000, qPrintable(QString::number(result.elapsedMs)));
    QCOMPARE(result.out, QString());
    QVERIFY(!cluster.vaultHolds(u"edge-2"_s, created.credentialId).has_value());
    silent.close();
}

void SyncFlowTest::explicitScopeExcludes()
{
    QVERIFY(startCluster({ u"edge-1"_s, u"edge-2"_s, u"edge-3"_s }));
    SyncCluster &cluster = *m_cluster;

    const Upload created = cluster.createCredential(u"pair-only"_s, secretOf(u"pw-1"_s),
                                                    { u"edge-1"_s, u"edge-2"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    QCOMPARE(created.json.value(u"deliveries_queued"_s).toInt(), 2);
    const QString id = created.credentialId;
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-1"_s, id, 1), kConvergeMs);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-2"_s, id, 1), kConvergeMs);

    // Several reconciler sweeps pass without touching edge-3.
    QTest::qWait(3000);
    QCOMPARE(dispatchRows(cluster, id, cluster.agentId(u"edge-1"_s)).size(), 2);
    QCOMPARE(dispatchRows(cluster, id, cluster.agentId(u"edge-3"_s)).size(), 0);
    cluster.clearLastError();
    QVERIFY(!cluster.vaultCredential(u"edge-3"_s, id).has_value());
    QCOMPARE(cluster.lastError(), QString());
    QCOMPARE(cluster.credential(id).value(u"sync"_s).toObject().value(u"in_scope"_s).toInt(), 2);
}

void SyncFlowTest::scopeChangeAndDeletePurge()
{
    QVERIFY(startCluster({ u"edge-1"_s, u"edge-2"_s }));
    SyncCluster &cluster = *m_cluster;
    EventFeedClient feed;
    QVERIFY(feed.open(cluster.backendUrl(), cluster.adminToken()));

    const Upload created = cluster.createCredential(u"shrinking"_s, secretOf(u"pw-1"_s),
                                                    { u"edge-1"_s, u"edge-2"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    const QString id = created.credentialId;
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-1"_s, id, 1), kConvergeMs);
    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-2"_s, id, 1), kConvergeMs);

    // Scope {edge-1}: edge-2 purges the secret and keeps a tombstone.
    const Upload scoped = cluster.changeScope(id, { u"edge-1"_s });
    QVERIFY2(scoped.status == 200, qPrintable(cluster.lastError()));
    QTRY_VERIFY_WITH_TIMEOUT(!cluster.vaultHolds(u"edge-2"_s, id).has_value(), kConvergeMs);
    const std::optional<agent::HeldCredential> tombstone = cluster.vaultCredential(u"edge-2"_s, id);
    QVERIFY(tombstone.has_value());
    QCOMPARE(tombstone->revision, 2);
    QTRY_COMPARE_WITH_TIMEOUT(statementFields(credentialRow(cluster, id, u"edge-2"_s)
                                                  .value(u"receipt"_s))
                                  .value(u"state"_s)
                                  .toString(),
                              u"deleted"_s, 5000);
    const QJsonObject receipt =
        statementFields(credentialRow(cluster, id, u"edge-2"_s).value(u"receipt"_s));
    QCOMPARE(receipt.value(u"revision"_s).toInteger(), 2);
    QCOMPARE(credentialRow(cluster, id, u"edge-2"_s).value(u"secret_stored"_s).toBool(), false);
    QTRY_COMPARE_WITH_TIMEOUT(feed.syncChanges(id, cluster.agentId(u"edge-2"_s), u"purged"_s).size(),
                              1, 5000);
    QVERIFY(feed.syncChanges(id, cluster.agentId(u"edge-2"_s), u"purged"_s)
                .first()
                .value(u"receipt"_s)
                .isObject());
    // edge-1 stays in scope and applies revision 2 with its secret.
    QTRY_COMPARE_WITH_TIMEOUT(cluster.vaultHolds(u"edge-1"_s, id).value_or(QPair<qint64, qint64>())
                                  .second,
                              2, kConvergeMs);
    QVERIFY(holdsVersion(cluster, u"edge-1"_s, id, 1));

    // Delete: edge-1 purges too.
    const Upload deleted = cluster.deleteCredential(id);
    QVERIFY2(deleted.status == 200, qPrintable(cluster.lastError()));
    QCOMPARE(deleted.revision, 3);
    QTRY_VERIFY_WITH_TIMEOUT(!cluster.vaultHolds(u"edge-1"_s, id).has_value(), kConvergeMs);
    QTRY_COMPARE_WITH_TIMEOUT(statementFields(credentialRow(cluster, id, u"edge-1"_s)
                                                  .value(u"receipt"_s))
                                  .value(u"state"_s)
                                  .toString(),
                              u"deleted"_s, 5000);
    QCOMPARE(statementFields(credentialRow(cluster, id, u"edge-1"_s).value(u"receipt"_s))
                 .value(u"revision"_s)
                 .toInteger(),
             3);
    QTRY_COMPARE_WITH_TIMEOUT(feed.syncChanges(id, cluster.agentId(u"edge-1"_s), u"purged"_s).size(),
                              1, 5000);
    // edge-2 keeps a tombstone of revision 2, so it also receives the delete.
    QVERIFY(!cluster.vaultHolds(u"edge-2"_s, id).has_value());
    QTRY_COMPARE_WITH_TIMEOUT(statementFields(credentialRow(cluster, id, u"edge-2"_s)
                                                  .value(u"receipt"_s))
                                  .value(u"revision"_s)
                                  .toInteger(),
                              3, 5000);
    QCOMPARE(statementFields(credentialRow(cluster, id, u"edge-2"_s).value(u"receipt"_s))
                 .value(u"state"_s)
                 .toString(),
             u"deleted"_s);
    const ProcessResult result = cluster.get(u"edge-1"_s, u"shrinking"_s);
    QCOMPARE(result.exitCode, 3);
    feed.close();
}

// The only peer rejects every rewrap with NOT_HELD, so edge-2's row stalls
// after three failed attempts. Once the peer is honest, a manual retry
// delivers it.
void SyncFlowTest::manualRetryClearsStall()
{
    QProcessEnvironment settings;
    settings.insert(u"SEALRELAY_RECONCILER_MAX_ATTEMPTS"_s, u"3"_s);
    settings.insert(u"SEALRELAY_RECONCILER_BACKOFF_SCHEDULE_MS"_s, u"300,300,300"_s);
    settings.insert(u"SEALRELAY_API_RETRY_WINDOW_MS"_s, u"10000"_s);
    QVERIFY(startCluster({}, settings));
    SyncCluster &cluster = *m_cluster;
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setRewrapHandler([&peer](const RewrapRequest &request) {
        return std::optional<AgentMessage>(peer.refusedReply(request, Reason::NotHeld));
    });
    QVERIFY2(!cluster.addScriptedAgent(peer, u"refusing-peer"_s).isEmpty(),
             qPrintable(cluster.lastError()));
    QVERIFY(peer.waitFor<Registered>(5000).has_value());
    QVERIFY2(!cluster.addAgent(u"edge-2"_s).isEmpty(), qPrintable(cluster.lastError()));
    const QString agentId = cluster.agentId(u"edge-2"_s);

    const Upload created = cluster.createCredential(u"stuck"_s, secretOf(u"pw-1"_s), {},
                                                    QStringList { u"refusing-peer"_s });
    QVERIFY2(created.status == 201, qPrintable(cluster.lastError()));
    const QString id = created.credentialId;

    QTRY_VERIFY_WITH_TIMEOUT(
        credentialRow(cluster, id, u"edge-2"_s).value(u"stalled"_s).toBool(), kConvergeMs);
    QJsonObject row = credentialRow(cluster, id, u"edge-2"_s);
    QCOMPARE(row.value(u"attempts"_s).toInt(), 3);
    QCOMPARE(row.value(u"secret_stored"_s).toBool(), false);
    const QJsonArray stalledAlerts = cluster.alerts(u"credential_sync_stalled"_s);
    QCOMPARE(stalledAlerts.size(), 1);
    QCOMPARE(stalledAlerts.at(0).toObject().value(u"subject"_s).toString(),
             u"credential:%1/agent:%2"_s.arg(id, agentId));
    QCOMPARE(stalledAlerts.at(0).toObject().value(u"count"_s).toInt(), 1);
    const QJsonArray stalledAudit = cluster.audit(u"delivery_stalled"_s);
    QCOMPARE(stalledAudit.size(), 1);
    QCOMPARE(stalledAudit.at(0).toObject().value(u"reason"_s).toString(),
             u"MAX_RETRIES_EXCEEDED"_s);
    QVERIFY(metricValue(cluster,
                        u"sealrelay_alerts_raised_total{type=\"credential_sync_stalled\"}"_s)
            == 1);

    // A retired row stays retired: no sweep tries it again.
    const qsizetype dispatchesWhenStalled = dispatchRows(cluster, id, agentId).size();
    QTest::qWait(2500);
    QCOMPARE(dispatchRows(cluster, id, agentId).size(), dispatchesWhenStalled);
    QVERIFY(!cluster.vaultHolds(u"edge-2"_s, id).has_value());

    peer.setRewrapHandler({});
    peer.setAutoRewrap(true);
    const BackendReply retry =
        cluster.request("POST", u"/api/credentials/%1/retry"_s.arg(id));
    QVERIFY2(retry.status >= 200 && retry.status < 300, retry.body.constData());
    const BackendReply second =
        cluster.request("POST", u"/api/credentials/%1/retry"_s.arg(id));
    QCOMPARE(second.status, 429);

    QTRY_VERIFY_WITH_TIMEOUT(holdsVersion(cluster, u"edge-2"_s, id, 1), kConvergeMs);
    QTRY_COMPARE_WITH_TIMEOUT(
        credentialRow(cluster, id, u"edge-2"_s).value(u"secret_stored"_s).toBool(), true, 5000);
    row = credentialRow(cluster, id, u"edge-2"_s);
    QCOMPARE(row.value(u"stalled"_s).toBool(), false);
    const QList<QJsonObject> successes = dispatchRows(cluster, id, agentId, u"success"_s);
    QCOMPARE(successes.size(), 1);
    QCOMPARE(successes.first().value(u"details"_s).toObject().value(u"trigger"_s).toString(),
             u"retry"_s);
    QCOMPARE(successes.first().value(u"details"_s).toObject().value(u"peer_agent_id"_s).toString(),
             peer.agentId());
    // The stall alert was raised once.
    QCOMPARE(cluster.alerts(u"credential_sync_stalled"_s).size(), 1);
    peer.close();
}

QTEST_MAIN(SyncFlowTest)
#include "tst_syncflow.moc"
