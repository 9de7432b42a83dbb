// QNetworkAccessManager requests with a transfer timeout; replies are parsed
// with the strict JSON reader, because the backend is not trusted to send
// well-formed JSON.
#include "backendclient.h"

#include "canonicaljson.h"

#include <QEventLoop>
#include <QHostAddress>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QSslConfiguration>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

// Replies larger than this are not read; GET /api/credentials of a large org
// stays far below it.
constexpr qint64 kMaxReplyBytes = 256 * 1024 * 1024;

bool isLoopbackHost(const QString &host)
{
    if (host == "localhost"_L1)
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

ApiError transportError(const QByteArray &method, const QString &path, QString code,
                        QString message, Reason reason, int status = 0)
{
    ApiError error;
    error.status = status;
    error.code = std::move(code);
    error.message = std::move(message);
    error.reason = reason;
    error.method = QString::fromLatin1(method);
    error.path = path;
    return error;
}

} // namespace

Error ApiError::toError() const
{
    if (status == 0)
        return makeError(reason, u"%1 %2 failed (%3): %4"_s.arg(method, path, code, message));
    return makeError(
        reason,
        u"%1 %2 returned %3 %4: %5"_s.arg(method, path, QString::number(status), code, message));
}

Reason reasonForApiCode(QStringView code)
{
    if (code == u"unauthenticated")
        return Reason::Unauthenticated;
    if (code == u"forbidden")
        return Reason::Forbidden;
    if (code == u"rate_limited")
        return Reason::RateLimited;
    if (code == u"not_found")
        return Reason::NotFound;
    if (code == u"bad_statement")
        return Reason::BadStatement;
    if (code == u"invalid_json" || code == u"invalid_field")
        return Reason::InvalidMessage;
    if (code == u"body_too_large")
        return Reason::TooLarge;
    if (code == u"version_conflict" || code == u"conflict")
        return Reason::StaleStatement;
    if (code == u"shutting_down")
        return Reason::BackendBusy;
    return Reason::Internal;
}

BackendClient::BackendClient(QUrl baseUrl, QString token, QObject *parent)
    : QObject(parent)
    , m_baseUrl(std::move(baseUrl))
    , m_token(std::move(token))
{
}

void BackendClient::setCaCertificates(const QList<QSslCertificate> &certificates)
{
    m_caCertificates = certificates;
}

std::optional<ApiError> BackendClient::checkUrl(const QByteArray &method, const QString &path) const
{
    const QString scheme = m_baseUrl.scheme();
    if (!m_baseUrl.isValid() || m_baseUrl.host().isEmpty()
        || (scheme != "http"_L1 && scheme != "https"_L1)) {
        return transportError(method, path, u"invalid_url"_s,
                              u"the backend URL \"%1\" is invalid; expected "
                              u"https://host:port"_s.arg(m_baseUrl.toString()),
                              Reason::Malformed);
    }
    if (scheme == "http"_L1 && !isLoopbackHost(m_baseUrl.host())) {
        return transportError(method, path, u"insecure_url"_s,
                              u"the backend URL %1 uses plain http to a host that is not "
                              u"loopback, which would send the token in clear; use "
                              u"https://"_s.arg(m_baseUrl.toString()),
                              Reason::Forbidden);
    }
    return std::nullopt;
}

QNetworkReply *BackendClient::send(const QByteArray &method, const QString &path,
                                   const QUrlQuery &query, const QJsonObject &body)
{
    QUrl url = m_baseUrl;
    url.setPath(path);
    url.setQuery(query);

    QNetworkRequest request(url);
    request.setRawHeader("Authorization", "Bearer " + m_token.toUtf8());
    request.setRawHeader("Accept", "application/json");
    request.setTransferTimeout(int(m_timeout.count()));
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    if (url.scheme() == "https"_L1 && !m_caCertificates.isEmpty()) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.addCaCertificates(m_caCertificates);
        request.setSslConfiguration(tls);
    }

    if (method == "GET")
        return m_network.get(request);
    QByteArray bytes;
    if (!body.isEmpty()) {
        bytes = QJsonDocument(body).toJson(QJsonDocument::Compact);
        request.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    }
    return m_network.post(request, bytes);
}

ApiResult BackendClient::finish(QNetworkReply *reply, const QByteArray &method,
                                const QString &path) const
{
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (reply->error() == QNetworkReply::OperationCanceledError && status == 0) {
        return transportError(method, path, u"timeout"_s,
                              u"no answer from %1 within %2 ms"_s.arg(
                                  m_baseUrl.toString(), QString::number(m_timeout.count())),
                              Reason::IoError);
    }
    if (status == 0) {
        return transportError(method, path, u"network_error"_s,
                              u"%1 (backend %2)"_s.arg(reply->errorString(), m_baseUrl.toString()),
                              Reason::IoError);
    }
    if (reply->bytesAvailable() > kMaxReplyBytes) {
        return transportError(method, path, u"invalid_response"_s,
                              u"the answer is larger than %1 bytes"_s.arg(kMaxReplyBytes),
                              Reason::TooLarge, status);
    }

    const QByteArray bytes = reply->readAll();
    QJsonObject json;
    if (!bytes.trimmed().isEmpty()) {
        Result<QJsonValue> parsed = parseJsonStrict(bytes);
        if (!parsed || !parsed->isObject()) {
            return transportError(method, path, u"invalid_response"_s,
                                  u"the answer (HTTP %1) is not one JSON object: %2"_s.arg(
                                      QString::number(status),
                                      parsed ? u"another JSON value"_s : parsed.error().message),
                                  Reason::Malformed, status);
        }
        json = parsed->toObject();
    }

    if (status >= 200 && status < 300)
        return ApiReply { status, json };

    const QJsonObject error = json.value(u"error"_s).toObject();
    QString code = error.value(u"code"_s).toString();
    QString message = error.value(u"message"_s).toString();
    if (code.isEmpty())
        code = u"http_%1"_s.arg(status);
    if (message.isEmpty())
        message = u"the backend gave no error message"_s;
    return transportError(method, path, code, message, reasonForApiCode(code), status);
}

ApiResult BackendClient::get(const QString &path, const QUrlQuery &query)
{
    if (std::optional<ApiError> invalid = checkUrl("GET", path))
        return *invalid;
    QNetworkReply *reply = send("GET", path, query, {});
    QEventLoop loop;
    connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    if (!reply->isFinished())
        loop.exec();
    ApiResult result = finish(reply, "GET", path);
    reply->deleteLater();
    return result;
}

ApiResult BackendClient::post(const QString &path, const QJsonObject &body)
{
    if (std::optional<ApiError> invalid = checkUrl("POST", path))
        return *invalid;
    QNetworkReply *reply = send("POST", path, {}, body);
    QEventLoop loop;
    connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    if (!reply->isFinished())
        loop.exec();
    ApiResult result = finish(reply, "POST", path);
    reply->deleteLater();
    return result;
}

void BackendClient::getAsync(const QString &path, const QUrlQuery &query, QObject *context,
                             Callback callback)
{
    if (std::optional<ApiError> invalid = checkUrl("GET", path)) {
        QMetaObject::invokeMethod(
            context, [callback, error = *invalid] { callback(error); }, Qt::QueuedConnection);
        return;
    }
    QNetworkReply *reply = send("GET", path, query, {});
    // The reply is deleted even when `context` is gone before it finishes.
    connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
    connect(reply, &QNetworkReply::finished, context,
            [this, reply, path, callback] { callback(finish(reply, "GET", path)); });
}

void BackendClient::postAsync(const QString &path, const QJsonObject &body, QObject *context,
                              Callback callback)
{
    if (std::optional<ApiError> invalid = checkUrl("POST", path)) {
        QMetaObject::invokeMethod(
            context, [callback, error = *invalid] { callback(error); }, Qt::QueuedConnection);
        return;
    }
    QNetworkReply *reply = send("POST", path, {}, body);
    // The reply is deleted even when `context` is gone before it finishes.
    connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
    connect(reply, &QNetworkReply::finished, context,
            [this, reply, path, callback] { callback(finish(reply, "POST", path)); });
}

} // namespace sealrelay::client
