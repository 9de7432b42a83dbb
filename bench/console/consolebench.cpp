// The console side of bench_console: set-up, the load and live phases, and
// the report.
#include "consolebench.h"

#include "agentsmodel.h"
#include "clientprofile.h"
#include "consoleengine.h"
#include "consolesession.h"
#include "credentialsmodel.h"
#include "trustedoperators.h"

#include <QCoreApplication>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QQmlApplicationEngine>
#include <QQuickWindow>
#include <QRandomGenerator>
#include <QSGRendererInterface>
#include <QSysInfo>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cstdio>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::bench {

namespace {

const QString kProfile = u"bench-console"_s;

double toMs(qint64 ns)
{
    return double(ns) / 1e6;
}

// VmHWM of /proc/self/status in KiB, or -1 when it cannot be read.
qint64 peakRssKib()
{
    QFile status(u"/proc/self/status"_s);
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> lines = status.readAll().split('\n');
    for (const QByteArray &line : lines) {
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

QString graphicsApiName(QSGRendererInterface::GraphicsApi api)
{
    switch (api) {
    case QSGRendererInterface::Software:
        return u"software"_s;
    case QSGRendererInterface::OpenGL:
        return u"OpenGL"_s;
    case QSGRendererInterface::Vulkan:
        return u"Vulkan"_s;
    default:
        return u"other (%1)"_s.arg(int(api));
    }
}

const char *verdict(bool met)
{
    return met ? "pass" : "MISS";
}

// The verdict of a phase's longest gap, or "not judged" for a phase that is
// only reported.
const char *gapVerdict(const PhaseStats &phase)
{
    if (!phase.judged)
        return "not judged";
    return verdict(phase.maxGapNs <= GuiProbe::kBlockNs);
}

} // namespace

ConsoleBench::ConsoleBench(const ConsoleBenchOptions &options, QObject *parent)
    : QObject(parent)
    , m_options(options)
{
    QByteArray token(24, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(token.data()), 6);
    m_token = u"srt_bench_"_s + QString::fromLatin1(token.toHex());
}

ConsoleBench::~ConsoleBench()
{
    m_engine.reset();
    m_session.reset();
    if (m_feeder.state() != QProcess::NotRunning) {
        m_feeder.write("quit\n");
        if (!m_feeder.waitForFinished(5000)) {
            m_feeder.kill();
            m_feeder.waitForFinished();
        }
    }
}

bool ConsoleBench::waitFor(const std::function<bool()> &condition, int timeoutMs, int pollMs)
{
    if (condition())
        return true;
    QEventLoop loop;
    QTimer poll;
    poll.setInterval(pollMs);
    connect(&poll, &QTimer::timeout, &loop, [&] {
        if (condition())
            loop.quit();
    });
    QTimer deadline;
    deadline.setSingleShot(true);
    connect(&deadline, &QTimer::timeout, &loop, &QEventLoop::quit);
    poll.start();
    deadline.start(timeoutMs);
    loop.exec();
    return condition();
}

QString ConsoleBench::readFeederLine(int timeoutMs)
{
    QElapsedTimer waited;
    waited.start();
    while (!m_feeder.canReadLine()) {
        const int left = timeoutMs - int(waited.elapsed());
        if (left <= 0 || m_feeder.state() == QProcess::NotRunning)
            return {};
        m_feeder.waitForReadyRead(left);
    }
    return QString::fromUtf8(m_feeder.readLine()).trimmed();
}

bool ConsoleBench::startFeeder()
{
    m_feeder.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_feeder.start(QCoreApplication::applicationFilePath(),
                   { u"--serve-feed"_s, u"--credentials"_s, QString::number(m_options.credentials),
                     u"--agents"_s, QString::number(m_options.agents), u"--live-events"_s,
                     QString::number(qint64(m_options.eventsPerSecond) * m_options.liveSeconds),
                     u"--token"_s, m_token });
    if (!m_feeder.waitForStarted()) {
        std::fprintf(stderr, "bench_console: the mock backend did not start: %s\n",
                     qPrintable(m_feeder.errorString()));
        return false;
    }

    // "keys ORG_ID OPERATOR_KEY_BASE64", then "listening PORT SNAPSHOT_BYTES GENERATION_MS".
    const QStringList keys = readFeederLine(60000).split(u' ');
    if (keys.size() != 3 || keys.at(0) != u"keys"_s) {
        std::fprintf(stderr,
                     "bench_console: the mock backend sent no keys line; see its messages above\n");
        return false;
    }
    m_orgId = keys.at(1);
    m_operatorKey = QByteArray::fromBase64(keys.at(2).toLatin1());
    const QStringList listening = readFeederLine(m_options.timeoutSeconds * 1000).split(u' ');
    if (listening.size() != 4 || listening.at(0) != u"listening"_s) {
        std::fprintf(stderr,
                     "bench_console: the mock backend did not start listening; see its "
                     "messages above\n");
        return false;
    }
    m_port = quint16(listening.at(1).toUInt());
    m_snapshotBytes = listening.at(2).toLongLong();
    m_generationMs = listening.at(3).toLongLong();

    connect(&m_feeder, &QProcess::readyReadStandardOutput, this, [this] {
        while (m_feeder.canReadLine()) {
            const QStringList line = QString::fromUtf8(m_feeder.readLine()).trimmed().split(u' ');
            if (line.size() == 3 && line.at(0) == u"live-done"_s) {
                m_liveSentNs = m_probe.nowNs();
                m_liveSent = line.at(1).toLongLong();
                m_liveSendMs = line.at(2).toLongLong();
                m_probe.mark(u"mock backend sent its last live event"_s);
            }
        }
    });
    return true;
}

bool ConsoleBench::writeProfile()
{
    if (!m_home.isValid()) {
        std::fprintf(stderr, "bench_console: no temporary directory: %s\n",
                     qPrintable(m_home.errorString()));
        return false;
    }
    qputenv("HOME", QFile::encodeName(m_home.path()));
    qputenv("XDG_CONFIG_HOME", QFile::encodeName(m_home.filePath(u"config"_s)));
    qputenv("XDG_STATE_HOME", QFile::encodeName(m_home.filePath(u"state"_s)));
    qputenv("XDG_DATA_HOME", QFile::encodeName(m_home.filePath(u"data"_s)));
    // The console needs no operator key to show the views. A key file that
    // does not exist, with no passphrase set, keeps it from the keychain.
    qunsetenv("SEALRELAY_OPERATOR_PASSPHRASE");

    Result<Ed25519PublicKey> operatorKey = Ed25519PublicKey::fromRaw(m_operatorKey);
    if (!operatorKey) {
        std::fprintf(stderr, "bench_console: invalid operator key from the mock backend: %s\n",
                     qPrintable(operatorKey.error().message));
        return false;
    }
    Result<client::TrustedOperators> trusted =
        client::TrustedOperators::load(client::TrustedOperators::defaultPath(kProfile));
    Result<bool> added =
        trusted ? trusted->add(operatorKey.value()) : Result<bool>(trusted.error());
    if (!added) {
        std::fprintf(stderr, "bench_console: pinning the operator key failed: %s\n",
                     qPrintable(added.error().message));
        return false;
    }

    client::Profile profile;
    profile.name = kProfile;
    profile.backendUrl = u"http://127.0.0.1:%1"_s.arg(m_port);
    profile.orgId = m_orgId;
    profile.tokenFile = m_home.filePath(u"secrets/token"_s);
    profile.operatorKeyFile = m_home.filePath(u"no-operator.key"_s);
    Result<void> stored = client::storeToken(profile, m_token.toUtf8());
    if (stored)
        stored = profile.save();
    if (!stored) {
        std::fprintf(stderr, "bench_console: writing the profile failed: %s\n",
                     qPrintable(stored.error().message));
        return false;
    }
    return true;
}

void ConsoleBench::connectMarkers()
{
    models::CredentialsModel *credentials = &m_session->credentialsModel();
    if (credentials == m_markedModel)
        return;
    m_markedModel = credentials;
    GuiProbe *probe = &m_probe;
    connect(credentials, &QAbstractItemModel::modelAboutToBeReset, this,
            [probe] { probe->mark(u"credentials: modelAboutToBeReset"_s); });
    connect(credentials, &QAbstractItemModel::modelReset, this, [probe, credentials] {
        probe->mark(u"credentials: modelReset (%1 rows)"_s.arg(credentials->rowCount()));
    });
    connect(credentials, &models::CredentialsModel::snapshotLoaded, this, [this, probe, credentials] {
        probe->mark(u"credentials: snapshotLoaded (%1 rows)"_s.arg(credentials->rowCount()));
        if (m_snapshotNs == 0 && credentials->rowCount() > 0)
            m_snapshotNs = probe->nowNs();
    });
    connect(credentials, &QAbstractItemModel::layoutAboutToBeChanged, this,
            [probe] { probe->mark(u"credentials: layoutAboutToBeChanged"_s); });
    connect(credentials, &QAbstractItemModel::layoutChanged, this,
            [probe] { probe->mark(u"credentials: layoutChanged"_s); });
    connect(credentials, &QAbstractItemModel::rowsInserted, this,
            [probe](const QModelIndex &, int first, int last) {
                probe->mark(u"credentials: rowsInserted (%1)"_s.arg(last - first + 1));
            });
    connect(credentials, &QAbstractItemModel::dataChanged, this,
            [probe](const QModelIndex &first, const QModelIndex &last) {
                probe->mark(
                    u"credentials: dataChanged (rows %1-%2)"_s.arg(first.row()).arg(last.row()));
            });
    connect(credentials, &models::CredentialsModel::batchApplied, this, [this, probe](int events) {
        ++m_batches;
        m_batchedEvents += events;
        probe->mark(u"credentials: batchApplied (%1 events)"_s.arg(events));
    });
    connect(credentials, &models::CredentialsModel::verified, this,
            [probe](const QStringList &ids) {
                probe->mark(u"credentials: verified (%1 results applied)"_s.arg(ids.size()));
            });
    connect(&m_session->agentsModel(), &QAbstractItemModel::modelReset, this,
            [probe] { probe->mark(u"agents: modelReset"_s); });
    connect(m_session.get(), &console::ConsoleSession::countsChanged, this,
            [probe] { probe->mark(u"session: countsChanged"_s); });
}

bool ConsoleBench::modelSettled(int expectedRows) const
{
    const models::CredentialsModel &credentials = m_session->credentialsModel();
    return credentials.rowCount() == expectedRows && !credentials.isVerifying();
}

int ConsoleBench::countSyncedRows() const
{
    const models::CredentialsModel &credentials = m_session->credentialsModel();
    int synced = 0;
    for (int row = 0; row < credentials.rowCount(); ++row) {
        if (credentials.index(row).data(models::CredentialsModel::ChipRole).toInt()
            == int(models::SyncChip::Synced))
            ++synced;
    }
    return synced;
}

int ConsoleBench::countRowsAtVersion(qint64 version) const
{
    const models::CredentialsModel &credentials = m_session->credentialsModel();
    int count = 0;
    for (int row = 0; row < credentials.rowCount(); ++row) {
        const QModelIndex index = credentials.index(row);
        if (index.data(models::CredentialsModel::VersionRole).toLongLong() == version
            && index.data(models::CredentialsModel::ChipRole).toInt()
                == int(models::SyncChip::Synced))
            ++count;
    }
    return count;
}

// Times, after the probe stopped, the walk over every row that
// ConsoleSession::refreshDerived() made before CredentialsModel kept its
// totals up to date: copying every verification, counting each agent's
// holdings, and reading the chip, stalled flag and badges of every row. The
// results of the walk are compared with the model's totals.
void ConsoleBench::timeDerivedRefresh()
{
    constexpr int kRuns = 5;
    const models::CredentialsModel &credentials = m_session->credentialsModel();
    QList<double> copyMs;
    QList<double> countMs;
    QList<double> scanMs;
    QList<double> totalsMs;
    for (int run = 0; run < kRuns; ++run) {
        QElapsedTimer timer;
        timer.start();
        const QList<models::CredentialVerification> verifications = credentials.verifications();
        copyMs.append(double(timer.nsecsElapsed()) / 1e6);

        timer.restart();
        const QHash<QString, models::AgentHoldings> holdings = models::countHoldings(verifications);
        countMs.append(double(timer.nsecsElapsed()) / 1e6);
        m_holdingAgents = int(holdings.size());

        timer.restart();
        int problems = 0;
        int stalledRows = 0;
        for (int row = 0; row < credentials.rowCount(); ++row) {
            const QModelIndex index = credentials.index(row);
            const bool stalled = index.data(models::CredentialsModel::StalledRole).toBool();
            const bool synced = index.data(models::CredentialsModel::ChipRole).toInt()
                == int(models::SyncChip::Synced);
            const bool badged =
                !index.data(models::CredentialsModel::BadgesRole).toStringList().isEmpty();
            problems += (stalled || !synced || badged) ? 1 : 0;
            stalledRows += stalled ? 1 : 0;
        }
        scanMs.append(double(timer.nsecsElapsed()) / 1e6);
        m_problemRows = problems;

        timer.restart();
        const int modelProblems = credentials.problemCount();
        const int modelStalled = credentials.stalledCount();
        const QHash<QString, models::AgentHoldings> modelHoldings = credentials.holdings();
        totalsMs.append(double(timer.nsecsElapsed()) / 1e6);
        m_totalsMatch = modelProblems == problems && modelStalled == stalledRows
            && modelHoldings == holdings;
    }
    const auto median = [](QList<double> values) {
        std::sort(values.begin(), values.end());
        return values.at(values.size() / 2);
    };
    m_verificationsMs = median(copyMs);
    m_countHoldingsMs = median(countMs);
    m_rowScanMs = median(scanMs);
    m_totalsMs = median(totalsMs);
}

int ConsoleBench::run()
{
    if (!startFeeder() || !writeProfile())
        return 2;

    m_session = std::make_unique<console::ConsoleSession>();
    std::fprintf(stderr, "bench_console: load phase started (pid %lld)\n",
                 QCoreApplication::applicationPid());
    // App start-up (the session's start and the QML engine creating
    // Main.qml) is reported as a phase of its own, not held to the 16 ms
    // target. The load phase that is held to it starts once Main.qml exists,
    // so it covers the sign-in reply, the snapshot and every verification.
    m_probe.start(u"start-up"_s, false);
    m_loadStartNs = m_probe.nowNs();
    connect(m_session.get(), &console::ConsoleSession::stateChanged, this, [this] {
        m_probe.mark(u"session: state "_s + m_session->state());
        if (m_session->state() == u"signedIn"_s && m_signedInNs == 0)
            m_signedInNs = m_probe.nowNs();
    });
    connect(m_session.get(), &console::ConsoleSession::connectionChanged, this,
            [this] { m_probe.mark(u"session: connection "_s + m_session->connection()); });
    connect(m_session.get(), &console::ConsoleSession::modelsChanged, this,
            &ConsoleBench::connectMarkers);
    Result<void> started = m_session->start(kProfile);
    if (!started) {
        std::fprintf(stderr, "bench_console: the session did not start: %s\n",
                     qPrintable(started.error().message));
        return 2;
    }
    connectMarkers();

    if (m_options.loadQml) {
        m_engine = std::make_unique<QQmlApplicationEngine>();
        Result<void> loaded = console::loadConsole(*m_engine, *m_session, u"credentials"_s);
        if (!loaded) {
            std::fprintf(stderr, "bench_console: %s\n", qPrintable(loaded.error().message));
            return 2;
        }
        if (auto *window = qobject_cast<QQuickWindow *>(m_engine->rootObjects().value(0))) {
            m_renderLoop = graphicsApiName(window->rendererInterface()->graphicsApi());
            QThread *guiThread = QThread::currentThread();
            connect(
                window, &QQuickWindow::beforeRendering, this,
                [this, guiThread] {
                    if (!m_renderLoop.contains(u"thread"_s))
                        m_renderLoop += QThread::currentThread() == guiThread
                            ? u", rendered on the GUI thread"_s
                            : u", rendered on a render thread"_s;
                },
                Qt::DirectConnection);
        }
        m_probe.mark(u"QML console loaded"_s);
    }
    m_startupEndNs = m_probe.nowNs();
    m_probe.beginPhase(u"load"_s);

    m_loaded = waitFor([this] { return modelSettled(m_options.credentials); },
                       m_options.timeoutSeconds * 1000, 20);
    m_loadEndNs = m_probe.nowNs();
    m_loadChecks = m_session->credentialsModel().signatureChecks();
    m_syncedAfterLoad = countSyncedRows();
    m_probe.mark(u"load finished"_s);
    if (!m_loaded) {
        std::fprintf(stderr,
                     "bench_console: the console did not list and verify %d credentials within "
                     "%d s (rows %d, feed %s, snapshots received %d)\n",
                     m_options.credentials, m_options.timeoutSeconds,
                     m_session->credentialsModel().rowCount(), qPrintable(m_session->connection()),
                     m_session->snapshotCount());
        m_peakRssKib = peakRssKib();
        m_probe.stop();
        printReport();
        return 1;
    }

    // A quiet second between the phases.
    m_probe.beginPhase(u"idle"_s);
    waitFor([] { return false; }, 1000);

    std::fprintf(stderr, "bench_console: live phase started\n");
    m_probe.beginPhase(u"live"_s);
    m_liveStartNs = m_probe.nowNs();
    m_batches = 0;
    m_batchedEvents = 0;
    m_feeder.write(QByteArray("live ") + QByteArray::number(m_options.eventsPerSecond) + '\n');
    const qint64 liveTimeoutMs = qint64(m_options.liveSeconds + m_options.timeoutSeconds) * 1000;
    m_liveDrained = waitFor(
        [this] {
            return m_liveSentNs != 0 && m_batchedEvents >= m_liveSent
                && !m_session->credentialsModel().isVerifying();
        },
        int(liveTimeoutMs), 20);
    m_liveEndNs = m_probe.nowNs();
    m_liveChecks = m_session->credentialsModel().signatureChecks() - m_loadChecks;
    m_probe.stop();
    m_peakRssKib = peakRssKib();
    timeDerivedRefresh();
    m_syncedAfterLive = countSyncedRows();
    m_rotatedAfterLive = countRowsAtVersion(2);
    printReport();

    // A missed time target shows as MISS in the report; only a step that
    // failed fails the run, as in the other benchmarks.
    return m_loaded && m_liveDrained && m_totalsMatch ? 0 : 1;
}

void ConsoleBench::printReport()
{
    const QList<PhaseStats> &phases = m_probe.phases();
    std::printf("\n== bench_console ==\n");
    std::printf("machine: %s, %d hardware threads, Qt %s, QPA %s, QML %s%s\n",
                qPrintable(QSysInfo::prettyProductName()), QThread::idealThreadCount(), qVersion(),
                qPrintable(qEnvironmentVariable("QT_QPA_PLATFORM")),
                m_options.loadQml ? "loaded (credentials view)" : "not loaded (models only)",
                m_renderLoop.isEmpty() ? "" : qPrintable(u", scene graph "_s + m_renderLoop));
    std::printf("org: %d credentials x %d agents, snapshot frame %.1f MiB, generated and signed "
                "in %lld ms by the mock backend\n",
                m_options.credentials, m_options.agents, double(m_snapshotBytes) / 1048576.0,
                m_generationMs);

    std::printf("\nstart-up: ConsoleSession::start(), then the QML engine creating Main.qml "
                "(reported, not judged against the 16 ms target)\n");
    std::printf("  start-up time            %9.0f ms\n", toMs(m_startupEndNs - m_loadStartNs));
    if (!m_probe.phases().isEmpty()) {
        const PhaseStats &startup = m_probe.phases().constFirst();
        std::printf("  longest GUI-thread gap   %9.1f ms (GUI-thread CPU %.1f ms)\n",
                    toMs(startup.maxGapNs), toMs(startup.maxCpuGapNs));
    }
    if (m_signedInNs != 0 && m_signedInNs < m_startupEndNs)
        std::printf("  NOTE: the session signed in during start-up, so the sign-in reply is "
                    "not in the load phase\n");

    std::printf("\nload: from Main.qml created (the sign-in reply follows) to every credential "
                "listed and verified\n");
    if (m_loaded) {
        const qint64 verifyNs = m_loadEndNs - m_snapshotNs;
        std::printf("  total time from start    %9.0f ms\n", toMs(m_loadEndNs - m_loadStartNs));
        std::printf("  load phase               %9.0f ms\n", toMs(m_loadEndNs - m_startupEndNs));
        std::printf("    signed in after        %9.0f ms\n", toMs(m_signedInNs - m_loadStartNs));
        std::printf("    rows listed after      %9.0f ms\n", toMs(m_snapshotNs - m_loadStartNs));
        std::printf("    verified in            %9.0f ms after the rows were listed\n",
                    toMs(verifyNs));
        std::printf("  signatures verified      %9lld (receipts and statements)\n", m_loadChecks);
        std::printf("  verification throughput  %9.0f signatures/s\n",
                    verifyNs > 0 ? double(m_loadChecks) / (double(verifyNs) / 1e9) : 0.0);
        std::printf("  rows synced after load   %9d of %d\n", m_syncedAfterLoad,
                    m_options.credentials);
    } else {
        std::printf("  not finished: rows %d of %d, feed %s, snapshots received %d, rows "
                    "listed after %s\n",
                    m_session ? m_session->credentialsModel().rowCount() : 0, m_options.credentials,
                    m_session ? qPrintable(m_session->connection()) : "-",
                    m_session ? m_session->snapshotCount() : 0,
                    m_snapshotNs ? qPrintable(u"%1 ms"_s.arg(toMs(m_snapshotNs - m_loadStartNs)))
                                 : "never");
    }

    if (m_liveStartNs != 0) {
        std::printf("\nlive: %lld credential_sync_changed events with receipts\n", m_liveSent);
        std::printf("  sent in                  %9lld ms (%.0f events/s)\n", m_liveSendMs,
                    m_liveSendMs > 0 ? double(m_liveSent) * 1000.0 / double(m_liveSendMs) : 0.0);
        std::printf("  applied in               %9lld batches\n", m_batches);
        std::printf("  verified and shown after %9.0f ms past the last event\n",
                    toMs(m_liveEndNs - m_liveSentNs));
        std::printf("  signatures verified      %9lld (%.0f/s over the phase)\n", m_liveChecks,
                    double(m_liveChecks) / (double(m_liveEndNs - m_liveStartNs) / 1e9));
        std::printf("  rotated rows synced      %9d (version 2, every agent's receipt verified)\n",
                    m_rotatedAfterLive);
        std::printf("  rows synced after live   %9d of %d\n", m_syncedAfterLive,
                    m_options.credentials);
    }

    if (m_loaded) {
        std::printf("\ntotals that ConsoleSession::refreshDerived() reads, timed after the live "
                    "phase (median of 5):\n");
        std::printf("  model's totals (counts and holdings) %6.3f ms\n", m_totalsMs);
        std::printf("  the same by a walk over every row:\n");
        std::printf("    CredentialsModel::verifications() %7.1f ms\n", m_verificationsMs);
        std::printf("    countHoldings() over them         %7.1f ms\n", m_countHoldingsMs);
        std::printf("    chip, stalled and badges of rows  %7.1f ms (%d problem rows)\n",
                    m_rowScanMs, m_problemRows);
        std::printf("  agents with holdings                %7d\n", m_holdingAgents);
        std::printf("  model's totals equal the walk's     %7s\n", m_totalsMatch ? "yes" : "NO");
    }

    std::printf("\npeak RSS (VmHWM) of the console process: %.1f MiB\n",
                double(m_peakRssKib) / 1024.0);

    std::printf("\nGUI-thread gaps between 1 ms probe ticks, per phase (target: none > 16 ms, "
                "except in start-up, which is not judged)\n");
    std::printf("  %-6s %9s %8s %8s %8s %12s %12s %10s %12s  %s\n", "phase", "duration", "p50",
                "p99", "max", "(CPU in max)", "max CPU/gap", "gaps>16ms", "time in them",
                "verdict");
    for (const PhaseStats &phase : phases) {
        std::printf(
            "  %-6s %7.0f ms %5.1f ms %5.1f ms %5.0f ms %9.0f ms %9.1f ms %10lld %9.0f ms  %s\n",
            qPrintable(phase.name), toMs(phase.endNs - phase.startNs),
            toMs(percentileGapNs(phase, 50)), toMs(percentileGapNs(phase, 99)),
            toMs(phase.maxGapNs), toMs(phase.maxCpuGapNs), toMs(phase.maxGapCpuNs),
            phase.gapsOver16Ms, toMs(phase.blockedOver16MsNs), gapVerdict(phase));
    }

    // The longest gaps with the markers recorded inside them.
    QList<Gap> longest = m_probe.blocks();
    std::sort(longest.begin(), longest.end(),
              [](const Gap &a, const Gap &b) { return a.endNs - a.startNs > b.endNs - b.startNs; });
    const qsizetype shown = std::min<qsizetype>(longest.size(), 12);
    if (shown > 0)
        std::printf("\nlongest GUI-thread gaps and what ran in them (ms from the gap's start)\n");
    const QList<Marker> &markers = m_probe.markers();
    for (qsizetype i = 0; i < shown; ++i) {
        const Gap &gap = longest.at(i);
        std::printf("  %-5s gap of %.1f ms (GUI-thread CPU %.1f ms) at %.0f ms:\n",
                    qPrintable(gap.phase), toMs(gap.endNs - gap.startNs), toMs(gap.cpuNs),
                    toMs(gap.startNs - m_loadStartNs));
        QStringList inside;
        for (const Marker &marker : markers) {
            if (marker.atNs >= gap.startNs && marker.atNs <= gap.endNs)
                inside.append(
                    u"+%1 %2"_s.arg(toMs(marker.atNs - gap.startNs), 0, 'f', 1).arg(marker.label));
        }
        if (inside.isEmpty())
            inside.append(u"(no marker: outside the models' signals, e.g. socket reads, "
                          "QML bindings or rendering)"_s);
        constexpr qsizetype kMaxMarkers = 14;
        for (qsizetype m = 0; m < inside.size(); ++m) {
            if (inside.size() > kMaxMarkers && m == kMaxMarkers - 4) {
                std::printf("      ... %lld more\n", inside.size() - kMaxMarkers);
                m = inside.size() - 4;
            }
            std::printf("      %s\n", qPrintable(inside.at(m)));
        }
    }

    std::printf("\nverdicts\n");
    for (const PhaseStats &phase : phases)
        std::printf("  %-32s %s (max %.0f ms)\n",
                    qPrintable(u"no GUI block > 16 ms during "_s + phase.name),
                    gapVerdict(phase), toMs(phase.maxGapNs));
    std::printf("  %-32s %s\n", "org loaded and verified", verdict(m_loaded));
    if (m_loaded)
        std::printf("  %-32s %s\n", "model's totals equal a walk", verdict(m_totalsMatch));
    if (m_liveStartNs != 0)
        std::printf("  %-32s %s\n", "live events applied and verified", verdict(m_liveDrained));
    std::fflush(stdout);
}

} // namespace sealrelay::bench
