// The console event feed: bearer-token authentication of the upgrade
// request, the org snapshot, per-org fan-out and the send-buffer cap.
#include "eventfeed.h"

#include "base64.h"
#include "ids.h"
#include "logging.h"
#include "statement.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonValue>
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

QJsonValue timeOrNull(const std::optional<QDateTime> &time)
{
    return time ? QJsonValue(formatTimestamp(*time)) : QJsonValue(QJsonValue::Null);
}

QJsonValue stringOrNull(const std::optional<QString> &value)
{
    return value ? QJsonValue(*value) : QJsonValue(QJsonValue::Null);
}

QJsonValue integerOrNull(const std::optional<qint64> &value)
{
    return value ? QJsonValue(*value) : QJsonValue(QJsonValue::Null);
}

// {statement_b64, signature}, or null when either half is missing.
QJsonValue signedOrNull(const std::optional<QByteArray> &statement,
                        const std::optional<QByteArray> &signature)
{
    if (!statement || !signature) {
        return QJsonValue(QJsonValue::Null);
    }
    return SignedStatement{*statement, *signature}.toJson();
}

// Converts stored JSON text to a JSON value. Text that does not parse is
// passed on as a string rather than dropped.
QJsonValue storedJsonOrNull(const std::optional<QString> &json)
{
    if (!json) {
        return QJsonValue(QJsonValue::Null);
    }
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(json->toUtf8(), &error);
    if (error.error != QJsonParseError::NoError) {
        return QJsonValue(*json);
    }
    return document.isArray() ? QJsonValue(document.array()) : QJsonValue(document.object());
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
        credentialArray.append(credentialEventJson(detail));
    }
    QJsonArray agentArray;
    for (const AgentRow &agent : agents.value()) {
        agentArray.append(agentEventJson(agent));
    }
    QJsonArray alertArray;
    for (const AlertRow &alert : alerts.value()) {
        alertArray.append(alertEventJson(alert));
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

// ---- Payload objects -------------------------------------------------------

QJsonObject deliveryRowEventJson(const CredentialAgentRow &row)
{
    return QJsonObject{
        {u"credential_id"_s, row.credentialId},
        {u"agent_id"_s, row.agentId},
        {u"secret_stored"_s, row.secretStored},
        {u"stored_version"_s, integerOrNull(row.storedVersion)},
        {u"stored_revision"_s, integerOrNull(row.storedRevision)},
        {u"attempts"_s, row.attempts},
        {u"next_attempt_at"_s, formatTimestamp(row.nextAttemptAt)},
        {u"last_error"_s, stringOrNull(row.lastError)},
        {u"stalled"_s, row.stalled},
        {u"receipt"_s, signedOrNull(row.receiptStatement, row.receiptSignature)},
        {u"receipt_at"_s, timeOrNull(row.receiptAt)},
    };
}

QJsonObject credentialEventJson(const CredentialDetail &detail)
{
    const CredentialRow &credential = detail.credential;
    QJsonArray rows;
    for (const CredentialAgentRow &row : detail.agents) {
        rows.append(deliveryRowEventJson(row));
    }
    return QJsonObject{
        {u"credential_id"_s, credential.credentialId},
        {u"name"_s, credential.name},
        {u"kind"_s, credential.kind},
        {u"version"_s, credential.version},
        {u"revision"_s, credential.revision},
        {u"scope"_s, credentialScopeName(credential.scope)},
        {u"scope_agent_ids"_s, QJsonArray::fromStringList(credential.scopeAgentIds)},
        {u"state"_s, credentialStateName(credential.state)},
        {u"statement"_s, SignedStatement{credential.statement, credential.signature}.toJson()},
        {u"statement_sha256"_s, credential.statementSha256},
        {u"created_at"_s, formatTimestamp(credential.createdAt)},
        {u"updated_at"_s, formatTimestamp(credential.updatedAt)},
        {u"agents"_s, rows},
    };
}

QJsonObject agentEventJson(const AgentRow &agent)
{
    return QJsonObject{
        {u"agent_id"_s, agent.agentId},
        {u"name"_s, agent.name},
        {u"status"_s, agentStatusName(agent.status)},
        {u"encryption_key"_s, encodeBase64(agent.encryptionKey)},
        {u"identity_key"_s, encodeBase64(agent.identityKey)},
        {u"agent_fingerprint"_s,
         agentFingerprint(agent.agentId, agent.encryptionKey, agent.identityKey)},
        {u"generation"_s, agent.generation},
        {u"certificate"_s, signedOrNull(agent.certificateStatement, agent.certificateSignature)},
        {u"expires_at"_s, timeOrNull(agent.expiresAt)},
        {u"last_seen"_s, timeOrNull(agent.lastSeen)},
        {u"quarantined"_s, agent.quarantined},
        {u"created_at"_s, formatTimestamp(agent.createdAt)},
    };
}

QJsonObject alertEventJson(const AlertRow &alert)
{
    return QJsonObject{
        {u"alert_id"_s, alert.alertId},
        {u"type"_s, alert.type},
        {u"severity"_s, alertSeverityName(alert.severity)},
        {u"subject"_s, alert.subject},
        {u"details"_s, storedJsonOrNull(alert.details)},
        {u"first_seen"_s, formatTimestamp(alert.firstSeen)},
        {u"last_seen"_s, formatTimestamp(alert.lastSeen)},
        {u"count"_s, alert.count},
        {u"acknowledged_at"_s, timeOrNull(alert.acknowledgedAt)},
        {u"acknowledged_by"_s, stringOrNull(alert.acknowledgedBy)},
    };
}

QJsonObject auditEventJson(const AuditRecord &record)
{
    return QJsonObject{
        {u"id"_s, record.id},
        {u"at"_s, formatTimestamp(record.at)},
        {u"event"_s, record.event},
        {u"actor"_s, record.actor},
        {u"credential_id"_s, stringOrNull(record.credentialId)},
        {u"agent_id"_s, stringOrNull(record.agentId)},
        {u"dispatch_audit_id"_s, stringOrNull(record.dispatchAuditId)},
        {u"outcome"_s, stringOrNull(record.outcome)},
        {u"reason"_s, stringOrNull(record.reason)},
        {u"details"_s, storedJsonOrNull(record.details)},
        {u"prev_hash"_s, record.prevHash},
        {u"row_hash"_s, record.rowHash},
    };
}

} // namespace sealrelay::backend
