// The agent's local credential API: a Unix domain socket (agent.sock, mode
// 0660) taking one JSON request per line, {"get": NAME_OR_ID, "field": F?},
// and returning one JSON line with the secret or a typed error. This socket
// is the only place where the agent process hands out a secret.
#pragma once

#include "agentservice.h"
#include "error.h"

#include <QObject>
#include <QString>

class QLocalServer;
class QLocalSocket;

namespace sealrelay::agent {

// Exit codes of `sealrelay-agent get`.
enum GetExitCode {
    kGetSuccess = 0,
    kGetFailure = 1,
    kGetUsage = 2,
    kGetNotFound = 3,
    kGetUnavailable = 4,
    kGetTimeout = 5,
};

class CredentialApi : public QObject {
    Q_OBJECT
public:
    // `service` must outlive the API.
    CredentialApi(AgentService &service, QObject *parent = nullptr);
    ~CredentialApi() override;

    // Listens on `path`, replacing a stale socket file, with mode 0660 and
    // the group `group` when it is not empty.
    Result<void> listen(const QString &path, const QString &group);

private:
    void onNewConnection();
    void onReadyRead(QLocalSocket *socket);
    void handleRequest(QLocalSocket *socket, const QByteArray &line);

    AgentService &m_service;
    QLocalServer *m_server = nullptr;
};

// `sealrelay-agent get`: sends one request to the socket at `socketPath`,
// prints the secret to standard output or the error to standard error, and
// returns a GetExitCode. `timeoutMs` bounds the whole exchange.
int runGetCommand(const QString &socketPath, const QString &nameOrId, const QString &field,
                  qint64 timeoutMs);

} // namespace sealrelay::agent
