// Setting table of sealrelay-agent and the resolution of file, environment
// and command-line values over the defaults.
#include "agentsettings.h"

#include <QFileInfo>
#include <QSettings>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

using MemberText = QString AgentSettings::*;
using Member64 = qint64 AgentSettings::*;

AgentSettingSpec textSetting(const QString &section, const QString &key, const QString &option,
                             MemberText member, const QString &help, const QString &defaultText)
{
    AgentSettingSpec spec{section, key, option, {}, help, defaultText, {}};
    spec.apply = [member](AgentSettings &settings, const QString &value) -> std::optional<QString> {
        settings.*member = value;
        return std::nullopt;
    };
    return spec;
}

AgentSettingSpec durationSetting(const QString &section, const QString &key,
                                 const QString &option, Member64 member, qint64 minimum,
                                 const QString &help)
{
    AgentSettingSpec spec{section, key, option, u"milliseconds"_s, help,
                          QString::number(AgentSettings{}.*member), {}};
    spec.apply = [member, minimum](AgentSettings &settings,
                                   const QString &value) -> std::optional<QString> {
        bool ok = false;
        const qint64 parsed = value.trimmed().toLongLong(&ok);
        if (!ok || parsed < minimum)
            return u"an integer of at least %1"_s.arg(minimum);
        settings.*member = parsed;
        return std::nullopt;
    };
    return spec;
}

QList<AgentSettingSpec> buildSpecs()
{
    const QString agent = u"agent"_s;
    const QString connection = u"connection"_s;
    return {
        textSetting(agent, u"data_dir"_s, u"data-dir"_s, &AgentSettings::dataDir,
                    u"Directory of the vault, the trusted-operators file and agent.sock."_s,
                    QString()),
        textSetting(agent, u"backend"_s, u"backend"_s, &AgentSettings::backendUrl,
                    u"Backend URL (https://host:port; http:// only to a loopback host)."_s,
                    u"the URL given to init"_s),
        textSetting(agent, u"name"_s, u"name"_s, &AgentSettings::name,
                    u"Agent name sent at enrolment."_s, u"the host name"_s),
        textSetting(agent, u"vault_key_file"_s, u"vault-key-file"_s, &AgentSettings::vaultKeyFile,
                    u"Vault master key file (64 hex digits, mode 0600), read after a systemd "
                    "credential sealrelay-vault-key and before the OS keychain."_s,
                    u"<data dir>/vault.key"_s),
        textSetting(agent, u"socket_group"_s, u"socket-group"_s, &AgentSettings::socketGroup,
                    u"Group that may use agent.sock (mode 0660)."_s,
                    u"the agent's primary group"_s),
        textSetting(connection, u"ca_file"_s, u"backend-ca-file"_s, &AgentSettings::backendCaFile,
                    u"PEM file of CA certificates that run trusts for the backend's TLS "
                    "certificate, in addition to the system CA certificates. Give it when the "
                    "backend's certificate is issued by a private CA."_s,
                    u"none, only the system CA certificates"_s),
        durationSetting(connection, u"reconnect_min_ms"_s, u"reconnect-min"_s,
                        &AgentSettings::reconnectMinMs, 1,
                        u"Lower bound of the reconnect backoff."_s),
        durationSetting(connection, u"reconnect_max_ms"_s, u"reconnect-max"_s,
                        &AgentSettings::reconnectMaxMs, 1,
                        u"Upper bound of the reconnect backoff (full jitter)."_s),
        durationSetting(connection, u"ping_interval_ms"_s, u"ping-interval"_s,
                        &AgentSettings::pingIntervalMs, 1,
                        u"Interval of WebSocket pings to the backend."_s),
        durationSetting(connection, u"silence_timeout_ms"_s, u"silence-timeout"_s,
                        &AgentSettings::silenceTimeoutMs, 1,
                        u"Reconnect when no frame or pong arrived for this long."_s),
        durationSetting(u"api"_s, u"missing_wait_ms"_s, u"missing-wait"_s,
                        &AgentSettings::missingWaitMs, 1,
                        u"How long a get waits for a missing credential."_s),
        textSetting(u"log"_s, u"level"_s, u"log-level"_s, &AgentSettings::logLevel,
                    u"Log level: trace, debug, info, warn, error or critical."_s, u"info"_s),
        textSetting(u"log"_s, u"file"_s, u"log-file"_s, &AgentSettings::logFile,
                    u"Log file; empty logs to standard error."_s, QString()),
    };
}

Error badValue(const QString &source, const QString &value, const QString &expected)
{
    return makeError(Reason::Malformed,
                     u"Invalid value \"%1\" for %2: expected %3."_s.arg(value, source, expected));
}

} // namespace

QString AgentSettingSpec::environmentName() const
{
    return u"SEALRELAY_%1_%2"_s.arg(section.toUpper(), key.toUpper());
}

const QList<AgentSettingSpec> &agentSettingSpecs()
{
    static const QList<AgentSettingSpec> specs = buildSpecs();
    return specs;
}

void addAgentSettingOptions(QCommandLineParser &parser, const QStringList &options)
{
    for (const AgentSettingSpec &spec : agentSettingSpecs()) {
        if (!options.isEmpty() && !options.contains(spec.option))
            continue;
        const QString unit = spec.unit.isEmpty() ? QString() : u" Unit: %1."_s.arg(spec.unit);
        const QString fallback =
            spec.defaultText.isEmpty() ? QString() : u" Default: %1."_s.arg(spec.defaultText);
        parser.addOption(QCommandLineOption(spec.option, spec.help + unit + fallback,
                                            spec.key.toUpper()));
    }
    parser.addOption(QCommandLineOption(
        u"config"_s, u"INI file with [section] key=value settings (listed below)."_s, u"FILE"_s));
}

QString agentSettingsHelp(const QStringList &options)
{
    QString help = u"\nSettings (INI [section] key, environment variable):\n"_s;
    for (const AgentSettingSpec &spec : agentSettingSpecs()) {
        if (options.isEmpty() || options.contains(spec.option))
            help += u"  [%1] %2  (%3)\n"_s.arg(spec.section, spec.key, spec.environmentName());
    }
    help += u"Precedence: command line, then environment, then the --config file, then "
            "the default.\n"_s;
    return help;
}

Result<AgentSettings> resolveAgentSettings(const QCommandLineParser &parser,
                                           const QHash<QString, QString> &environment,
                                           const QStringList &options)
{
    AgentSettings settings;
    const QList<AgentSettingSpec> &specs = agentSettingSpecs();

    QString configFile = parser.isSet(u"config"_s) ? parser.value(u"config"_s) : QString();
    if (configFile.isEmpty())
        configFile = environment.value(u"SEALRELAY_CONFIG"_s);
    if (!configFile.isEmpty()) {
        if (!QFileInfo(configFile).isReadable())
            return makeError(Reason::IoError,
                             u"Cannot read the config file %1: check the path given to --config."_s
                                 .arg(configFile));
        QSettings file(configFile, QSettings::IniFormat);
        if (file.status() != QSettings::NoError)
            return makeError(Reason::Malformed,
                             u"The config file %1 is not a valid INI file."_s.arg(configFile));
        for (const AgentSettingSpec &spec : specs) {
            const QString name = spec.section + u'/' + spec.key;
            if (!file.contains(name))
                continue;
            const QString value = file.value(name).toString();
            if (auto expected = spec.apply(settings, value))
                return badValue(u"[%1] %2 in %3"_s.arg(spec.section, spec.key, configFile), value,
                                *expected);
        }
    }

    for (const AgentSettingSpec &spec : specs) {
        const auto found = environment.constFind(spec.environmentName());
        if (found == environment.constEnd())
            continue;
        if (auto expected = spec.apply(settings, found.value()))
            return badValue(spec.environmentName(), found.value(), *expected);
    }

    for (const AgentSettingSpec &spec : specs) {
        if ((!options.isEmpty() && !options.contains(spec.option)) || !parser.isSet(spec.option))
            continue;
        const QString value = parser.value(spec.option);
        if (auto expected = spec.apply(settings, value))
            return badValue(u"--"_s + spec.option, value, *expected);
    }

    if (settings.reconnectMinMs > settings.reconnectMaxMs)
        return badValue(u"[connection] reconnect_min_ms"_s,
                        QString::number(settings.reconnectMinMs),
                        u"at most reconnect_max_ms (%1)"_s.arg(settings.reconnectMaxMs));
    return settings;
}

} // namespace sealrelay::agent
