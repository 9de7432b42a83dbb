// The /api/events WebSocket client of the console.
#include "eventfeed.h"

#include "logging.h"

#include <QJsonDocument>
#include <QNetworkRequest>
#include <QSslConfiguration>
#include <QWebSocket>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::console {

namespace {

// Maximum frame the feed parses; the snapshot of a large org is the biggest.
// The snapshot of 10,000 credentials held by 10 agents, each row with its
// signed receipt, is about 89 MiB (measured by bench/console).
constexpr qsizetype kMaxFrameBytes = 256 * 1024 * 1024;

} // namespace

// The QWebSocket of an EventFeed, on the feed's socket thread. Every signal
// carries the number of the connection it belongs to, so the feed can drop
// what an aborted connection still sent.
class FeedSocket : public QObject {
    Q_OBJECT

public:
    // Aborts the current connection, if any, and connects with `request`.
    void open(quint64 connection, const QNetworkRequest &request)
    {
        if (m_socket == nullptr)
            createSocket();
        if (m_socket->state() != QAbstractSocket::UnconnectedState)
            m_socket->abort();
        m_connection = connection;
        // The request carries the CA certificates the profile adds.
        m_socket->setSslConfiguration(request.sslConfiguration());
        m_socket->open(request);
    }

    void abort()
    {
        if (m_socket != nullptr && m_socket->state() != QAbstractSocket::UnconnectedState)
            m_socket->abort();
    }

    void ping()
    {
        if (m_socket != nullptr)
            m_socket->ping();
    }

Q_SIGNALS:
    void connected(quint64 connection);
    void disconnected(quint64 connection, quint16 closeCode, const QString &closeReason);
    // `unconnected` is true when the socket was unconnected after the error.
    void failed(quint64 connection, const QString &errorString, bool unconnected);
    void frameReceived(quint64 connection, const QJsonObject &frame);
    void frameRejected(quint64 connection, const QString &parseError);

private:
    // Creates the socket on this object's thread, where its notifiers and
    // timers must live.
    void createSocket()
    {
        m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
        m_socket->setMaxAllowedIncomingMessageSize(kMaxFrameBytes);
        connect(m_socket, &QWebSocket::connected, this, [this] { Q_EMIT connected(m_connection); });
        connect(m_socket, &QWebSocket::disconnected, this, [this] {
            Q_EMIT disconnected(m_connection, quint16(m_socket->closeCode()),
                                m_socket->closeReason());
        });
        connect(m_socket, &QWebSocket::textMessageReceived, this, &FeedSocket::parseFrame);
        // Qt 6.4 has no QWebSocket::errorOccurred.
        connect(m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
                [this] {
                    Q_EMIT failed(m_connection, m_socket->errorString(),
                                  m_socket->state() == QAbstractSocket::UnconnectedState);
                });
    }

    void parseFrame(const QString &message)
    {
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(message.toUtf8(), &parseError);
        if (!document.isObject()) {
            Q_EMIT frameRejected(m_connection, parseError.errorString());
            return;
        }
        Q_EMIT frameReceived(m_connection, document.object());
    }

    QWebSocket *m_socket = nullptr;
    quint64 m_connection = 0;
};

EventFeed::EventFeed(QObject *parent)
    : QObject(parent)
    , m_socket(new FeedSocket)
{
    m_socketThread.setObjectName(u"console-event-feed"_s);
    m_socket->moveToThread(&m_socketThread);
    connect(&m_socketThread, &QThread::finished, m_socket, &QObject::deleteLater);
    connect(m_socket, &FeedSocket::connected, this, &EventFeed::onConnected);
    connect(m_socket, &FeedSocket::disconnected, this, &EventFeed::onDisconnected);
    connect(m_socket, &FeedSocket::failed, this, &EventFeed::onSocketError);
    connect(m_socket, &FeedSocket::frameReceived, this, &EventFeed::onFrame);
    connect(m_socket, &FeedSocket::frameRejected, this, &EventFeed::onFrameRejected);
    m_socketThread.start();

    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &EventFeed::connectSocket);
    m_countdownTimer.setInterval(std::chrono::seconds(1));
    connect(&m_countdownTimer, &QTimer::timeout, this, &EventFeed::tickCountdown);
    m_pingTimer.setInterval(kPingInterval);
    connect(&m_pingTimer, &QTimer::timeout, this, [this] {
        QMetaObject::invokeMethod(m_socket, &FeedSocket::ping, Qt::QueuedConnection);
    });
}

EventFeed::~EventFeed()
{
    m_open = false;
    m_socket->disconnect(this);
    // FeedSocket only posts queued signals to this thread and never waits for
    // it, so blocking here cannot deadlock. The socket is deleted on its
    // thread when the thread finishes.
    QMetaObject::invokeMethod(m_socket, &FeedSocket::abort, Qt::BlockingQueuedConnection);
    m_socketThread.quit();
    m_socketThread.wait();
}

void EventFeed::setPingInterval(std::chrono::milliseconds interval)
{
    m_pingTimer.setInterval(interval);
}

void EventFeed::open(const QUrl &baseUrl, const QString &token)
{
    close();
    m_url = baseUrl;
    m_url.setScheme(baseUrl.scheme() == u"https"_s ? u"wss"_s : u"ws"_s);
    m_url.setPath(u"/api/events"_s);
    m_url.setQuery(QString());
    m_token = token;
    m_open = true;
    m_attempt = 0;
    m_snapshotCount = 0;
    setState(State::Connecting);
    connectSocket();
}

void EventFeed::close()
{
    m_open = false;
    m_reconnectTimer.stop();
    m_countdownTimer.stop();
    m_pingTimer.stop();
    m_token.clear();
    abortSocket();
    setReconnectSeconds(0);
    setState(State::Offline);
}

void EventFeed::connectSocket()
{
    if (!m_open)
        return;
    m_countdownTimer.stop();
    setReconnectSeconds(0);
    m_sawSnapshot = false;
    QNetworkRequest request(m_url);
    request.setRawHeader("Authorization", "Bearer " + m_token.toUtf8());
    if (!m_caCertificates.isEmpty()) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.addCaCertificates(m_caCertificates);
        request.setSslConfiguration(tls);
    }
    const quint64 connection = ++m_connection;
    QMetaObject::invokeMethod(
        m_socket, [socket = m_socket, connection, request] { socket->open(connection, request); },
        Qt::QueuedConnection);
}

// Aborts the current connection. What it still sends is dropped, because its
// number is no longer the latest.
void EventFeed::abortSocket()
{
    ++m_connection;
    QMetaObject::invokeMethod(m_socket, &FeedSocket::abort, Qt::QueuedConnection);
}

void EventFeed::onConnected(quint64 connection)
{
    if (connection != m_connection)
        return;
    logger("console")->info("event feed connected to {}", m_url.toString().toStdString());
    m_pingTimer.start();
}

void EventFeed::onDisconnected(quint64 connection, quint16 closeCode,
                               const QString &closeReason)
{
    if (connection != m_connection)
        return;
    m_pingTimer.stop();
    if (!m_open)
        return;
    const quint16 code = closeCode;
    if (code == kTokenRejectedCloseCode) {
        logger("console")->warn("event feed: the backend rejected the token (close code 4401)");
        m_open = false;
        m_token.clear();
        // A socket error may have scheduled a reconnect just before.
        m_reconnectTimer.stop();
        m_countdownTimer.stop();
        setReconnectSeconds(0);
        setState(State::Offline);
        Q_EMIT tokenRejected();
        return;
    }
    const std::string closed = closeReason.isEmpty()
        ? std::to_string(code)
        : std::to_string(code) + ": " + closeReason.toStdString();
    // Only the loss of a live feed is a warning, because each failed
    // reconnect after it repeats the same news.
    if (m_state == State::Live)
        logger("console")->warn("lost the event feed of {} (close code {}); reconnecting",
                                m_url.toString().toStdString(), closed);
    else
        logger("console")->info("event feed of {} closed (close code {}); reconnecting",
                                m_url.toString().toStdString(), closed);
    scheduleReconnect();
}

void EventFeed::onSocketError(quint64 connection, const QString &errorString, bool unconnected)
{
    if (connection != m_connection || !m_open)
        return;
    if (m_state == State::Live)
        logger("console")->warn("lost the event feed of {}: {}", m_url.toString().toStdString(),
                                errorString.toStdString());
    else
        logger("console")->info("event feed error: {}", errorString.toStdString());
    // A failed connect attempt emits no disconnected() when the socket never
    // left the connecting state.
    if (unconnected && !m_reconnectTimer.isActive())
        scheduleReconnect();
}

void EventFeed::scheduleReconnect()
{
    if (!m_open || m_reconnectTimer.isActive())
        return;
    const std::chrono::milliseconds delay = m_backoff.delay(m_attempt);
    ++m_attempt;
    m_reconnectTimer.start(delay);
    setReconnectSeconds(int((delay.count() + 999) / 1000));
    m_countdownTimer.start();
    setState(State::Reconnecting);
}

void EventFeed::tickCountdown()
{
    const int remaining = int((m_reconnectTimer.remainingTime() + 999) / 1000);
    setReconnectSeconds(std::max(0, remaining));
    if (!m_reconnectTimer.isActive())
        m_countdownTimer.stop();
}

void EventFeed::onFrameRejected(quint64 connection, const QString &parseError)
{
    if (connection != m_connection)
        return;
    logger("console")->warn("event feed: ignored a frame that is not a JSON object ({})",
                            parseError.toStdString());
}

void EventFeed::onFrame(quint64 connection, const QJsonObject &frame)
{
    if (connection != m_connection)
        return;
    if (frame.value(u"type"_s).toString() == u"snapshot"_s) {
        m_sawSnapshot = true;
        m_attempt = 0;
        ++m_snapshotCount;
        Q_EMIT snapshotReceived(frame);
        setState(State::Live);
        return;
    }
    if (!m_sawSnapshot) {
        logger("console")->warn("event feed: ignored a {} frame before the snapshot",
                                frame.value(u"type"_s).toString().toStdString());
        return;
    }
    Q_EMIT eventReceived(frame);
}

void EventFeed::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged();
}

void EventFeed::setReconnectSeconds(int seconds)
{
    if (m_reconnectSeconds == seconds)
        return;
    m_reconnectSeconds = seconds;
    Q_EMIT reconnectSecondsChanged();
}

} // namespace sealrelay::console

#include "eventfeed.moc"
