// The sync benchmark's steps, from the RSA reference speed to the peak RSS
// of each process before its cluster stops.
#include "syncbench.h"

#include "bulkuploader.h"
#include "processsample.h"
#include "synccluster.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>
#include <QLocale>
#include <QMap>
#include <QProcess>
#include <QRegularExpression>
#include <QTimer>

#include <openssl/crypto.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace Qt::Literals::StringLiterals;
using sealrelay::synctest::ProcessResult;
using sealrelay::synctest::SyncCluster;

namespace sealrelay::bench {

namespace {

const QString kBackendName = u"backend"_s;
const QString kDispatchSuccess = u"sealrelay_dispatches_total{outcome=\"success\"}"_s;
const QString kDispatchExhausted = u"sealrelay_dispatches_total{outcome=\"exhausted\"}"_s;
const QString kJitCount = u"sealrelay_jit_repair_latency_seconds_count"_s;
const QString kJitSum = u"sealrelay_jit_repair_latency_seconds_sum"_s;

// GET /api/agents is polled every kBackfillPollMs while a backfill runs. Once
// at most kBackfillEndCredentials are left (about 100 ms of work), it is
// polled every kBackfillEndPollMs. So the finish time is at most
// kBackfillEndPollMs late (plus one request), and the backend serves the fast
// polls only near the end.
constexpr int kBackfillPollMs = 50;
constexpr int kBackfillEndPollMs = 5;
constexpr int kBackfillEndCredentials = 50;
// A local API request or an upload batch that takes longer fails the run.
constexpr int kRequestTimeoutMs = 30000;

// Calls `condition` every `intervalMs` until it is true or `timeoutMs`
// passed, running the event loop in between.
bool waitUntil(const std::function<bool()> &condition, qint64 timeoutMs, int intervalMs = 100)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (true) {
        if (condition())
            return true;
        if (deadline.hasExpired())
            return false;
        QEventLoop loop;
        QTimer::singleShot(intervalMs, &loop, &QEventLoop::quit);
        loop.exec();
    }
}

// Returns the value of one series of GET /metrics as written there, 0 when
// the series is absent (a labelled counter appears when first counted), or
// std::nullopt when /metrics did not return 200.
std::optional<double> metricValue(SyncCluster &cluster, const QString &series)
{
    const BackendReply metrics = cluster.request("GET", u"/metrics"_s);
    if (metrics.status != 200)
        return std::nullopt;
    const QRegularExpression line(u"^"_s + QRegularExpression::escape(series) + u" (\\S+)$"_s,
                                  QRegularExpression::MultilineOption);
    const QRegularExpressionMatch match = line.match(QString::fromUtf8(metrics.body));
    return match.hasMatch() ? match.captured(1).toDouble() : 0.0;
}

double metricOrZero(SyncCluster &cluster, const QString &series)
{
    return metricValue(cluster, series).value_or(0.0);
}

// Nearest-rank percentile of sorted `values`, `rank` in (0, 100].
double percentile(const QList<double> &sorted, double rank)
{
    if (sorted.isEmpty())
        return 0;
    const qsizetype index = qsizetype(std::ceil(rank / 100.0 * double(sorted.size()))) - 1;
    return sorted.at(std::clamp<qsizetype>(index, 0, sorted.size() - 1));
}

QString secretText(const QString &namePrefix, int index)
{
    return u"%1secret-%2"_s.arg(namePrefix).arg(index);
}

QJsonObject secretOf(const QString &namePrefix, int index)
{
    return QJsonObject { { u"password"_s, secretText(namePrefix, index) },
                         { u"username"_s, u"admin"_s } };
}

QString countText(int count)
{
    return QLocale(QLocale::English).toString(count);
}

void wipe(QByteArray &bytes)
{
    if (!bytes.isEmpty())
        OPENSSL_cleanse(bytes.data(), size_t(bytes.size()));
    bytes.clear();
}

} // namespace

SyncBenchConfig SyncBenchConfig::fromEnvironment()
{
    SyncBenchConfig config;
    const auto read = [](const char *name, int &value) {
        if (qEnvironmentVariableIsSet(name))
            value = qEnvironmentVariableIntValue(name);
    };
    read("SEALRELAY_BENCH_SMALL_CREDENTIALS", config.smallCount);
    read("SEALRELAY_BENCH_LARGE_CREDENTIALS", config.largeCount);
    read("SEALRELAY_BENCH_JIT_REQUESTS", config.jitRequests);
    read("SEALRELAY_BENCH_JIT_CLI_REQUESTS", config.jitCliRequests);
    read("SEALRELAY_BENCH_UPLOADS_IN_FLIGHT", config.uploadsInFlight);
    return config;
}

SyncBench::SyncBench(const SyncBenchConfig &config)
    : m_config(config)
{
}

QProcessEnvironment SyncBench::backendSettings()
{
    QProcessEnvironment settings;
    settings.insert(u"SEALRELAY_AGENT_PING_INTERVAL_MS"_s, u"15000"_s);
    settings.insert(u"SEALRELAY_AGENT_SILENCE_TIMEOUT_MS"_s, u"45000"_s);
    settings.insert(u"SEALRELAY_RECONCILER_BACKOFF_SCHEDULE_MS"_s,
                    u"30000,120000,480000,1800000,7200000"_s);
    settings.insert(u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"30000"_s);
    settings.insert(u"SEALRELAY_JIT_AGENT_WAIT_MS"_s, u"15000"_s);
    settings.insert(u"SEALRELAY_COORDINATION_LOCK_TTL_MS"_s, u"60000"_s);
    settings.insert(u"SEALRELAY_COORDINATION_LOCK_RENEW_MS"_s, u"20000"_s);
    settings.insert(u"SEALRELAY_COORDINATION_RECONCILER_LOCK_TTL_MS"_s, u"55000"_s);
    settings.insert(u"SEALRELAY_COORDINATION_DEGRADED_AFTER_MS"_s, u"300000"_s);
    settings.insert(u"SEALRELAY_BACKFILL_RECONNECT_MAX_WAIT_MS"_s, u"300000"_s);
    settings.insert(u"SEALRELAY_API_RETRY_WINDOW_MS"_s, u"10000"_s);
    // No sweep may repair the JIT credentials before the agent requests them.
    settings.insert(u"SEALRELAY_RECONCILER_INTERVAL_MS"_s, u"3600000"_s);
    // 30 a minute and 100 in 5 minutes by default; the benchmark sends
    // 1,100 credential_missing in about a minute from one agent.
    settings.insert(u"SEALRELAY_JIT_PER_MINUTE"_s, u"1000000"_s);
    settings.insert(u"SEALRELAY_JIT_FLOOD_THRESHOLD"_s, u"1000000"_s);
    return settings;
}

QHash<QString, QString> SyncBench::agentSettings()
{
    return {
        { u"SEALRELAY_CONNECTION_RECONNECT_MIN_MS"_s, u"1000"_s },
        { u"SEALRELAY_CONNECTION_RECONNECT_MAX_MS"_s, u"60000"_s },
        { u"SEALRELAY_CONNECTION_PING_INTERVAL_MS"_s, u"15000"_s },
        { u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s, u"45000"_s },
        { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"15000"_s },
    };
}

bool SyncBench::fail(const QString &message)
{
    BenchReport::error(message);
    return false;
}

int SyncBench::run()
{
    BenchReport::comment(u"sync benchmark: %1 and %2 credentials, %3 JIT requests through the "
                         "local API and %4 through sealrelay-agent get, %5 uploads in flight"_s
                             .arg(m_config.smallCount)
                             .arg(m_config.largeCount)
                             .arg(m_config.jitRequests)
                             .arg(m_config.jitCliRequests)
                             .arg(m_config.uploadsInFlight));
    bool ok = measureRsaSignSpeed();
    ok = ok && runSmallCluster();
    ok = ok && (m_config.largeCount <= 0 || runLargeCluster());

    std::fputs("\n", stdout);
    std::fputs(m_report.markdownTable().toUtf8().constData(), stdout);
    std::fflush(stdout);
    return ok ? 0 : 1;
}

bool SyncBench::measureRsaSignSpeed()
{
    QProcess openssl;
    openssl.start(u"openssl"_s, { u"speed"_s, u"-seconds"_s, u"3"_s, u"rsa2048"_s });
    if (!openssl.waitForStarted() || !openssl.waitForFinished(120000) || openssl.exitCode() != 0)
        return fail(u"`openssl speed -seconds 3 rsa2048` failed: "_s
                    + QString::fromLocal8Bit(openssl.readAllStandardError()));

    // The table ends with a header "sign verify sign/s verify/s" and the
    // line "rsa 2048 bits <sign s> <verify s> <sign/s> <verify/s>".
    const QString output = QString::fromLocal8Bit(openssl.readAllStandardOutput());
    for (const QString &line : output.split(u'\n')) {
        if (!line.startsWith(u"rsa 2048 bits"_s))
            continue;
        const QStringList columns = line.simplified().split(u' ');
        bool numeric = false;
        m_rsaSignsPerSecond = columns.value(columns.size() - 2).toDouble(&numeric);
        if (!numeric || m_rsaSignsPerSecond <= 0)
            break;
        m_report.add(Measure { u"openssl_rsa2048_sign_per_s"_s,
                               u"RSA-2048 private-key operations (`openssl speed -seconds 3 "
                               "rsa2048`, sign/s, one core)"_s,
                               m_rsaSignsPerSecond,
                               u"/s"_s,
                               1,
                               {},
                               std::nullopt,
                               u"the reference for the backfill ratios"_s });
        return true;
    }
    return fail(u"no \"rsa 2048 bits\" line with a sign/s column in the output of openssl "
                "speed:\n"_s
                + output);
}

// ---- Clusters ----------------------------------------------------------------------

bool SyncBench::startAgents(SyncCluster &cluster, const QStringList &names)
{
    for (const QString &name : names) {
        if (cluster.addAgent(name, agentSettings()).isEmpty())
            return fail(u"could not add agent %1: %2"_s.arg(name, cluster.lastError()));
    }
    return true;
}

bool SyncBench::runSmallCluster()
{
    const int count = m_config.smallCount;
    BenchReport::comment(u"cluster 1: backend and 3 agents, %1 credentials"_s.arg(count));
    SyncCluster cluster(backendSettings());
    if (const QString started = cluster.start(); !started.isEmpty())
        return fail(u"cluster 1 did not start: "_s + started);
    const QStringList existing { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s };
    if (!startAgents(cluster, existing))
        return false;

    BulkUploader uploader(cluster, m_config.uploadsInFlight);
    if (!measureCreation(cluster, uploader, u"bench-small-"_s, count, existing, u"create_small"_s))
        return false;
    const std::optional<double> target = count == 1000 ? std::optional<double>(2.0) : std::nullopt;
    if (!measureBackfill(cluster, u"edge-4"_s, count, existing, u"backfill_small"_s, target))
        return false;

    const QStringList all = existing + QStringList { u"edge-4"_s };
    if (!prepareJitCredentials(cluster, uploader, m_config.jitRequests + m_config.jitCliRequests,
                               { u"edge-2"_s, u"edge-3"_s, u"edge-4"_s }))
        return false;
    if (!measureJit(cluster))
        return false;

    reportPeakRss(cluster, all, u"cluster1"_s,
                  u"cluster 1: %1 + %2 credentials, 4 agents"_s.arg(
                      countText(count), countText(m_config.jitRequests + m_config.jitCliRequests)));
    cluster.stop();
    return true;
}

bool SyncBench::runLargeCluster()
{
    const int count = m_config.largeCount;
    BenchReport::comment(u"cluster 2: backend and 2 agents, %1 credentials"_s.arg(count));
    SyncCluster cluster(backendSettings());
    if (const QString started = cluster.start(); !started.isEmpty())
        return fail(u"cluster 2 did not start: "_s + started);
    const QStringList existing { u"edge-1"_s, u"edge-2"_s };
    if (!startAgents(cluster, existing))
        return false;

    BulkUploader uploader(cluster, m_config.uploadsInFlight);
    if (!measureCreation(cluster, uploader, u"bench-large-"_s, count, existing, u"create_large"_s))
        return false;
    const std::optional<double> target =
        count == 10000 ? std::optional<double>(20.0) : std::nullopt;
    if (!measureBackfill(cluster, u"edge-3"_s, count, existing, u"backfill_large"_s, target))
        return false;

    reportPeakRss(cluster, existing + QStringList { u"edge-3"_s }, u"cluster2"_s,
                  u"cluster 2: %1 credentials, 3 agents"_s.arg(countText(count)));
    cluster.stop();
    return true;
}

// ---- Creation and backfill ---------------------------------------------------------

bool SyncBench::measureCreation(SyncCluster &cluster, BulkUploader &uploader,
                                const QString &namePrefix, int count, const QStringList &agents,
                                const QString &keyPrefix)
{
    const double deliveredBefore = metricOrZero(cluster, kDispatchSuccess);
    const QHash<QString, double> cpuBefore = cpuSeconds(cluster, agents);
    QElapsedTimer timer;
    timer.start();

    const std::optional<QStringList> ids = uploader.createCredentials(
        namePrefix, count, [&namePrefix](int index) { return secretOf(namePrefix, index); });
    if (!ids)
        return fail(u"creating %1 credentials failed: %2"_s.arg(count).arg(uploader.lastError()));
    const double uploadSeconds = double(timer.elapsed()) / 1000.0;

    // Every agent stores its own creator envelope of every credential.
    const double expected = deliveredBefore + double(count) * double(agents.size());
    const qint64 timeoutMs = 120000 + qint64(count) * agents.size() * 50;
    if (!waitUntil([&] { return metricOrZero(cluster, kDispatchSuccess) >= expected; }, timeoutMs))
        return fail(u"the %1 agents did not store the %2 new credentials within %3 s; %4 of %5 "
                    "dispatches succeeded"_s.arg(agents.size())
                        .arg(count)
                        .arg(timeoutMs / 1000)
                        .arg(metricOrZero(cluster, kDispatchSuccess) - deliveredBefore)
                        .arg(double(count) * double(agents.size())));
    const double deliveredSeconds = double(timer.elapsed()) / 1000.0;
    printCpuUse(u"creation of %1 credentials"_s.arg(count), cpuBefore, cpuSeconds(cluster, agents),
                deliveredSeconds);

    const QString creationLabel =
        u"creation of %1 credentials for %2 agents"_s.arg(countText(count)).arg(agents.size());
    m_report.add(
        Measure { keyPrefix + u"_uploads_s"_s,
                  creationLabel + u": every upload accepted (201)"_s,
                  uploadSeconds,
                  u"s"_s,
                  2,
                  {},
                  std::nullopt,
                  u"%1 uploads/s, %2 in flight"_s.arg(double(count) / uploadSeconds, 0, 'f', 0)
                      .arg(m_config.uploadsInFlight) });
    m_report.add(Measure { keyPrefix + u"_stored_s"_s,
                           creationLabel + u": stored by every agent"_s,
                           deliveredSeconds,
                           u"s"_s,
                           2,
                           {},
                           std::nullopt,
                           u"from the first upload; %1 credentials/s"_s.arg(
                               double(count) / deliveredSeconds, 0, 'f', 0) });
    return true;
}

bool SyncBench::measureBackfill(SyncCluster &cluster, const QString &name, int count,
                                const QStringList &peers, const QString &keyPrefix,
                                std::optional<double> targetSeconds)
{
    const double deliveredBefore = metricOrZero(cluster, kDispatchSuccess);
    const QHash<QString, double> cpuBefore = cpuSeconds(cluster, peers);

    // addAgent returns once the agent's status shows its registration, so
    // the backfill is already running then.
    if (cluster.addAgent(name, agentSettings()).isEmpty())
        return fail(u"could not add agent %1: %2"_s.arg(name, cluster.lastError()));

    QDateTime finishedAt;
    QJsonObject sync;
    const qint64 timeoutMs = 120000 + qint64(count) * 200;
    const QDeadlineTimer deadline(timeoutMs);
    const auto backfillFinished = [&] {
        sync = cluster.agent(name).value(u"sync"_s).toObject();
        if (sync.value(u"connection"_s).toString() != u"online"_s
            || sync.value(u"backfill_total"_s).toInteger() != count
            || sync.value(u"backfill_done"_s).toInteger() != count)
            return false;
        finishedAt = QDateTime::currentDateTimeUtc();
        return true;
    };
    const bool nearEnd = waitUntil(
        [&] {
            return backfillFinished()
                || (sync.value(u"backfill_total"_s).toInteger() == count
                    && sync.value(u"backfill_done"_s).toInteger()
                        >= count - kBackfillEndCredentials);
        },
        timeoutMs, kBackfillPollMs);
    const bool finished = nearEnd
        && (finishedAt.isValid()
            || waitUntil(backfillFinished, deadline.remainingTime(), kBackfillEndPollMs));
    if (!finished)
        return fail(
            u"the backfill of %1 credentials to %2 did not finish within %3 s; its "
            "sync state is %4"_s.arg(count)
                .arg(name)
                .arg(timeoutMs / 1000)
                .arg(QString::fromUtf8(QJsonDocument(sync).toJson(QJsonDocument::Compact))));

    // `status` prints "last_registration: first_registration at TIME", the
    // time at which the agent sent its register message.
    const QString registration = cluster.statusField(name, u"last_registration"_s);
    const QDateTime registeredAt =
        QDateTime::fromString(registration.section(u" at "_s, 1), Qt::ISODateWithMs);
    if (!registeredAt.isValid())
        return fail(
            u"cannot read the registration time of %1 from \"%2\""_s.arg(name, registration));
    const double seconds = double(registeredAt.msecsTo(finishedAt)) / 1000.0;
    printCpuUse(u"backfill of %1 credentials to %2"_s.arg(count).arg(name), cpuBefore,
                cpuSeconds(cluster, peers + QStringList { name }), seconds);

    // A backfill may finish with credentials left to the reconciler. That is
    // a result to report with its reasons, not a failed step.
    const int heldCount = cluster.statusField(name, u"credentials_held"_s).toInt();
    const double delivered = metricOrZero(cluster, kDispatchSuccess) - deliveredBefore;
    QString peerText = u"%1 peers online"_s.arg(peers.size());
    if (heldCount != count || delivered < count) {
        const QString reasons = dispatchFailures(cluster, cluster.agentId(name));
        BenchReport::comment(u"after its backfill %1 holds %2 of %3 credentials and %4 "
                             "dispatches succeeded; failed dispatches: %5"_s.arg(name)
                                 .arg(heldCount)
                                 .arg(count)
                                 .arg(delivered)
                                 .arg(reasons));
        peerText += u"; **%1 of %2 stored, the rest left to the reconciler (%3)**"_s.arg(
            countText(heldCount), countText(count), reasons);
    }
    const double rate = double(heldCount) / seconds;
    m_report.add(Measure {
        keyPrefix + u"_s"_s, u"backfill of %1 credentials to a new agent"_s.arg(countText(count)),
        seconds, u"s"_s, 2, targetSeconds ? u"<= %1 s"_s.arg(*targetSeconds) : QString(),
        targetSeconds ? std::optional<bool>(seconds <= *targetSeconds) : std::nullopt,
        u"%1; from the agent's register to the first poll (every %2 ms for the last %3 "
        "credentials) that shows it finished"_s.arg(peerText)
            .arg(kBackfillEndPollMs)
            .arg(kBackfillEndCredentials) });
    m_report.add(Measure { keyPrefix + u"_rate"_s,
                           u"backfill rate, %1 credentials"_s.arg(countText(count)),
                           rate,
                           u"credentials/s"_s,
                           0,
                           {},
                           std::nullopt,
                           peerText });
    m_report.add(Measure {
        keyPrefix + u"_rate_per_rsa_sign"_s,
        u"backfill rate / RSA-2048 sign/s, %1 credentials"_s.arg(countText(count)),
        rate / m_rsaSignsPerSecond,
        u""_s,
        3,
        {},
        std::nullopt,
        u"each credential costs one RSA-2048 private-key operation (the new agent's "
          u"unwrap); the peer seals with the public key"_s });
    return true;
}

QString SyncBench::dispatchFailures(SyncCluster &cluster, const QString &agentId)
{
    // Every dispatch row of the agent whose outcome is final and no success,
    // counted by outcome and reason, with the peers' errors of its attempts.
    QMap<QString, int> counts;
    QString afterId;
    while (true) {
        QString path = u"/api/audit?event=dispatch&limit=500&agent="_s + agentId;
        if (!afterId.isEmpty())
            path += u"&after_id="_s + afterId;
        const BackendReply page = cluster.request("GET", path);
        if (page.status != 200)
            return u"GET /api/audit returned %1"_s.arg(page.status);
        for (const QJsonValue &value : page.json.value(u"records"_s).toArray()) {
            const QJsonObject row = value.toObject();
            const QString outcome = row.value(u"outcome"_s).toString();
            if (outcome == u"success"_s || outcome == u"pending"_s)
                continue;
            QStringList peerErrors;
            const QJsonArray attempts =
                row.value(u"details"_s).toObject().value(u"attempts"_s).toArray();
            for (const QJsonValue &attempt : attempts)
                peerErrors.append(attempt.toObject().value(u"error"_s).toString());
            ++counts[u"%1 %2 [peers: %3]"_s.arg(outcome, row.value(u"reason"_s).toString(),
                                                peerErrors.join(u","_s))];
        }
        const QJsonValue next = page.json.value(u"next_after_id"_s);
        if (next.isUndefined() || next.isNull())
            break;
        afterId = QString::number(next.toInteger());
    }
    QStringList parts;
    for (auto it = counts.cbegin(); it != counts.cend(); ++it)
        parts.append(u"%1 x%2"_s.arg(it.key()).arg(it.value()));
    return parts.isEmpty() ? u"none in the audit trail"_s : parts.join(u", "_s);
}

// ---- JIT repair ------------------------------------------------------------------------

bool SyncBench::prepareJitCredentials(SyncCluster &cluster, BulkUploader &uploader, int count,
                                      const QStringList &otherAgents)
{
    // edge-1 alone gets the creator's envelopes, and is away at upload, so
    // the upload-time sync of every other agent finds no peer and fails.
    // With the reconciler sweeping once an hour, nothing retries it.
    if (!cluster.stopAgent(u"edge-1"_s))
        return fail(u"could not stop edge-1: "_s + cluster.lastError());
    if (!waitUntil(
            [&] {
                return cluster.agent(u"edge-1"_s).value(u"sync"_s).toObject().value(u"connection"_s)
                    == u"offline"_s;
            },
            10000))
        return fail(u"the backend still lists edge-1 as connected 10 s after it stopped"_s);

    const double exhaustedBefore = metricOrZero(cluster, kDispatchExhausted);
    const std::optional<QStringList> ids = uploader.createCredentials(
        u"jit-"_s, count, [](int index) { return secretOf(u"jit-"_s, index); },
        QStringList { u"edge-1"_s });
    if (!ids)
        return fail(u"creating the JIT credentials failed: "_s + uploader.lastError());
    const double expected = exhaustedBefore + double(count) * double(otherAgents.size());
    if (!waitUntil([&] { return metricOrZero(cluster, kDispatchExhausted) >= expected; }, 120000))
        return fail(u"the upload-time syncs of the JIT credentials did not all end without a "
                    "peer within 120 s"_s);

    const double deliveredBefore = metricOrZero(cluster, kDispatchSuccess);
    if (!cluster.startAgent(u"edge-1"_s))
        return fail(u"could not start edge-1 again: "_s + cluster.lastError());
    if (!waitUntil(
            [&] { return metricOrZero(cluster, kDispatchSuccess) >= deliveredBefore + count; },
            120000 + qint64(count) * 50))
        return fail(u"edge-1 did not store its %1 creator envelopes"_s.arg(count));

    for (const QString &id : { ids->first(), ids->last() }) {
        if (cluster.vaultHolds(u"edge-2"_s, id).has_value())
            return fail(u"edge-2 already holds JIT credential %1, so its get would be no "
                        "repair"_s.arg(id));
    }
    BenchReport::comment(u"edge-2 lacks %1 credentials that edge-1 holds"_s.arg(count));
    return true;
}

bool SyncBench::measureJit(SyncCluster &cluster)
{
    const QString agent = u"edge-2"_s;
    const QString socketPath = QDir(cluster.dataDir(agent)).filePath(u"agent.sock"_s);
    const double repairsBefore = metricOrZero(cluster, kJitCount);
    const double secondsBefore = metricOrZero(cluster, kJitSum);
    const QHash<QString, double> cpuBefore =
        cpuSeconds(cluster, { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s, u"edge-4"_s });
    QElapsedTimer wall;
    wall.start();

    // One connection per request, as `sealrelay-agent get` does, timed from
    // connect to the reply line.
    QList<double> apiMs;
    for (int i = 0; i < m_config.jitRequests; ++i) {
        const QString name = u"jit-%1"_s.arg(i);
        QElapsedTimer timer;
        timer.start();
        QLocalSocket socket;
        socket.connectToServer(socketPath);
        if (!socket.waitForConnected(5000))
            return fail(u"cannot connect to %1: %2"_s.arg(socketPath, socket.errorString()));
        const QJsonObject request { { u"get"_s, name }, { u"field"_s, u"password"_s } };
        socket.write(QJsonDocument(request).toJson(QJsonDocument::Compact) + '\n');
        socket.flush();
        const QDeadlineTimer deadline(kRequestTimeoutMs);
        while (!socket.canReadLine() && !deadline.hasExpired()
               && socket.state() == QLocalSocket::ConnectedState)
            socket.waitForReadyRead(int(qMax<qint64>(1, deadline.remainingTime())));
        QByteArray line = socket.readLine();
        apiMs.append(double(timer.nsecsElapsed()) / 1e6);

        const QString secret = QJsonDocument::fromJson(line).object().value(u"secret"_s).toString();
        const bool matches = secret == secretText(u"jit-"_s, i);
        if (!matches) {
            const QString reply =
                secret.isEmpty() ? QString::fromUtf8(line.trimmed()) : u"another secret"_s;
            wipe(line);
            return fail(
                u"get %1 on %2 returned %3 instead of its secret"_s.arg(name, agent, reply));
        }
        wipe(line);
    }

    // The same repair through the command-line client, and the client on
    // credentials the agent holds, which is the cost of starting the process.
    QList<double> cliMs;
    QList<double> heldMs;
    for (int i = 0; i < m_config.jitCliRequests; ++i) {
        const int index = m_config.jitRequests + i;
        const ProcessResult repaired =
            cluster.get(agent, u"jit-%1"_s.arg(index), { u"--field"_s, u"password"_s });
        if (repaired.exitCode != 0 || repaired.out.trimmed() != secretText(u"jit-"_s, index))
            return fail(u"sealrelay-agent get jit-%1 exited with %2: %3"_s.arg(index)
                            .arg(repaired.exitCode)
                            .arg(repaired.err.trimmed()));
        cliMs.append(double(repaired.elapsedMs));

        const QString heldName = u"bench-small-%1"_s.arg(i % m_config.smallCount);
        const ProcessResult heldGet = cluster.get(agent, heldName, { u"--field"_s, u"password"_s });
        if (heldGet.exitCode != 0)
            return fail(u"sealrelay-agent get %1 exited with %2: %3"_s.arg(heldName)
                            .arg(heldGet.exitCode)
                            .arg(heldGet.err.trimmed()));
        heldMs.append(double(heldGet.elapsedMs));
    }
    const double wallSeconds = double(wall.elapsed()) / 1000.0;

    // The backend observes its JIT histogram once per repaired
    // credential_missing, so the count must grow by every request.
    const int requests = m_config.jitRequests + m_config.jitCliRequests;
    double repairs = 0;
    waitUntil(
        [&] {
            repairs = metricOrZero(cluster, kJitCount) - repairsBefore;
            return repairs >= requests;
        },
        10000);
    if (repairs < requests)
        return fail(
            u"the backend counted %1 JIT repairs for %2 requests"_s.arg(repairs).arg(requests));
    const double backendMeanMs =
        (metricOrZero(cluster, kJitSum) - secondsBefore) / repairs * 1000.0;
    printCpuUse(u"JIT repair of %1 credentials"_s.arg(requests), cpuBefore,
                cpuSeconds(cluster, { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s, u"edge-4"_s }),
                wallSeconds);

    std::sort(apiMs.begin(), apiMs.end());
    std::sort(cliMs.begin(), cliMs.end());
    std::sort(heldMs.begin(), heldMs.end());
    const QString apiNote =
        u"%1 requests one after another through agent.sock; JIT rate limits raised to "
        "1,000,000 a minute"_s.arg(countText(m_config.jitRequests));
    const double apiP99 = percentile(apiMs, 99);
    m_report.add(Measure { u"jit_local_api_p50_ms"_s,
                           u"JIT repair latency, local API round trip, p50"_s,
                           percentile(apiMs, 50),
                           u"ms"_s,
                           1,
                           {},
                           std::nullopt,
                           apiNote });
    m_report.add(Measure { u"jit_local_api_p99_ms"_s,
                           u"JIT repair latency, local API round trip, p99"_s, apiP99, u"ms"_s, 1,
                           u"<= 20 ms"_s, apiP99 <= 20.0, apiNote });
    m_report.add(Measure { u"jit_local_api_max_ms"_s,
                           u"JIT repair latency, local API round trip, max"_s,
                           apiMs.isEmpty() ? 0.0 : apiMs.last(),
                           u"ms"_s,
                           1,
                           {},
                           std::nullopt,
                           apiNote });
    m_report.add(Measure { u"jit_backend_mean_ms"_s,
                           u"JIT repair latency as the backend measures it, mean"_s,
                           backendMeanMs,
                           u"ms"_s,
                           1,
                           {},
                           std::nullopt,
                           u"sealrelay_jit_repair_latency_seconds: credential_missing received "
                           "to the target's credential_stored"_s });
    if (!cliMs.isEmpty()) {
        const double cliP99 = percentile(cliMs, 99);
        const QString cliNote =
            u"%1 runs of `sealrelay-agent get --field password`, process start included"_s.arg(
                m_config.jitCliRequests);
        m_report.add(Measure { u"jit_get_p50_ms"_s,
                               u"JIT repair latency, sealrelay-agent get, p50"_s,
                               percentile(cliMs, 50),
                               u"ms"_s,
                               0,
                               {},
                               std::nullopt,
                               cliNote });
        m_report.add(Measure { u"jit_get_p99_ms"_s,
                               u"JIT repair latency, sealrelay-agent get, p99"_s, cliP99, u"ms"_s,
                               0, u"<= 20 ms"_s, cliP99 <= 20.0, cliNote });
        m_report.add(Measure { u"get_held_p50_ms"_s,
                               u"sealrelay-agent get of a held credential, p50"_s,
                               percentile(heldMs, 50),
                               u"ms"_s,
                               0,
                               {},
                               std::nullopt,
                               u"no repair: the cost of the get process itself"_s });
    }
    return true;
}

// ---- Processes ---------------------------------------------------------------------

std::optional<qint64> SyncBench::processId(SyncCluster &cluster, const QString &name)
{
    const QString dataDir = name == kBackendName ? QDir(cluster.rootDir()).filePath(u"backend"_s)
                                                 : cluster.dataDir(name);
    for (const qint64 pid : childProcessIds()) {
        const QStringList arguments = processCommandLine(pid).split(u' ');
        const qsizetype option = arguments.indexOf(u"--data-dir"_s);
        if (arguments.contains(u"run"_s) && option >= 0 && arguments.value(option + 1) == dataDir)
            return pid;
    }
    return std::nullopt;
}

QHash<QString, double> SyncBench::cpuSeconds(SyncCluster &cluster, const QStringList &agents)
{
    QHash<QString, double> seconds;
    for (const QString &name : QStringList { kBackendName } + agents) {
        const std::optional<qint64> pid = processId(cluster, name);
        const std::optional<ProcessSample> sample =
            pid ? sampleProcess(*pid) : std::optional<ProcessSample>();
        if (sample)
            seconds.insert(name, sample->cpuSeconds);
    }
    return seconds;
}

void SyncBench::printCpuUse(const QString &phase, const QHash<QString, double> &before,
                            const QHash<QString, double> &after, double wallSeconds)
{
    QStringList parts;
    QStringList names = after.keys();
    names.sort();
    for (const QString &name : std::as_const(names))
        parts.append(u"%1 %2 s"_s.arg(name).arg(after.value(name) - before.value(name), 0, 'f', 2));
    BenchReport::comment(u"CPU time during the %1 (%2 s wall): %3"_s.arg(phase)
                             .arg(wallSeconds, 0, 'f', 2)
                             .arg(parts.join(u", "_s)));
}

void SyncBench::reportPeakRss(SyncCluster &cluster, const QStringList &agents,
                              const QString &keyPrefix, const QString &clusterLabel)
{
    for (const QString &name : QStringList { kBackendName } + agents) {
        const std::optional<qint64> pid = processId(cluster, name);
        const std::optional<ProcessSample> sample =
            pid ? sampleProcess(*pid) : std::optional<ProcessSample>();
        if (!sample) {
            BenchReport::error(u"no /proc reading of %1 in %2"_s.arg(name, clusterLabel));
            continue;
        }
        const QString process =
            name == kBackendName ? u"sealrelay-backend"_s : u"sealrelay-agent %1"_s.arg(name);
        m_report.add(Measure { u"%1_%2_peak_rss_mib"_s.arg(keyPrefix, name),
                               u"peak RSS, %1"_s.arg(process),
                               double(sample->peakRssKb) / 1024.0,
                               u"MiB"_s,
                               1,
                               {},
                               std::nullopt,
                               clusterLabel + u"; VmHWM before it stopped"_s });
    }
}

} // namespace sealrelay::bench
