// EventFeed: the console's live event WebSocket (/api/events). It sends each
// authenticated connection a snapshot of its org, then the events published
// for that org, and closes consumers that fall too far behind.
//
// Every event is one JSON text frame:
//
//   {"type": "<event type>", "id": "<uuid>", "org_id": "<org>",
//    "at": "2026-12-04T02:05:00.000Z", "data": {...}}
//
// Event types and their `data`:
//
// - snapshot (first frame of every connection):
//   {"credentials": [credential...], "agents": [agent...], "alerts": [alert...]}
//   with the org's active credentials (each with its per-agent rows), all its
//   agents, and its open (unacknowledged) alerts, newest first.
// - credential_sync_changed: {"credential_id", "agent_id", "row": delivery row}
// - agent_status_changed: {"agent_id", "status", "connected": bool}, plus
//   "agent": agent when the publisher has the row
// - alert_raised: alert
// - alert_acknowledged: {"alert_id", "acknowledged_by", "acknowledged_at"}
// - audit_appended: audit row
//
// The objects, as the *EventJson() functions below write them (times as
// RFC 3339 UTC with milliseconds, binary values as standard base64, absent
// optional values as null):
//
// - credential: credential_id, name, kind, version, revision, scope
//   (auto_all | explicit), scope_agent_ids, state (active | deleted),
//   statement {statement_b64, signature}, statement_sha256, created_at,
//   updated_at, agents [delivery row]
// - delivery row: credential_id, agent_id, secret_stored, stored_version,
//   stored_revision, attempts, next_attempt_at, last_error, stalled, receipt
//   ({statement_b64, signature} of the agent's signed receipt, or null),
//   receipt_at
// - agent: agent_id, name, status (pending_approval | approved | revoked),
//   encryption_key (SPKI DER), identity_key (raw Ed25519), agent_fingerprint,
//   generation, certificate ({statement_b64, signature} or null), expires_at,
//   last_seen, quarantined, created_at
// - alert: alert_id, type, severity (medium | high | critical), subject,
//   details (the stored JSON value, or null), first_seen, last_seen, count,
//   acknowledged_at, acknowledged_by
// - audit row: id, at, event, actor, credential_id, agent_id,
//   dispatch_audit_id, outcome, reason, details (JSON value or null),
//   prev_hash, row_hash
//
// Signed objects travel as the agents signed them, so the console verifies
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

    // Sends the event to every connection of `orgId` and to no other.
    void publish(const QString &orgId, const QString &eventType, const QJsonObject &data);

    // Number of authenticated connections.
    int connectedCount() const;

private:
    class Connection;

    void sendSnapshot(Connection *connection);
    void removeConnection(Connection *connection);

    Storage &m_storage;
    EventFeedOptions m_options;
    Authenticator m_authenticate;
    // Authenticated connections, by org.
    QMultiHash<QString, Connection *> m_connections;
};

// The JSON objects of the event payloads, for snapshot and publishers alike.
QJsonObject credentialEventJson(const CredentialDetail &detail);
QJsonObject deliveryRowEventJson(const CredentialAgentRow &row);
QJsonObject agentEventJson(const AgentRow &agent);
QJsonObject alertEventJson(const AlertRow &alert);
QJsonObject auditEventJson(const AuditRecord &record);

} // namespace sealrelay::backend
