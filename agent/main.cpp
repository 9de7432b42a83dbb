// sealrelay-agent: parses the subcommand (init, run, fingerprint, status,
// audit, rekey, get) and its options, then wires the agent's objects.
#include "agentservice.h"
#include "agentsettings.h"
#include "credentialapi.h"
#include "ids.h"
#include "logging.h"
#include "terminationsignals.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QProcessEnvironment>

#include <cstdio>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

void printLine(FILE *stream, const QString &line)
{
    const QByteArray bytes = line.toUtf8() + '\n';
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fflush(stream);
}

int fail(const Error &error)
{
    printLine(stderr, u"error: "_s + error.message);
    return error.reason == Reason::Malformed ? kExitUsage : kExitFailure;
}

const QString kCommandsHelp =
    u"Commands:\n"
    "  init         Create the keys and the vault, print the agent fingerprint.\n"
    "  run          Run the agent.\n"
    "  fingerprint  Print the agent fingerprint an operator compares when approving.\n"
    "  status       Print the agent id, name, backend, certificate and credentials.\n"
    "  audit        Print the local audit log and verify its chain (exit 1 if broken).\n"
    "  rekey        Make new keys, purge the vault and enrol again with a new token.\n"
    "  get          Print a credential from the running agent.\n"
    "Run `sealrelay-agent COMMAND --help` for a command's options.\n"_s;

// The codes runGetCommand() returns, with what leads to each.
const QString kGetExitCodes =
    u"\nExit codes of get:\n"
    "  0  success: the secret, or its field, is printed\n"
    "  1  other failure\n"
    "  2  usage error\n"
    "  3  not found: the backend has no credential of that name or id\n"
    "     (UNKNOWN_CREDENTIAL), this agent holds it as deleted or removed from\n"
    "     its scope, or the secret has no such field\n"
    "  4  unavailable: the agent is not running or stopped before it replied,\n"
    "     or the backend cannot deliver the credential now. The reason is\n"
    "     printed: NO_ELIGIBLE_PEER, RATE_LIMITED, BACKEND_BUSY, NOT_IN_SCOPE (the\n"
    "     backend's scope for the credential does not include this agent),\n"
    "     COMMITMENT_MISMATCH\n"
    "  5  timeout: the credential did not arrive within --missing-wait, or the\n"
    "     agent did not reply in time\n"_s;

QHash<QString, QString> processEnvironment()
{
    QHash<QString, QString> environment;
    const QProcessEnvironment system = QProcessEnvironment::systemEnvironment();
    for (const QString &name : system.keys())
        environment.insert(name, system.value(name));
    return environment;
}

// Parses the command's options and the settings; exits on --help.
std::optional<AgentSettings> parseCommand(QCommandLineParser &parser, const QStringList &arguments,
                                          const QString &description,
                                          const QString &extraHelp = {},
                                          const QStringList &settingOptions = {})
{
    parser.setApplicationDescription(description);
    parser.addHelpOption();
    addAgentSettingOptions(parser, settingOptions);
    if (!parser.parse(arguments)) {
        printLine(stderr, u"error: "_s + parser.errorText());
        return std::nullopt;
    }
    if (parser.isSet(u"help"_s)) {
        // Qt's usage line names the program as it was started, and main()
        // put the program and command names in the first argument.
        QString help = parser.helpText();
        const QString usage = u"Usage: "_s;
        const QString started = QCoreApplication::arguments().constFirst();
        if (help.startsWith(usage + started))
            help.replace(usage.size(), started.size(), arguments.constFirst());
        printLine(stdout, help + agentSettingsHelp(settingOptions) + extraHelp);
        std::exit(0);
    }
    Result<AgentSettings> settings =
        resolveAgentSettings(parser, processEnvironment(), settingOptions);
    if (!settings) {
        printLine(stderr, u"error: "_s + settings.error().message);
        return std::nullopt;
    }
    if (settings->dataDir.isEmpty()) {
        printLine(stderr, u"error: --data-dir is required (or SEALRELAY_AGENT_DATA_DIR)"_s);
        return std::nullopt;
    }
    LoggingOptions logging;
    logging.level = settings->logLevel;
    logging.filePath = settings->logFile;
    setupLogging(logging);
    return std::move(settings).value();
}

// The key file of a command: the option, else the one init recorded.
QString keyFileOf(const AgentSettings &settings, const DataDirectory &directory)
{
    if (!settings.vaultKeyFile.isEmpty())
        return settings.vaultKeyFile;
    Result<AgentState> state = AgentState::load(directory.statePath());
    return state ? state->vaultKeyFile : QString();
}

int runInit(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption({u"enrolment-token"_s, u"Single-use enrolment token from an operator."_s,
                      u"TOKEN"_s});
    parser.addOption({u"trusted-operators"_s,
                      u"File of trusted operator keys (one base64 raw Ed25519 key a line); "
                      "copied into the data directory."_s,
                      u"FILE"_s});
    auto settings = parseCommand(parser, arguments,
                                 u"Creates the agent's keys and vault and prints its fingerprint. "
                                 "--vault-key-file creates a 0600 key file when none exists."_s);
    if (!settings)
        return kExitUsage;

    InitRequest request;
    request.dataDir = settings->dataDir;
    request.backendUrl = settings->backendUrl;
    request.enrolmentToken = parser.value(u"enrolment-token"_s);
    request.trustedOperatorsFile = parser.value(u"trusted-operators"_s);
    request.name = settings->name;
    request.vaultKeyFile = settings->vaultKeyFile;
    if (request.backendUrl.isEmpty())
        return fail(makeError(Reason::Malformed, u"--backend is required"_s));
    Result<QString> fingerprint = initialiseAgent(request);
    if (!fingerprint)
        return fail(fingerprint.error());
    printLine(stdout, u"Agent fingerprint (compare it when approving this agent):"_s);
    printLine(stdout, groupedFingerprint(fingerprint.value()));
    return 0;
}

int runAgent(QCoreApplication &app, const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseCommand(parser, arguments, u"Runs the agent."_s);
    if (!settings)
        return kExitUsage;
    Result<std::unique_ptr<AgentService>> service = AgentService::create(*settings);
    if (!service)
        return fail(service.error());
    CredentialApi api(*service.value());
    const DataDirectory directory{QDir(settings->dataDir).absolutePath()};
    if (Result<void> listening = api.listen(directory.socketPath(), settings->socketGroup);
        !listening)
        return fail(listening.error());
    // SIGTERM and SIGINT end the event loop, so the socket file is removed
    // and the vault closes cleanly when the objects above are destroyed.
    TerminationSignals signals;
    QObject::connect(&signals, &TerminationSignals::terminationRequested, &app,
                     [&app](int signalNumber) {
                         logger("agent.service")->info("Signal {} received; stopping", signalNumber);
                         app.quit();
                     });
    // An agent that needs an operator's new enrolment token exits, so that
    // a service manager shows the failure instead of a loop of retries.
    QObject::connect(service.value().get(), &AgentService::stoppedForOperator, &app,
                     [&app] { app.exit(kExitFailure); });
    service.value()->start();
    return app.exec();
}

int runFingerprint(const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseCommand(parser, arguments, u"Prints the agent fingerprint."_s);
    if (!settings)
        return kExitUsage;
    const DataDirectory directory{settings->dataDir};
    Result<std::unique_ptr<Vault>> vault = openVault(directory, keyFileOf(*settings, directory));
    if (!vault)
        return fail(vault.error());
    Result<std::optional<AgentIdentity>> identity = vault.value()->loadIdentity();
    if (!identity)
        return fail(identity.error());
    if (!identity.value())
        return fail(makeError(Reason::NotFound, u"the vault has no identity. Run init"_s));
    printLine(stdout, groupedFingerprint(identity.value()->fingerprint()));
    return 0;
}

int runStatus(const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseCommand(parser, arguments, u"Prints the agent's status."_s);
    if (!settings)
        return kExitUsage;
    const DataDirectory directory{settings->dataDir};
    Result<AgentState> state = AgentState::load(directory.statePath());
    if (!state)
        return fail(state.error());
    Result<std::unique_ptr<Vault>> vault = openVault(directory, keyFileOf(*settings, directory));
    if (!vault)
        return fail(vault.error());
    Result<std::optional<AgentIdentity>> identity = vault.value()->loadIdentity();
    if (!identity || !identity.value())
        return fail(identity ? makeError(Reason::NotFound, u"the vault has no identity"_s)
                             : identity.error());
    Result<std::optional<SignedStatement>> certificate = vault.value()->loadCertificate();
    if (!certificate)
        return fail(certificate.error());
    Result<QList<HeldCredential>> credentials = vault.value()->credentials();
    if (!credentials)
        return fail(credentials.error());

    const auto timeOrNever = [](const QDateTime &time) {
        return time.isValid() ? formatTimestamp(time) : u"never"_s;
    };
    printLine(stdout, u"agent_id: "_s + identity.value()->agentId);
    printLine(stdout, u"name: "_s + state->agentName);
    printLine(stdout, u"org_id: "_s + identity.value()->orgId);
    printLine(stdout, u"backend: "_s + state->backendUrl);
    QString generation = u"none"_s;
    QString expiry = u"none"_s;
    if (certificate.value()) {
        Result<QJsonObject> fields =
            parseStatement(StatementContext::AgentCertificate, certificate.value()->bytes);
        Result<AgentCertificate> parsed =
            fields ? AgentCertificate::fromFields(fields.value()) : Result<AgentCertificate>(
                                                                        fields.error());
        if (parsed) {
            generation = QString::number(parsed->generation);
            expiry = formatTimestamp(parsed->expiresAt);
        }
    }
    printLine(stdout, u"certificate_generation: "_s + generation);
    printLine(stdout, u"certificate_expires_at: "_s + expiry);
    qsizetype stored = 0;
    for (const HeldCredential &credential : credentials.value())
        stored += credential.state == HeldState::Stored ? 1 : 0;
    printLine(stdout, u"credentials_held: "_s + QString::number(stored));
    printLine(stdout, u"last_connected_at: "_s + timeOrNever(state->lastConnectedAt));
    printLine(stdout, u"last_registration: "_s
                  + (state->lastRegistrationMode.isEmpty() ? u"none"_s
                                                           : state->lastRegistrationMode)
                  + u" at "_s + timeOrNever(state->lastRegisteredAt));
    if (state->rekeyFromGeneration)
        printLine(stdout, u"rekey: waiting for certificate generation %1"_s.arg(
                              *state->rekeyFromGeneration + 1));
    return 0;
}

int runAudit(const QStringList &arguments)
{
    QCommandLineParser parser;
    auto settings = parseCommand(parser, arguments,
                                 u"Prints the local audit log and verifies its hash chain; exits "
                                 "1 when the chain is broken."_s);
    if (!settings)
        return kExitUsage;
    const DataDirectory directory{settings->dataDir};
    Result<std::unique_ptr<Vault>> vault = openVault(directory, keyFileOf(*settings, directory));
    if (!vault)
        return fail(vault.error());
    Result<QList<LocalAuditRecord>> records = vault.value()->audit().records();
    if (!records)
        return fail(records.error());
    for (const LocalAuditRecord &record : records.value()) {
        const LocalAuditEntry &entry = record.entry;
        QString line = u"%1 %2 %3 %4"_s.arg(QString::number(record.id), formatTimestamp(record.at),
                                           auditSeverityName(entry.severity), entry.event);
        if (!entry.credentialId.isEmpty())
            line += u" credential=%1"_s.arg(entry.credentialId);
        if (entry.version)
            line += u" version=%1"_s.arg(*entry.version);
        if (entry.revision)
            line += u" revision=%1"_s.arg(*entry.revision);
        if (!entry.reason.isEmpty())
            line += u" reason=%1"_s.arg(entry.reason);
        if (!entry.detail.isEmpty())
            line += u" detail=\"%1\""_s.arg(entry.detail);
        printLine(stdout, line);
    }
    Result<LocalAuditVerification> verification = vault.value()->audit().verify();
    if (!verification)
        return fail(verification.error());
    if (!verification->intact) {
        printLine(stdout, u"chain: BROKEN at row %1: %2"_s.arg(
                              QString::number(verification->firstBrokenId.value_or(0)),
                              verification->problem));
        return kExitFailure;
    }
    printLine(stdout, u"chain: intact (%1 rows)"_s.arg(verification->rowsChecked));
    return 0;
}

int runRekey(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption({u"enrolment-token"_s, u"Single-use enrolment token from an operator."_s,
                      u"TOKEN"_s});
    auto settings = parseCommand(parser, arguments,
                                 u"Makes new keys under the same agent id, purges the vault's "
                                 "credentials and enrols again at the next connection. Stop the "
                                 "agent first; `run` then waits for generation + 1 and "
                                 "registers as key_regenerated."_s);
    if (!settings)
        return kExitUsage;
    const DataDirectory directory{QDir(settings->dataDir).absolutePath()};
    Result<QString> fingerprint =
        rekeyAgent(directory, settings->vaultKeyFile, parser.value(u"enrolment-token"_s));
    if (!fingerprint)
        return fail(fingerprint.error());
    printLine(stdout, u"New agent fingerprint (compare it when approving this agent):"_s);
    printLine(stdout, groupedFingerprint(fingerprint.value()));
    return 0;
}

int runGet(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption({u"field"_s, u"Print only this field of the secret's JSON object."_s,
                      u"F"_s});
    parser.addPositionalArgument(u"NAME_OR_ID"_s, u"Credential name or id."_s);
    // get talks to the running agent, so the settings of the connection to
    // the backend are not its own.
    auto settings = parseCommand(parser, arguments,
                                 u"Prints a credential from the running agent's local API."_s,
                                 kGetExitCodes,
                                 { u"data-dir"_s, u"missing-wait"_s, u"log-level"_s,
                                   u"log-file"_s });
    if (!settings)
        return kGetUsage;
    if (parser.positionalArguments().size() != 1) {
        printLine(stderr, u"error: give exactly one NAME_OR_ID"_s);
        return kGetUsage;
    }
    const DataDirectory directory{QDir(settings->dataDir).absolutePath()};
    // The agent waits at most missing_wait_ms; the client waits a little longer.
    return runGetCommand(directory.socketPath(), parser.positionalArguments().constFirst(),
                         parser.value(u"field"_s), settings->missingWaitMs + 10'000);
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"sealrelay-agent"_s);
    QCoreApplication::setApplicationVersion(QStringLiteral(SEALRELAY_VERSION));

    QStringList arguments = QCoreApplication::arguments();
    if (arguments.size() < 2 || arguments[1] == u"--help"_s || arguments[1] == u"-h"_s) {
        printLine(arguments.size() < 2 ? stderr : stdout,
                  u"Usage: sealrelay-agent COMMAND [options]\n"_s + kCommandsHelp
                      + kGetExitCodes);
        return arguments.size() < 2 ? kExitUsage : 0;
    }
    if (arguments[1] == u"--version"_s) {
        printLine(stdout, u"sealrelay-agent "_s + QCoreApplication::applicationVersion());
        return 0;
    }

    const QString command = arguments.takeAt(1);
    arguments.first() = u"sealrelay-agent "_s + command;
    if (command == u"init"_s)
        return runInit(arguments);
    if (command == u"run"_s)
        return runAgent(app, arguments);
    if (command == u"fingerprint"_s)
        return runFingerprint(arguments);
    if (command == u"status"_s)
        return runStatus(arguments);
    if (command == u"audit"_s)
        return runAudit(arguments);
    if (command == u"rekey"_s)
        return runRekey(arguments);
    if (command == u"get"_s)
        return runGet(arguments);
    printLine(stderr, u"error: unknown command \"%1\".\n"_s.arg(command) + kCommandsHelp);
    return kExitUsage;
}
