// End-to-end checks of the sync engine against misbehaving agents. The cases
// cover a peer that seals another secret, a reporter that floods mismatch
// reports, unsolicited rewrap responses and a peer that rejects the target's
// certificate. Others cover which target reports the integrity response
// acts on, the credential_missing rate limit and flood alert, the peer limit
// of one dispatch and the single dispatch per (credential, target). The last
// cases cover a backfill's concurrency and resume, and the reconnect throttle.
//
// Each case starts its own SyncCluster with a 10-minute reconciler interval
// and backoff, so after an upload or a registration only the test (a `get`,
// or POST /api/credentials/{id}/retry) starts a dispatch.
#include "digest.h"
#include "envelope.h"
#include "ids.h"
#include "messages.h"
#include "scriptedagent.h"
#include "synccluster.h"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QtTest>

#include <functional>
#include <memory>
#include <vector>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::synctest;

namespace {

const QString kAgentBinary = QStringLiteral(SEALRELAY_BINARY_DIR "/agent/sealrelay-agent");

// The cluster's default peer timeout (SEALRELAY_DISPATCH_PEER_TIMEOUT_MS).
constexpr int kPeerTimeoutMs = 3000;
constexpr int kWaitMs = 20000;

const QJsonObject kSecretX { { u"password"_s, u"x-secret"_s }, { u"username"_s, u"admin"_s } };
const QJsonObject kSecretY { { u"password"_s, u"y-secret"_s }, { u"username"_s, u"other"_s } };

// Cluster settings with a reconciler interval and backoff of 10 minutes,
// plus `extra`. A sweep would otherwise re-sync a source row that the
// integrity response marked within a second, and the failed attempt would
// replace its last_error COMMITMENT_MISMATCH_SOURCE.
QProcessEnvironment backendSettings(const QHash<QString, QString> &extra = {})
{
    QProcessEnvironment environment;
    environment.insert(u"SEALRELAY_RECONCILER_INTERVAL_MS"_s, u"600000"_s);
    environment.insert(u"SEALRELAY_RECONCILER_BACKOFF_SCHEDULE_MS"_s, u"600000"_s);
    for (auto it = extra.cbegin(); it != extra.cend(); ++it)
        environment.insert(it.key(), it.value());
    return environment;
}

bool waitUntil(const std::function<bool()> &condition, int timeoutMs = kWaitMs)
{
    return QTest::qWaitFor(condition, timeoutMs);
}

// The (credential, agent) row of GET /api/credentials/{id}; empty when absent.
QJsonObject credentialRow(SyncCluster &cluster, const QString &credentialId, const QString &agentId)
{
    const QJsonObject detail = cluster.credential(credentialId);
    for (const QJsonValue &value : detail.value(u"agents"_s).toArray()) {
        if (value.toObject().value(u"agent_id"_s).toString() == agentId)
            return value.toObject();
    }
    return {};
}

bool secretStored(SyncCluster &cluster, const QString &credentialId, const QString &agentId)
{
    return credentialRow(cluster, credentialId, agentId).value(u"secret_stored"_s).toBool();
}

// The `dispatch` audit rows of one (credential, target), oldest first: with
// `pending` true the rows written when a dispatch starts, else the final ones.
QList<QJsonObject> dispatchRows(SyncCluster &cluster, const QString &credentialId,
                                const QString &targetId, bool pending)
{
    QList<QJsonObject> rows;
    for (const QJsonValue &value : cluster.audit(u"dispatch"_s)) {
        const QJsonObject row = value.toObject();
        if (row.value(u"credential_id"_s).toString() != credentialId
            || row.value(u"agent_id"_s).toString() != targetId)
            continue;
        if ((row.value(u"outcome"_s).toString() == u"pending"_s) == pending)
            rows.append(row);
    }
    return rows;
}

// Audit rows of `event` whose `field` equals `value`, oldest first.
QList<QJsonObject> auditRows(SyncCluster &cluster, const QString &event, const QString &field,
                             const QString &value)
{
    QList<QJsonObject> rows;
    for (const QJsonValue &row : cluster.audit(event)) {
        if (row.toObject().value(field).toString() == value)
            rows.append(row.toObject());
    }
    return rows;
}

// The value of one series of GET /metrics, e.g. `name{label="x"}`; -1 when absent.
double metricValue(SyncCluster &cluster, const QString &series)
{
    const BackendReply metrics = cluster.request("GET", u"/metrics"_s);
    const QRegularExpression line(u"^"_s + QRegularExpression::escape(series) + u" (\\S+)$"_s,
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch match = line.match(QString::fromUtf8(metrics.body));
    return match.hasMatch() ? match.captured(1).toDouble() : -1;
}

// The blocklist's default lifetime (SEALRELAY_INTEGRITY_BLOCKLIST_TTL_MS),
// which the cluster keeps.
constexpr qint64 kBlocklistTtlMs = 24LL * 60 * 60 * 1000;

// Reads (created_at, expires_at), in epoch milliseconds, of the
// peer_blocklist row of (credential, source) from the backend's SQLite file.
// Returns std::nullopt when there is no such row.
std::optional<QPair<qint64, qint64>> blocklistEntry(SyncCluster &cluster,
                                                    const QString &credentialId,
                                                    const QString &sourceAgentId)
{
    const QString connectionName = u"blocklist-"_s + newUuid();
    std::optional<QPair<qint64, qint64>> entry;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, connectionName);
        database.setDatabaseName(QDir(cluster.rootDir()).filePath(u"backend/backend.db"_s));
        database.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=5000"_s);
        if (database.open()) {
            QSqlQuery query(database);
            query.prepare(u"SELECT created_at, expires_at FROM peer_blocklist "
                          "WHERE credential_id = ? AND source_agent_id = ?"_s);
            query.addBindValue(credentialId);
            query.addBindValue(sourceAgentId);
            if (!query.exec())
                qWarning("cannot read peer_blocklist: %s",
                         qPrintable(query.lastError().text()));
            else if (query.next())
                entry = qMakePair(query.value(0).toLongLong(), query.value(1).toLongLong());
        } else {
            qWarning("cannot open the backend database: %s",
                     qPrintable(database.lastError().text()));
        }
    }
    QSqlDatabase::removeDatabase(connectionName);
    return entry;
}

int retry(SyncCluster &cluster, const QString &credentialId)
{
    return cluster.request("POST", u"/api/credentials/%1/retry"_s.arg(credentialId)).status;
}

// Retries once the retry window of the last retry has passed (429 until then).
int retryAfterWindow(SyncCluster &cluster, const QString &credentialId)
{
    int status = 0;
    waitUntil([&] {
        status = retry(cluster, credentialId);
        return status != 429;
    });
    return status;
}

// Takes the oldest rewrap_request for `credentialId` out of the agent's
// queue; requests for other credentials are dropped.
std::optional<RewrapRequest> takeRewrapRequest(ScriptedAgent &agent, const QString &credentialId,
                                               int timeoutMs = kWaitMs)
{
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < timeoutMs) {
        std::optional<RewrapRequest> request =
            agent.waitFor<RewrapRequest>(int(timeoutMs - timer.elapsed()));
        if (request && request->credentialId == credentialId)
            return request;
    }
    return std::nullopt;
}

// credential_store messages for `credentialId` the agent has received.
int storesReceived(const ScriptedAgent &agent, const QString &credentialId)
{
    int count = 0;
    for (const AgentMessage &message : agent.received()) {
        const auto *store = std::get_if<CredentialStore>(&message);
        if (store && store->credentialId == credentialId)
            ++count;
    }
    return count;
}

// `sealrelay-agent get` started without blocking the test's event loop, so
// scripted agents keep replying while it waits. The agent's environment is
// the cluster default, which every agent of this suite uses.
std::unique_ptr<QProcess> startGet(SyncCluster &cluster, const QString &agentName,
                                   const QString &credentialName)
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    const QHash<QString, QString> defaults = SyncCluster::defaultAgentEnvironment();
    for (auto it = defaults.cbegin(); it != defaults.cend(); ++it)
        environment.insert(it.key(), it.value());
    auto process = std::make_unique<QProcess>();
    process->setProcessEnvironment(environment);
    process->start(kAgentBinary,
                   { u"get"_s, u"--data-dir"_s, cluster.dataDir(agentName), credentialName });
    return process;
}

ProcessResult finishGet(QProcess &process, const QElapsedTimer &started, int timeoutMs = 30000)
{
    ProcessResult result;
    const bool finished =
        waitUntil([&process] { return process.state() == QProcess::NotRunning; }, timeoutMs);
    if (!finished) {
        process.kill();
        process.waitForFinished();
    } else if (process.exitStatus() == QProcess::NormalExit) {
        result.exitCode = process.exitCode();
    }
    result.out = QString::fromUtf8(process.readAllStandardOutput());
    result.err = QString::fromUtf8(process.readAllStandardError());
    result.elapsedMs = started.elapsed();
    return result;
}

// Returns the credential_stored an honest target sends for `delivery`, or
// std::nullopt with `error` set when the target cannot open the delivery.
std::optional<CredentialStored> honestStored(ScriptedAgent &target, const CredentialStore &delivery,
                                             QString &error)
{
    const std::optional<SecureBuffer> payload = target.openDelivery(delivery);
    if (!payload) {
        error = u"the target could not open the delivery"_s;
        return std::nullopt;
    }
    return target.storedReply(delivery, payload->view());
}

// Waits until the dispatches of `credentialId` to `targetId` that the upload
// started have ended. The upload's own dispatch reaches the target only when
// the peer stored the credential first. Otherwise a retry sends it.
bool awaitDispatchToTarget(SyncCluster &cluster, const ScriptedAgent &target,
                           const QString &credentialId)
{
    const QString targetId = target.agentId();
    const auto allEnded = [&] {
        return dispatchRows(cluster, credentialId, targetId, false).size()
            == dispatchRows(cluster, credentialId, targetId, true).size();
    };
    if (!waitUntil([&] { return !dispatchRows(cluster, credentialId, targetId, true).isEmpty(); })
        || !waitUntil(allEnded))
        return false;
    if (storesReceived(target, credentialId) > 0)
        return true;
    const qsizetype finalsBefore = dispatchRows(cluster, credentialId, targetId, false).size();
    if (retry(cluster, credentialId) != 200)
        return false;
    return waitUntil(
        [&] { return dispatchRows(cluster, credentialId, targetId, false).size() > finalsBefore; });
}

// Adds a scripted agent and waits for its `registered`.
bool addScripted(SyncCluster &cluster, ScriptedAgent &agent, const QString &name)
{
    if (cluster.addScriptedAgent(agent, name).isEmpty())
        return false;
    return agent.waitFor<Registered>(kWaitMs).has_value();
}

// Creates `count` credentials named PREFIX-0, PREFIX-1, ... whose creator
// envelope goes to the scripted agent `s` only, and waits until `s` stored
// each. Returns their ids, or an empty list when one failed.
QStringList createHeldByPeer(SyncCluster &cluster, const ScriptedAgent &peer,
                             const QString &prefix, int count)
{
    QStringList ids;
    for (int i = 0; i < count; ++i) {
        const Upload upload = cluster.createCredential(
            u"%1-%2"_s.arg(prefix).arg(i), QJsonObject { { u"password"_s, newUuid() } }, {},
            QStringList { u"s"_s });
        if (upload.status != 201)
            return {};
        ids.append(upload.credentialId);
    }
    for (const QString &id : std::as_const(ids)) {
        if (!waitUntil([&] { return secretStored(cluster, id, peer.agentId()); }))
            return {};
    }
    return ids;
}

} // namespace

class SyncIntegrityTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void maliciousPeerBlocklisted();
    void targetReport_data();
    void targetReport();
    void badReceiptNotRecorded_data();
    void badReceiptNotRecorded();
    void floodingReporterQuarantined();
    void unsolicitedResponse_data();
    void unsolicitedResponse();
    void untrustedTargetKeyAlert();
    void jitRateLimitAndFlood();
    void dispatchTriesThreePeers();
    void oneDispatchPerPair();
    void backfillConcurrencyAndResume();
    void backfillDispatchLastsUntilTargetReplies();
    void jitRepairSkipsBackfillQueue();
    void reconnectThrottleDelaysBackfill();
};

// M stores X and Y and replies to the rewrap of X for T with Y's payload
// sealed to T under a valid attestation for X.
void SyncIntegrityTest::maliciousPeerBlocklisted()
{
    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));

    const QString targetId = cluster.addAgent(u"t"_s);
    QVERIFY2(!targetId.isEmpty(), qPrintable(cluster.lastError()));
    const QString honestId = cluster.addAgent(u"p"_s);
    QVERIFY2(!honestId.isEmpty(), qPrintable(cluster.lastError()));

    ScriptedAgent malicious;
    malicious.setAutoStore(true);
    QString xId;
    QString yId;
    bool armed = false;
    int requestsForX = 0;
    // Until armed, M refuses, so the dispatch the upload starts ends without
    // a delivery and the `get` below starts the one that matters.
    malicious.setRewrapHandler([&](const RewrapRequest &request) -> std::optional<AgentMessage> {
        if (!armed || request.credentialId != xId)
            return malicious.refusedReply(request, Reason::NotHeld);
        ++requestsForX;
        const std::optional<QByteArray> other = malicious.payloadFor(yId);
        if (!other)
            return std::nullopt;
        return malicious.rewrapResponse(request, *other);
    });
    QVERIFY2(addScripted(cluster, malicious, u"m"_s), qPrintable(cluster.lastError()));
    const QString maliciousId = malicious.agentId();

    // P receives its envelope of X only when it comes back, so M is the only
    // peer of the first repair.
    QVERIFY(cluster.stopAgent(u"p"_s));

    const Upload y = cluster.createCredential(u"y"_s, kSecretY, { u"m"_s }, QStringList { u"m"_s });
    QVERIFY2(y.status == 201, qPrintable(cluster.lastError()));
    yId = y.credentialId;
    const Upload x = cluster.createCredential(u"x"_s, kSecretX, {}, QStringList { u"m"_s, u"p"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    xId = x.credentialId;

    QVERIFY(waitUntil([&] { return secretStored(cluster, xId, maliciousId); }));
    QVERIFY(waitUntil([&] { return secretStored(cluster, yId, maliciousId); }));
    QVERIFY(waitUntil([&] { return !dispatchRows(cluster, xId, targetId, false).isEmpty(); }));
    const qsizetype finalRowsBefore = dispatchRows(cluster, xId, targetId, false).size();
    QVERIFY(!cluster.vaultHolds(u"t"_s, xId).has_value());

    armed = true;
    QElapsedTimer getTimer;
    getTimer.start();
    std::unique_ptr<QProcess> get = startGet(cluster, u"t"_s, u"x"_s);
    const ProcessResult result = finishGet(*get, getTimer);
    QVERIFY2(result.exitCode == 4, qPrintable(result.err));
    QVERIFY2(result.err.contains(u"COMMITMENT_MISMATCH"_s), qPrintable(result.err));
    QCOMPARE(result.out, QString());
    QCOMPARE(requestsForX, 1);

    // T refused what M sealed and stored nothing; its signed refusal is kept
    // on the row for consoles that connect later.
    QVERIFY(!cluster.vaultHolds(u"t"_s, xId).has_value());
    const QJsonObject targetRow = credentialRow(cluster, xId, targetId);
    QCOMPARE(targetRow.value(u"secret_stored"_s).toBool(), false);
    const QJsonObject refusedReceipt = QJsonDocument::fromJson(
        QByteArray::fromBase64(
            targetRow.value(u"receipt"_s).toObject().value(u"statement_b64"_s).toString().toLatin1()))
                                           .object();
    QCOMPARE(refusedReceipt.value(u"state"_s).toString(), u"refused"_s);
    QCOMPARE(refusedReceipt.value(u"credential_id"_s).toString(), xId);
    const ProcessResult localAudit =
        cluster.runAgentCommand(u"t"_s, { u"audit"_s, u"--data-dir"_s, cluster.dataDir(u"t"_s) });
    QCOMPARE(localAudit.exitCode, 0);
    const QRegularExpression refusal(u"credential="_s + xId + u".*reason=PAYLOAD_MISMATCH"_s);
    QVERIFY2(refusal.match(localAudit.out).hasMatch(), qPrintable(localAudit.out));

    const QList<QJsonObject> finals = dispatchRows(cluster, xId, targetId, false);
    QCOMPARE(finals.size(), finalRowsBefore + 1);
    const QJsonObject jitFinal = finals.constLast();
    QCOMPARE(jitFinal.value(u"outcome"_s).toString(), u"peer_failed"_s);
    QCOMPARE(jitFinal.value(u"reason"_s).toString(), u"COMMITMENT_MISMATCH"_s);
    QCOMPARE(jitFinal.value(u"details"_s).toObject().value(u"trigger"_s).toString(), u"jit"_s);

    const QJsonArray detected = cluster.audit(u"commitment_mismatch_detected"_s);
    QCOMPARE(detected.size(), 1);
    const QJsonObject report = detected.at(0).toObject();
    QCOMPARE(report.value(u"outcome"_s).toString(), u"acted"_s);
    QCOMPARE(report.value(u"reason"_s).toString(), u"PAYLOAD_MISMATCH"_s);
    QCOMPARE(report.value(u"credential_id"_s).toString(), xId);
    QCOMPARE(report.value(u"agent_id"_s).toString(), maliciousId);
    QCOMPARE(report.value(u"actor"_s).toString(), u"agent:"_s + targetId);
    QCOMPARE(report.value(u"dispatch_audit_id"_s).toString(),
             jitFinal.value(u"dispatch_audit_id"_s).toString());

    const QJsonArray mismatch = cluster.alerts(u"credential_commitment_mismatch"_s);
    QCOMPARE(mismatch.size(), 1);
    QCOMPARE(mismatch.at(0).toObject().value(u"subject"_s).toString(), u"credential:"_s + xId);
    QCOMPARE(mismatch.at(0).toObject().value(u"count"_s).toInteger(), 1);
    QCOMPARE(mismatch.at(0).toObject().value(u"severity"_s).toString(), u"critical"_s);
    const QJsonArray peerFailure = cluster.alerts(u"peer_agent_integrity_failure"_s);
    QCOMPARE(peerFailure.size(), 1);
    QCOMPARE(peerFailure.at(0).toObject().value(u"subject"_s).toString(),
             u"agent:"_s + maliciousId);
    QCOMPARE(peerFailure.at(0).toObject().value(u"count"_s).toInteger(), 1);
    QCOMPARE(peerFailure.at(0).toObject().value(u"severity"_s).toString(), u"critical"_s);

    const QJsonObject sourceRow = credentialRow(cluster, xId, maliciousId);
    QCOMPARE(sourceRow.value(u"secret_stored"_s).toBool(), false);
    QCOMPARE(sourceRow.value(u"last_error"_s).toString(), u"COMMITMENT_MISMATCH_SOURCE"_s);

    // The block lasts the default 24 hours from the report.
    const std::optional<QPair<qint64, qint64>> block =
        blocklistEntry(cluster, xId, maliciousId);
    QVERIFY(block.has_value());
    QCOMPARE(block->second - block->first, kBlocklistTtlMs);
    const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
    QVERIFY2(block->second > nowMs + kBlocklistTtlMs - 60000,
             qPrintable(QString::number(block->second - nowMs)));
    QVERIFY2(block->second <= nowMs + kBlocklistTtlMs, qPrintable(QString::number(block->second)));

    // M reconnects and lists X again, so its row reads as a valid copy and
    // only the blocklist keeps it from being asked while P is away.
    QVERIFY2(malicious.authenticate(), qPrintable(malicious.lastError()));
    malicious.sendRegister(RegisterMode::WarmReconnect, { KnownCredential { xId, 1, 1 } });
    QVERIFY(malicious.waitFor<Registered>(kWaitMs).has_value());
    QVERIFY(waitUntil([&] { return secretStored(cluster, xId, maliciousId); }));
    const qsizetype finalsBeforeBlocked = dispatchRows(cluster, xId, targetId, false).size();
    QCOMPARE(retryAfterWindow(cluster, xId), 200);
    QVERIFY(waitUntil(
        [&] { return dispatchRows(cluster, xId, targetId, false).size() > finalsBeforeBlocked; }));
    const QJsonObject blockedFinal = dispatchRows(cluster, xId, targetId, false).constLast();
    QCOMPARE(blockedFinal.value(u"outcome"_s).toString(), u"exhausted"_s);
    QCOMPARE(blockedFinal.value(u"reason"_s).toString(), u"NO_ELIGIBLE_PEER"_s);
    QCOMPARE(requestsForX, 1);
    QVERIFY(!cluster.vaultHolds(u"t"_s, xId).has_value());

    // P comes back with X; the operator's retry repairs T through P only.
    QVERIFY2(cluster.startAgent(u"p"_s), qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, xId, honestId); }));
    QVERIFY(cluster.vaultHolds(u"p"_s, xId).has_value());
    QCOMPARE(retryAfterWindow(cluster, xId), 200);
    QVERIFY(waitUntil([&] { return cluster.vaultHolds(u"t"_s, xId).has_value(); }));
    QCOMPARE(*cluster.vaultHolds(u"t"_s, xId), qMakePair(qint64(1), qint64(1)));

    QVERIFY(waitUntil([&] {
        return dispatchRows(cluster, xId, targetId, false).constLast().value(u"outcome"_s)
            == u"success"_s;
    }));
    const QJsonObject repaired = dispatchRows(cluster, xId, targetId, false).constLast();
    QCOMPARE(repaired.value(u"details"_s).toObject().value(u"peer_agent_id"_s).toString(),
             honestId);
    QCOMPARE(requestsForX, 1);
}

void SyncIntegrityTest::targetReport_data()
{
    QTest::addColumn<QString>("reply");
    QTest::addColumn<bool>("attributed");
    QTest::addColumn<QString>("reportReason");

    // Only a failure of what the source sealed, reported with the
    // attestation the backend relayed, is held against the source.
    QTest::newRow("bad attestation") << u"BAD_ATTESTATION"_s << false << QString();
    QTest::newRow("out of scope") << u"OUT_OF_SCOPE"_s << false << QString();
    QTest::newRow("mismatch with another attestation")
        << u"COMMITMENT_MISMATCH_OTHER_ATTESTATION"_s << false << QString();
    QTest::newRow("mismatch with the relayed attestation")
        << u"COMMITMENT_MISMATCH"_s << true << u"COMMITMENT_MISMATCH"_s;
    QTest::newRow("stored with another commitment")
        << u"STORED_OTHER_COMMITMENT"_s << true << u"REPORTED_COMMITMENT_DIFFERS"_s;
}

// The honest scripted peer S relays X to the scripted target G, which replies
// as `reply` sets. Attributed reports trigger the integrity response against
// S. The others end the dispatch and change nothing about S.
void SyncIntegrityTest::targetReport()
{
    QFETCH(QString, reply);
    QFETCH(bool, attributed);
    QFETCH(QString, reportReason);

    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setAutoRewrap(true);
    ScriptedAgent target;
    QString replyError;
    target.setStoreHandler([&](const CredentialStore &delivery) -> std::optional<AgentMessage> {
        if (reply == u"STORED_OTHER_COMMITMENT"_s) {
            std::optional<CredentialStored> stored = honestStored(target, delivery, replyError);
            if (stored)
                stored->commitment[0] = char(stored->commitment[0] ^ 0x01);
            return stored;
        }
        if (reply == u"COMMITMENT_MISMATCH_OTHER_ATTESTATION"_s) {
            CredentialIntegrityFailure failure =
                target.failureReply(delivery, Reason::CommitmentMismatch);
            // A valid attestation of other bytes, signed by the target itself.
            Result<QJsonObject> fields =
                parseStatement(StatementContext::Attestation, delivery.attestation.bytes);
            Result<Attestation> attestation = fields
                ? Attestation::fromFields(fields.value())
                : Result<Attestation>(fields.error());
            if (!attestation) {
                replyError = attestation.error().message;
                return std::nullopt;
            }
            attestation->envelopeSha256 = sha256Base64("another envelope");
            Result<SignedStatement> forged =
                target.identity().sign(StatementContext::Attestation, attestation->toFields());
            if (!forged) {
                replyError = forged.error().message;
                return std::nullopt;
            }
            failure.attestation = forged.value();
            return failure;
        }
        const std::optional<Reason> reason = reasonFromName(reply);
        if (!reason) {
            replyError = u"unknown reason "_s + reply;
            return std::nullopt;
        }
        return target.failureReply(delivery, *reason);
    });
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));
    QVERIFY2(addScripted(cluster, target, u"g"_s), qPrintable(cluster.lastError()));
    const QString peerId = peer.agentId();
    const QString targetId = target.agentId();

    const Upload x =
        cluster.createCredential(u"x"_s, kSecretX, { u"s"_s, u"g"_s }, QStringList { u"s"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    const QString xId = x.credentialId;
    QVERIFY(waitUntil([&] { return secretStored(cluster, xId, peerId); }));
    QVERIFY(awaitDispatchToTarget(cluster, target, xId));
    QCOMPARE(replyError, QString());
    QCOMPARE(storesReceived(target, xId), 1);
    // The integrity response is written before the dispatch's final row, and
    // this wait leaves time for its alerts too.
    QTest::qWait(500);

    const QJsonObject finalRow = dispatchRows(cluster, xId, targetId, false).constLast();
    QCOMPARE(finalRow.value(u"details"_s).toObject().value(u"source"_s).toString(), u"peer"_s);
    const QJsonArray detected = cluster.audit(u"commitment_mismatch_detected"_s);
    const QJsonArray mismatchAlerts = cluster.alerts(u"credential_commitment_mismatch"_s);
    const QJsonArray peerAlerts = cluster.alerts(u"peer_agent_integrity_failure"_s);
    const QJsonObject peerRow = credentialRow(cluster, xId, peerId);
    const std::optional<QPair<qint64, qint64>> block = blocklistEntry(cluster, xId, peerId);
    QVERIFY(!secretStored(cluster, xId, targetId));

    if (!attributed) {
        QCOMPARE(finalRow.value(u"outcome"_s).toString(), u"exhausted"_s);
        QCOMPARE(detected.size(), 0);
        QCOMPARE(mismatchAlerts.size(), 0);
        QCOMPARE(peerAlerts.size(), 0);
        QCOMPARE(peerRow.value(u"secret_stored"_s).toBool(), true);
        QVERIFY(peerRow.value(u"last_error"_s).toString() != u"COMMITMENT_MISMATCH_SOURCE"_s);
        QVERIFY(!block.has_value());
        return;
    }

    QCOMPARE(finalRow.value(u"outcome"_s).toString(), u"peer_failed"_s);
    QCOMPARE(finalRow.value(u"reason"_s).toString(), u"COMMITMENT_MISMATCH"_s);
    QCOMPARE(detected.size(), 1);
    const QJsonObject report = detected.at(0).toObject();
    QCOMPARE(report.value(u"reason"_s).toString(), reportReason);
    QCOMPARE(report.value(u"outcome"_s).toString(), u"acted"_s);
    QCOMPARE(report.value(u"credential_id"_s).toString(), xId);
    QCOMPARE(report.value(u"agent_id"_s).toString(), peerId);
    QCOMPARE(report.value(u"actor"_s).toString(), u"agent:"_s + targetId);
    QCOMPARE(mismatchAlerts.size(), 1);
    QCOMPARE(mismatchAlerts.at(0).toObject().value(u"subject"_s).toString(),
             u"credential:"_s + xId);
    QCOMPARE(peerAlerts.size(), 1);
    QCOMPARE(peerAlerts.at(0).toObject().value(u"subject"_s).toString(), u"agent:"_s + peerId);
    QCOMPARE(peerRow.value(u"secret_stored"_s).toBool(), false);
    QCOMPARE(peerRow.value(u"last_error"_s).toString(), u"COMMITMENT_MISMATCH_SOURCE"_s);
    QVERIFY(block.has_value());
}

void SyncIntegrityTest::badReceiptNotRecorded_data()
{
    QTest::addColumn<QString>("receipt");
    QTest::newRow("signature altered") << u"SIGNATURE_ALTERED"_s;
    QTest::newRow("signed by the peer") << u"SIGNED_BY_PEER"_s;
    QTest::newRow("names another version") << u"OTHER_VERSION"_s;
}

// G stores X but replies with a receipt the backend must not accept: its
// signature does not verify under G's key, or it names another version. The
// backend records no delivery to G, so no console counts G as synced.
void SyncIntegrityTest::badReceiptNotRecorded()
{
    QFETCH(QString, receipt);

    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setAutoRewrap(true);
    ScriptedAgent target;
    QString replyError;
    target.setStoreHandler([&](const CredentialStore &delivery) -> std::optional<AgentMessage> {
        std::optional<CredentialStored> honestReply = honestStored(target, delivery, replyError);
        if (!honestReply)
            return std::nullopt;
        CredentialStored stored = *honestReply;
        if (receipt == u"SIGNATURE_ALTERED"_s) {
            stored.receipt.signature[0] = char(stored.receipt.signature[0] ^ 0x01);
            return stored;
        }
        Result<QJsonObject> fields =
            parseStatement(StatementContext::Receipt, stored.receipt.bytes);
        Result<Receipt> honest =
            fields ? Receipt::fromFields(fields.value()) : Result<Receipt>(fields.error());
        if (!honest) {
            replyError = honest.error().message;
            return std::nullopt;
        }
        Receipt claimed = honest.value();
        const agent::AgentIdentity *signer = &target.identity();
        if (receipt == u"SIGNED_BY_PEER"_s)
            signer = &peer.identity();
        else
            claimed.version += 1;
        Result<SignedStatement> forged =
            signer->sign(StatementContext::Receipt, claimed.toFields());
        if (!forged) {
            replyError = forged.error().message;
            return std::nullopt;
        }
        stored.receipt = forged.value();
        return stored;
    });
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));
    QVERIFY2(addScripted(cluster, target, u"g"_s), qPrintable(cluster.lastError()));
    const QString targetId = target.agentId();

    const Upload x =
        cluster.createCredential(u"x"_s, kSecretX, { u"s"_s, u"g"_s }, QStringList { u"s"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, peer.agentId()); }));
    QVERIFY(awaitDispatchToTarget(cluster, target, x.credentialId));
    QCOMPARE(replyError, QString());
    QCOMPARE(storesReceived(target, x.credentialId), 1);

    const QJsonObject finalRow = dispatchRows(cluster, x.credentialId, targetId, false).constLast();
    QCOMPARE(finalRow.value(u"outcome"_s).toString(), u"peer_failed"_s);
    QCOMPARE(finalRow.value(u"reason"_s).toString(), u"BAD_RECEIPT"_s);
    const QJsonObject row = credentialRow(cluster, x.credentialId, targetId);
    QCOMPARE(row.value(u"secret_stored"_s).toBool(), false);
    QVERIFY(!row.value(u"receipt"_s).isObject());
    QCOMPARE(row.value(u"last_error"_s).toString(), u"BAD_RECEIPT"_s);
}

// R refuses every delivery with COMMITMENT_MISMATCH; the eleventh report in
// the window quarantines it (default threshold 10).
void SyncIntegrityTest::floodingReporterQuarantined()
{
    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const QString peerId = cluster.addAgent(u"p"_s);
    QVERIFY2(!peerId.isEmpty(), qPrintable(cluster.lastError()));
    const QString otherTargetId = cluster.addAgent(u"t2"_s);
    QVERIFY2(!otherTargetId.isEmpty(), qPrintable(cluster.lastError()));

    ScriptedAgent reporter;
    reporter.setStoreHandler([&reporter](const CredentialStore &delivery) {
        return std::optional<AgentMessage>(
            reporter.failureReply(delivery, Reason::CommitmentMismatch));
    });
    QVERIFY2(addScripted(cluster, reporter, u"r"_s), qPrintable(cluster.lastError()));
    const QString reporterId = reporter.agentId();
    const QString reporterActor = u"agent:"_s + reporterId;

    const auto reports = [&] {
        return auditRows(cluster, u"commitment_mismatch_detected"_s, u"actor"_s, reporterActor);
    };
    // Creates credentials that only P holds, then makes sure each reaches R
    // through P once: by the upload's own dispatch, or else by a retry once
    // P stored it.
    QStringList credentials;
    const auto deliverThroughPeer = [&](int count) -> bool {
        QStringList created;
        for (int i = 0; i < count; ++i) {
            const Upload upload =
                cluster.createCredential(u"flood-%1"_s.arg(credentials.size() + i),
                                         QJsonObject { { u"password"_s, newUuid() } },
                                         { u"p"_s, u"r"_s }, QStringList { u"p"_s });
            if (upload.status != 201)
                return false;
            created.append(upload.credentialId);
        }
        for (const QString &id : std::as_const(created)) {
            if (!waitUntil([&] {
                    return storesReceived(reporter, id) > 0 || secretStored(cluster, id, peerId);
                }))
                return false;
            if (storesReceived(reporter, id) == 0 && retry(cluster, id) != 200)
                return false;
        }
        credentials += created;
        return waitUntil([&] { return reports().size() == credentials.size(); });
    };

    QVERIFY2(deliverThroughPeer(9), qPrintable(cluster.lastError()));
    QVERIFY2(deliverThroughPeer(1), qPrintable(cluster.lastError()));
    QCOMPARE(reports().size(), 10);
    QCOMPARE(cluster.agent(u"r"_s).value(u"quarantined"_s).toBool(), false);
    QVERIFY(cluster.alerts(u"agent_commitment_flood"_s).isEmpty());

    QVERIFY2(deliverThroughPeer(1), qPrintable(cluster.lastError()));
    QCOMPARE(cluster.agent(u"r"_s).value(u"quarantined"_s).toBool(), true);
    const QJsonArray flood = cluster.alerts(u"agent_commitment_flood"_s);
    QCOMPARE(flood.size(), 1);
    QCOMPARE(flood.at(0).toObject().value(u"subject"_s).toString(), reporterActor);
    QCOMPARE(flood.at(0).toObject().value(u"severity"_s).toString(), u"high"_s);
    const QList<QJsonObject> quarantined =
        auditRows(cluster, u"agent_quarantined"_s, u"agent_id"_s, reporterId);
    QCOMPARE(quarantined.size(), 1);
    QCOMPARE(quarantined.at(0).value(u"reason"_s).toString(), u"COMMITMENT_FLOOD"_s);

    // Each of the first ten reports was acted on and blocklisted P for its
    // credential; the eleventh was only recorded.
    const QList<QJsonObject> rows = reports();
    QCOMPARE(rows.size(), 11);
    QSet<QString> reported;
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(rows.at(i).value(u"outcome"_s).toString(), u"acted"_s);
        QCOMPARE(rows.at(i).value(u"agent_id"_s).toString(), peerId);
        reported.insert(rows.at(i).value(u"credential_id"_s).toString());
    }
    QCOMPARE(reported.size(), 10);
    QCOMPARE(rows.at(10).value(u"outcome"_s).toString(), u"ignored"_s);
    QCOMPARE(rows.at(10).value(u"reason"_s).toString(), u"REPORTER_QUARANTINED"_s);
    const QString ignoredId = rows.at(10).value(u"credential_id"_s).toString();
    QVERIFY(!reported.contains(ignoredId));

    for (const QString &id : std::as_const(credentials)) {
        const QJsonObject peerRow = credentialRow(cluster, id, peerId);
        if (reported.contains(id)) {
            QCOMPARE(peerRow.value(u"secret_stored"_s).toBool(), false);
            QCOMPARE(peerRow.value(u"last_error"_s).toString(), u"COMMITMENT_MISMATCH_SOURCE"_s);
        } else {
            QCOMPARE(peerRow.value(u"secret_stored"_s).toBool(), true);
        }
    }
    const QJsonArray peerFailure = cluster.alerts(u"peer_agent_integrity_failure"_s);
    QCOMPARE(peerFailure.size(), 1);
    QCOMPARE(peerFailure.at(0).toObject().value(u"subject"_s).toString(), u"agent:"_s + peerId);
    QCOMPARE(peerFailure.at(0).toObject().value(u"count"_s).toInteger(), 10);
    QCOMPARE(cluster.alerts(u"credential_commitment_mismatch"_s).size(), 10);

    // A retry of a reported credential finds no peer, so R reports nothing
    // new; a retry of the ignored one goes through P again.
    const QString reportedId = rows.at(0).value(u"credential_id"_s).toString();
    const qsizetype reportedFinals = dispatchRows(cluster, reportedId, reporterId, false).size();
    QCOMPARE(retryAfterWindow(cluster, reportedId), 200);
    QVERIFY(waitUntil([&] {
        return dispatchRows(cluster, reportedId, reporterId, false).size() > reportedFinals;
    }));
    const QJsonObject noPeer = dispatchRows(cluster, reportedId, reporterId, false).constLast();
    QCOMPARE(noPeer.value(u"outcome"_s).toString(), u"exhausted"_s);
    QCOMPARE(noPeer.value(u"reason"_s).toString(), u"NO_ELIGIBLE_PEER"_s);
    QCOMPARE(retryAfterWindow(cluster, ignoredId), 200);
    QVERIFY(waitUntil([&] { return reports().size() == 12; }));
    const QJsonObject again = reports().constLast();
    QCOMPARE(again.value(u"credential_id"_s).toString(), ignoredId);
    QCOMPARE(again.value(u"agent_id"_s).toString(), peerId);
    QCOMPARE(again.value(u"outcome"_s).toString(), u"ignored"_s);
    QCOMPARE(storesReceived(reporter, reportedId), 1);

    // P still serves a credential R never reported.
    const Upload twelfth = cluster.createCredential(u"flood-12"_s, kSecretX, { u"p"_s, u"t2"_s },
                                                    QStringList { u"p"_s });
    QVERIFY2(twelfth.status == 201, qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, twelfth.credentialId, peerId); }));
    if (!cluster.vaultHolds(u"t2"_s, twelfth.credentialId))
        QCOMPARE(retry(cluster, twelfth.credentialId), 200);
    QVERIFY(
        waitUntil([&] { return cluster.vaultHolds(u"t2"_s, twelfth.credentialId).has_value(); }));
    QVERIFY(waitUntil([&] {
        return !dispatchRows(cluster, twelfth.credentialId, otherTargetId, false).isEmpty()
            && dispatchRows(cluster, twelfth.credentialId, otherTargetId, false)
                   .constLast()
                   .value(u"outcome"_s)
            == u"success"_s;
    }));
    const QJsonObject served =
        dispatchRows(cluster, twelfth.credentialId, otherTargetId, false).constLast();
    QCOMPARE(served.value(u"details"_s).toObject().value(u"peer_agent_id"_s).toString(), peerId);

    const BackendReply cleared =
        cluster.request("POST", u"/api/agents/%1/quarantine/clear"_s.arg(reporterId));
    QVERIFY2(cleared.status == 200, cleared.body.constData());
    QCOMPARE(cluster.agent(u"r"_s).value(u"quarantined"_s).toBool(), false);
    QCOMPARE(auditRows(cluster, u"agent_quarantine_cleared"_s, u"agent_id"_s, reporterId).size(),
             1);
}

void SyncIntegrityTest::unsolicitedResponse_data()
{
    QTest::addColumn<QString>("reason");
    QTest::newRow("wrong sender") << u"WRONG_SENDER"_s;
    QTest::newRow("wrong credential") << u"WRONG_CREDENTIAL"_s;
    QTest::newRow("wrong target") << u"WRONG_TARGET"_s;
    QTest::newRow("malformed envelope") << u"MALFORMED_ENVELOPE"_s;
    QTest::newRow("unknown request") << u"UNKNOWN_REQUEST"_s;
}

// S1 is the chosen peer of a dispatch of X to the scripted target G; S2 is
// another approved agent outside X's scope.
void SyncIntegrityTest::unsolicitedResponse()
{
    QFETCH(QString, reason);

    // A long peer timeout leaves time for the honest response after the
    // impostor's.
    SyncCluster cluster(
        backendSettings({ { u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"15000"_s } }));
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setRewrapHandler([](const RewrapRequest &) { return std::optional<AgentMessage>(); });
    ScriptedAgent other;
    other.setAutoStore(true);
    ScriptedAgent target;
    target.setAutoStore(true);
    QVERIFY2(addScripted(cluster, peer, u"s1"_s), qPrintable(cluster.lastError()));
    QVERIFY2(addScripted(cluster, other, u"s2"_s), qPrintable(cluster.lastError()));
    QVERIFY2(addScripted(cluster, target, u"g"_s), qPrintable(cluster.lastError()));

    const Upload x =
        cluster.createCredential(u"x"_s, kSecretX, { u"s1"_s, u"g"_s }, QStringList { u"s1"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, peer.agentId()); }));
    QCOMPARE(retry(cluster, x.credentialId), 200);
    const std::optional<RewrapRequest> request = takeRewrapRequest(peer, x.credentialId);
    QVERIFY(request.has_value());
    const std::optional<QByteArray> payload = peer.payloadFor(x.credentialId);
    QVERIFY(payload.has_value());

    const qsizetype finalsBefore =
        dispatchRows(cluster, x.credentialId, target.agentId(), false).size();

    ScriptedAgent &sender = reason == u"WRONG_SENDER"_s ? other : peer;
    RewrapResponse response = sender.rewrapResponse(*request, *payload);
    QVERIFY2(!response.id.isEmpty(), qPrintable(sender.lastError()));
    if (reason == u"WRONG_CREDENTIAL"_s)
        response.credentialId = newUuid();
    else if (reason == u"WRONG_TARGET"_s)
        response.targetAgentId = other.agentId();
    else if (reason == u"UNKNOWN_REQUEST"_s)
        response.requestId = newUuid();
    if (reason == u"MALFORMED_ENVELOPE"_s) {
        response.envelope.iv = QByteArray(8, '\x01');
        QVERIFY(sender.sendRaw(serializeMessage(response)));
    } else {
        QVERIFY(sender.send(response));
    }

    const auto unsolicited = [&] {
        return cluster.audit(u"rewrap_response_unsolicited"_s);
    };
    QVERIFY(waitUntil([&] { return !unsolicited().isEmpty(); }));
    // Anything relayed would reach G within this wait.
    QTest::qWait(500);
    const QJsonArray rows = unsolicited();
    QCOMPARE(rows.size(), 1);
    const QJsonObject row = rows.at(0).toObject();
    QCOMPARE(row.value(u"reason"_s).toString(), reason);
    QCOMPARE(row.value(u"agent_id"_s).toString(), sender.agentId());
    QCOMPARE(row.value(u"details"_s).toObject().value(u"request_id"_s).toString(),
             response.requestId);
    QCOMPARE(storesReceived(target, x.credentialId), 0);
    QVERIFY(secretStored(cluster, x.credentialId, target.agentId()) == false);

    // A response from the chosen peer that fails a binding ends its attempt;
    // an impostor's or an unknown request id leaves the dispatch waiting.
    const bool endsAttempt = reason != u"WRONG_SENDER"_s && reason != u"UNKNOWN_REQUEST"_s;
    const QList<QJsonObject> finals =
        dispatchRows(cluster, x.credentialId, target.agentId(), false);
    QCOMPARE(finals.size(), finalsBefore + (endsAttempt ? 1 : 0));
    if (endsAttempt) {
        const QJsonObject finalRow = finals.constLast();
        QCOMPARE(finalRow.value(u"outcome"_s).toString(), u"exhausted"_s);
        const QJsonArray attempts =
            finalRow.value(u"details"_s).toObject().value(u"attempts"_s).toArray();
        QCOMPARE(attempts.size(), 1);
        QCOMPARE(attempts.at(0).toObject().value(u"peer_agent_id"_s).toString(), peer.agentId());
        QCOMPARE(attempts.at(0).toObject().value(u"error"_s).toString(), reason);
    }

    if (reason != u"WRONG_SENDER"_s)
        return;
    // The chosen peer's own response is still accepted.
    QVERIFY(peer.send(peer.rewrapResponse(*request, *payload)));
    QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, target.agentId()); }));
    QCOMPARE(storesReceived(target, x.credentialId), 1);
    QVERIFY(target.payloadFor(x.credentialId) == payload);
    QCOMPARE(unsolicited().size(), 1);
}

void SyncIntegrityTest::untrustedTargetKeyAlert()
{
    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setRewrapHandler([&peer](const RewrapRequest &request) {
        return std::optional<AgentMessage>(peer.refusedReply(request, Reason::UntrustedTargetKey));
    });
    ScriptedAgent target;
    target.setAutoStore(true);
    QVERIFY2(addScripted(cluster, peer, u"s1"_s), qPrintable(cluster.lastError()));
    QVERIFY2(addScripted(cluster, target, u"g"_s), qPrintable(cluster.lastError()));

    const Upload x =
        cluster.createCredential(u"x"_s, kSecretX, { u"s1"_s, u"g"_s }, QStringList { u"s1"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, peer.agentId()); }));
    QCOMPARE(retry(cluster, x.credentialId), 200);

    QVERIFY(waitUntil([&] { return !cluster.alerts(u"target_certificate_rejected"_s).isEmpty(); }));
    const QJsonArray alerts = cluster.alerts(u"target_certificate_rejected"_s);
    QCOMPARE(alerts.size(), 1);
    const QJsonObject alert = alerts.at(0).toObject();
    QCOMPARE(alert.value(u"severity"_s).toString(), u"critical"_s);
    QCOMPARE(alert.value(u"subject"_s).toString(), u"agent:"_s + target.agentId());
    QCOMPARE(alert.value(u"details"_s).toObject().value(u"peer_agent_id"_s).toString(),
             peer.agentId());

    QVERIFY(waitUntil([&] {
        return !dispatchRows(cluster, x.credentialId, target.agentId(), false).isEmpty()
            && dispatchRows(cluster, x.credentialId, target.agentId(), false)
                   .constLast()
                   .value(u"details"_s)
                   .toObject()
                   .value(u"attempts"_s)
                   .toArray()
                   .size()
            == 1;
    }));
    const QJsonObject finalRow =
        dispatchRows(cluster, x.credentialId, target.agentId(), false).constLast();
    const QJsonObject attempt =
        finalRow.value(u"details"_s).toObject().value(u"attempts"_s).toArray().at(0).toObject();
    QCOMPARE(attempt.value(u"result"_s).toString(), u"refused"_s);
    QCOMPARE(attempt.value(u"error"_s).toString(), u"UNTRUSTED_TARGET_KEY"_s);
    QCOMPARE(storesReceived(target, x.credentialId), 0);
}

// A scripted agent in the credential's scope, with no peer storing it,
// sends 101 credential_missing within a minute. The defaults apply: more than
// 30 a minute get RATE_LIMITED, and more than 100 in 5 minutes, rate-limited
// ones included, raise agent_credential_flood.
void SyncIntegrityTest::jitRateLimitAndFlood()
{
    constexpr int kPerMinute = 30;
    constexpr int kFloodThreshold = 100;

    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    ScriptedAgent agent;
    QVERIFY2(addScripted(cluster, agent, u"a"_s), qPrintable(cluster.lastError()));
    const Upload x = cluster.createCredential(u"x"_s, kSecretX, { u"a"_s }, QStringList());
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));

    const auto ask = [&agent, &x] {
        CredentialMissing missing;
        missing.id = newUuid();
        missing.requestId = newUuid();
        missing.credentialId = x.credentialId;
        return agent.send(missing) ? missing.requestId : QString();
    };
    QHash<QString, Reason> answers;
    const auto collect = [&](int expected) {
        return waitUntil([&] {
            while (std::optional<CredentialUnavailable> reply =
                       agent.waitFor<CredentialUnavailable>(0))
                answers.insert(reply->requestId, reply->reason);
            return answers.size() >= expected;
        });
    };

    QStringList requests;
    for (int i = 0; i < kFloodThreshold; ++i) {
        const QString requestId = ask();
        QVERIFY(!requestId.isEmpty());
        requests.append(requestId);
    }
    QVERIFY(collect(kFloodThreshold));
    QVERIFY(cluster.alerts(u"agent_credential_flood"_s).isEmpty());
    const QString last = ask();
    QVERIFY(!last.isEmpty());
    QVERIFY(collect(kFloodThreshold + 1));
    QCOMPARE(answers.size(), kFloodThreshold + 1);

    static const QList<Reason> publicReasons {
        Reason::NoEligiblePeer, Reason::RateLimited,       Reason::BackendBusy,
        Reason::NotInScope,     Reason::UnknownCredential, Reason::CommitmentMismatch
    };
    for (auto it = answers.cbegin(); it != answers.cend(); ++it)
        QVERIFY2(publicReasons.contains(it.value()), qPrintable(reasonName(it.value())));
    // The window counts requests in the order the backend received them,
    // which is the order they were sent on the one socket.
    for (int i = 0; i < requests.size(); ++i) {
        QCOMPARE(reasonName(answers.value(requests.at(i))),
                 i < kPerMinute ? u"NO_ELIGIBLE_PEER"_s : u"RATE_LIMITED"_s);
    }
    QCOMPARE(reasonName(answers.value(last)), u"RATE_LIMITED"_s);

    QCOMPARE(metricValue(cluster,
                         u"sealrelay_rate_limited_requests_total{route=\"credential_missing\"}"_s),
             double(kFloodThreshold + 1 - kPerMinute));
    const QJsonArray flood = cluster.alerts(u"agent_credential_flood"_s);
    QCOMPARE(flood.size(), 1);
    QCOMPARE(flood.at(0).toObject().value(u"subject"_s).toString(), u"agent:"_s + agent.agentId());
    QCOMPARE(flood.at(0).toObject().value(u"severity"_s).toString(), u"high"_s);
    QCOMPARE(flood.at(0).toObject().value(u"count"_s).toInteger(), 1);
    QCOMPARE(flood.at(0)
                 .toObject()
                 .value(u"details"_s)
                 .toObject()
                 .value(u"requests_in_window"_s)
                 .toInteger(),
             kFloodThreshold + 1);
}

// Four scripted peers store X and, once armed, never reply.
void SyncIntegrityTest::dispatchTriesThreePeers()
{
    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));

    bool armed = false;
    std::vector<std::unique_ptr<ScriptedAgent>> peers;
    QHash<QString, int> requestsByPeer;
    QStringList names;
    for (int i = 1; i <= 4; ++i) {
        auto peer = std::make_unique<ScriptedAgent>();
        ScriptedAgent *raw = peer.get();
        raw->setAutoStore(true);
        raw->setRewrapHandler([&armed, &requestsByPeer, raw](const RewrapRequest &request) {
            if (!armed)
                return std::optional<AgentMessage>(raw->refusedReply(request, Reason::NotHeld));
            ++requestsByPeer[raw->agentId()];
            return std::optional<AgentMessage>();
        });
        const QString name = u"s%1"_s.arg(i);
        QVERIFY2(addScripted(cluster, *raw, name), qPrintable(cluster.lastError()));
        names.append(name);
        peers.push_back(std::move(peer));
    }
    ScriptedAgent target;
    target.setAutoStore(true);
    QVERIFY2(addScripted(cluster, target, u"g"_s), qPrintable(cluster.lastError()));
    const QString targetId = target.agentId();

    const Upload x =
        cluster.createCredential(u"x"_s, kSecretX, names + QStringList { u"g"_s }, names);
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    for (const auto &peer : peers)
        QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, peer->agentId()); }));
    QVERIFY(waitUntil(
        [&] { return !dispatchRows(cluster, x.credentialId, targetId, false).isEmpty(); }));
    const qsizetype pendingBefore = dispatchRows(cluster, x.credentialId, targetId, true).size();
    const qsizetype finalBefore = dispatchRows(cluster, x.credentialId, targetId, false).size();

    armed = true;
    QCOMPARE(retry(cluster, x.credentialId), 200);
    QVERIFY(waitUntil(
        [&] { return dispatchRows(cluster, x.credentialId, targetId, false).size() > finalBefore; },
        3 * kPeerTimeoutMs + 10000));
    // No rewrap_request reaches a fourth peer after the final row.
    QTest::qWait(500);

    const QList<QJsonObject> pending = dispatchRows(cluster, x.credentialId, targetId, true);
    QCOMPARE(pending.size(), pendingBefore + 1);
    const QList<QJsonObject> finals = dispatchRows(cluster, x.credentialId, targetId, false);
    QCOMPARE(finals.size(), finalBefore + 1);
    const QJsonObject finalRow = finals.constLast();
    QCOMPARE(finalRow.value(u"outcome"_s).toString(), u"timeout"_s);
    QCOMPARE(finalRow.value(u"reason"_s).toString(), u"PEER_TIMEOUT"_s);
    QCOMPARE(finalRow.value(u"dispatch_audit_id"_s).toString(),
             pending.constLast().value(u"dispatch_audit_id"_s).toString());

    const QDateTime startedAt =
        QDateTime::fromString(pending.constLast().value(u"at"_s).toString(), Qt::ISODateWithMs);
    const QDateTime endedAt =
        QDateTime::fromString(finalRow.value(u"at"_s).toString(), Qt::ISODateWithMs);
    QVERIFY(startedAt.isValid());
    QVERIFY(endedAt.isValid());
    const qint64 durationMs = startedAt.msecsTo(endedAt);
    // Qt::CoarseTimer, the QTimer default, keeps within 5 % of the interval,
    // so each peer timeout may end early by that much.
    QVERIFY2(durationMs >= 3 * kPeerTimeoutMs * 95 / 100, qPrintable(QString::number(durationMs)));
    QVERIFY2(durationMs < 3 * kPeerTimeoutMs + 2000, qPrintable(QString::number(durationMs)));

    const QJsonArray attempts =
        finalRow.value(u"details"_s).toObject().value(u"attempts"_s).toArray();
    QCOMPARE(attempts.size(), 3);
    QSet<QString> attempted;
    for (const QJsonValue &value : attempts) {
        QCOMPARE(value.toObject().value(u"result"_s).toString(), u"timeout"_s);
        attempted.insert(value.toObject().value(u"peer_agent_id"_s).toString());
    }
    QCOMPARE(attempted.size(), 3);

    int total = 0;
    for (auto it = requestsByPeer.cbegin(); it != requestsByPeer.cend(); ++it) {
        QCOMPARE(it.value(), 1);
        QVERIFY(attempted.contains(it.key()));
        total += it.value();
    }
    QCOMPARE(total, 3);
    QCOMPARE(requestsByPeer.size(), 3);
    QCOMPARE(storesReceived(target, x.credentialId), 0);
}

// Two `get` calls for one missing credential on the real agent T at once.
// The only peer S never replies, so the dispatch lasts one peer timeout.
void SyncIntegrityTest::oneDispatchPerPair()
{
    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const QString targetId = cluster.addAgent(u"t"_s);
    QVERIFY2(!targetId.isEmpty(), qPrintable(cluster.lastError()));

    bool armed = false;
    int requests = 0;
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setRewrapHandler([&](const RewrapRequest &request) {
        if (!armed)
            return std::optional<AgentMessage>(peer.refusedReply(request, Reason::NotHeld));
        ++requests;
        return std::optional<AgentMessage>();
    });
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));

    const Upload x =
        cluster.createCredential(u"x"_s, kSecretX, { u"s"_s, u"t"_s }, QStringList { u"s"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, peer.agentId()); }));
    QVERIFY(waitUntil(
        [&] { return !dispatchRows(cluster, x.credentialId, targetId, false).isEmpty(); }));
    const qsizetype pendingBefore = dispatchRows(cluster, x.credentialId, targetId, true).size();

    armed = true;
    QElapsedTimer timer;
    timer.start();
    std::unique_ptr<QProcess> first = startGet(cluster, u"t"_s, u"x"_s);
    std::unique_ptr<QProcess> second = startGet(cluster, u"t"_s, u"x"_s);
    const ProcessResult firstResult = finishGet(*first, timer);
    const ProcessResult secondResult = finishGet(*second, timer);
    QVERIFY2(firstResult.exitCode == 4, qPrintable(firstResult.err));
    QVERIFY2(firstResult.err.contains(u"NO_ELIGIBLE_PEER"_s), qPrintable(firstResult.err));
    QVERIFY2(secondResult.exitCode == 4, qPrintable(secondResult.err));
    QVERIFY2(secondResult.err.contains(u"NO_ELIGIBLE_PEER"_s), qPrintable(secondResult.err));

    // Both callers waited for the one dispatch, which ended at its peer timeout.
    QVERIFY2(firstResult.elapsedMs >= kPeerTimeoutMs * 95 / 100,
             qPrintable(QString::number(firstResult.elapsedMs)));
    QVERIFY2(secondResult.elapsedMs >= kPeerTimeoutMs * 95 / 100,
             qPrintable(QString::number(secondResult.elapsedMs)));

    QCOMPARE(dispatchRows(cluster, x.credentialId, targetId, true).size(), pendingBefore + 1);
    QCOMPARE(requests, 1);
}

// S stores twelve credentials and replies to a rewrap_request only when the
// test sends the reply. G joins after the uploads, so its first registration
// backfills all twelve through S. G reconnects once midway.
// A dispatch ends when the target replies, not when the peer does: while
// the target keeps every credential_store unanswered, no sixth one arrives.
void SyncIntegrityTest::backfillDispatchLastsUntilTargetReplies()
{
    constexpr int kCredentials = 8;
    constexpr int kConcurrency = 5; // the default SEALRELAY_BACKFILL_CONCURRENCY

    SyncCluster cluster(
        backendSettings({ { u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"60000"_s } }));
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));

    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setAutoRewrap(true);
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));
    const QStringList ids = createHeldByPeer(cluster, peer, u"d"_s, kCredentials);
    QVERIFY2(ids.size() == kCredentials, qPrintable(cluster.lastError()));

    ScriptedAgent target;
    QList<CredentialStore> held;
    target.setStoreHandler([&](const CredentialStore &delivery) -> std::optional<AgentMessage> {
        held.append(delivery);
        return std::nullopt;
    });
    const QString targetId = cluster.addScriptedAgent(target, u"g"_s);
    QVERIFY2(!targetId.isEmpty(), qPrintable(cluster.lastError()));
    QVERIFY(target.waitFor<Registered>(kWaitMs).has_value());

    QVERIFY(waitUntil([&] { return held.size() >= kConcurrency; }));
    QTest::qWait(1000);
    QCOMPARE(held.size(), qsizetype(kConcurrency));

    // One reply frees one place.
    const CredentialStore first = held.first();
    const std::optional<QByteArray> payload = peer.payloadFor(first.credentialId);
    QVERIFY(payload.has_value());
    QVERIFY2(target.send(target.storedReply(first, *payload)), qPrintable(target.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, first.credentialId, targetId); }));
    QVERIFY(waitUntil([&] { return held.size() == kConcurrency + 1; }));
    QTest::qWait(500);
    QCOMPARE(held.size(), qsizetype(kConcurrency + 1));
}

// S stores twelve credentials and leaves every rewrap_request unanswered. G
// joins, so its backfill sends S requests for five of them and keeps the
// other seven queued. G's credential_missing for each of those seven
// dispatches it at once: JIT repair does not wait behind the backfill.
void SyncIntegrityTest::jitRepairSkipsBackfillQueue()
{
    constexpr int kCredentials = 12;
    constexpr int kConcurrency = 5; // the default SEALRELAY_BACKFILL_CONCURRENCY

    SyncCluster cluster(
        backendSettings({ { u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"60000"_s } }));
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));

    ScriptedAgent peer;
    peer.setAutoStore(true);
    QSet<QString> requested;
    peer.setRewrapHandler([&](const RewrapRequest &request) -> std::optional<AgentMessage> {
        requested.insert(request.credentialId);
        return std::nullopt;
    });
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));
    const QStringList ids = createHeldByPeer(cluster, peer, u"j"_s, kCredentials);
    QVERIFY2(ids.size() == kCredentials, qPrintable(cluster.lastError()));

    ScriptedAgent target;
    target.setAutoStore(true);
    QVERIFY2(!cluster.addScriptedAgent(target, u"g"_s).isEmpty(), qPrintable(cluster.lastError()));
    QVERIFY(target.waitFor<Registered>(kWaitMs).has_value());
    QVERIFY(waitUntil([&] { return requested.size() >= kConcurrency; }));
    QTest::qWait(1000);
    QCOMPARE(requested.size(), qsizetype(kConcurrency));

    for (const QString &id : std::as_const(ids)) {
        if (requested.contains(id))
            continue;
        CredentialMissing missing;
        missing.id = newUuid();
        missing.requestId = newUuid();
        missing.credentialId = id;
        QVERIFY2(target.send(missing), qPrintable(target.lastError()));
    }
    // The first five requests stay unanswered, so every further request is
    // one that JIT repair sent.
    QVERIFY2(waitUntil([&] { return requested.size() == kCredentials; }),
             qPrintable(u"%1 of %2 credentials asked for"_s.arg(requested.size())
                            .arg(kCredentials)));
}

void SyncIntegrityTest::backfillConcurrencyAndResume()
{
    constexpr int kCredentials = 12;
    constexpr int kConcurrency = 5; // the default SEALRELAY_BACKFILL_CONCURRENCY
    constexpr int kDoneBeforeReconnect = 4;

    // No attempt times out while S keeps the requests waiting.
    SyncCluster cluster(
        backendSettings({ { u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"60000"_s } }));
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));

    ScriptedAgent peer;
    peer.setAutoStore(true);
    QList<RewrapRequest> outstanding;
    qsizetype maxOutstanding = 0;
    QHash<QString, int> requestsByCredential;
    peer.setRewrapHandler([&](const RewrapRequest &request) -> std::optional<AgentMessage> {
        outstanding.append(request);
        ++requestsByCredential[request.credentialId];
        maxOutstanding = qMax(maxOutstanding, outstanding.size());
        return std::nullopt;
    });
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));

    const QStringList ids = createHeldByPeer(cluster, peer, u"b"_s, kCredentials);
    QVERIFY2(ids.size() == kCredentials, qPrintable(cluster.lastError()));
    QCOMPARE(requestsByCredential.size(), 0);

    ScriptedAgent target;
    target.setAutoStore(true);
    const QString targetId = cluster.addScriptedAgent(target, u"g"_s);
    QVERIFY2(!targetId.isEmpty(), qPrintable(cluster.lastError()));
    const std::optional<Registered> first = target.waitFor<Registered>(kWaitMs);
    QVERIFY(first.has_value());
    QCOMPARE(first->backfillTotal, qint64(kCredentials));

    // The requests waiting at S show how many dispatches run at once.
    QVERIFY(waitUntil([&] { return outstanding.size() >= kConcurrency; }));
    QTest::qWait(1000);
    QCOMPARE(outstanding.size(), qsizetype(kConcurrency));
    const QJsonObject backfilling = cluster.agent(u"g"_s).value(u"sync"_s).toObject();
    QCOMPARE(backfilling.value(u"connection"_s).toString(), u"backfilling"_s);
    QCOMPARE(backfilling.value(u"backfill_total"_s).toInteger(), qint64(kCredentials));
    QCOMPARE(backfilling.value(u"backfill_done"_s).toInteger(), 0);
    const QString queuedSeries = u"sealrelay_backfill_deliveries{state=\"queued\"}"_s;
    const QString doneSeries = u"sealrelay_backfill_deliveries{state=\"done\"}"_s;
    QCOMPARE(metricValue(cluster, queuedSeries), double(kCredentials));
    QCOMPARE(metricValue(cluster, doneSeries), 0.0);

    const auto answerOne = [&]() -> QString {
        const RewrapRequest request = outstanding.takeFirst();
        const std::optional<QByteArray> payload = peer.payloadFor(request.credentialId);
        if (!payload || !peer.send(peer.rewrapResponse(request, *payload)))
            return {};
        return request.credentialId;
    };
    QStringList doneBeforeReconnect;
    for (int i = 0; i < kDoneBeforeReconnect; ++i) {
        const QString id = answerOne();
        QVERIFY2(!id.isEmpty(), qPrintable(peer.lastError()));
        QVERIFY(waitUntil([&] { return secretStored(cluster, id, targetId); }));
        doneBeforeReconnect.append(id);
        // The next queued credential takes the freed place.
        QVERIFY(waitUntil([&] { return outstanding.size() == kConcurrency; }));
    }
    QVERIFY(waitUntil([&] {
        return cluster.agent(u"g"_s).value(u"sync"_s).toObject().value(u"backfill_done"_s)
                   .toInteger()
            == kDoneBeforeReconnect;
    }));
    QCOMPARE(metricValue(cluster, queuedSeries), double(kCredentials - kDoneBeforeReconnect));
    QCOMPARE(metricValue(cluster, doneSeries), double(kDoneBeforeReconnect));

    // The backend drops the requests of an agent that went away, so S drops
    // them too.
    target.close();
    QVERIFY(waitUntil([&] {
        return cluster.agent(u"g"_s).value(u"sync"_s).toObject().value(u"connection"_s)
            == u"offline"_s;
    }));
    QTest::qWait(500);
    outstanding.clear();
    // The dispatches cut short by the disconnect wait in the queue and are
    // not counted as done or failed.
    const QJsonObject paused = cluster.agent(u"g"_s).value(u"sync"_s).toObject();
    QCOMPARE(paused.value(u"backfill_done"_s).toInteger(), qint64(kDoneBeforeReconnect));
    QCOMPARE(metricValue(cluster, doneSeries), double(kDoneBeforeReconnect));

    QList<KnownCredential> held;
    for (const QString &id : std::as_const(doneBeforeReconnect))
        held.append(KnownCredential { id, 1, 1 });
    QVERIFY2(target.authenticate(), qPrintable(target.lastError()));
    target.sendRegister(RegisterMode::WarmReconnect, held);
    const std::optional<Registered> again = target.waitFor<Registered>(kWaitMs);
    QVERIFY(again.has_value());
    QCOMPARE(again->backfillTotal, qint64(kCredentials - kDoneBeforeReconnect));
    // The backfill resumes with what it had done instead of starting over.
    const QJsonObject resumed = cluster.agent(u"g"_s).value(u"sync"_s).toObject();
    QCOMPARE(resumed.value(u"backfill_total"_s).toInteger(), qint64(kCredentials));
    QCOMPARE(resumed.value(u"backfill_done"_s).toInteger(), qint64(kDoneBeforeReconnect));

    QVERIFY(waitUntil([&] { return outstanding.size() >= kConcurrency; }));
    while (true) {
        int stored = 0;
        for (const QString &id : std::as_const(ids))
            stored += target.payloadFor(id).has_value() ? 1 : 0;
        if (stored == kCredentials)
            break;
        QVERIFY2(waitUntil([&] { return !outstanding.isEmpty(); }),
                 qPrintable(u"%1 of %2 stored"_s.arg(stored).arg(kCredentials)));
        QVERIFY2(!answerOne().isEmpty(), qPrintable(peer.lastError()));
        QTest::qWait(100);
    }
    QCOMPARE(maxOutstanding, qsizetype(kConcurrency));

    for (const QString &id : std::as_const(doneBeforeReconnect)) {
        QCOMPARE(requestsByCredential.value(id), 1);
        QCOMPARE(dispatchRows(cluster, id, targetId, true).size(), 1);
    }
    QVERIFY(waitUntil([&] {
        return cluster.agent(u"g"_s).value(u"sync"_s).toObject().value(u"connection"_s)
            == u"online"_s;
    }));
    const QJsonObject finished = cluster.agent(u"g"_s).value(u"sync"_s).toObject();
    QCOMPARE(finished.value(u"backfill_total"_s).toInteger(), qint64(kCredentials));
    QCOMPARE(finished.value(u"backfill_done"_s).toInteger(), qint64(kCredentials));
    // Only running backfills count, and none runs now.
    QCOMPARE(metricValue(cluster, queuedSeries), 0.0);
}

// G registers eight times within a minute. The default limit is five a
// minute (SEALRELAY_BACKFILL_RECONNECT_LIMIT_PER_MINUTE). So the sixth waits
// 1 s and the seventh 2 s. The eighth would wait 4 s but is capped at the
// cluster's SEALRELAY_BACKFILL_RECONNECT_MAX_WAIT_MS of 2 s.
void SyncIntegrityTest::reconnectThrottleDelaysBackfill()
{
    constexpr qint64 kMaxWaitMs = 2000;

    SyncCluster cluster(backendSettings());
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    ScriptedAgent peer;
    peer.setAutoStore(true);
    peer.setAutoRewrap(true);
    QVERIFY2(addScripted(cluster, peer, u"s"_s), qPrintable(cluster.lastError()));
    const Upload x = cluster.createCredential(u"x"_s, kSecretX, {}, QStringList { u"s"_s });
    QVERIFY2(x.status == 201, qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return secretStored(cluster, x.credentialId, peer.agentId()); }));

    ScriptedAgent target;
    target.setAutoStore(true);
    QVERIFY2(addScripted(cluster, target, u"g"_s), qPrintable(cluster.lastError()));
    QVERIFY(waitUntil([&] { return target.payloadFor(x.credentialId).has_value(); }));

    // Registrations 2 to 8. The sixth lists nothing, so its backfill has X to
    // deliver and shows when the backfill starts, not only the reply.
    QList<qint64> registeredMs;
    qint64 sixthStoreMs = -1;
    for (int registration = 2; registration <= 8; ++registration) {
        QVERIFY2(target.authenticate(), qPrintable(target.lastError()));
        const bool listsNothing = registration == 6;
        const int storesBefore = storesReceived(target, x.credentialId);
        QElapsedTimer timer;
        timer.start();
        target.sendRegister(RegisterMode::WarmReconnect,
                            listsNothing ? QList<KnownCredential>()
                                         : QList<KnownCredential> { { x.credentialId, 1, 1 } });
        QVERIFY2(target.waitFor<Registered>(kWaitMs).has_value(),
                 qPrintable(u"registration %1"_s.arg(registration)));
        registeredMs.append(timer.elapsed());
        if (listsNothing) {
            QVERIFY(waitUntil([&] { return storesReceived(target, x.credentialId) > storesBefore; }));
            sixthStoreMs = timer.elapsed();
        }
    }
    QStringList shown;
    for (const qint64 ms : std::as_const(registeredMs))
        shown.append(QString::number(ms));
    qInfo("registered replies after %s ms; X stored again %lld ms after the sixth",
          qPrintable(shown.join(u", "_s)), sixthStoreMs);

    // Qt::CoarseTimer may fire up to 5 % early, and the bounds leave 10 %.
    for (int i = 0; i < 4; ++i)
        QVERIFY2(registeredMs.at(i) < 900, qPrintable(QString::number(registeredMs.at(i))));
    QVERIFY2(registeredMs.at(4) >= 900, qPrintable(QString::number(registeredMs.at(4))));
    QVERIFY2(sixthStoreMs >= 900, qPrintable(QString::number(sixthStoreMs)));
    QVERIFY2(registeredMs.at(5) >= 2 * 900, qPrintable(QString::number(registeredMs.at(5))));
    QVERIFY2(registeredMs.at(6) >= kMaxWaitMs * 90 / 100,
             qPrintable(QString::number(registeredMs.at(6))));
    QVERIFY2(registeredMs.at(6) < 2 * kMaxWaitMs - 500,
             qPrintable(QString::number(registeredMs.at(6))));
}

QTEST_MAIN(SyncIntegrityTest)
#include "tst_syncintegrity.moc"
