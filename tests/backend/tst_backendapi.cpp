// Runs the real sealrelay-backend process (init, then run on 127.0.0.1 with a
// free port) and calls its REST API as the console and CLI would. It covers
// statuses and their order, role boundaries, credential uploads signed with a
// test operator key, retry, enrolment tokens, the agent socket from enrolment
// to revocation, the event feed, audit, health, metrics, TLS, PostgreSQL and
// SIGTERM.
#include "base64.h"
#include "digest.h"
#include "envelope.h"
#include "ids.h"
#include "keys.h"
#include "messages.h"
#include "payload.h"
#include "postgresserver.h"
#include "sqlstorage.h"
#include "statement.h"

#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QProcess>
#include <QRegularExpression>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QWebSocket>

#include <csignal>
#include <memory>
#include <optional>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

namespace {

const QString kBackendPath = QStringLiteral(SEALRELAY_BINARY_DIR "/backend/sealrelay-backend");

struct HttpResult {
    int status = 0;
    QByteArray body;
    QJsonObject json;
    QList<QNetworkReply::RawHeaderPair> headers;

    QByteArray header(const QByteArray &name) const
    {
        for (const auto &pair : headers) {
            if (pair.first.compare(name, Qt::CaseInsensitive) == 0)
                return pair.second;
        }
        return {};
    }
    QString errorCode() const
    {
        return json.value(u"error"_s).toObject().value(u"code"_s).toString();
    }
};

struct ProcessResult {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

ProcessResult runBackend(const QStringList &arguments, const QProcessEnvironment &environment =
                                                           QProcessEnvironment::systemEnvironment())
{
    QProcess process;
    process.setProcessEnvironment(environment);
    process.start(kBackendPath, arguments);
    if (!process.waitForStarted() || !process.waitForFinished(30000)) {
        process.kill();
        process.waitForFinished();
        return {};
    }
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            process.readAllStandardOutput(), process.readAllStandardError()};
}

quint16 freePort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    return server.serverPort();
}

// An agent row with real keys, inserted into the backend's database.
struct TestAgent {
    QString agentId;
    QString name;
    std::optional<RsaPrivateKey> encryptionKey;
    std::optional<Ed25519PrivateKey> identityKey;
};

constexpr int kSocketWaitMs = 10000;

// A client of the /agent socket that records every frame and how the
// connection ended.
class AgentClient {
public:
    explicit AgentClient(quint16 port)
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &frame) { frames.append(frame.toUtf8()); });
        QObject::connect(&socket, &QWebSocket::disconnected, &socket,
                         [this] { disconnected = true; });
        socket.open(QUrl(u"ws://127.0.0.1:%1/agent"_s.arg(port)));
    }

    // Waits for frame number `index` (0 is hello) and returns it parsed as T,
    // or std::nullopt when it does not arrive, does not parse, or is another
    // message type.
    template <typename T>
    std::optional<T> message(qsizetype index)
    {
        if (!QTest::qWaitFor([&] { return frames.size() > index || disconnected; },
                             kSocketWaitMs)
            || frames.size() <= index) {
            return std::nullopt;
        }
        const Result<AgentMessage> parsed = parseAgentMessage(frames.at(index));
        if (!parsed)
            return std::nullopt;
        const T *typed = std::get_if<T>(&parsed.value());
        return typed ? std::optional<T>(*typed) : std::nullopt;
    }

    bool send(const AgentMessage &message)
    {
        const QByteArray frame = serializeMessage(message);
        return socket.sendTextMessage(QString::fromUtf8(frame)) == frame.size();
    }

    bool waitDisconnected()
    {
        return QTest::qWaitFor([this] { return disconnected; }, kSocketWaitMs);
    }

    int closeCode() const { return int(socket.closeCode()); }

    QWebSocket socket;
    QList<QByteArray> frames;
    bool disconnected = false;
};

// A console client of /api/events that records every event.
class FeedClient {
public:
    FeedClient(quint16 port, const QString &token)
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &frame) {
                             events.append(QJsonDocument::fromJson(frame.toUtf8()).object());
                         });
        QNetworkRequest upgrade(QUrl(u"ws://127.0.0.1:%1/api/events"_s.arg(port)));
        upgrade.setRawHeader("Authorization", "Bearer " + token.toLatin1());
        socket.open(upgrade);
    }

    // Waits for an agent_status_changed event of `agentId` with `status` and
    // returns its data.
    std::optional<QJsonObject> agentStatusEvent(const QString &agentId, const QString &status)
    {
        std::optional<QJsonObject> found;
        const auto findEvent = [&] {
            for (const QJsonObject &event : std::as_const(events)) {
                const QJsonObject data = event.value(u"data"_s).toObject();
                if (event.value(u"type"_s).toString() == u"agent_status_changed"_s
                    && data.value(u"agent_id"_s).toString() == agentId
                    && data.value(u"status"_s).toString() == status) {
                    found = data;
                    return true;
                }
            }
            return false;
        };
        if (!QTest::qWaitFor(findEvent, kSocketWaitMs))
            return std::nullopt;
        return found;
    }

    QWebSocket socket;
    QList<QJsonObject> events;
};

} // namespace

class BackendApiTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void initPrintsTokenLast();
    void statusOrder_data();
    void statusOrder();
    void wrongMethodHasAllowHeader();
    void roleBoundaries_data();
    void roleBoundaries();
    void revokedTokenIsRejected();
    void credentialLifecycle();
    void rotationWithWrongVersion();
    void racingRotation();
    void statementSignedByOtherKey();
    void envelopeOutOfScope();
    void orgMismatch();
    void retryTwiceIsRateLimited();
    void enrolmentTokenCreateAndList();
    void enrolmentTokenTtlTooLong();
    void certificateApprovesAgent();
    void auditListAndVerify();
    void auditLimitTooLarge();
    void publicEndpoints_data();
    void publicEndpoints();
    void metricsCountRoutes();
    void badSettingExitsTwo_data();
    void badSettingExitsTwo();
    void plainNonLoopbackRefused();
    void helpListsSettings();
    void agentSocketGetsHello();
    void agentEnrolApproveRevoke();
    void eventFeedSendsSnapshot();
    void initTwiceRefused();
    void initMessageNamesTokenId();
    void dataFilesOwnerOnly();
    void enrolmentTtlDefaultCapped();
    void unknownInputRejected_data();
    void unknownInputRejected();
    void bearerSchemeAnyCase_data();
    void bearerSchemeAnyCase();
    void unauthenticatedHasChallenge();
    void lastAdminRevokeRefused();
    void tokenCreateCommand();
    void runWithoutOrgRefused_data();
    void runWithoutOrgRefused();
    void portInUseExitsTwo();
    void unknownOptionMessage();
    void subcommandHelp();
    void dataDirIsFileRejected();
    void readOnlyDatabaseRejected();
    void ipv6ListenerLogsBrackets();
    void configFileBelowEnvironment();
    void sigtermExitsZero();
    void postgresRun();
    void tlsListener();

private:
    HttpResult request(const QByteArray &method, const QString &path, const QString &token,
                       const QByteArray &body = {});
    HttpResult postJson(const QString &path, const QString &token, const QJsonObject &body);
    QString createToken(const QString &role);
    TestAgent addAgent(const QString &name);

    // Statement, signature and envelopes of one credential upload.
    CredentialStatement statementFor(const QString &credentialId, qint64 version,
                                     qint64 revision, const QString &previousSha,
                                     const QByteArray &commitment);
    QJsonObject upload(const CredentialStatement &statement, const Ed25519PrivateKey &signer,
                       const QList<const TestAgent *> &targets, const QByteArray &salt,
                       const QByteArray &secret);

    QTemporaryDir m_dir;
    QString m_dataDir;
    QString m_initOutput;
    QString m_adminToken;
    QString m_operatorToken;
    QString m_auditorToken;
    QString m_orgId;
    quint16 m_port = 0;
    QString m_publicOrigin;
    QString m_scheme = u"http"_s;
    QList<QSslCertificate> m_trustedCertificates;
    QProcess m_backend;
    QNetworkAccessManager m_network;
    std::unique_ptr<SqlStorage> m_storage;
    std::optional<Ed25519PrivateKey> m_operatorKey;
    TestAgent m_agentA;
    TestAgent m_agentB;
};

HttpResult BackendApiTest::request(const QByteArray &method, const QString &path,
                                   const QString &token, const QByteArray &body)
{
    QNetworkRequest networkRequest(
        QUrl(u"%1://127.0.0.1:%2%3"_s.arg(m_scheme).arg(m_port).arg(path)));
    if (m_scheme == u"https"_s) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(m_trustedCertificates);
        networkRequest.setSslConfiguration(tls);
    }
    networkRequest.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    if (!token.isEmpty())
        networkRequest.setRawHeader("Authorization", "Bearer " + token.toLatin1());
    QNetworkReply *reply = m_network.sendCustomRequest(networkRequest, method, body);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(15000, &loop, &QEventLoop::quit);
    loop.exec();

    HttpResult result;
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.body = reply->readAll();
    result.json = QJsonDocument::fromJson(result.body).object();
    result.headers = reply->rawHeaderPairs();
    reply->deleteLater();
    return result;
}

HttpResult BackendApiTest::postJson(const QString &path, const QString &token,
                                    const QJsonObject &body)
{
    return request("POST", path, token, QJsonDocument(body).toJson(QJsonDocument::Compact));
}

QString BackendApiTest::createToken(const QString &role)
{
    const HttpResult created = postJson(u"/api/tokens"_s, m_adminToken,
                                        QJsonObject{{u"role"_s, role}, {u"label"_s, role}});
    return created.json.value(u"token"_s).toString();
}

TestAgent BackendApiTest::addAgent(const QString &name)
{
    TestAgent agent;
    agent.agentId = newUuid();
    agent.name = name;
    auto rsa = RsaPrivateKey::generate();
    auto ed = Ed25519PrivateKey::generate();
    if (!rsa || !ed)
        return agent;
    agent.encryptionKey = rsa.value();
    agent.identityKey = ed.value();

    AgentRow row;
    row.orgId = m_orgId;
    row.agentId = agent.agentId;
    row.name = name;
    row.status = AgentStatus::Approved;
    row.encryptionKey = rsa->publicKey().spkiDer();
    row.identityKey = ed->publicKey().raw();
    if (!m_storage->upsertAgent(row))
        agent.agentId.clear();
    return agent;
}

CredentialStatement BackendApiTest::statementFor(const QString &credentialId, qint64 version,
                                                 qint64 revision, const QString &previousSha,
                                                 const QByteArray &commitment)
{
    CredentialStatement statement;
    statement.orgId = m_orgId;
    statement.credentialId = credentialId;
    statement.version = version;
    statement.revision = revision;
    statement.name = u"core-switch-"_s + credentialId.left(8);
    statement.kind = u"password"_s;
    statement.commitment = commitment;
    statement.scope = sealrelay::CredentialScope::AutoAll;
    statement.prevStatementSha256 = previousSha;
    statement.issuedAt = QDateTime::currentDateTimeUtc();
    statement.operatorKey = m_operatorKey->publicKey().raw();
    return statement;
}

QJsonObject BackendApiTest::upload(const CredentialStatement &statement,
                                   const Ed25519PrivateKey &signer,
                                   const QList<const TestAgent *> &targets,
                                   const QByteArray &salt, const QByteArray &secret)
{
    auto signedStatement = signStatement(StatementContext::Credential, statement.toFields(),
                                         signer);
    if (!signedStatement)
        return {};
    QJsonObject envelopes;
    const QString uploadId = newUuid();
    for (const TestAgent *target : targets) {
        auto payload = buildPayload(statement.credentialId, statement.version, salt, secret);
        auto envelope = payload ? sealEnvelope(target->encryptionKey->publicKey(), payload->view())
                                : Result<Envelope>(payload.error());
        if (!envelope)
            return {};
        Attestation attestation;
        attestation.orgId = statement.orgId;
        attestation.requestId = uploadId;
        attestation.credentialId = statement.credentialId;
        attestation.version = statement.version;
        attestation.revision = statement.revision;
        attestation.statementSha256 = signedStatement->sha256();
        attestation.targetAgentId = target->agentId;
        attestation.targetKeyFingerprint = target->encryptionKey->publicKey().fingerprint();
        attestation.sourceKind = AttestationSource::Creator;
        attestation.sourceId = signer.publicKey().rawBase64();
        attestation.envelopeSha256 = envelope->sha256();
        auto signedAttestation = signStatement(StatementContext::Attestation,
                                               attestation.toFields(), signer);
        if (!signedAttestation)
            return {};
        envelopes.insert(target->agentId,
                         QJsonObject{{u"envelope"_s, envelope->toJson()},
                                     {u"attestation"_s, signedAttestation->toJson()}});
    }
    QJsonObject body{{u"statement"_s, signedStatement->toJson()}};
    if (!targets.isEmpty())
        body.insert(u"envelopes"_s, envelopes);
    return body;
}

void BackendApiTest::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(QFileInfo::exists(kBackendPath), qPrintable(kBackendPath));
    m_dataDir = m_dir.filePath(u"data"_s);

    const ProcessResult init = runBackend({u"init"_s, u"--data-dir"_s, m_dataDir, u"--org"_s,
                                           u"Acme Networks"_s});
    QCOMPARE(init.exitCode, 0);
    m_initOutput = QString::fromUtf8(init.out);
    const QStringList lines = m_initOutput.trimmed().split(u'\n');
    m_adminToken = lines.constLast().trimmed();

    StorageConfig config;
    config.engine = SqlEngine::Sqlite;
    config.sqlitePath = QDir(m_dataDir).filePath(u"backend.db"_s);
    auto storage = SqlStorage::open(config);
    QVERIFY(storage.ok());
    m_storage = std::move(storage.value());
    auto orgs = m_storage->orgs();
    QVERIFY(orgs.ok());
    QCOMPARE(orgs->size(), 1);
    m_orgId = orgs->constFirst().orgId;

    m_port = freePort();
    QVERIFY(m_port != 0);
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(u"SEALRELAY_AGENT_PING_INTERVAL_MS"_s, u"500"_s);
    environment.insert(u"SEALRELAY_RECONCILER_INTERVAL_MS"_s, u"1000"_s);
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    m_backend.setProcessEnvironment(environment);
    m_backend.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_publicOrigin = u"http://127.0.0.1:%1"_s.arg(m_port);
    m_backend.start(kBackendPath, {u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                   u"127.0.0.1:%1"_s.arg(m_port), u"--public-origin"_s,
                                   m_publicOrigin});
    QVERIFY(m_backend.waitForStarted());
    QTRY_COMPARE_WITH_TIMEOUT(request("GET", u"/healthz"_s, {}).status, 200, 10000);

    m_operatorToken = createToken(u"operator"_s);
    m_auditorToken = createToken(u"auditor"_s);
    QVERIFY(m_operatorToken.startsWith(u"srt_"_s));
    QVERIFY(m_auditorToken.startsWith(u"srt_"_s));

    auto operatorKey = Ed25519PrivateKey::generate();
    QVERIFY(operatorKey.ok());
    m_operatorKey = operatorKey.value();
    m_agentA = addAgent(u"agent-a"_s);
    m_agentB = addAgent(u"agent-b"_s);
    QVERIFY(!m_agentA.agentId.isEmpty());
    QVERIFY(!m_agentB.agentId.isEmpty());
}

void BackendApiTest::cleanupTestCase()
{
    if (m_backend.state() != QProcess::NotRunning) {
        m_backend.kill();
        m_backend.waitForFinished();
    }
}

void BackendApiTest::initPrintsTokenLast()
{
    static const QRegularExpression tokenForm(u"^srt_[A-Za-z0-9_-]{43}$"_s);
    QVERIFY2(tokenForm.match(m_adminToken).hasMatch(), qPrintable(m_adminToken));
    QCOMPARE(m_initOutput.count(m_adminToken), 1);
    QCOMPARE(request("GET", u"/api/credentials"_s, m_adminToken).status, 200);
}

void BackendApiTest::statusOrder_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("token");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("code");

    const QByteArray oversized(1024 * 1024 + 1, ' ');
    QTest::newRow("oversized on unknown route") << QByteArray("POST") << u"/api/nothing"_s
                                                << QString() << oversized << 413
                                                << u"body_too_large"_s;
    QTest::newRow("oversized without token") << QByteArray("POST") << u"/api/credentials"_s
                                             << QString() << oversized << 413
                                             << u"body_too_large"_s;
    QTest::newRow("unknown route") << QByteArray("GET") << u"/api/nothing"_s << QString()
                                   << QByteArray() << 404 << u"not_found"_s;
    QTest::newRow("unknown route with token") << QByteArray("GET") << u"/api/nothing"_s
                                              << u"admin"_s << QByteArray() << 404
                                              << u"not_found"_s;
    QTest::newRow("wrong method unauthenticated") << QByteArray("DELETE") << u"/api/credentials"_s
                                                  << QString() << QByteArray() << 405
                                                  << u"method_not_allowed"_s;
    QTest::newRow("missing token") << QByteArray("GET") << u"/api/credentials"_s << QString()
                                   << QByteArray() << 401 << u"unauthenticated"_s;
    QTest::newRow("unknown token") << QByteArray("GET") << u"/api/credentials"_s
                                   << u"srt_unknown"_s << QByteArray() << 401
                                   << u"unauthenticated"_s;
    QTest::newRow("role before body") << QByteArray("POST") << u"/api/tokens"_s << u"auditor"_s
                                      << QByteArray("{not json") << 403 << u"forbidden"_s;
    QTest::newRow("invalid json") << QByteArray("POST") << u"/api/tokens"_s << u"admin"_s
                                  << QByteArray("{not json") << 400 << u"invalid_json"_s;
    QTest::newRow("duplicate key") << QByteArray("POST") << u"/api/tokens"_s << u"admin"_s
                                   << QByteArray(R"({"role":"auditor","role":"operator"})") << 400
                                   << u"invalid_json"_s;
    QTest::newRow("invalid field") << QByteArray("POST") << u"/api/tokens"_s << u"admin"_s
                                   << QByteArray(R"({"role":"superuser"})") << 400
                                   << u"invalid_field"_s;
}

void BackendApiTest::statusOrder()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(QString, token);
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(QString, code);

    QString bearer = token;
    if (token == u"admin"_s)
        bearer = m_adminToken;
    else if (token == u"auditor"_s)
        bearer = m_auditorToken;
    const HttpResult result = request(method, path, bearer, body);
    QCOMPARE(result.status, status);
    QCOMPARE(result.errorCode(), code);
    QVERIFY(!result.json.value(u"error"_s).toObject().value(u"message"_s).toString().isEmpty());
}

void BackendApiTest::wrongMethodHasAllowHeader()
{
    const HttpResult result = request("PUT", u"/api/audit/verify"_s, {});
    QCOMPARE(result.status, 405);
    QCOMPARE(result.header("Allow"), QByteArray("GET"));
}

void BackendApiTest::roleBoundaries_data()
{
    QTest::addColumn<QString>("role");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");

    const QByteArray tokenBody = R"({"role":"auditor","label":"x"})";
    const QByteArray enrolBody = R"({"agent_name":"edge-1","ttl_seconds":600})";
    QTest::newRow("auditor cannot create credential") << u"auditor"_s << QByteArray("POST")
                                                      << u"/api/credentials"_s << QByteArray("{}")
                                                      << 403;
    QTest::newRow("auditor cannot enrol") << u"auditor"_s << QByteArray("POST")
                                          << u"/api/agents/enrolment-tokens"_s << enrolBody << 403;
    QTest::newRow("auditor cannot acknowledge") << u"auditor"_s << QByteArray("POST")
                                                << u"/api/alerts/acknowledge"_s
                                                << QByteArray(R"({"ids":["a"]})") << 403;
    QTest::newRow("auditor reads credentials") << u"auditor"_s << QByteArray("GET")
                                               << u"/api/credentials"_s << QByteArray() << 200;
    QTest::newRow("auditor reads audit") << u"auditor"_s << QByteArray("GET") << u"/api/audit"_s
                                         << QByteArray() << 200;
    QTest::newRow("operator cannot create tokens") << u"operator"_s << QByteArray("POST")
                                                   << u"/api/tokens"_s << tokenBody << 403;
    QTest::newRow("operator cannot list tokens") << u"operator"_s << QByteArray("GET")
                                                 << u"/api/tokens"_s << QByteArray() << 403;
    QTest::newRow("operator enrols") << u"operator"_s << QByteArray("POST")
                                     << u"/api/agents/enrolment-tokens"_s << enrolBody << 201;
    QTest::newRow("operator acknowledges") << u"operator"_s << QByteArray("POST")
                                           << u"/api/alerts/acknowledge"_s
                                           << QByteArray(R"({"ids":["unknown"]})") << 200;
    QTest::newRow("admin creates tokens") << u"admin"_s << QByteArray("POST") << u"/api/tokens"_s
                                          << tokenBody << 201;
    QTest::newRow("admin lists tokens") << u"admin"_s << QByteArray("GET") << u"/api/tokens"_s
                                        << QByteArray() << 200;
}

void BackendApiTest::roleBoundaries()
{
    QFETCH(QString, role);
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(QByteArray, body);
    QFETCH(int, status);

    const QString token = role == u"admin"_s    ? m_adminToken
                        : role == u"operator"_s ? m_operatorToken
                                                : m_auditorToken;
    QCOMPARE(request(method, path, token, body).status, status);
}

void BackendApiTest::revokedTokenIsRejected()
{
    const HttpResult created = postJson(u"/api/tokens"_s, m_adminToken,
                                        QJsonObject{{u"role"_s, u"auditor"_s}});
    QCOMPARE(created.status, 201);
    const QString token = created.json.value(u"token"_s).toString();
    const QString tokenId = created.json.value(u"token_id"_s).toString();
    QCOMPARE(request("GET", u"/api/alerts"_s, token).status, 200);

    QCOMPARE(postJson(u"/api/tokens/%1/revoke"_s.arg(tokenId), m_adminToken, {}).status, 200);
    QCOMPARE(request("GET", u"/api/alerts"_s, token).status, 401);

    const HttpResult list = request("GET", u"/api/tokens"_s, m_adminToken);
    QCOMPARE(list.status, 200);
    QVERIFY(!list.body.contains("hash"));
    QVERIFY(!list.body.contains(token.toLatin1()));
}

void BackendApiTest::credentialLifecycle()
{
    const QString credentialId = newUuid();
    const QByteArray salt = generateSalt();
    const QByteArray secret = R"({"password":"hunter2","username":"admin"})";
    auto commitment = computeCommitment(salt, secret);
    QVERIFY(commitment.ok());

    // Create for both agents.
    CredentialStatement first = statementFor(credentialId, 1, 1, {}, commitment.value());
    const HttpResult created = postJson(u"/api/credentials"_s, m_operatorToken,
                                        upload(first, *m_operatorKey, {&m_agentA, &m_agentB},
                                               salt, secret));
    QCOMPARE(created.status, 201);
    QCOMPARE(created.json.value(u"version"_s).toInt(), 1);
    QCOMPARE(created.json.value(u"deliveries_queued"_s).toInt(), 2);
    auto deliveries = m_storage->pendingDeliveriesFor(m_orgId, m_agentA.agentId);
    QVERIFY(deliveries.ok());
    QCOMPARE(deliveries->size(), 1);

    const HttpResult list = request("GET", u"/api/credentials"_s, m_auditorToken);
    QCOMPARE(list.status, 200);
    QJsonObject listed;
    for (const QJsonValue &value : list.json.value(u"credentials"_s).toArray()) {
        if (value.toObject().value(u"credential_id"_s).toString() == credentialId)
            listed = value.toObject();
    }
    const QJsonObject sync = listed.value(u"sync"_s).toObject();
    QCOMPARE(sync.value(u"in_scope"_s).toInt(), 2);
    QCOMPARE(sync.value(u"pending"_s).toInt(), 2);
    QCOMPARE(sync.value(u"delivered"_s).toInt(), 0);

    const HttpResult detail = request("GET", u"/api/credentials/"_s + credentialId,
                                      m_auditorToken);
    QCOMPARE(detail.status, 200);
    const QJsonArray rows = detail.json.value(u"agents"_s).toArray();
    QCOMPARE(rows.size(), 2);
    QCOMPARE(rows.at(0).toObject().value(u"secret_stored"_s).toBool(), false);
    QVERIFY(rows.at(0).toObject().value(u"receipt"_s).isNull());
    const QString firstSha = detail.json.value(u"statement_sha256"_s).toString();
    auto statementBytes = decodeBase64(
        detail.json.value(u"statement"_s).toObject().value(u"statement_b64"_s).toString(),
        u"statement_b64");
    QVERIFY(statementBytes.ok());
    QCOMPARE(sha256Base64(statementBytes.value()), firstSha);

    // Rotate to version 2.
    const QByteArray salt2 = generateSalt();
    auto commitment2 = computeCommitment(salt2, secret);
    QVERIFY(commitment2.ok());
    CredentialStatement second = statementFor(credentialId, 2, 1, firstSha, commitment2.value());
    const HttpResult rotated = postJson(u"/api/credentials/%1/rotate"_s.arg(credentialId),
                                        m_operatorToken,
                                        upload(second, *m_operatorKey, {&m_agentA}, salt2, secret));
    QCOMPARE(rotated.status, 200);
    QCOMPARE(rotated.json.value(u"version"_s).toInt(), 2);

    // Scope change to agent A only, then delete.
    CredentialStatement third = statementFor(credentialId, 2, 2,
                                             rotated.json.value(u"statement_sha256"_s).toString(),
                                             commitment2.value());
    third.scope = sealrelay::CredentialScope::Explicit;
    third.agents = {m_agentA.agentId};
    const HttpResult scoped = postJson(u"/api/credentials/%1/scope"_s.arg(credentialId),
                                       m_operatorToken, upload(third, *m_operatorKey, {}, {}, {}));
    QCOMPARE(scoped.status, 200);
    QCOMPARE(scoped.json.value(u"scope"_s).toString(), u"explicit"_s);

    // A scope change that alters the commitment is a bad statement.
    const QString scopedSha = scoped.json.value(u"statement_sha256"_s).toString();
    CredentialStatement altered = statementFor(credentialId, 2, 3, scopedSha, commitment.value());
    altered.scope = third.scope;
    altered.agents = third.agents;
    const HttpResult alteredResult = postJson(u"/api/credentials/%1/scope"_s.arg(credentialId),
                                              m_operatorToken,
                                              upload(altered, *m_operatorKey, {}, {}, {}));
    QCOMPARE(alteredResult.status, 400);
    QCOMPARE(alteredResult.errorCode(), u"bad_statement"_s);

    // Scope changes carry no envelopes.
    CredentialStatement withEnvelope = statementFor(credentialId, 2, 3, scopedSha,
                                                    commitment2.value());
    QCOMPARE(postJson(u"/api/credentials/%1/scope"_s.arg(credentialId), m_operatorToken,
                      upload(withEnvelope, *m_operatorKey, {&m_agentA}, salt2, secret))
                 .status,
             400);

    CredentialStatement fourth = statementFor(credentialId, 2, 3, scopedSha, commitment2.value());
    fourth.scope = third.scope;
    fourth.agents = third.agents;
    fourth.deleted = true;
    const HttpResult deleted = postJson(u"/api/credentials/%1/delete"_s.arg(credentialId),
                                        m_operatorToken, upload(fourth, *m_operatorKey, {}, {}, {}));
    QCOMPARE(deleted.status, 200);
    QCOMPARE(deleted.json.value(u"state"_s).toString(), u"deleted"_s);
    QCOMPARE(request("GET", u"/api/credentials/"_s + credentialId, m_auditorToken)
                 .json.value(u"state"_s)
                 .toString(),
             u"deleted"_s);

    // A deleted credential cannot be rotated.
    CredentialStatement afterDelete = statementFor(
        credentialId, 3, 1, deleted.json.value(u"statement_sha256"_s).toString(),
        commitment.value());
    QCOMPARE(postJson(u"/api/credentials/%1/rotate"_s.arg(credentialId), m_operatorToken,
                      upload(afterDelete, *m_operatorKey, {&m_agentA}, salt, secret))
                 .status,
             409);
}

void BackendApiTest::rotationWithWrongVersion()
{
    const QString credentialId = newUuid();
    const QByteArray salt = generateSalt();
    const QByteArray secret = R"({"password":"a"})";
    auto commitment = computeCommitment(salt, secret);
    QVERIFY(commitment.ok());
    const HttpResult created = postJson(
        u"/api/credentials"_s, m_operatorToken,
        upload(statementFor(credentialId, 1, 1, {}, commitment.value()), *m_operatorKey,
               {&m_agentA}, salt, secret));
    QCOMPARE(created.status, 201);
    const QString sha = created.json.value(u"statement_sha256"_s).toString();

    const HttpResult skipped = postJson(
        u"/api/credentials/%1/rotate"_s.arg(credentialId), m_operatorToken,
        upload(statementFor(credentialId, 3, 1, sha, commitment.value()), *m_operatorKey,
               {&m_agentA}, salt, secret));
    QCOMPARE(skipped.status, 409);
    QCOMPARE(skipped.errorCode(), u"version_conflict"_s);

    const HttpResult wrongPrevious = postJson(
        u"/api/credentials/%1/rotate"_s.arg(credentialId), m_operatorToken,
        upload(statementFor(credentialId, 2, 1, sha256Base64("other"), commitment.value()),
               *m_operatorKey, {&m_agentA}, salt, secret));
    QCOMPARE(wrongPrevious.status, 409);
}

void BackendApiTest::racingRotation()
{
    const QString credentialId = newUuid();
    const QByteArray salt = generateSalt();
    const QByteArray secret = R"({"password":"b"})";
    auto commitment = computeCommitment(salt, secret);
    QVERIFY(commitment.ok());
    const HttpResult created = postJson(
        u"/api/credentials"_s, m_operatorToken,
        upload(statementFor(credentialId, 1, 1, {}, commitment.value()), *m_operatorKey,
               {&m_agentA}, salt, secret));
    QCOMPARE(created.status, 201);
    const QString sha = created.json.value(u"statement_sha256"_s).toString();

    // Two consoles sign version 2 from the same state; the second loses.
    const QJsonObject first = upload(statementFor(credentialId, 2, 1, sha, commitment.value()),
                                     *m_operatorKey, {&m_agentA}, salt, secret);
    const QJsonObject second = upload(statementFor(credentialId, 2, 1, sha, commitment.value()),
                                      *m_operatorKey, {&m_agentB}, salt, secret);
    QCOMPARE(postJson(u"/api/credentials/%1/rotate"_s.arg(credentialId), m_operatorToken, first)
                 .status,
             200);
    const HttpResult lost = postJson(u"/api/credentials/%1/rotate"_s.arg(credentialId),
                                     m_operatorToken, second);
    QCOMPARE(lost.status, 409);
    auto stored = m_storage->credential(m_orgId, credentialId);
    QVERIFY(stored.ok() && stored.value());
    QCOMPARE(stored.value()->version, 2);
}

void BackendApiTest::statementSignedByOtherKey()
{
    auto otherKey = Ed25519PrivateKey::generate();
    QVERIFY(otherKey.ok());
    const QByteArray salt = generateSalt();
    auto commitment = computeCommitment(salt, "{}");
    QVERIFY(commitment.ok());
    // operator_key names the operator key, but another key signs.
    const QJsonObject body = upload(statementFor(newUuid(), 1, 1, {}, commitment.value()),
                                    otherKey.value(), {}, {}, {});
    const HttpResult result = postJson(u"/api/credentials"_s, m_operatorToken, body);
    QCOMPARE(result.status, 400);
    QCOMPARE(result.errorCode(), u"bad_statement"_s);
}

void BackendApiTest::envelopeOutOfScope()
{
    const QString credentialId = newUuid();
    const QByteArray salt = generateSalt();
    const QByteArray secret = R"({"password":"c"})";
    auto commitment = computeCommitment(salt, secret);
    QVERIFY(commitment.ok());
    CredentialStatement statement = statementFor(credentialId, 1, 1, {}, commitment.value());
    statement.scope = sealrelay::CredentialScope::Explicit;
    statement.agents = {m_agentA.agentId};
    const HttpResult result = postJson(u"/api/credentials"_s, m_operatorToken,
                                       upload(statement, *m_operatorKey, {&m_agentB}, salt,
                                              secret));
    QCOMPARE(result.status, 400);
    auto stored = m_storage->credential(m_orgId, credentialId);
    QVERIFY(stored.ok());
    QVERIFY(!stored.value().has_value());
}

void BackendApiTest::orgMismatch()
{
    const QByteArray salt = generateSalt();
    auto commitment = computeCommitment(salt, "{}");
    QVERIFY(commitment.ok());
    CredentialStatement statement = statementFor(newUuid(), 1, 1, {}, commitment.value());
    statement.orgId = newUuid();
    const HttpResult result = postJson(u"/api/credentials"_s, m_operatorToken,
                                       upload(statement, *m_operatorKey, {}, {}, {}));
    QCOMPARE(result.status, 400);
}

void BackendApiTest::retryTwiceIsRateLimited()
{
    const QString credentialId = newUuid();
    const QByteArray salt = generateSalt();
    auto commitment = computeCommitment(salt, "{}");
    QVERIFY(commitment.ok());
    QCOMPARE(postJson(u"/api/credentials"_s, m_operatorToken,
                      upload(statementFor(credentialId, 1, 1, {}, commitment.value()),
                             *m_operatorKey, {}, {}, {}))
                 .status,
             201);

    const QString path = u"/api/credentials/%1/retry"_s.arg(credentialId);
    const HttpResult first = postJson(path, m_operatorToken, {});
    QCOMPARE(first.status, 200);
    QCOMPARE(first.json.value(u"rows_reset"_s).toInt(), 2);
    // Neither agent has stored it.
    const QJsonObject sync = first.json.value(u"sync"_s).toObject();
    QCOMPARE(sync.value(u"in_scope"_s).toInt(), 2);
    QCOMPARE(sync.value(u"delivered"_s).toInt(), 0);
    QCOMPARE(sync.value(u"pending"_s).toInt(), 2);
    // Both agents lack it and neither is connected, so none can seal it.
    const QJsonArray lacking = first.json.value(u"lacking"_s).toArray();
    QCOMPARE(lacking.size(), 2);
    for (const QJsonValue &agent : lacking) {
        QCOMPARE(agent.toObject().value(u"connection"_s).toString(), u"offline"_s);
        QVERIFY(!agent.toObject().value(u"name"_s).toString().isEmpty());
    }
    QCOMPARE(first.json.value(u"online_holders"_s).toInt(), 0);
    const HttpResult second = postJson(path, m_operatorToken, {});
    QCOMPARE(second.status, 429);
    QCOMPARE(second.errorCode(), u"rate_limited"_s);
    QVERIFY(!second.header("Retry-After").isEmpty());
    QCOMPARE(postJson(u"/api/credentials/%1/retry"_s.arg(newUuid()), m_operatorToken, {}).status,
             404);
}

void BackendApiTest::enrolmentTokenCreateAndList()
{
    const HttpResult created = postJson(
        u"/api/agents/enrolment-tokens"_s, m_operatorToken,
        QJsonObject{{u"agent_name"_s, u"edge-7"_s}, {u"ttl_seconds"_s, 3600}});
    QCOMPARE(created.status, 201);
    const QString token = created.json.value(u"token"_s).toString();
    QVERIFY(token.startsWith(u"sre_"_s));

    const HttpResult list = request("GET", u"/api/agents/enrolment-tokens"_s, m_auditorToken);
    QCOMPARE(list.status, 200);
    QVERIFY(!list.body.contains(token.toLatin1()));
    bool found = false;
    for (const QJsonValue &value : list.json.value(u"enrolment_tokens"_s).toArray())
        found |= value.toObject().value(u"agent_name"_s).toString() == u"edge-7"_s;
    QVERIFY(found);

    const HttpResult agents = request("GET", u"/api/agents"_s, m_auditorToken);
    QCOMPARE(agents.status, 200);
    QVERIFY(agents.json.value(u"agents"_s).toArray().size() >= 2);
}

void BackendApiTest::enrolmentTokenTtlTooLong()
{
    const HttpResult result = postJson(
        u"/api/agents/enrolment-tokens"_s, m_operatorToken,
        QJsonObject{{u"agent_name"_s, u"edge-8"_s}, {u"ttl_seconds"_s, 86401}});
    QCOMPARE(result.status, 400);
    QCOMPARE(result.errorCode(), u"invalid_field"_s);
}

void BackendApiTest::certificateApprovesAgent()
{
    TestAgent agent = addAgent(u"edge-pending"_s);
    QVERIFY(!agent.agentId.isEmpty());
    QVERIFY(m_storage->setAgentStatus(m_orgId, agent.agentId, AgentStatus::PendingApproval).ok());

    const auto certificateFor = [&](qint64 generation, const QByteArray &identityKey,
                                    qint64 lifetimeDays) {
        sealrelay::AgentCertificate certificate;
        certificate.orgId = m_orgId;
        certificate.agentId = agent.agentId;
        certificate.agentName = agent.name;
        certificate.generation = generation;
        certificate.encryptionKey = agent.encryptionKey->publicKey().spkiDer();
        certificate.identityKey = identityKey;
        certificate.issuedAt = QDateTime::currentDateTimeUtc();
        certificate.expiresAt = certificate.issuedAt.addDays(lifetimeDays);
        certificate.operatorKey = m_operatorKey->publicKey().raw();
        auto signedCertificate = signStatement(StatementContext::AgentCertificate,
                                               certificate.toFields(), *m_operatorKey);
        return signedCertificate ? QJsonObject{{u"certificate"_s, signedCertificate->toJson()}}
                                 : QJsonObject{};
    };
    const QString path = u"/api/agents/%1/certificate"_s.arg(agent.agentId);
    const QByteArray identityKey = agent.identityKey->publicKey().raw();

    const HttpResult wrongKey = postJson(path, m_operatorToken,
                                         certificateFor(1, QByteArray(32, 'k'), 365));
    QCOMPARE(wrongKey.status, 400);
    QCOMPARE(wrongKey.errorCode(), u"bad_statement"_s);
    QCOMPARE(postJson(path, m_operatorToken, certificateFor(1, identityKey, 400)).status, 400);
    QCOMPARE(postJson(path, m_auditorToken, certificateFor(1, identityKey, 365)).status, 403);
    QCOMPARE(postJson(path, m_operatorToken, certificateFor(2, identityKey, 365)).status, 409);

    const HttpResult approved = postJson(path, m_operatorToken, certificateFor(1, identityKey, 365));
    QCOMPARE(approved.status, 200);
    QCOMPARE(approved.json.value(u"status"_s).toString(), u"approved"_s);
    QCOMPARE(approved.json.value(u"generation"_s).toInt(), 1);
    QVERIFY(approved.json.value(u"certificate"_s).isObject());
    QCOMPARE(postJson(path, m_operatorToken, certificateFor(1, identityKey, 365)).status, 409);

    const HttpResult revoked = postJson(u"/api/agents/%1/revoke"_s.arg(agent.agentId),
                                        m_operatorToken, {});
    QCOMPARE(revoked.status, 200);
    auto stored = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(stored.ok() && stored.value());
    QCOMPARE(stored.value()->status, AgentStatus::Revoked);
    QCOMPARE(postJson(u"/api/agents/%1/revoke"_s.arg(newUuid()), m_operatorToken, {}).status, 404);
}

void BackendApiTest::auditListAndVerify()
{
    const HttpResult list = request("GET", u"/api/audit?event=api_token_created&limit=500"_s,
                                    m_auditorToken);
    QCOMPARE(list.status, 200);
    const QJsonArray records = list.json.value(u"records"_s).toArray();
    QVERIFY(records.size() >= 2);
    QVERIFY(records.at(0).toObject().value(u"actor"_s).toString().startsWith(u"token:"_s));
    QVERIFY(!list.body.contains(m_adminToken.toLatin1()));

    const HttpResult page = request("GET", u"/api/audit?limit=1"_s, m_auditorToken);
    QCOMPARE(page.json.value(u"records"_s).toArray().size(), 1);
    const qint64 next = page.json.value(u"next_after_id"_s).toInteger();
    const HttpResult nextPage = request("GET", u"/api/audit?limit=1&after_id=%1"_s.arg(next),
                                        m_auditorToken);
    QCOMPARE(nextPage.json.value(u"records"_s).toArray().at(0).toObject().value(u"id"_s)
                 .toInteger(),
             next + 1);

    const HttpResult verify = request("GET", u"/api/audit/verify"_s, m_auditorToken);
    QCOMPARE(verify.status, 200);
    QCOMPARE(verify.json.value(u"intact"_s).toBool(), true);
    QVERIFY(verify.json.value(u"rows_verified"_s).toInteger() >= 3);
    QVERIFY(verify.json.value(u"first_break"_s).isNull());
}

void BackendApiTest::auditLimitTooLarge()
{
    QCOMPARE(request("GET", u"/api/audit?limit=501"_s, m_auditorToken).status, 400);
    QCOMPARE(request("GET", u"/api/audit?from=yesterday"_s, m_auditorToken).status, 400);
    const HttpResult unknownEvent =
        request("GET", u"/api/audit?event=credential_peeked"_s, m_auditorToken);
    QCOMPARE(unknownEvent.status, 400);
    const QString message =
        unknownEvent.json.value(u"error"_s).toObject().value(u"message"_s).toString();
    QVERIFY2(message.startsWith(u"Invalid value \"credential_peeked\" for query parameter "
                                u"\"event\": expected one of agent_approved, "_s),
             qPrintable(message));
    QVERIFY(message.contains(u"delivery_stalled"_s));
}

void BackendApiTest::publicEndpoints_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("healthz") << u"/healthz"_s << QByteArray("\"ok\"");
    QTest::newRow("readyz") << u"/readyz"_s << QByteArray("\"ready\"");
    QTest::newRow("metrics") << u"/metrics"_s << QByteArray("sealrelay_http_requests_total");
}

void BackendApiTest::publicEndpoints()
{
    QFETCH(QString, path);
    QFETCH(QByteArray, expected);

    const HttpResult result = request("GET", path, {});
    QCOMPARE(result.status, 200);
    QVERIFY2(result.body.contains(expected), result.body.constData());
    QVERIFY(!result.body.contains(m_orgId.toLatin1()));
    QVERIFY(!result.body.contains("Acme"));
    QVERIFY(!result.body.contains(m_agentA.agentId.toLatin1()));
    QVERIFY(!result.body.contains("agent-a"));
    QVERIFY(!result.body.contains("core-switch"));
    QVERIFY(!result.body.contains("srt_"));
}

void BackendApiTest::metricsCountRoutes()
{
    QCOMPARE(request("DELETE", u"/api/credentials/%1"_s.arg(newUuid()), {}).status, 405);
    QCOMPARE(request("GET", u"/api/agents"_s, m_auditorToken).status, 200);

    const HttpResult metrics = request("GET", u"/metrics"_s, {});
    QCOMPARE(metrics.status, 200);
    QVERIFY(metrics.header("Content-Type").startsWith("text/plain; version=0.0.4"));
    QVERIFY(metrics.body.contains(
        R"(sealrelay_http_requests_total{route="/api/credentials/{id}",status="405"})"));
    QVERIFY(metrics.body.contains(R"(sealrelay_http_requests_total{route="/api/agents",status="200"})"));
    QVERIFY(metrics.body.contains("sealrelay_connected_agents"));
    QVERIFY(metrics.body.contains("sealrelay_jit_repair_latency_seconds_bucket"));
    QVERIFY(metrics.body.contains("sealrelay_coordination_degraded 0"));
}

void BackendApiTest::badSettingExitsTwo_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("variable");
    QTest::addColumn<QString>("named");

    QTest::newRow("listen") << QStringList{u"--listen"_s, u"nonsense"_s} << QString()
                            << u"--listen"_s;
    QTest::newRow("set") << QStringList{u"--set"_s, u"agent.ping_interval_ms=fast"_s} << QString()
                         << u"agent.ping_interval_ms"_s;
    QTest::newRow("environment") << QStringList{} << u"SEALRELAY_API_MAX_BODY_BYTES"_s
                                 << u"SEALRELAY_API_MAX_BODY_BYTES"_s;
    QTest::newRow("database scheme")
        << QStringList{u"--database"_s, u"mysql://root:secret@db/relay"_s} << QString()
        << u"the scheme \"mysql\" is not supported"_s;
}

void BackendApiTest::badSettingExitsTwo()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, variable);
    QFETCH(QString, named);

    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    if (!variable.isEmpty())
        environment.insert(variable, u"-5"_s);
    const ProcessResult result = runBackend(
        QStringList{u"run"_s, u"--data-dir"_s, m_dir.filePath(u"unused"_s)} + arguments,
        environment);
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(result.err.contains(named.toUtf8()), result.err.constData());
}

void BackendApiTest::plainNonLoopbackRefused()
{
    const ProcessResult result = runBackend({u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                             u"0.0.0.0:%1"_s.arg(freePort())});
    QVERIFY(result.exitCode != 0);
    QVERIFY2(result.err.contains("TLS"), result.err.constData());
}

void BackendApiTest::helpListsSettings()
{
    const ProcessResult result = runBackend({u"run"_s, u"--help"_s});
    QCOMPARE(result.exitCode, 0);
    QVERIFY(result.out.contains("ping_interval_ms"));
    QVERIFY(result.out.contains("SEALRELAY_AGENT_PING_INTERVAL_MS"));
    QVERIFY(result.out.contains("Unit: milliseconds. Default: 15000."));
    QVERIFY(result.out.contains("--listen"));
}

void BackendApiTest::configFileBelowEnvironment()
{
    // The file sets the listener and a 100-byte body limit; the environment
    // raises the limit to 200, and wins.
    const quint16 port = freePort();
    const QString configPath = m_dir.filePath(u"backend.ini"_s);
    QFile config(configPath);
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(u"[server]\nlisten=127.0.0.1:%1\n[api]\nmax_body_bytes=100\n"_s.arg(port)
                     .toUtf8());
    config.close();

    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(u"SEALRELAY_API_MAX_BODY_BYTES"_s, u"200"_s);
    QProcess service;
    service.setProcessEnvironment(environment);
    service.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    service.start(kBackendPath, {u"run"_s, u"--data-dir"_s, m_dataDir, u"--config"_s,
                                 configPath});
    QVERIFY(service.waitForStarted());

    const quint16 mainPort = m_port;
    m_port = port;
    QTRY_COMPARE_WITH_TIMEOUT(request("GET", u"/healthz"_s, {}).status, 200, 10000);
    QCOMPARE(request("POST", u"/healthz"_s, {}, QByteArray(150, ' ')).status, 405);
    QCOMPARE(request("POST", u"/healthz"_s, {}, QByteArray(250, ' ')).status, 413);
    m_port = mainPort;

    ::kill(pid_t(service.processId()), SIGTERM);
    QVERIFY(service.waitForFinished(5000));
    QCOMPARE(service.exitCode(), 0);
}

void BackendApiTest::agentSocketGetsHello()
{
    QWebSocket socket;
    QStringList messages;
    connect(&socket, &QWebSocket::textMessageReceived, this,
            [&messages](const QString &message) { messages.append(message); });
    socket.open(QUrl(u"ws://127.0.0.1:%1/agent"_s.arg(m_port)));
    QTRY_VERIFY_WITH_TIMEOUT(!messages.isEmpty(), 10000);
    const QJsonObject hello = QJsonDocument::fromJson(messages.constFirst().toUtf8()).object();
    QCOMPARE(hello.value(u"type"_s).toString(), u"hello"_s);
    QCOMPARE(hello.value(u"backend_origin"_s).toString(), m_publicOrigin);
    socket.close();
}

void BackendApiTest::agentEnrolApproveRevoke()
{
    FeedClient console(m_port, m_auditorToken);
    QTRY_VERIFY_WITH_TIMEOUT(!console.events.isEmpty(), kSocketWaitMs);
    QCOMPARE(console.events.constFirst().value(u"type"_s).toString(), u"snapshot"_s);

    // An operator creates an enrolment token for the agent's name.
    const QString agentName = u"edge-socket"_s;
    const HttpResult token = postJson(u"/api/agents/enrolment-tokens"_s, m_operatorToken,
                                      QJsonObject{{u"agent_name"_s, agentName}});
    QCOMPARE(token.status, 201);
    const QString enrolmentToken = token.json.value(u"token"_s).toString();
    const QString tokenId = token.json.value(u"token_id"_s).toString();
    QVERIFY(enrolmentToken.startsWith(u"sre_"_s));

    auto encryptionKey = RsaPrivateKey::generate();
    QVERIFY(encryptionKey.ok());
    auto identityKey = Ed25519PrivateKey::generate();
    QVERIFY(identityKey.ok());
    const QString agentId = newUuid();
    Enrol enrol;
    enrol.id = newUuid();
    enrol.enrolmentToken = enrolmentToken;
    enrol.agentId = agentId;
    enrol.agentName = agentName;
    enrol.encryptionKey = encryptionKey->publicKey().spkiDer();
    enrol.identityKey = identityKey->publicKey().raw();

    // First connection: hello, enrol, welcome pending_approval.
    AgentClient first(m_port);
    const auto firstHello = first.message<Hello>(0);
    QVERIFY(firstHello);
    QCOMPARE(firstHello->backendOrigin, m_publicOrigin);
    QVERIFY(first.send(enrol));
    const auto pending = first.message<Welcome>(1);
    QVERIFY(pending);
    QCOMPARE(pending->status, WelcomeStatus::PendingApproval);
    QCOMPARE(pending->orgId, m_orgId);
    QCOMPARE(pending->agentId, agentId);
    QVERIFY(!pending->certificate);

    // The console sees the enrolled agent connect while it waits for approval.
    const auto enrolledEvent = console.agentStatusEvent(agentId, u"pending_approval"_s);
    QVERIFY(enrolledEvent);
    QCOMPARE(enrolledEvent->value(u"connected"_s).toBool(), true);

    // An operator approves it; the open socket receives certificate_update.
    sealrelay::AgentCertificate certificate;
    certificate.orgId = m_orgId;
    certificate.agentId = agentId;
    certificate.agentName = agentName;
    certificate.generation = 1;
    certificate.encryptionKey = enrol.encryptionKey;
    certificate.identityKey = enrol.identityKey;
    certificate.issuedAt = QDateTime::currentDateTimeUtc();
    certificate.expiresAt = certificate.issuedAt.addDays(365);
    certificate.operatorKey = m_operatorKey->publicKey().raw();
    auto signedCertificate = signStatement(StatementContext::AgentCertificate,
                                           certificate.toFields(), *m_operatorKey);
    QVERIFY(signedCertificate.ok());
    const HttpResult approved = postJson(u"/api/agents/%1/certificate"_s.arg(agentId),
                                         m_operatorToken,
                                         QJsonObject{{u"certificate"_s, signedCertificate->toJson()}});
    QCOMPARE(approved.status, 200);
    QCOMPARE(approved.json.value(u"status"_s).toString(), u"approved"_s);

    const auto update = first.message<CertificateUpdate>(2);
    QVERIFY(update);
    QCOMPARE(update->certificate.bytes, signedCertificate->bytes);
    QCOMPARE(update->certificate.signature, signedCertificate->signature);

    // The console receives the approval, with the agent object that REST returned.
    const auto approvedEvent = console.agentStatusEvent(agentId, u"approved"_s);
    QVERIFY(approvedEvent);
    QCOMPARE(approvedEvent->value(u"agent"_s).toObject(), approved.json);

    first.socket.close();
    QVERIFY(first.waitDisconnected());

    // Second connection: authenticate with the new hello's nonce.
    AgentClient second(m_port);
    const auto secondHello = second.message<Hello>(0);
    QVERIFY(secondHello);
    QCOMPARE(secondHello->nonce.size(), 16);
    QVERIFY(secondHello->nonce != firstHello->nonce);
    AuthStatement auth;
    auth.orgId = m_orgId;
    auth.agentId = agentId;
    auth.backendOrigin = m_publicOrigin;
    auth.nonce = secondHello->nonce;
    auth.issuedAt = QDateTime::currentDateTimeUtc();
    auto signedAuth = signStatement(StatementContext::Auth, auth.toFields(), identityKey.value());
    QVERIFY(signedAuth.ok());
    QVERIFY(second.send(Authenticate{newUuid(), signedAuth.value()}));
    const auto welcome = second.message<Welcome>(1);
    QVERIFY(welcome);
    QCOMPARE(welcome->status, WelcomeStatus::Approved);
    QCOMPARE(welcome->agentId, agentId);
    QVERIFY(welcome->certificate);
    QCOMPARE(welcome->certificate->bytes, signedCertificate->bytes);
    QCOMPARE(welcome->certificate->signature, signedCertificate->signature);

    // Revocation over REST closes the live socket with 4403.
    const HttpResult revoked = postJson(u"/api/agents/%1/revoke"_s.arg(agentId), m_operatorToken,
                                        {});
    QCOMPARE(revoked.status, 200);
    QVERIFY(second.waitDisconnected());
    QCOMPARE(second.closeCode(), 4403);
    const auto revokedEvent = console.agentStatusEvent(agentId, u"revoked"_s);
    QVERIFY(revokedEvent);
    QCOMPARE(revokedEvent->value(u"agent"_s).toObject().value(u"status"_s).toString(),
             u"revoked"_s);

    // The used token cannot enrol another agent: the socket closes with 4401
    // and the backend raises enrolment_token_reused.
    AgentClient reuse(m_port);
    QVERIFY(reuse.message<Hello>(0));
    Enrol again = enrol;
    again.id = newUuid();
    again.agentId = newUuid();
    QVERIFY(reuse.send(again));
    QVERIFY(reuse.waitDisconnected());
    QCOMPARE(reuse.closeCode(), 4401);

    // The console hears of the alert as it is raised, not only on the next snapshot.
    const auto alertRaised = [&console] {
        for (const QJsonObject &event : std::as_const(console.events)) {
            if (event.value(u"type"_s).toString() == u"alert_raised"_s
                && event.value(u"data"_s).toObject().value(u"type"_s).toString()
                    == u"enrolment_token_reused"_s)
                return true;
        }
        return false;
    };
    QVERIFY(QTest::qWaitFor(alertRaised, kSocketWaitMs));

    const HttpResult alerts = request("GET", u"/api/alerts?type=enrolment_token_reused"_s,
                                      m_auditorToken);
    QCOMPARE(alerts.status, 200);
    std::optional<QJsonObject> alert;
    for (const QJsonValue &value : alerts.json.value(u"alerts"_s).toArray()) {
        if (value.toObject().value(u"subject"_s).toString() == u"enrolment_token:"_s + tokenId)
            alert = value.toObject();
    }
    QVERIFY(alert);
    QCOMPARE(alert->value(u"severity"_s).toString(), u"high"_s);
    QCOMPARE(alert->value(u"details"_s).toObject().value(u"outcome"_s).toString(),
             u"already_used"_s);
    QCOMPARE(alert->value(u"details"_s).toObject().value(u"agent_id"_s).toString(),
             again.agentId);
}

void BackendApiTest::eventFeedSendsSnapshot()
{
    QNetworkRequest upgrade(QUrl(u"ws://127.0.0.1:%1/api/events"_s.arg(m_port)));
    upgrade.setRawHeader("Authorization", "Bearer " + m_auditorToken.toLatin1());
    QWebSocket socket;
    QStringList messages;
    connect(&socket, &QWebSocket::textMessageReceived, this,
            [&messages](const QString &message) { messages.append(message); });
    socket.open(upgrade);
    QTRY_VERIFY_WITH_TIMEOUT(!messages.isEmpty(), 10000);
    const QJsonObject snapshot = QJsonDocument::fromJson(messages.constFirst().toUtf8()).object();
    QCOMPARE(snapshot.value(u"type"_s).toString(), u"snapshot"_s);

    // A REST change reaches the feed.
    QCOMPARE(postJson(u"/api/agents/enrolment-tokens"_s, m_operatorToken,
                      QJsonObject{{u"agent_name"_s, u"edge-feed"_s}})
                 .status,
             201);
    QTRY_VERIFY_WITH_TIMEOUT(messages.size() >= 2, 10000);
    const QJsonObject event = QJsonDocument::fromJson(messages.constLast().toUtf8()).object();
    QCOMPARE(event.value(u"type"_s).toString(), u"audit_appended"_s);
    QCOMPARE(event.value(u"data"_s).toObject().value(u"event"_s).toString(),
             u"enrolment_token_created"_s);
    socket.close();
}

void BackendApiTest::initTwiceRefused()
{
    const ProcessResult second = runBackend({u"init"_s, u"--data-dir"_s, m_dataDir});
    QCOMPARE(second.exitCode, 1);
    QVERIFY2(second.err.contains("already"), second.err.constData());
    QVERIFY(!second.out.contains("srt_"));
}

void BackendApiTest::initMessageNamesTokenId()
{
    QVERIFY2(m_initOutput.contains(u"Admin token created (id "_s), qPrintable(m_initOutput));
    QVERIFY(m_initOutput.contains(u"The token is shown only once; store it now:"_s));
    QCOMPARE(m_initOutput.trimmed().split(u'\n').constLast(), m_adminToken);
}

void BackendApiTest::dataFilesOwnerOnly()
{
    const QFileDevice::Permissions ownerDir =
        QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner
        | QFileDevice::ReadUser | QFileDevice::WriteUser | QFileDevice::ExeUser;
    const QFileDevice::Permissions ownerFile = QFileDevice::ReadOwner | QFileDevice::WriteOwner
        | QFileDevice::ReadUser | QFileDevice::WriteUser;
    QCOMPARE(QFileInfo(m_dataDir).permissions(), ownerDir);
    const QString database = QDir(m_dataDir).filePath(u"backend.db"_s);
    QCOMPARE(QFileInfo(database).permissions(), ownerFile);
    // The running service holds the database open in WAL mode.
    QVERIFY(QFileInfo::exists(database + u"-wal"_s));
    QCOMPARE(QFileInfo(database + u"-wal"_s).permissions(), ownerFile);
    QCOMPARE(QFileInfo(database + u"-shm"_s).permissions(), ownerFile);
}

void BackendApiTest::enrolmentTtlDefaultCapped()
{
    const quint16 port = freePort();
    QProcess service;
    service.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    service.start(kBackendPath, {u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                 u"127.0.0.1:%1"_s.arg(port), u"--set"_s,
                                 u"enrolment.max_token_ttl_ms=600000"_s});
    QVERIFY(service.waitForStarted());

    const quint16 mainPort = m_port;
    m_port = port;
    QTRY_COMPARE_WITH_TIMEOUT(request("GET", u"/healthz"_s, {}).status, 200, 10000);
    const QDateTime before = QDateTime::currentDateTimeUtc();
    const HttpResult created = postJson(u"/api/agents/enrolment-tokens"_s, m_operatorToken,
                                        QJsonObject{{u"agent_name"_s, u"edge-ttl"_s}});
    m_port = mainPort;
    ::kill(pid_t(service.processId()), SIGTERM);
    QVERIFY(service.waitForFinished(5000));

    QCOMPARE(created.status, 201);
    const QDateTime expiresAt = QDateTime::fromString(
        created.json.value(u"expires_at"_s).toString(), Qt::ISODateWithMs);
    QVERIFY(expiresAt.isValid());
    const qint64 lifetimeSeconds = before.secsTo(expiresAt);
    QVERIFY2(lifetimeSeconds >= 599 && lifetimeSeconds <= 601,
             qPrintable(QString::number(lifetimeSeconds)));
}

void BackendApiTest::unknownInputRejected_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("named");

    QTest::newRow("enrolment ttl") << QByteArray("POST") << u"/api/agents/enrolment-tokens"_s
                                   << QByteArray(R"({"agent_name":"x","ttl":60})") << u"ttl"_s;
    QTest::newRow("token lable") << QByteArray("POST") << u"/api/tokens"_s
                                 << QByteArray(R"({"role":"auditor","lable":"x"})")
                                 << u"lable"_s;
    QTest::newRow("revoke body") << QByteArray("POST")
                                 << u"/api/tokens/%1/revoke"_s.arg(newUuid())
                                 << QByteArray(R"({"reason":"x"})") << u"reason"_s;
    QTest::newRow("query parameter") << QByteArray("GET") << u"/api/agents?state=approved"_s
                                     << QByteArray() << u"state"_s;
    QTest::newRow("audit agent") << QByteArray("GET") << u"/api/audit?agent=notauuid"_s
                                 << QByteArray() << u"agent"_s;
    QTest::newRow("include_deleted") << QByteArray("GET")
                                     << u"/api/credentials?include_deleted=yes"_s << QByteArray()
                                     << u"include_deleted"_s;
}

void BackendApiTest::unknownInputRejected()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(QByteArray, body);
    QFETCH(QString, named);

    const HttpResult result = request(method, path, m_adminToken, body);
    QCOMPARE(result.status, 400);
    QCOMPARE(result.errorCode(), u"invalid_field"_s);
    const QString message = result.json.value(u"error"_s).toObject().value(u"message"_s)
                                .toString();
    QVERIFY2(message.contains(u"\""_s + named + u"\""_s), qPrintable(message));
}

void BackendApiTest::bearerSchemeAnyCase_data()
{
    QTest::addColumn<QByteArray>("scheme");
    QTest::newRow("lower") << QByteArray("bearer");
    QTest::newRow("upper") << QByteArray("BEARER");
}

void BackendApiTest::bearerSchemeAnyCase()
{
    QFETCH(QByteArray, scheme);
    QNetworkRequest networkRequest(QUrl(u"http://127.0.0.1:%1/api/alerts"_s.arg(m_port)));
    networkRequest.setRawHeader("Authorization", scheme + ' ' + m_auditorToken.toLatin1());
    QNetworkReply *reply = m_network.get(networkRequest);
    QVERIFY(QTest::qWaitFor([reply] { return reply->isFinished(); }, 15000));
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    reply->deleteLater();
}

void BackendApiTest::unauthenticatedHasChallenge()
{
    const HttpResult result = request("GET", u"/api/alerts"_s, u"srt_unknown"_s);
    QCOMPARE(result.status, 401);
    QCOMPARE(result.header("WWW-Authenticate"), QByteArray("Bearer"));
}

void BackendApiTest::lastAdminRevokeRefused()
{
    const HttpResult list = request("GET", u"/api/tokens"_s, m_adminToken);
    QCOMPARE(list.status, 200);
    QStringList activeAdmins;
    for (const QJsonValue &value : list.json.value(u"tokens"_s).toArray()) {
        const QJsonObject token = value.toObject();
        if (token.value(u"role"_s).toString() == u"admin"_s
            && token.value(u"revoked_at"_s).isNull())
            activeAdmins.append(token.value(u"token_id"_s).toString());
    }
    QCOMPARE(activeAdmins.size(), 1);

    const HttpResult revoke =
        postJson(u"/api/tokens/%1/revoke"_s.arg(activeAdmins.constFirst()), m_adminToken, {});
    QCOMPARE(revoke.status, 409);
    QVERIFY2(revoke.body.contains("last active admin token"), revoke.body.constData());
    QCOMPARE(request("GET", u"/api/tokens"_s, m_adminToken).status, 200);
}

void BackendApiTest::tokenCreateCommand()
{
    const ProcessResult created = runBackend({u"token"_s, u"create"_s, u"--data-dir"_s,
                                              m_dataDir, u"--role"_s, u"admin"_s});
    QVERIFY2(created.exitCode == 0, created.err.constData());
    const QString token = QString::fromUtf8(created.out).trimmed().split(u'\n').constLast();
    QVERIFY2(token.startsWith(u"srt_"_s), created.out.constData());
    QCOMPARE(QString::fromUtf8(created.out).count(token), 1);
    QCOMPARE(request("GET", u"/api/tokens"_s, token).status, 200);

    auto records = m_storage->auditRecords(m_orgId, AuditFilter{});
    QVERIFY(records.ok());
    QVERIFY(!records->isEmpty());
    bool found = false;
    for (const AuditRecord &record : records.value()) {
        found |= record.event == u"api_token_created"_s
            && record.actor == u"local:sealrelay-backend"_s;
    }
    QVERIFY(found);
}

void BackendApiTest::runWithoutOrgRefused_data()
{
    QTest::addColumn<bool>("migrated");
    QTest::newRow("missing data dir") << false;
    QTest::newRow("migrated, no org") << true;
}

void BackendApiTest::runWithoutOrgRefused()
{
    QFETCH(bool, migrated);
    const QString dataDir = m_dir.filePath(migrated ? u"no-org"_s : u"missing"_s);
    if (migrated) {
        QVERIFY(QDir().mkpath(dataDir));
        const ProcessResult migrate = runBackend({u"migrate"_s, u"--data-dir"_s, dataDir});
        QVERIFY2(migrate.exitCode == 0, migrate.err.constData());
    }

    const ProcessResult result = runBackend({u"run"_s, u"--data-dir"_s, dataDir, u"--listen"_s,
                                             u"127.0.0.1:%1"_s.arg(freePort())});
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(result.err.contains("has no org"), result.err.constData());
    QVERIFY2(result.err.contains("sealrelay-backend init --data-dir"), result.err.constData());
    QCOMPARE(QFileInfo::exists(dataDir), migrated);
}

void BackendApiTest::portInUseExitsTwo()
{
    const ProcessResult result = runBackend({u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                             u"127.0.0.1:%1"_s.arg(m_port)});
    QCOMPARE(result.exitCode, 2);
    const QByteArray expected =
        u"another process is using 127.0.0.1:%1; stop it or choose another --listen"_s.arg(m_port)
            .toUtf8();
    QCOMPARE(result.err.count(expected), 1);
}

void BackendApiTest::unknownOptionMessage()
{
    const ProcessResult result = runBackend({u"run"_s, u"--bogus"_s});
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(result.err.contains("Unknown option 'bogus'; see --help."), result.err.constData());
}

void BackendApiTest::subcommandHelp()
{
    const ProcessResult init = runBackend({u"init"_s, u"--help"_s});
    QCOMPARE(init.exitCode, 0);
    QVERIFY2(init.out.contains("sealrelay-backend init [options]"), init.out.constData());
    QVERIFY(init.out.contains("--data-dir"));
    QVERIFY(init.out.contains("--org"));
    QVERIFY(!init.out.contains("--listen"));
    QVERIFY(!init.out.contains("ping_interval_ms"));

    const ProcessResult run = runBackend({u"run"_s, u"--help"_s});
    QCOMPARE(run.exitCode, 0);
    QVERIFY2(run.out.contains("sealrelay-backend run [options]"), run.out.constData());
}

void BackendApiTest::dataDirIsFileRejected()
{
    const QString path = m_dir.filePath(u"not-a-folder"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();

    const ProcessResult run = runBackend({u"run"_s, u"--data-dir"_s, path});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("is a file, not a folder"), run.err.constData());
    const ProcessResult init = runBackend({u"init"_s, u"--data-dir"_s, path});
    QCOMPARE(init.exitCode, 2);
    QVERIFY2(init.err.contains("is a file, not a folder"), init.err.constData());
}

void BackendApiTest::readOnlyDatabaseRejected()
{
    // Root may write read-only files, so as root the service runs as the
    // unprivileged user nobody, on a folder nobody may read but not write.
    QTemporaryDir shared(QDir::tempPath() + u"/sealrelay-readonly-XXXXXX"_s);
    QVERIFY(shared.isValid());
    const QString dataDir = shared.filePath(u"data"_s);
    const ProcessResult init = runBackend({u"init"_s, u"--data-dir"_s, dataDir});
    QCOMPARE(init.exitCode, 0);
    const QString database = QDir(dataDir).filePath(u"backend.db"_s);
    const auto readOnly = QFileDevice::ReadOwner | QFileDevice::ReadGroup | QFileDevice::ReadOther;
    const auto listable = readOnly | QFileDevice::ExeOwner | QFileDevice::ExeGroup
        | QFileDevice::ExeOther;
    QVERIFY(QFile::setPermissions(shared.path(), listable | QFileDevice::WriteOwner));
    QVERIFY(QFile::setPermissions(dataDir, listable));
    QVERIFY(QFile::setPermissions(database, readOnly));

    const QStringList runArguments{u"run"_s, u"--data-dir"_s, dataDir, u"--listen"_s,
                                   u"127.0.0.1:%1"_s.arg(freePort())};
    ProcessResult run;
    if (::geteuid() == 0) {
        // The build folder may sit where nobody cannot reach it, so nobody
        // runs a copy of the binary from the shared folder.
        const QString binary = shared.filePath(u"sealrelay-backend"_s);
        QVERIFY(QFile::copy(kBackendPath, binary));
        QVERIFY(QFile::setPermissions(binary, listable));
        QProcess process;
        process.start(u"runuser"_s,
                      QStringList{u"-u"_s, u"nobody"_s, u"--"_s, binary} + runArguments);
        QVERIFY2(process.waitForFinished(30000), "runuser did not finish");
        run = {process.exitCode(), process.readAllStandardOutput(),
               process.readAllStandardError()};
    } else {
        run = runBackend(runArguments);
    }
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains("is read-only"), run.err.constData());
    QVERIFY2(run.err.contains(database.toUtf8()), run.err.constData());

    QVERIFY(QFile::setPermissions(dataDir, listable | QFileDevice::WriteOwner));
}

void BackendApiTest::ipv6ListenerLogsBrackets()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHostIPv6, 0))
        QSKIP("::1 is not available on this host");
    const quint16 port = probe.serverPort();
    probe.close();

    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"info"_s);
    QProcess service;
    service.setProcessEnvironment(environment);
    service.start(kBackendPath, {u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                 u"[::1]:%1"_s.arg(port)});
    QVERIFY(service.waitForStarted());
    QByteArray err;
    const QByteArray expected = u"http://[::1]:%1"_s.arg(port).toUtf8();
    const bool logged = QTest::qWaitFor(
        [&] {
            err += service.readAllStandardError();
            return err.contains(expected);
        },
        10000);
    ::kill(pid_t(service.processId()), SIGTERM);
    QVERIFY(service.waitForFinished(5000));
    QVERIFY2(logged, err.constData());
}

void BackendApiTest::sigtermExitsZero()
{
    QCOMPARE(m_backend.state(), QProcess::Running);
    QElapsedTimer timer;
    timer.start();
    ::kill(pid_t(m_backend.processId()), SIGTERM);
    QVERIFY(m_backend.waitForFinished(5000));
    QVERIFY(timer.elapsed() < 5000);
    QCOMPARE(m_backend.exitStatus(), QProcess::NormalExit);
    QCOMPARE(m_backend.exitCode(), 0);
}

void BackendApiTest::postgresRun()
{
    test::PostgresServer postgres;
    if (!postgres.start())
        QFAIL(qPrintable(u"PostgreSQL is not usable here (./run setup installs the package "
                         "postgresql): "_s + postgres.errorString()));
    const QString database = postgres.createDatabase();
    QVERIFY2(!database.isEmpty(), qPrintable(postgres.errorString()));
    const QString serviceUrl = postgres.serviceUrl(database);
    const QString ownerUrl = postgres.ownerUrl(database);

    // An empty database migrates, but has no org to serve.
    const ProcessResult empty = runBackend({u"run"_s, u"--database"_s, serviceUrl,
                                            u"--migration-database"_s, ownerUrl, u"--listen"_s,
                                            u"127.0.0.1:%1"_s.arg(freePort())});
    QCOMPARE(empty.exitCode, 2);
    QVERIFY2(empty.err.contains("has no org"), empty.err.constData());
    QVERIFY2(!empty.err.contains("NOTICE"), empty.err.constData());

    const ProcessResult init = runBackend({u"init"_s, u"--database"_s, serviceUrl,
                                           u"--migration-database"_s, ownerUrl});
    QVERIFY2(init.exitCode == 0, init.err.constData());
    QVERIFY2(!init.err.contains("NOTICE"), init.err.constData());
    const QString token = QString::fromUtf8(init.out).trimmed().split(u'\n').constLast();
    QVERIFY(token.startsWith(u"srt_"_s));

    // The owner role could rewrite the audit table, so run refuses it.
    const ProcessResult owner = runBackend({u"run"_s, u"--database"_s, ownerUrl, u"--listen"_s,
                                            u"127.0.0.1:%1"_s.arg(freePort())});
    QCOMPARE(owner.exitCode, 1);
    QVERIFY2(owner.err.contains("owns the audit table"), owner.err.constData());

    const quint16 mainPort = m_port;
    m_port = freePort();
    QProcess service;
    service.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    service.start(kBackendPath, {u"run"_s, u"--database"_s, serviceUrl, u"--listen"_s,
                                 u"127.0.0.1:%1"_s.arg(m_port)});
    QVERIFY(service.waitForStarted());
    QTRY_COMPARE_WITH_TIMEOUT(request("GET", u"/readyz"_s, {}).status, 200, 10000);
    QCOMPARE(request("GET", u"/api/credentials"_s, token).status, 200);
    QCOMPARE(postJson(u"/api/tokens"_s, token, QJsonObject{{u"role"_s, u"auditor"_s}}).status,
             201);
    const HttpResult verify = request("GET", u"/api/audit/verify"_s, token);
    QCOMPARE(verify.json.value(u"intact"_s).toBool(), true);
    QCOMPARE(verify.json.value(u"rows_verified"_s).toInteger(), 2);

    ::kill(pid_t(service.processId()), SIGTERM);
    QVERIFY(service.waitForFinished(5000));
    QCOMPARE(service.exitCode(), 0);
    m_port = mainPort;
}

void BackendApiTest::tlsListener()
{
    // A self-signed certificate for 127.0.0.1, made with the openssl tool.
    const QString certificate = m_dir.filePath(u"tls-cert.pem"_s);
    const QString key = m_dir.filePath(u"tls-key.pem"_s);
    QProcess openssl;
    openssl.start(u"openssl"_s, {u"req"_s, u"-x509"_s, u"-newkey"_s, u"rsa:2048"_s, u"-nodes"_s,
                                 u"-keyout"_s, key, u"-out"_s, certificate, u"-days"_s, u"1"_s,
                                 u"-subj"_s, u"/CN=127.0.0.1"_s, u"-addext"_s,
                                 u"subjectAltName=IP:127.0.0.1"_s});
    if (!openssl.waitForStarted())
        QFAIL("the openssl tool is not installed; ./run setup installs the package openssl");
    QVERIFY(openssl.waitForFinished(30000));
    QCOMPARE(openssl.exitCode(), 0);
    m_trustedCertificates = QSslCertificate::fromPath(certificate);
    QCOMPARE(m_trustedCertificates.size(), 1);

    const quint16 mainPort = m_port;
    m_port = freePort();
    QProcess service;
    service.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    service.start(kBackendPath, {u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                 u"127.0.0.1:%1"_s.arg(m_port), u"--tls-certificate"_s,
                                 certificate, u"--tls-key"_s, key});
    QVERIFY(service.waitForStarted());

    m_scheme = u"https"_s;
    QTRY_COMPARE_WITH_TIMEOUT(request("GET", u"/healthz"_s, {}).status, 200, 10000);
    QCOMPARE(request("GET", u"/api/credentials"_s, m_auditorToken).status, 200);
    m_scheme = u"http"_s;
    QCOMPARE(request("GET", u"/healthz"_s, {}).status, 0);

    ::kill(pid_t(service.processId()), SIGTERM);
    QVERIFY(service.waitForFinished(5000));
    QCOMPARE(service.exitCode(), 0);
    m_port = mainPort;
}

QTEST_GUILESS_MAIN(BackendApiTest)
#include "tst_backendapi.moc"
