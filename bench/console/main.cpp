// bench_console: loads a large org into the console from a mock backend on
// 127.0.0.1, feeds live events at a fixed rate, and reports how long the GUI
// thread was blocked. With --serve-feed it is that mock backend, which the
// benchmark starts as its child process.
#include "benchdata.h"
#include "consolebench.h"
#include "logging.h"
#include "mockbackend.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QGuiApplication>
#include <QHostAddress>
#include <QSocketNotifier>

#ifdef SEALRELAY_HAVE_QUICK_CONTROLS
#include <QQuickStyle>
#endif

#include <cstdio>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace {

struct BenchOptions {
    QCommandLineOption credentials { u"credentials"_s, u"Credentials in the org. Default: 10000."_s,
                                     u"N"_s, u"10000"_s };
    QCommandLineOption agents { u"agents"_s,
                                u"Agents in the org, each with a receipt for every "
                                "credential. Default: 10."_s,
                                u"N"_s, u"10"_s };
    QCommandLineOption rate { u"rate"_s, u"Live events per second. Default: 1000."_s, u"N"_s,
                              u"1000"_s };
    QCommandLineOption seconds { u"live-seconds"_s,
                                 u"Duration of the live phase in seconds. Default: 10."_s,
                                 u"SECONDS"_s, u"10"_s };
    QCommandLineOption noQml { u"no-qml"_s,
                               u"Measure the session and its models without loading the QML "
                               "console."_s };
    QCommandLineOption timeout { u"timeout"_s,
                                 u"Maximum seconds for the load and for draining the live "
                                 "events. Default: 300."_s,
                                 u"SECONDS"_s, u"300"_s };
    // The mock backend's own options, set by the benchmark when it starts it.
    QCommandLineOption serveFeed { u"serve-feed"_s, u"Run as the mock backend (internal)."_s };
    QCommandLineOption liveEvents { u"live-events"_s, u"Live events to prepare (internal)."_s,
                                    u"N"_s, u"10000"_s };
    QCommandLineOption token { u"token"_s, u"Bearer token to accept (internal)."_s, u"TOKEN"_s };

    BenchOptions()
    {
        serveFeed.setFlags(QCommandLineOption::HiddenFromHelp);
        liveEvents.setFlags(QCommandLineOption::HiddenFromHelp);
        token.setFlags(QCommandLineOption::HiddenFromHelp);
    }

    void addTo(QCommandLineParser &parser) const
    {
        parser.setApplicationDescription(
            u"Console benchmark: loads an org into sealrelay-console's session, models and QML "
            "views (offscreen), feeds live events, and reports GUI-thread blocks, load time, "
            "verification throughput and peak RSS."_s);
        parser.addHelpOption();
        parser.addOptions({ credentials, agents, rate, seconds, noQml, timeout });
        parser.addOptions({ serveFeed, liveEvents, token });
    }
};

// Parses a positive integer option, or exits with status 2 naming it.
int positive(const QCommandLineParser &parser, const QCommandLineOption &option)
{
    bool ok = false;
    const int value = parser.value(option).toInt(&ok);
    if (!ok || value <= 0) {
        std::fprintf(stderr, "bench_console: --%s must be a positive integer, not \"%s\"\n",
                     qPrintable(option.names().constFirst()), qPrintable(parser.value(option)));
        std::exit(2);
    }
    return value;
}

bool isFeedMode(int argc, char *argv[])
{
    for (int i = 1; i < argc; ++i) {
        if (QByteArrayView(argv[i]) == "--serve-feed")
            return true;
    }
    return false;
}

// Runs the mock backend. It generates the org, prints "keys ORG_ID
// OPERATOR_KEY", listens on 127.0.0.1 and prints "listening PORT
// SNAPSHOT_BYTES GENERATION_MS". Then it reads commands from stdin. "live
// RATE" sends the live events and prints "live-done SENT ELAPSED_MS", and
// "quit" or the end of stdin exits.
int serveFeed(QCoreApplication &app, const BenchOptions &options, const QCommandLineParser &parser)
{
    using namespace sealrelay::bench;
    QElapsedTimer generation;
    generation.start();
    BenchDataOptions dataOptions;
    dataOptions.credentials = positive(parser, options.credentials);
    dataOptions.agents = positive(parser, options.agents);
    dataOptions.liveEvents = positive(parser, options.liveEvents);
    BenchData data(dataOptions);
    std::printf("keys %s %s\n", qPrintable(data.orgId()),
                data.operatorPublicKey().toBase64().constData());
    std::fflush(stdout);

    MockBackend backend(data.orgId(), parser.value(options.token));
    qint64 signatures = 0;
    const qint64 snapshotBytes = backend.setSnapshot(data.snapshotData(signatures));
    qint64 liveSignatures = 0;
    backend.setLiveEvents(data.liveEventData(liveSignatures));
    std::fprintf(stderr,
                 "mock backend: %lld signatures for the snapshot, %lld for the live events\n",
                 signatures, liveSignatures);
    const quint16 port = backend.listen(QHostAddress::LocalHost, 0);
    if (port == 0) {
        std::fprintf(stderr, "mock backend: listening on 127.0.0.1 failed\n");
        return 2;
    }
    std::printf("listening %u %lld %lld\n", unsigned(port), snapshotBytes, generation.elapsed());
    std::fflush(stdout);

    QObject::connect(&backend, &MockBackend::liveFinished, &app, [](qint64 sent, qint64 elapsedMs) {
        std::printf("live-done %lld %lld\n", sent, elapsedMs);
        std::fflush(stdout);
    });
    QSocketNotifier input(STDIN_FILENO, QSocketNotifier::Read);
    QObject::connect(&input, &QSocketNotifier::activated, &app, [&] {
        char buffer[256];
        const ssize_t read = ::read(STDIN_FILENO, buffer, sizeof buffer - 1);
        if (read <= 0) {
            QCoreApplication::quit();
            return;
        }
        const QList<QByteArray> lines = QByteArray(buffer, read).trimmed().split('\n');
        for (const QByteArray &line : lines) {
            const QList<QByteArray> words = line.trimmed().split(' ');
            if (words.value(0) == "live")
                backend.startLive(words.value(1).toInt());
            else if (words.value(0) == "quit")
                QCoreApplication::quit();
        }
    });
    return QCoreApplication::exec();
}

} // namespace

int main(int argc, char *argv[])
{
    const BenchOptions options;
    if (isFeedMode(argc, argv)) {
        QCoreApplication app(argc, argv);
        QCommandLineParser parser;
        options.addTo(parser);
        parser.process(app);
        return serveFeed(app, options, parser);
    }

    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"bench_console"_s);
    sealrelay::LoggingOptions logging;
    logging.level = qEnvironmentVariable("SEALRELAY_LOG_LEVEL", u"warn"_s);
    sealrelay::setupLogging(logging);

    QCommandLineParser parser;
    options.addTo(parser);
    parser.process(app);
#ifdef SEALRELAY_HAVE_QUICK_CONTROLS
    QQuickStyle::setStyle(u"Fusion"_s);
#endif

    sealrelay::bench::ConsoleBenchOptions benchOptions;
    benchOptions.credentials = positive(parser, options.credentials);
    benchOptions.agents = positive(parser, options.agents);
    benchOptions.eventsPerSecond = positive(parser, options.rate);
    benchOptions.liveSeconds = positive(parser, options.seconds);
    benchOptions.timeoutSeconds = positive(parser, options.timeout);
    benchOptions.loadQml = !parser.isSet(options.noQml);
    sealrelay::bench::ConsoleBench bench(benchOptions);
    return bench.run();
}
