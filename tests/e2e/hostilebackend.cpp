// The compromised backend of the e2e suites: hello, enrolment, approval and
// registration as a real backend does them, and a queue of every other
// message the agents send.
#include "hostilebackend.h"

#include "ids.h"
#include "payload.h"

#include <QDeadlineTimer>
#include <QTest>
#include <QWebSocket>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::e2etest {

QString referenceOf(const AgentMessage &message)
{
    if (const auto *stored = std::get_if<CredentialStored>(&message))
        return stored->deliveryId;
    if (const auto *failure = std::get_if<CredentialIntegrityFailure>(&message))
        return failure->deliveryId;
    if (const auto *applied = std::get_if<StatementApplied>(&message))
        return applied->deliveryId;
    if (const auto *response = std::get_if<RewrapResponse>(&message))
        return response->requestId;
    if (const auto *refused = std::get_if<RewrapRefused>(&message))
        return refused->requestId;
    if (const auto *error = std::get_if<ErrorMessage>(&message))
        return error->inReplyTo;
    return {};
}

HostileBackend::HostileBackend(QString orgId, QObject *parent)
    : QObject(parent)
    , m_orgId(std::move(orgId))
    , m_server(u"sealrelay-hostile-backend"_s, QWebSocketServer::NonSecureMode)
{
    connect(&m_server, &QWebSocketServer::newConnection, this, &HostileBackend::onNewConnection);
}

HostileBackend::~HostileBackend()
{
    // Sockets close while the members are destroyed; their slots must not run then.
    const QList<QWebSocket *> sockets = findChildren<QWebSocket *>();
    for (QWebSocket *socket : sockets)
        socket->disconnect(this);
    m_server.close();
}

bool HostileBackend::listen()
{
    return m_server.listen(QHostAddress::LocalHost, 0);
}

QString HostileBackend::origin() const
{
    return u"http://127.0.0.1:%1"_s.arg(port());
}

void HostileBackend::onNewConnection()
{
    while (QWebSocket *socket = m_server.nextPendingConnection()) {
        socket->setParent(this);
        connect(socket, &QWebSocket::textMessageReceived, this,
                [this, socket](const QString &text) { onFrame(socket, text); });
        connect(socket, &QWebSocket::disconnected, this, [this, socket] {
            if (m_unidentifiedMessages.contains(socket))
                m_unidentified.append({ m_hellos.value(socket), int(socket->closeCode()),
                                        m_unidentifiedMessages.take(socket) });
            m_hellos.remove(socket);
            for (auto it = m_sockets.begin(); it != m_sockets.end();) {
                if (it.value() == socket)
                    it = m_sockets.erase(it);
                else
                    ++it;
            }
            socket->deleteLater();
        });

        Hello hello;
        hello.id = newUuid();
        hello.backendOrigin = origin();
        // Sixteen of the salt generator's random bytes, as a real nonce.
        hello.nonce = generateSalt().left(kNonceBytes);
        hello.serverTime = QDateTime::currentDateTimeUtc();
        if (m_relayedHello) {
            hello.backendOrigin = m_relayedHello->backendOrigin;
            hello.nonce = m_relayedHello->nonce;
            hello.serverTime = m_relayedHello->serverTime;
        }
        m_hellos.insert(socket, hello);
        m_unidentifiedMessages.insert(socket, {});
        sendFrame(socket, hello);
        for (const AgentMessage &message : std::as_const(m_messagesAfterHello))
            sendFrame(socket, message);
    }
}

void HostileBackend::onFrame(QWebSocket *socket, const QString &text)
{
    Result<AgentMessage> parsed = parseAgentMessage(text.toUtf8());
    if (!parsed) {
        qWarning("hostile backend: an agent sent a frame that does not parse: %s",
                 qPrintable(parsed.error().message));
        return;
    }
    const AgentMessage &message = parsed.value();
    if (const auto unidentified = m_unidentifiedMessages.find(socket);
        unidentified != m_unidentifiedMessages.end()) {
        if (std::holds_alternative<Enrol>(message) || std::holds_alternative<Authenticate>(message))
            m_unidentifiedMessages.erase(unidentified);
        else
            unidentified->append(message);
    }

    if (const auto *enrol = std::get_if<Enrol>(&message)) {
        m_enrolments.insert(enrol->agentName, *enrol);
        m_sockets.insert(enrol->agentId, socket);
        const auto certificate = m_certificates.constFind(enrol->agentId);
        sendWelcome(socket, enrol->agentId,
                    certificate == m_certificates.constEnd() ? WelcomeStatus::PendingApproval
                                                             : WelcomeStatus::Approved);
        return;
    }
    if (const auto *authenticate = std::get_if<Authenticate>(&message)) {
        Result<QJsonObject> fields =
            parseStatement(StatementContext::Auth, authenticate->auth.bytes);
        Result<AuthStatement> auth = fields ? AuthStatement::fromFields(fields.value())
                                            : Result<AuthStatement>(fields.error());
        if (!auth) {
            qWarning("hostile backend: an auth statement does not parse: %s",
                     qPrintable(auth.error().message));
            return;
        }
        m_authentications.append({ auth->agentId, m_hellos.value(socket), authenticate->auth });
        m_sockets.insert(auth->agentId, socket);
        sendWelcome(socket, auth->agentId,
                    m_certificates.contains(auth->agentId) ? WelcomeStatus::Approved
                                                           : WelcomeStatus::PendingApproval);
        return;
    }

    const QString agentId = m_sockets.key(socket);
    if (agentId.isEmpty()) {
        qWarning("hostile backend: %s from a connection that did not enrol or authenticate",
                 messageType(message).data());
        return;
    }
    if (std::holds_alternative<Register>(message)) {
        m_registrations[agentId] += 1;
        sendFrame(socket, Registered { newUuid(), 0 });
    } else if (const auto *missing = std::get_if<CredentialMissing>(&message)) {
        // No peer is offered, so `get` ends at once with "none".
        CredentialUnavailable reply;
        reply.id = newUuid();
        reply.requestId = missing->requestId;
        reply.credentialId = missing->credentialId;
        reply.reason = Reason::NoEligiblePeer;
        sendFrame(socket, reply);
    }
    m_queues[agentId].append(message);
}

void HostileBackend::sendFrame(QWebSocket *socket, const AgentMessage &message)
{
    socket->sendTextMessage(QString::fromUtf8(serializeMessage(message)));
}

void HostileBackend::sendWelcome(QWebSocket *socket, const QString &agentId, WelcomeStatus status)
{
    Welcome welcome;
    welcome.id = newUuid();
    welcome.orgId = m_orgId;
    welcome.agentId = agentId;
    welcome.status = status;
    if (status == WelcomeStatus::Approved)
        welcome.certificate = m_certificates.value(agentId);
    sendFrame(socket, welcome);
}

std::optional<Enrol> HostileBackend::waitForEnrol(const QString &name, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!m_enrolments.contains(name) && !deadline.hasExpired())
        QTest::qWait(20);
    if (!m_enrolments.contains(name))
        return std::nullopt;
    return m_enrolments.value(name);
}

bool HostileBackend::approve(const QString &agentId, const SignedStatement &certificate)
{
    m_certificates.insert(agentId, certificate);
    return send(agentId, CertificateUpdate { newUuid(), certificate });
}

void HostileBackend::disconnectAgent(const QString &agentId)
{
    if (QWebSocket *socket = m_sockets.value(agentId))
        socket->close(QWebSocketProtocol::CloseCodeNormal, u"closed by the test"_s);
}

bool HostileBackend::isConnected(const QString &agentId) const
{
    const QWebSocket *socket = m_sockets.value(agentId);
    return socket && socket->state() == QAbstractSocket::ConnectedState;
}

bool HostileBackend::send(const QString &agentId, const AgentMessage &message)
{
    QWebSocket *socket = m_sockets.value(agentId);
    if (!socket || socket->state() != QAbstractSocket::ConnectedState)
        return false;
    const QByteArray frame = serializeMessage(message);
    return socket->sendTextMessage(QString::fromUtf8(frame)) == frame.size();
}

std::optional<AgentMessage>
HostileBackend::waitFor(const QString &agentId,
                        const std::function<bool(const AgentMessage &)> &matches, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        QList<AgentMessage> &queue = m_queues[agentId];
        for (qsizetype i = 0; i < queue.size(); ++i) {
            if (matches(queue.at(i)))
                return queue.takeAt(i);
        }
        if (deadline.hasExpired())
            return std::nullopt;
        QTest::qWait(20);
    }
}

std::optional<AgentMessage> HostileBackend::waitFor(const QString &agentId, QLatin1StringView type,
                                                    int timeoutMs)
{
    return waitFor(
        agentId, [type](const AgentMessage &message) { return messageType(message) == type; },
        timeoutMs);
}

std::optional<AgentMessage> HostileBackend::waitForReply(const QString &agentId,
                                                         const AgentMessage &sent, int timeoutMs)
{
    QString reference;
    if (const auto *store = std::get_if<CredentialStore>(&sent))
        reference = store->deliveryId;
    else if (const auto *update = std::get_if<StatementUpdate>(&sent))
        reference = update->deliveryId;
    else if (const auto *rewrap = std::get_if<RewrapRequest>(&sent))
        reference = rewrap->requestId;
    const QString sentId = messageId(sent);
    return waitFor(
        agentId,
        [&](const AgentMessage &message) {
            const QString replyReference = referenceOf(message);
            if (std::holds_alternative<ErrorMessage>(message))
                return replyReference == sentId;
            return !reference.isEmpty() && replyReference == reference;
        },
        timeoutMs);
}

} // namespace sealrelay::e2etest
