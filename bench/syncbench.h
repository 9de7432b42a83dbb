// The sync benchmark: JIT repair latency, backfill to a new agent, credential
// creation, and the peak RSS and CPU time of every process. It runs one real
// sealrelay-backend (SQLite) and real sealrelay-agent processes on 127.0.0.1.
#pragma once

#include "benchreport.h"

#include <QHash>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace sealrelay::synctest {
class SyncCluster;
}

namespace sealrelay::bench {

class BulkUploader;

struct SyncBenchConfig {
    int smallCount = 1000; // SEALRELAY_BENCH_SMALL_CREDENTIALS
    int largeCount = 10000; // SEALRELAY_BENCH_LARGE_CREDENTIALS, 0 skips that cluster
    int jitRequests = 1000; // SEALRELAY_BENCH_JIT_REQUESTS, through the local API socket
    int jitCliRequests = 100; // SEALRELAY_BENCH_JIT_CLI_REQUESTS, through `sealrelay-agent get`
    int uploadsInFlight = 4; // SEALRELAY_BENCH_UPLOADS_IN_FLIGHT

    // Reads the SEALRELAY_BENCH_* variables over the defaults above.
    static SyncBenchConfig fromEnvironment();
};

class SyncBench {
public:
    explicit SyncBench(const SyncBenchConfig &config);

    // Runs every measure and prints the table. Returns 0 when every step
    // ran (whether or not the targets were met), 1 when a step failed.
    int run();

    // Backend settings of every cluster: the product defaults for the
    // intervals SyncCluster shrinks, the reconciler every hour, and the JIT
    // rate limit and flood threshold raised to 1,000,000.
    static QProcessEnvironment backendSettings();
    // Agent settings of every agent: the product defaults for the intervals
    // SyncCluster shrinks.
    static QHash<QString, QString> agentSettings();

private:
    bool measureRsaSignSpeed();
    // Three agents: creation, backfill to a fourth agent, then JIT repair.
    bool runSmallCluster();
    // Two agents: creation, then backfill to a third agent.
    bool runLargeCluster();

    bool startAgents(synctest::SyncCluster &cluster, const QStringList &names);
    // Uploads `count` credentials for every running agent and waits until
    // each agent stored its creator envelope.
    bool measureCreation(synctest::SyncCluster &cluster, BulkUploader &uploader,
                         const QString &namePrefix, int count, const QStringList &agents,
                         const QString &keyPrefix);
    // Adds agent `name` and times its backfill of `count` credentials, from
    // the registration time the agent records to the first poll of
    // GET /api/agents that shows the backfill finished.
    bool measureBackfill(synctest::SyncCluster &cluster, const QString &name, int count,
                         const QStringList &peers, const QString &keyPrefix,
                         std::optional<double> targetSeconds);
    // Leaves edge-2 without `count` credentials named jit-N that edge-1 holds,
    // with its upload-time attempts failed and no reconciler sweep due.
    bool prepareJitCredentials(synctest::SyncCluster &cluster, BulkUploader &uploader, int count,
                               const QStringList &otherAgents);
    bool measureJit(synctest::SyncCluster &cluster);
    // Counts the failed dispatch rows of `agentId` in the audit trail by
    // outcome, reason and the peers' errors.
    QString dispatchFailures(synctest::SyncCluster &cluster, const QString &agentId);
    void reportPeakRss(synctest::SyncCluster &cluster, const QStringList &agents,
                       const QString &keyPrefix, const QString &clusterLabel);

    // CPU seconds used so far by the backend and each named agent, by name.
    QHash<QString, double> cpuSeconds(synctest::SyncCluster &cluster, const QStringList &agents);
    void printCpuUse(const QString &phase, const QHash<QString, double> &before,
                     const QHash<QString, double> &after, double wallSeconds);
    std::optional<qint64> processId(synctest::SyncCluster &cluster, const QString &name);

    bool fail(const QString &message);

    SyncBenchConfig m_config;
    BenchReport m_report;
    double m_rsaSignsPerSecond = 0;
};

} // namespace sealrelay::bench
