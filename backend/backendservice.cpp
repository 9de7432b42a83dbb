// BackendService start-up, listening (TLS or loopback-only plain), WebSocket
// hand-over, shutdown, and the self-pipe that turns SIGTERM/SIGINT into a Qt
// signal.
#include "backendservice.h"

#include "digest.h"
#include "fallbackstore.h"
#include "httpapi.h"
#include "ids.h"
#include "logging.h"
#include "memorystore.h"
#include "metrics.h"
#include "postgresstore.h"
#include "redisstore.h"
#include "replicalink.h"
#include "rowjson.h"
#include "syncengine.h"

#include "agentgateway.h"
#include "eventfeed.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSocketNotifier>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QWebSocket>

#include <prometheus/counter.h>

#include <csignal>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kAgentPath = u"/agent"_s;
const QString kEventsPath = u"/api/events"_s;

// Time the service gives written responses to drain before it exits.
constexpr int kDrainMs = 200;

const QString kCoordinationAlert = u"redis_coordination_degraded"_s;
const QString kCoordinationSubject = u"system:coordination"_s;
// Interval of the replica_status rewrite, and the ages after which a replica
// counts as stale and is no longer listed.
constexpr int kReplicaStatusIntervalMs = 10'000;
constexpr qint64 kReplicaStaleAfterMs = 3 * kReplicaStatusIntervalMs;
constexpr qint64 kReplicaListedForMs = 300'000;


// The storage options of `sealrelay-backend init` that match `settings`. A
// PostgreSQL URL is shown as URL because it may carry a password.
QString initArguments(const BackendSettings &settings)
{
    if (settings.database.isEmpty())
        return u"--data-dir "_s + settings.dataDir;
    if (settings.database.startsWith(u"sqlite:"_s))
        return u"--database "_s + settings.database;
    return u"--database URL"_s;
}

bool isLoopbackHost(const QString &host)
{
    if (host == u"localhost"_s)
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

} // namespace

// The WebSocket side: the agent gateway on /agent and the console feed on
// /api/events. Built only when their classes are part of the build.
class WebSocketEndpoints {
public:
    WebSocketEndpoints(Storage &storage, HttpApi &http, const BackendSettings &settings,
                       const QStringList &publicOrigins,
                       std::function<QJsonObject(const AgentRow &)> agentWithSync)
    {
        AgentGatewayOptions gatewayOptions;
        gatewayOptions.publicOrigins = publicOrigins;
        gatewayOptions.pingInterval = std::chrono::milliseconds(settings.pingIntervalMs);
        gatewayOptions.silenceTimeout = std::chrono::milliseconds(settings.silenceTimeoutMs);
        gatewayOptions.authClockSkew =
            std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::milliseconds(settings.authSkewMs));
        gatewayOptions.limits.maxMessageBytes = settings.maxMessageBytes;
        gatewayOptions.limits.maxWarmReconnectEntries = settings.maxWarmReconnectEntries;
        gateway = new AgentGateway(storage, gatewayOptions);

        EventFeedOptions feedOptions;
        feedOptions.pingInterval = std::chrono::milliseconds(settings.pingIntervalMs);
        feedOptions.silenceTimeout = std::chrono::milliseconds(settings.silenceTimeoutMs);
        feedOptions.agentJson = std::move(agentWithSync);
        feed = new EventFeed(storage, feedOptions,
                             [&http](QStringView token) { return http.authenticate(token); });
    }

    // Deleting them closes their sockets.
    ~WebSocketEndpoints()
    {
        delete feed;
        delete gateway;
    }

    AgentGateway *gateway = nullptr;
    EventFeed *feed = nullptr;
};

Result<StorageConfig> storageConfigFor(const BackendSettings &settings)
{
    StorageConfig config;
    if (settings.database.isEmpty()) {
        if (settings.dataDir.isEmpty())
            return makeError(Reason::Malformed,
                             u"Missing --data-dir: give the folder of backend.db, or a "
                             "PostgreSQL URL with --database."_s);
        config.engine = SqlEngine::Sqlite;
        config.sqlitePath = settings.sqlitePath();
        config.sqliteBusyTimeoutMs = settings.sqliteBusyTimeoutMs;
        return config;
    }

    if (settings.database.startsWith(u"sqlite:"_s)) {
        config.engine = SqlEngine::Sqlite;
        config.sqlitePath = settings.database.mid(7);
        config.sqliteBusyTimeoutMs = settings.sqliteBusyTimeoutMs;
        return config;
    }
    // Only the scheme of a bad URL is shown, because the rest may contain a
    // password.
    const bool postgresScheme = settings.database.startsWith(u"postgresql://"_s)
        || settings.database.startsWith(u"postgres://"_s);
    if (!postgresScheme) {
        const qsizetype colon = settings.database.indexOf(u':');
        const QString scheme = colon < 0 ? settings.database : settings.database.left(colon);
        return makeError(Reason::Malformed,
                         u"Invalid value for --database: the scheme \"%1\" is not supported; "
                         "expected postgresql://USER:PASSWORD@HOST:PORT/DB or sqlite:PATH."_s.arg(
                             scheme));
    }
    auto url = parsePostgresUrl(settings.database);
    if (!url)
        return makeError(Reason::Malformed,
                         u"Invalid value for --database: %1."_s.arg(url.error().message));
    config.engine = SqlEngine::Postgres;
    config.postgresUrl = settings.database;
    config.postgresMigrationUrl = settings.migrationDatabase;
    return config;
}

Result<InitResult> initialiseOrg(Storage &storage, const QString &orgName)
{
    InitResult result;
    result.orgId = newUuid();
    auto org = storage.createOrg(OrgRow{result.orgId, orgName, {}});
    if (!org)
        return org.error();

    result.token = generateToken(u"srt_");
    if (result.token.isEmpty())
        return makeError(Reason::Internal, u"The random generator failed; try again."_s);
    ApiTokenRow token;
    token.orgId = result.orgId;
    token.tokenId = newUuid();
    token.tokenHash = sha256(result.token.toUtf8());
    token.role = ApiRole::Admin;
    token.label = u"initial admin"_s;
    auto created = storage.createApiToken(token);
    if (!created)
        return created.error();
    result.tokenId = token.tokenId;

    AuditEntry entry;
    entry.orgId = result.orgId;
    entry.event = u"org_initialised"_s;
    entry.actor = u"backend"_s;
    entry.outcome = u"success"_s;
    entry.details = u"{\"admin_token_id\":\"%1\"}"_s.arg(token.tokenId);
    auto audited = storage.appendAudit(entry);
    if (!audited)
        return audited.error();
    return result;
}

Result<CreatedToken> createApiTokenFor(Storage &storage, const QString &orgId, ApiRole role,
                                       const QString &label, const QString &actor)
{
    CreatedToken result;
    result.token = generateToken(u"srt_");
    if (result.token.isEmpty())
        return makeError(Reason::Internal, u"The random generator failed; try again."_s);
    ApiTokenRow token;
    token.orgId = orgId;
    token.tokenId = newUuid();
    token.tokenHash = sha256(result.token.toUtf8());
    token.role = role;
    token.label = label;
    auto created = storage.createApiToken(token);
    if (!created)
        return created.error();
    result.tokenId = token.tokenId;

    // The details are built by hand in the key order canonical JSON uses.
    AuditEntry entry;
    entry.orgId = orgId;
    entry.event = u"api_token_created"_s;
    entry.actor = actor;
    entry.outcome = u"success"_s;
    entry.details = u"{\"role\":\"%1\",\"token_id\":\"%2\"}"_s.arg(apiRoleName(role),
                                                                       token.tokenId);
    auto audited = storage.appendAudit(entry);
    if (!audited)
        return audited.error();
    return result;
}

Result<void> requireDatabaseFile(const BackendSettings &settings, const StorageConfig &config)
{
    if (config.engine != SqlEngine::Sqlite)
        return {};
    const QFileInfo dataDir(settings.dataDir);
    if (settings.database.isEmpty() && dataDir.exists() && !dataDir.isDir())
        return makeError(Reason::Malformed,
                         u"--data-dir %1 is a file, not a folder; give the folder that holds "
                         "backend.db."_s.arg(settings.dataDir));
    if (!QFileInfo::exists(config.sqlitePath))
        return makeError(Reason::NotFound,
                         u"%1 has no org (the file does not exist); run `sealrelay-backend init "
                         "%2` first, or check --data-dir/--database."_s.arg(config.sqlitePath,
                                                                        initArguments(settings)));
    // SQLite writes the -wal and -shm files next to the database, so the
    // folder must be writable as well as the file.
    const QFileInfo file(config.sqlitePath);
    const QString folder = file.absolutePath();
    if (!file.isWritable() || !QFileInfo(folder).isWritable())
        return makeError(Reason::Malformed,
                         u"%1 or its folder %2 is read-only; give the user that runs "
                         "sealrelay-backend write access to both."_s.arg(config.sqlitePath,
                                                                           folder));
    return {};
}

Result<QList<OrgRow>> requireOrgs(Storage &storage, const BackendSettings &settings,
                                  const StorageConfig &config)
{
    auto orgs = storage.orgs();
    if (!orgs)
        return orgs.error();
    if (!orgs->isEmpty())
        return orgs;
    const QString database = config.engine == SqlEngine::Sqlite
        ? config.sqlitePath
        : u"The PostgreSQL database of --database"_s;
    return makeError(Reason::NotFound,
                     u"%1 has no org; run `sealrelay-backend init %2` first, or check "
                     "--data-dir/--database."_s.arg(database, initArguments(settings)));
}

BackendService::BackendService(BackendSettings settings, QObject *parent)
    : QObject(parent), m_settings(std::move(settings)), m_replicaId(newUuid()),
      m_metrics(std::make_unique<Metrics>())
{
}

BackendService::~BackendService()
{
    // The sync engine, the WebSocket endpoints and the HTTP server hold
    // references to storage; the engine also to the gateway and the store.
    if (m_statusTimer)
        m_statusTimer->stop();
    m_sync.reset();
    m_replicaLink.reset();
    m_endpoints.reset();
    delete m_http;
    m_http = nullptr;
}

Result<void> BackendService::start()
{
    auto log = logger("backend.service");
    log->info("Starting replica {}", m_replicaId.toStdString());

    auto opened = openStorage();
    if (!opened)
        return opened;
    auto coordination = openCoordination();
    if (!coordination)
        return coordination;

    m_http = new HttpApi(*m_storage, *m_metrics, m_settings, this);
    auto listening = listen();
    if (!listening)
        return listening;
    // After listen(), so an origin derived from the listener has its port.
    wireWebSockets();

    m_startedAt = QDateTime::currentDateTimeUtc();
    recordReplicaStatus();
    m_statusTimer = new QTimer(this);
    connect(m_statusTimer, &QTimer::timeout, this, &BackendService::recordReplicaStatus);
    m_statusTimer->start(kReplicaStatusIntervalMs);
    return {};
}

Result<void> BackendService::openCoordination()
{
    auto log = logger("backend.service");
    m_metrics->setCoordinationDegraded(false);
    m_coordinationFailures = &prometheus::BuildCounter()
                                      .Name("sealrelay_coordination_failures_total")
                                      .Help("Times the Redis coordination store became unusable "
                                            "while in use")
                                      .Register(m_metrics->registry())
                                      .Add({});

    if (!m_settings.redisCoordination()) {
        m_store = std::make_unique<MemoryStore>();
        log->info("Coordination: in-memory store of this replica");
        return {};
    }

    auto endpoint = parseRedisUrl(m_settings.coordination);
    if (!endpoint)
        return makeError(Reason::Malformed,
                         u"Invalid value for [coordination] url: %1"_s.arg(
                                 endpoint.error().message));
    auto redis = std::make_unique<RedisStore>(endpoint.value());

    FallbackStoreOptions options;
    options.degradedAfter = std::chrono::milliseconds(m_settings.degradedAfterMs);
    options.switchHold = std::chrono::milliseconds(m_settings.switchHoldMs);
    std::unique_ptr<CoordinationStore> fallbackStore;
    if (m_settings.replicas == ReplicaMode::Several) {
        // Replicas that cannot reach Redis cannot tell whether the others
        // can, so they all move to the store they already share.
        auto url = parsePostgresUrl(m_settings.database);
        if (!url)
            return makeError(Reason::Malformed,
                             u"Invalid value for [storage] database: %1"_s.arg(
                                     url.error().message));
        log->info("Coordination: Redis at {} shared by several replicas, falling back to "
                  "PostgreSQL after {} ms of failure",
                  redis->endpoint().describe().toStdString(), m_settings.degradedAfterMs);
        fallbackStore = std::make_unique<PostgresStore>(url.value());
    } else {
        log->info("Coordination: Redis at {}, falling back to the in-memory store after {} ms "
                  "of failure",
                  redis->endpoint().describe().toStdString(), m_settings.degradedAfterMs);
        fallbackStore = std::make_unique<MemoryStore>();
    }
    auto fallback = std::make_unique<FallbackStore>(std::move(redis), std::move(fallbackStore),
                                                    options);
    m_fallbackStore = fallback.get();
    connect(m_fallbackStore, &FallbackStore::primaryFailed, this,
            [this] { m_coordinationFailures->Increment(); });
    connect(m_fallbackStore, &FallbackStore::modeChanged, this,
            [this](FallbackStore::Mode mode) {
                if (mode != FallbackStore::Mode::Starting)
                    coordinationModeChanged(mode == FallbackStore::Mode::Fallback);
                recordReplicaStatus();
            });
    m_store = std::move(fallback);
    return {};
}

void BackendService::coordinationModeChanged(bool degraded)
{
    m_metrics->setCoordinationDegraded(degraded);
    auto orgs = m_storage->orgs();
    if (!orgs) {
        logger("backend.service")
                ->error("Listing orgs to {} alert {} failed: {}", degraded ? "raise" : "clear",
                        kCoordinationAlert.toStdString(), orgs.error().message.toStdString());
        return;
    }
    for (const OrgRow &org : orgs.value()) {
        if (degraded)
            raiseCoordinationAlert(org.orgId);
        else
            clearCoordinationAlert(org.orgId);
    }
}

void BackendService::raiseCoordinationAlert(const QString &orgId)
{
    auto log = logger("backend.service");
    const QString detail = m_store->health().detail;
    const QJsonObject details{{u"replica_id"_s, m_replicaId}, {u"detail"_s, detail}};
    AlertRaise raise{orgId, kCoordinationAlert, AlertSeverity::Medium, kCoordinationSubject,
                     QString::fromUtf8(QJsonDocument(details).toJson(QJsonDocument::Compact))};
    auto raised = m_storage->raiseAlert(raise);
    if (!raised) {
        log->error("Raising alert {} in org {} failed: {}", kCoordinationAlert.toStdString(),
                   orgId.toStdString(), raised.error().message.toStdString());
        return;
    }

    m_metrics->countAlertRaised(kCoordinationAlert);
    log->warn("Alert {} raised in org {}: {}", kCoordinationAlert.toStdString(),
              orgId.toStdString(), detail.toStdString());
    if (m_endpoints)
        m_endpoints->feed->publish(orgId, u"alert_raised"_s, alertJson(raised->alert));
}

void BackendService::clearCoordinationAlert(const QString &orgId)
{
    auto log = logger("backend.service");
    AlertFilter filter;
    filter.type = kCoordinationAlert;
    filter.subject = kCoordinationSubject;
    filter.acknowledged = false;
    auto open = m_storage->alerts(orgId, filter);
    if (!open) {
        log->error("Listing open alerts {} in org {} failed: {}", kCoordinationAlert.toStdString(),
                   orgId.toStdString(), open.error().message.toStdString());
        return;
    }

    for (const AlertRow &alert : open.value()) {
        auto acknowledged = m_storage->acknowledgeAlert(orgId, alert.alertId, u"backend"_s);
        if (!acknowledged) {
            log->error("Acknowledging alert {} in org {} failed: {}", alert.alertId.toStdString(),
                       orgId.toStdString(), acknowledged.error().message.toStdString());
            continue;
        }
        log->info("Alert {} in org {} acknowledged by the backend: coordination is back on Redis",
                  alert.alertId.toStdString(), orgId.toStdString());
        if (!m_endpoints)
            continue;
        const QJsonObject event{
                {u"alert_id"_s, alert.alertId},
                {u"acknowledged_by"_s, u"backend"_s},
                {u"acknowledged_at"_s, formatTimestamp(QDateTime::currentDateTimeUtc())}};
        m_endpoints->feed->publish(orgId, u"alert_acknowledged"_s, event);
    }
}

void BackendService::recordReplicaStatus()
{
    if (!m_storage || !m_store)
        return;
    const CoordinationHealth health = m_store->health();
    ReplicaStatusRow status;
    status.replicaId = m_replicaId;
    status.coordination = m_fallbackStore ? m_fallbackStore->activeKind() : m_store->kind();
    status.degraded = health.degraded;
    status.usable = health.usable;
    status.detail = health.detail;
    status.version = QCoreApplication::applicationVersion();
    status.startedAt = m_startedAt;
    status.seenAt = QDateTime::currentDateTimeUtc();
    if (auto recorded = m_storage->recordReplicaStatus(status); !recorded)
        logger("backend.service")
                ->warn("Recording this replica's status failed: {}",
                       recorded.error().message.toStdString());
}

QJsonObject BackendService::coordinationStatus() const
{
    const CoordinationHealth health = m_store->health();
    const QString active = m_fallbackStore ? m_fallbackStore->activeKind() : m_store->kind();
    QJsonObject status{{u"replica_id"_s, m_replicaId},
                       {u"coordination"_s, active},
                       {u"degraded"_s, health.degraded},
                       {u"usable"_s, health.usable},
                       {u"detail"_s, health.detail}};

    // Every replica that reported in the last few minutes. A replica that
    // missed several reports is marked stale: it stopped or cannot write.
    const QDateTime now = QDateTime::currentDateTimeUtc();
    auto rows = m_storage->replicaStatuses(now.addMSecs(-kReplicaListedForMs));
    if (!rows) {
        status.insert(u"replicas_error"_s, rows.error().message);
        return status;
    }
    QJsonArray replicas;
    for (const ReplicaStatusRow &row : rows.value()) {
        const bool self = row.replicaId == m_replicaId;
        replicas.append(QJsonObject{
                {u"replica_id"_s, row.replicaId},
                {u"coordination"_s, self ? active : row.coordination},
                {u"degraded"_s, self ? health.degraded : row.degraded},
                {u"usable"_s, self ? health.usable : row.usable},
                {u"detail"_s, self ? health.detail : row.detail},
                {u"version"_s, row.version},
                {u"started_at"_s, formatTimestamp(row.startedAt)},
                {u"last_seen"_s, formatTimestamp(self ? now : row.seenAt)},
                {u"stale"_s, !self && row.seenAt.msecsTo(now) > kReplicaStaleAfterMs},
                {u"this_replica"_s, self}});
    }
    status.insert(u"replicas"_s, replicas);
    return status;
}

Result<void> BackendService::openStorage()
{
    auto config = storageConfigFor(m_settings);
    if (!config)
        return config.error();
    auto exists = requireDatabaseFile(m_settings, config.value());
    if (!exists)
        return exists;

    auto storage = SqlStorage::open(config.value());
    if (!storage)
        return storage.error();
    m_storage = std::move(storage.value());

    // SQLite is migrated in place; PostgreSQL only through the owner
    // connection, so the service role never owns audit_log.
    if (config->engine == SqlEngine::Sqlite || !m_settings.migrationDatabase.isEmpty()) {
        auto migrated = m_storage->migrate();
        if (!migrated)
            return migrated;
    } else {
        auto version = m_storage->schemaVersion();
        if (!version)
            return version.error();
        if (version.value() == 0)
            return makeError(Reason::NotFound,
                             u"The database has no schema; run `sealrelay-backend migrate "
                             "--database OWNER_URL` first."_s);
    }

    auto orgs = requireOrgs(*m_storage, m_settings, config.value());
    if (!orgs)
        return orgs.error();

    auto owns = m_storage->connectedRoleOwnsAuditLog();
    if (!owns)
        return owns.error();
    if (owns.value())
        return makeError(Reason::Forbidden,
                         u"The database role of --database owns the audit table (or is a "
                         "superuser), so it could rewrite history; connect with a service role "
                         "that does not own audit_log and run migrations with "
                         "--migration-database."_s);

    logger("backend.service")->info("Storage open: {}",
                                    config->engine == SqlEngine::Sqlite ? "SQLite" : "PostgreSQL");
    return {};
}

Result<void> BackendService::listen()
{
    auto log = logger("backend.service");
    const QString host = m_settings.listenHost;
    const bool loopback = isLoopbackHost(host);
    const QHostAddress address = host == u"localhost"_s ? QHostAddress(QHostAddress::LocalHost)
                                                        : QHostAddress(host);
    if (address.isNull())
        return makeError(Reason::Malformed,
                         u"Invalid value \"%1\" for --listen: expected an IP address (or "
                         "localhost) and a port."_s.arg(host));

    if (m_settings.tlsEnabled()) {
        const auto chain = QSslCertificate::fromPath(m_settings.tlsCertificate, QSsl::Pem);
        if (chain.isEmpty())
            return makeError(Reason::InvalidKey,
                             u"Cannot read a PEM certificate from %1 (--tls-certificate)."_s.arg(
                                 m_settings.tlsCertificate));
        QFile keyFile(m_settings.tlsKey);
        if (!keyFile.open(QIODevice::ReadOnly))
            return makeError(Reason::IoError,
                             u"Cannot read %1 (--tls-key): %2"_s.arg(m_settings.tlsKey,
                                                                    keyFile.errorString()));
        const QByteArray keyPem = keyFile.readAll();
        QSslKey key(keyPem, QSsl::Rsa, QSsl::Pem);
        if (key.isNull())
            key = QSslKey(keyPem, QSsl::Ec, QSsl::Pem);
        if (key.isNull())
            return makeError(Reason::InvalidKey,
                             u"%1 (--tls-key) holds no unencrypted PEM RSA or EC key."_s.arg(
                                 m_settings.tlsKey));

        QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
        configuration.setLocalCertificateChain(chain);
        configuration.setPrivateKey(key);
        auto *server = new QSslServer(this);
        server->setSslConfiguration(configuration);
        m_listener = server;
    } else {
        if (!loopback)
            return makeError(Reason::Forbidden,
                             u"Refusing a plain listener on %1: outside loopback the backend "
                             "needs TLS; give --tls-certificate and --tls-key, or listen on "
                             "127.0.0.1."_s.arg(host));
        m_listener = new QTcpServer(this);
    }

    // IPv6 addresses are written in brackets next to a port ("[::1]:8443").
    const QString hostInUrl = host.contains(u':') ? u'[' + host + u']' : host;
    if (!m_listener->listen(address, quint16(m_settings.listenPort))) {
        // A port taken by another process is fixed by changing --listen, so
        // it is reported like a bad setting (exit status 2).
        if (m_listener->serverError() == QAbstractSocket::AddressInUseError)
            return makeError(Reason::Malformed,
                             u"another process is using %1:%2; stop it or choose another "
                             "--listen."_s.arg(hostInUrl,
                                               QString::number(m_settings.listenPort)));
        return makeError(Reason::IoError,
                         u"Cannot listen on %1:%2: %3"_s.arg(hostInUrl,
                                                            QString::number(m_settings.listenPort),
                                                            m_listener->errorString()));
    }
    m_http->bind(m_listener);

    const QString scheme = m_settings.tlsEnabled() ? u"https"_s : u"http"_s;
    log->info("Listening on {}://{}:{}", scheme.toStdString(), hostInUrl.toStdString(),
              m_listener->serverPort());
    if (!m_settings.tlsEnabled())
        log->warn("TLS is off: the listener is plain HTTP and WebSocket, allowed only because "
                  "it is on loopback ({}); configure --tls-certificate and --tls-key for any "
                  "other address",
                  host.toStdString());
    return {};
}

QStringList BackendService::publicOrigins() const
{
    if (!m_settings.publicOrigins.isEmpty())
        return m_settings.publicOrigins;
    const QString scheme = m_settings.tlsEnabled() ? u"https"_s : u"http"_s;
    const QString host = m_settings.listenHost.contains(u':')
        ? u'[' + m_settings.listenHost + u']'
        : m_settings.listenHost;
    return {u"%1://%2:%3"_s.arg(scheme, host, QString::number(serverPort()))};
}

void BackendService::wireWebSockets()
{
    HttpApiHooks hooks;
    hooks.coordinationReady = [this] { return m_store->health().usable; };
    hooks.coordinationStatus = [this] { return coordinationStatus(); };

    m_endpoints = std::make_unique<WebSocketEndpoints>(
        *m_storage, *m_http, m_settings, publicOrigins(), [this](const AgentRow &agent) {
            QJsonObject object = agentJson(agent);
            if (m_sync)
                object.insert(u"sync"_s,
                              agentSyncJson(m_sync->agentState(agent.orgId, agent.agentId),
                                            agent.status));
            return object;
        });
    WebSocketEndpoints *endpoints = m_endpoints.get();
    hooks.publishEvent = [endpoints](const QString &orgId, const QString &type,
                                     const QJsonObject &data) {
        endpoints->feed->publish(orgId, type, data);
    };
    hooks.certificateStored = [endpoints](const QString &orgId, const QString &agentId) {
        endpoints->gateway->pushCertificate(orgId, agentId);
    };
    hooks.agentRevoked = [endpoints](const QString &orgId, const QString &agentId) {
        endpoints->gateway->closeAgent(orgId, agentId, 4403, u"agent revoked by an operator"_s);
    };
    const auto countAgents = [this, endpoints] {
        m_metrics->setConnectedAgents(endpoints->gateway->connectedCount());
    };
    connect(endpoints->gateway, &AgentGateway::agentAuthenticated, this, countAgents);
    connect(endpoints->gateway, &AgentGateway::agentDisconnected, this, countAgents);

    // What the gateway changes reaches consoles as it does for REST writes:
    // the agent row with its connection state, new alerts and audit rows.
    const auto publishAgent = [this, endpoints](const QString &orgId, const QString &agentId) {
        auto agent = m_storage->agent(orgId, agentId);
        if (!agent || !agent.value())
            return;
        QJsonObject agentObject = agentJson(*agent.value());
        if (m_sync)
            agentObject.insert(u"sync"_s, agentSyncJson(m_sync->agentState(orgId, agentId),
                                                        agent.value()->status));
        endpoints->feed->publish(
            orgId, u"agent_status_changed"_s,
            QJsonObject{{u"agent_id"_s, agentId},
                        {u"status"_s, agentObject.value(u"status"_s)},
                        {u"connected"_s, endpoints->gateway->isConnected(orgId, agentId)},
                        {u"agent"_s, agentObject}});
    };
    connect(endpoints->gateway, &AgentGateway::agentAuthenticated, this, publishAgent);
    connect(endpoints->gateway, &AgentGateway::agentDisconnected, this, publishAgent);
    connect(endpoints->gateway, &AgentGateway::alertRaised, this,
            [endpoints](const AlertRow &alert) {
                endpoints->feed->publish(alert.orgId, u"alert_raised"_s, alertJson(alert));
            });
    connect(endpoints->gateway, &AgentGateway::auditAppended, this,
            [endpoints](const AuditRecord &record) {
                endpoints->feed->publish(record.orgId, u"audit_appended"_s,
                                         auditRecordJson(record));
            });
    wireSyncEngine(hooks);
    m_http->setWebSocketPaths({kAgentPath, kEventsPath});
    connect(m_http, &QAbstractHttpServer::newWebSocketConnection, this,
            &BackendService::acceptWebSocket);
    m_http->setHooks(hooks);
}

void BackendService::acceptWebSocket()
{
    while (m_http->hasPendingWebSocketConnections()) {
        std::unique_ptr<QWebSocket> socket = m_http->nextPendingWebSocketConnection();
        if (!socket)
            continue;
        const QString path = socket->requestUrl().path();
        if (m_stopping) {
            socket->close(QWebSocketProtocol::CloseCodeGoingAway, u"shutting down"_s);
            continue;
        }
        if (path == kAgentPath) {
            m_endpoints->gateway->acceptConnection(socket.release());
            continue;
        }
        if (path == kEventsPath) {
            m_endpoints->feed->acceptConnection(socket.release());
            continue;
        }
        logger("backend.service")->warn("WebSocket upgrade on unknown path {} closed",
                                        path.toStdString());
        socket->close(QWebSocketProtocol::CloseCodePolicyViolated, u"unknown path"_s);
    }
}

void BackendService::stop()
{
    if (m_stopping)
        return;
    m_stopping = true;
    auto log = logger("backend.service");
    log->info("Stopping: no new connections");

    if (m_http)
        m_http->stopAccepting();
    if (m_listener) {
        m_listener->close();
        // Connections already accepted finish writing what they have, then
        // close; disconnectFromHost() waits for the write buffer.
        const auto sockets = m_listener->findChildren<QTcpSocket *>();
        for (QTcpSocket *socket : sockets)
            socket->disconnectFromHost();
    }
    if (m_statusTimer)
        m_statusTimer->stop();
    m_sync.reset();
    m_replicaLink.reset();
    m_endpoints.reset();

    QTimer::singleShot(kDrainMs, this, [this, log] {
        log->info("Stopped");
        Q_EMIT stopped();
    });
}

void BackendService::wireSyncEngine(HttpApiHooks &hooks)
{
    AgentGateway *gateway = m_endpoints->gateway;
    EventFeed *feed = m_endpoints->feed;
    AgentLink link;
    if (m_settings.replicas == ReplicaMode::Several) {
        ReplicaLinkOptions options;
        options.limits.maxMessageBytes = m_settings.maxMessageBytes;
        options.limits.maxWarmReconnectEntries = m_settings.maxWarmReconnectEntries;
        m_replicaLink = std::make_unique<ReplicaLink>(*m_store, *gateway, m_replicaId, options);
        link = m_replicaLink->agentLink();
    } else {
        link.isConnected = [gateway](const QString &orgId, const QString &agentId) {
            return gateway->isConnected(orgId, agentId);
        };
        link.send = [gateway](const QString &orgId, const QString &agentId,
                              const AgentMessage &message) {
            return gateway->send(orgId, agentId, message);
        };
        link.connectedAgents = [gateway](const QString &orgId) {
            return gateway->connectedAgents(orgId);
        };
    }
    m_sync = std::make_unique<SyncEngine>(*m_storage, *m_store, std::move(link), *m_metrics,
                                          syncOptionsFrom(m_settings, m_replicaId));
    SyncEngine *sync = m_sync.get();
    if (ReplicaLink *replicas = m_replicaLink.get()) {
        connect(replicas, &ReplicaLink::replyReceived, sync, &SyncEngine::handleRoutedReply);
        connect(replicas, &ReplicaLink::remoteAgentLeft, sync,
                &SyncEngine::handleRemoteAgentLeft);
        // Consoles on every replica see the events of all of them.
        connect(feed, &EventFeed::published, replicas, &ReplicaLink::relayFeedEvent);
        connect(replicas, &ReplicaLink::feedEventReceived, feed,
                &EventFeed::publishFromReplica);
        replicas->start();
    }

    connect(gateway, &AgentGateway::messageReceived, sync, &SyncEngine::handleMessage);
    connect(gateway, &AgentGateway::malformedRewrapResponse, sync,
            &SyncEngine::handleMalformedRewrapResponse);
    connect(gateway, &AgentGateway::agentDisconnected, sync, &SyncEngine::handleAgentDisconnected);
    // The consoles of this replica receive its events, and so do those of
    // the others when a replica link relays them.
    const auto watched = [feed, relayed = m_replicaLink != nullptr](const QString &orgId) {
        return relayed || feed->hasConnections(orgId);
    };
    sync->setEventsWatched(watched);
    connect(sync, &SyncEngine::eventPublished, feed, &EventFeed::publish);
    connect(sync, &SyncEngine::alertRaised, feed, [feed](const AlertRow &alert) {
        feed->publish(alert.orgId, u"alert_raised"_s, alertJson(alert));
    });
    connect(sync, &SyncEngine::auditAppended, feed, [feed, watched](const AuditRecord &record) {
        if (watched(record.orgId))
            feed->publish(record.orgId, u"audit_appended"_s, auditRecordJson(record));
    });

    hooks.credentialWritten = [sync](const QString &orgId, const QString &credentialId) {
        sync->credentialWritten(orgId, credentialId);
    };
    hooks.credentialRetried = [sync](const QString &orgId, const QString &credentialId) {
        sync->retryCredential(orgId, credentialId);
    };
    hooks.agentSyncState = [sync](const AgentRow &agent) {
        return agentSyncJson(sync->agentState(agent.orgId, agent.agentId), agent.status);
    };
    sync->start();
}

quint16 BackendService::serverPort() const
{
    return m_listener ? m_listener->serverPort() : 0;
}

} // namespace sealrelay::backend
