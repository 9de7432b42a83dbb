// A console's view of the event feed (/api/events) for the sync suites: it
// opens the WebSocket with an admin token and keeps every frame it receives.
#pragma once

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QWebSocket>

namespace sealrelay::synctest {

class EventFeedClient {
public:
    // Opens the feed of the backend at `backendUrl` (http://HOST:PORT) and
    // waits up to 5 s for the snapshot, its first frame. False when no
    // snapshot came.
    bool open(const QString &backendUrl, const QString &token);
    void close() { m_socket.close(); }

    // The `data` of every event of `type`, oldest first.
    QList<QJsonObject> data(const QString &type) const;
    // The agent_backfill_progress data of `agentId`, oldest first.
    QList<QJsonObject> backfillProgress(const QString &agentId) const;
    // The credential_sync_changed data of one (credential, agent, change).
    QList<QJsonObject> syncChanges(const QString &credentialId, const QString &agentId,
                                   const QString &change) const;

    // The count of received frames and how the backend closed the feed, for
    // failure messages.
    QString state() const;

private:
    QWebSocket m_socket;
    QList<QJsonObject> m_events;
    QString m_closeReason;
};

} // namespace sealrelay::synctest
