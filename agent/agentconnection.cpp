// The agent's WebSocket transport: dialling, framing, liveness and backoff.
#include "agentconnection.h"

#include "cafile.h"
#include "logging.h"

#include <QDateTime>
#include <QFile>
#include <QHostAddress>
#include <QSslCertificate>
#include <QStringList>
#include <QTimer>
#include <QWebSocket>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

std::shared_ptr<spdlog::logger> log()
{
    return logger("agent.connection");
}

std::string text(const QString &value)
{
    return value.toStdString();
}

bool isLoopbackHost(const QString &host)
{
    if (host.compare(u"localhost"_s, Qt::CaseInsensitive) == 0)
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

// Returns whether `error` means that no trusted CA issued the backend's chain.
bool isUntrustedIssuer(QSslError::SslError error)
{
    switch (error) {
    case QSslError::UnableToGetIssuerCertificate:
    case QSslError::UnableToGetLocalIssuerCertificate:
    case QSslError::UnableToVerifyFirstCertificate:
    case QSslError::SelfSignedCertificate:
    case QSslError::SelfSignedCertificateInChain:
    case QSslError::CertificateUntrusted:
    case QSslError::CertificateRejected:
        return true;
    default:
        return false;
    }
}

// Describes what an operator changes to fix the certificate errors of one
// handshake.
QString describeTlsRemedy(const QList<QSslError> &errors, const QUrl &url, bool caFileGiven)
{
    QStringList steps;
    bool otherError = false;
    for (const QSslError &error : errors) {
        if (isUntrustedIssuer(error.error())) {
            steps << (caFileGiven
                          ? u"None of the CA certificates of --backend-ca-file issued the "
                            "backend's certificate. Give the PEM certificate of the CA that did."_s
                          : u"No trusted CA issued the backend's certificate. If the backend uses "
                            "a private CA, give its PEM certificate with --backend-ca-file "
                            "([connection] ca_file, SEALRELAY_CONNECTION_CA_FILE)."_s);
        } else if (error.error() == QSslError::HostNameMismatch) {
            steps << u"The certificate is not issued for %1. Give --backend a host name or "
                     "address that the certificate lists, or reissue the certificate for %1."_s
                         .arg(url.host());
        } else {
            otherError = true;
        }
    }
    if (otherError)
        steps << u"Check the backend's certificate (validity dates, key usage, chain)."_s;
    steps.removeDuplicates();
    return steps.join(u' ');
}

} // namespace

Result<QList<QSslCertificate>> readBackendCaCertificates(const QString &path)
{
    return readCaCertificates(path, u"--backend-ca-file");
}

Result<ConnectionOptions> connectionOptionsFor(const QString &backendUrl)
{
    const QUrl url(backendUrl, QUrl::StrictMode);
    const QString scheme = url.scheme().toLower();
    if (!url.isValid() || url.host().isEmpty())
        return makeError(Reason::Malformed,
                         u"backend URL \"%1\" is invalid. Give one such as "
                         "https://backend.example:8443"_s.arg(backendUrl));
    const bool secure = scheme == u"https"_s || scheme == u"wss"_s;
    const bool plain = scheme == u"http"_s || scheme == u"ws"_s;
    if (!secure && !plain)
        return makeError(Reason::Malformed,
                         u"backend URL \"%1\" has scheme %2; use https or wss"_s.arg(backendUrl,
                                                                                      scheme));
    if (plain && !isLoopbackHost(url.host()))
        return makeError(Reason::Forbidden,
                         u"backend URL \"%1\" is plain %2 to a host that is not loopback. Use "
                         "https or wss, because frames would cross the network unencrypted"_s
                             .arg(backendUrl, scheme));

    const int port = url.port(secure ? 443 : 80);
    QString host = url.host();
    if (host.contains(u':'))
        host = u'[' + host + u']';

    ConnectionOptions options;
    options.origin = u"%1://%2:%3"_s.arg(secure ? u"https"_s : u"http"_s, host,
                                         QString::number(port));
    QUrl socketUrl = url;
    socketUrl.setScheme(secure ? u"wss"_s : u"ws"_s);
    socketUrl.setPort(port);
    if (url.path().isEmpty() || url.path() == u"/"_s)
        socketUrl.setPath(u"/agent"_s);
    options.url = socketUrl;
    return options;
}

AgentConnection::AgentConnection(ConnectionOptions options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
    , m_pingTimer(new QTimer(this))
    , m_silenceTimer(new QTimer(this))
    , m_reconnectTimer(new QTimer(this))
    , m_backoff(m_options.reconnectMin, m_options.reconnectMax)
{
    m_pingTimer->setInterval(m_options.pingInterval);
    m_silenceTimer->setInterval(m_options.silenceTimeout);
    m_silenceTimer->setSingleShot(true);
    m_reconnectTimer->setSingleShot(true);
    m_tlsConfiguration = QSslConfiguration::defaultConfiguration();
    // setCaCertificates() turns off Qt's on-demand loading of the system CA
    // directories, so the system CA certificates are listed explicitly.
    if (!m_options.caCertificates.isEmpty())
        m_tlsConfiguration.setCaCertificates(QSslConfiguration::systemCaCertificates()
                                             + m_options.caCertificates);
    connect(m_pingTimer, &QTimer::timeout, this, [this] {
        if (m_socket)
            m_socket->ping();
    });
    connect(m_silenceTimer, &QTimer::timeout, this, &AgentConnection::onSilence);
    connect(m_reconnectTimer, &QTimer::timeout, this, &AgentConnection::dial);
}

AgentConnection::~AgentConnection()
{
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

void AgentConnection::resetBackoff()
{
    m_failures = 0;
}

bool AgentConnection::isConnected() const
{
    return m_socket && m_socket->state() == QAbstractSocket::ConnectedState;
}

void AgentConnection::start()
{
    m_running = true;
    dial();
}

void AgentConnection::stop()
{
    m_running = false;
    m_reconnectTimer->stop();
    m_pingTimer->stop();
    m_silenceTimer->stop();
    if (m_socket)
        m_socket->close(QWebSocketProtocol::CloseCodeGoingAway, u"agent stopping"_s);
}

void AgentConnection::closeWith(int code, const QString &reason)
{
    if (!m_socket)
        return;
    m_closing = true;
    m_pingTimer->stop();
    m_socket->close(static_cast<QWebSocketProtocol::CloseCode>(code), reason);
}

bool AgentConnection::send(const AgentMessage &message)
{
    if (!isConnected() || m_closing)
        return false;
    const QByteArray frame = serializeMessage(message);
    return m_socket->sendTextMessage(QString::fromUtf8(frame)) == frame.size();
}

void AgentConnection::dial()
{
    if (!m_running)
        return;
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
        m_socket->deleteLater();
    }
    m_closing = false;
    m_opened = false;
    m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    m_socket->setMaxAllowedIncomingMessageSize(quint64(m_options.limits.maxMessageBytes));
    connect(m_socket, &QWebSocket::connected, this, &AgentConnection::onConnected);
    connect(m_socket, &QWebSocket::disconnected, this, &AgentConnection::onDisconnected);
    connect(m_socket, &QWebSocket::textMessageReceived, this, &AgentConnection::onTextMessage);
    connect(m_socket, &QWebSocket::pong, this, &AgentConnection::onActivity);
    connect(m_socket, &QWebSocket::binaryMessageReceived, this, [this] {
        log()->warn("backend sent a binary frame; the /agent protocol uses text frames only");
        onActivity();
    });
    // Qt 6.4 has no errorOccurred signal on QWebSocket.
    connect(m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            &AgentConnection::onSocketError);
    connect(m_socket, &QWebSocket::sslErrors, this, &AgentConnection::onSslErrors);
    if (m_options.url.scheme() == u"wss"_s)
        m_socket->setSslConfiguration(m_tlsConfiguration);
    log()->info("connecting to {}", text(m_options.url.toString()));
    // The silence timer also bounds the opening handshake.
    m_silenceTimer->start();
    m_socket->open(m_options.url);
}

void AgentConnection::onConnected()
{
    log()->info("connected to {}", text(m_options.url.toString()));
    m_opened = true;
    m_pingTimer->start();
    m_silenceTimer->start();
    Q_EMIT connected();
}

void AgentConnection::onDisconnected()
{
    if (!m_socket)
        return;
    const int code = int(m_socket->closeCode());
    const QString reason = m_socket->closeReason();
    // The error handler already logged a dial that failed (refused, TLS
    // rejected), and the close code 1000 of such a dial carries no meaning.
    if (m_opened) {
        // A backend that stops or restarts closes with 1000 or 1001, which
        // is no fault; the agent reconnects either way.
        const bool normal = code == int(QWebSocketProtocol::CloseCodeNormal)
            || code == int(QWebSocketProtocol::CloseCodeGoingAway);
        log()->log(normal ? spdlog::level::info : spdlog::level::warn,
                   "disconnected from {} (close code {}, reason \"{}\")",
                   text(m_options.url.toString()), code, text(reason));
    } else {
        log()->debug("connection attempt to {} ended before the WebSocket handshake",
                     text(m_options.url.toString()));
    }
    dropSocket(code, reason);
}

void AgentConnection::dropSocket(int code, const QString &reason)
{
    QWebSocket *socket = m_socket;
    m_socket = nullptr;
    m_pingTimer->stop();
    m_silenceTimer->stop();
    socket->disconnect(this);
    socket->abort();
    socket->deleteLater();
    Q_EMIT disconnected(code, reason);
    scheduleReconnect();
}

void AgentConnection::onTextMessage(const QString &text)
{
    if (m_closing)
        return;
    onActivity();
    const QByteArray frame = text.toUtf8();
    Result<AgentMessage> message = parseAgentMessage(frame, m_options.limits);
    if (!message) {
        log()->warn("backend sent a message that does not parse: {}",
                    message.error().message.toStdString());
        const Reason reason = message.error().reason;
        const Reason code = reason == Reason::TooLarge || reason == Reason::UnknownType
            ? reason
            : Reason::InvalidMessage;
        send(makeErrorReply(readMessageId(frame, m_options.limits), code,
                            message.error().message));
        return;
    }
    Q_EMIT messageReceived(message.value());
}

void AgentConnection::onSocketError(QAbstractSocket::SocketError error)
{
    if (!m_socket)
        return;
    if (m_opened && error == QAbstractSocket::RemoteHostClosedError) {
        log()->info("the backend at {} closed the connection", text(m_options.url.toString()));
    } else {
        log()->warn("connection to {} failed: {} (socket error {})",
                    text(m_options.url.toString()), text(m_socket->errorString()), int(error));
    }
    // A failed dial never emits disconnected(), so the socket is dropped here.
    if (m_socket->state() == QAbstractSocket::UnconnectedState)
        dropSocket(int(QWebSocketProtocol::CloseCodeAbnormalDisconnection), m_socket->errorString());
}

void AgentConnection::onSslErrors(const QList<QSslError> &errors)
{
    // The errors are not ignored, so Qt aborts the handshake, and the socket's
    // error and disconnect handlers schedule the next dial.
    QStringList described;
    for (const QSslError &error : errors)
        described << error.errorString();
    log()->error("TLS certificate of {} rejected, so the agent cannot authenticate: {}. {}",
                 text(m_options.url.toString()), text(described.join(u"; "_s)),
                 text(describeTlsRemedy(errors, m_options.url, !m_options.caCertificates.isEmpty())));
}

void AgentConnection::onActivity()
{
    if (m_socket && !m_closing)
        m_silenceTimer->start();
}

void AgentConnection::onSilence()
{
    if (!m_socket)
        return;
    log()->warn("no frame or pong from {} for {} ms, so the connection is dropped",
                text(m_options.url.toString()), qint64(m_options.silenceTimeout.count()));
    // dropSocket() aborts, because a close handshake would wait on the same
    // silent path.
    dropSocket(int(QWebSocketProtocol::CloseCodeAbnormalDisconnection), u"silence timeout"_s);
}

void AgentConnection::scheduleReconnect()
{
    if (!m_running)
        return;
    const std::chrono::milliseconds delay = m_backoff.delay(m_failures);
    ++m_failures;
    log()->info("reconnecting to {} in {} ms (attempt {})", text(m_options.url.toString()),
                qint64(delay.count()), m_failures);
    m_reconnectTimer->start(delay);
}

} // namespace sealrelay::agent
