// The /api/events WebSocket client of the console.
#include "eventfeed.h"

#include "logging.h"

#include <QJsonDocument>
#include <QNetworkRequest>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::console {

namespace {

// Maximum frame the feed parses; the snapshot of a large org is the biggest.
// The snapshot of 10,000 credentials held by 10 agents, each row with its
// signed receipt, is about 89 MiB (measured by bench/console).
constexpr qsizetype kMaxFrameBytes = 256 * 1024 * 1024;

} // namespace

EventFeed::EventFeed(QObject *parent)
    : QObject(parent)
{
    m_socket.setMaxAllowedIncomingMessageSize(kMaxFrameBytes);
    connect(&m_socket, &QWebSocket::connected, this, &EventFeed::onConnected);
    connect(&m_socket, &QWebSocket::disconnected, this, &EventFeed::onDisconnected);
    connect(&m_socket, &QWebSocket::textMessageReceived, this, &EventFeed::onTextMessage);
    // Qt 6.4 has no QWebSocket::errorOccurred.
    connect(&m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            &EventFeed::onSocketError);

    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &EventFeed::connectSocket);
    m_countdownTimer.setInterval(std::chrono::seconds(1));
    connect(&m_countdownTimer, &QTimer::timeout, this, &EventFeed::tickCountdown);
    m_pingTimer.setInterval(kPingInterval);
    connect(&m_pingTimer, &QTimer::timeout, this, [this] { m_socket.ping(); });
}

EventFeed::~EventFeed()
{
    m_open = false;
    m_socket.disconnect(this);
    m_socket.abort();
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
    if (m_socket.state() != QAbstractSocket::UnconnectedState)
        m_socket.abort();
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
    m_socket.open(request);
}

void EventFeed::onConnected()
{
    logger("console")->info("event feed connected to {}", m_url.toString().toStdString());
    m_pingTimer.start();
}

void EventFeed::onDisconnected()
{
    m_pingTimer.stop();
    if (!m_open)
        return;
    const quint16 code = quint16(m_socket.closeCode());
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
    const QString reason = m_socket.closeReason();
    const std::string closed = reason.isEmpty()
        ? std::to_string(code)
        : std::to_string(code) + ": " + reason.toStdString();
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

void EventFeed::onSocketError(QAbstractSocket::SocketError error)
{
    Q_UNUSED(error);
    if (!m_open)
        return;
    if (m_state == State::Live)
        logger("console")->warn("lost the event feed of {}: {}", m_url.toString().toStdString(),
                                m_socket.errorString().toStdString());
    else
        logger("console")->info("event feed error: {}", m_socket.errorString().toStdString());
    // A failed connect attempt emits no disconnected() when the socket never
    // left the connecting state.
    if (m_socket.state() == QAbstractSocket::UnconnectedState && !m_reconnectTimer.isActive())
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

void EventFeed::onTextMessage(const QString &message)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(message.toUtf8(), &parseError);
    if (!document.isObject()) {
        logger("console")->warn("event feed: ignored a frame that is not a JSON object ({})",
                                parseError.errorString().toStdString());
        return;
    }
    const QJsonObject frame = document.object();
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
