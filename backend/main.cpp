// sealrelay-backend: parses the subcommand (init, run, migrate) and its
// options, then wires the service objects together.
#include "backendservice.h"
#include "logging.h"
#include "settings.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QProcessEnvironment>

#include <cstdio>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

void printLine(FILE *stream, const QString &line)
{
    const QByteArray bytes = line.toUtf8() + '\n';
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fflush(stream);
}

int usageError(const QString &message)
{
    printLine(stderr, u"error: "_s + message);
    return kExitUsage;
}

QHash<QString, QString> processEnvironment()
{
    QHash<QString, QString> environment;
    const QProcessEnvironment system = QProcessEnvironment::systemEnvironment();
    for (const QString &name : system.keys())
        environment.insert(name, system.value(name));
    return environment;
}

const QString kCommandsHelp = u"Commands:\n"
                              "  init     Create the database, an org and its first admin token.\n"
                              "  run      Run the service.\n"
                              "  migrate  Apply database migrations with the owner connection.\n"
                              "Run `sealrelay-backend COMMAND --help` for a command's options.\n"_s;

// Parses `arguments` (program name first) with the settings' options; exits
// the process on --help. Returns the settings or prints the error.
std::optional<BackendSettings> parseSettings(QCommandLineParser &parser,
                                             const QStringList &arguments,
                                             const QString &description)
{
    parser.setApplicationDescription(description);
    parser.addHelpOption();
    addSettingOptions(parser);
    if (!parser.parse(arguments)) {
        usageError(parser.errorText() + u"; see --help."_s);
        return std::nullopt;
    }
    if (parser.isSet(u"help"_s)) {
        printLine(stdout, parser.helpText() + settingsHelp());
        std::exit(0);
    }
    if (!parser.positionalArguments().isEmpty()) {
        usageError(u"Unexpected argument \"%1\"; see --help."_s.arg(
            parser.positionalArguments().constFirst()));
        return std::nullopt;
    }
    auto settings = resolveSettings(parser, processEnvironment());
    if (!settings) {
        usageError(settings.error().message);
        return std::nullopt;
    }
    return settings.value();
}

void setupLoggingFrom(const BackendSettings &settings)
{
    LoggingOptions options;
    options.level = settings.logLevel;
    options.filePath = settings.logFile;
    setupLogging(options);
}

int runInit(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption(QCommandLineOption(u"org"_s, u"Name of the new org. Default: default."_s,
                                        u"NAME"_s, u"default"_s));
    auto settings = parseSettings(parser, arguments,
                                  u"Creates the database, an org and its first admin token. The "
                                  "token is printed once, as the last line of output."_s);
    if (!settings)
        return kExitUsage;
    setupLoggingFrom(*settings);

    auto config = storageConfigFor(*settings);
    if (!config)
        return usageError(config.error().message);
    if (config->engine == SqlEngine::Sqlite && !settings->dataDir.isEmpty()
        && !QDir().mkpath(settings->dataDir))
        return usageError(u"Cannot create the data folder %1."_s.arg(settings->dataDir));

    auto storage = SqlStorage::open(config.value());
    if (!storage) {
        printLine(stderr, u"error: "_s + storage.error().message);
        return kExitFailure;
    }
    auto migrated = storage.value()->migrate();
    if (!migrated) {
        printLine(stderr, u"error: "_s + migrated.error().message);
        return kExitFailure;
    }
    // A second init would add a second org and admin token without anyone
    // noticing, so it is rejected.
    auto orgs = storage.value()->orgs();
    if (!orgs) {
        printLine(stderr, u"error: "_s + orgs.error().message);
        return kExitFailure;
    }
    if (!orgs->isEmpty()) {
        printLine(stderr, u"error: the database is already initialised (org %1); create more "
                          "tokens with POST /api/tokens or `sealrelayctl token create`."_s.arg(
                              orgs->constFirst().orgId));
        return kExitFailure;
    }
    auto result = initialiseOrg(*storage.value(), parser.value(u"org"_s));
    if (!result) {
        printLine(stderr, u"error: "_s + result.error().message);
        return kExitFailure;
    }

    printLine(stdout, u"Initialised org \"%1\" (%2)."_s.arg(parser.value(u"org"_s),
                                                           result->orgId));
    printLine(stdout, u"Admin token %1; it is shown only once, store it now:"_s.arg(
                          result->tokenId));
    printLine(stdout, result->token);
    return 0;
}

int runMigrate(const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseSettings(parser, arguments,
                                  u"Applies the database migrations. For PostgreSQL give the "
                                  "owner role's URL with --database; the service role then runs "
                                  "with its own URL."_s);
    if (!settings)
        return kExitUsage;
    setupLoggingFrom(*settings);

    // The owner connection is the one given; it both connects and migrates.
    BackendSettings owner = *settings;
    owner.migrationDatabase.clear();
    auto config = storageConfigFor(owner);
    if (!config)
        return usageError(config.error().message);
    auto storage = SqlStorage::open(config.value());
    if (!storage) {
        printLine(stderr, u"error: "_s + storage.error().message);
        return kExitFailure;
    }
    auto migrated = storage.value()->migrate();
    auto version = storage.value()->schemaVersion();
    if (!migrated || !version) {
        printLine(stderr, u"error: "_s + (migrated ? version.error() : migrated.error()).message);
        return kExitFailure;
    }
    printLine(stdout, u"Schema at version %1."_s.arg(version.value()));
    return 0;
}

int runService(QCoreApplication &app, const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseSettings(parser, arguments,
                                  u"Runs the control plane: REST API, agent and console "
                                  "WebSockets, health and metrics on one listener."_s);
    if (!settings)
        return kExitUsage;
    setupLoggingFrom(*settings);

    TerminationSignals signals;
    BackendService service(*settings);
    auto started = service.start();
    if (!started) {
        logger("backend.service")->critical("Cannot start: {}",
                                            started.error().message.toStdString());
        printLine(stderr, u"error: "_s + started.error().message);
        return started.error().reason == Reason::Malformed ? kExitUsage : kExitFailure;
    }

    QObject::connect(&signals, &TerminationSignals::terminationRequested, &service,
                     [&service](int signalNumber) {
                         logger("backend.service")->info("Signal {} received", signalNumber);
                         service.stop();
                     });
    QObject::connect(&service, &BackendService::stopped, &app, &QCoreApplication::quit);
    return app.exec();
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"sealrelay-backend"_s);
    QCoreApplication::setApplicationVersion(QStringLiteral(SEALRELAY_VERSION));

    QStringList arguments = QCoreApplication::arguments();
    if (arguments.size() < 2 || arguments[1] == u"--help"_s || arguments[1] == u"-h"_s) {
        printLine(arguments.size() < 2 ? stderr : stdout,
                  u"Usage: sealrelay-backend COMMAND [options]\n"_s + kCommandsHelp);
        return arguments.size() < 2 ? kExitUsage : 0;
    }
    if (arguments[1] == u"--version"_s) {
        printLine(stdout, u"sealrelay-backend "_s + QCoreApplication::applicationVersion());
        return 0;
    }

    const QString command = arguments.takeAt(1);
    if (command == u"init"_s)
        return runInit(arguments);
    if (command == u"run"_s)
        return runService(app, arguments);
    if (command == u"migrate"_s)
        return runMigrate(arguments);
    return usageError(u"Unknown command \"%1\".\n"_s.arg(command) + kCommandsHelp);
}
