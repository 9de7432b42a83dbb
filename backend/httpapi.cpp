// Routing, authentication and response writing of the HTTP listener; the
// handlers live in one file per resource (httpapi<resource>.cpp).
#include "httpapi.h"

#include "canonicaljson.h"
#include "digest.h"
#include "logging.h"
#include "metrics.h"
#include "rowjson.h"

#include <QJsonDocument>
#include <QHttpServerResponder>
#include <QTcpSocket>

#include <openssl/rand.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const char *methodName(QHttpServerRequest::Method method)
{
    switch (method) {
    case QHttpServerRequest::Method::Get: return "GET";
    case QHttpServerRequest::Method::Put: return "PUT";
    case QHttpServerRequest::Method::Delete: return "DELETE";
    case QHttpServerRequest::Method::Post: return "POST";
    case QHttpServerRequest::Method::Head: return "HEAD";
    case QHttpServerRequest::Method::Options: return "OPTIONS";
    case QHttpServerRequest::Method::Patch: return "PATCH";
    case QHttpServerRequest::Method::Connect: return "CONNECT";
    case QHttpServerRequest::Method::Trace: return "TRACE";
    default: return "UNKNOWN";
    }
}

bool segmentsMatch(const QStringList &pattern, const QStringList &path, QStringList *captures)
{
    if (pattern.size() != path.size())
        return false;
    QStringList values;
    for (qsizetype i = 0; i < pattern.size(); ++i) {
        if (pattern[i].startsWith(u'{')) {
            if (path[i].isEmpty())
                return false;
            values.append(path[i]);
        } else if (pattern[i] != path[i]) {
            return false;
        }
    }
    if (captures)
        *captures = values;
    return true;
}

// "this route accepts the fields a, b" or "this route accepts no fields".
QString acceptedNames(const QString &kind, const QStringList &names)
{
    if (names.isEmpty())
        return u"this route accepts no %1"_s.arg(kind);
    return u"this route accepts the %1 %2"_s.arg(kind, names.join(u", "_s));
}

QStringList splitPath(const QString &path)
{
    QString trimmed = path;
    while (trimmed.size() > 1 && trimmed.endsWith(u'/'))
        trimmed.chop(1);
    return trimmed.split(u'/');
}

} // namespace

ApiResponse ApiResponse::json(int status, const QJsonObject &object)
{
    ApiResponse response;
    response.status = status;
    response.body = QJsonDocument(object).toJson(QJsonDocument::Compact);
    return response;
}

ApiResponse ApiResponse::error(int status, const QString &code, const QString &message)
{
    return json(status, QJsonObject{{u"error"_s, QJsonObject{{u"code"_s, code},
                                                             {u"message"_s, message}}}});
}

ApiResponse ApiResponse::invalid(const QString &message)
{
    return error(400, u"invalid_field"_s, message);
}

ApiResponse ApiResponse::internal(const Error &error)
{
    logger("backend.api")->error("Storage failed while handling a request: {} ({})",
                                 reasonName(error.reason).toStdString(),
                                 error.message.toStdString());
    return ApiResponse::error(500, u"internal"_s,
                              u"The backend could not complete the request because its storage "
                              "failed; retry later and check the backend's log."_s);
}

QString generateToken(QStringView prefix)
{
    QByteArray random(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char *>(random.data()), int(random.size())) != 1)
        return {};
    const QString text = prefix
        + QString::fromLatin1(random.toBase64(QByteArray::Base64UrlEncoding
                                              | QByteArray::OmitTrailingEquals));
    OPENSSL_cleanse(random.data(), size_t(random.size()));
    return text;
}

HttpApi::HttpApi(Storage &storage, Metrics &metrics, const BackendSettings &settings,
                 QObject *parent)
    : QAbstractHttpServer(parent), m_storage(storage), m_metrics(metrics), m_settings(settings)
{
    using M = Method;
    addRoute(M::Get, u"/healthz"_s, std::nullopt, &HttpApi::handleHealth);
    addRoute(M::Get, u"/readyz"_s, std::nullopt, &HttpApi::handleReady);
    addRoute(M::Get, u"/metrics"_s, std::nullopt, &HttpApi::handleMetrics);
    addRoute(M::Get, u"/api/system/rewrap-coordination-status"_s, Permission::Read,
             &HttpApi::handleCoordinationStatus);

    const QStringList upload{u"statement"_s, u"envelopes"_s};
    addRoute(M::Get, u"/api/credentials"_s, Permission::Read, &HttpApi::handleListCredentials, {},
             {u"include_deleted"_s});
    addRoute(M::Post, u"/api/credentials"_s, Permission::CredentialWrite,
             &HttpApi::handleCreateCredential, upload);
    addRoute(M::Get, u"/api/credentials/{id}"_s, Permission::Read, &HttpApi::handleGetCredential);
    addRoute(M::Post, u"/api/credentials/{id}/rotate"_s, Permission::CredentialWrite,
             &HttpApi::handleRotateCredential, upload);
    addRoute(M::Post, u"/api/credentials/{id}/scope"_s, Permission::CredentialWrite,
             &HttpApi::handleChangeScope, upload);
    addRoute(M::Post, u"/api/credentials/{id}/delete"_s, Permission::CredentialWrite,
             &HttpApi::handleDeleteCredential, upload);
    addRoute(M::Post, u"/api/credentials/{id}/retry"_s, Permission::CredentialRetry,
             &HttpApi::handleRetryCredential);

    addRoute(M::Get, u"/api/agents"_s, Permission::Read, &HttpApi::handleListAgents, {},
             {u"status"_s});
    addRoute(M::Get, u"/api/agents/enrolment-tokens"_s, Permission::Read,
             &HttpApi::handleListEnrolmentTokens);
    addRoute(M::Post, u"/api/agents/enrolment-tokens"_s, Permission::EnrolmentTokenCreate,
             &HttpApi::handleCreateEnrolmentToken, {u"agent_name"_s, u"ttl_seconds"_s});
    addRoute(M::Post, u"/api/agents/{id}/certificate"_s, Permission::AgentApprove,
             &HttpApi::handleUploadCertificate, {u"certificate"_s});
    addRoute(M::Post, u"/api/agents/{id}/quarantine/clear"_s, Permission::AgentApprove,
             &HttpApi::handleClearQuarantine);
    addRoute(M::Post, u"/api/agents/{id}/revoke"_s, Permission::AgentRevoke,
             &HttpApi::handleRevokeAgent);

    addRoute(M::Get, u"/api/alerts"_s, Permission::Read, &HttpApi::handleListAlerts, {},
             {u"type"_s, u"subject"_s, u"severity"_s, u"acknowledged"_s, u"limit"_s});
    addRoute(M::Post, u"/api/alerts/acknowledge"_s, Permission::AlertAcknowledge,
             &HttpApi::handleAcknowledgeAlerts, {u"ids"_s});

    addRoute(M::Get, u"/api/audit"_s, Permission::Read, &HttpApi::handleListAudit, {},
             {u"credential"_s, u"agent"_s, u"event"_s, u"from"_s, u"to"_s, u"after_id"_s,
              u"limit"_s});
    addRoute(M::Get, u"/api/audit/verify"_s, Permission::Read, &HttpApi::handleVerifyAudit, {},
             {u"known_row_id"_s, u"known_row_hash"_s});

    addRoute(M::Get, u"/api/tokens"_s, Permission::TokenManage, &HttpApi::handleListTokens);
    addRoute(M::Post, u"/api/tokens"_s, Permission::TokenManage, &HttpApi::handleCreateToken,
             {u"role"_s, u"label"_s});
    addRoute(M::Post, u"/api/tokens/{id}/revoke"_s, Permission::TokenManage,
             &HttpApi::handleRevokeToken);
}

void HttpApi::addRoute(Method method, const QString &pattern,
                       std::optional<Permission> permission, Handler handler,
                       const QStringList &bodyFields, const QStringList &queryParameters)
{
    m_routes.append(Route{method, pattern, splitPath(pattern), permission, handler, bodyFields,
                          queryParameters});
}

std::optional<ApiPrincipal> HttpApi::authenticate(QStringView bearerToken)
{
    if (bearerToken.isEmpty())
        return std::nullopt;
    QByteArray tokenBytes = bearerToken.toUtf8();
    const QByteArray hash = sha256(tokenBytes);
    OPENSSL_cleanse(tokenBytes.data(), size_t(tokenBytes.size()));

    auto found = m_storage.apiTokenByHash(hash);
    if (!found) {
        logger("backend.api")->error("Token look-up failed: {}", found.error().message.toStdString());
        return std::nullopt;
    }
    if (!found.value() || found.value()->revokedAt)
        return std::nullopt;
    const ApiTokenRow &row = *found.value();
    return ApiPrincipal{row.orgId, row.tokenId, row.role};
}

bool HttpApi::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    // A WebSocket upgrade on one of the socket paths is left unanswered so
    // QAbstractHttpServer hands the connection to newWebSocketConnection.
    const QString path = request.url().path();
    if (m_webSocketPaths.contains(path)
        && request.value(QByteArrayLiteral("upgrade")).compare("websocket", Qt::CaseInsensitive)
            == 0) {
        return true;
    }

    QString routePattern;
    const ApiResponse response = dispatch(request, routePattern);
    m_metrics.countRequest(routePattern, response.status);
    if (response.status == 429)
        m_metrics.countRateLimited(routePattern);
    writeResponse(request, socket, response);
    return true;
}

void HttpApi::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    writeResponse(request, socket,
                  ApiResponse::error(404, u"not_found"_s,
                                     u"No such route; see docs/api.md for the routes."_s));
}

ApiResponse HttpApi::dispatch(const QHttpServerRequest &request, QString &routePattern)
{
    routePattern = u"unmatched"_s;
    if (m_stopping)
        return ApiResponse::error(503, u"shutting_down"_s,
                                  u"The backend is shutting down; retry on another replica or "
                                  "after it restarts."_s);

    // 1: body size.
    if (request.body().size() > m_settings.maxBodyBytes)
        return ApiResponse::error(413, u"body_too_large"_s,
                                  u"The request body is larger than %1 bytes; send a smaller "
                                  "request."_s.arg(m_settings.maxBodyBytes));

    // 2 and 3: route, then method.
    const QStringList path = splitPath(request.url().path());
    const Route *route = nullptr;
    QStringList captures;
    QStringList allowed;
    for (const Route &candidate : m_routes) {
        QStringList values;
        if (!segmentsMatch(candidate.segments, path, &values))
            continue;
        allowed.append(QString::fromLatin1(methodName(candidate.method)));
        if (candidate.method == request.method() && !route) {
            route = &candidate;
            captures = values;
        }
    }
    if (allowed.isEmpty())
        return ApiResponse::error(404, u"not_found"_s,
                                  u"No route %1 exists; see docs/api.md for the routes."_s.arg(
                                      request.url().path()));
    if (!route) {
        routePattern = m_routes.constFirst().pattern;
        for (const Route &candidate : m_routes) {
            if (segmentsMatch(candidate.segments, path, nullptr)) {
                routePattern = candidate.pattern;
                break;
            }
        }
        ApiResponse response = ApiResponse::error(
            405, u"method_not_allowed"_s,
            u"%1 is not allowed on this route; use %2."_s.arg(
                QString::fromLatin1(methodName(request.method())), allowed.join(u", "_s)));
        response.headers.append({QByteArrayLiteral("Allow"), allowed.join(u", "_s).toLatin1()});
        return response;
    }
    routePattern = route->pattern;

    // 4 and 5: token, then role.
    std::optional<ApiPrincipal> principal;
    if (route->permission) {
        const QByteArray header = request.value(QByteArrayLiteral("authorization"));
        // The scheme name is case-insensitive (RFC 7235, section 2.1).
        const QByteArray prefix = QByteArrayLiteral("bearer ");
        if (header.size() > prefix.size()
            && header.first(prefix.size()).compare(prefix, Qt::CaseInsensitive) == 0)
            principal = authenticate(QString::fromLatin1(header.mid(prefix.size()).trimmed()));
        if (!principal) {
            ApiResponse response = ApiResponse::error(
                401, u"unauthenticated"_s,
                u"A valid bearer token is required; send \"Authorization: Bearer <token>\" "
                "with a token that is not revoked."_s);
            response.headers.append({QByteArrayLiteral("WWW-Authenticate"),
                                     QByteArrayLiteral("Bearer")});
            return response;
        }
        if (!roleAllows(principal->role, *route->permission)) {
            logger("backend.api")->warn("Token {} ({}) is not allowed {} {}",
                                        principal->tokenId.toStdString(),
                                        apiRoleName(principal->role).toStdString(),
                                        methodName(request.method()),
                                        route->pattern.toStdString());
            return ApiResponse::error(403, u"forbidden"_s,
                                      u"The %1 role may not do this; ask an admin for a token "
                                      "with a role that may."_s.arg(apiRoleName(principal->role)));
        }
    }

    // 6: the body must be one strict JSON object.
    QJsonObject body;
    if (!request.body().isEmpty()) {
        auto parsed = parseJsonStrict(request.body());
        if (!parsed)
            return ApiResponse::error(400, u"invalid_json"_s,
                                      u"The body is not valid JSON (%1); send one JSON object "
                                      "without duplicate keys."_s.arg(parsed.error().message));
        if (!parsed.value().isObject())
            return ApiResponse::error(400, u"invalid_json"_s,
                                      u"The body must be a JSON object."_s);
        body = parsed.value().toObject();
    }
    // A misspelt field or parameter would otherwise fall back to its default
    // without notice.
    for (const QString &field : body.keys()) {
        if (!route->bodyFields.contains(field))
            return ApiResponse::invalid(u"Unknown field \"%1\" in the request body; %2."_s.arg(
                field, acceptedNames(u"fields"_s, route->bodyFields)));
    }
    for (const auto &item : request.query().queryItems(QUrl::FullyDecoded)) {
        if (!route->queryParameters.contains(item.first))
            return ApiResponse::invalid(u"Unknown query parameter \"%1\"; %2."_s.arg(
                item.first, acceptedNames(u"query parameters"_s, route->queryParameters)));
    }

    const ApiRequest apiRequest{request, principal, captures, body, request.query()};
    return (this->*(route->handler))(apiRequest);
}

void HttpApi::writeResponse(const QHttpServerRequest &request, QTcpSocket *socket,
                            const ApiResponse &response)
{
    QHttpServerResponder responder = makeResponder(request, socket);
    responder.writeStatusLine(static_cast<QHttpServerResponder::StatusCode>(response.status));
    responder.writeHeader(QByteArrayLiteral("Content-Type"), response.contentType);
    responder.writeHeader(QByteArrayLiteral("Content-Length"),
                          QByteArray::number(response.body.size()));
    responder.writeHeader(QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-store"));
    for (const auto &header : response.headers)
        responder.writeHeader(header.first, header.second);
    responder.writeBody(response.body);

    // Paths carry ids but never tokens; bodies are not logged.
    auto log = logger("backend.api");
    const spdlog::level::level_enum level = response.status >= 500 ? spdlog::level::err
        : response.status >= 400                                    ? spdlog::level::info
                                                                    : spdlog::level::debug;
    log->log(level, "{} {} from {} -> {}", methodName(request.method()),
             request.url().path().toStdString(),
             request.remoteAddress().toString().toStdString(), response.status);
}

Result<void> HttpApi::audit(const ApiRequest &request, const QString &event,
                            std::optional<QString> credentialId, std::optional<QString> agentId,
                            const QJsonObject &details)
{
    AuditEntry entry;
    entry.orgId = request.caller().orgId;
    entry.event = event;
    entry.actor = request.actor();
    entry.credentialId = std::move(credentialId);
    entry.agentId = std::move(agentId);
    entry.outcome = u"success"_s;
    if (!details.isEmpty()) {
        auto text = canonicalJson(details);
        if (text)
            entry.details = QString::fromUtf8(text.value());
    }
    auto appended = m_storage.appendAudit(entry);
    if (!appended)
        return appended.error();
    publish(entry.orgId, u"audit_appended"_s, auditRecordJson(appended.value()));
    return {};
}

void HttpApi::publish(const QString &orgId, const QString &eventType, const QJsonObject &data)
{
    if (m_hooks.publishEvent)
        m_hooks.publishEvent(orgId, eventType, data);
}

} // namespace sealrelay::backend
