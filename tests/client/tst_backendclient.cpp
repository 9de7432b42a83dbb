// BackendClient and the uploads of CredentialCreator against a real
// sealrelay-backend on 127.0.0.1. Agents enrolled from the test process are
// approved with certificates from AgentCertificates::certify(). A credential
// is then created, rotated, re-scoped and deleted, and each envelope is
// opened with its agent's key. The typed errors are covered too: API error
// codes, a timeout and a refused connection.
#include "backendprocess.h"
#include "credentialcreator.h"
#include "digest.h"
#include "ids.h"
#include "payload.h"
#include "scriptedagent.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QProcess>
#include <QSignalSpy>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;

namespace {

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("test set-up failed: %s", qPrintable(result.error().message));
    return std::move(result).value();
}

QString describe(const ApiResult &result)
{
    return result.ok() ? u"HTTP %1"_s.arg(result->status) : result.error().toError().message;
}

} // namespace

class TestBackendClient : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void agentsApproved();
    void uploadRoundTrip();
    void staleRotationConflict();
    void untrustedAgentSkipped();
    void badTokenUnauthenticated();
    void unknownRouteNotFound();
    void invalidBodyInvalidField();
    void timeoutReported();
    void refusedConnectionReported();
    void asyncGetDelivers();
    void httpsUntrustedRejected();
    void httpsPrivateCaAccepted();

private:
    // Starts `server` with a self-signed certificate for 127.0.0.1 (made with
    // the openssl command) that responds to every request with {"ok":true}.
    bool startTlsServer(QSslServer &server, QList<QSslCertificate> &certificate);
    bool enrolAndApprove(synctest::ScriptedAgent &agent, const QString &name);
    // Opens the envelope of `agent` in `upload` and checks the payload.
    void checkEnvelope(const PreparedUpload &upload, const synctest::ScriptedAgent &agent,
                       const QByteArray &secretBytes);

    QTemporaryDir m_dir;
    BackendProcess m_backend;
    std::unique_ptr<BackendClient> m_client;
    std::optional<Ed25519PrivateKey> m_operatorKey;
    std::unique_ptr<TrustedOperators> m_trusted;
    std::unique_ptr<GenerationRecord> m_generations;
    std::unique_ptr<AgentCertificates> m_certificates;
    std::unique_ptr<CredentialCreator> m_creator;
    synctest::ScriptedAgent m_first;
    synctest::ScriptedAgent m_second;
    QString m_orgId;
};

void TestBackendClient::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(m_first.isValid());
    QVERIFY(m_second.isValid());
    const QString started = m_backend.start(m_dir.filePath(u"backend"_s));
    QVERIFY2(started.isEmpty(), qPrintable(started));
    m_client = std::make_unique<BackendClient>(QUrl(m_backend.baseUrl()), m_backend.adminToken());
    m_client->setTimeout(std::chrono::seconds(15));

    m_operatorKey = require(Ed25519PrivateKey::generate());
    m_trusted = std::make_unique<TrustedOperators>(
        require(TrustedOperators::load(m_dir.filePath(u"trusted-operators"_s))));
    QVERIFY(require(m_trusted->add(m_operatorKey->publicKey())));
    m_generations = std::make_unique<GenerationRecord>(
        require(GenerationRecord::load(m_dir.filePath(u"generations.json"_s))));

    QVERIFY(enrolAndApprove(m_first, u"edge-1"_s));
    QVERIFY(enrolAndApprove(m_second, u"edge-2"_s));
    m_creator = std::make_unique<CredentialCreator>(*m_operatorKey, *m_certificates, *m_trusted);
}

void TestBackendClient::cleanupTestCase()
{
    m_first.close();
    m_second.close();
    m_backend.stop();
}

bool TestBackendClient::enrolAndApprove(synctest::ScriptedAgent &agent, const QString &name)
{
    const ApiResult token = m_client->post(u"/api/agents/enrolment-tokens"_s,
                                           QJsonObject { { u"agent_name"_s, name } });
    if (!token) {
        qWarning("creating an enrolment token for agent %s failed: %s", qPrintable(name),
                 qPrintable(describe(token)));
        return false;
    }
    if (!agent.enrol(m_backend.baseUrl(), token->json.value(u"token"_s).toString(), name)) {
        qWarning("enrol: %s", qPrintable(agent.lastError()));
        return false;
    }
    if (!m_certificates) {
        // The org is what the welcome named; a console keeps it in its
        // profile instead of asking the backend.
        m_orgId = agent.orgId();
        m_certificates = std::make_unique<AgentCertificates>(*m_trusted, m_orgId, *m_generations);
    }

    Result<QList<AgentRow>> rows = fetchAgents(*m_client);
    if (!rows) {
        qWarning("fetch agents: %s", qPrintable(rows.error().message));
        return false;
    }
    for (const AgentRow &row : rows.value()) {
        if (row.agentId != agent.agentId())
            continue;
        // What an operator types: the first 16 digits as the agent host
        // prints them, grouped and in capitals.
        const QString typed =
            formatFingerprintForDisplay(agent.identity().fingerprint()).left(19).toUpper();
        Result<SignedStatement> certificate =
            m_certificates->certify(row, typed, row.generation + 1, *m_operatorKey);
        if (!certificate) {
            qWarning("certify: %s", qPrintable(certificate.error().message));
            return false;
        }
        const ApiResult approved =
            m_client->post(u"/api/agents/%1/certificate"_s.arg(row.agentId),
                           QJsonObject { { u"certificate"_s, certificate->toJson() } });
        if (!approved || approved->status != 200) {
            qWarning("approve: %s", qPrintable(describe(approved)));
            return false;
        }
        return true;
    }
    qWarning("agent %s is not listed", qPrintable(agent.agentId()));
    return false;
}

void TestBackendClient::checkEnvelope(const PreparedUpload &upload,
                                      const synctest::ScriptedAgent &agent,
                                      const QByteArray &secretBytes)
{
    const QJsonObject entry =
        upload.body.value(u"envelopes"_s).toObject().value(agent.agentId()).toObject();
    Result<Envelope> envelope = Envelope::fromJson(entry.value(u"envelope"_s).toObject());
    QVERIFY2(envelope.ok(), envelope.ok() ? "" : qPrintable(envelope.error().message));
    Result<SecureBuffer> opened = openEnvelope(agent.identity().encryptionKey, envelope.value());
    QVERIFY(opened.ok());
    Result<Payload> payload = parsePayload(opened->view());
    QVERIFY(payload.ok());
    QCOMPARE(payload->credentialId, upload.statement.credentialId);
    QCOMPARE(payload->version, upload.statement.version);
    QCOMPARE(payload->secretBytes.view().toByteArray(), secretBytes);
    QVERIFY(
        verifyCommitment(payload->salt, payload->secretBytes.view(), upload.statement.commitment)
            .ok());
}

void TestBackendClient::agentsApproved()
{
    Result<QList<AgentRow>> rows = fetchAgents(*m_client);
    QVERIFY(rows.ok());
    QCOMPARE(rows->size(), 2);
    for (const AgentRow &row : rows.value()) {
        QCOMPARE(row.status, u"approved"_s);
        QVERIFY(row.certificate.has_value());
        Result<CertifiedAgent> verified = m_certificates->verify(row);
        QVERIFY2(verified.ok(), verified.ok() ? "" : qPrintable(verified.error().message));
        QCOMPARE(verified->certificate.generation, qint64(1));
    }
}

void TestBackendClient::uploadRoundTrip()
{
    const QJsonObject secret { { u"username"_s, u"admin"_s }, { u"password"_s, u"pw-1"_s } };
    NewCredential credential;
    credential.name = u"core-switch"_s;
    credential.kind = u"password"_s;

    // Create: auto_all, an envelope for both agents.
    Result<QList<AgentRow>> agents = fetchAgents(*m_client);
    QVERIFY(agents.ok());
    Result<PreparedUpload> created = m_creator->create(credential, secret, agents.value());
    QVERIFY2(created.ok(), created.ok() ? "" : qPrintable(created.error().message));
    QVERIFY(created->warnings.isEmpty());
    QCOMPARE(created->envelopeAgentIds.size(), 2);
    const ApiResult createReply = sendUpload(*m_client, created.value());
    QVERIFY2(createReply.ok(), qPrintable(describe(createReply)));
    QCOMPARE(createReply->status, 201);
    QCOMPARE(createReply->json.value(u"deliveries_queued"_s).toInt(), 2);
    checkEnvelope(created.value(), m_first, R"({"password":"pw-1","username":"admin"})");
    checkEnvelope(created.value(), m_second, R"({"password":"pw-1","username":"admin"})");
    const QString credentialId = created->statement.credentialId;

    // Rotate: version 2 from the statement the backend now returns.
    Result<SignedStatement> current = fetchCurrentStatement(*m_client, credentialId);
    QVERIFY(current.ok());
    QCOMPARE(current->bytes, created->signedStatement.bytes);
    Result<PreparedUpload> rotated =
        m_creator->rotate(current.value(), QJsonObject { { u"password"_s, u"pw-2"_s } },
                          require(fetchAgents(*m_client)));
    QVERIFY2(rotated.ok(), rotated.ok() ? "" : qPrintable(rotated.error().message));
    const ApiResult rotateReply = sendUpload(*m_client, rotated.value());
    QVERIFY2(rotateReply.ok(), qPrintable(describe(rotateReply)));
    QCOMPARE(rotateReply->status, 200);
    QCOMPARE(rotateReply->json.value(u"version"_s).toInt(), 2);
    checkEnvelope(rotated.value(), m_second, R"({"password":"pw-2"})");

    // Scope change: only the first agent, revision 2.
    current = fetchCurrentStatement(*m_client, credentialId);
    QVERIFY(current.ok());
    Result<PreparedUpload> scoped = m_creator->changeScope(current.value(), { m_first.agentId() });
    QVERIFY(scoped.ok());
    const ApiResult scopeReply = sendUpload(*m_client, scoped.value());
    QVERIFY2(scopeReply.ok(), qPrintable(describe(scopeReply)));
    QCOMPARE(scopeReply->status, 200);
    QCOMPARE(scopeReply->json.value(u"revision"_s).toInt(), 2);
    QCOMPARE(scopeReply->json.value(u"scope"_s).toString(), u"explicit"_s);

    // Delete: revision 3.
    current = fetchCurrentStatement(*m_client, credentialId);
    QVERIFY(current.ok());
    Result<PreparedUpload> deleted = m_creator->remove(current.value());
    QVERIFY(deleted.ok());
    const ApiResult deleteReply = sendUpload(*m_client, deleted.value());
    QVERIFY2(deleteReply.ok(), qPrintable(describe(deleteReply)));
    QCOMPARE(deleteReply->status, 200);
    QCOMPARE(deleteReply->json.value(u"revision"_s).toInt(), 3);

    current = fetchCurrentStatement(*m_client, credentialId);
    QVERIFY(current.ok());
    QCOMPARE(current->bytes, deleted->signedStatement.bytes);
}

void TestBackendClient::staleRotationConflict()
{
    Result<PreparedUpload> created = m_creator->create(
        NewCredential { QString(), u"race"_s, u"password"_s, {} },
        QJsonObject { { u"password"_s, u"a"_s } }, require(fetchAgents(*m_client)));
    QVERIFY(created.ok());
    QVERIFY(sendUpload(*m_client, created.value()).ok());

    const QList<AgentRow> agents = require(fetchAgents(*m_client));
    Result<PreparedUpload> first = m_creator->rotate(
        created->signedStatement, QJsonObject { { u"password"_s, u"b"_s } }, agents);
    Result<PreparedUpload> second = m_creator->rotate(
        created->signedStatement, QJsonObject { { u"password"_s, u"c"_s } }, agents);
    QVERIFY(first.ok());
    QVERIFY(second.ok());
    QVERIFY(sendUpload(*m_client, first.value()).ok());

    const ApiResult conflict = sendUpload(*m_client, second.value());
    QVERIFY(!conflict.ok());
    QCOMPARE(conflict.error().status, 409);
    QCOMPARE(conflict.error().code, u"version_conflict"_s);
    QCOMPARE(conflict.error().reason, Reason::StaleStatement);
    QVERIFY(!conflict.error().message.isEmpty());
    const Error error = conflict.error().toError();
    QVERIFY2(error.message.contains(u"409 version_conflict"_s), qPrintable(error.message));
    QVERIFY2(error.message.contains(second->path), qPrintable(error.message));
}

// An agent whose certificate the backend replaced with one signed by a key
// the operator never pinned gets no envelope, and is named in a warning.
void TestBackendClient::untrustedAgentSkipped()
{
    QList<AgentRow> agents = require(fetchAgents(*m_client));
    QCOMPARE(agents.size(), 2);
    const Ed25519PrivateKey rogue = require(Ed25519PrivateKey::generate());
    AgentCertificate fields = require(AgentCertificate::fromFields(
        require(parseStatement(StatementContext::AgentCertificate, agents[1].certificate->bytes))));
    fields.operatorKey = rogue.publicKey().raw();
    agents[1].certificate =
        require(signStatement(StatementContext::AgentCertificate, fields.toFields(), rogue));

    Result<PreparedUpload> created =
        m_creator->create(NewCredential { QString(), u"one-agent"_s, u"password"_s, {} },
                          QJsonObject { { u"password"_s, u"x"_s } }, agents);
    QVERIFY(created.ok());
    QCOMPARE(created->envelopeAgentIds, QStringList { agents[0].agentId });
    QCOMPARE(created->warnings.size(), 1);
    QVERIFY2(created->warnings.constFirst().contains(agents[1].agentId),
             qPrintable(created->warnings.constFirst()));
    const ApiResult reply = sendUpload(*m_client, created.value());
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QCOMPARE(reply->status, 201);
}

void TestBackendClient::badTokenUnauthenticated()
{
    BackendClient client(QUrl(m_backend.baseUrl()), u"srt_not-a-token"_s);
    const ApiResult reply = client.get(u"/api/agents"_s);
    QVERIFY(!reply.ok());
    QCOMPARE(reply.error().status, 401);
    QCOMPARE(reply.error().code, u"unauthenticated"_s);
    QCOMPARE(reply.error().reason, Reason::Unauthenticated);
    QVERIFY(!client.get(u"/api/agents"_s).error().toError().message.contains(u"srt_"_s));
}

void TestBackendClient::unknownRouteNotFound()
{
    const ApiResult reply = m_client->get(u"/api/no-such-route"_s);
    QVERIFY(!reply.ok());
    QCOMPARE(reply.error().status, 404);
    QCOMPARE(reply.error().code, u"not_found"_s);
    QCOMPARE(reply.error().reason, Reason::NotFound);
}

void TestBackendClient::invalidBodyInvalidField()
{
    const ApiResult reply = m_client->post(
        u"/api/agents/enrolment-tokens"_s,
        QJsonObject { { u"agent_name"_s, u"edge-9"_s }, { u"colour"_s, u"blue"_s } });
    QVERIFY(!reply.ok());
    QCOMPARE(reply.error().status, 400);
    QCOMPARE(reply.error().code, u"invalid_field"_s);
    QCOMPARE(reply.error().reason, Reason::InvalidMessage);
    QVERIFY2(reply.error().message.contains(u"colour"_s), qPrintable(reply.error().message));
}

// A server on 127.0.0.1 that accepts the connection and never responds.
void TestBackendClient::timeoutReported()
{
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost, 0));
    QList<QTcpSocket *> held;
    connect(&silent, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket *socket = silent.nextPendingConnection())
            held.append(socket);
    });

    BackendClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(silent.serverPort())), u"token"_s);
    client.setTimeout(std::chrono::milliseconds(300));
    QElapsedTimer timer;
    timer.start();
    const ApiResult reply = client.get(u"/api/agents"_s);
    QVERIFY(!reply.ok());
    QCOMPARE(reply.error().code, u"timeout"_s);
    QCOMPARE(reply.error().reason, Reason::IoError);
    QCOMPARE(reply.error().status, 0);
    QVERIFY2(timer.elapsed() < 5000, qPrintable(u"took %1 ms"_s.arg(timer.elapsed())));
    qDeleteAll(held);
}

void TestBackendClient::refusedConnectionReported()
{
    const quint16 port = BackendProcess::freePort();
    QVERIFY(port != 0);
    BackendClient client(QUrl(u"http://127.0.0.1:%1"_s.arg(port)), u"token"_s);
    const ApiResult reply = client.post(u"/api/credentials"_s, QJsonObject { { u"a"_s, 1 } });
    QVERIFY(!reply.ok());
    QCOMPARE(reply.error().code, u"network_error"_s);
    QCOMPARE(reply.error().reason, Reason::IoError);
    QVERIFY2(reply.error().toError().message.contains(u"POST /api/credentials"_s),
             qPrintable(reply.error().toError().message));
}

void TestBackendClient::asyncGetDelivers()
{
    std::optional<ApiResult> received;
    m_client->getAsync(u"/api/agents"_s, QUrlQuery(u"status=approved"_s), this,
                       [&received](const ApiResult &result) { received = result; });
    QVERIFY(!received.has_value());
    QTRY_VERIFY_WITH_TIMEOUT(received.has_value(), 15000);
    QVERIFY2(received->ok(), qPrintable(describe(*received)));
    QCOMPARE(received->value().status, 200);
    QCOMPARE(received->value().json.value(u"agents"_s).toArray().size(), 2);
}

bool TestBackendClient::startTlsServer(QSslServer &server, QList<QSslCertificate> &certificate)
{
    const QString keyPath = m_dir.filePath(u"tls.key"_s);
    const QString certificatePath = m_dir.filePath(u"tls.pem"_s);
    QProcess openssl;
    openssl.start(u"openssl"_s,
                  { u"req"_s, u"-x509"_s, u"-newkey"_s, u"ec"_s, u"-pkeyopt"_s,
                    u"ec_paramgen_curve:prime256v1"_s, u"-nodes"_s, u"-keyout"_s, keyPath,
                    u"-out"_s, certificatePath, u"-days"_s, u"1"_s, u"-subj"_s, u"/CN=127.0.0.1"_s,
                    u"-addext"_s, u"subjectAltName=IP:127.0.0.1"_s });
    if (!openssl.waitForFinished(30000) || openssl.exitCode() != 0) {
        qWarning("openssl req failed: %s", openssl.readAllStandardError().constData());
        return false;
    }
    certificate = QSslCertificate::fromPath(certificatePath);
    QFile keyFile(keyPath);
    if (certificate.isEmpty() || !keyFile.open(QIODevice::ReadOnly))
        return false;
    const QSslKey key(&keyFile, QSsl::Ec);
    if (key.isNull())
        return false;

    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    tls.setLocalCertificate(certificate.constFirst());
    tls.setPrivateKey(key);
    server.setSslConfiguration(tls);
    connect(&server, &QTcpServer::pendingConnectionAvailable, &server, [&server] {
        while (QTcpSocket *socket = server.nextPendingConnection()) {
            connect(socket, &QTcpSocket::readyRead, socket, [socket] {
                if (!socket->peek(65536).contains("\r\n\r\n"))
                    return;
                socket->readAll();
                socket->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}");
                socket->disconnectFromHost();
            });
            connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    return server.listen(QHostAddress::LocalHost, 0);
}

// A certificate that no trusted CA signed fails the TLS handshake, and the
// request is reported as a network error.
void TestBackendClient::httpsUntrustedRejected()
{
    QSslServer server;
    QList<QSslCertificate> certificate;
    QVERIFY(startTlsServer(server, certificate));
    BackendClient client(QUrl(u"https://127.0.0.1:%1"_s.arg(server.serverPort())), u"token"_s);
    client.setTimeout(std::chrono::seconds(10));
    const ApiResult reply = client.get(u"/api/agents"_s);
    QVERIFY(!reply.ok());
    QCOMPARE(reply.error().code, u"network_error"_s);
    QCOMPARE(reply.error().status, 0);
    QCOMPARE(reply.error().reason, Reason::IoError);
}

void TestBackendClient::httpsPrivateCaAccepted()
{
    QSslServer server;
    QList<QSslCertificate> certificate;
    QVERIFY(startTlsServer(server, certificate));
    BackendClient client(QUrl(u"https://127.0.0.1:%1"_s.arg(server.serverPort())), u"token"_s);
    client.setTimeout(std::chrono::seconds(10));
    client.setCaCertificates(certificate);
    const ApiResult reply = client.get(u"/api/agents"_s);
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QCOMPARE(reply->status, 200);
    QCOMPARE(reply->json.value(u"ok"_s).toBool(), true);
}

QTEST_GUILESS_MAIN(TestBackendClient)
#include "tst_backendclient.moc"
