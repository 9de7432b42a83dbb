// Several sealrelay-backend replicas on 127.0.0.1 that share one PostgreSQL
// database and one redis-server, with real agents each connected to one
// replica. Agents, approvals, uploads and reads go through a SyncCluster
// that uses the replicas instead of a backend of its own.
#pragma once

#include "backendprocess.h"
#include "postgresserver.h"
#include "redisserver.h"
#include "synccluster.h"

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QNetworkAccessManager>
#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QTemporaryDir>

#include <memory>
#include <vector>

namespace sealrelay::replicatest {

class ReplicaCluster {
public:
    static constexpr int kDefaultReplicaCount = 3;

    // Settings every replica gets unless the constructor's argument
    // overrides them: SyncCluster::defaultBackendEnvironment(), replicas =
    // several, a 5 s switch hold (the lock TTL) and log level info. The
    // storage and coordination URLs are always the harness's own.
    static QProcessEnvironment defaultReplicaEnvironment();

    explicit ReplicaCluster(int replicaCount = kDefaultReplicaCount,
                            const QProcessEnvironment &settings = {});
    ~ReplicaCluster();
    ReplicaCluster(const ReplicaCluster &) = delete;
    ReplicaCluster &operator=(const ReplicaCluster &) = delete;

    // Starts PostgreSQL with a fresh database, redis-server, `init` on the
    // database (migrations with the owner role, org, admin token), then each
    // replica in turn until its /healthz returns 200, and the SyncCluster.
    // Returns an error message, empty on success.
    QString start();
    // Stops the agents, the replicas (SIGTERM), Redis and PostgreSQL.
    void stop();

    // Agents, uploads, audit, alerts and vault reads. Its requests go to the
    // replica of setRequestReplica().
    synctest::SyncCluster &sync() { return *m_sync; }
    int replicaCount() const { return int(m_replicas.size()); }
    QString replicaUrl(int index) const;
    QString adminToken() const { return m_adminToken; }
    // The replica that sync() sends its requests to; kill and stop move it
    // to the first running replica.
    void setRequestReplica(int index);
    int requestReplica() const { return m_requestReplica; }

    // ---- Replicas ---------------------------------------------------------------
    // SIGKILL, as a crash would, and waits for the exit.
    bool killReplica(int index);
    // SIGTERM, then waits up to 10 s (SIGKILL after that).
    bool stopReplica(int index);
    // Starts a stopped replica on its old port and data folder and waits up
    // to 15 s for /healthz.
    bool startReplica(int index);
    bool isReplicaRunning(int index) const;
    // The last `lines` lines of the replica's output (standard output and
    // error, over all its runs), for failure messages.
    QString replicaLog(int index, int lines = 40) const;

    // ---- Coordination store -----------------------------------------------------
    test::RedisServer &redis() { return m_redis; }
    // SIGKILL, as a crash would.
    void killRedis() { m_redis.kill(); }
    // Starts redis-server again on its old port, empty; false with
    // lastError() set.
    bool startRedis();

    // ---- Agents -----------------------------------------------------------------
    // Adds a real agent whose --backend is replica `index` (see
    // SyncCluster::addAgent). Returns the agent id, or empty (lastError()).
    QString addAgent(int index, const QString &name,
                     const QHash<QString, QString> &environment = {});
    // Enrols and registers a scripted agent on replica `index` (see
    // SyncCluster::addScriptedAgent); it does not wait for `registered`.
    QString addScriptedAgent(int index, synctest::ScriptedAgent &agent, const QString &name);
    // The replica an agent was added on; -1 for an unknown name.
    int replicaOfAgent(const QString &name) const { return m_agentReplica.value(name, -1); }

    // ---- Requests to one or all replicas ----------------------------------------
    // Sends one request with the admin token to replica `index` and waits
    // up to 15 s. The status is 0 when it timed out or the replica is down.
    BackendReply request(int index, const QByteArray &method, const QString &path,
                         const QJsonObject &body = {});
    // Sends the same request to each replica in `indexes` at once and waits
    // up to 15 s for all replies, in the order of `indexes`.
    QList<BackendReply> requestAtOnce(const QList<int> &indexes, const QByteArray &method,
                                      const QString &path, const QJsonObject &body = {});
    // GET /api/system/rewrap-coordination-status of replica `index`; empty
    // when it does not return 200.
    QJsonObject coordinationStatus(int index);
    // The value of a series of replica `index`'s GET /metrics, e.g.
    // `sealrelay_dispatches_total{outcome="success"}`; 0 when absent, -1
    // when the request failed.
    double metric(int index, const QString &series);

    QString lastError() const { return m_lastError; }

private:
    struct Replica {
        QString dataDir;
        QString logFile;
        quint16 port = 0;
        std::unique_ptr<QProcess> process;
    };

    QString initDatabase();
    bool launchReplica(int index);
    void moveRequestsOff(int index);
    bool fail(const QString &message);

    QProcessEnvironment m_settings;
    QTemporaryDir m_root;
    test::PostgresServer m_postgres;
    test::RedisServer m_redis;
    QString m_serviceUrl;
    QString m_ownerUrl;
    QString m_adminToken;
    std::vector<Replica> m_replicas;
    int m_requestReplica = 0;
    std::unique_ptr<QNetworkAccessManager> m_network;
    std::unique_ptr<synctest::SyncCluster> m_sync;
    QHash<QString, int> m_agentReplica;
    QString m_lastError;
};

} // namespace sealrelay::replicatest
