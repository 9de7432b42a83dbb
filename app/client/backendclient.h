// REST client of the operator tools for the backend's /api routes: a base URL
// and a bearer token, JSON in and out, a timeout on every request, and API
// errors ({"error": {"code", "message"}}) as typed failures.
#pragma once

#include "error.h"

#include <QJsonObject>
#include <QList>
#include <QNetworkAccessManager>
#include <QObject>
#include <QSslCertificate>
#include <QString>
#include <QUrl>
#include <QUrlQuery>

#include <chrono>
#include <functional>
#include <optional>
#include <variant>

namespace sealrelay::client {

// A response with a 2xx status.
struct ApiReply {
    int status = 0;
    QJsonObject json;
};

// A failed request: an API error response, a transport failure or a timeout.
struct ApiError {
    int status = 0; // HTTP status; 0 when no response arrived
    QString code; // the API's code ("version_conflict"), or "network_error",
                  // "timeout", "invalid_response", "invalid_url", "insecure_url"
    QString message; // the API's sentence, or what failed in transport
    Reason reason = Reason::Internal;
    QString method;
    QString path;

    // The failure as a core Error: "POST /api/credentials returned 409
    // version_conflict: <message>".
    Error toError() const;
};

class [[nodiscard]] ApiResult {
public:
    ApiResult(ApiReply reply)
        : m_state(std::move(reply))
    {
    }
    ApiResult(ApiError error)
        : m_state(std::move(error))
    {
    }

    bool ok() const { return m_state.index() == 0; }
    explicit operator bool() const { return ok(); }
    const ApiReply &value() const
    {
        Q_ASSERT(ok());
        return std::get<0>(m_state);
    }
    const ApiReply *operator->() const { return &value(); }
    const ApiError &error() const
    {
        Q_ASSERT(!ok());
        return std::get<1>(m_state);
    }

private:
    std::variant<ApiReply, ApiError> m_state;
};

// Maps an API error code to a Reason. version_conflict and conflict map to
// StaleStatement, shutting_down to BackendBusy, invalid_json and
// invalid_field to InvalidMessage, body_too_large to TooLarge. The codes
// unauthenticated, forbidden, rate_limited, not_found and bad_statement map
// to the Reason of the same name, and any other code to Reason::Internal.
Reason reasonForApiCode(QStringView code);

class BackendClient : public QObject {
    Q_OBJECT

public:
    using Callback = std::function<void(const ApiResult &)>;

    // `baseUrl` is scheme://host:port. Plain http is accepted only for a
    // loopback host (127.0.0.0/8, ::1, localhost), because the bearer token
    // would otherwise cross the network in clear. A request to any other http
    // URL fails with code "insecure_url" before anything is sent.
    BackendClient(QUrl baseUrl, QString token, QObject *parent = nullptr);

    const QUrl &baseUrl() const { return m_baseUrl; }
    void setTimeout(std::chrono::milliseconds timeout) { m_timeout = timeout; }
    std::chrono::milliseconds timeout() const { return m_timeout; }
    // Extra CA certificates trusted for https besides the system's, for a
    // backend with a private CA.
    void setCaCertificates(const QList<QSslCertificate> &certificates);
    const QList<QSslCertificate> &caCertificates() const { return m_caCertificates; }

    // Synchronous calls for the command line: they run a local event loop
    // until the reply or the timeout. A POST with an empty object sends no
    // body.
    ApiResult get(const QString &path, const QUrlQuery &query = {});
    ApiResult post(const QString &path, const QJsonObject &body = {});

    // Asynchronous calls for the console: `callback` runs on this object's
    // thread once, unless `context` is destroyed first.
    void getAsync(const QString &path, const QUrlQuery &query, QObject *context, Callback callback);
    void postAsync(const QString &path, const QJsonObject &body, QObject *context,
                   Callback callback);

private:
    QNetworkReply *send(const QByteArray &method, const QString &path, const QUrlQuery &query,
                        const QJsonObject &body);
    ApiResult finish(QNetworkReply *reply, const QByteArray &method, const QString &path) const;
    std::optional<ApiError> checkUrl(const QByteArray &method, const QString &path) const;

    QUrl m_baseUrl;
    QString m_token;
    std::chrono::milliseconds m_timeout = std::chrono::seconds(30);
    QList<QSslCertificate> m_caCertificates;
    QNetworkAccessManager m_network;
};

} // namespace sealrelay::client
