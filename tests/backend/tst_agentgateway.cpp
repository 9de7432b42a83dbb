// AgentGateway suite: real QWebSocket clients talk to the /agent endpoint on
// 127.0.0.1, backed by SQLite storage in a temporary folder.
#include "agentgateway.h"
#include "digest.h"
#include "ids.h"
#include "keys.h"
#include "messages.h"
#include "sqlstorage.h"
#include "statement.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QWebSocket>
#include <QWebSocketServer>
#include <QtEndian>

#include <memory>
#include <optional>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

namespace {

const QString kOrigin = u"wss://backend.example:8443"_s;
const QString kOtherOrigin = u"wss://elsewhere.example:8443"_s;
constexpr int kWaitMs = 5000;

// A WebSocket client that records every frame and how the connection ended.
class Client {
public:
    explicit Client(quint16 port)
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &message) { frames.append(message.toUtf8()); });
        QObject::connect(&socket, &QWebSocket::disconnected, &socket,
                         [this] { disconnected = true; });
        socket.open(QUrl(u"ws://127.0.0.1:%1/agent"_s.arg(port)));
    }

    // Waits for frame number `index` (0 is hello) and parses it.
    std::optional<AgentMessage> message(qsizetype index)
    {
        if (!QTest::qWaitFor([&] { return frames.size() > index || disconnected; }, kWaitMs)) {
            return std::nullopt;
        }
        if (frames.size() <= index) {
            return std::nullopt;
        }
        Result<AgentMessage> parsed = parseAgentMessage(frames.at(index));
        if (!parsed) {
            qWarning("frame %lld does not parse: %s", qlonglong(index),
                     qPrintable(parsed.error().message));
            return std::nullopt;
        }
        return parsed.value();
    }

    std::optional<Hello> hello()
    {
        const auto first = message(0);
        if (!first || !std::holds_alternative<Hello>(*first)) {
            return std::nullopt;
        }
        return std::get<Hello>(*first);
    }

    void send(const AgentMessage &message)
    {
        socket.sendTextMessage(QString::fromUtf8(serializeMessage(message)));
    }

    bool waitDisconnected(int timeoutMs = kWaitMs)
    {
        return QTest::qWaitFor([this] { return disconnected; }, timeoutMs);
    }

    int closeCode() const { return int(socket.closeCode()); }

    QWebSocket socket;
    QList<QByteArray> frames;
    bool disconnected = false;
};

// Takes the first text frame from `buffer`, reading more from `socket` as
// needed. Frames from the server are unmasked, and other frames are skipped.
std::optional<QByteArray> takeTextFrame(QTcpSocket &socket, QByteArray &buffer)
{
    std::optional<QByteArray> payload;
    const bool found = QTest::qWaitFor(
        [&] {
            buffer += socket.readAll();
            if (buffer.size() < 2) {
                return false;
            }
            const quint8 opcode = quint8(buffer.at(0)) & 0x0f;
            qsizetype headerSize = 2;
            quint64 length = quint8(buffer.at(1)) & 0x7f;
            if (length == 126) {
                headerSize = 4;
                if (buffer.size() < headerSize) {
                    return false;
                }
                length = qFromBigEndian<quint16>(buffer.constData() + 2);
            } else if (length == 127) {
                headerSize = 10;
                if (buffer.size() < headerSize) {
                    return false;
                }
                length = qFromBigEndian<quint64>(buffer.constData() + 2);
            }
            if (quint64(buffer.size() - headerSize) < length) {
                return false;
            }
            if (opcode == 0x1) {
                payload = buffer.mid(headerSize, qsizetype(length));
            }
            buffer.remove(0, headerSize + qsizetype(length));
            return payload.has_value();
        },
        kWaitMs);
    return found ? payload : std::nullopt;
}

// An agent as the tests play it: ids and its identity key.
struct TestAgent {
    QString orgId;
    QString agentId;
    QString name;
    std::shared_ptr<Ed25519PrivateKey> identity;
};

enum class AuthFault {
    BadSignature,
    WrongOrigin,
    IssuedTooEarly,
    IssuedTooLate,
    UnknownAgent,
    Revoked,
    WrongOrg,
};

} // namespace

Q_DECLARE_METATYPE(AuthFault)

class TestAgentGateway : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void helloOnConnect();
    void helloNamesDialledOrigin();
    void helloOriginFromHost_data();
    void helloOriginFromHost();
    void portlessOriginAuthenticates();
    void enrolPendingApproval();
    void enrolReusedToken();
    void enrolExpiredToken();
    void enrolNameMismatch();
    void enrolUnknownToken();
    void enrolRevokedAgent();
    void rekeyStaysPending();
    void pushCertificateAfterApproval();
    void authenticateApproved_data();
    void authenticateApproved();
    void authenticateRejected_data();
    void authenticateRejected();
    void nonceReplayRejected();
    void failedAuthEndsConnection();
    void firstMessageNotAuth();
    void authTimeoutCloses();
    void secondSessionReplaces();
    void disconnectReported();
    void closeAgentAfterRevoke();
    void oversizedMessageCloses_data();
    void oversizedMessageCloses();
    void unknownTypeKeepsSession();
    void invalidMessageKeepsSession();
    void messagesRelayed();
    void sendToAgent();
    void silentPeerClosed();
    void answeringPeerStaysOpen();

private:
    void startGateway(AgentGatewayOptions options);
    AgentGatewayOptions defaultOptions();
    QString createToken(const QString &orgId, const QString &agentName, qint64 lifetimeSeconds = 3600);
    Enrol enrolMessage(const QString &token, const TestAgent &agent);
    TestAgent newAgent(const QString &orgId, const QString &name);
    // Stores the agent with a certificate signed by the test operator key.
    TestAgent approvedAgent(const QString &orgId, const QString &name, qint64 generation = 1);
    SignedStatement certificateFor(const TestAgent &agent, qint64 generation);
    Authenticate authenticateMessage(const TestAgent &agent, const QByteArray &nonce,
                                     const QString &origin, const QDateTime &issuedAt,
                                     const Ed25519PrivateKey *signer = nullptr,
                                     const QString &orgId = {});
    // Connects, authenticates and returns the client after its welcome.
    std::unique_ptr<Client> connectAuthenticated(const TestAgent &agent);
    QList<AuditRecord> auditRows(const QString &orgId, const QString &event);
    // Opens /agent over a plain TCP socket, sending `host` as the Host
    // header (the listener's address when empty). Bytes that arrived after
    // the 101 response are stored in `afterHeaders` when it is not null.
    std::unique_ptr<QTcpSocket> rawWebSocket(const QByteArray &host = {},
                                             QByteArray *afterHeaders = nullptr);

    QTemporaryDir m_dir;
    int m_databaseCount = 0;
    std::unique_ptr<SqlStorage> m_storage;
    std::unique_ptr<QWebSocketServer> m_server;
    std::unique_ptr<AgentGateway> m_gateway;
    std::optional<Ed25519PrivateKey> m_operatorKey;
    std::optional<RsaPrivateKey> m_encryptionKey;
    QString m_orgId;
    QString m_otherOrgId;
    QDateTime m_now;
    qint64 m_storageOffsetSeconds = 0;
};

void TestAgentGateway::initTestCase()
{
    QVERIFY2(m_dir.isValid(), qPrintable(m_dir.errorString()));
    auto operatorKey = Ed25519PrivateKey::generate();
    QVERIFY(operatorKey.ok());
    m_operatorKey = operatorKey.value();
    auto encryptionKey = RsaPrivateKey::generate();
    QVERIFY(encryptionKey.ok());
    m_encryptionKey = encryptionKey.value();
}

void TestAgentGateway::init()
{
    m_now = QDateTime::currentDateTimeUtc();
    m_storageOffsetSeconds = 0;

    StorageConfig config;
    config.sqlitePath = m_dir.filePath(u"gateway-%1.db"_s.arg(++m_databaseCount));
    auto storage = SqlStorage::open(config);
    QVERIFY2(storage.ok(), storage.ok() ? "" : qPrintable(storage.error().message));
    m_storage = std::move(storage).value();
    m_storage->setClock(
        [this] { return QDateTime::currentDateTimeUtc().addSecs(m_storageOffsetSeconds); });
    const auto migrated = m_storage->migrate();
    QVERIFY2(migrated.ok(), migrated.ok() ? "" : qPrintable(migrated.error().message));

    m_orgId = newUuid();
    m_otherOrgId = newUuid();
    QVERIFY(m_storage->createOrg(OrgRow{m_orgId, u"Org A"_s, {}}).ok());
    QVERIFY(m_storage->createOrg(OrgRow{m_otherOrgId, u"Org B"_s, {}}).ok());

    m_server = std::make_unique<QWebSocketServer>(u"tst_agentgateway"_s,
                                                  QWebSocketServer::NonSecureMode);
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
    QObject::connect(m_server.get(), &QWebSocketServer::newConnection, m_server.get(), [this] {
        while (QWebSocket *socket = m_server->nextPendingConnection()) {
            m_gateway->acceptConnection(socket);
        }
    });
    startGateway(defaultOptions());
}

void TestAgentGateway::cleanup()
{
    m_gateway.reset();
    m_server.reset();
    m_storage.reset();
}

AgentGatewayOptions TestAgentGateway::defaultOptions()
{
    AgentGatewayOptions options;
    options.publicOrigins = {kOrigin, u"ws://127.0.0.1:8080"_s};
    options.clock = [this] { return m_now; };
    return options;
}

void TestAgentGateway::startGateway(AgentGatewayOptions options)
{
    m_gateway = std::make_unique<AgentGateway>(*m_storage, std::move(options));
}

QString TestAgentGateway::createToken(const QString &orgId, const QString &agentName,
                                      qint64 lifetimeSeconds)
{
    const QString token = u"enrol-"_s + newUuid();
    EnrolmentTokenRow row;
    row.orgId = orgId;
    row.tokenId = newUuid();
    row.tokenHash = sha256(token.toUtf8());
    row.agentName = agentName;
    row.createdBy = u"token-operator"_s;
    row.expiresAt = QDateTime::currentDateTimeUtc().addSecs(lifetimeSeconds);
    const auto created = m_storage->createEnrolmentToken(row);
    if (!created) {
        qWarning("createEnrolmentToken failed: %s", qPrintable(created.error().message));
    }
    return token;
}

TestAgent TestAgentGateway::newAgent(const QString &orgId, const QString &name)
{
    auto identity = Ed25519PrivateKey::generate();
    Q_ASSERT(identity.ok());
    return TestAgent{orgId, newUuid(), name,
                     std::make_shared<Ed25519PrivateKey>(std::move(identity).value())};
}

Enrol TestAgentGateway::enrolMessage(const QString &token, const TestAgent &agent)
{
    Enrol enrol;
    enrol.id = newUuid();
    enrol.enrolmentToken = token;
    enrol.agentId = agent.agentId;
    enrol.agentName = agent.name;
    enrol.encryptionKey = m_encryptionKey->publicKey().spkiDer();
    enrol.identityKey = agent.identity->publicKey().raw();
    return enrol;
}

SignedStatement TestAgentGateway::certificateFor(const TestAgent &agent, qint64 generation)
{
    sealrelay::AgentCertificate certificate;
    certificate.orgId = agent.orgId;
    certificate.agentId = agent.agentId;
    certificate.agentName = agent.name;
    certificate.generation = generation;
    certificate.encryptionKey = m_encryptionKey->publicKey().spkiDer();
    certificate.identityKey = agent.identity->publicKey().raw();
    certificate.issuedAt = QDateTime::fromMSecsSinceEpoch(
        QDateTime::currentMSecsSinceEpoch() / 1000 * 1000, Qt::UTC);
    certificate.expiresAt = certificate.issuedAt.addDays(365);
    certificate.operatorKey = m_operatorKey->publicKey().raw();
    auto signedCertificate =
        signStatement(StatementContext::AgentCertificate, certificate.toFields(), *m_operatorKey);
    if (!signedCertificate) {
        qWarning("signing the certificate failed: %s",
                 qPrintable(signedCertificate.error().message));
        return {};
    }
    return signedCertificate.value();
}

TestAgent TestAgentGateway::approvedAgent(const QString &orgId, const QString &name,
                                          qint64 generation)
{
    TestAgent agent = newAgent(orgId, name);
    AgentRow row;
    row.orgId = orgId;
    row.agentId = agent.agentId;
    row.name = name;
    row.status = AgentStatus::PendingApproval;
    row.encryptionKey = m_encryptionKey->publicKey().spkiDer();
    row.identityKey = agent.identity->publicKey().raw();
    if (const auto stored = m_storage->upsertAgent(row); !stored) {
        qWarning("upsertAgent failed: %s", qPrintable(stored.error().message));
    }

    const SignedStatement certificate = certificateFor(agent, generation);
    backend::AgentCertificate stored;
    stored.statement = certificate.bytes;
    stored.signature = certificate.signature;
    stored.generation = generation;
    stored.expiresAt = QDateTime::currentDateTimeUtc().addDays(365);
    const auto set = m_storage->setAgentCertificate(orgId, agent.agentId, stored);
    if (!set || !set.value()) {
        qWarning("setAgentCertificate did not store the certificate");
    }
    return agent;
}

Authenticate TestAgentGateway::authenticateMessage(const TestAgent &agent, const QByteArray &nonce,
                                                   const QString &origin,
                                                   const QDateTime &issuedAt,
                                                   const Ed25519PrivateKey *signer,
                                                   const QString &orgId)
{
    AuthStatement statement;
    statement.orgId = orgId.isEmpty() ? agent.orgId : orgId;
    statement.agentId = agent.agentId;
    statement.backendOrigin = origin;
    statement.nonce = nonce;
    statement.issuedAt = issuedAt;
    auto signedStatement = signStatement(StatementContext::Auth, statement.toFields(),
                                         signer ? *signer : *agent.identity);
    Authenticate authenticate;
    authenticate.id = newUuid();
    if (signedStatement) {
        authenticate.auth = signedStatement.value();
    } else {
        qWarning("signing the auth statement failed: %s",
                 qPrintable(signedStatement.error().message));
    }
    return authenticate;
}

std::unique_ptr<Client> TestAgentGateway::connectAuthenticated(const TestAgent &agent)
{
    auto client = std::make_unique<Client>(m_server->serverPort());
    const auto hello = client->hello();
    if (!hello) {
        return nullptr;
    }
    client->send(authenticateMessage(agent, hello->nonce, kOrigin, m_now));
    const auto welcome = client->message(1);
    if (!welcome || !std::holds_alternative<Welcome>(*welcome)) {
        return nullptr;
    }
    return client;
}

QList<AuditRecord> TestAgentGateway::auditRows(const QString &orgId, const QString &event)
{
    AuditFilter filter;
    filter.event = event;
    const auto rows = m_storage->auditRecords(orgId, filter);
    return rows ? rows.value() : QList<AuditRecord>();
}

std::unique_ptr<QTcpSocket> TestAgentGateway::rawWebSocket(const QByteArray &host,
                                                           QByteArray *afterHeaders)
{
    auto socket = std::make_unique<QTcpSocket>();
    socket->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    if (!socket->waitForConnected(kWaitMs)) {
        return nullptr;
    }
    const QByteArray hostHeader =
        host.isEmpty() ? "127.0.0.1:" + QByteArray::number(m_server->serverPort()) : host;
    const QByteArray request = "GET /agent HTTP/1.1\r\n"
                               "Host: " + hostHeader
        + "\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n";
    socket->write(request);
    QByteArray response;
    const bool upgraded = QTest::qWaitFor(
        [&] {
            response += socket->readAll();
            return response.contains("\r\n\r\n");
        },
        kWaitMs);
    if (!upgraded || !response.startsWith("HTTP/1.1 101")) {
        return nullptr;
    }
    if (afterHeaders) {
        *afterHeaders = response.mid(response.indexOf("\r\n\r\n") + 4);
    }
    return socket;
}

// ---- Tests -----------------------------------------------------------------

void TestAgentGateway::helloOnConnect()
{
    Client first(m_server->serverPort());
    Client second(m_server->serverPort());
    const auto firstHello = first.hello();
    const auto secondHello = second.hello();
    QVERIFY(firstHello);
    QVERIFY(secondHello);
    QCOMPARE(firstHello->backendOrigin, kOrigin);
    QCOMPARE(firstHello->nonce.size(), kNonceBytes);
    QVERIFY(firstHello->nonce != secondHello->nonce);
    QCOMPARE(firstHello->serverTime, m_now);
    QCOMPARE(m_gateway->connectedCount(), 0);
}

void TestAgentGateway::helloNamesDialledOrigin()
{
    // A second listener feeds the same gateway, as a backend reachable at two
    // origins would.
    QWebSocketServer second(u"tst_agentgateway second"_s, QWebSocketServer::NonSecureMode);
    QVERIFY(second.listen(QHostAddress::LocalHost, 0));
    QObject::connect(&second, &QWebSocketServer::newConnection, &second, [this, &second] {
        while (QWebSocket *socket = second.nextPendingConnection()) {
            m_gateway->acceptConnection(socket);
        }
    });
    const QString firstOrigin = u"http://127.0.0.1:%1"_s.arg(m_server->serverPort());
    const QString secondOrigin = u"http://127.0.0.1:%1"_s.arg(second.serverPort());
    AgentGatewayOptions options = defaultOptions();
    options.publicOrigins = {firstOrigin, secondOrigin};
    startGateway(options);

    Client toFirst(m_server->serverPort());
    Client toSecond(second.serverPort());
    const auto firstHello = toFirst.hello();
    const auto secondHello = toSecond.hello();
    QVERIFY(firstHello);
    QVERIFY(secondHello);
    QCOMPARE(firstHello->backendOrigin, firstOrigin);
    QCOMPARE(secondHello->backendOrigin, secondOrigin);

    // An auth statement that names the announced origin is accepted.
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    toSecond.send(authenticateMessage(agent, secondHello->nonce, secondHello->backendOrigin, m_now));
    const auto welcome = toSecond.message(1);
    QVERIFY(welcome);
    QVERIFY(std::holds_alternative<Welcome>(*welcome));
    QCOMPARE(std::get<Welcome>(*welcome).status, WelcomeStatus::Approved);
}

void TestAgentGateway::helloOriginFromHost_data()
{
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<QString>("expected");

    const QString primary = u"https://primary.example:8443"_s;
    const QString agents = u"https://agents.example:443"_s;
    const QString backend = u"https://backend.example:8443"_s;
    const QString plain = u"http://127.0.0.1:8080"_s;
    const QString literal = u"https://[::1]:8443"_s;
    const QString portless = u"https://portless.example:443"_s;
    QTest::newRow("listed host and port") << QByteArray("backend.example:8443") << backend;
    QTest::newRow("host in other case") << QByteArray("BACKEND.Example:8443") << backend;
    QTest::newRow("explicit default port") << QByteArray("agents.example:443") << agents;
    QTest::newRow("default port omitted") << QByteArray("agents.example") << agents;
    QTest::newRow("plain origin") << QByteArray("127.0.0.1:8080") << plain;
    QTest::newRow("IPv6 literal") << QByteArray("[::1]:8443") << literal;
    QTest::newRow("origin configured without port")
        << QByteArray("portless.example:443") << portless;
    QTest::newRow("neither side with port") << QByteArray("portless.example") << portless;
    QTest::newRow("unlisted host") << QByteArray("elsewhere.example:8443") << primary;
    QTest::newRow("unlisted port") << QByteArray("backend.example:9443") << primary;
    QTest::newRow("omitted port not listed") << QByteArray("backend.example") << primary;
    QTest::newRow("plain origin without port") << QByteArray("127.0.0.1") << primary;
}

void TestAgentGateway::helloOriginFromHost()
{
    QFETCH(QByteArray, host);
    QFETCH(QString, expected);

    AgentGatewayOptions options = defaultOptions();
    options.publicOrigins = {u"https://primary.example:8443"_s, u"https://agents.example:443"_s,
                             u"https://backend.example:8443"_s, u"http://127.0.0.1:8080"_s,
                             u"https://[::1]:8443"_s, u"https://Portless.example"_s};
    startGateway(options);

    // The TCP connection goes to the listener on 127.0.0.1; only the Host
    // header of the upgrade request names another host and port.
    QByteArray buffer;
    auto raw = rawWebSocket(host, &buffer);
    QVERIFY(raw);
    const std::optional<QByteArray> frame = takeTextFrame(*raw, buffer);
    QVERIFY(frame);
    Result<AgentMessage> message = parseAgentMessage(*frame);
    QVERIFY2(message.ok(), message.ok() ? "" : qPrintable(message.error().message));
    QVERIFY(std::holds_alternative<Hello>(message.value()));
    QCOMPARE(std::get<Hello>(message.value()).backendOrigin, expected);
}

void TestAgentGateway::portlessOriginAuthenticates()
{
    // An agent dialling https://backend.example signs the origin with :443.
    AgentGatewayOptions options = defaultOptions();
    options.publicOrigins = {u"https://Backend.example"_s};
    startGateway(options);
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);

    Client client(m_server->serverPort());
    const auto hello = client.hello();
    QVERIFY(hello);
    QCOMPARE(hello->backendOrigin, u"https://backend.example:443"_s);
    client.send(authenticateMessage(agent, hello->nonce, hello->backendOrigin, m_now));
    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<Welcome>(*reply));
    QCOMPARE(std::get<Welcome>(*reply).status, WelcomeStatus::Approved);
}

void TestAgentGateway::enrolPendingApproval()
{
    const TestAgent agent = newAgent(m_orgId, u"edge-1"_s);
    const QString token = createToken(m_orgId, agent.name);
    QSignalSpy authenticated(m_gateway.get(), &AgentGateway::agentAuthenticated);

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(token, agent));
    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<Welcome>(*reply));
    const Welcome welcome = std::get<Welcome>(*reply);
    QCOMPARE(welcome.status, WelcomeStatus::PendingApproval);
    QCOMPARE(welcome.orgId, m_orgId);
    QCOMPARE(welcome.agentId, agent.agentId);
    QVERIFY(!welcome.certificate.has_value());

    const auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok());
    QVERIFY(stored.value().has_value());
    QCOMPARE(stored.value()->status, AgentStatus::PendingApproval);
    QCOMPARE(stored.value()->identityKey, agent.identity->publicKey().raw());
    QCOMPARE(stored.value()->encryptionKey, m_encryptionKey->publicKey().spkiDer());
    QCOMPARE(stored.value()->name, agent.name);

    const QList<AuditRecord> audit = auditRows(m_orgId, u"agent_enrolled"_s);
    QCOMPARE(audit.size(), 1);
    QCOMPARE(audit.first().agentId, std::optional<QString>(agent.agentId));
    QVERIFY(!audit.first().details->contains(token));

    // The session stays open so the agent can learn of its approval.
    QTest::qWait(100);
    QVERIFY(!client.disconnected);
    QVERIFY(m_gateway->isConnected(m_orgId, agent.agentId));
    QCOMPARE(m_gateway->connectedCount(), 1);
    QCOMPARE(authenticated.size(), 1);
}

void TestAgentGateway::enrolReusedToken()
{
    const TestAgent first = newAgent(m_orgId, u"edge-1"_s);
    const TestAgent second = newAgent(m_orgId, u"edge-1"_s);
    const QString token = createToken(m_orgId, first.name);

    Client firstClient(m_server->serverPort());
    QVERIFY(firstClient.hello());
    firstClient.send(enrolMessage(token, first));
    const auto welcome = firstClient.message(1);
    QVERIFY(welcome);
    QVERIFY(std::holds_alternative<Welcome>(*welcome));

    Client secondClient(m_server->serverPort());
    QVERIFY(secondClient.hello());
    secondClient.send(enrolMessage(token, second));
    const auto reply = secondClient.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
    QCOMPARE(std::get<ErrorMessage>(*reply).code, Reason::Unauthenticated);
    QVERIFY(secondClient.waitDisconnected());
    QCOMPARE(secondClient.closeCode(), 4401);

    AlertFilter filter;
    filter.type = u"enrolment_token_reused"_s;
    const auto alerts = m_storage->alerts(m_orgId, filter);
    QVERIFY(alerts.ok());
    QCOMPARE(alerts->size(), 1);
    QCOMPARE(alerts->first().severity, AlertSeverity::High);
    QVERIFY(!alerts->first().details->contains(token));

    const auto stored = m_storage->agent(m_orgId, second.agentId);
    QVERIFY(stored.ok());
    QVERIFY(!stored.value().has_value());
}

void TestAgentGateway::enrolExpiredToken()
{
    const TestAgent agent = newAgent(m_orgId, u"edge-1"_s);
    const QString token = createToken(m_orgId, agent.name, 3600);
    m_storageOffsetSeconds = 2 * 3600;

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(token, agent));
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4401);

    AlertFilter filter;
    filter.type = u"enrolment_token_reused"_s;
    const auto alerts = m_storage->alerts(m_orgId, filter);
    QVERIFY(alerts.ok());
    QCOMPARE(alerts->size(), 1);
    QVERIFY(alerts->first().details->contains(u"expired"_s));

    const auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok());
    QVERIFY(!stored.value().has_value());
}

void TestAgentGateway::enrolNameMismatch()
{
    const TestAgent agent = newAgent(m_orgId, u"edge-2"_s);
    const QString token = createToken(m_orgId, u"edge-1"_s);

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(token, agent));
    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
    QCOMPARE(std::get<ErrorMessage>(*reply).code, Reason::Forbidden);
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4403);
    QVERIFY(!client.socket.closeReason().isEmpty());

    // The token was not consumed, so the right agent can still use it.
    const auto tokens = m_storage->enrolmentTokens(m_orgId);
    QVERIFY(tokens.ok());
    QCOMPARE(tokens->size(), 1);
    QVERIFY(!tokens->first().usedAt.has_value());
    QCOMPARE(auditRows(m_orgId, u"agent_enrol_failed"_s).size(), 1);
}

void TestAgentGateway::enrolUnknownToken()
{
    const TestAgent agent = newAgent(m_orgId, u"edge-1"_s);
    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(u"never-issued"_s, agent));
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4401);
    const auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok());
    QVERIFY(!stored.value().has_value());
}

void TestAgentGateway::enrolRevokedAgent()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QVERIFY(m_storage->setAgentStatus(m_orgId, agent.agentId, AgentStatus::Revoked).ok());
    const QString token = createToken(m_orgId, agent.name);

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(token, agent));
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4403);
    const auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok());
    QCOMPARE(stored.value()->status, AgentStatus::Revoked);
}

void TestAgentGateway::rekeyStaysPending()
{
    TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    auto newIdentity = Ed25519PrivateKey::generate();
    QVERIFY(newIdentity.ok());
    agent.identity = std::make_shared<Ed25519PrivateKey>(std::move(newIdentity).value());
    const QString token = createToken(m_orgId, agent.name);

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(token, agent));
    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<Welcome>(*reply));
    QCOMPARE(std::get<Welcome>(*reply).status, WelcomeStatus::PendingApproval);
    QVERIFY(!std::get<Welcome>(*reply).certificate.has_value());

    const auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok());
    QCOMPARE(stored.value()->status, AgentStatus::PendingApproval);
    QCOMPARE(stored.value()->generation, 1);
    QCOMPARE(stored.value()->identityKey, agent.identity->publicKey().raw());

    // A later authenticate with the new key is still pending, without a
    // certificate, until generation 2 is stored.
    auto later = connectAuthenticated(agent);
    QVERIFY(later);
    const auto welcome = later->message(1);
    QCOMPARE(std::get<Welcome>(*welcome).status, WelcomeStatus::PendingApproval);
    QVERIFY(!std::get<Welcome>(*welcome).certificate.has_value());
}

void TestAgentGateway::pushCertificateAfterApproval()
{
    const TestAgent agent = newAgent(m_orgId, u"edge-1"_s);
    const QString token = createToken(m_orgId, agent.name);
    QSignalSpy received(m_gateway.get(), &AgentGateway::messageReceived);

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    client.send(enrolMessage(token, agent));
    QVERIFY(client.message(1));

    // A pending agent may not register yet.
    Register registration;
    registration.id = newUuid();
    registration.mode = RegisterMode::FirstRegistration;
    client.send(registration);
    const auto refused = client.message(2);
    QVERIFY(refused);
    QVERIFY(std::holds_alternative<ErrorMessage>(*refused));
    QCOMPARE(std::get<ErrorMessage>(*refused).code, Reason::Forbidden);
    QCOMPARE(received.size(), 0);

    const SignedStatement certificate = certificateFor(agent, 1);
    backend::AgentCertificate stored;
    stored.statement = certificate.bytes;
    stored.signature = certificate.signature;
    stored.generation = 1;
    stored.expiresAt = QDateTime::currentDateTimeUtc().addDays(365);
    const auto set = m_storage->setAgentCertificate(m_orgId, agent.agentId, stored);
    QVERIFY(set.ok());
    QVERIFY(set.value());
    m_gateway->pushCertificate(m_orgId, agent.agentId);

    const auto update = client.message(3);
    QVERIFY(update);
    QVERIFY(std::holds_alternative<CertificateUpdate>(*update));
    QCOMPARE(std::get<CertificateUpdate>(*update).certificate.bytes, certificate.bytes);
    QCOMPARE(std::get<CertificateUpdate>(*update).certificate.signature, certificate.signature);

    registration.id = newUuid();
    client.send(registration);
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 1, kWaitMs);
}

void TestAgentGateway::authenticateApproved_data()
{
    QTest::addColumn<qint64>("offsetSeconds");
    QTest::newRow("now") << qint64(0);
    QTest::newRow("119 s early") << qint64(-119);
    QTest::newRow("119 s late") << qint64(119);
}

void TestAgentGateway::authenticateApproved()
{
    QFETCH(qint64, offsetSeconds);
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QSignalSpy authenticated(m_gateway.get(), &AgentGateway::agentAuthenticated);

    Client client(m_server->serverPort());
    const auto hello = client.hello();
    QVERIFY(hello);
    client.send(authenticateMessage(agent, hello->nonce, kOrigin, m_now.addSecs(offsetSeconds)));
    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<Welcome>(*reply));
    const Welcome welcome = std::get<Welcome>(*reply);
    QCOMPARE(welcome.status, WelcomeStatus::Approved);
    QCOMPARE(welcome.agentId, agent.agentId);
    QCOMPARE(welcome.orgId, m_orgId);
    QVERIFY(welcome.certificate.has_value());

    const auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok());
    QCOMPARE(welcome.certificate->bytes, *stored.value()->certificateStatement);
    QCOMPARE(welcome.certificate->signature, *stored.value()->certificateSignature);
    QVERIFY(stored.value()->lastSeen.has_value());

    // The certificate in the welcome verifies under the operator key.
    const auto fields = verifyStatement(StatementContext::AgentCertificate, *welcome.certificate,
                                        m_operatorKey->publicKey());
    QVERIFY(fields.ok());

    QCOMPARE(authenticated.size(), 1);
    QCOMPARE(authenticated.first().at(0).toString(), m_orgId);
    QCOMPARE(authenticated.first().at(1).toString(), agent.agentId);
    QVERIFY(m_gateway->isConnected(m_orgId, agent.agentId));
}

void TestAgentGateway::authenticateRejected_data()
{
    QTest::addColumn<AuthFault>("fault");
    QTest::addColumn<int>("closeCode");
    QTest::addColumn<QString>("auditReason");

    QTest::newRow("bad signature") << AuthFault::BadSignature << 4401 << u"bad_signature"_s;
    QTest::newRow("wrong origin") << AuthFault::WrongOrigin << 4401 << u"wrong_origin"_s;
    QTest::newRow("issued 121 s early") << AuthFault::IssuedTooEarly << 4401 << u"clock_skew"_s;
    QTest::newRow("issued 121 s late") << AuthFault::IssuedTooLate << 4401 << u"clock_skew"_s;
    QTest::newRow("unknown agent") << AuthFault::UnknownAgent << 4401 << u"unknown_agent"_s;
    QTest::newRow("revoked") << AuthFault::Revoked << 4403 << u"revoked"_s;
    QTest::newRow("wrong org") << AuthFault::WrongOrg << 4403 << u"wrong_org"_s;
}

void TestAgentGateway::authenticateRejected()
{
    QFETCH(AuthFault, fault);
    QFETCH(int, closeCode);
    QFETCH(QString, auditReason);

    TestAgent agent = fault == AuthFault::UnknownAgent ? newAgent(m_orgId, u"edge-1"_s)
                                                       : approvedAgent(m_orgId, u"edge-1"_s);
    if (fault == AuthFault::Revoked) {
        QVERIFY(m_storage->setAgentStatus(m_orgId, agent.agentId, AgentStatus::Revoked).ok());
    }
    auto otherKey = Ed25519PrivateKey::generate();
    QVERIFY(otherKey.ok());
    QSignalSpy authenticated(m_gateway.get(), &AgentGateway::agentAuthenticated);

    Client client(m_server->serverPort());
    const auto hello = client.hello();
    QVERIFY(hello);

    const Ed25519PrivateKey *signer =
        fault == AuthFault::BadSignature ? &otherKey.value() : agent.identity.get();
    const QString origin = fault == AuthFault::WrongOrigin ? kOtherOrigin : kOrigin;
    QDateTime issuedAt = m_now;
    if (fault == AuthFault::IssuedTooEarly) {
        issuedAt = m_now.addSecs(-121);
    } else if (fault == AuthFault::IssuedTooLate) {
        issuedAt = m_now.addSecs(121);
    }
    const QString statementOrg = fault == AuthFault::WrongOrg ? m_otherOrgId : m_orgId;
    client.send(authenticateMessage(agent, hello->nonce, origin, issuedAt, signer, statementOrg));

    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
    QCOMPARE(std::get<ErrorMessage>(*reply).code,
             closeCode == 4403 ? Reason::Forbidden : Reason::Unauthenticated);
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), closeCode);
    QCOMPARE(client.socket.closeReason(), auditReason);
    QCOMPARE(authenticated.size(), 0);
    QVERIFY(!m_gateway->isConnected(m_orgId, agent.agentId));

    const QList<AuditRecord> audit = auditRows(m_orgId, u"agent_auth_failed"_s);
    QCOMPARE(audit.size(), 1);
    QCOMPARE(audit.first().reason, std::optional<QString>(auditReason));
    QCOMPARE(audit.first().agentId, std::optional<QString>(agent.agentId));
}

void TestAgentGateway::nonceReplayRejected()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);

    Client first(m_server->serverPort());
    const auto firstHello = first.hello();
    QVERIFY(firstHello);
    const Authenticate captured = authenticateMessage(agent, firstHello->nonce, kOrigin, m_now);
    first.send(captured);
    QVERIFY(first.message(1));

    // The same statement, replayed on a new connection with another nonce.
    Client second(m_server->serverPort());
    QVERIFY(second.hello());
    Authenticate replay = captured;
    replay.id = newUuid();
    second.send(replay);
    QVERIFY(second.waitDisconnected());
    QCOMPARE(second.closeCode(), 4401);
    QCOMPARE(second.socket.closeReason(), u"nonce_mismatch"_s);
    QVERIFY(!first.disconnected);
}

void TestAgentGateway::failedAuthEndsConnection()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    Client client(m_server->serverPort());
    const auto hello = client.hello();
    QVERIFY(hello);

    // A first attempt that fails spends the nonce and ends the connection.
    client.send(authenticateMessage(agent, hello->nonce, kOtherOrigin, m_now));
    client.send(authenticateMessage(agent, hello->nonce, kOrigin, m_now));
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4401);
    for (qsizetype index = 1; index < client.frames.size(); ++index) {
        const auto reply = parseAgentMessage(client.frames.at(index));
        QVERIFY(reply.ok());
        QVERIFY(!std::holds_alternative<Welcome>(reply.value()));
    }
}

void TestAgentGateway::firstMessageNotAuth()
{
    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    Register registration;
    registration.id = newUuid();
    client.send(registration);
    const auto reply = client.message(1);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
    QCOMPARE(std::get<ErrorMessage>(*reply).inReplyTo, registration.id);
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4401);

    Client garbage(m_server->serverPort());
    QVERIFY(garbage.hello());
    garbage.socket.sendTextMessage(u"{not json"_s);
    QVERIFY(garbage.waitDisconnected());
    QCOMPARE(garbage.closeCode(), 4401);
}

void TestAgentGateway::authTimeoutCloses()
{
    AgentGatewayOptions options = defaultOptions();
    options.authTimeout = std::chrono::milliseconds(200);
    startGateway(options);

    Client client(m_server->serverPort());
    QVERIFY(client.hello());
    QVERIFY(client.waitDisconnected());
    QCOMPARE(client.closeCode(), 4401);
}

void TestAgentGateway::secondSessionReplaces()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QSignalSpy disconnected(m_gateway.get(), &AgentGateway::agentDisconnected);
    QSignalSpy authenticated(m_gateway.get(), &AgentGateway::agentAuthenticated);

    auto first = connectAuthenticated(agent);
    QVERIFY(first);
    auto second = connectAuthenticated(agent);
    QVERIFY(second);

    QVERIFY(first->waitDisconnected());
    QCOMPARE(first->closeCode(), int(QWebSocketProtocol::CloseCodeNormal));
    QVERIFY(!first->socket.closeReason().isEmpty());
    QTest::qWait(100);
    QVERIFY(!second->disconnected);
    QCOMPARE(m_gateway->connectedCount(), 1);
    QVERIFY(m_gateway->isConnected(m_orgId, agent.agentId));
    QCOMPARE(authenticated.size(), 2);
    QCOMPARE(disconnected.size(), 0);

    // Messages go to the newer session.
    Registered registered;
    registered.id = newUuid();
    QVERIFY(m_gateway->send(m_orgId, agent.agentId, registered));
    const auto delivered = second->message(2);
    QVERIFY(delivered);
    QVERIFY(std::holds_alternative<Registered>(*delivered));
}

void TestAgentGateway::disconnectReported()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QSignalSpy disconnected(m_gateway.get(), &AgentGateway::agentDisconnected);
    auto client = connectAuthenticated(agent);
    QVERIFY(client);
    client->socket.close();
    QTRY_COMPARE_WITH_TIMEOUT(disconnected.size(), 1, kWaitMs);
    QCOMPARE(disconnected.first().at(1).toString(), agent.agentId);
    QCOMPARE(m_gateway->connectedCount(), 0);
    QVERIFY(!m_gateway->isConnected(m_orgId, agent.agentId));
}

void TestAgentGateway::closeAgentAfterRevoke()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QSignalSpy disconnected(m_gateway.get(), &AgentGateway::agentDisconnected);
    auto client = connectAuthenticated(agent);
    QVERIFY(client);

    QVERIFY(m_storage->setAgentStatus(m_orgId, agent.agentId, AgentStatus::Revoked).ok());
    m_gateway->closeAgent(m_orgId, agent.agentId, 4403, u"revoked"_s);
    QVERIFY(client->waitDisconnected());
    QCOMPARE(client->closeCode(), 4403);
    QCOMPARE(client->socket.closeReason(), u"revoked"_s);
    QTRY_COMPARE_WITH_TIMEOUT(disconnected.size(), 1, kWaitMs);
    QCOMPARE(m_gateway->connectedCount(), 0);

    // Reconnecting is now forbidden.
    Client again(m_server->serverPort());
    const auto hello = again.hello();
    QVERIFY(hello);
    again.send(authenticateMessage(agent, hello->nonce, kOrigin, m_now));
    QVERIFY(again.waitDisconnected());
    QCOMPARE(again.closeCode(), 4403);
}

void TestAgentGateway::oversizedMessageCloses_data()
{
    QTest::addColumn<int>("paddingBytes");
    QTest::addColumn<bool>("errorReply");
    // Up to twice the limit the session reads the message and replies; Qt
    // closes on larger ones by itself.
    QTest::newRow("just over the limit") << 5000 << true;
    QTest::newRow("over the hard cap") << 20000 << false;
}

void TestAgentGateway::oversizedMessageCloses()
{
    QFETCH(int, paddingBytes);
    QFETCH(bool, errorReply);
    AgentGatewayOptions options = defaultOptions();
    options.limits.maxMessageBytes = 4096;
    startGateway(options);
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    auto client = connectAuthenticated(agent);
    QVERIFY(client);

    const QString padding(paddingBytes, u'x');
    client->socket.sendTextMessage(
        u"{\"type\":\"register\",\"id\":\"%1\",\"mode\":\"first_registration\",\"pad\":\"%2\"}"_s
            .arg(newUuid(), padding));
    QVERIFY(client->waitDisconnected());
    QCOMPARE(client->closeCode(), int(QWebSocketProtocol::CloseCodeTooMuchData));
    if (errorReply) {
        QCOMPARE(client->frames.size(), 3);
        const auto reply = client->message(2);
        QVERIFY(reply);
        QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
        QCOMPARE(std::get<ErrorMessage>(*reply).code, Reason::TooLarge);
    }
    QCOMPARE(m_gateway->connectedCount(), 0);
}

void TestAgentGateway::unknownTypeKeepsSession()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QSignalSpy received(m_gateway.get(), &AgentGateway::messageReceived);
    auto client = connectAuthenticated(agent);
    QVERIFY(client);

    const QString id = newUuid();
    client->socket.sendTextMessage(u"{\"type\":\"teleport\",\"id\":\"%1\"}"_s.arg(id));
    const auto reply = client->message(2);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
    QCOMPARE(std::get<ErrorMessage>(*reply).code, Reason::UnknownType);
    QCOMPARE(std::get<ErrorMessage>(*reply).inReplyTo, id);

    Register registration;
    registration.id = newUuid();
    client->send(registration);
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 1, kWaitMs);
    QVERIFY(!client->disconnected);
}

void TestAgentGateway::invalidMessageKeepsSession()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QSignalSpy received(m_gateway.get(), &AgentGateway::messageReceived);
    auto client = connectAuthenticated(agent);
    QVERIFY(client);

    client->socket.sendTextMessage(
        u"{\"type\":\"register\",\"id\":\"%1\",\"mode\":\"sideways\"}"_s.arg(newUuid()));
    const auto reply = client->message(2);
    QVERIFY(reply);
    QVERIFY(std::holds_alternative<ErrorMessage>(*reply));
    QCOMPARE(std::get<ErrorMessage>(*reply).code, Reason::InvalidMessage);

    // A type only the backend sends is invalid from an agent.
    Registered registered;
    registered.id = newUuid();
    client->send(registered);
    const auto second = client->message(3);
    QVERIFY(second);
    QVERIFY(std::holds_alternative<ErrorMessage>(*second));
    QCOMPARE(std::get<ErrorMessage>(*second).code, Reason::InvalidMessage);

    QTest::qWait(100);
    QVERIFY(!client->disconnected);
    QCOMPARE(received.size(), 0);
}

void TestAgentGateway::messagesRelayed()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    QList<std::tuple<QString, QString, AgentMessage>> received;
    QObject::connect(m_gateway.get(), &AgentGateway::messageReceived, m_gateway.get(),
                     [&](const QString &orgId, const QString &agentId,
                         const AgentMessage &message) {
                         received.append({orgId, agentId, message});
                     });
    auto client = connectAuthenticated(agent);
    QVERIFY(client);

    Register registration;
    registration.id = newUuid();
    registration.mode = RegisterMode::WarmReconnect;
    registration.known = {KnownCredential{newUuid(), 2, 1}};
    client->send(registration);
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), 1, kWaitMs);
    QCOMPARE(std::get<0>(received.first()), m_orgId);
    QCOMPARE(std::get<1>(received.first()), agent.agentId);
    QVERIFY(std::holds_alternative<Register>(std::get<2>(received.first())));
    const Register relayed = std::get<Register>(std::get<2>(received.first()));
    QCOMPARE(relayed.id, registration.id);
    QCOMPARE(relayed.known, registration.known);
}

void TestAgentGateway::sendToAgent()
{
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);
    Registered registered;
    registered.id = newUuid();
    registered.backfillTotal = 7;
    QVERIFY(!m_gateway->send(m_orgId, agent.agentId, registered));

    auto client = connectAuthenticated(agent);
    QVERIFY(client);
    QVERIFY(m_gateway->send(m_orgId, agent.agentId, registered));
    QVERIFY(!m_gateway->send(m_otherOrgId, agent.agentId, registered));
    const auto delivered = client->message(2);
    QVERIFY(delivered);
    QVERIFY(std::holds_alternative<Registered>(*delivered));
    QCOMPARE(std::get<Registered>(*delivered).backfillTotal, 7);
}

void TestAgentGateway::silentPeerClosed()
{
    AgentGatewayOptions options = defaultOptions();
    options.pingInterval = std::chrono::milliseconds(100);
    options.silenceTimeout = std::chrono::milliseconds(300);
    startGateway(options);

    // A raw socket completes the handshake and never replies to a ping.
    auto raw = rawWebSocket();
    QVERIFY(raw);
    QElapsedTimer elapsed;
    elapsed.start();
    bool closed = false;
    QObject::connect(raw.get(), &QTcpSocket::disconnected, raw.get(), [&] { closed = true; });
    QVERIFY(QTest::qWaitFor(
        [&] {
            raw->readAll();
            return closed;
        },
        kWaitMs));
    QVERIFY2(elapsed.elapsed() >= 250, qPrintable(QString::number(elapsed.elapsed())));
}

void TestAgentGateway::answeringPeerStaysOpen()
{
    AgentGatewayOptions options = defaultOptions();
    options.pingInterval = std::chrono::milliseconds(100);
    options.silenceTimeout = std::chrono::milliseconds(500);
    startGateway(options);
    const TestAgent agent = approvedAgent(m_orgId, u"edge-1"_s);

    // QWebSocket replies to pings by itself, so an idle client stays connected
    // for three silence timeouts.
    auto client = connectAuthenticated(agent);
    QVERIFY(client);
    QTest::qWait(1500);
    QVERIFY(!client->disconnected);
    QVERIFY(m_gateway->isConnected(m_orgId, agent.agentId));
}

QTEST_GUILESS_MAIN(TestAgentGateway)
#include "tst_agentgateway.moc"
