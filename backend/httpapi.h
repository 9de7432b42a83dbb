// The backend's HTTP listener: the REST API under /api, /healthz, /readyz
// and /metrics, and the hand-over of WebSocket upgrades. It routes requests
// itself so every status is decided in one documented order: 413, 404, 405,
// 401, 403, then the handler's own 400, 409 and 429.
#pragma once

#include "apiprincipal.h"
#include "error.h"
#include "settings.h"
#include "storage.h"

#include <QAbstractHttpServer>
#include <QDateTime>
#include <QHash>
#include <QHttpServerRequest>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QStringList>
#include <QUrlQuery>

#include <functional>
#include <optional>

namespace sealrelay::backend {

class Metrics;

// A request that passed routing and authorisation, as handlers receive it.
struct ApiRequest {
    const QHttpServerRequest &http;
    std::optional<ApiPrincipal> principal;   // empty on the public routes
    QStringList captures;                     // values of the {placeholders}, in order
    QJsonObject body;                         // {} when the request has no body
    QUrlQuery query;

    const ApiPrincipal &caller() const { return *principal; }
    QString actor() const { return u"token:" + principal->tokenId; }
};

struct ApiResponse {
    int status = 200;
    QByteArray body;
    QByteArray contentType = QByteArrayLiteral("application/json");
    QList<QPair<QByteArray, QByteArray>> headers;

    static ApiResponse json(int status, const QJsonObject &object);
    // {"error": {"code": ..., "message": ...}}, where `message` is a
    // sentence that tells the caller what to do next.
    static ApiResponse error(int status, const QString &code, const QString &message);
    // 400 for an invalid field or value.
    static ApiResponse invalid(const QString &message);
    // 500 for a storage failure; logs it with the route.
    static ApiResponse internal(const Error &error);
};

// Hooks into the rest of the service; each may be left empty.
struct HttpApiHooks {
    // Publishes an event on the console feed of `orgId`.
    std::function<void(const QString &orgId, const QString &eventType, const QJsonObject &data)>
        publishEvent;
    // Tells the agent gateway that an agent has a new certificate.
    std::function<void(const QString &orgId, const QString &agentId)> certificateStored;
    // Tells the agent gateway to end a revoked agent's live session.
    std::function<void(const QString &orgId, const QString &agentId)> agentRevoked;
    // Tells the sync engine that a credential was written, or retried by an
    // operator, so it delivers to connected agents at once.
    std::function<void(const QString &orgId, const QString &credentialId)> credentialWritten;
    std::function<void(const QString &orgId, const QString &credentialId)> credentialRetried;
    // The agent's runtime sync state, added to its JSON as "sync".
    std::function<QJsonObject(const AgentRow &agent)> agentSyncState;
    // Whether the coordination store is usable (for /readyz).
    std::function<bool()> coordinationReady;
    // Replica id, coordination backend and degraded flag.
    std::function<QJsonObject()> coordinationStatus;
};

class HttpApi : public QAbstractHttpServer {
    Q_OBJECT

public:
    HttpApi(Storage &storage, Metrics &metrics, const BackendSettings &settings,
            QObject *parent = nullptr);

    void setHooks(HttpApiHooks hooks) { m_hooks = std::move(hooks); }
    // Paths whose WebSocket upgrades get no HTTP response and go to
    // newWebSocketConnection instead (e.g. "/agent", "/api/events").
    void setWebSocketPaths(const QStringList &paths) { m_webSocketPaths = paths; }

    // Looks up a bearer token (without the "Bearer " prefix). Empty for an
    // unknown or revoked token or a storage failure.
    std::optional<ApiPrincipal> authenticate(QStringView bearerToken);

    // Makes every later request get 503 while the service closes.
    void stopAccepting() { m_stopping = true; }

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    using Handler = ApiResponse (HttpApi::*)(const ApiRequest &request);
    using Method = QHttpServerRequest::Method;

    struct Route {
        Method method;
        QString pattern;          // e.g. "/api/credentials/{id}/rotate"
        QStringList segments;
        std::optional<Permission> permission;   // empty: no token needed
        Handler handler;
        QStringList bodyFields;        // accepted top-level body fields; others get 400
        QStringList queryParameters;   // accepted query parameters; others get 400
    };

    void addRoute(Method method, const QString &pattern, std::optional<Permission> permission,
                  Handler handler, const QStringList &bodyFields = {},
                  const QStringList &queryParameters = {});
    ApiResponse dispatch(const QHttpServerRequest &request, QString &routePattern);
    void writeResponse(const QHttpServerRequest &request, QTcpSocket *socket,
                       const ApiResponse &response);

    // Appends an audit row with the caller's token as actor and publishes it.
    // A failure is returned so the handler can respond with 500.
    Result<void> audit(const ApiRequest &request, const QString &event,
                       std::optional<QString> credentialId = std::nullopt,
                       std::optional<QString> agentId = std::nullopt,
                       const QJsonObject &details = {});
    void publish(const QString &orgId, const QString &eventType, const QJsonObject &data);

    // ---- /healthz, /readyz, /metrics, /api/system (httpapisystem.cpp) -----
    ApiResponse handleHealth(const ApiRequest &request);
    ApiResponse handleReady(const ApiRequest &request);
    ApiResponse handleMetrics(const ApiRequest &request);
    ApiResponse handleCoordinationStatus(const ApiRequest &request);

    // ---- /api/credentials (httpapicredentials.cpp) -------------------------
    ApiResponse handleListCredentials(const ApiRequest &request);
    ApiResponse handleGetCredential(const ApiRequest &request);
    ApiResponse handleCreateCredential(const ApiRequest &request);
    ApiResponse handleRotateCredential(const ApiRequest &request);
    ApiResponse handleChangeScope(const ApiRequest &request);
    ApiResponse handleDeleteCredential(const ApiRequest &request);
    ApiResponse handleRetryCredential(const ApiRequest &request);
    // The agents in scope that lack a credential's current version, each as
    // {agent_id, name, connection}, and the count of connected agents that
    // store that version and can seal it for them.
    struct RetryTargets {
        QJsonArray lacking;
        int onlineHolders = 0;
    };
    RetryTargets retryTargets(const QString &orgId, const CredentialDetail &detail);

    enum class CredentialChange { Create, Rotate, Scope, Delete };
    ApiResponse writeCredential(const ApiRequest &request, CredentialChange change);

    // ---- /api/agents (httpapiagents.cpp) -----------------------------------
    ApiResponse handleListAgents(const ApiRequest &request);
    ApiResponse handleCreateEnrolmentToken(const ApiRequest &request);
    ApiResponse handleListEnrolmentTokens(const ApiRequest &request);
    ApiResponse handleUploadCertificate(const ApiRequest &request);
    ApiResponse handleRevokeAgent(const ApiRequest &request);
    ApiResponse handleClearQuarantine(const ApiRequest &request);
    // agentJson() plus the runtime "sync" object when the engine is wired.
    QJsonObject agentWithSync(const AgentRow &agent) const;
    void publishAgentStatus(const QString &orgId, const QJsonObject &agent);

    // ---- /api/alerts (httpapialerts.cpp) -----------------------------------
    ApiResponse handleListAlerts(const ApiRequest &request);
    ApiResponse handleAcknowledgeAlerts(const ApiRequest &request);

    // ---- /api/audit (httpapiaudit.cpp) -------------------------------------
    ApiResponse handleListAudit(const ApiRequest &request);
    ApiResponse handleVerifyAudit(const ApiRequest &request);

    // ---- /api/tokens (httpapitokens.cpp) -----------------------------------
    ApiResponse handleListTokens(const ApiRequest &request);
    ApiResponse handleCreateToken(const ApiRequest &request);
    ApiResponse handleRevokeToken(const ApiRequest &request);

    Storage &m_storage;
    Metrics &m_metrics;
    const BackendSettings &m_settings;
    HttpApiHooks m_hooks;
    QStringList m_webSocketPaths;
    QList<Route> m_routes;
    // Time of the last accepted retry per "org/credential", for the 429 window.
    QHash<QString, QDateTime> m_lastRetry;
    bool m_stopping = false;
};

// Token text handed out once: a prefix that makes it recognisable plus
// base64url of 32 random bytes. Empty when the random generator fails.
QString generateToken(QStringView prefix);

} // namespace sealrelay::backend
