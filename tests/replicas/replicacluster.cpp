// The replica cluster: PostgreSQL, Redis and the replica processes, their
// kills and restarts, and requests to one replica or to several at once.
#include "replicacluster.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QTimer>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::replicatest {

namespace {

constexpr int kRequestTimeoutMs = 15000;
constexpr int kStartTimeoutMs = 15000;
constexpr int kStopTimeoutMs = 10000;

// Runs the event loop for `milliseconds`, so that replies and agent
// sockets keep moving while the harness waits.
void waitMs(int milliseconds)
{
    QEventLoop loop;
    QTimer::singleShot(milliseconds, &loop, &QEventLoop::quit);
    loop.exec();
}

BackendReply replyResult(QNetworkReply *reply)
{
    BackendReply result;
    if (!reply->isFinished()) {
        reply->abort();
        return result;
    }
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.body = reply->readAll();
    result.json = QJsonDocument::fromJson(result.body).object();
    return result;
}

} // namespace

QProcessEnvironment ReplicaCluster::defaultReplicaEnvironment()
{
    QProcessEnvironment environment = synctest::SyncCluster::defaultBackendEnvironment();
    environment.insert(u"SEALRELAY_COORDINATION_REPLICAS"_s, u"several"_s);
    // At least the longest lock TTL (SEALRELAY_COORDINATION_LOCK_TTL_MS, 5 s
    // in the SyncCluster settings), which the backend requires.
    environment.insert(u"SEALRELAY_COORDINATION_SWITCH_HOLD_MS"_s, u"5000"_s);
    // Replica output goes to one file per replica, not the test's output.
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"info"_s);
    return environment;
}

ReplicaCluster::ReplicaCluster(int replicaCount, const QProcessEnvironment &settings)
    : m_settings(defaultReplicaEnvironment())
    , m_replicas(size_t(std::max(replicaCount, 1)))
{
    m_settings.insert(settings);
}

ReplicaCluster::~ReplicaCluster()
{
    stop();
}

bool ReplicaCluster::fail(const QString &message)
{
    m_lastError = message;
    return false;
}

QString ReplicaCluster::replicaUrl(int index) const
{
    return u"http://127.0.0.1:%1"_s.arg(m_replicas.at(size_t(index)).port);
}

QString ReplicaCluster::start()
{
    if (!m_root.isValid())
        return u"could not create a temporary directory: "_s + m_root.errorString();
    m_network = std::make_unique<QNetworkAccessManager>();

    if (!m_postgres.start())
        return u"PostgreSQL did not start: "_s + m_postgres.errorString();
    const QString database = m_postgres.createDatabase();
    if (database.isEmpty())
        return u"could not create the database: "_s + m_postgres.errorString();
    m_serviceUrl = m_postgres.serviceUrl(database);
    m_ownerUrl = m_postgres.ownerUrl(database);
    if (!m_redis.start())
        return u"redis-server did not start: "_s + m_redis.errorString();

    const QString initialised = initDatabase();
    if (!initialised.isEmpty())
        return initialised;

    for (int index = 0; index < replicaCount(); ++index) {
        Replica &replica = m_replicas[size_t(index)];
        replica.dataDir = m_root.filePath(u"replica-%1"_s.arg(index));
        replica.logFile = m_root.filePath(u"replica-%1.log"_s.arg(index));
        replica.port = BackendProcess::freePort();
        if (replica.port == 0)
            return u"found no free port on 127.0.0.1 for replica %1"_s.arg(index);
        if (!launchReplica(index))
            return m_lastError;
    }

    m_sync = std::make_unique<synctest::SyncCluster>();
    m_sync->useBackend(replicaUrl(m_requestReplica), m_adminToken);
    return m_sync->start();
}

QString ReplicaCluster::initDatabase()
{
    // `init` migrates with the owner role and creates the org and its first
    // admin token; the replicas connect as the service role.
    QProcess init;
    init.start(BackendProcess::binaryPath(),
               { u"init"_s, u"--database"_s, m_serviceUrl, u"--migration-database"_s, m_ownerUrl,
                 u"--org"_s, u"Test Org"_s });
    if (!init.waitForFinished(30000) || init.exitStatus() != QProcess::NormalExit
        || init.exitCode() != 0)
        return u"sealrelay-backend init on PostgreSQL failed (exit code %1): %2"_s.arg(
            QString::number(init.exitCode()), QString::fromUtf8(init.readAllStandardError()));
    const QStringList lines =
        QString::fromUtf8(init.readAllStandardOutput()).trimmed().split(u'\n');
    m_adminToken = lines.constLast().trimmed();
    if (!m_adminToken.startsWith(u"srt_"_s))
        return u"sealrelay-backend init printed no admin token as its last line"_s;
    return {};
}

bool ReplicaCluster::launchReplica(int index)
{
    Replica &replica = m_replicas[size_t(index)];
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(m_settings);
    environment.insert(u"SEALRELAY_STORAGE_DATABASE"_s, m_serviceUrl);
    environment.insert(u"SEALRELAY_STORAGE_MIGRATION_DATABASE"_s, m_ownerUrl);
    environment.insert(u"SEALRELAY_COORDINATION_URL"_s, m_redis.url());

    replica.process = std::make_unique<QProcess>();
    replica.process->setProcessEnvironment(environment);
    replica.process->setStandardOutputFile(replica.logFile, QIODevice::Append);
    replica.process->setStandardErrorFile(replica.logFile, QIODevice::Append);
    replica.process->start(BackendProcess::binaryPath(),
                           { u"run"_s, u"--data-dir"_s, replica.dataDir, u"--listen"_s,
                             u"127.0.0.1:%1"_s.arg(replica.port) });
    if (!replica.process->waitForStarted())
        return fail(u"replica %1 did not start: %2"_s.arg(QString::number(index),
                                                          replica.process->errorString()));

    const QDeadlineTimer deadline(kStartTimeoutMs);
    while (!deadline.hasExpired()) {
        if (request(index, "GET", u"/healthz"_s).status == 200)
            return true;
        if (replica.process->state() == QProcess::NotRunning)
            return fail(u"replica %1 exited with code %2; its log ends with:\n%3"_s.arg(
                QString::number(index), QString::number(replica.process->exitCode()),
                replicaLog(index)));
        waitMs(100);
    }
    return fail(u"replica %1 did not answer /healthz within %2 ms; its log ends with:\n%3"_s.arg(
        QString::number(index), QString::number(kStartTimeoutMs), replicaLog(index)));
}

void ReplicaCluster::stop()
{
    if (m_sync)
        m_sync->stop();
    for (int index = 0; index < replicaCount(); ++index)
        stopReplica(index);
    m_redis.stop();
}

void ReplicaCluster::setRequestReplica(int index)
{
    m_requestReplica = index;
    if (m_sync)
        m_sync->useBackend(replicaUrl(index), m_adminToken);
}

void ReplicaCluster::moveRequestsOff(int index)
{
    if (m_requestReplica != index)
        return;
    for (int other = 0; other < replicaCount(); ++other) {
        if (other != index && isReplicaRunning(other)) {
            setRequestReplica(other);
            return;
        }
    }
}

bool ReplicaCluster::isReplicaRunning(int index) const
{
    const Replica &replica = m_replicas.at(size_t(index));
    return replica.process && replica.process->state() != QProcess::NotRunning;
}

bool ReplicaCluster::killReplica(int index)
{
    if (!isReplicaRunning(index))
        return fail(u"replica %1 is not running"_s.arg(index));
    QProcess &process = *m_replicas[size_t(index)].process;
    process.kill();
    if (!process.waitForFinished(kStopTimeoutMs))
        return fail(u"replica %1 did not exit within %2 ms of SIGKILL"_s.arg(
            QString::number(index), QString::number(kStopTimeoutMs)));
    moveRequestsOff(index);
    return true;
}

bool ReplicaCluster::stopReplica(int index)
{
    if (!isReplicaRunning(index))
        return true;
    QProcess &process = *m_replicas[size_t(index)].process;
    process.terminate();
    bool clean = process.waitForFinished(kStopTimeoutMs);
    if (!clean) {
        process.kill();
        process.waitForFinished();
    }
    moveRequestsOff(index);
    if (!clean)
        return fail(u"replica %1 did not exit within %2 ms of SIGTERM and was killed"_s.arg(
            QString::number(index), QString::number(kStopTimeoutMs)));
    return true;
}

bool ReplicaCluster::startReplica(int index)
{
    if (isReplicaRunning(index))
        return fail(u"replica %1 is still running; stop or kill it first"_s.arg(index));
    return launchReplica(index);
}

QString ReplicaCluster::replicaLog(int index, int lines) const
{
    QFile file(m_replicas.at(size_t(index)).logFile);
    if (!file.open(QIODevice::ReadOnly))
        return u"(no log: %1)"_s.arg(file.errorString());
    const QStringList all = QString::fromUtf8(file.readAll()).split(u'\n');
    return all.mid(std::max<qsizetype>(0, all.size() - lines)).join(u'\n');
}

bool ReplicaCluster::startRedis()
{
    if (!m_redis.start())
        return fail(u"redis-server did not start again: "_s + m_redis.errorString());
    return true;
}

QString ReplicaCluster::addAgent(int index, const QString &name,
                                 const QHash<QString, QString> &environment)
{
    m_sync->useBackend(replicaUrl(index), m_adminToken);
    const QString agentId = m_sync->addAgent(name, environment);
    m_sync->useBackend(replicaUrl(m_requestReplica), m_adminToken);
    if (agentId.isEmpty()) {
        fail(m_sync->lastError());
        return {};
    }
    m_agentReplica.insert(name, index);
    return agentId;
}

QString ReplicaCluster::addScriptedAgent(int index, synctest::ScriptedAgent &agent,
                                         const QString &name)
{
    m_sync->useBackend(replicaUrl(index), m_adminToken);
    const QString agentId = m_sync->addScriptedAgent(agent, name);
    m_sync->useBackend(replicaUrl(m_requestReplica), m_adminToken);
    if (agentId.isEmpty()) {
        fail(m_sync->lastError());
        return {};
    }
    m_agentReplica.insert(name, index);
    return agentId;
}

BackendReply ReplicaCluster::request(int index, const QByteArray &method, const QString &path,
                                     const QJsonObject &body)
{
    const QList<BackendReply> replies = requestAtOnce({ index }, method, path, body);
    return replies.constFirst();
}

QList<BackendReply> ReplicaCluster::requestAtOnce(const QList<int> &indexes,
                                                  const QByteArray &method, const QString &path,
                                                  const QJsonObject &body)
{
    const QByteArray payload =
        method == "GET" ? QByteArray() : QJsonDocument(body).toJson(QJsonDocument::Compact);
    QList<QNetworkReply *> pending;
    for (int index : indexes) {
        if (!isReplicaRunning(index)) {
            pending.append(nullptr);
            continue;
        }
        QNetworkRequest networkRequest(QUrl(replicaUrl(index) + path));
        networkRequest.setHeader(QNetworkRequest::ContentTypeHeader,
                                 QByteArray("application/json"));
        networkRequest.setRawHeader("Authorization", "Bearer " + m_adminToken.toLatin1());
        pending.append(m_network->sendCustomRequest(networkRequest, method, payload));
    }

    const QDeadlineTimer deadline(kRequestTimeoutMs);
    const auto allFinished = [&pending] {
        return std::all_of(pending.cbegin(), pending.cend(),
                           [](QNetworkReply *reply) { return !reply || reply->isFinished(); });
    };
    while (!allFinished() && !deadline.hasExpired())
        waitMs(10);

    QList<BackendReply> replies;
    for (QNetworkReply *reply : pending) {
        if (!reply) {
            replies.append(BackendReply {});
            continue;
        }
        replies.append(replyResult(reply));
        reply->deleteLater();
    }
    return replies;
}

QJsonObject ReplicaCluster::coordinationStatus(int index)
{
    const BackendReply reply = request(index, "GET", u"/api/system/rewrap-coordination-status"_s);
    return reply.status == 200 ? reply.json : QJsonObject();
}

double ReplicaCluster::metric(int index, const QString &series)
{
    const BackendReply reply = request(index, "GET", u"/metrics"_s);
    if (reply.status != 200)
        return -1;
    const QRegularExpression line(u"^"_s + QRegularExpression::escape(series) + u" (\\S+)$"_s,
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch match = line.match(QString::fromUtf8(reply.body));
    return match.hasMatch() ? match.captured(1).toDouble() : 0;
}

} // namespace sealrelay::replicatest
