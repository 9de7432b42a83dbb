// sealrelay-console: the operators' desktop console. main() parses the
// options, opens the profile sealrelayctl writes and loads the QML views.
#include "consoleengine.h"
#include "consolesession.h"
#include "logging.h"
#include "terminationsignals.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QGuiApplication>
#include <QQmlApplicationEngine>

#ifdef SEALRELAY_HAVE_QUICK_CONTROLS
#include <QQuickStyle>
#endif

#include <cstdio>

using namespace Qt::Literals::StringLiterals;

namespace {

struct ConsoleOptions {
    QCommandLineOption profile { u"profile"_s,
                                 u"Profile to use. Default: $SEALRELAY_PROFILE, or "
                                 "\"default\"."_s,
                                 u"NAME"_s };
    QCommandLineOption backend {
        u"backend"_s, u"Backend base URL, e.g. https://backend:8443. Default: the profile's."_s,
        u"URL"_s
    };
    QCommandLineOption view { u"view"_s,
                              u"View shown first: %1. Default: credentials."_s.arg(
                                  sealrelay::console::consoleViews().join(u", "_s)),
                              u"VIEW"_s, u"credentials"_s };

    void addTo(QCommandLineParser &parser) const
    {
        parser.setApplicationDescription(
            u"Desktop console of sealrelay. It uses the profiles of sealrelayctl, so after "
            "'sealrelayctl login' it signs in without typing."_s);
        parser.addHelpOption();
        parser.addVersionOption();
        parser.addOptions({ profile, backend, view });
    }
};

// True for --help and --version, which print text and need no display.
bool printsTextOnly(int argc, char *argv[])
{
    for (int i = 1; i < argc; ++i) {
        const QByteArrayView argument(argv[i]);
        if (argument == "-h" || argument == "--help" || argument == "--help-all" || argument == "-v"
            || argument == "--version")
            return true;
    }
    return false;
}

void setApplicationNames()
{
    QCoreApplication::setApplicationName(u"sealrelay-console"_s);
    QCoreApplication::setApplicationVersion(QStringLiteral(SEALRELAY_VERSION));
}

} // namespace

int main(int argc, char *argv[])
{
    const ConsoleOptions options;
    if (printsTextOnly(argc, argv)) {
        // QGuiApplication aborts without a display, so help and version
        // come from a QCoreApplication.
        QCoreApplication app(argc, argv);
        setApplicationNames();
        QCommandLineParser parser;
        options.addTo(parser);
        parser.process(app); // exits after printing
        return 0;
    }

    QGuiApplication app(argc, argv);
    setApplicationNames();

    sealrelay::LoggingOptions logging;
    logging.level = qEnvironmentVariable("SEALRELAY_LOG_LEVEL", u"warn"_s);
    sealrelay::setupLogging(logging);

    QCommandLineParser parser;
    options.addTo(parser);
    parser.process(app);

#ifdef SEALRELAY_HAVE_QUICK_CONTROLS
    QQuickStyle::setStyle(u"Fusion"_s);
#endif

    const QString profileName = parser.isSet(options.profile)
        ? parser.value(options.profile)
        : qEnvironmentVariable("SEALRELAY_PROFILE", u"default"_s);

    sealrelay::console::ConsoleSession session;
    sealrelay::Result<void> started = session.start(profileName, parser.value(options.backend));
    if (!started)
        // The console still opens: its sign-in page shows the same error.
        sealrelay::logger("console")->error("profile \"{}\": {}", profileName.toStdString(),
                                            started.error().message.toStdString());

    // SIGTERM and SIGINT close the window like the user would.
    sealrelay::TerminationSignals termination;
    QObject::connect(&termination, &sealrelay::TerminationSignals::terminationRequested, &app,
                     [](int) { QGuiApplication::quit(); });

    QQmlApplicationEngine engine;
    sealrelay::Result<void> loaded =
        sealrelay::console::loadConsole(engine, session, parser.value(options.view));
    if (!loaded) {
        std::fprintf(stderr, "sealrelay-console: %s\n", qPrintable(loaded.error().message));
        return 1;
    }
    return QGuiApplication::exec();
}
