// The console event feed: bearer-token authentication of the upgrade
// request, the org snapshot, per-org fan-out and the send-buffer cap.
#include "eventfeed.h"

#include "ids.h"
#include "logging.h"
#include "rowjson.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkRequest>
#include <QTimer>
#include <QWebSocket>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

auto log()
{
    static const auto instance = logger("backend.events");
    return instance;
}

std::string text(const QString &value)
{
    return value.toStdString();
}

// Returns the token of an `Authorization: Bearer TOKEN` header, or an empty
// string when the header is missing or uses another scheme.
QString bearerToken(const QNetworkRequest &request)
{
    const QByteArray header = request.rawHeader("Authorization").trimmed();
    constexpr QByteArrayView scheme = "bearer ";
    if (header.size() <= scheme.size()
        || header.first(scheme.size()).toLower() != scheme.toByteArray()) {
        return {};
    }
    return QString::fromLatin1(header.sliced(scheme.size()).trimmed());
}

} // namespace

// One authenticated console connection with its liveness timers.
class EventFeed::Connection : public QObject {
public:
    Connection(QWebSocket *socket, ApiPrincipal principal, QObject *parent)
        : QObject(parent)
        , socket(socket)
        , principal(std::move(principal))
        , pingTimer(new QTimer(this))
        , silenceTimer(new QTimer(this))
    {
        socket->setParent(this);
        silenceTimer->setSingleShot(true);
    }

    QString peer() const
    {
        return socket->peerAddress().toString() + u':' + QString::number(socket->peerPort());
    }

    // Sends a close frame and stops the timers. A socket that does not finish
    // closing within the silence timeout is aborted, which frees whatever is
    // still waiting in its send buffer.
    void closeWith(int code, const QString &reason, std::chrono::milliseconds abortAfter)
    {
        if (closing) {
            return;
        }
        closing = true;
        pingTimer->stop();
        silenceTimer->stop();
        socket->close(static_cast<QWebSocketProtocol::CloseCode>(code), reason);
        QTimer::singleShot(abortAfter, socket, [socket = socket] { socket->abort(); });
    }

    QWebSocket *socket;
    ApiPrincipal principal;
    QTimer *pingTimer;
    QTimer *silenceTimer;
    bool closing = false;
};

EventFeed::EventFeed(Storage &storage, EventFeedOptions options, Authenticator authenticate,
                     QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_options(options)
    , m_authenticate(std::move(authenticate))
{
}

EventFeed::~EventFeed() = default;

void EventFeed::acceptConnection(QWebSocket *socket)
{
    socket->setParent(this);
    socket->setMaxAllowedIncomingMessageSize(m_options.maxIncomingMessageBytes);
    socket->setMaxAllowedIncomingFrameSize(m_options.maxIncomingMessageBytes);
    const QString peer =
        socket->peerAddress().toString() + u':' + QString::number(socket->peerPort());

    const QString token = bearerToken(socket->request());
    const std::optional<ApiPrincipal> principal =
        token.isEmpty() || !m_authenticate ? std::nullopt : m_authenticate(token);
    if (!principal) {
        log()->warn("event feed connection from {} rejected: {}", text(peer),
                    token.isEmpty() ? "no bearer token" : "unknown or revoked token");
        connect(socket, &QWebSocket::disconnected, socket, &QObject::deleteLater);
        socket->close(static_cast<QWebSocketProtocol::CloseCode>(4401),
                      token.isEmpty() ? u"missing bearer token"_s : u"invalid bearer token"_s);
        return;
    }

    auto *connection = new Connection(socket, *principal, this);
    m_connections.insert(principal->orgId, connection);
    log()->info("event feed connection from {} for org {} with token {} ({})", text(peer),
                text(principal->orgId), text(principal->tokenId),
                text(apiRoleName(principal->role)));

    connection->pingTimer->setInterval(m_options.pingInterval);
    connection->silenceTimer->setInterval(m_options.silenceTimeout);
    connect(connection->pingTimer, &QTimer::timeout, connection, [connection] {
        connection->socket->ping();
    });
    connect(connection->silenceTimer, &QTimer::timeout, this, [this, connection] {
        log()->info("closing event feed connection from {}: no frame or pong for {} ms",
                    text(connection->peer()), m_options.silenceTimeout.count());
        removeConnection(connection);
        connection->closeWith(QWebSocketProtocol::CloseCodeGoingAway,
                              u"no frame or pong within the silence timeout"_s,
                              std::chrono::milliseconds(0));
    });
    const auto onActivity = [connection] {
        if (!connection->closing) {
            connection->silenceTimer->start();
        }
    };
    connect(socket, &QWebSocket::pong, connection, onActivity);
    connect(socket, &QWebSocket::textFrameReceived, connection, onActivity);
    connect(socket, &QWebSocket::binaryFrameReceived, connection, onActivity);
    connect(socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), connection,
            [connection](QAbstractSocket::SocketError) {
                log()->debug("event feed connection from {}: {}", text(connection->peer()),
                             text(connection->socket->errorString()));
            });
    connect(socket, &QWebSocket::disconnected, this, [this, connection] {
        removeConnection(connection);
        connection->deleteLater();
    });

    connection->pingTimer->start();
    connection->silenceTimer->start();
    sendSnapshot(connection);
}

void EventFeed::sendSnapshot(Connection *connection)
{
    const QString orgId = connection->principal.orgId;

    const auto credentials = m_storage.credentialDetails(orgId, false);
    const auto agents = m_storage.agents(orgId);
    AlertFilter openAlerts;
    openAlerts.acknowledged = false;
    openAlerts.limit = m_options.snapshotAlertLimit;
    const auto alerts = m_storage.alerts(orgId, openAlerts);
    for (const Error *error : {credentials ? nullptr : &credentials.error(),
                               agents ? nullptr : &agents.error(),
                               alerts ? nullptr : &alerts.error()}) {
        if (error) {
            log()->error("closing event feed connection for org {}: reading the snapshot "
                         "failed: {}",
                         text(orgId), text(error->message));
            removeConnection(connection);
            connection->closeWith(QWebSocketProtocol::CloseCodeBadOperation,
                                  u"internal error while reading the snapshot"_s,
                                  m_options.silenceTimeout);
            return;
        }
    }

    QJsonArray credentialArray;
    for (const CredentialDetail &detail : credentials.value()) {
        credentialArray.append(credentialDetailJson(detail));
    }
    QJsonArray agentArray;
    for (const AgentRow &agent : agents.value()) {
        agentArray.append(m_options.agentJson ? m_options.agentJson(agent) : agentJson(agent));
    }
    QJsonArray alertArray;
    for (const AlertRow &alert : alerts.value()) {
        alertArray.append(alertJson(alert));
    }

    const QJsonObject event{
        {u"type"_s, u"snapshot"_s},
        {u"id"_s, newUuid()},
        {u"org_id"_s, orgId},
        {u"at"_s, formatTimestamp(QDateTime::currentDateTimeUtc())},
        {u"data"_s,
         QJsonObject{{u"credentials"_s, credentialArray},
                     {u"agents"_s, agentArray},
                     {u"alerts"_s, alertArray}}},
    };
    connection->socket->sendTextMessage(
        QString::fromUtf8(QJsonDocument(event).toJson(QJsonDocument::Compact)));
}

void EventFeed::publish(const QString &orgId, const QString &eventType, const QJsonObject &data)
{
    sendToConnections(orgId, eventType, data);
    Q_EMIT published(orgId, eventType, data);
}

void EventFeed::publishFromReplica(const QString &orgId, const QString &eventType,
                                   const QJsonObject &data)
{
    sendToConnections(orgId, eventType, data);
}

void EventFeed::sendToConnections(const QString &orgId, const QString &eventType,
                                  const QJsonObject &data)
{
    const QList<Connection *> targets = m_connections.values(orgId);
    if (targets.isEmpty()) {
        return;
    }

    const QJsonObject event{
        {u"type"_s, eventType},
        {u"id"_s, newUuid()},
        {u"org_id"_s, orgId},
        {u"at"_s, formatTimestamp(QDateTime::currentDateTimeUtc())},
        {u"data"_s, data},
    };
    const QString frame = QString::fromUtf8(QJsonDocument(event).toJson(QJsonDocument::Compact));
    const qint64 frameBytes = frame.toUtf8().size();

    for (Connection *connection : targets) {
        const qint64 queued = connection->socket->bytesToWrite();
        if (queued + frameBytes > m_options.maxQueuedBytes) {
            log()->warn("closing event feed connection from {} for org {}: {} bytes wait in its "
                        "send buffer, and {} more would pass the limit of {} bytes",
                        text(connection->peer()), text(orgId), queued, frameBytes,
                        m_options.maxQueuedBytes);
            removeConnection(connection);
            connection->closeWith(QWebSocketProtocol::CloseCodePolicyViolated,
                                  u"consumer too slow: send buffer over %1 bytes"_s.arg(
                                      m_options.maxQueuedBytes),
                                  m_options.silenceTimeout);
            continue;
        }
        connection->socket->sendTextMessage(frame);
    }
}

void EventFeed::removeConnection(Connection *connection)
{
    m_connections.remove(connection->principal.orgId, connection);
}

int EventFeed::connectedCount() const
{
    return int(m_connections.size());
}

bool EventFeed::hasConnections(const QString &orgId) const
{
    return m_connections.contains(orgId);
}

} // namespace sealrelay::backend
