// End-to-end tests of the sealrelay-agent process on 127.0.0.1: init, the
// key file mode check, enrolment and approval against a real backend,
// restart, a silent path through a TCP proxy, the local `get` against a
// fake backend that replies to credential_missing (with credential_unavailable
// or with a delivery of the credential), a hello that names another
// backend origin, and wss to a TLS backend whose certificate a private CA
// issued: trusted through --backend-ca-file, else rejected with retries.
#include "agentidentity.h"
#include "agenttestsupport.h"
#include "backendprocess.h"
#include "ids.h"
#include "masterkey.h"
#include "statement.h"
#include "targethandler.h"
#include "testpki.h"
#include "truststore.h"
#include "vault.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QLocalServer>
#include <QLocalSocket>
#include <QMap>
#include <QPointer>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QWebSocket>
#include <QWebSocketServer>
#include <QtTest>

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <vector>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;

namespace {

const QString kAgentPath = QStringLiteral(SEALRELAY_BINARY_DIR "/agent/sealrelay-agent");

struct ProcessResult {
    int exitCode = -1;
    QString out;
    QString err;
    qint64 elapsedMs = 0;
};

// The exit codes a `get --help` output lists ("  3  not found: ..." and its
// indented continuation lines), each with its text joined into one line.
QMap<int, QString> listedExitCodes(const QString &help)
{
    QMap<int, QString> codes;
    const qsizetype start = help.indexOf(u"Exit codes of get:"_s);
    if (start < 0)
        return codes;
    const QRegularExpression entry(u"^  (\\d)  (.*)$"_s);
    const QRegularExpression continuation(u"^     (\\S.*)$"_s);
    int current = -1;
    for (const QString &line : help.mid(start).split(u'\n').mid(1)) {
        if (const QRegularExpressionMatch match = entry.match(line); match.hasMatch()) {
            current = match.captured(1).toInt();
            codes.insert(current, match.captured(2));
        } else if (const QRegularExpressionMatch more = continuation.match(line);
                   more.hasMatch() && current >= 0) {
            codes[current] += u' ' + more.captured(1);
        } else {
            current = -1;
        }
    }
    return codes;
}

// The one listed exit code whose text contains `phrase`; -1 when none or
// several do.
int listedExitCode(const QMap<int, QString> &codes, const QString &phrase)
{
    int found = -1;
    for (auto it = codes.cbegin(); it != codes.cend(); ++it) {
        if (!it.value().contains(phrase))
            continue;
        if (found >= 0)
            return -1;
        found = it.key();
    }
    return found;
}

QProcessEnvironment agentEnvironment(const QHash<QString, QString> &extra = {})
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(u"SEALRELAY_CONNECTION_RECONNECT_MIN_MS"_s, u"100"_s);
    environment.insert(u"SEALRELAY_CONNECTION_RECONNECT_MAX_MS"_s, u"500"_s);
    for (auto it = extra.cbegin(); it != extra.cend(); ++it)
        environment.insert(it.key(), it.value());
    return environment;
}

ProcessResult runAgentCommand(const QStringList &arguments,
                              const QProcessEnvironment &environment = agentEnvironment())
{
    QProcess process;
    process.setProcessEnvironment(environment);
    QElapsedTimer timer;
    timer.start();
    process.start(kAgentPath, arguments);
    if (!process.waitForStarted() || !process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished();
        return {};
    }
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()),
            QString::fromUtf8(process.readAllStandardError()), timer.elapsed()};
}

// Returns the value of a `key: value` line of `status`.
QString statusField(const QString &dataDir, const QString &key)
{
    const ProcessResult status = runAgentCommand({u"status"_s, u"--data-dir"_s, dataDir});
    for (const QString &line : status.out.split(u'\n')) {
        if (line.startsWith(key + u": "_s))
            return line.mid(key.size() + 2);
    }
    return {};
}

void writeFile(const QString &path, const QByteArray &bytes, QFileDevice::Permissions mode)
{
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(bytes);
    file.close();
    QVERIFY(file.setPermissions(mode));
}

QString readText(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(file.readAll());
}

// A TCP proxy between the agent and the backend. freeze() makes every
// current connection drop what it receives without closing, as a path that
// silently loses packets would.
class SilentProxy : public QObject {
public:
    bool listen(quint16 targetPort)
    {
        m_targetPort = targetPort;
        connect(&m_server, &QTcpServer::newConnection, this, [this] { onNewConnection(); });
        return m_server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return m_server.serverPort(); }
    int connections() const { return m_connections; }
    void freeze()
    {
        for (auto &pair : m_pairs)
            pair.frozen = true;
    }

private:
    struct Pair {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> upstream;
        bool frozen = false;
    };

    void onNewConnection()
    {
        while (QTcpSocket *client = m_server.nextPendingConnection()) {
            ++m_connections;
            auto *upstream = new QTcpSocket(this);
            upstream->connectToHost(QHostAddress::LocalHost, m_targetPort);
            const int index = int(m_pairs.size());
            m_pairs.append({client, upstream, false});
            connect(client, &QTcpSocket::readyRead, this, [this, index] { forward(index, true); });
            connect(upstream, &QTcpSocket::readyRead, this,
                    [this, index] { forward(index, false); });
            connect(upstream, &QTcpSocket::connected, this, [this, index] { forward(index, true); });
            connect(client, &QTcpSocket::disconnected, upstream, &QTcpSocket::disconnectFromHost);
            connect(upstream, &QTcpSocket::disconnected, client, &QTcpSocket::disconnectFromHost);
        }
    }

    void forward(int index, bool fromClient)
    {
        Pair &pair = m_pairs[index];
        if (!pair.client || !pair.upstream)
            return;
        QTcpSocket *from = fromClient ? pair.client.data() : pair.upstream.data();
        QTcpSocket *to = fromClient ? pair.upstream.data() : pair.client.data();
        if (to->state() != QAbstractSocket::ConnectedState && !pair.frozen)
            return; // kept buffered until the upstream connects
        const QByteArray bytes = from->readAll();
        if (!pair.frozen)
            to->write(bytes);
    }

    QTcpServer m_server;
    quint16 m_targetPort = 0;
    QList<Pair> m_pairs;
    int m_connections = 0;
};

// A backend stand-in that speaks hello and welcome, approves the agent with
// a certificate for the keys it enrols with, and replies to credential_missing
// with the credential_store of `deliveries` for the name requested, else with
// credential_unavailable NO_ELIGIBLE_PEER unless answerMissing is false.
// With foreignOrigin set, it plays a backend that relays another backend's
// hello and pushes a welcome behind it.
class FakeBackend : public QObject {
public:
    FakeBackend(const Ed25519PrivateKey &operatorKey, QString orgId)
        : m_operatorKey(operatorKey)
        , m_orgId(std::move(orgId))
        , m_server(u"fake"_s, QWebSocketServer::NonSecureMode)
    {
        connect(&m_server, &QWebSocketServer::newConnection, this, [this] { onConnection(); });
    }
    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    // Sets the agent that authenticates, as a backend stores it at its
    // enrolment.
    void knowAgent(const AgentIdentity &identity, const QString &name)
    {
        m_agentId = identity.agentId;
        m_agentName = name;
        m_encryptionKey = identity.encryptionKey.publicKey().spkiDer();
        m_identityKey = identity.identityKey.publicKey().raw();
    }
    // Signs certificates with this key instead of the trusted operator's.
    std::optional<Ed25519PrivateKey> rogueSigner;
    int connections = 0;
    bool answerMissing = true;
    int missingReceived = 0;
    // Deliveries by credential name, each sent once.
    QHash<QString, CredentialStore> deliveries;
    // credential_id of every credential_stored received.
    QStringList storedReceived;
    // Frames sent back to back after the next registered, then cleared.
    QList<QByteArray> burstAfterRegister;
    // Each reply to a delivery or statement update, in the order received:
    // "stored <credential_id>", "refused <credential_id> <reason>" or
    // "applied <credential_id> <receipt state>".
    QStringList deliveryReplies;
    QStringList registerModes;
    // When set, hello names this origin instead of the fake's own, and an
    // approved welcome follows at once, before any enrol or authenticate.
    std::optional<QString> foreignOrigin;
    // Types of the messages the agent sent on connections with a foreign
    // hello. The fake does not reply to them.
    QStringList foreignReplies;
    // The agent's close code of each ended connection with a foreign hello.
    QList<int> foreignCloseCodes;

private:
    void onConnection()
    {
        QWebSocket *socket = m_server.nextPendingConnection();
        ++connections;
        const bool foreign = foreignOrigin.has_value();
        if (foreign) {
            m_foreignSockets.insert(socket);
            connect(socket, &QWebSocket::disconnected, this, [this, socket] {
                foreignCloseCodes.append(int(socket->closeCode()));
                m_foreignSockets.remove(socket);
            });
        }
        connect(socket, &QWebSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QWebSocket::textMessageReceived, this,
                [this, socket](const QString &text) { onMessage(socket, text); });
        Hello hello;
        hello.id = newUuid();
        hello.backendOrigin = foreign ? *foreignOrigin : u"http://127.0.0.1:%1"_s.arg(port());
        hello.nonce = QByteArray(16, 'n');
        hello.serverTime = QDateTime::currentDateTimeUtc();
        socket->sendTextMessage(QString::fromUtf8(serializeMessage(hello)));
        if (foreign)
            sendWelcome(socket);
    }

    void onMessage(QWebSocket *socket, const QString &text)
    {
        Result<AgentMessage> message = parseAgentMessage(text.toUtf8());
        if (!message)
            return;
        if (m_foreignSockets.contains(socket)) {
            foreignReplies.append(messageType(message.value()).toString());
            return;
        }
        if (const auto *enrol = std::get_if<Enrol>(&message.value())) {
            m_encryptionKey = enrol->encryptionKey;
            m_identityKey = enrol->identityKey;
            m_agentId = enrol->agentId;
            m_agentName = enrol->agentName;
            sendWelcome(socket);
        } else if (std::holds_alternative<Authenticate>(message.value())) {
            sendWelcome(socket);
        } else if (const auto *reg = std::get_if<Register>(&message.value())) {
            registerModes.append(registerModeName(reg->mode));
            socket->sendTextMessage(
                QString::fromUtf8(serializeMessage(Registered{newUuid(), 0})));
            for (const QByteArray &frame : std::exchange(burstAfterRegister, {}))
                socket->sendTextMessage(QString::fromUtf8(frame));
        } else if (const auto *missing = std::get_if<CredentialMissing>(&message.value())) {
            ++missingReceived;
            if (const auto delivery = deliveries.constFind(missing->name.value_or(QString()));
                delivery != deliveries.cend()) {
                socket->sendTextMessage(QString::fromUtf8(serializeMessage(delivery.value())));
                deliveries.erase(delivery);
                return;
            }
            if (!answerMissing)
                return;
            CredentialUnavailable reply;
            reply.id = newUuid();
            reply.requestId = missing->requestId;
            reply.reason = Reason::NoEligiblePeer;
            socket->sendTextMessage(QString::fromUtf8(serializeMessage(reply)));
        } else if (const auto *stored = std::get_if<CredentialStored>(&message.value())) {
            storedReceived.append(stored->credentialId);
            deliveryReplies.append(u"stored "_s + stored->credentialId);
        } else if (const auto *refused =
                       std::get_if<CredentialIntegrityFailure>(&message.value())) {
            deliveryReplies.append(u"refused %1 %2"_s.arg(refused->credentialId,
                                                          reasonName(refused->reason)));
        } else if (const auto *applied = std::get_if<StatementApplied>(&message.value())) {
            Result<QJsonObject> fields =
                parseStatement(StatementContext::Receipt, applied->receipt.bytes);
            Result<Receipt> receipt = fields ? Receipt::fromFields(fields.value())
                                             : Result<Receipt>(fields.error());
            deliveryReplies.append(u"applied %1 %2"_s.arg(
                applied->credentialId,
                !receipt                                      ? u"unreadable"_s
                    : receipt->state == ReceiptState::Stored  ? u"stored"_s
                    : receipt->state == ReceiptState::Deleted ? u"deleted"_s
                                                              : u"refused"_s));
        }
    }

    void sendWelcome(QWebSocket *socket)
    {
        AgentCertificate fields;
        fields.orgId = m_orgId;
        fields.agentId = m_agentId;
        fields.agentName = m_agentName;
        fields.generation = 1;
        fields.encryptionKey = m_encryptionKey;
        fields.identityKey = m_identityKey;
        fields.issuedAt = QDateTime::currentDateTimeUtc().addSecs(-60);
        fields.expiresAt = fields.issuedAt.addDays(30);
        fields.operatorKey = m_operatorKey.publicKey().raw();
        const Ed25519PrivateKey &signer = rogueSigner ? *rogueSigner : m_operatorKey;
        fields.operatorKey = signer.publicKey().raw();
        Result<SignedStatement> certificate =
            signStatement(StatementContext::AgentCertificate, fields.toFields(), signer);
        Welcome welcome;
        welcome.id = newUuid();
        welcome.orgId = m_orgId;
        welcome.agentId = m_agentId;
        welcome.status = WelcomeStatus::Approved;
        if (certificate)
            welcome.certificate = certificate.value();
        socket->sendTextMessage(QString::fromUtf8(serializeMessage(welcome)));
    }

    Ed25519PrivateKey m_operatorKey;
    QString m_orgId;
    QWebSocketServer m_server;
    QSet<QWebSocket *> m_foreignSockets;
    QByteArray m_encryptionKey;
    QByteArray m_identityKey;
    QString m_agentId;
    QString m_agentName;
};

} // namespace

class AgentProcessTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void keyFileModeRejected_data();
    void keyFileModeRejected();
    void plainRemoteRefused();
    void helpListsExitCodes();
    void getWithoutRunningAgent();
    void initPrintsFingerprint();
    void settingsFromFileAndEnvironment();
    void enrolApproveRegister();
    void restartWarmReconnect();
    void silentPathReconnects();
    void rekeyRegistersRegenerated();
    void getStoredCredential();
    void getWaitsForDelivery();
    void burstOfDeliveriesKeepsOrder();
    void getUnavailableEndsEarly();
    void getTimesOut();
    void getWithoutBackendReportsIt();
    void getWhenAgentStopsReportsIt();
    void untrustedCertificateRejected();
    void foreignOriginRejected();
    void auditVerifiesChain();
    // Last, so their registrations with the fake backend do not count in the
    // cases above.
    void socketModeAndGroup();
    void socketSupplementaryGroup();
    void getExitCodesMatchHelp();
    // wss to a real TLS backend, with a private CA made by the openssl
    // command line.
    void runHelpListsCaFile();
    void caFileInvalidRejected();
    void wssEnrolWithCaFile();
    void wssUntrustedCaRetries();
    void wssWrongCaFileRejected();
    void wssOtherHostNameRejected();
    void reusedTokenStopsAgent();

private:
    QString initAgent(const QString &name, const QString &backendUrl, const QString &token,
                      const QString &trustedFile);
    void startAgent(const QString &dataDir, const QHash<QString, QString> &extra = {});
    void stopAgent();
    void approve(const QString &dataDir, qint64 generation = 1);
    void approveAt(BackendProcess &backend, const QString &dataDir, qint64 generation);
    // Creates an enrolment token on `backend` and runs init for an agent
    // named `name` that dials `backendUrl` and trusts m_operatorKey.
    QString initAgentAt(BackendProcess &backend, const QString &name, const QString &backendUrl);
    // Stores one credential named db-main directly in the agent's vault.
    void storeCredential(const QString &dataDir);
    // Starts `sealrelay-agent get` on the fake backend's agent.
    void startGet(QProcess &get, const QStringList &arguments);

    QTemporaryDir m_dir;
    BackendProcess m_backend;
    SilentProxy m_proxy;
    quint16 m_proxyPort = 0;
    std::optional<Ed25519PrivateKey> m_operatorKey;
    QString m_trustedFile;
    QString m_agentDir; // the agent enrolled with the real backend
    QString m_fakeAgentDir; // the agent of the fake backend
    QString m_orgId;
    test::TestOrg m_testOrg;
    std::unique_ptr<FakeBackend> m_fake;
    std::optional<AgentIdentity> m_fakeIdentity; // the keys of m_fakeAgentDir
    QProcess m_agent;
    QString m_pkiDir; // ca.pem, ca.key and the server certificates
    // Lists m_operatorKey. getStoredCredential() rewrites m_trustedFile with
    // the test org's key, so the TLS cases keep a file of their own.
    QString m_tlsTrustedFile;
    BackendProcess m_tlsBackend; // https and wss with a certificate for 127.0.0.1
};

void AgentProcessTest::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(QFileInfo::exists(kAgentPath), qPrintable(kAgentPath));
    auto operatorKey = Ed25519PrivateKey::generate();
    QVERIFY(operatorKey.ok());
    m_operatorKey = operatorKey.value();
    m_trustedFile = m_dir.filePath(u"trusted-operators"_s);
    writeFile(m_trustedFile, m_operatorKey->publicKey().rawBase64().toLatin1() + '\n',
              QFileDevice::ReadOwner | QFileDevice::WriteOwner);

    // The backend lists the proxy's origin too, so an agent dialling through
    // the proxy authenticates.
    const quint16 backendPort = BackendProcess::freePort();
    QVERIFY(m_proxy.listen(backendPort));
    QProcessEnvironment environment;
    environment.insert(u"SEALRELAY_AGENT_PING_INTERVAL_MS"_s, u"500"_s);
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    environment.insert(u"SEALRELAY_SERVER_PUBLIC_ORIGIN"_s,
                       u"http://127.0.0.1:%1,http://127.0.0.1:%2"_s.arg(backendPort).arg(
                           m_proxy.port()));
    const QString started =
        m_backend.start(m_dir.filePath(u"backend"_s), environment, backendPort);
    QVERIFY2(started.isEmpty(), qPrintable(started));
}

void AgentProcessTest::cleanupTestCase()
{
    stopAgent();
    m_backend.stop();
    m_tlsBackend.stop();
}

void AgentProcessTest::cleanup()
{
    stopAgent();
}

QString AgentProcessTest::initAgent(const QString &name, const QString &backendUrl,
                                    const QString &token, const QString &trustedFile)
{
    const QString dataDir = m_dir.filePath(name);
    const ProcessResult init = runAgentCommand(
        {u"init"_s, u"--data-dir"_s, dataDir, u"--backend"_s, backendUrl, u"--enrolment-token"_s,
         token, u"--trusted-operators"_s, trustedFile, u"--name"_s, name, u"--vault-key-file"_s,
         m_dir.filePath(name + u".key"_s)});
    if (init.exitCode != 0) {
        qWarning("init failed: %s", qPrintable(init.err));
        return {};
    }
    return dataDir;
}

void AgentProcessTest::startAgent(const QString &dataDir, const QHash<QString, QString> &extra)
{
    QHash<QString, QString> settings = extra;
    settings.insert(u"SEALRELAY_LOG_LEVEL"_s, u"info"_s);
    m_agent.setProcessEnvironment(agentEnvironment(settings));
    m_agent.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_agent.start(kAgentPath, {u"run"_s, u"--data-dir"_s, dataDir});
    QVERIFY(m_agent.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(QDir(dataDir).filePath(u"agent.sock"_s))
                                 || m_agent.state() == QProcess::NotRunning,
                             10000);
    QCOMPARE(m_agent.state(), QProcess::Running);
}

void AgentProcessTest::stopAgent()
{
    if (m_agent.state() == QProcess::NotRunning)
        return;
    m_agent.terminate();
    if (!m_agent.waitForFinished(10000)) {
        m_agent.kill();
        m_agent.waitForFinished();
    }
}

void AgentProcessTest::keyFileModeRejected_data()
{
    QTest::addColumn<QString>("command");
    QTest::newRow("init") << u"init"_s;
    QTest::newRow("run") << u"run"_s;
}

void AgentProcessTest::keyFileModeRejected()
{
    QFETCH(QString, command);
    const QString keyFile = m_dir.filePath(u"mode-0644-%1.key"_s.arg(command));
    writeFile(keyFile, QByteArray(64, 'a') + '\n',
              QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup
                  | QFileDevice::ReadOther);
    const QString dataDir = m_dir.filePath(u"loose-"_s + command);

    ProcessResult result;
    if (command == u"init"_s) {
        result = runAgentCommand({u"init"_s, u"--data-dir"_s, dataDir, u"--backend"_s,
                                  m_backend.baseUrl(), u"--enrolment-token"_s, u"unused"_s,
                                  u"--trusted-operators"_s, m_trustedFile, u"--vault-key-file"_s,
                                  keyFile});
        QVERIFY(!QFileInfo::exists(QDir(dataDir).filePath(u"vault.db"_s)));
    } else {
        const QString good = initAgent(u"loose-run"_s, m_backend.baseUrl(), u"unused"_s,
                                       m_trustedFile);
        QVERIFY(!good.isEmpty());
        result = runAgentCommand({u"run"_s, u"--data-dir"_s, good, u"--vault-key-file"_s,
                                  keyFile});
    }
    QCOMPARE(result.exitCode, 1);
    QVERIFY2(result.err.contains(u"0600"_s), qPrintable(result.err));
}

void AgentProcessTest::plainRemoteRefused()
{
    const ProcessResult result = runAgentCommand(
        {u"init"_s, u"--data-dir"_s, m_dir.filePath(u"plain"_s), u"--backend"_s,
         u"http://backend.example:8443"_s, u"--enrolment-token"_s, u"unused"_s,
         u"--trusted-operators"_s, m_trustedFile, u"--vault-key-file"_s,
         m_dir.filePath(u"plain.key"_s)});
    QCOMPARE(result.exitCode, 1);
    QVERIFY2(result.err.contains(u"not loopback"_s), qPrintable(result.err));
}

void AgentProcessTest::helpListsExitCodes()
{
    const ProcessResult help = runAgentCommand({u"get"_s, u"--help"_s});
    QCOMPARE(help.exitCode, 0);
    QVERIFY2(help.out.startsWith(u"Usage: sealrelay-agent get [options] NAME_OR_ID\n"_s),
             qPrintable(help.out));
    const QMap<int, QString> codes = listedExitCodes(help.out);
    QCOMPARE(codes.keys(), QList<int>({ 0, 1, 2, 3, 4, 5 }));
    QVERIFY(codes.value(0).startsWith(u"success"_s));
    QVERIFY(codes.value(1).startsWith(u"other failure"_s));
    QVERIFY(codes.value(2).startsWith(u"usage error"_s));
    QVERIFY(codes.value(3).startsWith(u"not found"_s));
    QVERIFY(codes.value(4).startsWith(u"unavailable"_s));
    QVERIFY(codes.value(5).startsWith(u"timeout"_s));
    // The help wraps its lines, so the words are compared without the breaks.
    const QString words = help.out.simplified();
    QVERIFY(words.contains(u"--missing-wait"_s));
    QVERIFY(words.contains(u"Unit: milliseconds."_s));
    QVERIFY(words.contains(u"Default: 15000."_s));
    QVERIFY(help.out.contains(u"SEALRELAY_API_MISSING_WAIT_MS"_s));
    // Only the settings that get uses: the connection ones belong to run.
    QVERIFY(help.out.contains(u"--data-dir"_s));
    QVERIFY(!help.out.contains(u"--reconnect-min"_s));
    QVERIFY(!help.out.contains(u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s));
    const ProcessResult runOption =
        runAgentCommand({u"get"_s, u"--data-dir"_s, m_dir.path(), u"--socket-group"_s,
                         u"staff"_s, u"db-main"_s});
    QCOMPARE(runOption.exitCode, 2);
    QVERIFY2(runOption.err.contains(u"Unknown option 'socket-group'"_s),
             qPrintable(runOption.err));

    const ProcessResult runHelp = runAgentCommand({u"run"_s, u"--help"_s});
    QVERIFY2(runHelp.out.startsWith(u"Usage: sealrelay-agent run [options]\n"_s),
             qPrintable(runHelp.out));
    QVERIFY(runHelp.out.contains(u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s));
}

// Runs `get` with each outcome and compares its exit code with the one the
// help lists for that outcome. The real agent of the fake backend gives the
// outcomes it can reach. A stand-in on the socket sends the agent's other
// replies: a backend reason, a deleted credential and an internal error.
void AgentProcessTest::getExitCodesMatchHelp()
{
    QVERIFY(m_fake);
    QVERIFY(!m_fakeAgentDir.isEmpty());
    const ProcessResult help = runAgentCommand({ u"get"_s, u"--help"_s });
    QCOMPARE(help.exitCode, 0);
    const QMap<int, QString> codes = listedExitCodes(help.out);
    QCOMPARE(codes.size(), 6);

    const auto runGet = [](const QString &dataDir, const QStringList &arguments) {
        QProcess get;
        get.setProcessEnvironment(agentEnvironment());
        get.start(kAgentPath, QStringList { u"get"_s, u"--data-dir"_s, dataDir } + arguments);
        if (!get.waitForStarted()
            || !QTest::qWaitFor([&get] { return get.state() == QProcess::NotRunning; }, 30000)) {
            get.kill();
            get.waitForFinished();
            return -1;
        }
        return get.exitStatus() == QProcess::NormalExit ? get.exitCode() : -1;
    };

    // The real agent, with a 1 s wait for a missing credential.
    m_fake->answerMissing = true;
    const qsizetype registered = m_fake->registerModes.size();
    startAgent(m_fakeAgentDir, { { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"1000"_s } });
    QTRY_VERIFY_WITH_TIMEOUT(m_fake->registerModes.size() > registered, 10000);
    QCOMPARE(runGet(m_fakeAgentDir, { u"db-main"_s, u"--field"_s, u"password"_s }),
             listedExitCode(codes, u"success"_s));
    QCOMPARE(runGet(m_fakeAgentDir, { u"db-main"_s, u"--field"_s, u"token"_s }),
             listedExitCode(codes, u"no such field"_s));
    QCOMPARE(runGet(m_fakeAgentDir, {}), listedExitCode(codes, u"usage error"_s));
    QCOMPARE(runGet(m_fakeAgentDir, { u"db-replica"_s }),
             listedExitCode(codes, u"NO_ELIGIBLE_PEER"_s));
    m_fake->answerMissing = false;
    QCOMPARE(runGet(m_fakeAgentDir, { u"db-replica"_s }),
             listedExitCode(codes, u"did not arrive"_s));
    m_fake->answerMissing = true;
    stopAgent();
    QCOMPARE(runGet(m_fakeAgentDir, { u"db-main"_s }),
             listedExitCode(codes, u"the agent is not running"_s));

    // A stand-in on the socket sends each remaining reply of the agent.
    QTemporaryDir standInDir;
    QVERIFY(standInDir.isValid());
    QLocalServer standIn;
    QByteArray reply;
    QObject::connect(&standIn, &QLocalServer::newConnection, &standIn, [&] {
        while (QLocalSocket *socket = standIn.nextPendingConnection()) {
            QObject::connect(socket, &QLocalSocket::readyRead, socket, [socket, &reply] {
                if (!socket->canReadLine())
                    return;
                socket->readLine();
                socket->write(reply + '\n');
                socket->flush();
            });
            QObject::connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    QVERIFY(standIn.listen(QDir(standInDir.path()).filePath(u"agent.sock"_s)));
    const QList<std::pair<QByteArray, QString>> replies {
        { R"({"error":"unavailable","reason":"UNKNOWN_CREDENTIAL","message":"m"})",
          u"UNKNOWN_CREDENTIAL"_s },
        { R"({"error":"unavailable","reason":"NOT_IN_SCOPE","message":"m"})",
          u"NOT_IN_SCOPE"_s },
        { R"({"error":"unavailable","reason":"RATE_LIMITED","message":"m"})",
          u"RATE_LIMITED"_s },
        { R"({"error":"unavailable","reason":"BACKEND_BUSY","message":"m"})",
          u"BACKEND_BUSY"_s },
        { R"({"error":"unavailable","reason":"COMMITMENT_MISMATCH","message":"m"})",
          u"COMMITMENT_MISMATCH"_s },
        { R"({"error":"not_found","message":"credential was deleted"})", u"deleted"_s },
        { R"({"error":"timeout","message":"m"})", u"did not arrive"_s },
        { R"({"error":"internal","message":"cannot read the vault"})", u"other failure"_s },
    };
    for (const auto &[line, phrase] : replies) {
        reply = line;
        QVERIFY2(listedExitCode(codes, phrase) >= 0, qPrintable(phrase));
        QCOMPARE(runGet(standInDir.path(), { u"db-main"_s }), listedExitCode(codes, phrase));
    }
}

void AgentProcessTest::getWithoutRunningAgent()
{
    QTemporaryDir dataDir;
    QVERIFY(dataDir.isValid());
    const ProcessResult get =
        runAgentCommand({ u"get"_s, u"--data-dir"_s, dataDir.path(), u"db-main"_s });
    QCOMPARE(get.exitCode, 4);
    QVERIFY2(get.err.contains(u"socket file does not exist"_s), qPrintable(get.err));
    QVERIFY2(get.err.contains(u"sealrelay-agent run"_s), qPrintable(get.err));
}

void AgentProcessTest::initPrintsFingerprint()
{
    const BackendReply token = m_backend.request(
        "POST", u"/api/agents/enrolment-tokens"_s,
        QJsonObject{{u"agent_name"_s, u"edge-1"_s}, {u"ttl_seconds"_s, 3600}});
    QCOMPARE(token.status, 201);
    const QString enrolmentToken = token.json.value(u"token"_s).toString();
    QVERIFY(!enrolmentToken.isEmpty());

    m_agentDir = initAgent(u"edge-1"_s, u"http://127.0.0.1:%1"_s.arg(m_backend.port()),
                           enrolmentToken, m_trustedFile);
    QVERIFY(!m_agentDir.isEmpty());
    const QFileInfo keyFile(m_dir.filePath(u"edge-1.key"_s));
    QVERIFY(keyFile.exists());
    QVERIFY(keyFile.permissions().testFlag(QFileDevice::ReadOwner));
    QVERIFY(!keyFile.permissions().testFlag(QFileDevice::ReadGroup));
    QVERIFY(!keyFile.permissions().testFlag(QFileDevice::ReadOther));
    QFile sealedToken(QDir(m_agentDir).filePath(u"enrolment-token"_s));
    QVERIFY(sealedToken.open(QIODevice::ReadOnly));
    QVERIFY(!sealedToken.readAll().contains(enrolmentToken.toLatin1()));

    const ProcessResult printed = runAgentCommand({u"fingerprint"_s, u"--data-dir"_s, m_agentDir});
    QCOMPARE(printed.exitCode, 0);

    QFile key(keyFile.filePath());
    QVERIFY(key.open(QIODevice::ReadOnly));
    auto masterKey = parseMasterKeyText(key.readAll(), keyFile.filePath());
    QVERIFY(masterKey.ok());
    auto vault = Vault::open(QDir(m_agentDir).filePath(u"vault.db"_s), masterKey->view());
    QVERIFY(vault.ok());
    auto identity = vault.value()->loadIdentity();
    QVERIFY(identity.ok() && identity.value());
    const QString expected = agentFingerprint(
        identity.value()->agentId, identity.value()->encryptionKey.publicKey().spkiDer(),
        identity.value()->identityKey.publicKey().raw());
    QCOMPARE(printed.out.trimmed().remove(u' '), expected);
}

void AgentProcessTest::settingsFromFileAndEnvironment()
{
    QVERIFY(!m_agentDir.isEmpty());
    const ProcessResult direct = runAgentCommand({u"fingerprint"_s, u"--data-dir"_s, m_agentDir});
    QCOMPARE(direct.exitCode, 0);

    const QString config = m_dir.filePath(u"agent.ini"_s);
    writeFile(config, "[agent]\ndata_dir=" + m_agentDir.toUtf8() + "\n",
              QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    const ProcessResult fromFile = runAgentCommand({u"fingerprint"_s, u"--config"_s, config});
    QCOMPARE(fromFile.exitCode, 0);
    QCOMPARE(fromFile.out, direct.out);

    const ProcessResult fromEnvironment = runAgentCommand(
        {u"fingerprint"_s}, agentEnvironment({{u"SEALRELAY_AGENT_DATA_DIR"_s, m_agentDir}}));
    QCOMPARE(fromEnvironment.exitCode, 0);
    QCOMPARE(fromEnvironment.out, direct.out);

    const ProcessResult badValue = runAgentCommand(
        {u"status"_s, u"--data-dir"_s, m_agentDir},
        agentEnvironment({{u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"soon"_s}}));
    QCOMPARE(badValue.exitCode, 2);
    QVERIFY2(badValue.err.contains(u"SEALRELAY_API_MISSING_WAIT_MS"_s), qPrintable(badValue.err));
}

void AgentProcessTest::approve(const QString &dataDir, qint64 generation)
{
    approveAt(m_backend, dataDir, generation);
}

void AgentProcessTest::approveAt(BackendProcess &backend, const QString &dataDir,
                                 qint64 generation)
{
    QFile keyFile(m_dir.filePath(QFileInfo(dataDir).fileName() + u".key"_s));
    QVERIFY(keyFile.open(QIODevice::ReadOnly));
    auto masterKey = parseMasterKeyText(keyFile.readAll(), keyFile.fileName());
    QVERIFY(masterKey.ok());
    auto vault = Vault::open(QDir(dataDir).filePath(u"vault.db"_s), masterKey->view());
    QVERIFY(vault.ok());
    auto identity = vault.value()->loadIdentity();
    QVERIFY(identity.ok() && identity.value());

    AgentCertificate fields;
    fields.orgId = identity.value()->orgId;
    fields.agentId = identity.value()->agentId;
    fields.agentName = QFileInfo(dataDir).fileName();
    fields.generation = generation;
    fields.encryptionKey = identity.value()->encryptionKey.publicKey().spkiDer();
    fields.identityKey = identity.value()->identityKey.publicKey().raw();
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.expiresAt = fields.issuedAt.addDays(365);
    fields.operatorKey = m_operatorKey->publicKey().raw();
    auto certificate =
        signStatement(StatementContext::AgentCertificate, fields.toFields(), *m_operatorKey);
    QVERIFY(certificate.ok());
    const BackendReply approved = backend.request(
        "POST", u"/api/agents/%1/certificate"_s.arg(fields.agentId),
        QJsonObject{{u"certificate"_s, certificate->toJson()}});
    QVERIFY2(approved.status == 200, approved.body.constData());
}

void AgentProcessTest::enrolApproveRegister()
{
    QVERIFY(!m_agentDir.isEmpty());
    startAgent(m_agentDir);

    QTRY_VERIFY_WITH_TIMEOUT(!statusField(m_agentDir, u"org_id"_s).isEmpty(), 20000);
    const BackendReply pending = m_backend.request("GET", u"/api/agents?status=pending_approval"_s);
    QCOMPARE(pending.status, 200);
    const QJsonArray agents = pending.json.value(u"agents"_s).toArray();
    QCOMPARE(agents.size(), 1);
    QCOMPARE(agents.at(0).toObject().value(u"name"_s).toString(), u"edge-1"_s);
    QVERIFY(!QFileInfo::exists(QDir(m_agentDir).filePath(u"enrolment-token"_s)));
    QCOMPARE(statusField(m_agentDir, u"certificate_generation"_s), u"none"_s);

    approve(m_agentDir);
    QTRY_VERIFY_WITH_TIMEOUT(
        statusField(m_agentDir, u"last_registration"_s).startsWith(u"first_registration"_s),
        20000);
    QCOMPARE(statusField(m_agentDir, u"certificate_generation"_s), u"1"_s);
    const BackendReply approved = m_backend.request("GET", u"/api/agents?status=approved"_s);
    QCOMPARE(approved.json.value(u"agents"_s).toArray().size(), 1);
}

void AgentProcessTest::restartWarmReconnect()
{
    QVERIFY(!m_agentDir.isEmpty());
    QVERIFY(statusField(m_agentDir, u"last_registration"_s).startsWith(u"first_registration"_s));
    startAgent(m_agentDir);
    QTRY_VERIFY_WITH_TIMEOUT(
        statusField(m_agentDir, u"last_registration"_s).startsWith(u"warm_reconnect"_s), 20000);
    QCOMPARE(m_agent.state(), QProcess::Running);
}

void AgentProcessTest::silentPathReconnects()
{
    QVERIFY(!m_agentDir.isEmpty());
    const QString before = statusField(m_agentDir, u"last_registration"_s);
    startAgent(m_agentDir, {{u"SEALRELAY_AGENT_BACKEND"_s,
                             u"http://127.0.0.1:%1"_s.arg(m_proxy.port())},
                            {u"SEALRELAY_CONNECTION_PING_INTERVAL_MS"_s, u"300"_s},
                            {u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s, u"1500"_s}});
    QTRY_COMPARE_WITH_TIMEOUT(m_proxy.connections(), 1, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(statusField(m_agentDir, u"last_registration"_s) != before, 10000);

    const QString afterFirst = statusField(m_agentDir, u"last_registration"_s);
    QElapsedTimer silent;
    silent.start();
    m_proxy.freeze();
    QTRY_COMPARE_WITH_TIMEOUT(m_proxy.connections(), 2, 10000);
    QVERIFY2(silent.elapsed() >= 1000, qPrintable(QString::number(silent.elapsed())));
    QVERIFY2(silent.elapsed() < 6000, qPrintable(QString::number(silent.elapsed())));
    QTRY_VERIFY_WITH_TIMEOUT(statusField(m_agentDir, u"last_registration"_s) != afterFirst,
                             10000);
}

void AgentProcessTest::rekeyRegistersRegenerated()
{
    QVERIFY(!m_agentDir.isEmpty());
    const BackendReply token = m_backend.request(
        "POST", u"/api/agents/enrolment-tokens"_s,
        QJsonObject{{u"agent_name"_s, u"edge-1"_s}, {u"ttl_seconds"_s, 3600}});
    QCOMPARE(token.status, 201);
    const QString oldFingerprint =
        runAgentCommand({u"fingerprint"_s, u"--data-dir"_s, m_agentDir}).out;

    const ProcessResult rekey =
        runAgentCommand({u"rekey"_s, u"--data-dir"_s, m_agentDir, u"--enrolment-token"_s,
                         token.json.value(u"token"_s).toString()});
    QCOMPARE(rekey.exitCode, 0);
    const QString newFingerprint =
        runAgentCommand({u"fingerprint"_s, u"--data-dir"_s, m_agentDir}).out;
    QVERIFY(!newFingerprint.isEmpty());
    QVERIFY(newFingerprint != oldFingerprint);
    QVERIFY(rekey.out.contains(newFingerprint.trimmed()));

    startAgent(m_agentDir);
    QTRY_VERIFY_WITH_TIMEOUT(!QFileInfo::exists(QDir(m_agentDir).filePath(u"enrolment-token"_s)),
                             20000);
    QVERIFY(statusField(m_agentDir, u"rekey"_s).contains(u"generation 2"_s));
    approve(m_agentDir, 2);
    QTRY_VERIFY_WITH_TIMEOUT(
        statusField(m_agentDir, u"last_registration"_s).startsWith(u"key_regenerated"_s), 20000);
    QCOMPARE(statusField(m_agentDir, u"certificate_generation"_s), u"2"_s);
    QVERIFY(statusField(m_agentDir, u"rekey"_s).isEmpty());
}

void AgentProcessTest::storeCredential(const QString &dataDir)
{
    QFile keyFile(m_dir.filePath(QFileInfo(dataDir).fileName() + u".key"_s));
    QVERIFY(keyFile.open(QIODevice::ReadOnly));
    auto masterKey = parseMasterKeyText(keyFile.readAll(), keyFile.fileName());
    QVERIFY(masterKey.ok());
    auto vault = Vault::open(QDir(dataDir).filePath(u"vault.db"_s), masterKey->view());
    QVERIFY(vault.ok());
    auto loaded = vault.value()->loadIdentity();
    QVERIFY(loaded.ok() && loaded.value());
    AgentIdentity identity = std::move(*loaded.value());
    QVERIFY(vault.value()->storeOrgId(m_testOrg.orgId).ok());
    identity.orgId = m_testOrg.orgId;
    m_fake->knowAgent(identity, QFileInfo(dataDir).fileName());
    m_fakeIdentity = identity;

    TrustStore trust(m_testOrg.trustedKeys(), m_testOrg.orgId, *vault.value());
    TargetHandler handler(*vault.value(), trust, identity);
    const QString credentialId = newUuid();
    const test::TestSecret secret = test::makeSecret();
    CredentialStatement fields = m_testOrg.statementFields(credentialId, 1, 1, secret.commitment);
    fields.name = u"db-main"_s;
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    const SignedStatement statement = m_testOrg.sign(fields);
    const CredentialStore delivery = test::creatorDelivery(
        m_testOrg.operatorKey, identity, statement, fields,
        test::makePayload(credentialId, 1, secret));
    auto reply = handler.handleCredentialStore(delivery);
    QVERIFY(reply.ok());
    QVERIFY(std::holds_alternative<CredentialStored>(reply.value()));
}

void AgentProcessTest::getStoredCredential()
{
    m_fake = std::make_unique<FakeBackend>(m_testOrg.operatorKey, m_testOrg.orgId);
    QVERIFY(m_fake->listen());
    const QString trusted = m_testOrg.writeTrustedOperatorsFile(m_dir.path());
    m_fakeAgentDir = initAgent(u"edge-fake"_s, u"http://127.0.0.1:%1"_s.arg(m_fake->port()),
                               u"fake-token"_s, trusted);
    QVERIFY(!m_fakeAgentDir.isEmpty());
    storeCredential(m_fakeAgentDir);

    startAgent(m_fakeAgentDir);
    QTRY_COMPARE_WITH_TIMEOUT(m_fake->registerModes.size(), 1, 10000);
    QCOMPARE(m_fake->registerModes.constFirst(), u"warm_reconnect"_s);
    const QFileInfo socket(QDir(m_fakeAgentDir).filePath(u"agent.sock"_s));
    QVERIFY(socket.permissions().testFlag(QFileDevice::WriteGroup));
    QVERIFY(!socket.permissions().testFlag(QFileDevice::WriteOther));
    QVERIFY(!socket.permissions().testFlag(QFileDevice::ReadOther));

    const ProcessResult password = runAgentCommand(
        {u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"db-main"_s, u"--field"_s, u"password"_s});
    QCOMPARE(password.exitCode, 0);
    QCOMPARE(password.out, u"pw-1\n"_s);
    const ProcessResult whole =
        runAgentCommand({u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"db-main"_s});
    QCOMPARE(whole.exitCode, 0);
    QCOMPARE(whole.out, u"{\"password\":\"pw-1\",\"username\":\"admin\"}\n"_s);
    const ProcessResult noField = runAgentCommand(
        {u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"db-main"_s, u"--field"_s, u"token"_s});
    QCOMPARE(noField.exitCode, 3);
    const ProcessResult usage = runAgentCommand({u"get"_s, u"--data-dir"_s, m_fakeAgentDir});
    QCOMPARE(usage.exitCode, 2);

    // SIGTERM stops the agent cleanly: exit 0 and no stale socket file.
    m_agent.terminate();
    QVERIFY(m_agent.waitForFinished(10000));
    QCOMPARE(m_agent.exitStatus(), QProcess::NormalExit);
    QCOMPARE(m_agent.exitCode(), 0);
    QVERIFY(!QFileInfo::exists(socket.filePath()));
}

// The socket is 0660 and belongs to the --socket-group, here the test user's
// primary group, named through SEALRELAY_AGENT_SOCKET_GROUP. A group that
// does not exist stops `run` before it listens.
void AgentProcessTest::socketModeAndGroup()
{
    QVERIFY(!m_fakeAgentDir.isEmpty());
    const struct group *primary = ::getgrgid(::getegid());
    QVERIFY(primary);
    const QString groupName = QString::fromLocal8Bit(primary->gr_name);
    const gid_t groupId = primary->gr_gid;

    startAgent(m_fakeAgentDir, { { u"SEALRELAY_AGENT_SOCKET_GROUP"_s, groupName } });
    const QByteArray socketPath = QDir(m_fakeAgentDir).filePath(u"agent.sock"_s).toLocal8Bit();
    struct stat info {};
    QCOMPARE(::stat(socketPath.constData(), &info), 0);
    QVERIFY(S_ISSOCK(info.st_mode));
    QCOMPARE(info.st_mode & 07777, mode_t(0660));
    QCOMPARE(info.st_gid, groupId);
    stopAgent();

    const QString missingGroup = u"sealrelay-test-no-such-group"_s;
    QVERIFY(!::getgrnam(missingGroup.toLocal8Bit().constData()));
    const ProcessResult run = runAgentCommand(
        { u"run"_s, u"--data-dir"_s, m_fakeAgentDir, u"--socket-group"_s, missingGroup });
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(u"socket group %1 does not exist"_s.arg(missingGroup)),
             qPrintable(run.err));
    QVERIFY(!QFileInfo::exists(QString::fromLocal8Bit(socketPath)));
}

// The socket is handed to a group other than the one it is created with,
// which only a supplementary group of the test user shows.
void AgentProcessTest::socketSupplementaryGroup()
{
    QVERIFY(!m_fakeAgentDir.isEmpty());
    const int count = ::getgroups(0, nullptr);
    QVERIFY(count >= 0);
    std::vector<gid_t> groups(size_t(count) + 1);
    QVERIFY(::getgroups(count, groups.data()) == count);
    std::optional<gid_t> other;
    for (int i = 0; i < count; ++i) {
        if (groups[size_t(i)] != ::getegid()) {
            other = groups[size_t(i)];
            break;
        }
    }
    if (!other)
        QSKIP("the test user belongs to no group besides its primary group, so a chown of the "
              "socket to another group cannot be observed");
    const struct group *entry = ::getgrgid(*other);
    QVERIFY(entry);

    startAgent(m_fakeAgentDir,
               { { u"SEALRELAY_AGENT_SOCKET_GROUP"_s, QString::fromLocal8Bit(entry->gr_name) } });
    const QByteArray socketPath = QDir(m_fakeAgentDir).filePath(u"agent.sock"_s).toLocal8Bit();
    struct stat info {};
    QCOMPARE(::stat(socketPath.constData(), &info), 0);
    QCOMPARE(info.st_gid, *other);
    QCOMPARE(info.st_mode & 07777, mode_t(0660));
    stopAgent();
}

void AgentProcessTest::startGet(QProcess &get, const QStringList &arguments)
{
    get.setProcessEnvironment(agentEnvironment());
    get.setProcessChannelMode(QProcess::SeparateChannels);
    get.start(kAgentPath, QStringList { u"get"_s, u"--data-dir"_s, m_fakeAgentDir } + arguments);
    QVERIFY(get.waitForStarted());
}

// A get of a credential the vault lacks waits for the delivery that its
// credential_missing brings, and ends as soon as that delivery is stored.
// A get waiting for another credential is not ended by that store.
void AgentProcessTest::getWaitsForDelivery()
{
    QVERIFY(m_fake);
    QVERIFY(m_fakeIdentity);
    const QString credentialId = newUuid();
    const test::TestSecret secret =
        test::makeSecret(R"({"password":"pw-late","username":"admin"})");
    CredentialStatement fields = m_testOrg.statementFields(credentialId, 1, 1, secret.commitment);
    fields.name = u"db-late"_s;
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    m_fake->deliveries.insert(fields.name,
                              test::creatorDelivery(m_testOrg.operatorKey, *m_fakeIdentity,
                                                    m_testOrg.sign(fields), fields,
                                                    test::makePayload(credentialId, 1, secret)));
    m_fake->answerMissing = false;
    const qsizetype registered = m_fake->registerModes.size();
    startAgent(m_fakeAgentDir, { { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"5000"_s } });
    QTRY_VERIFY_WITH_TIMEOUT(m_fake->registerModes.size() > registered, 10000);

    const int missingBefore = m_fake->missingReceived;
    QProcess other;
    startGet(other, { u"db-other"_s });
    QTRY_COMPARE_WITH_TIMEOUT(m_fake->missingReceived, missingBefore + 1, 10000);

    QProcess late;
    QElapsedTimer timer;
    timer.start();
    startGet(late, { u"db-late"_s, u"--field"_s, u"password"_s });
    QTRY_VERIFY_WITH_TIMEOUT(late.state() == QProcess::NotRunning, 10000);
    QCOMPARE(late.exitCode(), 0);
    QCOMPARE(QString::fromUtf8(late.readAllStandardOutput()), u"pw-late\n"_s);
    QVERIFY2(timer.elapsed() < 2500, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(m_fake->missingReceived, missingBefore + 2);
    QCOMPARE(m_fake->storedReceived, QStringList { credentialId });

    // The other get still waits, and ends only at its missing wait.
    QCOMPARE(other.state(), QProcess::Running);
    QTRY_VERIFY_WITH_TIMEOUT(other.state() == QProcess::NotRunning, 10000);
    QCOMPARE(other.exitCode(), 5);

    // The delivered credential is now held and served without a request.
    const ProcessResult held = runAgentCommand(
        { u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"db-late"_s, u"--field"_s, u"password"_s });
    QCOMPARE(held.exitCode, 0);
    QCOMPARE(held.out, u"pw-late\n"_s);
    QCOMPARE(m_fake->missingReceived, missingBefore + 2);
    m_fake->answerMissing = true;
}

void AgentProcessTest::burstOfDeliveriesKeepsOrder()
{
    QVERIFY(m_fake);
    QVERIFY(m_fakeIdentity);
    // More deliveries than one vault batch takes, one of them with a payload
    // that does not match its commitment, then a statement update for the
    // first credential. The agent stores deliveries that arrive together in
    // one batch; the update must still see the first credential stored.
    constexpr int kDeliveries = 40;
    constexpr int kRefused = 7;
    const test::TestSecret secret = test::makeSecret(R"({"password":"pw-burst"})");
    const test::TestSecret other = test::makeSecret(R"({"password":"pw-other"})");
    QStringList expected;
    QStringList ids;
    for (int i = 0; i < kDeliveries; ++i) {
        const QString credentialId = newUuid();
        ids.append(credentialId);
        CredentialStatement fields =
            m_testOrg.statementFields(credentialId, 1, 1, secret.commitment);
        fields.name = u"burst-%1"_s.arg(i);
        fields.issuedAt = QDateTime::currentDateTimeUtc();
        const test::TestSecret &sealed = i == kRefused ? other : secret;
        m_fake->burstAfterRegister.append(serializeMessage(test::creatorDelivery(
            m_testOrg.operatorKey, *m_fakeIdentity, m_testOrg.sign(fields), fields,
            test::makePayload(credentialId, 1, sealed))));
        expected.append(i == kRefused ? u"refused %1 COMMITMENT_MISMATCH"_s.arg(credentialId)
                                      : u"stored "_s + credentialId);
    }
    CredentialStatement renamed = m_testOrg.statementFields(ids.first(), 1, 2, secret.commitment);
    renamed.name = u"burst-renamed"_s;
    renamed.issuedAt = QDateTime::currentDateTimeUtc();
    StatementUpdate update;
    update.id = newUuid();
    update.deliveryId = newUuid();
    update.credentialId = ids.first();
    update.statement = m_testOrg.sign(renamed);
    m_fake->burstAfterRegister.append(serializeMessage(update));
    expected.append(u"applied %1 stored"_s.arg(ids.first()));

    m_fake->deliveryReplies.clear();
    startAgent(m_fakeAgentDir);
    QTRY_COMPARE_WITH_TIMEOUT(m_fake->deliveryReplies.size(), expected.size(), 20000);
    QCOMPARE(m_fake->deliveryReplies, expected);

    const ProcessResult held = runAgentCommand({ u"get"_s, u"--data-dir"_s, m_fakeAgentDir,
                                                 u"burst-renamed"_s, u"--field"_s,
                                                 u"password"_s });
    QCOMPARE(held.exitCode, 0);
    QCOMPARE(held.out, u"pw-burst\n"_s);
    const ProcessResult refused = runAgentCommand(
        { u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"burst-%1"_s.arg(kRefused) });
    QVERIFY(refused.exitCode != 0);
}

void AgentProcessTest::getUnavailableEndsEarly()
{
    QVERIFY(m_fake);
    m_fake->answerMissing = true;
    startAgent(m_fakeAgentDir);
    QTRY_VERIFY_WITH_TIMEOUT(m_fake->registerModes.size() >= 2, 10000);

    const int before = m_fake->missingReceived;
    QProcess get;
    get.setProcessEnvironment(agentEnvironment());
    QElapsedTimer timer;
    timer.start();
    get.start(kAgentPath, {u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"db-replica"_s});
    QVERIFY(get.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(get.state() == QProcess::NotRunning, 20000);
    QCOMPARE(get.exitCode(), 4);
    QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
    const QString error = QString::fromUtf8(get.readAllStandardError());
    QVERIFY2(error.contains(u"NO_ELIGIBLE_PEER"_s), qPrintable(error));
    // The message names the next step.
    QVERIFY2(error.contains(u"start an agent that holds it"_s), qPrintable(error));
    QCOMPARE(m_fake->missingReceived, before + 1);
}

void AgentProcessTest::getTimesOut()
{
    QVERIFY(m_fake);
    m_fake->answerMissing = false;
    startAgent(m_fakeAgentDir, {{u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"1000"_s}});
    QTRY_VERIFY_WITH_TIMEOUT(m_fake->registerModes.size() >= 3, 10000);

    QProcess get;
    get.setProcessEnvironment(agentEnvironment());
    QElapsedTimer timer;
    timer.start();
    get.start(kAgentPath, {u"get"_s, u"--data-dir"_s, m_fakeAgentDir, u"db-replica"_s});
    QVERIFY(get.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(get.state() == QProcess::NotRunning, 20000);
    QCOMPARE(get.exitCode(), 5);
    QVERIFY2(timer.elapsed() >= 1000, qPrintable(QString::number(timer.elapsed())));
    QVERIFY2(timer.elapsed() < 6000, qPrintable(QString::number(timer.elapsed())));
}

// The agent dials a port where nothing listens, so its credential_missing
// never leaves. The timeout message reports that the backend is not connected.
void AgentProcessTest::getWithoutBackendReportsIt()
{
    QVERIFY(!m_fakeAgentDir.isEmpty());
    stopAgent();
    startAgent(m_fakeAgentDir,
               { { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"1000"_s },
                 { u"SEALRELAY_AGENT_BACKEND"_s, u"http://127.0.0.1:1"_s } });

    QProcess get;
    startGet(get, { u"db-replica"_s });
    QTRY_VERIFY_WITH_TIMEOUT(get.state() == QProcess::NotRunning, 20000);
    const QString err = QString::fromUtf8(get.readAllStandardError());
    QCOMPARE(get.exitCode(), 5);
    QVERIFY2(err.contains(u"not connected to the backend http://127.0.0.1:1"_s), qPrintable(err));
    stopAgent();
}

// The agent stops while `get` waits for a credential it requested: `get`
// reports at once that the agent closed its socket, as unavailable (exit 4),
// instead of a timeout.
void AgentProcessTest::getWhenAgentStopsReportsIt()
{
    QVERIFY(!m_fakeAgentDir.isEmpty());
    stopAgent();
    startAgent(m_fakeAgentDir,
               { { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"15000"_s },
                 { u"SEALRELAY_AGENT_BACKEND"_s, u"http://127.0.0.1:1"_s } });

    QProcess get;
    startGet(get, { u"db-replica"_s });
    // The request reaches the agent, which waits for the credential.
    QTest::qWait(1000);
    QCOMPARE(get.state(), QProcess::Running);
    QElapsedTimer sinceStop;
    sinceStop.start();
    stopAgent();
    QTRY_VERIFY_WITH_TIMEOUT(get.state() == QProcess::NotRunning, 10000);
    const QString err = QString::fromUtf8(get.readAllStandardError());
    QCOMPARE(get.exitCode(), 4);
    QVERIFY2(err.contains(u"the agent closed"_s), qPrintable(err));
    QVERIFY2(err.contains(u"before it replied"_s), qPrintable(err));
    QVERIFY2(sinceStop.elapsed() < 10000, qPrintable(QString::number(sinceStop.elapsed())));
}

void AgentProcessTest::untrustedCertificateRejected()
{
    QVERIFY(m_fake);
    m_fake->rogueSigner = m_testOrg.rogueKey;
    const qsizetype registered = m_fake->registerModes.size();
    const int connections = m_fake->connections;
    startAgent(m_fakeAgentDir);

    // The agent closes after the rejected certificate and dials again.
    QTRY_VERIFY_WITH_TIMEOUT(m_fake->connections >= connections + 2, 10000);
    QCOMPARE(m_fake->registerModes.size(), registered);
    m_fake->rogueSigner.reset();
}

void AgentProcessTest::foreignOriginRejected()
{
    QVERIFY(m_fake);
    const QString foreign = u"https://other-backend.example:8443"_s;
    const QString dialled = u"http://127.0.0.1:%1"_s.arg(m_fake->port());
    m_fake->foreignOrigin = foreign;
    const qsizetype registered = m_fake->registerModes.size();
    startAgent(m_fakeAgentDir);

    // The agent closes each such connection with 1008 and dials again.
    QTRY_VERIFY_WITH_TIMEOUT(m_fake->foreignCloseCodes.size() >= 2, 10000);
    m_fake->foreignOrigin.reset();
    stopAgent();
    QCOMPARE(m_fake->foreignCloseCodes.at(0), int(QWebSocketProtocol::CloseCodePolicyViolated));
    QCOMPARE(m_fake->foreignCloseCodes.at(1), int(QWebSocketProtocol::CloseCodePolicyViolated));

    // Neither the hello nor the welcome behind it got a reply or a register.
    QVERIFY2(m_fake->foreignReplies.isEmpty(), qPrintable(m_fake->foreignReplies.join(u' ')));
    QCOMPARE(m_fake->registerModes.size(), registered);

    const ProcessResult audit = runAgentCommand({u"audit"_s, u"--data-dir"_s, m_fakeAgentDir});
    QCOMPARE(audit.exitCode, 0);
    qsizetype rejected = 0;
    for (const QString &line : audit.out.split(u'\n')) {
        if (line.contains(u" critical hello_rejected "_s) && line.contains(foreign)
            && line.contains(dialled))
            ++rejected;
    }
    QVERIFY2(rejected >= 2, qPrintable(audit.out));
    QVERIFY2(audit.out.contains(u"chain: intact"_s), qPrintable(audit.out));
}

void AgentProcessTest::auditVerifiesChain()
{
    QVERIFY(!m_fakeAgentDir.isEmpty());
    const ProcessResult audit = runAgentCommand({u"audit"_s, u"--data-dir"_s, m_fakeAgentDir});
    QCOMPARE(audit.exitCode, 0);
    QVERIFY2(audit.out.contains(u"chain: intact"_s), qPrintable(audit.out));
    QVERIFY2(audit.out.contains(u"credential_stored"_s), qPrintable(audit.out));
    QVERIFY(!audit.out.contains(u"pw-1"_s));
}

QString AgentProcessTest::initAgentAt(BackendProcess &backend, const QString &name,
                                      const QString &backendUrl)
{
    const BackendReply token =
        backend.request("POST", u"/api/agents/enrolment-tokens"_s,
                        QJsonObject{{u"agent_name"_s, name}, {u"ttl_seconds"_s, 3600}});
    if (token.status != 201) {
        qWarning("enrolment token for %s failed: HTTP %d %s", qPrintable(name), token.status,
                 qPrintable(token.json.value(u"error"_s).toString()));
        return {};
    }
    return initAgent(name, backendUrl, token.json.value(u"token"_s).toString(), m_tlsTrustedFile);
}

void AgentProcessTest::runHelpListsCaFile()
{
    const ProcessResult help = runAgentCommand({u"run"_s, u"--help"_s});
    QCOMPARE(help.exitCode, 0);
    // QCommandLineParser wraps long descriptions, so whitespace is collapsed.
    const QString text = help.out.simplified();
    QVERIFY2(text.contains(u"--backend-ca-file <CA_FILE>"_s), qPrintable(help.out));
    QVERIFY2(text.contains(u"in addition to the system CA certificates"_s), qPrintable(help.out));
    QVERIFY2(text.contains(u"Default: none, only the system CA certificates."_s),
             qPrintable(help.out));
    QVERIFY2(text.contains(u"[connection] ca_file (SEALRELAY_CONNECTION_CA_FILE)"_s),
             qPrintable(help.out));
}

// A CA file that is missing or contains no PEM certificate stops `run`
// before it dials.
void AgentProcessTest::caFileInvalidRejected()
{
    QVERIFY(!m_agentDir.isEmpty());
    const QString missing = m_dir.filePath(u"no-such-ca.pem"_s);
    const ProcessResult absent = runAgentCommand(
        {u"run"_s, u"--data-dir"_s, m_agentDir, u"--backend-ca-file"_s, missing});
    QCOMPARE(absent.exitCode, 1);
    QVERIFY2(absent.err.contains(missing), qPrintable(absent.err));
    QVERIFY2(absent.err.contains(u"--backend-ca-file"_s), qPrintable(absent.err));

    const QString notPem = m_dir.filePath(u"not-a-ca.pem"_s);
    writeFile(notPem, "not a certificate\n", QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    const ProcessResult garbage = runAgentCommand(
        {u"run"_s, u"--data-dir"_s, m_agentDir},
        agentEnvironment({{u"SEALRELAY_CONNECTION_CA_FILE"_s, notPem}}));
    QCOMPARE(garbage.exitCode, 2);
    QVERIFY2(garbage.err.contains(notPem), qPrintable(garbage.err));
    QVERIFY2(garbage.err.contains(u"contains no PEM certificate"_s), qPrintable(garbage.err));

    // With a plain http backend the agent runs and logs the CA file as unused.
    const QString pki = m_dir.filePath(u"pki-unused"_s);
    QVERIFY(QDir().mkpath(pki));
    const QString ca = createTestCa(pki);
    QVERIFY2(ca.isEmpty(), qPrintable(ca));
    const QString logFile = m_dir.filePath(u"ca-unused.log"_s);
    startAgent(m_agentDir, {{u"SEALRELAY_CONNECTION_CA_FILE"_s, QDir(pki).filePath(u"ca.pem"_s)},
                            {u"SEALRELAY_LOG_FILE"_s, logFile}});
    // The warning comes before the agent listens on its socket, and the
    // file is complete once the agent stopped.
    stopAgent();
    QVERIFY2(readText(logFile).contains(u"(--backend-ca-file) is not used"_s),
             qPrintable(readText(logFile)));
}

// The backend serves https and wss with a certificate for 127.0.0.1 that a
// private CA issued. The agent trusts that CA through
// SEALRELAY_CONNECTION_CA_FILE, enrols, is approved and registers.
void AgentProcessTest::wssEnrolWithCaFile()
{
    m_pkiDir = m_dir.filePath(u"pki"_s);
    QVERIFY(QDir().mkpath(m_pkiDir));
    m_tlsTrustedFile = QDir(m_pkiDir).filePath(u"trusted-operators"_s);
    writeFile(m_tlsTrustedFile, m_operatorKey->publicKey().rawBase64().toLatin1() + '\n',
              QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    const QString ca = createTestCa(m_pkiDir);
    QVERIFY2(ca.isEmpty(), qPrintable(ca));
    const QString issued =
        issueServerCertificate(m_pkiDir, u"server"_s, u"IP:127.0.0.1,DNS:localhost"_s);
    QVERIFY2(issued.isEmpty(), qPrintable(issued));
    const QString caFile = QDir(m_pkiDir).filePath(u"ca.pem"_s);
    QVERIFY(m_tlsBackend.useTls(caFile));
    const QString started = m_tlsBackend.start(m_dir.filePath(u"backend-tls"_s),
                                               tlsBackendEnvironment(m_pkiDir, u"server"_s));
    QVERIFY2(started.isEmpty(), qPrintable(started));
    QVERIFY(m_tlsBackend.baseUrl().startsWith(u"https://"_s));

    const QString backendUrl = u"https://127.0.0.1:%1"_s.arg(m_tlsBackend.port());
    const QString dataDir = initAgentAt(m_tlsBackend, u"edge-tls"_s, backendUrl);
    QVERIFY(!dataDir.isEmpty());
    const QString logFile = m_dir.filePath(u"edge-tls.log"_s);
    startAgent(dataDir, {{u"SEALRELAY_CONNECTION_CA_FILE"_s, caFile},
                         {u"SEALRELAY_LOG_FILE"_s, logFile}});

    QTRY_VERIFY_WITH_TIMEOUT(!statusField(dataDir, u"org_id"_s).isEmpty(), 20000);
    const BackendReply pending =
        m_tlsBackend.request("GET", u"/api/agents?status=pending_approval"_s);
    QCOMPARE(pending.status, 200);
    const QJsonArray agents = pending.json.value(u"agents"_s).toArray();
    QCOMPARE(agents.size(), 1);
    QCOMPARE(agents.at(0).toObject().value(u"name"_s).toString(), u"edge-tls"_s);

    approveAt(m_tlsBackend, dataDir, 1);
    QTRY_VERIFY_WITH_TIMEOUT(
        statusField(dataDir, u"last_registration"_s).startsWith(u"first_registration"_s), 20000);
    QCOMPARE(statusField(dataDir, u"certificate_generation"_s), u"1"_s);
    QCOMPARE(statusField(dataDir, u"backend"_s), backendUrl);
    const BackendReply approved = m_tlsBackend.request("GET", u"/api/agents?status=approved"_s);
    QCOMPARE(approved.json.value(u"agents"_s).toArray().size(), 1);

    stopAgent();
    const QString log = readText(logFile);
    QVERIFY2(log.contains(u"connected to wss://127.0.0.1:%1/agent"_s.arg(m_tlsBackend.port())),
             qPrintable(log));
    QVERIFY2(!log.contains(u"TLS certificate"_s), qPrintable(log));
}

// Without the CA the agent rejects the backend's certificate at every dial,
// logs what to configure, backs off and dials again, and never enrols. The
// same agent enrols once the CA is trusted.
void AgentProcessTest::wssUntrustedCaRetries()
{
    QVERIFY(!m_pkiDir.isEmpty());
    const quint16 port = m_tlsBackend.port();
    const QString dataDir = initAgentAt(m_tlsBackend, u"edge-untrusted"_s,
                                        u"https://127.0.0.1:%1"_s.arg(port));
    QVERIFY(!dataDir.isEmpty());
    const QString logFile = m_dir.filePath(u"edge-untrusted.log"_s);
    const QString rejected = u"TLS certificate of wss://127.0.0.1:%1/agent rejected"_s.arg(port);
    startAgent(dataDir, {{u"SEALRELAY_LOG_FILE"_s, logFile}});

    QTRY_VERIFY_WITH_TIMEOUT(readText(logFile).count(rejected) >= 3, 15000);
    stopAgent();
    const QString log = readText(logFile);
    QVERIFY2(log.contains(u"No trusted CA issued the backend's certificate"_s), qPrintable(log));
    QVERIFY2(log.contains(u"--backend-ca-file"_s), qPrintable(log));
    QVERIFY2(log.contains(u"SEALRELAY_CONNECTION_CA_FILE"_s), qPrintable(log));
    QVERIFY2(log.count(u"reconnecting to wss://127.0.0.1:%1/agent"_s.arg(port)) >= 3,
             qPrintable(log));
    QVERIFY2(!log.contains(u"connected to wss://"_s), qPrintable(log));
    // A rejected handshake is reported once, as the TLS error, and not
    // again as a disconnect with close code 1000.
    QVERIFY2(!log.contains(u"disconnected from"_s), qPrintable(log));

    // The enrolment token was never sent, and the backend has no such agent.
    QCOMPARE(statusField(dataDir, u"org_id"_s), QString());
    QVERIFY(QFileInfo::exists(QDir(dataDir).filePath(u"enrolment-token"_s)));
    const BackendReply pending =
        m_tlsBackend.request("GET", u"/api/agents?status=pending_approval"_s);
    QCOMPARE(pending.status, 200);
    QCOMPARE(pending.json.value(u"agents"_s).toArray().size(), 0);

    startAgent(dataDir, {{u"SEALRELAY_CONNECTION_CA_FILE"_s,
                          QDir(m_pkiDir).filePath(u"ca.pem"_s)}});
    QTRY_VERIFY_WITH_TIMEOUT(!statusField(dataDir, u"org_id"_s).isEmpty(), 20000);
}

// A CA file that lists only another CA gives no trust in the backend's
// certificate, and the logged error names the CA file as lacking the issuer.
void AgentProcessTest::wssWrongCaFileRejected()
{
    QVERIFY(!m_pkiDir.isEmpty());
    const QString otherCaDir = QDir(m_pkiDir).filePath(u"other-ca"_s);
    QVERIFY(QDir().mkpath(otherCaDir));
    const QString ca = createTestCa(otherCaDir);
    QVERIFY2(ca.isEmpty(), qPrintable(ca));

    const quint16 port = m_tlsBackend.port();
    const QString dataDir = initAgentAt(m_tlsBackend, u"edge-wrong-ca"_s,
                                        u"https://127.0.0.1:%1"_s.arg(port));
    QVERIFY(!dataDir.isEmpty());
    const QString logFile = m_dir.filePath(u"edge-wrong-ca.log"_s);
    const QString rejected = u"TLS certificate of wss://127.0.0.1:%1/agent rejected"_s.arg(port);
    startAgent(dataDir, {{u"SEALRELAY_CONNECTION_CA_FILE"_s,
                          QDir(otherCaDir).filePath(u"ca.pem"_s)},
                         {u"SEALRELAY_LOG_FILE"_s, logFile}});

    QTRY_VERIFY_WITH_TIMEOUT(readText(logFile).count(rejected) >= 2, 15000);
    stopAgent();
    const QString log = readText(logFile);
    QVERIFY2(log.contains(u"None of the CA certificates of --backend-ca-file issued"_s),
             qPrintable(log));
    QVERIFY2(!log.contains(u"connected to wss://"_s), qPrintable(log));
    QCOMPARE(statusField(dataDir, u"org_id"_s), QString());
}

// A certificate from the trusted CA that names only other.example is
// rejected for a backend dialled as 127.0.0.1.
void AgentProcessTest::wssOtherHostNameRejected()
{
    QVERIFY(!m_pkiDir.isEmpty());
    const QString issued = issueServerCertificate(m_pkiDir, u"other"_s, u"DNS:other.example"_s);
    QVERIFY2(issued.isEmpty(), qPrintable(issued));
    const QString caFile = QDir(m_pkiDir).filePath(u"ca.pem"_s);
    BackendProcess other;
    QVERIFY(other.useTls(caFile, u"other.example"_s));
    const QString started = other.start(m_dir.filePath(u"backend-other-name"_s),
                                        tlsBackendEnvironment(m_pkiDir, u"other"_s));
    QVERIFY2(started.isEmpty(), qPrintable(started));

    const QString dataDir = initAgentAt(other, u"edge-other-name"_s,
                                        u"https://127.0.0.1:%1"_s.arg(other.port()));
    QVERIFY(!dataDir.isEmpty());
    const QString logFile = m_dir.filePath(u"edge-other-name.log"_s);
    const QString rejected =
        u"TLS certificate of wss://127.0.0.1:%1/agent rejected"_s.arg(other.port());
    startAgent(dataDir, {{u"SEALRELAY_CONNECTION_CA_FILE"_s, caFile},
                         {u"SEALRELAY_LOG_FILE"_s, logFile}});

    QTRY_VERIFY_WITH_TIMEOUT(readText(logFile).count(rejected) >= 2, 15000);
    stopAgent();
    const QString log = readText(logFile);
    QVERIFY2(log.contains(u"The certificate is not issued for 127.0.0.1"_s), qPrintable(log));
    QVERIFY2(!log.contains(u"No trusted CA"_s), qPrintable(log));
    QVERIFY2(!log.contains(u"connected to wss://"_s), qPrintable(log));
    QCOMPARE(statusField(dataDir, u"org_id"_s), QString());
    const BackendReply pending = other.request("GET", u"/api/agents?status=pending_approval"_s);
    QCOMPARE(pending.status, 200);
    QCOMPARE(pending.json.value(u"agents"_s).toArray().size(), 0);
}

// A second agent initialised with a token the first one used gets an error
// reply to its enrol. It logs what the operator must do and exits with 1
// instead of dialling again, so the backend raises its alert once.
void AgentProcessTest::reusedTokenStopsAgent()
{
    const QString name = u"edge-reuse"_s;
    const BackendReply token =
        m_backend.request("POST", u"/api/agents/enrolment-tokens"_s,
                          QJsonObject { { u"agent_name"_s, name }, { u"ttl_seconds"_s, 3600 } });
    QCOMPARE(token.status, 201);
    const QString tokenText = token.json.value(u"token"_s).toString();
    const QString first = initAgent(name, m_backend.baseUrl(), tokenText, m_trustedFile);
    QVERIFY(!first.isEmpty());
    startAgent(first);
    QTRY_VERIFY_WITH_TIMEOUT(!statusField(first, u"org_id"_s).isEmpty(), 20000);
    stopAgent();

    const QString second = m_dir.filePath(u"edge-reuse-2"_s);
    const ProcessResult init = runAgentCommand(
        { u"init"_s, u"--data-dir"_s, second, u"--backend"_s, m_backend.baseUrl(),
          u"--enrolment-token"_s, tokenText, u"--trusted-operators"_s, m_trustedFile, u"--name"_s,
          name, u"--vault-key-file"_s, m_dir.filePath(u"edge-reuse-2.key"_s) });
    QCOMPARE(init.exitCode, 0);
    const ProcessResult run =
        runAgentCommand({ u"run"_s, u"--data-dir"_s, second },
                        agentEnvironment({ { u"SEALRELAY_LOG_LEVEL"_s, u"info"_s } }));
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(u"the backend rejected the enrolment of agent"_s),
             qPrintable(run.err));
    QVERIFY2(run.err.contains(u"already used"_s), qPrintable(run.err));
    QVERIFY2(run.err.contains(u"sealrelayctl enrolment-token create --agent-name edge-reuse"_s),
             qPrintable(run.err));
    QVERIFY2(!run.err.contains(u"reconnecting"_s), qPrintable(run.err));
    QCOMPARE(statusField(second, u"org_id"_s), QString());

    const BackendReply alerts = m_backend.request("GET", u"/api/alerts"_s);
    QCOMPARE(alerts.status, 200);
    qint64 reuses = 0;
    for (const QJsonValue &alert : alerts.json.value(u"alerts"_s).toArray()) {
        if (alert.toObject().value(u"type"_s).toString() == u"enrolment_token_reused"_s)
            reuses += alert.toObject().value(u"count"_s).toInteger();
    }
    QCOMPARE(reuses, 1);
}

QTEST_MAIN(AgentProcessTest)
#include "tst_agentprocess.moc"
