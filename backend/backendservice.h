// BackendService: the running control plane. It owns the storage, the
// metrics registry, the HTTP listener with its REST API, and the agent
// gateway and event feed on the same port, and shuts them down in order.
#pragma once

#include "apiprincipal.h"
#include "httpapi.h"
#include "error.h"
#include "settings.h"
#include "sqlstorage.h"

#include <QDateTime>
#include <QObject>
#include <QString>

#include <memory>

class QSocketNotifier;
class QTimer;
class QTcpServer;

namespace prometheus {
class Counter;
}

namespace sealrelay::backend {

class CoordinationStore;
class FallbackStore;
class HttpApi;
class Metrics;
class ReplicaLink;
class SyncEngine;
class WebSocketEndpoints;

// The storage configuration `settings` describe: SQLite in the data folder,
// or PostgreSQL when a database URL is set.
Result<StorageConfig> storageConfigFor(const BackendSettings &settings);

struct InitResult {
    QString orgId;
    QString tokenId;
    QString token;   // shown once; only its SHA-256 is stored
};

// Creates an org and its first admin token in migrated storage.
Result<InitResult> initialiseOrg(Storage &storage, const QString &orgName);

struct CreatedToken {
    QString tokenId;
    QString token;   // shown once; only its SHA-256 is stored
};

// Creates an API token of `role` in `orgId` and writes an api_token_created
// audit row with `actor`.
Result<CreatedToken> createApiTokenFor(Storage &storage, const QString &orgId, ApiRole role,
                                       const QString &label, const QString &actor);

// Rejects a SQLite database file that does not exist yet (Reason::NotFound),
// so `run` never creates an empty database for a mistyped --data-dir, and a
// --data-dir that is a file or a read-only database (Reason::Malformed).
Result<void> requireDatabaseFile(const BackendSettings &settings, const StorageConfig &config);

// Returns the orgs of `storage`, or Reason::NotFound naming the database and
// `sealrelay-backend init` when there is none.
Result<QList<OrgRow>> requireOrgs(Storage &storage, const BackendSettings &settings,
                                  const StorageConfig &config);

class BackendService : public QObject {
    Q_OBJECT

public:
    explicit BackendService(BackendSettings settings, QObject *parent = nullptr);
    ~BackendService() override;

    // Opens and migrates storage, refuses a PostgreSQL role that owns the
    // audit table, creates the coordination store and starts listening.
    Result<void> start();

    // Stops accepting, lets written responses drain, closes every socket and
    // emits stopped().
    void stop();

    quint16 serverPort() const;

Q_SIGNALS:
    void stopped();

private:
    Result<void> openStorage();
    // MemoryStore for `memory`; for a Redis URL a FallbackStore onto a
    // MemoryStore with one replica, or onto a PostgresStore with several.
    Result<void> openCoordination();
    // Raises redis_coordination_degraded in every org when the store moved
    // to its fallback, and acknowledges it as "backend" when it moved back.
    void coordinationModeChanged(bool degraded);
    // This replica's row of replica_status, rewritten by a timer and at
    // every change of coordination store.
    void recordReplicaStatus();
    void raiseCoordinationAlert(const QString &orgId);
    void clearCoordinationAlert(const QString &orgId);
    QJsonObject coordinationStatus() const;
    Result<void> listen();
    void wireWebSockets();
    // Starts the sync engine on the gateway and wires it to the feed.
    void wireSyncEngine(HttpApiHooks &hooks);
    // Origins agents dial: the configured ones, or the listener's own.
    QStringList publicOrigins() const;
    void acceptWebSocket();

    BackendSettings m_settings;
    QString m_replicaId;
    std::unique_ptr<SqlStorage> m_storage;
    std::unique_ptr<Metrics> m_metrics;
    HttpApi *m_http = nullptr;
    QTcpServer *m_listener = nullptr;
    std::unique_ptr<CoordinationStore> m_store;
    FallbackStore *m_fallbackStore = nullptr; // m_store when it is a FallbackStore
    prometheus::Counter *m_coordinationFailures = nullptr;
    std::unique_ptr<WebSocketEndpoints> m_endpoints;
    // Set with several replicas: reaches agents of the other replicas.
    std::unique_ptr<ReplicaLink> m_replicaLink;
    std::unique_ptr<SyncEngine> m_sync;
    QTimer *m_statusTimer = nullptr;
    QDateTime m_startedAt;
    bool m_stopping = false;
};


} // namespace sealrelay::backend
