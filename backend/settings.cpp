// Setting table of sealrelay-backend and the resolution of file, environment
// and command-line values over the defaults.
#include "settings.h"

#include "redisstore.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>
#include <QUrl>
#include <QUrlQuery>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

using Member64 = qint64 BackendSettings::*;
using MemberInt = int BackendSettings::*;
using MemberText = QString BackendSettings::*;

SettingSpec integer64(const QString &section, const QString &key, Member64 member,
                      qint64 minimum, const QString &unit, const QString &help)
{
    SettingSpec spec{section, key, {}, unit, help, QString::number(BackendSettings{}.*member),
                     false, {}};
    spec.apply = [member, minimum](BackendSettings &settings,
                                   const QStringList &values) -> std::optional<QString> {
        bool ok = false;
        const qint64 value = values.constLast().trimmed().toLongLong(&ok);
        if (!ok || value < minimum)
            return u"an integer of at least %1"_s.arg(minimum);
        settings.*member = value;
        return std::nullopt;
    };
    return spec;
}

SettingSpec integer(const QString &section, const QString &key, MemberInt member, int minimum,
                    const QString &unit, const QString &help)
{
    SettingSpec spec{section, key, {}, unit, help, QString::number(BackendSettings{}.*member),
                     false, {}};
    spec.apply = [member, minimum](BackendSettings &settings,
                                   const QStringList &values) -> std::optional<QString> {
        bool ok = false;
        const int value = values.constLast().trimmed().toInt(&ok);
        if (!ok || value < minimum)
            return u"an integer of at least %1"_s.arg(minimum);
        settings.*member = value;
        return std::nullopt;
    };
    return spec;
}

SettingSpec text(const QString &section, const QString &key, const QString &option,
                 MemberText member, const QString &help)
{
    SettingSpec spec{section, key, option, {}, help, BackendSettings{}.*member, false, {}};
    spec.apply = [member](BackendSettings &settings,
                          const QStringList &values) -> std::optional<QString> {
        settings.*member = values.constLast();
        return std::nullopt;
    };
    return spec;
}

// host:port, with IPv6 hosts in brackets ("[::1]:8443").
std::optional<QString> applyListen(BackendSettings &settings, const QStringList &values)
{
    const QString expected = u"HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8443"_s;
    const QString value = values.constLast().trimmed();
    const qsizetype colon = value.lastIndexOf(u':');
    if (colon <= 0)
        return expected;

    QString host = value.left(colon);
    if (host.startsWith(u'[') && host.endsWith(u']'))
        host = host.mid(1, host.size() - 2);
    bool ok = false;
    const int port = value.mid(colon + 1).toInt(&ok);
    if (!ok || port < 1 || port > 65535 || host.isEmpty())
        return expected;

    settings.listenHost = host;
    settings.listenPort = port;
    return std::nullopt;
}

std::optional<QString> applyPublicOrigins(BackendSettings &settings, const QStringList &values)
{
    QStringList origins;
    for (const QString &value : values) {
        for (const QString &part : value.split(u',', Qt::SkipEmptyParts)) {
            const QString origin = part.trimmed();
            if (!origin.startsWith(u"https://"_s) && !origin.startsWith(u"http://"_s))
                return u"an origin such as https://backend.example:8443 (scheme://host:port)"_s;
            origins.append(origin);
        }
    }
    settings.publicOrigins = origins;
    return std::nullopt;
}

std::optional<QString> applyBackoff(BackendSettings &settings, const QStringList &values)
{
    QList<qint64> schedule;
    for (const QString &part : values.constLast().split(u',', Qt::SkipEmptyParts)) {
        bool ok = false;
        const qint64 value = part.trimmed().toLongLong(&ok);
        if (!ok || value < 1)
            return u"a comma-separated list of positive millisecond delays"_s;
        schedule.append(value);
    }
    if (schedule.isEmpty())
        return u"a comma-separated list of positive millisecond delays"_s;
    settings.backoffScheduleMs = schedule;
    return std::nullopt;
}

// "memory", or a Redis URL that parseRedisUrl() accepts. The expected form
// returned on failure includes the parser's message, which leaves out the
// password.
std::optional<QString> applyCoordination(BackendSettings &settings, const QStringList &values)
{
    const QString value = values.constLast().trimmed();
    if (value != u"memory"_s) {
        auto endpoint = parseRedisUrl(value);
        if (!endpoint)
            return u"\"memory\" or a Redis URL (%1)"_s.arg(endpoint.error().message);
    }
    settings.coordination = value;
    return std::nullopt;
}

std::optional<QString> applyReplicas(BackendSettings &settings, const QStringList &values)
{
    const QString value = values.constLast().trimmed();
    if (value == u"single"_s)
        settings.replicas = ReplicaMode::Single;
    else if (value == u"several"_s)
        settings.replicas = ReplicaMode::Several;
    else
        return u"\"single\" or \"several\""_s;
    return std::nullopt;
}

bool isPostgresUrl(const QString &database)
{
    return database.startsWith(u"postgresql://"_s) || database.startsWith(u"postgres://"_s);
}

// The value of `spec` as error messages show it.
QString shownValue(const SettingSpec &spec, const QString &value)
{
    if (spec.section == u"coordination"_s && spec.key == u"url"_s)
        return redactedCoordinationUrl(value);
    return value;
}

QList<SettingSpec> buildSpecs()
{
    const QString ms = u"milliseconds"_s;
    QList<SettingSpec> specs;

    specs << text(u"server"_s, u"data_dir"_s, u"data-dir"_s, &BackendSettings::dataDir,
                  u"Folder of the SQLite database and other state."_s);
    {
        SettingSpec listen{u"server"_s, u"listen"_s, u"listen"_s, {},
                           u"Address and port of the HTTP and WebSocket listener. A listener "
                           "without TLS is allowed only on loopback."_s,
                           u"127.0.0.1:8443"_s, false, applyListen};
        specs << listen;
    }
    {
        SettingSpec origins{u"server"_s, u"public_origin"_s, u"public-origin"_s, {},
                            u"Origin (scheme://host:port) agents dial, checked in their "
                            "authentication statements; repeat for several."_s,
                            u"derived from listen"_s, true, applyPublicOrigins};
        specs << origins;
    }
    specs << text(u"storage"_s, u"database"_s, u"database"_s, &BackendSettings::database,
                  u"PostgreSQL URL of the service role, or sqlite:PATH; empty for SQLite in the "
                    "data folder."_s);
    specs << text(u"storage"_s, u"migration_database"_s, u"migration-database"_s,
                  &BackendSettings::migrationDatabase,
                  u"PostgreSQL URL of the role that owns the tables and runs migrations."_s);
    specs << integer(u"storage"_s, u"sqlite_busy_timeout_ms"_s,
                     &BackendSettings::sqliteBusyTimeoutMs, 0, ms,
                     u"How long a SQLite write waits for another connection's lock."_s);
    {
        SettingSpec coordination{u"coordination"_s, u"url"_s, u"coordination"_s, {},
                                 u"Coordination store: memory, or Redis as "
                                 "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], "
                                 "unix:///PATH[?db=N&password=P] or an absolute socket path."_s,
                                 u"memory"_s, false, applyCoordination};
        specs << coordination;
    }
    {
        SettingSpec replicas{u"coordination"_s, u"replicas"_s, u"replicas"_s, {},
                             u"single, or several replicas sharing PostgreSQL storage and "
                             "a Redis url."_s,
                             u"single"_s, false, applyReplicas};
        specs << replicas;
    }
    specs << integer64(u"coordination"_s, u"lock_ttl_ms"_s, &BackendSettings::lockTtlMs, 1, ms,
                       u"TTL of a dispatch lock."_s);
    specs << integer64(u"coordination"_s, u"lock_renew_ms"_s, &BackendSettings::lockRenewMs, 1,
                       ms, u"Renewal interval of a held lock."_s);
    specs << integer64(u"coordination"_s, u"reconciler_lock_ttl_ms"_s,
                       &BackendSettings::reconcilerLockTtlMs, 1, ms,
                       u"TTL of the reconciler's sweep lock."_s);
    specs << integer64(u"coordination"_s, u"degraded_after_ms"_s,
                       &BackendSettings::degradedAfterMs, 1, ms,
                       u"Continuous Redis failure after which one replica moves to the "
                         "in-memory store and raises redis_coordination_degraded."_s);
    specs << integer64(u"coordination"_s, u"switch_hold_ms"_s, &BackendSettings::switchHoldMs,
                       0, ms,
                       u"Time after a move between Redis and memory during which no lock is "
                         "granted; at least the longest lock TTL."_s);
    specs << text(u"tls"_s, u"certificate"_s, u"tls-certificate"_s,
                  &BackendSettings::tlsCertificate,
                  u"PEM certificate chain; enables https and wss on the listener."_s);
    specs << text(u"tls"_s, u"key"_s, u"tls-key"_s, &BackendSettings::tlsKey,
                  u"PEM private key of the TLS certificate."_s);
    specs << text(u"log"_s, u"level"_s, u"log-level"_s, &BackendSettings::logLevel,
                  u"trace, debug, info, warn, error, critical or off; empty for "
                  "SEALRELAY_LOG_LEVEL or info."_s);
    specs << text(u"log"_s, u"file"_s, u"log-file"_s, &BackendSettings::logFile,
                  u"Rotating log file in addition to standard error."_s);
    specs << integer64(u"api"_s, u"max_body_bytes"_s, &BackendSettings::maxBodyBytes, 1,
                       u"bytes"_s, u"Largest REST request body; larger ones get 413."_s);
    specs << integer64(u"api"_s, u"retry_window_ms"_s, &BackendSettings::retryWindowMs, 0, ms,
                       u"A second retry of one credential within this window gets 429."_s);
    specs << integer(u"api"_s, u"max_audit_page_rows"_s, &BackendSettings::maxAuditPageRows, 1,
                     u"rows"_s, u"Largest `limit` of GET /api/audit."_s);
    specs << integer64(u"agent"_s, u"ping_interval_ms"_s, &BackendSettings::pingIntervalMs, 1,
                       ms, u"WebSocket ping interval on agent connections."_s);
    specs << integer64(u"agent"_s, u"silence_timeout_ms"_s, &BackendSettings::silenceTimeoutMs,
                       1, ms, u"Silence after which an agent connection is closed."_s);
    specs << integer64(u"agent"_s, u"auth_skew_ms"_s, &BackendSettings::authSkewMs, 0, ms,
                       u"Allowed clock difference of an authentication statement."_s);
    specs << integer64(u"agent"_s, u"max_message_bytes"_s, &BackendSettings::maxMessageBytes, 1,
                       u"bytes"_s, u"Largest WebSocket message after reassembly."_s);
    specs << integer(u"agent"_s, u"max_warm_reconnect_entries"_s,
                     &BackendSettings::maxWarmReconnectEntries, 0, u"entries"_s,
                     u"Largest list of held credentials in a warm reconnect."_s);
    specs << integer64(u"enrolment"_s, u"max_token_ttl_ms"_s,
                       &BackendSettings::maxEnrolmentTokenTtlMs, 1, ms,
                       u"Longest lifetime of an enrolment token (at most 24 h)."_s);
    specs << integer64(u"certificate"_s, u"max_lifetime_ms"_s,
                       &BackendSettings::maxCertificateLifetimeMs, 1, ms,
                       u"Longest validity of an agent certificate."_s);
    specs << integer64(u"certificate"_s, u"warn_before_ms"_s,
                       &BackendSettings::certificateWarnBeforeMs, 0, ms,
                       u"How long before expiry a certificate is reported as expiring."_s);
    specs << integer64(u"reconciler"_s, u"interval_ms"_s, &BackendSettings::reconcilerIntervalMs,
                       1, ms, u"Interval between reconciler sweeps."_s);
    specs << integer(u"reconciler"_s, u"batch_rows"_s, &BackendSettings::reconcilerBatchRows, 1,
                     u"rows"_s, u"Most due rows one sweep handles."_s);
    {
        SettingSpec backoff{u"reconciler"_s, u"backoff_schedule_ms"_s, {}, ms,
                            u"Delay after each failed attempt; the last entry repeats."_s,
                            u"30000,120000,480000,1800000,7200000"_s, false, applyBackoff};
        specs << backoff;
    }
    specs << integer(u"reconciler"_s, u"max_attempts"_s, &BackendSettings::maxDeliveryAttempts,
                     1, u"attempts"_s, u"Failed attempts after which a row is stalled."_s);
    specs << integer(u"dispatch"_s, u"max_peers"_s, &BackendSettings::dispatchMaxPeers, 1,
                     u"peers"_s, u"Peers tried by one dispatch."_s);
    specs << integer64(u"dispatch"_s, u"peer_timeout_ms"_s,
                       &BackendSettings::dispatchPeerTimeoutMs, 1, ms,
                       u"How long one peer has to answer a rewrap request."_s);
    specs << integer(u"jit"_s, u"per_minute"_s, &BackendSettings::jitPerMinute, 1,
                     u"requests"_s, u"credential_missing requests one agent may send a minute."_s);
    specs << integer(u"jit"_s, u"flood_threshold"_s, &BackendSettings::jitFloodThreshold, 1,
                     u"requests"_s, u"Requests in the flood window that raise agent_credential_flood."_s);
    specs << integer64(u"jit"_s, u"flood_window_ms"_s, &BackendSettings::jitFloodWindowMs, 1, ms,
                       u"Window of the credential_missing flood count."_s);
    specs << integer64(u"jit"_s, u"agent_wait_ms"_s, &BackendSettings::jitAgentWaitMs, 1, ms,
                       u"How long an agent waits for a JIT repair."_s);
    specs << integer(u"backfill"_s, u"concurrency"_s, &BackendSettings::backfillConcurrency, 1,
                     u"dispatches"_s, u"Dispatches of one backfill that run at once."_s);
    specs << integer(u"backfill"_s, u"reconnect_limit_per_minute"_s,
                     &BackendSettings::reconnectLimitPerMinute, 1, u"reconnects"_s,
                     u"Reconnects a minute after which an agent is made to wait."_s);
    specs << integer64(u"backfill"_s, u"reconnect_max_wait_ms"_s,
                       &BackendSettings::reconnectMaxWaitMs, 1, ms,
                       u"Longest wait imposed on a reconnecting agent."_s);
    specs << integer(u"integrity"_s, u"flood_threshold"_s,
                     &BackendSettings::commitmentFloodThreshold, 1, u"reports"_s,
                     u"Mismatch reports in the window that quarantine the reporter."_s);
    specs << integer64(u"integrity"_s, u"flood_window_ms"_s,
                       &BackendSettings::commitmentFloodWindowMs, 1, ms,
                       u"Window of the mismatch report count."_s);
    specs << integer64(u"integrity"_s, u"blocklist_ttl_ms"_s, &BackendSettings::blocklistTtlMs,
                       1, ms, u"How long a source peer stays blocklisted for a credential."_s);
    specs << integer64(u"alerts"_s, u"stalled_dedupe_ms"_s, &BackendSettings::stalledDedupeMs, 0,
                       ms, u"Deduplication window of credential_sync_stalled."_s);
    return specs;
}

QString flatValue(const QVariant &value)
{
    if (value.typeId() == QMetaType::QStringList)
        return value.toStringList().join(u',');
    return value.toString();
}

Error badValue(const QString &source, const QString &value, const QString &expected)
{
    return makeError(Reason::Malformed,
                     u"Invalid value \"%1\" for %2: expected %3."_s.arg(value, source, expected));
}

} // namespace

QString redactedCoordinationUrl(const QString &url)
{
    const QString trimmed = url.trimmed();
    if (trimmed == u"memory"_s || trimmed.startsWith(u'/'))
        return trimmed;

    QUrl parsed(trimmed, QUrl::StrictMode);
    if (!parsed.isValid()) {
        const qsizetype colon = trimmed.indexOf(u':');
        return colon < 0 ? u"(unparsable URL)"_s : trimmed.left(colon) + u":(unparsable URL)"_s;
    }
    if (!parsed.password().isEmpty())
        parsed.setPassword(u"redacted"_s);
    QUrlQuery query(parsed);
    if (query.hasQueryItem(u"password"_s)) {
        query.removeAllQueryItems(u"password"_s);
        query.addQueryItem(u"password"_s, u"redacted"_s);
        parsed.setQuery(query);
    }
    return parsed.toString();
}

QString BackendSettings::sqlitePath() const
{
    return QDir(dataDir).filePath(u"backend.db"_s);
}

QString SettingSpec::environmentName() const
{
    return u"SEALRELAY_%1_%2"_s.arg(section.toUpper(), key.toUpper());
}

const QList<SettingSpec> &settingSpecs()
{
    static const QList<SettingSpec> specs = buildSpecs();
    return specs;
}

bool settingInScope(const SettingSpec &spec, SettingScope scope)
{
    if (scope == SettingScope::Service)
        return true;
    return spec.key == u"data_dir"_s || spec.section == u"storage"_s || spec.section == u"log"_s;
}

void addSettingOptions(QCommandLineParser &parser, SettingScope scope)
{
    for (const SettingSpec &spec : settingSpecs()) {
        if (spec.option.isEmpty() || !settingInScope(spec, scope))
            continue;
        const QString unit = spec.unit.isEmpty() ? QString() : u" Unit: %1."_s.arg(spec.unit);
        const QString fallback =
            spec.defaultText.isEmpty() ? QString() : u" Default: %1."_s.arg(spec.defaultText);
        parser.addOption(QCommandLineOption(spec.option, spec.help + unit + fallback,
                                            spec.key.toUpper()));
    }
    parser.addOption(QCommandLineOption(
        u"config"_s, u"INI file with [section] key=value settings (listed below)."_s, u"FILE"_s));
    parser.addOption(QCommandLineOption(
        u"set"_s, u"Sets any setting below as SECTION.KEY=VALUE; may be repeated."_s,
        u"SECTION.KEY=VALUE"_s));
}

QString settingsHelp()
{
    QString help = u"\nSettings (INI [section] key, environment variable, unit, default):\n"_s;
    for (const SettingSpec &spec : settingSpecs()) {
        help += u"  [%1] %2  (%3)\n      %4"_s.arg(spec.section, spec.key, spec.environmentName(),
                                                  spec.help);
        if (!spec.unit.isEmpty())
            help += u" Unit: %1."_s.arg(spec.unit);
        help += u" Default: %1.\n"_s.arg(spec.defaultText.isEmpty() ? u"empty"_s
                                                                     : spec.defaultText);
    }
    help += u"Precedence: command line, then environment, then the --config file, then "
            "the default.\n"_s;
    return help;
}

Result<BackendSettings> resolveSettings(const QCommandLineParser &parser,
                                        const QHash<QString, QString> &environment,
                                        SettingScope scope)
{
    BackendSettings settings;
    const QList<SettingSpec> &specs = settingSpecs();

    QString configFile = parser.value(u"config"_s);
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
        for (const SettingSpec &spec : specs) {
            const QString name = spec.section + u'/' + spec.key;
            if (!file.contains(name))
                continue;
            const QString value = flatValue(file.value(name));
            if (auto expected = spec.apply(settings, {value}))
                return badValue(u"[%1] %2 in %3"_s.arg(spec.section, spec.key, configFile),
                                shownValue(spec, value), *expected);
        }
    }

    for (const SettingSpec &spec : specs) {
        const auto found = environment.constFind(spec.environmentName());
        if (found == environment.constEnd())
            continue;
        if (auto expected = spec.apply(settings, {found.value()}))
            return badValue(spec.environmentName(), shownValue(spec, found.value()), *expected);
    }

    for (const QString &assignment : parser.values(u"set"_s)) {
        const qsizetype dot = assignment.indexOf(u'.');
        const qsizetype equals = assignment.indexOf(u'=');
        if (dot <= 0 || equals <= dot)
            return badValue(u"--set"_s, assignment, u"SECTION.KEY=VALUE"_s);
        const QString section = assignment.left(dot);
        const QString key = assignment.mid(dot + 1, equals - dot - 1);
        const QString value = assignment.mid(equals + 1);
        const auto spec = std::find_if(specs.cbegin(), specs.cend(), [&](const SettingSpec &s) {
            return s.section == section && s.key == key;
        });
        if (spec == specs.cend())
            return badValue(u"--set"_s, section + u'.' + key,
                            u"a known SECTION.KEY (see --help for the list)"_s);
        if (auto expected = spec->apply(settings, {value}))
            return badValue(u"--set %1.%2"_s.arg(section, key), shownValue(*spec, value),
                            *expected);
    }

    for (const SettingSpec &spec : specs) {
        if (spec.option.isEmpty() || !settingInScope(spec, scope) || !parser.isSet(spec.option))
            continue;
        const QStringList values = parser.values(spec.option);
        if (auto expected = spec.apply(settings, spec.repeatable ? values : QStringList{values.constLast()}))
            return badValue(u"--"_s + spec.option, shownValue(spec, values.constLast()),
                            *expected);
    }

    if (settings.tlsCertificate.isEmpty() != settings.tlsKey.isEmpty())
        return makeError(Reason::Malformed,
                         u"--tls-certificate and --tls-key must be given together."_s);
    if (settings.maxEnrolmentTokenTtlMs > 24LL * 60 * 60 * 1000)
        return badValue(u"[enrolment] max_token_ttl_ms"_s,
                        QString::number(settings.maxEnrolmentTokenTtlMs),
                        u"at most 86400000 (24 h)"_s);

    if (settings.replicas == ReplicaMode::Several
        && (!isPostgresUrl(settings.database) || !settings.redisCoordination()))
        return makeError(Reason::Malformed,
                         u"[coordination] replicas = several needs PostgreSQL storage "
                         "([storage] database = postgresql://...) and Redis coordination "
                         "([coordination] url = redis://...); set both, or set replicas = "
                         "single."_s);
    const qint64 longestLockTtl = std::max(settings.lockTtlMs, settings.reconcilerLockTtlMs);
    if (settings.redisCoordination() && settings.switchHoldMs < longestLockTtl)
        return badValue(u"[coordination] switch_hold_ms"_s,
                        QString::number(settings.switchHoldMs),
                        u"at least the longest lock TTL (%1 ms, from lock_ttl_ms and "
                        "reconciler_lock_ttl_ms), so that no lock is granted twice after a "
                        "switch between Redis and memory"_s.arg(longestLockTtl));
    return settings;
}

} // namespace sealrelay::backend
