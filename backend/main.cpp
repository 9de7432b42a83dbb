// sealrelay-backend: parses the subcommand (init, run, migrate, token create)
// and its options, then wires the service objects together.
#include "backendservice.h"
#include "logging.h"
#include "settings.h"
#include "terminationsignals.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcessEnvironment>

#include <algorithm>
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
                              "  token create\n"
                              "           Create an API token in the database without the REST\n"
                              "           API, e.g. a new admin token after the last was lost.\n"
                              "Run `sealrelay-backend COMMAND --help` for a command's options.\n"_s;

// Parses `arguments` (program name first) with the settings' options; exits
// the process on --help. Returns the settings or prints the error.
std::optional<BackendSettings> parseSettings(QCommandLineParser &parser,
                                             const QStringList &arguments,
                                             const QString &command, SettingScope scope,
                                             const QString &description)
{
    parser.setApplicationDescription(description);
    parser.addHelpOption();
    addSettingOptions(parser, scope);
    if (!parser.parse(arguments)) {
        QString text = parser.errorText();
        if (text.endsWith(u'.'))
            text.chop(1);
        usageError(text + u"; see --help."_s);
        return std::nullopt;
    }
    if (parser.isSet(u"help"_s)) {
        // helpText() starts "Usage: sealrelay-backend [options]".
        QString help = parser.helpText();
        const QString program = QCoreApplication::applicationName();
        if (const qsizetype at = help.indexOf(program); at >= 0)
            help.replace(at, program.size(), program + u' ' + command);
        if (scope == SettingScope::Service)
            help += settingsHelp();
        printLine(stdout, help);
        std::exit(0);
    }
    if (!parser.positionalArguments().isEmpty()) {
        usageError(u"Unexpected argument \"%1\"; see --help."_s.arg(
            parser.positionalArguments().constFirst()));
        return std::nullopt;
    }
    auto settings = resolveSettings(parser, processEnvironment(), scope);
    if (!settings) {
        usageError(settings.error().message);
        return std::nullopt;
    }
    return settings.value();
}

// Creates the data folder owner-only (0700) when it does not exist. An
// existing folder keeps its mode.
Result<void> createDataDir(const QString &path)
{
    const QFileInfo info(path);
    if (info.exists() && !info.isDir())
        return makeError(Reason::Malformed,
                         u"--data-dir %1 is a file, not a folder; give a folder for "
                         "backend.db."_s.arg(path));
    if (info.exists())
        return {};
    if (!QDir().mkpath(path))
        return makeError(Reason::IoError,
                         u"Cannot create the data folder %1; check the permissions of its "
                         "parent folder."_s.arg(path));
    if (!QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner
                                         | QFileDevice::ExeOwner))
        return makeError(Reason::IoError,
                         u"Cannot make the data folder %1 owner-only (0700)."_s.arg(path));
    return {};
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
    auto settings = parseSettings(parser, arguments, u"init"_s, SettingScope::Storage,
                                  u"Creates the database, an org and its first admin token. The "
                                  "token is printed once, as the last line of output."_s);
    if (!settings)
        return kExitUsage;
    setupLoggingFrom(*settings);

    auto config = storageConfigFor(*settings);
    if (!config)
        return usageError(config.error().message);
    if (config->engine == SqlEngine::Sqlite && !settings->dataDir.isEmpty()) {
        auto created = createDataDir(settings->dataDir);
        if (!created)
            return usageError(created.error().message);
    }

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
    printLine(stdout, u"Admin token created (id %1). The token is shown only once; store it "
                      "now:"_s.arg(result->tokenId));
    printLine(stdout, result->token);
    return 0;
}

int runMigrate(const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseSettings(parser, arguments, u"migrate"_s, SettingScope::Storage,
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

// `token create`: makes an API token straight in the database, for an
// operator with file or database access who has no admin token left.
int runTokenCreate(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption(QCommandLineOption(u"role"_s, u"Role of the new token: admin, operator or "
                                                   "auditor."_s,
                                        u"ROLE"_s));
    parser.addOption(QCommandLineOption(u"label"_s, u"Label of the new token. Default: local "
                                                    "recovery."_s,
                                        u"LABEL"_s, u"local recovery"_s));
    parser.addOption(QCommandLineOption(u"org-id"_s, u"Org of the new token; needed only when "
                                                     "the database has several orgs."_s,
                                        u"UUID"_s));
    auto settings = parseSettings(parser, arguments, u"token create"_s, SettingScope::Storage,
                                  u"Creates an API token directly in the database, without the "
                                  "REST API, and writes an audit row. The token is printed once, "
                                  "as the last line of output; only its SHA-256 is stored."_s);
    if (!settings)
        return kExitUsage;
    setupLoggingFrom(*settings);

    const std::optional<ApiRole> role = parseApiRole(parser.value(u"role"_s));
    if (!role)
        return usageError(u"Invalid value \"%1\" for --role: expected admin, operator or "
                          "auditor."_s.arg(parser.value(u"role"_s)));
    auto config = storageConfigFor(*settings);
    if (!config)
        return usageError(config.error().message);
    if (auto exists = requireDatabaseFile(*settings, config.value()); !exists)
        return usageError(exists.error().message);
    auto storage = SqlStorage::open(config.value());
    if (!storage) {
        printLine(stderr, u"error: "_s + storage.error().message);
        return kExitFailure;
    }
    auto orgs = requireOrgs(*storage.value(), *settings, config.value());
    if (!orgs)
        return usageError(orgs.error().message);

    QString orgId = parser.value(u"org-id"_s);
    if (orgId.isEmpty() && orgs->size() > 1)
        return usageError(u"The database has %1 orgs; choose one with --org-id."_s.arg(
            orgs->size()));
    if (orgId.isEmpty())
        orgId = orgs->constFirst().orgId;
    const bool known = std::any_of(orgs->cbegin(), orgs->cend(),
                                   [&](const OrgRow &org) { return org.orgId == orgId; });
    if (!known)
        return usageError(u"Invalid value \"%1\" for --org-id: no such org in the "
                          "database."_s.arg(orgId));

    auto created = createApiTokenFor(*storage.value(), orgId, *role, parser.value(u"label"_s),
                                     u"local:sealrelay-backend"_s);
    if (!created) {
        printLine(stderr, u"error: "_s + created.error().message);
        return kExitFailure;
    }
    printLine(stdout, u"%1 token created (id %2) in org %3. The token is shown only once; "
                      "store it now:"_s.arg(apiRoleName(*role), created->tokenId, orgId));
    printLine(stdout, created->token);
    return 0;
}

int runService(QCoreApplication &app, const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseSettings(parser, arguments, u"run"_s, SettingScope::Service,
                                  u"Runs the control plane: REST API, agent and console "
                                  "WebSockets, health and metrics on one listener."_s);
    if (!settings)
        return kExitUsage;
    setupLoggingFrom(*settings);

    TerminationSignals signals;
    BackendService service(*settings);
    auto started = service.start();
    if (!started) {
        // The logger also writes to standard error, so the message goes to
        // the logger only when a log file would otherwise miss it.
        if (!settings->logFile.isEmpty())
            logger("backend.service")->critical("Cannot start: {}",
                                                started.error().message.toStdString());
        printLine(stderr, u"error: "_s + started.error().message);
        // A bad setting or a database without an org is the operator's to fix.
        const bool usage = started.error().reason == Reason::Malformed
            || started.error().reason == Reason::NotFound;
        return usage ? kExitUsage : kExitFailure;
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
    if (command == u"token"_s) {
        if (arguments.size() < 2 || arguments[1] != u"create"_s)
            return usageError(u"Unknown token command; use `sealrelay-backend token create "
                              "--role admin --data-dir DIR`."_s);
        arguments.removeAt(1);
        return runTokenCreate(arguments);
    }
    return usageError(u"Unknown command \"%1\".\n"_s.arg(command) + kCommandsHelp);
}
