// Settings of sealrelay-agent: each option with its unit and default, read
// from an INI file, SEALRELAY_<SECTION>_<KEY> environment variables and the
// command line, in that order of increasing precedence.
#pragma once

#include "error.h"

#include <QCommandLineParser>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace sealrelay::agent {

struct AgentSettings {
    // [agent]
    QString dataDir;
    QString backendUrl; // empty: the URL stored by `init`
    QString name; // empty: the host name
    QString vaultKeyFile; // empty: <data dir>/vault.key
    QString socketGroup; // empty: the agent's own group
    // [connection]
    QString backendCaFile; // empty: only the system CA certificates
    qint64 reconnectMinMs = 1000;
    qint64 reconnectMaxMs = 60'000;
    qint64 pingIntervalMs = 15'000;
    qint64 silenceTimeoutMs = 45'000;
    // [api]
    qint64 missingWaitMs = 15'000;
    // [log]
    QString logLevel;
    QString logFile;
};

// One setting: where it is read from and how its text is applied.
struct AgentSettingSpec {
    QString section;
    QString key;
    QString option; // command-line option name
    QString unit; // empty for text
    QString help;
    QString defaultText;
    // Applies the text; on failure returns the expected form of the value.
    std::function<std::optional<QString>(AgentSettings &, const QString &value)> apply;

    QString environmentName() const; // SEALRELAY_<SECTION>_<KEY>
};

const QList<AgentSettingSpec> &agentSettingSpecs();

// Adds the option of every setting and --config to `parser`, or with
// `options` (option names such as "data-dir") only those settings. Each
// option's help names its unit and default.
void addAgentSettingOptions(QCommandLineParser &parser, const QStringList &options = {});

// Lists the INI key and environment variable of each setting, or of those
// in `options`, for --help.
QString agentSettingsHelp(const QStringList &options = {});

// Applies the --config file (or $SEALRELAY_CONFIG), then the environment,
// then the command line over the defaults. `options` is the list given to
// addAgentSettingOptions(). A bad value is Reason::Malformed naming its
// source, the value and the expected form.
Result<AgentSettings> resolveAgentSettings(const QCommandLineParser &parser,
                                           const QHash<QString, QString> &environment,
                                           const QStringList &options = {});

} // namespace sealrelay::agent
