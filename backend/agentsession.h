// AgentSession: one /agent WebSocket connection. It sends hello, checks the
// first message (enrol or authenticate), then relays the agent's messages and
// keeps the connection alive with pings.
#pragma once

#include "messages.h"
#include "rows.h"
#include "storage.h"

#include <QByteArray>
#include <QDateTime>
#include <QObject>
#include <QString>
#include <QWebSocketProtocol>

class QTimer;
class QWebSocket;

namespace sealrelay::backend {

struct AgentGatewayOptions;

// WebSocket close codes of a failed authentication.
inline constexpr int kCloseUnauthenticated = 4401;
inline constexpr int kCloseForbidden = 4403;

class AgentSession : public QObject {
    Q_OBJECT

public:
    enum class State {
        AwaitingAuthentication, // hello sent, waiting for enrol or authenticate
        Live,                   // enrolled or authenticated as orgId/agentId
        Closed,                 // a close frame was sent or the socket went away
    };

    // Takes ownership of `socket`. `options` must outlive the session.
    AgentSession(Storage &storage, const AgentGatewayOptions &options, QWebSocket *socket,
                 QObject *parent = nullptr);
    ~AgentSession() override;

    // Sends hello and starts the authentication, ping and silence timers.
    void start();

    State state() const { return m_state; }
    QString orgId() const { return m_orgId; }
    QString agentId() const { return m_agentId; }
    AgentStatus agentStatus() const { return m_agentStatus; }
    void setAgentStatus(AgentStatus status) { m_agentStatus = status; }

    // Sends one message; false when the session is closed or the socket did
    // not take the whole frame.
    bool send(const AgentMessage &message);

    // Sends a close frame with `code` and `reason` (cut to the 123 bytes a
    // close frame can carry) and closes the socket.
    void closeWith(int code, const QString &reason);

Q_SIGNALS:
    // The session enrolled or authenticated; orgId() and agentId() are set.
    void live();
    // A message from the agent once it is live and approved.
    void messageReceived(const sealrelay::AgentMessage &message);
    // A live, approved agent sent a rewrap_response that failed to parse;
    // `requestId` is the request_id the frame names, `problem` the parse error.
    void malformedRewrapResponse(const QString &requestId, const QString &problem);
    // The socket disconnected; the session is deleted later.
    void finished();
    // The session wrote an audit row or raised an alert, for the console feed.
    void auditAppended(const sealrelay::backend::AuditRecord &record);
    void alertRaised(const sealrelay::backend::AlertRow &alert);

private:
    void onTextMessage(const QString &text);
    void onBinaryMessage();
    void onActivity();
    void onSilence();
    void onAuthTimeout();

    void handleFirstMessage(const AgentMessage &message);
    void handleEnrol(const Enrol &enrol);
    void handleAuthenticate(const Authenticate &authenticate);
    void handleLiveMessage(const AgentMessage &message);
    // Finds the agent in `orgId`, or else in any other org, so that an auth
    // statement naming the wrong org is distinguished from an unknown agent.
    Result<std::optional<AgentRow>> findAgent(const QString &orgId, const QString &agentId);

    // Records an authentication failure (audit row agent_auth_failed when
    // `auditOrgId` names an org), replies `error` and closes with `closeCode`.
    void rejectAuthentication(const QString &inReplyTo, const QString &auditOrgId,
                              const QString &agentId, const QString &reasonCode,
                              const QString &message, int closeCode);
    // Records a failed enrolment in the token's org and closes.
    void rejectEnrolment(const Enrol &enrol, const QString &orgId, const QString &reasonCode,
                         const QString &message, int closeCode);
    void becomeLive(const QString &orgId, const QString &agentId, AgentStatus status);
    void sendError(const QString &inReplyTo, Reason code, const QString &message);
    void failInternally(const QString &inReplyTo, const Error &error);
    QDateTime now() const;
    // Returns the public origin that hello announces, in canonical form: the
    // one the agent's upgrade request named by host and port, or else the
    // first.
    QString helloOrigin() const;
    QString peerDescription() const;

    Storage &m_storage;
    const AgentGatewayOptions &m_options;
    QWebSocket *m_socket = nullptr;
    QTimer *m_authTimer = nullptr;
    QTimer *m_pingTimer = nullptr;
    QTimer *m_silenceTimer = nullptr;

    State m_state = State::AwaitingAuthentication;
    // The nonce of this connection's hello; cleared by the first
    // authenticate, whatever its outcome, so it is used at most once.
    QByteArray m_nonce;
    QString m_orgId;
    QString m_agentId;
    AgentStatus m_agentStatus = AgentStatus::PendingApproval;
};

} // namespace sealrelay::backend
