// ReplicaLink: lets the sync engine reach every agent, whichever replica the
// agent is connected to, and lets consoles on every replica see the events of
// all of them. Messages for agents connected here go through the gateway.
// The others go through the coordination store, which keeps agent presence
// with TTL heartbeats, one channel per replica for routed messages and
// replies, and one channel for feed events.
#pragma once

#include "coordinationstore.h"
#include "messages.h"
#include "syncoptions.h"

#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QSet>
#include <QString>
#include <QTimer>

#include <chrono>
#include <optional>

namespace sealrelay::backend {

class AgentGateway;

struct ReplicaLinkOptions {
    // Time a replica's presence entry for an agent lives without a heartbeat.
    // A replica that dies loses its agents to the others after this long.
    std::chrono::milliseconds presenceTtl{30'000};
    // Interval of the heartbeat that renews this replica's entries and
    // reloads the entries of the other replicas.
    std::chrono::milliseconds heartbeatInterval{10'000};
    // Time the route of a reply to this replica is kept: the longest wait
    // for a reply (a peer or target timeout) with room to spare.
    std::chrono::milliseconds replyRouteTtl{180'000};
    MessageLimits limits;
};

class ReplicaLink : public QObject {
    Q_OBJECT

public:
    ReplicaLink(CoordinationStore &store, AgentGateway &gateway, QString replicaId,
                ReplicaLinkOptions options = {}, QObject *parent = nullptr);
    ~ReplicaLink() override;

    // Subscribes to this replica's channels, publishes the presence of the
    // agents connected now and starts the heartbeat.
    void start();
    // Withdraws this replica's presence entries and stops the heartbeat.
    void stop();

    // The link the sync engine sends through.
    AgentLink agentLink();

    // True while `agentId` has a live session on this replica or, according
    // to the latest presence entries, on another one.
    bool isConnected(const QString &orgId, const QString &agentId) const;
    // The replica an agent connected elsewhere is on; empty when it is
    // connected here or nowhere.
    QString remoteReplicaOf(const QString &orgId, const QString &agentId) const;

    // Sends a reply that no sync on this replica waits for to the replica
    // that recorded a route for `replyToId` (the request_id or delivery_id
    // the reply carries). `routed` runs with true when it was sent there,
    // and with false when no other replica waits for it.
    void routeReply(const QString &orgId, const QString &agentId, const AgentMessage &message,
                    const QString &replyToId, std::function<void(bool routed)> routed);

    // Publishes one console feed event of this replica to the others.
    void relayFeedEvent(const QString &orgId, const QString &type, const QJsonObject &data);

    const QString &replicaId() const { return m_replicaId; }

Q_SIGNALS:
    // A reply of an agent connected to another replica, which routed it here
    // because a sync here waits for it.
    void replyReceived(const QString &orgId, const QString &agentId,
                       const sealrelay::AgentMessage &message);
    // An agent connected to another replica left it.
    void remoteAgentLeft(const QString &orgId, const QString &agentId);
    // A feed event of another replica.
    void feedEventReceived(const QString &orgId, const QString &type, const QJsonObject &data);

private:
    bool send(const QString &orgId, const QString &agentId, const AgentMessage &message);
    QStringList connectedAgents(const QString &orgId) const;

    void onLocalAgentJoined(const QString &orgId, const QString &agentId);
    void onLocalAgentLeft(const QString &orgId, const QString &agentId);
    void heartbeat();
    void onPresenceMembers(const QList<QByteArray> &members);
    void onPresenceMessage(const QByteArray &message);
    void onReplicaMessage(const QByteArray &message);
    void onFeedMessage(const QByteArray &message);
    // Records that replies to `replyToId` come back to this replica.
    void recordReplyRoute(const AgentMessage &message);

    static QString agentKey(const QString &orgId, const QString &agentId);
    QByteArray presenceMember(const QString &orgId, const QString &agentId) const;

    CoordinationStore &m_store;
    AgentGateway &m_gateway;
    QString m_replicaId;
    ReplicaLinkOptions m_options;

    Subscription m_replicaChannel;
    Subscription m_presenceChannel;
    Subscription m_feedChannel;
    QTimer m_heartbeat;
    bool m_started = false;

    // Agents with a live session here, as (orgId, agentId) keys.
    QHash<QString, QPair<QString, QString>> m_local;
    // Agents connected to other replicas: agentKey -> replica id.
    QHash<QString, QString> m_remote;
};

} // namespace sealrelay::backend
