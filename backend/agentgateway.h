// AgentGateway: the backend's /agent WebSocket endpoint. It runs one
// AgentSession per connection and keeps one live session per agent.
#pragma once

#include "messages.h"
#include "storage.h"

#include <QDateTime>
#include <QHash>
#include <QObject>
#include <QString>
#include <QStringList>

#include <chrono>
#include <functional>

class QWebSocket;

namespace sealrelay::backend {

class AgentSession;

struct AgentGatewayOptions {
    // scheme://host:port values that agents may dial. An auth statement must
    // name one of them in the form an agent signs: scheme and host in
    // lowercase, and the port written out even when it is the scheme's
    // default. Hello announces the one whose host and port the agent's
    // upgrade request named, or else the first.
    QStringList publicOrigins;
    std::chrono::milliseconds pingInterval{15000};
    // A connection that sends no frame and no pong for this long is closed.
    std::chrono::milliseconds silenceTimeout{45000};
    // Maximum time from hello to the first message (enrol or authenticate).
    std::chrono::milliseconds authTimeout{10000};
    // Maximum distance between an auth statement's issued_at and the clock.
    std::chrono::seconds authClockSkew{120};
    MessageLimits limits; // 1 MiB per message, 10,000 warm-reconnect entries
    // Source of "now" for issued_at checks and hello's server_time. Empty
    // means QDateTime::currentDateTimeUtc.
    std::function<QDateTime()> clock;
};

class AgentGateway : public QObject {
    Q_OBJECT

public:
    AgentGateway(Storage &storage, AgentGatewayOptions options, QObject *parent = nullptr);
    ~AgentGateway() override;

    // Takes ownership of an open socket, sends hello and waits for enrol or
    // authenticate.
    void acceptConnection(QWebSocket *socket);

    // True while the agent has a live session: it authenticated, or enrolled
    // and waits for approval on the same connection.
    bool isConnected(const QString &orgId, const QString &agentId) const;

    // Sends one message on the agent's live session. Returns false when the
    // agent has none or the socket did not take the frame.
    bool send(const QString &orgId, const QString &agentId, const AgentMessage &message);

    // Sends certificate_update with the certificate stored for the agent, if
    // it is connected and approved. Call after storing a new certificate.
    void pushCertificate(const QString &orgId, const QString &agentId);

    // Closes the agent's live session with `closeCode` and `reason`, e.g.
    // 4403 after an operator revoked it. A revoked agent that stays connected
    // keeps its session until this is called or it reconnects.
    void closeAgent(const QString &orgId, const QString &agentId, int closeCode,
                    const QString &reason);

    // Agent ids with a live session in `orgId`.
    QStringList connectedAgents(const QString &orgId) const;

    // Number of live sessions (agents), not counting connections that have
    // not authenticated yet.
    int connectedCount() const;

    const AgentGatewayOptions &options() const { return m_options; }
    // The options' clock, or the current UTC time when it is empty.
    QDateTime now() const;

Q_SIGNALS:
    // A session became the agent's live session after authenticate or enrol.
    // A session that replaces an older one emits it again, and a pending
    // agent emits it too, so read the agent's status from storage.
    void agentAuthenticated(const QString &orgId, const QString &agentId);
    // The agent's live session closed and no newer session replaced it.
    void agentDisconnected(const QString &orgId, const QString &agentId);
    // A message from an approved agent after authentication (register,
    // rewrap_response, credential_stored, ...), for the sync engine.
    void messageReceived(const QString &orgId, const QString &agentId,
                         const sealrelay::AgentMessage &message);
    // An approved agent's rewrap_response failed to parse.
    void malformedRewrapResponse(const QString &orgId, const QString &agentId,
                                 const QString &requestId, const QString &problem);
    // A session wrote an audit row or raised an alert (enrolment, failed
    // authentication, a reused enrolment token), for the console feed.
    void auditAppended(const sealrelay::backend::AuditRecord &record);
    void alertRaised(const sealrelay::backend::AlertRow &alert);

private:
    void onSessionLive(AgentSession *session);
    void onSessionFinished(AgentSession *session);
    AgentSession *liveSession(const QString &orgId, const QString &agentId) const;

    Storage &m_storage;
    AgentGatewayOptions m_options;
    // Live sessions by orgId + '/' + agentId.
    QHash<QString, AgentSession *> m_live;
};

} // namespace sealrelay::backend
