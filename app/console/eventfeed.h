// The console's connection to the backend's /api/events WebSocket. It sends
// the bearer token in the upgrade request, emits one signal per frame and
// reconnects with jittered exponential backoff. A ping every 15 s keeps the
// backend's silence timeout from closing an idle console.
#pragma once

#include "backoff.h"

#include <QAbstractSocket>
#include <QJsonObject>
#include <QObject>
#include <QTimer>
#include <QUrl>
#include <QWebSocket>

#include <chrono>

namespace sealrelay::console {

class EventFeed : public QObject {
    Q_OBJECT

public:
    enum class State {
        Offline, // closed, or the token was rejected
        Connecting, // first attempt since open()
        Live, // the snapshot arrived and frames flow
        Reconnecting, // waiting for, or making, another attempt
    };
    Q_ENUM(State)

    // Close code of the backend for a missing or invalid token.
    static constexpr quint16 kTokenRejectedCloseCode = 4401;
    static constexpr std::chrono::milliseconds kMinReconnectDelay { 1000 };
    static constexpr std::chrono::milliseconds kMaxReconnectDelay { 30000 };
    static constexpr std::chrono::milliseconds kPingInterval { 15000 };

    explicit EventFeed(QObject *parent = nullptr);
    ~EventFeed() override;

    // Connects to ws(s)://<host>/api/events of `baseUrl` (http or https) with
    // `token`, and keeps reconnecting until close() or a rejected token.
    void open(const QUrl &baseUrl, const QString &token);
    // Closes the socket and stops reconnecting.
    void close();

    State state() const { return m_state; }
    // Whole seconds until the next reconnect attempt, 0 when none is waiting.
    int reconnectSeconds() const { return m_reconnectSeconds; }
    // Number of connections that delivered a snapshot since open().
    int snapshotCount() const { return m_snapshotCount; }

    // Sets the ping period, kPingInterval by default.
    void setPingInterval(std::chrono::milliseconds interval);

Q_SIGNALS:
    void stateChanged();
    void reconnectSecondsChanged();
    // The `snapshot` frame that starts every connection; the whole frame.
    void snapshotReceived(const QJsonObject &frame);
    // Any later frame.
    void eventReceived(const QJsonObject &frame);
    // The backend closed the socket with 4401: the token is not valid.
    void tokenRejected();

private:
    void connectSocket();
    void onConnected();
    void onDisconnected();
    void onTextMessage(const QString &message);
    void onSocketError(QAbstractSocket::SocketError error);
    void scheduleReconnect();
    void tickCountdown();
    void setState(State state);
    void setReconnectSeconds(int seconds);

    QUrl m_url;
    QString m_token;
    QWebSocket m_socket;
    QTimer m_reconnectTimer;
    QTimer m_countdownTimer;
    QTimer m_pingTimer;
    ExponentialBackoff m_backoff { kMinReconnectDelay, kMaxReconnectDelay };
    State m_state = State::Offline;
    int m_attempt = 0; // failed attempts since the last live connection
    int m_reconnectSeconds = 0;
    int m_snapshotCount = 0;
    bool m_open = false; // between open() and close()
    bool m_sawSnapshot = false; // on the current connection
};

} // namespace sealrelay::console
