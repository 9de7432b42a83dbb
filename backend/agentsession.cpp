// One /agent connection: hello, enrolment or challenge authentication, then
// message relay, pings and the silence timeout.
#include "agentsession.h"

#include "agentgateway.h"
#include "digest.h"
#include "ids.h"
#include "keys.h"
#include "logging.h"
#include "statement.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>
#include <QUrl>
#include <QWebSocket>

#include <openssl/rand.h>

#include <cstdlib>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

auto log()
{
    static const auto instance = logger("backend.agents");
    return instance;
}

std::string text(const QString &value)
{
    return value.toStdString();
}

// A close frame carries at most 125 bytes: 2 for the code, 123 for the reason.
constexpr qsizetype kMaxCloseReasonBytes = 123;

// Qt's own limit on an incoming frame and message. A message between
// limits.maxMessageBytes and this cap reaches the session, which replies
// TOO_LARGE and closes with 1009. Qt closes a larger one with 1009 by itself,
// without the error message, so memory stays bounded.
qint64 hardMessageCap(const MessageLimits &limits)
{
    return 2 * static_cast<qint64>(limits.maxMessageBytes) + 4096;
}

WelcomeStatus welcomeStatusOf(AgentStatus status)
{
    switch (status) {
    case AgentStatus::PendingApproval:
        return WelcomeStatus::PendingApproval;
    case AgentStatus::Approved:
        return WelcomeStatus::Approved;
    case AgentStatus::Revoked:
        return WelcomeStatus::Revoked;
    }
    return WelcomeStatus::PendingApproval;
}

// Message types that only the backend sends. An agent must not send them.
bool isBackendToAgentType(const AgentMessage &message)
{
    return std::holds_alternative<Hello>(message) || std::holds_alternative<Welcome>(message)
        || std::holds_alternative<CertificateUpdate>(message)
        || std::holds_alternative<Registered>(message)
        || std::holds_alternative<RewrapRequest>(message)
        || std::holds_alternative<CredentialStore>(message)
        || std::holds_alternative<StatementUpdate>(message)
        || std::holds_alternative<CredentialUnavailable>(message);
}

QString compactJson(const QJsonObject &object)
{
    return QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

std::chrono::milliseconds::rep millisecondsOf(std::chrono::milliseconds value)
{
    return value.count();
}

// Returns 443 for https and wss, 80 for any other scheme.
int defaultPortOf(const QUrl &url)
{
    const QString scheme = url.scheme().toLower();
    return scheme == u"https"_s || scheme == u"wss"_s ? 443 : 80;
}

// Returns `origin` in the form an agent signs the origin it dialled: scheme
// and host in lowercase, and the port even when it is the scheme's default.
// So a configured https://backend.example becomes https://backend.example:443.
QString canonicalOrigin(const QString &origin)
{
    const QUrl url(origin);
    if (!url.isValid() || url.host().isEmpty()) {
        return origin;
    }
    QString host = url.host().toLower();
    if (host.contains(u':')) {
        host = u'[' + host + u']';
    }
    return u"%1://%2:%3"_s.arg(url.scheme().toLower(), host,
                               QString::number(url.port(defaultPortOf(url))));
}

QStringList canonicalOrigins(const QStringList &origins)
{
    QStringList canonical;
    for (const QString &origin : origins) {
        canonical.append(canonicalOrigin(origin));
    }
    return canonical;
}

// Returns the public origin whose host and port the agent's upgrade request
// named, in canonical form, or "" when none does. Hosts compare
// case-insensitively, and a port missing on either side is the default port
// of the origin's scheme. Schemes are not compared, because behind a proxy
// that terminates TLS a wss request arrives as ws.
QString originOfRequest(const QStringList &publicOrigins, const QUrl &requestUrl)
{
    if (requestUrl.host().isEmpty()) {
        return {};
    }
    for (const QString &origin : publicOrigins) {
        const QUrl url(origin);
        const int defaultPort = defaultPortOf(url);
        if (url.host().compare(requestUrl.host(), Qt::CaseInsensitive) == 0
            && url.port(defaultPort) == requestUrl.port(defaultPort)) {
            return canonicalOrigin(origin);
        }
    }
    return {};
}

} // namespace

AgentSession::AgentSession(Storage &storage, const AgentGatewayOptions &options,
                           QWebSocket *socket, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_options(options)
    , m_socket(socket)
    , m_authTimer(new QTimer(this))
    , m_pingTimer(new QTimer(this))
    , m_silenceTimer(new QTimer(this))
{
    m_socket->setParent(this);
    m_socket->setMaxAllowedIncomingMessageSize(hardMessageCap(m_options.limits));
    m_socket->setMaxAllowedIncomingFrameSize(hardMessageCap(m_options.limits));

    m_authTimer->setSingleShot(true);
    m_silenceTimer->setSingleShot(true);
    m_authTimer->setInterval(m_options.authTimeout);
    m_pingTimer->setInterval(m_options.pingInterval);
    m_silenceTimer->setInterval(m_options.silenceTimeout);

    connect(m_authTimer, &QTimer::timeout, this, &AgentSession::onAuthTimeout);
    connect(m_pingTimer, &QTimer::timeout, this, [this] {
        if (m_state != State::Closed) {
            m_socket->ping();
        }
    });
    connect(m_silenceTimer, &QTimer::timeout, this, &AgentSession::onSilence);

    connect(m_socket, &QWebSocket::textFrameReceived, this, &AgentSession::onActivity);
    connect(m_socket, &QWebSocket::binaryFrameReceived, this, &AgentSession::onActivity);
    connect(m_socket, &QWebSocket::pong, this, &AgentSession::onActivity);
    connect(m_socket, &QWebSocket::textMessageReceived, this, &AgentSession::onTextMessage);
    connect(m_socket, &QWebSocket::binaryMessageReceived, this, &AgentSession::onBinaryMessage);
    connect(m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            [this](QAbstractSocket::SocketError) {
                // RemoteHostClosedError is an agent going away, the common case.
                log()->debug("agent connection from {} ({}): {}", text(peerDescription()),
                             text(m_agentId), text(m_socket->errorString()));
            });
    connect(m_socket, &QWebSocket::disconnected, this, [this] {
        m_state = State::Closed;
        m_authTimer->stop();
        m_pingTimer->stop();
        m_silenceTimer->stop();
        Q_EMIT finished();
    });
}

AgentSession::~AgentSession() = default;

void AgentSession::start()
{
    m_nonce = QByteArray(kNonceBytes, Qt::Uninitialized);
    if (RAND_bytes(reinterpret_cast<unsigned char *>(m_nonce.data()), int(m_nonce.size())) != 1) {
        log()->error("OpenSSL RAND_bytes failed to make a hello nonce, so the connection "
                     "from {} is closed",
                     text(peerDescription()));
        m_nonce.clear();
        closeWith(QWebSocketProtocol::CloseCodeBadOperation, u"internal error"_s);
        return;
    }

    Hello hello;
    hello.id = newUuid();
    hello.backendOrigin = helloOrigin();
    hello.nonce = m_nonce;
    hello.serverTime = now();
    send(hello);

    m_authTimer->start();
    m_pingTimer->start();
    m_silenceTimer->start();
}

bool AgentSession::send(const AgentMessage &message)
{
    if (m_state == State::Closed) {
        return false;
    }
    const QByteArray frame = serializeMessage(message);
    const qint64 written = m_socket->sendTextMessage(QString::fromUtf8(frame));
    // The frame goes to the kernel now, not when the event loop next serves
    // the socket, so the agent starts on it while this thread handles the
    // rest of the messages it read.
    m_socket->flush();
    return written == frame.size();
}

void AgentSession::closeWith(int code, const QString &reason)
{
    if (m_state == State::Closed) {
        return;
    }
    m_state = State::Closed;
    m_authTimer->stop();
    m_pingTimer->stop();
    m_silenceTimer->stop();

    // Shortens the reason until its UTF-8 form fits in the close frame.
    QString cut = reason;
    while (cut.toUtf8().size() > kMaxCloseReasonBytes) {
        cut.chop(1);
    }
    m_socket->close(static_cast<QWebSocketProtocol::CloseCode>(code), cut);
}

void AgentSession::onActivity()
{
    if (m_state != State::Closed) {
        m_silenceTimer->start();
    }
}

void AgentSession::onSilence()
{
    log()->info("closing agent connection from {} ({}): no frame or pong for {} ms",
                text(peerDescription()), text(m_agentId),
                millisecondsOf(m_options.silenceTimeout));
    closeWith(QWebSocketProtocol::CloseCodeGoingAway, u"no frame or pong within the silence timeout"_s);
    // A silent peer may never complete the closing handshake.
    m_socket->abort();
}

void AgentSession::onAuthTimeout()
{
    if (m_state != State::AwaitingAuthentication) {
        return;
    }
    log()->info("closing agent connection from {}: no enrol or authenticate within {} ms",
                text(peerDescription()), millisecondsOf(m_options.authTimeout));
    sendError(QString(), Reason::Unauthenticated,
              u"no enrol or authenticate message within %1 ms of hello"_s.arg(
                  millisecondsOf(m_options.authTimeout)));
    closeWith(kCloseUnauthenticated, u"authentication timed out"_s);
}

void AgentSession::onBinaryMessage()
{
    if (m_state == State::Closed) {
        return;
    }
    sendError(QString(), Reason::InvalidMessage,
              u"binary frames are not accepted. Send each message as a JSON text frame"_s);
    if (m_state == State::AwaitingAuthentication) {
        closeWith(kCloseUnauthenticated, u"first message must be enrol or authenticate"_s);
    }
}

void AgentSession::onTextMessage(const QString &textMessage)
{
    if (m_state == State::Closed) {
        return;
    }

    const QByteArray frame = textMessage.toUtf8();
    if (frame.size() > m_options.limits.maxMessageBytes) {
        log()->warn("closing agent connection from {} ({}): message of {} bytes is over the "
                    "limit of {} bytes",
                    text(peerDescription()), text(m_agentId), frame.size(),
                    m_options.limits.maxMessageBytes);
        sendError(QString(), Reason::TooLarge,
                  u"message of %1 bytes is over the limit of %2 bytes"_s.arg(frame.size()).arg(
                      m_options.limits.maxMessageBytes));
        closeWith(QWebSocketProtocol::CloseCodeTooMuchData, u"message too large"_s);
        return;
    }

    Result<AgentMessage> parsed = parseAgentMessage(frame, m_options.limits);
    if (!parsed) {
        const Error &error = parsed.error();
        const Reason code = isErrorCode(error.reason) ? error.reason : Reason::InvalidMessage;
        sendError(readMessageId(frame, m_options.limits), code, error.message);
        if (m_state == State::AwaitingAuthentication) {
            log()->info("closing agent connection from {}: first message rejected ({})",
                        text(peerDescription()), text(reasonName(code)));
            closeWith(kCloseUnauthenticated, u"first message must be enrol or authenticate"_s);
        } else {
            log()->warn("agent {} sent a message that was rejected with {}: {}", text(m_agentId),
                        text(reasonName(code)), text(error.message));
            // A peer's response that cannot be parsed still ends its dispatch.
            const QJsonObject object = QJsonDocument::fromJson(frame).object();
            const QString requestId = object.value(u"request_id"_s).toString();
            if (m_agentStatus == AgentStatus::Approved
                && object.value(u"type"_s).toString() == RewrapResponse::type
                && !requestId.isEmpty())
                Q_EMIT malformedRewrapResponse(requestId, error.message);
        }
        return;
    }

    if (m_state == State::AwaitingAuthentication) {
        handleFirstMessage(parsed.value());
    } else {
        handleLiveMessage(parsed.value());
    }
}

void AgentSession::handleFirstMessage(const AgentMessage &message)
{
    m_authTimer->stop();

    if (const auto *enrol = std::get_if<Enrol>(&message)) {
        handleEnrol(*enrol);
        return;
    }
    if (const auto *authenticate = std::get_if<Authenticate>(&message)) {
        handleAuthenticate(*authenticate);
        return;
    }

    log()->info("closing agent connection from {}: first message was {}, not enrol or "
                "authenticate",
                text(peerDescription()), messageType(message).toString().toStdString());
    sendError(messageId(message), Reason::Unauthenticated,
              u"the first message must be enrol or authenticate, not %1"_s.arg(
                  messageType(message)));
    closeWith(kCloseUnauthenticated, u"first message must be enrol or authenticate"_s);
}

void AgentSession::handleEnrol(const Enrol &enrol)
{
    // The parser checked both keys already. They are checked again here
    // because they go into storage and, once certified, into envelopes.
    if (const auto rsa = RsaPublicKey::fromSpkiDer(enrol.encryptionKey); !rsa) {
        sendError(enrol.id, Reason::InvalidMessage,
                  u"encryption_key is invalid: %1"_s.arg(rsa.error().message));
        closeWith(kCloseUnauthenticated, u"invalid encryption_key"_s);
        return;
    }
    if (const auto identity = Ed25519PublicKey::fromRaw(enrol.identityKey); !identity) {
        sendError(enrol.id, Reason::InvalidMessage,
                  u"identity_key is invalid: %1"_s.arg(identity.error().message));
        closeWith(kCloseUnauthenticated, u"invalid identity_key"_s);
        return;
    }

    const Result<EnrolmentConsumption> consumption = m_storage.consumeEnrolmentToken(
        sha256(enrol.enrolmentToken.toUtf8()), enrol.agentName, enrol.agentId);
    if (!consumption) {
        failInternally(enrol.id, consumption.error());
        return;
    }

    const std::optional<EnrolmentTokenRow> &token = consumption->token;
    switch (consumption->outcome) {
    case EnrolmentOutcome::Consumed:
        break;
    case EnrolmentOutcome::Unknown:
        log()->warn("enrolment of agent {} ({}) from {} rejected: unknown enrolment token",
                    text(enrol.agentId), text(enrol.agentName), text(peerDescription()));
        sendError(enrol.id, Reason::Unauthenticated,
                  u"the enrolment token is not valid. Ask an operator for a new one"_s);
        closeWith(kCloseUnauthenticated, u"invalid enrolment token"_s);
        return;
    case EnrolmentOutcome::AlreadyUsed:
    case EnrolmentOutcome::Expired: {
        const bool expired = consumption->outcome == EnrolmentOutcome::Expired;
        const QString reasonCode = expired ? u"token_expired"_s : u"token_already_used"_s;
        AlertRaise alert;
        alert.orgId = token->orgId;
        alert.type = u"enrolment_token_reused"_s;
        alert.severity = AlertSeverity::High;
        alert.subject = u"enrolment_token:"_s + token->tokenId;
        alert.details = compactJson(QJsonObject{
            {u"enrolment_token_id"_s, token->tokenId},
            {u"outcome"_s, expired ? u"expired"_s : u"already_used"_s},
            {u"agent_id"_s, enrol.agentId},
            {u"agent_name"_s, enrol.agentName},
            {u"peer"_s, peerDescription()},
        });
        if (const auto raised = m_storage.raiseAlert(alert); !raised) {
            log()->error("could not raise enrolment_token_reused for token {} in org {}: {}",
                         text(token->tokenId), text(token->orgId), text(raised.error().message));
        } else {
            Q_EMIT alertRaised(raised->alert);
        }
        rejectEnrolment(enrol, token->orgId, reasonCode,
                        expired ? u"the enrolment token has expired. Ask an operator for a new one"_s
                                : u"the enrolment token was already used. Ask an operator for a "
                                  "new one"_s,
                        kCloseUnauthenticated);
        return;
    }
    case EnrolmentOutcome::NameMismatch:
        rejectEnrolment(enrol, token->orgId, u"agent_name_mismatch"_s,
                        u"the enrolment token is bound to another agent name. Enrol with the "
                        "name the token was created for"_s,
                        kCloseForbidden);
        return;
    }

    const QString orgId = token->orgId;
    const Result<std::optional<AgentRow>> existing = m_storage.agent(orgId, enrol.agentId);
    if (!existing) {
        failInternally(enrol.id, existing.error());
        return;
    }
    if (existing.value() && existing.value()->status == AgentStatus::Revoked) {
        rejectEnrolment(enrol, orgId, u"agent_revoked"_s,
                        u"agent %1 is revoked and cannot enrol again. Init a new agent"_s.arg(
                            enrol.agentId),
                        kCloseForbidden);
        return;
    }

    AgentRow row;
    row.orgId = orgId;
    row.agentId = enrol.agentId;
    row.name = enrol.agentName;
    row.status = AgentStatus::PendingApproval;
    row.encryptionKey = enrol.encryptionKey;
    row.identityKey = enrol.identityKey;
    if (const auto stored = m_storage.upsertAgent(row); !stored) {
        failInternally(enrol.id, stored.error());
        return;
    }

    const QString fingerprint =
        agentFingerprint(enrol.agentId, enrol.encryptionKey, enrol.identityKey);
    AuditEntry audit;
    audit.orgId = orgId;
    audit.event = u"agent_enrolled"_s;
    audit.actor = u"agent:"_s + enrol.agentId;
    audit.agentId = enrol.agentId;
    audit.outcome = u"pending_approval"_s;
    audit.details = compactJson(QJsonObject{
        {u"agent_name"_s, enrol.agentName},
        {u"agent_fingerprint"_s, fingerprint},
        {u"enrolment_token_id"_s, token->tokenId},
        {u"rekey"_s, existing.value().has_value()},
    });
    if (const auto appended = m_storage.appendAudit(audit); !appended) {
        failInternally(enrol.id, appended.error());
        return;
    } else {
        Q_EMIT auditAppended(appended.value());
    }

    log()->info("agent {} ({}) enrolled in org {} with fingerprint {} and waits for approval",
                text(enrol.agentId), text(enrol.agentName), text(orgId), text(fingerprint));

    Welcome welcome;
    welcome.id = newUuid();
    welcome.orgId = orgId;
    welcome.agentId = enrol.agentId;
    welcome.status = WelcomeStatus::PendingApproval;
    becomeLive(orgId, enrol.agentId, AgentStatus::PendingApproval);
    send(welcome);
    Q_EMIT live();
}

void AgentSession::handleAuthenticate(const Authenticate &authenticate)
{
    // The nonce is spent by this attempt whatever its outcome.
    const QByteArray expectedNonce = m_nonce;
    m_nonce.clear();

    const Result<QJsonObject> fields = parseStatement(StatementContext::Auth, authenticate.auth.bytes);
    if (!fields) {
        rejectAuthentication(authenticate.id, QString(), QString(), u"invalid_statement"_s,
                             u"auth statement is invalid: %1"_s.arg(fields.error().message),
                             kCloseUnauthenticated);
        return;
    }
    const Result<AuthStatement> statement = AuthStatement::fromFields(fields.value());
    if (!statement) {
        rejectAuthentication(authenticate.id, QString(), QString(), u"invalid_statement"_s,
                             u"auth statement is invalid: %1"_s.arg(statement.error().message),
                             kCloseUnauthenticated);
        return;
    }
    const AuthStatement &auth = statement.value();

    const Result<std::optional<AgentRow>> found = findAgent(auth.orgId, auth.agentId);
    if (!found) {
        failInternally(authenticate.id, found.error());
        return;
    }
    const std::optional<AgentRow> &agent = found.value();
    if (!agent) {
        const auto namedOrg = m_storage.org(auth.orgId);
        const QString auditOrg = namedOrg && namedOrg.value() ? auth.orgId : QString();
        rejectAuthentication(authenticate.id, auditOrg, auth.agentId, u"unknown_agent"_s,
                             u"agent %1 is not enrolled. Enrol it with a new token"_s.arg(
                                 auth.agentId),
                             kCloseUnauthenticated);
        return;
    }

    const auto identityKey = Ed25519PublicKey::fromRaw(agent->identityKey);
    if (!identityKey
        || !verifyStatement(StatementContext::Auth, authenticate.auth, identityKey.value())) {
        rejectAuthentication(authenticate.id, agent->orgId, agent->agentId, u"bad_signature"_s,
                             u"auth signature does not verify under the identity key stored "
                             "for agent %1"_s.arg(agent->agentId),
                             kCloseUnauthenticated);
        return;
    }

    const QStringList origins = canonicalOrigins(m_options.publicOrigins);
    if (!origins.contains(auth.backendOrigin)) {
        rejectAuthentication(authenticate.id, agent->orgId, agent->agentId, u"wrong_origin"_s,
                             u"backend_origin %1 is not an origin of this backend. Dial %2"_s.arg(
                                 auth.backendOrigin, origins.value(0)),
                             kCloseUnauthenticated);
        return;
    }

    if (expectedNonce.isEmpty() || !constantTimeEquals(auth.nonce, expectedNonce)) {
        rejectAuthentication(authenticate.id, agent->orgId, agent->agentId, u"nonce_mismatch"_s,
                             u"auth nonce is not the nonce of this connection's hello. Sign the "
                             "nonce just received"_s,
                             kCloseUnauthenticated);
        return;
    }

    const QDateTime backendTime = now();
    const qint64 skewMs = std::llabs(auth.issuedAt.msecsTo(backendTime));
    const qint64 maxSkewMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_options.authClockSkew).count();
    if (skewMs > maxSkewMs) {
        rejectAuthentication(authenticate.id, agent->orgId, agent->agentId, u"clock_skew"_s,
                             u"auth issued_at %1 is %2 ms from the backend's time %3, over the "
                             "limit of %4 ms. Correct the agent's clock"_s.arg(
                                 formatTimestamp(auth.issuedAt), QString::number(skewMs),
                                 formatTimestamp(backendTime), QString::number(maxSkewMs)),
                             kCloseUnauthenticated);
        return;
    }

    if (agent->orgId != auth.orgId) {
        rejectAuthentication(authenticate.id, agent->orgId, agent->agentId, u"wrong_org"_s,
                             u"agent %1 does not belong to org %2"_s.arg(agent->agentId,
                                                                         auth.orgId),
                             kCloseForbidden);
        return;
    }
    if (agent->status == AgentStatus::Revoked) {
        rejectAuthentication(authenticate.id, agent->orgId, agent->agentId, u"revoked"_s,
                             u"agent %1 is revoked"_s.arg(agent->agentId), kCloseForbidden);
        return;
    }

    if (const auto touched = m_storage.touchAgent(agent->orgId, agent->agentId); !touched) {
        log()->error("could not record last_seen of agent {}: {}", text(agent->agentId),
                     text(touched.error().message));
    }

    Welcome welcome;
    welcome.id = newUuid();
    welcome.orgId = agent->orgId;
    welcome.agentId = agent->agentId;
    welcome.status = welcomeStatusOf(agent->status);
    if (agent->status == AgentStatus::Approved && agent->certificateStatement
        && agent->certificateSignature) {
        welcome.certificate = SignedStatement{*agent->certificateStatement,
                                              *agent->certificateSignature};
    }

    log()->info("agent {} of org {} authenticated from {} (status {}, generation {})",
                text(agent->agentId), text(agent->orgId), text(peerDescription()),
                text(agentStatusName(agent->status)), agent->generation);
    becomeLive(agent->orgId, agent->agentId, agent->status);
    send(welcome);
    Q_EMIT live();
}

Result<std::optional<AgentRow>> AgentSession::findAgent(const QString &orgId,
                                                       const QString &agentId)
{
    const auto inNamedOrg = m_storage.agent(orgId, agentId);
    if (!inNamedOrg || inNamedOrg.value()) {
        return inNamedOrg;
    }

    const auto orgs = m_storage.orgs();
    if (!orgs) {
        return orgs.error();
    }
    for (const OrgRow &org : orgs.value()) {
        if (org.orgId == orgId) {
            continue;
        }
        const auto inOtherOrg = m_storage.agent(org.orgId, agentId);
        if (!inOtherOrg || inOtherOrg.value()) {
            return inOtherOrg;
        }
    }
    return std::optional<AgentRow>();
}

void AgentSession::handleLiveMessage(const AgentMessage &message)
{
    if (std::holds_alternative<Enrol>(message) || std::holds_alternative<Authenticate>(message)) {
        sendError(messageId(message), Reason::InvalidMessage,
                  u"this connection is already authenticated as agent %1"_s.arg(m_agentId));
        return;
    }
    if (isBackendToAgentType(message)) {
        sendError(messageId(message), Reason::InvalidMessage,
                  u"%1 is sent by the backend only"_s.arg(messageType(message)));
        return;
    }
    if (const auto *error = std::get_if<ErrorMessage>(&message)) {
        log()->warn("agent {} replied error {} to message {}: {}", text(m_agentId),
                    text(reasonName(error->code)), text(error->inReplyTo), text(error->message));
    }
    if (m_agentStatus != AgentStatus::Approved) {
        if (!std::holds_alternative<ErrorMessage>(message)) {
            sendError(messageId(message), Reason::Forbidden,
                      u"agent %1 is pending approval. Wait for certificate_update"_s.arg(
                          m_agentId));
        }
        return;
    }
    Q_EMIT messageReceived(message);
}

void AgentSession::rejectAuthentication(const QString &inReplyTo, const QString &auditOrgId,
                                        const QString &agentId, const QString &reasonCode,
                                        const QString &message, int closeCode)
{
    // NOTE: failed attempts are not rate-limited. Each one writes an audit
    // row in an existing org and a log line.
    log()->warn("authentication of agent {} from {} rejected ({}, close {}): {}",
                text(agentId.isEmpty() ? u"(unknown)"_s : agentId), text(peerDescription()),
                text(reasonCode), closeCode, text(message));

    if (!auditOrgId.isEmpty()) {
        AuditEntry audit;
        audit.orgId = auditOrgId;
        audit.event = u"agent_auth_failed"_s;
        audit.actor = agentId.isEmpty() ? u"backend"_s : u"agent:"_s + agentId;
        if (!agentId.isEmpty()) {
            audit.agentId = agentId;
        }
        audit.outcome = u"rejected"_s;
        audit.reason = reasonCode;
        audit.details = compactJson(QJsonObject{
            {u"message"_s, message},
            {u"close_code"_s, closeCode},
            {u"peer"_s, peerDescription()},
        });
        if (const auto appended = m_storage.appendAudit(audit); !appended) {
            log()->error("could not audit the rejected authentication of agent {}: {}",
                         text(agentId), text(appended.error().message));
        } else {
            Q_EMIT auditAppended(appended.value());
        }
    }

    sendError(inReplyTo,
              closeCode == kCloseForbidden ? Reason::Forbidden : Reason::Unauthenticated, message);
    closeWith(closeCode, reasonCode);
}

void AgentSession::rejectEnrolment(const Enrol &enrol, const QString &orgId,
                                   const QString &reasonCode, const QString &message,
                                   int closeCode)
{
    log()->warn("enrolment of agent {} ({}) in org {} from {} rejected ({}, close {})",
                text(enrol.agentId), text(enrol.agentName), text(orgId), text(peerDescription()),
                text(reasonCode), closeCode);

    AuditEntry audit;
    audit.orgId = orgId;
    audit.event = u"agent_enrol_failed"_s;
    audit.actor = u"agent:"_s + enrol.agentId;
    audit.agentId = enrol.agentId;
    audit.outcome = u"rejected"_s;
    audit.reason = reasonCode;
    audit.details = compactJson(QJsonObject{
        {u"agent_name"_s, enrol.agentName},
        {u"close_code"_s, closeCode},
        {u"peer"_s, peerDescription()},
    });
    if (const auto appended = m_storage.appendAudit(audit); !appended) {
        log()->error("could not audit the rejected enrolment of agent {}: {}", text(enrol.agentId),
                     text(appended.error().message));
    } else {
        Q_EMIT auditAppended(appended.value());
    }

    sendError(enrol.id, closeCode == kCloseForbidden ? Reason::Forbidden : Reason::Unauthenticated,
              message);
    closeWith(closeCode, reasonCode);
}

void AgentSession::becomeLive(const QString &orgId, const QString &agentId, AgentStatus status)
{
    m_orgId = orgId;
    m_agentId = agentId;
    m_agentStatus = status;
    m_state = State::Live;
    // last_seen records when the agent last connected, for operators.
    if (auto touched = m_storage.touchAgent(orgId, agentId); !touched)
        log()->warn("cannot record last_seen of agent {}: {}", text(agentId),
                    text(touched.error().message));
}

void AgentSession::sendError(const QString &inReplyTo, Reason code, const QString &message)
{
    send(makeErrorReply(inReplyTo, code, message));
}

void AgentSession::failInternally(const QString &inReplyTo, const Error &error)
{
    log()->error("closing agent connection from {} ({}) after a storage failure: {}",
                 text(peerDescription()), text(m_agentId), text(error.message));
    sendError(inReplyTo, Reason::Internal, u"internal error. Try again later"_s);
    closeWith(QWebSocketProtocol::CloseCodeBadOperation, u"internal error"_s);
}

QDateTime AgentSession::now() const
{
    return m_options.clock ? m_options.clock() : QDateTime::currentDateTimeUtc();
}

QString AgentSession::helloOrigin() const
{
    // Qt 6.4 fills the request URL's host and port from the Host header of
    // the upgrade request.
    const QUrl requestUrl = m_socket->requestUrl();
    const QString matched = originOfRequest(m_options.publicOrigins, requestUrl);
    if (!matched.isEmpty()) {
        return matched;
    }
    const QString first = canonicalOrigin(m_options.publicOrigins.value(0));
    if (m_options.publicOrigins.size() > 1) {
        log()->warn("agent connection from {} dialled {}, which no public origin names, so hello "
                    "announces {}. An agent that dialled another public origin rejects this "
                    "hello. List the origin agents dial in public_origin",
                    text(peerDescription()), text(requestUrl.authority()), text(first));
    }
    return first;
}

QString AgentSession::peerDescription() const
{
    return m_socket->peerAddress().toString() + u':' + QString::number(m_socket->peerPort());
}

} // namespace sealrelay::backend
