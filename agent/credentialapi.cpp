// The local credential API's server and the `get` client.
#include "credentialapi.h"

#include "logging.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalServer>
#include <QLocalSocket>
#include <QPointer>

#include <openssl/crypto.h>

#include <grp.h>
#include <unistd.h>

#include <cstdio>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

// A request line longer than this is rejected; names are at most 200 bytes.
constexpr qsizetype kMaxRequestBytes = 4096;

std::shared_ptr<spdlog::logger> log()
{
    return logger("agent.api");
}

QString kindName(CredentialAnswer::Kind kind)
{
    switch (kind) {
    case CredentialAnswer::Kind::Secret:
        return u"ok"_s;
    case CredentialAnswer::Kind::NotFound:
        return u"not_found"_s;
    case CredentialAnswer::Kind::Unavailable:
        return u"unavailable"_s;
    case CredentialAnswer::Kind::Timeout:
        return u"timeout"_s;
    case CredentialAnswer::Kind::Failed:
        break;
    }
    return u"failed"_s;
}

void writeLine(QLocalSocket *socket, QByteArray line)
{
    line.append('\n');
    socket->write(line);
    socket->flush();
    OPENSSL_cleanse(line.data(), size_t(line.size()));
}

void writeError(QLocalSocket *socket, const QString &error, const QString &message)
{
    writeLine(socket, QJsonDocument(QJsonObject{{u"error"_s, error}, {u"message"_s, message}})
                          .toJson(QJsonDocument::Compact));
}

void printText(FILE *stream, QByteArrayView bytes)
{
    std::fwrite(bytes.data(), 1, size_t(bytes.size()), stream);
    std::fwrite("\n", 1, 1, stream);
    std::fflush(stream);
}

} // namespace

CredentialApi::CredentialApi(AgentService &service, QObject *parent)
    : QObject(parent)
    , m_service(service)
    , m_server(new QLocalServer(this))
{
    connect(m_server, &QLocalServer::newConnection, this, &CredentialApi::onNewConnection);
}

CredentialApi::~CredentialApi() = default;

Result<void> CredentialApi::listen(const QString &path, const QString &group)
{
    std::optional<gid_t> groupId;
    if (!group.isEmpty()) {
        const struct group *entry = ::getgrnam(group.toLocal8Bit().constData());
        if (!entry)
            return makeError(Reason::NotFound,
                             u"socket group %1 does not exist. Give an existing group to "
                             "--socket-group"_s.arg(group));
        groupId = entry->gr_gid;
    }

    QLocalServer::removeServer(path);
    m_server->setSocketOptions(QLocalServer::UserAccessOption | QLocalServer::GroupAccessOption);
    if (!m_server->listen(path))
        return makeError(Reason::IoError, u"cannot listen on %1: %2"_s.arg(
                                              path, m_server->errorString()));
    if (groupId && ::chown(path.toLocal8Bit().constData(), uid_t(-1), *groupId) != 0)
        return makeError(Reason::IoError,
                         u"cannot give %1 to group %2; the agent's user must be a member"_s.arg(
                             path, group));
    QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner
                                    | QFileDevice::ReadGroup | QFileDevice::WriteGroup);
    log()->info("local credential API listening on {}", path.toStdString());
    return {};
}

void CredentialApi::onNewConnection()
{
    while (QLocalSocket *socket = m_server->nextPendingConnection()) {
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QLocalSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
        if (socket->bytesAvailable() > 0)
            onReadyRead(socket);
    }
}

void CredentialApi::onReadyRead(QLocalSocket *socket)
{
    while (socket->canReadLine()) {
        const QByteArray line = socket->readLine(kMaxRequestBytes + 1);
        handleRequest(socket, line.trimmed());
    }
    if (socket->bytesAvailable() > kMaxRequestBytes) {
        writeError(socket, u"usage"_s, u"request longer than %1 bytes"_s.arg(kMaxRequestBytes));
        socket->disconnectFromServer();
    }
}

void CredentialApi::handleRequest(QLocalSocket *socket, const QByteArray &line)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(line, &parseError);
    const QJsonObject request = document.object();
    if (!document.isObject() || !request.value(u"get"_s).isString()
        || request.value(u"get"_s).toString().isEmpty()) {
        writeError(socket, u"usage"_s,
                   u"expected one JSON object per line: {\"get\": NAME_OR_ID, \"field\": F}"_s);
        return;
    }
    const QJsonValue field = request.value(u"field"_s);
    if (!field.isUndefined() && !field.isString()) {
        writeError(socket, u"usage"_s, u"field must be a string"_s);
        return;
    }
    const QString nameOrId = request.value(u"get"_s).toString();
    log()->info("local request for credential {}", nameOrId.toStdString());

    QPointer<QLocalSocket> guarded(socket);
    m_service.fetchCredential(nameOrId, field.toString(), [guarded](CredentialAnswer answer) {
        if (!guarded)
            return;
        if (answer.kind != CredentialAnswer::Kind::Secret) {
            QJsonObject reply{{u"error"_s, kindName(answer.kind)}, {u"message"_s, answer.message}};
            if (!answer.reason.isEmpty())
                reply.insert(u"reason"_s, answer.reason);
            writeLine(guarded, QJsonDocument(reply).toJson(QJsonDocument::Compact));
            return;
        }
        // NOTE: QString and QJsonDocument keep copies of the secret that
        // cannot be wiped; only the serialised line is cleansed.
        const QJsonObject reply{{u"secret"_s, QString::fromUtf8(answer.secret.view())}};
        writeLine(guarded, QJsonDocument(reply).toJson(QJsonDocument::Compact));
    });
}

int runGetCommand(const QString &socketPath, const QString &nameOrId, const QString &field,
                  qint64 timeoutMs)
{
    QLocalSocket socket;
    socket.connectToServer(socketPath);
    if (!socket.waitForConnected(5000)) {
        // A missing socket file is the usual case: the agent is not running.
        const QString cause = QFileInfo::exists(socketPath)
            ? socket.errorString()
            : u"the socket file does not exist"_s;
        printText(stderr, (u"unavailable: cannot connect to %1 (%2). Start `sealrelay-agent run` "
                           "for this data directory."_s.arg(socketPath, cause))
                              .toUtf8());
        return kGetUnavailable;
    }
    QJsonObject request{{u"get"_s, nameOrId}};
    if (!field.isEmpty())
        request.insert(u"field"_s, field);
    socket.write(QJsonDocument(request).toJson(QJsonDocument::Compact) + '\n');
    socket.flush();

    const QDeadlineTimer deadline(timeoutMs);
    while (!socket.canReadLine()) {
        if (socket.state() != QLocalSocket::ConnectedState) {
            printText(stderr,
                      (u"unavailable: the agent closed %1 before it replied; it may have "
                       "stopped. Check that `sealrelay-agent run` runs for this data "
                       "directory, and read its log."_s.arg(socketPath))
                          .toUtf8());
            return kGetUnavailable;
        }
        if (deadline.hasExpired()) {
            printText(stderr, "error: timed out waiting for the reply of the agent");
            return kGetTimeout;
        }
        socket.waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime())));
    }
    QByteArray line = socket.readLine();
    const QJsonObject reply = QJsonDocument::fromJson(line).object();
    OPENSSL_cleanse(line.data(), size_t(line.size()));

    if (reply.value(u"secret"_s).isString()) {
        QByteArray secret = reply.value(u"secret"_s).toString().toUtf8();
        printText(stdout, secret);
        OPENSSL_cleanse(secret.data(), size_t(secret.size()));
        return kGetSuccess;
    }
    const QString error = reply.value(u"error"_s).toString();
    const QString reason = reply.value(u"reason"_s).toString();
    const QString message = reply.value(u"message"_s).toString();
    if (error == u"unavailable"_s) {
        // The backend has no credential of that name or id in this org.
        if (reason == u"UNKNOWN_CREDENTIAL"_s) {
            printText(stderr, (u"not_found: %1 (%2)"_s.arg(reason, message)).toUtf8());
            return kGetNotFound;
        }
        printText(stderr, (u"unavailable: %1 (%2)"_s.arg(reason, message)).toUtf8());
        return kGetUnavailable;
    }
    printText(stderr, (u"%1: %2"_s.arg(error.isEmpty() ? u"error"_s : error, message)).toUtf8());
    if (error == u"not_found"_s)
        return kGetNotFound;
    if (error == u"timeout"_s)
        return kGetTimeout;
    if (error == u"usage"_s)
        return kGetUsage;
    return kGetFailure;
}

} // namespace sealrelay::agent
