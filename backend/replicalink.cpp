// ReplicaLink: presence heartbeats, routed agent messages and relayed feed
// events between backend replicas.
#include "replicalink.h"

#include "agentgateway.h"
#include "logging.h"

#include <QJsonDocument>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

std::shared_ptr<spdlog::logger> log()
{
    return logger("backend.replicas");
}

std::string text(const QString &value)
{
    return value.toStdString();
}

// Set of presence entries "orgId/agentId/replicaId", each with its own TTL.
const QString kPresenceSet = u"presence:agents"_s;
// Channel announcing joins and leaves at once, ahead of the next heartbeat.
const QString kPresenceChannel = u"presence"_s;
const QString kFeedChannel = u"feed_events"_s;

QString replicaChannel(const QString &replicaId)
{
    return u"replica:"_s + replicaId;
}

QString replyRouteKey(const QString &replyToId)
{
    return u"reply_route:"_s + replyToId;
}

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

std::optional<QJsonObject> readObject(const QByteArray &message)
{
    const QJsonDocument document = QJsonDocument::fromJson(message);
    if (!document.isObject())
        return std::nullopt;
    return document.object();
}

// The id a reply to `message` will carry, for messages that expect one.
QString replyToIdOf(const AgentMessage &message)
{
    if (const auto *request = std::get_if<RewrapRequest>(&message))
        return request->requestId;
    if (const auto *store = std::get_if<CredentialStore>(&message))
        return store->deliveryId;
    if (const auto *update = std::get_if<StatementUpdate>(&message))
        return update->deliveryId;
    return {};
}

} // namespace

ReplicaLink::ReplicaLink(CoordinationStore &store, AgentGateway &gateway, QString replicaId,
                         ReplicaLinkOptions options, QObject *parent)
    : QObject(parent)
    , m_store(store)
    , m_gateway(gateway)
    , m_replicaId(std::move(replicaId))
    , m_options(options)
{
    m_heartbeat.setInterval(m_options.heartbeatInterval);
    connect(&m_heartbeat, &QTimer::timeout, this, &ReplicaLink::heartbeat);
    connect(&m_gateway, &AgentGateway::agentAuthenticated, this, &ReplicaLink::onLocalAgentJoined);
    connect(&m_gateway, &AgentGateway::agentDisconnected, this, &ReplicaLink::onLocalAgentLeft);
}

ReplicaLink::~ReplicaLink()
{
    stop();
}

void ReplicaLink::start()
{
    if (m_started)
        return;
    m_started = true;
    const auto logFailure = [](const char *what) {
        return [what](Result<void> ready) {
            if (!ready)
                log()->warn("cannot subscribe to {}: {}; the store subscribes again once it "
                            "is usable", what, text(ready.error().message));
        };
    };
    m_replicaChannel = m_store.subscribe(
        replicaChannel(m_replicaId), this,
        [this](const QString &, const QByteArray &message) { onReplicaMessage(message); },
        logFailure("this replica's channel"));
    m_presenceChannel = m_store.subscribe(
        kPresenceChannel, this,
        [this](const QString &, const QByteArray &message) { onPresenceMessage(message); },
        logFailure("the presence channel"));
    m_feedChannel = m_store.subscribe(
        kFeedChannel, this,
        [this](const QString &, const QByteArray &message) { onFeedMessage(message); },
        logFailure("the feed event channel"));
    heartbeat();
    m_heartbeat.start();
}

void ReplicaLink::stop()
{
    if (!m_started)
        return;
    m_started = false;
    m_heartbeat.stop();
    for (const auto &[orgId, agentId] : std::as_const(m_local)) {
        m_store.setRemove(kPresenceSet, presenceMember(orgId, agentId), nullptr, {});
        m_store.publish(kPresenceChannel,
                        compact({ { u"event"_s, u"left"_s },
                                  { u"org_id"_s, orgId },
                                  { u"agent_id"_s, agentId },
                                  { u"replica_id"_s, m_replicaId } }),
                        nullptr, {});
    }
    m_replicaChannel.cancel();
    m_presenceChannel.cancel();
    m_feedChannel.cancel();
}

AgentLink ReplicaLink::agentLink()
{
    AgentLink link;
    link.isConnected = [this](const QString &orgId, const QString &agentId) {
        return isConnected(orgId, agentId);
    };
    link.send = [this](const QString &orgId, const QString &agentId, const AgentMessage &message) {
        return send(orgId, agentId, message);
    };
    link.connectedAgents = [this](const QString &orgId) { return connectedAgents(orgId); };
    link.routeReply = [this](const QString &orgId, const QString &agentId,
                             const AgentMessage &message, const QString &replyToId,
                             std::function<void(bool)> routed) {
        routeReply(orgId, agentId, message, replyToId, std::move(routed));
    };
    link.sendReplyTo = [this](const QString &replicaId, const QString &orgId,
                              const QString &agentId, const AgentMessage &message) {
        m_store.publish(replicaChannel(replicaId),
                        compact({ { u"kind"_s, u"reply"_s },
                                  { u"org_id"_s, orgId },
                                  { u"agent_id"_s, agentId },
                                  { u"frame"_s, QString::fromUtf8(serializeMessage(message)) } }),
                        nullptr, {});
    };
    return link;
}

bool ReplicaLink::isConnected(const QString &orgId, const QString &agentId) const
{
    return m_gateway.isConnected(orgId, agentId) || m_remote.contains(agentKey(orgId, agentId));
}

QString ReplicaLink::remoteReplicaOf(const QString &orgId, const QString &agentId) const
{
    if (m_gateway.isConnected(orgId, agentId))
        return {};
    return m_remote.value(agentKey(orgId, agentId));
}

QStringList ReplicaLink::connectedAgents(const QString &orgId) const
{
    QStringList agents = m_gateway.connectedAgents(orgId);
    const QString prefix = orgId + u'/';
    for (auto it = m_remote.cbegin(); it != m_remote.cend(); ++it) {
        if (!it.key().startsWith(prefix))
            continue;
        const QString agentId = it.key().mid(prefix.size());
        if (!agents.contains(agentId))
            agents.append(agentId);
    }
    return agents;
}

bool ReplicaLink::send(const QString &orgId, const QString &agentId, const AgentMessage &message)
{
    // The reply reaches another replica if the agent reconnects there
    // before replying, so the route is recorded for local sends too.
    recordReplyRoute(message);
    if (m_gateway.isConnected(orgId, agentId))
        return m_gateway.send(orgId, agentId, message);

    const QString replicaId = m_remote.value(agentKey(orgId, agentId));
    if (replicaId.isEmpty())
        return false;
    const QString type = QString(messageType(message));
    m_store.publish(replicaChannel(replicaId),
                    compact({ { u"kind"_s, u"deliver"_s },
                              { u"org_id"_s, orgId },
                              { u"agent_id"_s, agentId },
                              { u"frame"_s, QString::fromUtf8(serializeMessage(message)) } }),
                    this, [replicaId, agentId, type](Result<int> published) {
                        if (!published)
                            log()->warn("cannot route {} for agent {} to replica {}: {}",
                                        text(type), text(agentId), text(replicaId),
                                        text(published.error().message));
                    });
    return true;
}

void ReplicaLink::recordReplyRoute(const AgentMessage &message)
{
    const QString replyToId = replyToIdOf(message);
    if (replyToId.isEmpty())
        return;
    m_store.setAdd(replyRouteKey(replyToId), m_replicaId.toUtf8(), m_options.replyRouteTtl,
                   nullptr, {});
}

void ReplicaLink::routeReply(const QString &orgId, const QString &agentId,
                             const AgentMessage &message, const QString &replyToId,
                             std::function<void(bool routed)> routed)
{
    const QByteArray frame = serializeMessage(message);
    m_store.setMembers(
        replyRouteKey(replyToId), this,
        [this, orgId, agentId, frame, routed = std::move(routed)](
            Result<QList<QByteArray>> members) {
            QString target;
            if (members) {
                for (const QByteArray &member : members.value()) {
                    if (QString::fromUtf8(member) != m_replicaId)
                        target = QString::fromUtf8(member);
                }
            }
            if (target.isEmpty()) {
                if (routed)
                    routed(false);
                return;
            }
            m_store.publish(replicaChannel(target),
                            compact({ { u"kind"_s, u"reply"_s },
                                      { u"org_id"_s, orgId },
                                      { u"agent_id"_s, agentId },
                                      { u"frame"_s, QString::fromUtf8(frame) } }),
                            nullptr, {});
            if (routed)
                routed(true);
        });
}

void ReplicaLink::relayFeedEvent(const QString &orgId, const QString &type,
                                 const QJsonObject &data)
{
    if (!m_started)
        return;
    m_store.publish(kFeedChannel,
                    compact({ { u"replica_id"_s, m_replicaId },
                              { u"org_id"_s, orgId },
                              { u"type"_s, type },
                              { u"data"_s, data } }),
                    nullptr, {});
}

// ---- Presence -----------------------------------------------------------------

QString ReplicaLink::agentKey(const QString &orgId, const QString &agentId)
{
    return orgId + u'/' + agentId;
}

QByteArray ReplicaLink::presenceMember(const QString &orgId, const QString &agentId) const
{
    return (agentKey(orgId, agentId) + u'/' + m_replicaId).toUtf8();
}

void ReplicaLink::onLocalAgentJoined(const QString &orgId, const QString &agentId)
{
    m_local.insert(agentKey(orgId, agentId), { orgId, agentId });
    if (!m_started)
        return;
    m_store.setAdd(kPresenceSet, presenceMember(orgId, agentId), m_options.presenceTtl, nullptr,
                   {});
    m_store.publish(kPresenceChannel,
                    compact({ { u"event"_s, u"joined"_s },
                              { u"org_id"_s, orgId },
                              { u"agent_id"_s, agentId },
                              { u"replica_id"_s, m_replicaId } }),
                    nullptr, {});
}

void ReplicaLink::onLocalAgentLeft(const QString &orgId, const QString &agentId)
{
    m_local.remove(agentKey(orgId, agentId));
    if (!m_started)
        return;
    m_store.setRemove(kPresenceSet, presenceMember(orgId, agentId), nullptr, {});
    m_store.publish(kPresenceChannel,
                    compact({ { u"event"_s, u"left"_s },
                              { u"org_id"_s, orgId },
                              { u"agent_id"_s, agentId },
                              { u"replica_id"_s, m_replicaId } }),
                    nullptr, {});
}

void ReplicaLink::heartbeat()
{
    for (const auto &[orgId, agentId] : std::as_const(m_local))
        m_store.setAdd(kPresenceSet, presenceMember(orgId, agentId), m_options.presenceTtl,
                       nullptr, {});
    m_store.setMembers(kPresenceSet, this, [this](Result<QList<QByteArray>> members) {
        if (!members) {
            // The entries known so far stay until the store replies again,
            // because dropping them would fail every sync that needs a
            // remote peer.
            log()->warn("cannot read agent presence: {}", text(members.error().message));
            return;
        }
        onPresenceMembers(members.value());
    });
}

void ReplicaLink::onPresenceMembers(const QList<QByteArray> &members)
{
    QHash<QString, QStringList> replicasByAgent;
    for (const QByteArray &member : members) {
        const QStringList parts = QString::fromUtf8(member).split(u'/');
        if (parts.size() != 3 || parts.at(2) == m_replicaId)
            continue;
        replicasByAgent[agentKey(parts.at(0), parts.at(1))].append(parts.at(2));
    }

    QHash<QString, QString> remote;
    for (auto it = replicasByAgent.cbegin(); it != replicasByAgent.cend(); ++it) {
        // An agent that moved keeps its old entry until that expires. The
        // replica named by the latest presence message wins.
        const QString current = m_remote.value(it.key());
        remote.insert(it.key(), it.value().contains(current) ? current : it.value().constFirst());
    }
    const QHash<QString, QString> previous = std::exchange(m_remote, remote);
    for (auto it = previous.cbegin(); it != previous.cend(); ++it) {
        if (m_remote.contains(it.key()))
            continue;
        const qsizetype slash = it.key().indexOf(u'/');
        Q_EMIT remoteAgentLeft(it.key().left(slash), it.key().mid(slash + 1));
    }
}

void ReplicaLink::onPresenceMessage(const QByteArray &message)
{
    const auto object = readObject(message);
    if (!object)
        return;
    const QString replicaId = object->value(u"replica_id"_s).toString();
    if (replicaId == m_replicaId)
        return;
    const QString orgId = object->value(u"org_id"_s).toString();
    const QString agentId = object->value(u"agent_id"_s).toString();
    const QString key = agentKey(orgId, agentId);
    if (object->value(u"event"_s).toString() == u"joined") {
        m_remote.insert(key, replicaId);
    } else if (m_remote.value(key) == replicaId) {
        m_remote.remove(key);
        Q_EMIT remoteAgentLeft(orgId, agentId);
    }
}

// ---- Routed messages ------------------------------------------------------------

void ReplicaLink::onReplicaMessage(const QByteArray &message)
{
    const auto object = readObject(message);
    if (!object) {
        log()->warn("ignored an unreadable message on this replica's channel");
        return;
    }
    const QString kind = object->value(u"kind"_s).toString();
    const QString orgId = object->value(u"org_id"_s).toString();
    const QString agentId = object->value(u"agent_id"_s).toString();
    auto parsed = parseAgentMessage(object->value(u"frame"_s).toString().toUtf8(),
                                    m_options.limits);
    if (!parsed) {
        log()->warn("ignored a routed {} for agent {}: {}", text(kind), text(agentId),
                    text(parsed.error().message));
        return;
    }
    if (kind == u"deliver") {
        if (!m_gateway.send(orgId, agentId, parsed.value()))
            log()->info("agent {} left this replica before a routed {} reached it; the sync "
                        "that sent it times out and is retried",
                        text(agentId), QString(messageType(parsed.value())).toStdString());
        return;
    }
    if (kind == u"reply") {
        Q_EMIT replyReceived(orgId, agentId, parsed.value());
        return;
    }
    log()->warn("ignored a routed message of unknown kind {}", text(kind));
}

void ReplicaLink::onFeedMessage(const QByteArray &message)
{
    const auto object = readObject(message);
    if (!object || object->value(u"replica_id"_s).toString() == m_replicaId)
        return;
    Q_EMIT feedEventReceived(object->value(u"org_id"_s).toString(),
                             object->value(u"type"_s).toString(),
                             object->value(u"data"_s).toObject());
}

} // namespace sealrelay::backend
