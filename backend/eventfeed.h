// EventFeed: the console's live event WebSocket (/api/events). It sends each
// authenticated connection a snapshot of its org, then the events published
// for that org, and closes consumers that fall too far behind.
//
// Every event is one JSON text frame:
//
//   {"type": "<event type>", "id": "<uuid>", "org_id": "<org>",
//    "at": "2026-12-04T02:05:00.000Z", "data": {...}}
//
// The first frame of every connection is the snapshot, whose data is
//
//   {"credentials": [credential...], "agents": [agent...], "alerts": [alert...]}
//
// with the org's active credentials, all its agents, and its open
// (unacknowledged) alerts, newest first. Each credential is the object of
// GET /api/credentials/{id}: the credential with "sync" and "agents" (one
// delivery row per agent). The functions of rowjson.h serialise the rows for
// the feed and the REST API alike, so a row has one shape in both.
//
// The other events are credential_sync_changed, agent_status_changed,
// alert_raised, alert_acknowledged and audit_appended, published by the REST
// handlers and, for agent connections, enrolment alerts and their audit rows,
// by the service on the agent gateway's signals. docs/api.md documents their
// data and the row objects.
//
// Signed objects travel as their signers signed them, so the console verifies
// receipts and certificates itself.
#pragma once

#include "apiprincipal.h"
#include "rows.h"
#include "storage.h"

#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringView>

#include <chrono>
#include <functional>
#include <optional>

class QWebSocket;

namespace sealrelay::backend {

struct EventFeedOptions {
    std::chrono::milliseconds pingInterval{15000};
    // A connection that sends no frame and no pong for this long is closed.
    std::chrono::milliseconds silenceTimeout{45000};
    // Adds runtime state to an agent of the snapshot (the sync engine's
    // "sync" object); empty leaves the stored row as it is.
    std::function<QJsonObject(const AgentRow &agent)> agentJson;
    // Bytes that may wait in one connection's send buffer. An event that
    // would take the buffer past this closes the connection with 1008. The
    // snapshot is exempt, because a client cannot start without it.
    qint64 maxQueuedBytes = 8 * 1024 * 1024;
    // Maximum size of a message from the console, which has nothing to send.
    qint64 maxIncomingMessageBytes = 64 * 1024;
    // Maximum number of open alerts in the snapshot.
    int snapshotAlertLimit = 1000;
};

class EventFeed : public QObject {
    Q_OBJECT

public:
    // Returns the principal of a bearer token, or std::nullopt for an
    // unknown or revoked token.
    using Authenticator = std::function<std::optional<ApiPrincipal>(QStringView bearerToken)>;

    EventFeed(Storage &storage, EventFeedOptions options, Authenticator authenticate,
              QObject *parent = nullptr);
    ~EventFeed() override;

    // Takes ownership of an open socket. Its upgrade request must carry
    // `Authorization: Bearer TOKEN`, and any role may read the feed. Without
    // a valid token the socket is closed with 4401.
    void acceptConnection(QWebSocket *socket);

    // Sends the event to every connection of `orgId` and to no other, and
    // emits published() for the other replicas.
    void publish(const QString &orgId, const QString &eventType, const QJsonObject &data);
    // Sends an event that another replica published to the connections of
    // `orgId`, without emitting published().
    void publishFromReplica(const QString &orgId, const QString &eventType,
                            const QJsonObject &data);

    // Number of authenticated connections.
    int connectedCount() const;
    // True when an authenticated connection of the org is open.
    bool hasConnections(const QString &orgId) const;

Q_SIGNALS:
    // An event of this replica was published.
    void published(const QString &orgId, const QString &eventType, const QJsonObject &data);

private:
    class Connection;

    void sendToConnections(const QString &orgId, const QString &eventType,
                           const QJsonObject &data);

    void sendSnapshot(Connection *connection);
    void removeConnection(Connection *connection);

    Storage &m_storage;
    EventFeedOptions m_options;
    Authenticator m_authenticate;
    // Authenticated connections, by org.
    QMultiHash<QString, Connection *> m_connections;
};

} // namespace sealrelay::backend
