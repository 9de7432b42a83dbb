// Settings of sealrelay-backend: every option with its default, read from an
// INI file, SEALRELAY_<SECTION>_<KEY> environment variables and the command
// line, in that order of increasing precedence.
#pragma once

#include "error.h"

#include <QCommandLineParser>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>

namespace sealrelay::backend {

// How many backend replicas share the storage and the coordination store.
enum class ReplicaMode { Single, Several };

struct BackendSettings {
    // [server]
    QString dataDir;
    QString listenHost = QStringLiteral("127.0.0.1");
    int listenPort = 8443;
    QStringList publicOrigins;          // origins agents dial; empty: derived from listen
    // [storage]
    QString database;                   // postgresql://...; empty: SQLite <data-dir>/backend.db
    QString migrationDatabase;          // owner connection for migrations (PostgreSQL)
    int sqliteBusyTimeoutMs = 5000;
    // [coordination]
    QString coordination = QStringLiteral("memory"); // "memory" or a Redis URL
    ReplicaMode replicas = ReplicaMode::Single;
    qint64 lockTtlMs = 60'000;
    qint64 lockRenewMs = 20'000;
    qint64 reconcilerLockTtlMs = 55'000;
    qint64 degradedAfterMs = 300'000;
    qint64 switchHoldMs = 60'000;
    // [tls]
    QString tlsCertificate;
    QString tlsKey;
    // [log]
    QString logLevel;
    QString logFile;
    // [api]
    qint64 maxBodyBytes = 1024 * 1024;
    qint64 retryWindowMs = 10'000;
    int maxAuditPageRows = 500;
    // [agent]
    qint64 pingIntervalMs = 15'000;
    qint64 silenceTimeoutMs = 45'000;
    qint64 authSkewMs = 120'000;
    qint64 maxMessageBytes = 1024 * 1024;
    int maxWarmReconnectEntries = 10'000;
    // [enrolment]
    qint64 maxEnrolmentTokenTtlMs = 24LL * 60 * 60 * 1000;
    // [certificate]
    qint64 maxCertificateLifetimeMs = 365LL * 24 * 60 * 60 * 1000;
    qint64 certificateWarnBeforeMs = 30LL * 24 * 60 * 60 * 1000;
    // [reconciler]
    qint64 reconcilerIntervalMs = 60'000;
    int reconcilerBatchRows = 100;
    QList<qint64> backoffScheduleMs = {30'000, 120'000, 480'000, 1'800'000, 7'200'000};
    int maxDeliveryAttempts = 10;
    // [dispatch]
    int dispatchMaxPeers = 3;
    qint64 dispatchPeerTimeoutMs = 30'000;
    // [jit]
    int jitPerMinute = 30;
    int jitFloodThreshold = 100;
    qint64 jitFloodWindowMs = 300'000;
    qint64 jitAgentWaitMs = 15'000;
    // [backfill]
    int backfillConcurrency = 5;
    int reconnectLimitPerMinute = 5;
    qint64 reconnectMaxWaitMs = 300'000;
    // [integrity]
    int commitmentFloodThreshold = 10;
    qint64 commitmentFloodWindowMs = 300'000;
    qint64 blocklistTtlMs = 24LL * 60 * 60 * 1000;
    // [alerts]
    qint64 stalledDedupeMs = 24LL * 60 * 60 * 1000;

    bool tlsEnabled() const { return !tlsCertificate.isEmpty(); }
    bool redisCoordination() const { return coordination != QStringLiteral("memory"); }
    // The SQLite file used when no database URL is set.
    QString sqlitePath() const;
};

// Returns a coordination URL fit for logs and error messages: a password in
// the user information or in a `password` query item becomes "redacted", and
// a URL that cannot be parsed is cut to its scheme.
QString redactedCoordinationUrl(const QString &url);

// One setting: where it is read from and how its text is applied.
struct SettingSpec {
    QString section;        // INI section, e.g. "agent"
    QString key;            // INI key, e.g. "ping_interval_ms"
    QString option;         // command-line option name, or empty for none
    QString unit;           // e.g. "milliseconds"; empty for text
    QString help;
    QString defaultText;
    bool repeatable = false;   // the command line may repeat it (values accumulate)
    // Applies the text; on failure returns the expected form of the value.
    std::function<std::optional<QString>(BackendSettings &, const QStringList &values)> apply;

    QString environmentName() const;   // SEALRELAY_<SECTION>_<KEY>
};

// Every setting of the backend, in the order --help lists them.
const QList<SettingSpec> &settingSpecs();

// Which settings a subcommand takes: all of them (`run`), or only those of
// the database and logging (`init`, `migrate`, `token create`).
enum class SettingScope { Service, Storage };

// True when a subcommand of `scope` takes `spec` as a command-line option.
bool settingInScope(const SettingSpec &spec, SettingScope scope);

// Adds the options of `scope` (and --config, --set) to `parser`.
void addSettingOptions(QCommandLineParser &parser, SettingScope scope = SettingScope::Service);

// The settings' part of --help: each INI key, its environment variable, unit
// and default.
QString settingsHelp();

// Applies file, then environment, then command line over the defaults.
// `environment` maps variable names to values (the process environment in
// main). A bad value is Reason::Malformed naming the option, the value and
// the expected form.
Result<BackendSettings> resolveSettings(const QCommandLineParser &parser,
                                        const QHash<QString, QString> &environment,
                                        SettingScope scope = SettingScope::Service);

} // namespace sealrelay::backend
