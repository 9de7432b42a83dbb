// A compromised backend played by the test process: a QWebSocketServer on
// 127.0.0.1 that speaks the /agent protocol to real agent processes, so a
// suite can relay honest messages, alter them or replay old ones and read
// the agents' replies.
#pragma once

#include "messages.h"
#include "statement.h"

#include <QHash>
#include <QLatin1StringView>
#include <QList>
#include <QObject>
#include <QString>
#include <QWebSocketServer>

#include <functional>
#include <optional>

class QWebSocket;

namespace sealrelay::e2etest {

// Returns the delivery_id or request_id that ties a reply to the message it
// replies to, or the in_reply_to of an `error`. Other messages return "".
QString referenceOf(const AgentMessage &message);

class HostileBackend : public QObject {
    Q_OBJECT

public:
    static constexpr int kDefaultWaitMs = 15000;

    // One authenticate received, with the hello sent on the same connection.
    struct Authentication {
        QString agentId; // read from the auth statement, unverified
        Hello hello;
        SignedStatement auth;
    };

    // A connection that ended before the agent sent enrol or authenticate on it.
    struct UnidentifiedConnection {
        Hello hello; // the hello sent on it
        int closeCode = 0; // as the agent's close frame gave it
        QList<AgentMessage> received; // every message the agent sent on it
    };

    explicit HostileBackend(QString orgId, QObject *parent = nullptr);
    ~HostileBackend() override;

    bool listen();
    quint16 port() const { return m_server.serverPort(); }
    // http://127.0.0.1:PORT, the origin an agent dialling this server signs.
    QString origin() const;

    // Makes every later hello announce `hello`'s origin and nonce instead of
    // this server's own, as a backend relaying another backend's challenge
    // would. std::nullopt restores the server's own hellos.
    void setRelayedHello(std::optional<Hello> hello) { m_relayedHello = std::move(hello); }
    // Sends `messages` right behind every later hello, before the agent
    // replies, as a backend that skips authentication would. An empty list
    // sends hello alone again.
    void setMessagesAfterHello(QList<AgentMessage> messages)
    {
        m_messagesAfterHello = std::move(messages);
    }

    // Waits until an agent named `name` sent enrol, and returns that enrol.
    std::optional<Enrol> waitForEnrol(const QString &name, int timeoutMs = kDefaultWaitMs);
    // Keeps `certificate` for the agent, sends it as certificate_update when
    // the agent is connected, and sends it with the welcome of every later
    // authenticate.
    bool approve(const QString &agentId, const SignedStatement &certificate);
    // Closes the agent's connection with a normal close; the agent dials again.
    void disconnectAgent(const QString &agentId);
    bool isConnected(const QString &agentId) const;

    bool send(const QString &agentId, const AgentMessage &message);
    // Takes the oldest message of the agent for which `matches` is true out of
    // its queue, waiting up to `timeoutMs` for one to arrive.
    std::optional<AgentMessage> waitFor(const QString &agentId,
                                        const std::function<bool(const AgentMessage &)> &matches,
                                        int timeoutMs = kDefaultWaitMs);
    std::optional<AgentMessage> waitFor(const QString &agentId, QLatin1StringView type,
                                        int timeoutMs = kDefaultWaitMs);
    // Takes the agent's reply to `sent`: the first message whose referenceOf()
    // is the delivery_id or request_id of `sent`, or an `error` naming its id.
    std::optional<AgentMessage> waitForReply(const QString &agentId, const AgentMessage &sent,
                                             int timeoutMs = kDefaultWaitMs);
    // The agent's messages not yet taken, oldest first.
    QList<AgentMessage> queued(const QString &agentId) const { return m_queues.value(agentId); }

    QList<Authentication> authentications() const { return m_authentications; }
    QList<UnidentifiedConnection> unidentifiedConnections() const { return m_unidentified; }
    // Number of register messages the agent sent since the server started.
    int registrations(const QString &agentId) const { return m_registrations.value(agentId); }

private:
    void onNewConnection();
    void onFrame(QWebSocket *socket, const QString &text);
    void sendFrame(QWebSocket *socket, const AgentMessage &message);
    void sendWelcome(QWebSocket *socket, const QString &agentId, WelcomeStatus status);

    QString m_orgId;
    QWebSocketServer m_server;
    std::optional<Hello> m_relayedHello;
    QList<AgentMessage> m_messagesAfterHello;
    QHash<QWebSocket *, Hello> m_hellos; // the hello sent on each open connection
    // Messages of each open connection that has not enrolled or authenticated.
    QHash<QWebSocket *, QList<AgentMessage>> m_unidentifiedMessages;
    QList<UnidentifiedConnection> m_unidentified;
    QHash<QString, QWebSocket *> m_sockets; // the current connection of each agent
    QHash<QString, Enrol> m_enrolments; // by agent name
    QHash<QString, SignedStatement> m_certificates; // by agent id
    QHash<QString, QList<AgentMessage>> m_queues; // by agent id
    QHash<QString, int> m_registrations; // by agent id
    QList<Authentication> m_authentications;
};

} // namespace sealrelay::e2etest
