// The console's connection to the backend's /api/events WebSocket. It sends
// the bearer token in the upgrade request, emits one signal per frame and
// reconnects with jittered exponential backoff. A ping every 15 s keeps the
// backend's silence timeout from closing an idle console.
#pragma once

#include "backoff.h"

#include <QJsonObject>
#include <QObject>
#include <QSslCertificate>
#include <QThread>
#include <QTimer>
#include <QUrl>

#include <chrono>

namespace sealrelay::console {

class FeedSocket;

// The socket lives on a thread of its own, where the frames are assembled,
// decoded and parsed, because the snapshot frame of a large org is large
// (88.6 MiB for 10,000 credentials held by 10 agents in bench/console). The
// feed's state, timers and signals stay on the thread that created it, and
// frames reach it in the order the backend sent them.
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
    // CA certificates trusted for a wss:// feed besides the system's.
    void setCaCertificates(const QList<QSslCertificate> &certificates)
    {
        m_caCertificates = certificates;
    }
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
    void abortSocket();
    void onConnected(quint64 connection);
    void onDisconnected(quint64 connection, quint16 closeCode, const QString &closeReason);
    void onFrame(quint64 connection, const QJsonObject &frame);
    void onFrameRejected(quint64 connection, const QString &parseError);
    void onSocketError(quint64 connection, const QString &errorString, bool unconnected);
    void scheduleReconnect();
    void tickCountdown();
    void setState(State state);
    void setReconnectSeconds(int seconds);

    QUrl m_url;
    QString m_token;
    QThread m_socketThread;
    FeedSocket *m_socket = nullptr; // lives on m_socketThread, deleted when it finishes
    // Number of the latest connection attempt. Signals of older connections
    // that were still queued when a new attempt or close() began are dropped.
    quint64 m_connection = 0;
    QTimer m_reconnectTimer;
    QTimer m_countdownTimer;
    QTimer m_pingTimer;
    ExponentialBackoff m_backoff { kMinReconnectDelay, kMaxReconnectDelay };
    State m_state = State::Offline;
    int m_attempt = 0; // failed attempts since the last live connection
    int m_reconnectSeconds = 0;
    int m_snapshotCount = 0;
    bool m_open = false; // between open() and close()
    QList<QSslCertificate> m_caCertificates;
    bool m_sawSnapshot = false; // on the current connection
};

} // namespace sealrelay::console
