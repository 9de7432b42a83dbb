// The agent's WebSocket client to the backend's /agent endpoint: dials,
// parses frames into typed messages, pings, notices a silent path, and
// reconnects with exponential backoff and full jitter.
#pragma once

#include "backoff.h"
#include "error.h"
#include "messages.h"

#include <QAbstractSocket>
#include <QList>
#include <QObject>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>
#include <QString>
#include <QUrl>

#include <chrono>

class QTimer;
class QWebSocket;

namespace sealrelay::agent {

struct ConnectionOptions {
    QUrl url; // ws:// or wss:// URL of /agent
    QString origin; // the backend origin of auth statements: http(s)://host:port
    // CA certificates trusted for a wss:// backend in addition to the system
    // CA certificates.
    QList<QSslCertificate> caCertificates;
    std::chrono::milliseconds reconnectMin = std::chrono::seconds(1);
    std::chrono::milliseconds reconnectMax = std::chrono::seconds(60);
    std::chrono::milliseconds pingInterval = std::chrono::seconds(15);
    std::chrono::milliseconds silenceTimeout = std::chrono::seconds(45);
    MessageLimits limits;
};

// Checks a --backend URL and derives the socket URL and the origin. Accepted
// schemes are https and wss, and http and ws only for a loopback host, so
// that frames never cross a network in plain text. A URL without a path
// dials /agent.
Result<ConnectionOptions> connectionOptionsFor(const QString &backendUrl);

// Reads the PEM CA certificates of --backend-ca-file. An empty path gives an
// empty list. A file that cannot be read or contains no PEM certificate is
// an error naming the file.
Result<QList<QSslCertificate>> readBackendCaCertificates(const QString &path);

class AgentConnection : public QObject {
    Q_OBJECT
public:
    explicit AgentConnection(ConnectionOptions options, QObject *parent = nullptr);
    ~AgentConnection() override;

    const ConnectionOptions &options() const { return m_options; }
    bool isConnected() const;

    // Dials now; later disconnects dial again after the backoff delay.
    void start();
    // Closes the socket and stops reconnecting.
    void stop();
    // Closes the current socket with `code` and `reason`; the backoff then
    // dials again. Frames that arrive on that socket after the call are
    // dropped unread.
    void closeWith(int code, const QString &reason);
    // Starts the next backoff from reconnectMin again. The service calls it
    // once a connection is fully set up (registered), so a backend that
    // rejects the agent after hello does not reset the backoff.
    void resetBackoff();
    // Sends one message. Returns false when not connected or closing.
    bool send(const AgentMessage &message);

Q_SIGNALS:
    void connected();
    void messageReceived(const sealrelay::AgentMessage &message);
    void disconnected(int closeCode, const QString &reason);

private:
    void dial();
    void onConnected();
    void onDisconnected();
    void onTextMessage(const QString &text);
    void onSocketError(QAbstractSocket::SocketError error);
    void onSslErrors(const QList<QSslError> &errors);
    void onActivity();
    void onSilence();
    // Tears down the current socket, reports the disconnect and schedules the
    // next dial.
    void dropSocket(int code, const QString &reason);
    void scheduleReconnect();

    ConnectionOptions m_options;
    // System CA certificates plus options.caCertificates; used for wss only.
    QSslConfiguration m_tlsConfiguration;
    QWebSocket *m_socket = nullptr;
    QTimer *m_pingTimer = nullptr;
    QTimer *m_silenceTimer = nullptr;
    QTimer *m_reconnectTimer = nullptr;
    ExponentialBackoff m_backoff; // full jitter between reconnectMin and reconnectMax
    int m_failures = 0; // dials since the last resetBackoff()
    bool m_running = false;
    // Set by closeWith() until the next dial. Incoming frames are dropped,
    // send() sends nothing and pings stop, so a peer that never completes the
    // close handshake is dropped by the silence timeout.
    bool m_closing = false;
    bool m_opened = false; // the current socket completed the WebSocket handshake
};

} // namespace sealrelay::agent
