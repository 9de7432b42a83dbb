// A stand-in for sealrelay-backend on 127.0.0.1 with the routes the console
// calls at sign-in and the /api/events WebSocket: it sends a prepared
// snapshot, then live events at a fixed rate on request.
#pragma once

#include <QAbstractHttpServer>
#include <QElapsedTimer>
#include <QJsonObject>
#include <QList>
#include <QPointer>
#include <QString>
#include <QTimer>
#include <QWebSocket>

#include <memory>

namespace sealrelay::bench {

class MockBackend : public QAbstractHttpServer {
    Q_OBJECT

public:
    // Requests must carry `Authorization: Bearer <token>`.
    MockBackend(QString orgId, QString token, QObject *parent = nullptr);

    // Sets the `data` object of the snapshot frame that every new
    // /api/events connection gets first. Returns the frame's size in bytes.
    qint64 setSnapshot(const QJsonObject &data);
    // Sets the `data` objects of the live credential_sync_changed events.
    void setLiveEvents(QList<QJsonObject> events);

    // Sends the live events to the newest /api/events connection at
    // `eventsPerSecond`, paced against a monotonic clock so a late timer
    // catches up. Emits liveFinished() after the last one.
    void startLive(int eventsPerSecond);

    int snapshotsSent() const { return m_snapshotsSent; }

Q_SIGNALS:
    void liveFinished(qint64 sent, qint64 elapsedMs);

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    void acceptWebSockets();
    void sendDueEvents();
    QString frame(const QString &type, const QJsonObject &data) const;

    QString m_orgId;
    QByteArray m_authorization; // the expected Authorization header value
    QString m_snapshotText; // the serialised snapshot frame, sent as is on every connection
    QList<QJsonObject> m_liveEvents;
    QPointer<QWebSocket> m_feed; // the newest /api/events connection
    std::vector<std::unique_ptr<QWebSocket>> m_sockets;
    int m_snapshotsSent = 0;

    QTimer m_liveTimer;
    QElapsedTimer m_liveClock;
    int m_eventsPerSecond = 0;
    qsizetype m_liveSent = 0;
};

} // namespace sealrelay::bench
