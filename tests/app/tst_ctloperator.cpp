// Runs sealrelayctl's operator commands as an operator would, against a real
// sealrelay-backend and real sealrelay-agent processes on 127.0.0.1: operator
// key file, login, enrolment and approval, and credential uploads that the
// agents must then return. The slots run in order and share one cluster.
#include "backendprocess.h"
#include "base64.h"
#include "keychainsession.h"
#include "keys.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <functional>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace {

const QString kCtlPath = QStringLiteral(SEALRELAYCTL_PATH);
const QString kAgentPath = QStringLiteral(SEALRELAY_BINARY_DIR "/agent/sealrelay-agent");
const QString kProfile = u"ops"_s;
const QByteArray kPassphrase = "correct horse battery staple";
const QString kFirstSecret = u"first-S3cret-value-93f1"_s;
const QString kSecondSecret = u"second-S3cret-value-5c07"_s;

struct RunResult {
    int exitCode = -1; // -1 when the process crashed or did not finish in time
    QByteArray out;
    QByteArray err;
};

bool pollUntil(const std::function<bool()> &condition, int timeoutMs)
{
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < timeoutMs) {
        if (condition())
            return true;
        QTest::qWait(200);
    }
    return condition();
}

QJsonObject parseObject(const QByteArray &bytes)
{
    return QJsonDocument::fromJson(bytes).object();
}

// Runs `program` in a new session without a controlling terminal, so a
// prompt fails at once instead of waiting for someone to type.
RunResult runProgram(const QString &program, const QStringList &arguments,
                     const QProcessEnvironment &environment, const QByteArray &input = {})
{
    QProcess process;
    process.setProcessEnvironment(environment);
    process.setChildProcessModifier([] { ::setsid(); });
    process.start(program, arguments);
    if (!process.waitForStarted())
        return {};
    process.write(input);
    process.closeWriteChannel();
    if (!process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished();
        return { -1, process.readAllStandardOutput(), process.readAllStandardError() };
    }
    return { process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
             process.readAllStandardOutput(), process.readAllStandardError() };
}

QByteArray readWholeFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// Child side of keychainOperatorAndLogin(), inside a D-Bus session with an
// unlocked gnome-keyring: `folder` contains the files backend-url and token.
// The operator key and the token go to the keychain, so no file contains them.
int runKeychainCase(const sealrelay::test::KeychainCase &keychainCase)
{
    const sealrelay::test::KeychainCaseReporter reporter;
    if (keychainCase.mode != u"ctl-keychain"_s)
        return reporter.failed(u"unknown case "_s + keychainCase.mode);
    const QDir folder(keychainCase.argument);
    const QString backendUrl = QString::fromUtf8(readWholeFile(folder.filePath(u"backend-url"_s)));
    const QByteArray token = readWholeFile(folder.filePath(u"token"_s));
    const QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();

    const RunResult init =
        runProgram(kCtlPath, { u"operator"_s, u"init"_s, u"--profile"_s, u"kc"_s }, environment);
    if (init.exitCode != 0)
        return reporter.failed(u"operator init: "_s + QString::fromUtf8(init.err));
    const RunResult show = runProgram(
        kCtlPath, { u"operator"_s, u"show"_s, u"--profile"_s, u"kc"_s, u"--json"_s }, environment);
    if (parseObject(show.out).value(u"location"_s).toString()
        != u"OS keychain entry "
           "operator-key:kc (service "
           "\"sealrelay\")"_s)
        return reporter.failed(u"operator show: "_s + QString::fromUtf8(show.out + show.err));

    const RunResult login = runProgram(
        kCtlPath, { u"login"_s, u"--backend"_s, backendUrl, u"--profile"_s, u"kc"_s, u"--json"_s },
        environment, token + '\n');
    if (login.exitCode != 0)
        return reporter.failed(u"login: "_s + QString::fromUtf8(login.err));
    if (!parseObject(login.out).value(u"token_file"_s).isNull())
        return reporter.failed(u"login wrote a token file: "_s + QString::fromUtf8(login.out));

    const RunResult status =
        runProgram(kCtlPath, { u"status"_s, u"--profile"_s, u"kc"_s, u"--json"_s }, environment);
    if (status.exitCode != 0 || !parseObject(status.out).value(u"healthy"_s).toBool())
        return reporter.failed(u"status with the keychain token: "_s
                               + QString::fromUtf8(status.out + status.err));
    return reporter.succeeded(u"operator key and token kept in the keychain"_s);
}

struct AgentHandle {
    QString name;
    QString dataDir;
    QString agentId;
    QString fingerprint; // 64 hex digits, as the agent printed it
    std::unique_ptr<QProcess> process;
};

} // namespace

class TestCtlOperator : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void helpListsBackendExitCode();
    void operatorInitWithKeyFile();
    void operatorShowPrintsLine();
    void operatorShowWrongPassphrase();
    void operatorTrustAndUntrust();
    void commandsNeedLogin();
    void loginRejectsBadToken();
    void loginStoresPrivateTokenFile();
    void loginWithCaFile();
    void enrolmentTokenCreate();
    void approveRejectsWrongFingerprint();
    void approveRejectsShortFingerprint();
    void approveWithPrefix();
    void agentListChecksCertificates();
    void createDeliversToAgents();
    void showVerifiesReceipts();
    void listShowsTrustedStatement();
    void retryResetsRows();
    void rotateDeliversNewValue();
    void scopeRemovesAgent();
    void deletePurgesSecret();
    void revokeAgent();
    void statusJson();
    void alertsAndAuditJson();
    void listLimitChecked_data();
    void listLimitChecked();
    void keychainOperatorAndLogin();

private:
    RunResult runCtl(const QStringList &arguments, const QByteArray &input = {}) const;
    RunResult runAgent(const QStringList &arguments) const;
    QProcessEnvironment agentEnvironment() const;
    // Enrols `name` with a token from `enrolment-token create` and starts it.
    bool enrolAgent(const QString &name);
    bool approveAgent(const QString &name);
    bool waitUntilRegistered(const QString &name);
    QString agentStatusField(const QString &name, const QString &key) const;
    // `sealrelay-agent get` of the credential on agent `name`.
    RunResult agentGet(const QString &name, const QString &credential) const;

    QTemporaryDir m_dir;
    QProcessEnvironment m_environment;
    BackendProcess m_backend;
    QString m_keyFile;
    QString m_passphraseFile;
    QString m_tokenFile;
    QString m_trustedOperatorsFile;
    QString m_orgId;
    QString m_credentialId;
    std::map<QString, AgentHandle> m_agents;
};

RunResult TestCtlOperator::runCtl(const QStringList &arguments, const QByteArray &input) const
{
    return runProgram(kCtlPath, arguments, m_environment, input);
}

QProcessEnvironment TestCtlOperator::agentEnvironment() const
{
    QProcessEnvironment environment = m_environment;
    environment.insert(u"SEALRELAY_CONNECTION_RECONNECT_MIN_MS"_s, u"100"_s);
    environment.insert(u"SEALRELAY_CONNECTION_RECONNECT_MAX_MS"_s, u"500"_s);
    environment.insert(u"SEALRELAY_CONNECTION_PING_INTERVAL_MS"_s, u"500"_s);
    environment.insert(u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s, u"3000"_s);
    environment.insert(u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"3000"_s);
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    return environment;
}

RunResult TestCtlOperator::runAgent(const QStringList &arguments) const
{
    QProcess process;
    process.setProcessEnvironment(agentEnvironment());
    process.start(kAgentPath, arguments);
    if (!process.waitForStarted() || !process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished();
        return {};
    }
    return { process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
             process.readAllStandardOutput(), process.readAllStandardError() };
}

QString TestCtlOperator::agentStatusField(const QString &name, const QString &key) const
{
    const RunResult status = runAgent({ u"status"_s, u"--data-dir"_s, m_agents.at(name).dataDir });
    const QString prefix = key + u": "_s;
    for (const QString &line : QString::fromUtf8(status.out).split(u'\n')) {
        if (line.startsWith(prefix))
            return line.mid(prefix.size()).trimmed();
    }
    return {};
}

RunResult TestCtlOperator::agentGet(const QString &name, const QString &credential) const
{
    return runAgent({ u"get"_s, u"--data-dir"_s, m_agents.at(name).dataDir, credential });
}

bool TestCtlOperator::enrolAgent(const QString &name)
{
    const RunResult created =
        runCtl({ u"enrolment-token"_s, u"create"_s, u"--agent-name"_s, name, u"--ttl"_s, u"600"_s,
                 u"--profile"_s, kProfile, u"--json"_s });
    const QString token = parseObject(created.out).value(u"token"_s).toString();
    if (created.exitCode != 0 || token.isEmpty()) {
        qWarning("creating an enrolment token for agent %s failed (exit %d): %s", qPrintable(name),
                 created.exitCode, created.err.constData());
        return false;
    }

    AgentHandle &agent = m_agents[name];
    agent.name = name;
    agent.dataDir = m_dir.filePath(u"agents/"_s + name);
    const RunResult init =
        runAgent({ u"init"_s, u"--data-dir"_s, agent.dataDir, u"--backend"_s, m_backend.baseUrl(),
                   u"--enrolment-token"_s, token, u"--trusted-operators"_s, m_trustedOperatorsFile,
                   u"--name"_s, name, u"--vault-key-file"_s,
                   m_dir.filePath(u"agents/"_s + name + u".key"_s) });
    if (init.exitCode != 0) {
        qWarning("sealrelay-agent init failed: %s", init.err.constData());
        return false;
    }
    agent.agentId = agentStatusField(name, u"agent_id"_s);
    const RunResult printed = runAgent({ u"fingerprint"_s, u"--data-dir"_s, agent.dataDir });
    agent.fingerprint = QString::fromUtf8(printed.out).remove(QRegularExpression(u"\\s"_s));
    if (agent.agentId.isEmpty() || agent.fingerprint.size() != 64) {
        qWarning("agent id or fingerprint missing: %s", printed.err.constData());
        return false;
    }

    agent.process = std::make_unique<QProcess>();
    agent.process->setProcessEnvironment(agentEnvironment());
    agent.process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    agent.process->start(kAgentPath, { u"run"_s, u"--data-dir"_s, agent.dataDir });
    if (!agent.process->waitForStarted())
        return false;
    // The agent enrols at start and then waits as pending_approval.
    return pollUntil(
        [&] {
            const BackendReply pending = m_backend.request("GET", u"/api/agents"_s);
            for (const QJsonValue &row : pending.json.value(u"agents"_s).toArray()) {
                if (row.toObject().value(u"agent_id"_s).toString() == agent.agentId)
                    return true;
            }
            return false;
        },
        20000);
}

bool TestCtlOperator::approveAgent(const QString &name)
{
    const RunResult approved = runCtl({ u"agent"_s, u"approve"_s, name, u"--fingerprint"_s,
                                        m_agents.at(name).fingerprint.left(16), u"--profile"_s,
                                        kProfile, u"--passphrase-file"_s, m_passphraseFile });
    if (approved.exitCode != 0)
        qWarning("agent approve %s failed: %s", qPrintable(name), approved.err.constData());
    return approved.exitCode == 0;
}

bool TestCtlOperator::waitUntilRegistered(const QString &name)
{
    return pollUntil(
        [&] {
            const QString registration = agentStatusField(name, u"last_registration"_s);
            return !registration.isEmpty() && !registration.startsWith(u"none"_s);
        },
        30000);
}

void TestCtlOperator::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(QFileInfo::exists(kAgentPath), qPrintable(kAgentPath));
    QDir().mkpath(m_dir.filePath(u"agents"_s));

    // Config and keychain state stay inside the temporary folder.
    m_environment = QProcessEnvironment::systemEnvironment();
    m_environment.insert(u"XDG_CONFIG_HOME"_s, m_dir.filePath(u"config"_s));
    m_environment.insert(u"XDG_STATE_HOME"_s, m_dir.filePath(u"state"_s));
    m_environment.remove(u"SEALRELAY_OPERATOR_PASSPHRASE"_s);
    m_environment.remove(u"SEALRELAY_PROFILE"_s);

    m_keyFile = m_dir.filePath(u"operator.key"_s);
    m_tokenFile = m_dir.filePath(u"secrets/token"_s);
    m_trustedOperatorsFile = m_dir.filePath(u"agent-trusted-operators"_s);
    m_passphraseFile = m_dir.filePath(u"passphrase"_s);
    QFile passphrase(m_passphraseFile);
    QVERIFY(passphrase.open(QIODevice::WriteOnly));
    passphrase.write(kPassphrase + '\n');
    passphrase.close();

    QProcessEnvironment backendSettings;
    backendSettings.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    backendSettings.insert(u"SEALRELAY_AGENT_PING_INTERVAL_MS"_s, u"500"_s);
    backendSettings.insert(u"SEALRELAY_AGENT_SILENCE_TIMEOUT_MS"_s, u"3000"_s);
    backendSettings.insert(u"SEALRELAY_RECONCILER_INTERVAL_MS"_s, u"1000"_s);
    backendSettings.insert(u"SEALRELAY_RECONCILER_BACKOFF_SCHEDULE_MS"_s, u"500,1000,2000"_s);
    backendSettings.insert(u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"3000"_s);
    const QString started = m_backend.start(m_dir.filePath(u"backend"_s), backendSettings);
    QVERIFY2(started.isEmpty(), qPrintable(started));
    m_orgId = m_backend.request("GET", u"/api/audit/verify"_s).json.value(u"org_id"_s).toString();
    QVERIFY(!m_orgId.isEmpty());
}

void TestCtlOperator::cleanupTestCase()
{
    for (auto &[name, agent] : m_agents) {
        if (agent.process && agent.process->state() != QProcess::NotRunning) {
            agent.process->terminate();
            if (!agent.process->waitForFinished(10000))
                agent.process->kill();
        }
    }
    m_backend.stop();
}

void TestCtlOperator::helpListsBackendExitCode()
{
    const RunResult help = runCtl({ u"credential"_s, u"create"_s, u"--help"_s });
    QCOMPARE(help.exitCode, 0);
    QVERIFY(help.out.contains("3  the backend rejected"));
    QVERIFY(help.out.contains("never taken from an argument"));

    // A command group lists its own commands.
    const RunResult group = runCtl({ u"alerts"_s, u"--help"_s });
    QVERIFY2(group.exitCode == 0, group.err.constData());
    QVERIFY2(group.out.contains("alerts list") && group.out.contains("alerts ack"),
             group.out.constData());
    QVERIFY2(!group.out.contains("credential create"), group.out.constData());
}

void TestCtlOperator::operatorInitWithKeyFile()
{
    const RunResult init =
        runCtl({ u"operator"_s, u"init"_s, u"--key-file"_s, m_keyFile, u"--passphrase-file"_s,
                 m_passphraseFile, u"--profile"_s, kProfile });
    QVERIFY2(init.exitCode == 0, init.err.constData());
    QVERIFY(QFileInfo::exists(m_keyFile));
    QCOMPARE(QFileInfo(m_keyFile).permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther),
             QFileDevice::Permissions());
    QFile keyFile(m_keyFile);
    QVERIFY(keyFile.open(QIODevice::ReadOnly));
    QVERIFY(!keyFile.readAll().contains(kPassphrase));
    QVERIFY(!init.out.contains(kPassphrase));
    QVERIFY(init.out.contains("Trusted-operators line"));
}

void TestCtlOperator::operatorShowPrintsLine()
{
    // The profile remembers the key file, so --key-file is not repeated.
    const RunResult show = runCtl({ u"operator"_s, u"show"_s, u"--passphrase-file"_s,
                                    m_passphraseFile, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(show.exitCode == 0, show.err.constData());
    const QJsonObject json = parseObject(show.out);
    const QString line = json.value(u"trusted_operators_line"_s).toString();
    const sealrelay::Result<QByteArray> raw = sealrelay::decodeBase64(line, u"line");
    QVERIFY(raw.ok());
    QCOMPARE(raw.value().size(), 32);
    QCOMPARE(json.value(u"fingerprint"_s).toString().size(), 64);

    const RunResult text =
        runCtl({ u"operator"_s, u"show"_s, u"--profile"_s, kProfile }, QByteArray());
    // Without a terminal or a passphrase source the key file cannot be opened.
    QCOMPARE(text.exitCode, 2);
    QVERIFY(text.err.contains("passphrase-file"));

    // The agents trust exactly the line the command printed.
    QFile trusted(m_trustedOperatorsFile);
    QVERIFY(trusted.open(QIODevice::WriteOnly));
    trusted.write(line.toLatin1() + '\n');
    trusted.close();
    trusted.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

void TestCtlOperator::operatorShowWrongPassphrase()
{
    QProcessEnvironment saved = m_environment;
    m_environment.insert(u"SEALRELAY_OPERATOR_PASSPHRASE"_s, u"wrong passphrase"_s);
    const RunResult show = runCtl({ u"operator"_s, u"show"_s, u"--profile"_s, kProfile });
    m_environment = saved;
    QCOMPARE(show.exitCode, 1);
    QVERIFY(show.err.contains("DECRYPT_FAILED"));
}

void TestCtlOperator::operatorTrustAndUntrust()
{
    const sealrelay::Result<sealrelay::Ed25519PrivateKey> colleague =
        sealrelay::Ed25519PrivateKey::generate();
    QVERIFY(colleague.ok());
    const QString other = colleague.value().publicKey().rawBase64();
    const RunResult trust = runCtl({ u"operator"_s, u"trust"_s, other, u"--profile"_s, kProfile });
    QVERIFY2(trust.exitCode == 0, trust.err.constData());
    const RunResult listed =
        runCtl({ u"operator"_s, u"list"_s, u"--profile"_s, kProfile, u"--json"_s });
    QCOMPARE(parseObject(listed.out).value(u"operators"_s).toArray().size(), 2);

    const RunResult untrust =
        runCtl({ u"operator"_s, u"untrust"_s, other, u"--profile"_s, kProfile });
    QVERIFY2(untrust.exitCode == 0, untrust.err.constData());
    const RunResult after =
        runCtl({ u"operator"_s, u"list"_s, u"--profile"_s, kProfile, u"--json"_s });
    QCOMPARE(parseObject(after.out).value(u"operators"_s).toArray().size(), 1);

    const RunResult invalid =
        runCtl({ u"operator"_s, u"trust"_s, u"not-a-key"_s, u"--profile"_s, kProfile });
    QCOMPARE(invalid.exitCode, 2);
    QVERIFY(invalid.err.contains("not-a-key"));
}

void TestCtlOperator::commandsNeedLogin()
{
    const RunResult list = runCtl({ u"agent"_s, u"list"_s, u"--profile"_s, kProfile });
    QCOMPARE(list.exitCode, 2);
    QVERIFY(list.err.contains("sealrelayctl login"));
}

void TestCtlOperator::loginRejectsBadToken()
{
    const RunResult login =
        runCtl({ u"login"_s, u"--backend"_s, m_backend.baseUrl(), u"--token-file"_s,
                 m_dir.filePath(u"bad-token"_s), u"--profile"_s, u"bad"_s },
               "srt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    QCOMPARE(login.exitCode, 3);
    QVERIFY(login.err.contains("401"));
    QVERIFY(!QFileInfo::exists(m_dir.filePath(u"bad-token"_s)));
}

void TestCtlOperator::loginStoresPrivateTokenFile()
{
    const QByteArray token = m_backend.adminToken().toLatin1();
    const RunResult login =
        runCtl({ u"login"_s, u"--backend"_s, m_backend.baseUrl(), u"--token-file"_s, m_tokenFile,
                 u"--profile"_s, kProfile, u"--json"_s },
               token + '\n');
    QVERIFY2(login.exitCode == 0, login.err.constData());
    QVERIFY(!login.out.contains(token));
    QCOMPARE(parseObject(login.out).value(u"org_id"_s).toString(), m_orgId);

    QFile file(m_tokenFile);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll().trimmed(), token);
    QCOMPARE(file.permissions()
                 & ~(QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadUser
                     | QFileDevice::WriteUser),
             QFileDevice::Permissions());

    const QString profilePath = m_dir.filePath(u"config/sealrelay/profile-ops.json"_s);
    QFile profile(profilePath);
    QVERIFY(profile.open(QIODevice::ReadOnly));
    const QByteArray profileBytes = profile.readAll();
    QVERIFY(!profileBytes.contains(token));
    QCOMPARE(parseObject(profileBytes).value(u"org_id"_s).toString(), m_orgId);
}

// A backend whose certificate a private CA issued: login fails with a hint
// until --ca-file names that CA, and later commands use the CA the profile
// keeps.
void TestCtlOperator::loginWithCaFile()
{
    const QString pki = m_dir.filePath(u"pki"_s);
    BackendProcess tlsBackend;
    const QString started = tlsBackend.startWithTestPki(m_dir.filePath(u"backend-tls"_s), pki);
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const QString caFile = QDir(pki).filePath(u"ca.pem"_s);
    const QByteArray token = tlsBackend.adminToken().toLatin1() + '\n';
    const QString tokenFile = m_dir.filePath(u"secrets/tls-token"_s);
    const QStringList login { u"login"_s,        u"--backend"_s, tlsBackend.baseUrl(),
                              u"--token-file"_s, tokenFile,      u"--profile"_s,
                              u"tls"_s };

    const RunResult untrusted = runCtl(login, token);
    QCOMPARE(untrusted.exitCode, 3);
    QVERIFY2(untrusted.err.contains("--ca-file"), untrusted.err.constData());

    const QString notPem = m_dir.filePath(u"not-a-ca.txt"_s);
    QFile notPemFile(notPem);
    QVERIFY(notPemFile.open(QIODevice::WriteOnly));
    notPemFile.write("not a certificate\n");
    notPemFile.close();
    const RunResult malformed = runCtl(login + QStringList { u"--ca-file"_s, notPem }, token);
    QCOMPARE(malformed.exitCode, 2);
    QVERIFY2(malformed.err.contains("contains no PEM certificate"), malformed.err.constData());

    const RunResult trusted = runCtl(login + QStringList { u"--ca-file"_s, caFile, u"--json"_s },
                                     token);
    QVERIFY2(trusted.exitCode == 0, trusted.err.constData());
    QCOMPARE(parseObject(trusted.out).value(u"ca_file"_s).toString(), caFile);

    // The profile's CA serves every later command, the unauthenticated
    // health checks of status and the backend commands included.
    const RunResult status = runCtl({ u"status"_s, u"--profile"_s, u"tls"_s, u"--json"_s });
    QVERIFY2(status.exitCode == 0, status.err.constData());
    const QJsonObject statusJson = parseObject(status.out);
    QCOMPARE(statusJson.value(u"healthy"_s).toBool(), true);
    QCOMPARE(statusJson.value(u"ready"_s).toBool(), true);
    const RunResult verify = runCtl({ u"audit"_s, u"verify"_s, u"--profile"_s, u"tls"_s });
    QVERIFY2(verify.exitCode == 0, verify.err.constData());
    tlsBackend.stop();
}

void TestCtlOperator::enrolmentTokenCreate()
{
    const RunResult text = runCtl({ u"enrolment-token"_s, u"create"_s, u"--agent-name"_s,
                                    u"unused"_s, u"--profile"_s, kProfile });
    QVERIFY2(text.exitCode == 0, text.err.constData());
    QVERIFY(text.out.trimmed().split('\n').last().startsWith("sre_"));

    const RunResult badTtl = runCtl({ u"enrolment-token"_s, u"create"_s, u"--agent-name"_s,
                                      u"unused"_s, u"--ttl"_s, u"0"_s, u"--profile"_s, kProfile });
    QCOMPARE(badTtl.exitCode, 2);
    QVERIFY(badTtl.err.contains("--ttl"));

    QVERIFY(enrolAgent(u"edge-1"_s));
    QVERIFY(enrolAgent(u"edge-2"_s));
}

void TestCtlOperator::approveRejectsWrongFingerprint()
{
    const QString right = m_agents.at(u"edge-1"_s).fingerprint;
    // Flip the first digit, so the typed digits are no prefix of the fingerprint.
    QString wrong = right.left(16);
    wrong[0] = wrong.at(0) == u'0' ? u'1' : u'0';
    const RunResult approve =
        runCtl({ u"agent"_s, u"approve"_s, u"edge-1"_s, u"--fingerprint"_s, wrong, u"--profile"_s,
                 kProfile, u"--passphrase-file"_s, m_passphraseFile });
    QCOMPARE(approve.exitCode, 1);
    QVERIFY(approve.err.contains("does not match"));
    QVERIFY(approve.err.contains("Nothing was signed"));
    const BackendReply agents = m_backend.request("GET", u"/api/agents?status=approved"_s);
    QCOMPARE(agents.json.value(u"agents"_s).toArray().size(), 0);
}

void TestCtlOperator::approveRejectsShortFingerprint()
{
    const RunResult approve =
        runCtl({ u"agent"_s, u"approve"_s, u"edge-1"_s, u"--fingerprint"_s,
                 m_agents.at(u"edge-1"_s).fingerprint.left(15), u"--profile"_s, kProfile,
                 u"--passphrase-file"_s, m_passphraseFile });
    QCOMPARE(approve.exitCode, 2);
    QVERIFY(approve.err.contains("16"));
}

void TestCtlOperator::approveWithPrefix()
{
    QVERIFY(approveAgent(u"edge-1"_s));
    QVERIFY(approveAgent(u"edge-2"_s));
    QVERIFY(waitUntilRegistered(u"edge-1"_s));
    QVERIFY(waitUntilRegistered(u"edge-2"_s));

    // A second approval finds the agent no longer pending and signs nothing,
    // so agentListChecksCertificates() still finds generation 1 valid.
    const RunResult again = runCtl({ u"agent"_s, u"approve"_s, u"edge-1"_s, u"--fingerprint"_s,
                                     m_agents.at(u"edge-1"_s).fingerprint, u"--profile"_s, kProfile,
                                     u"--passphrase-file"_s, m_passphraseFile });
    QCOMPARE(again.exitCode, 2);
    QVERIFY(again.err.contains("not pending_approval"));
}

void TestCtlOperator::agentListChecksCertificates()
{
    const RunResult list = runCtl({ u"agent"_s, u"list"_s, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(list.exitCode == 0, list.err.constData());
    const QJsonArray agents = parseObject(list.out).value(u"agents"_s).toArray();
    QCOMPARE(agents.size(), 2);
    for (const QJsonValue &value : agents) {
        const QJsonObject agent = value.toObject();
        const QString name = agent.value(u"name"_s).toString();
        QCOMPARE(agent.value(u"status"_s).toString(), u"approved"_s);
        QCOMPARE(agent.value(u"certificate"_s).toString(), u"valid"_s);
        QCOMPARE(agent.value(u"fingerprint"_s).toString(), m_agents.at(name).fingerprint);
    }
}

void TestCtlOperator::createDeliversToAgents()
{
    const QByteArray secret = QJsonDocument(QJsonObject { { u"username"_s, u"admin"_s },
                                                          { u"password"_s, kFirstSecret } })
                                  .toJson(QJsonDocument::Compact);
    const QStringList arguments {
        u"credential"_s, u"create"_s, u"core-switch"_s,       u"--kind"_s,      u"password"_s,
        u"--profile"_s,  kProfile,    u"--passphrase-file"_s, m_passphraseFile, u"--json"_s
    };
    QVERIFY(!arguments.join(u' ').contains(kFirstSecret));
    const RunResult create = runCtl(arguments, secret);
    QVERIFY2(create.exitCode == 0, create.err.constData());
    QVERIFY(!create.out.contains(kFirstSecret.toUtf8()));
    QVERIFY(!create.err.contains(kFirstSecret.toUtf8()));

    const QJsonObject json = parseObject(create.out);
    m_credentialId = json.value(u"credential_id"_s).toString();
    QCOMPARE(m_credentialId.size(), 36);
    QCOMPARE(json.value(u"version"_s).toInteger(), 1);
    QCOMPARE(json.value(u"envelope_agent_ids"_s).toArray().size(), 2);

    for (const QString &name : { u"edge-1"_s, u"edge-2"_s }) {
        RunResult get;
        const bool delivered = pollUntil(
            [&] {
                get = agentGet(name, u"core-switch"_s);
                return get.exitCode == 0;
            },
            30000);
        QVERIFY2(delivered, get.err.constData());
        QVERIFY(get.out.contains(kFirstSecret.toUtf8()));
    }

    // The backend's audit trail does not contain the secret.
    const BackendReply audit = m_backend.request("GET", u"/api/audit?limit=500"_s);
    QCOMPARE(audit.status, 200);
    QVERIFY(!audit.body.contains(kFirstSecret.toUtf8()));
}

void TestCtlOperator::showVerifiesReceipts()
{
    QJsonArray agents;
    const bool verified = pollUntil(
        [&] {
            const RunResult show = runCtl({ u"credential"_s, u"show"_s, u"core-switch"_s,
                                            u"--profile"_s, kProfile, u"--json"_s });
            agents = parseObject(show.out).value(u"agents"_s).toArray();
            int count = 0;
            for (const QJsonValue &row : std::as_const(agents))
                count += row.toObject().value(u"receipt_check"_s).toString()
                    == u"verified: stored v1.1"_s;
            return count == 2;
        },
        20000);
    QVERIFY2(verified, QJsonDocument(agents).toJson().constData());
    QCOMPARE(agents.at(0).toObject().value(u"stored_version"_s).toInteger(), 1);
}

void TestCtlOperator::listShowsTrustedStatement()
{
    const RunResult list =
        runCtl({ u"credential"_s, u"list"_s, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(list.exitCode == 0, list.err.constData());
    const QJsonArray credentials = parseObject(list.out).value(u"credentials"_s).toArray();
    QCOMPARE(credentials.size(), 1);
    QCOMPARE(credentials.at(0).toObject().value(u"statement_check"_s).toString(), u"trusted"_s);

    const RunResult text = runCtl({ u"credential"_s, u"list"_s, u"--profile"_s, kProfile });
    // A header, then one line with the columns under it.
    const QList<QByteArray> lines = text.out.split('\n');
    QVERIFY2(lines.size() >= 2, text.out.constData());
    QVERIFY2(lines.at(0).startsWith("ID ") && lines.at(0).endsWith("  STATEMENT"),
             text.out.constData());
    QVERIFY(lines.at(1).contains("core-switch"));
    QVERIFY(lines.at(1).endsWith("  trusted"));
    QCOMPARE(lines.at(0).indexOf("NAME"), lines.at(1).indexOf("core-switch"));
    QVERIFY(text.out.contains("DELIVERED is the backend's count"));
}

void TestCtlOperator::retryResetsRows()
{
    // Both agents store the credential already.
    const RunResult retry =
        runCtl({ u"credential"_s, u"retry"_s, u"core-switch"_s, u"--profile"_s, kProfile });
    QVERIFY2(retry.exitCode == 0, retry.err.constData());
    QVERIFY2(retry.out.contains("nothing to retry") && retry.out.contains("(2 of 2)"),
             retry.out.constData());

    // The backend refuses a second retry within its retry window.
    const RunResult again = runCtl(
        { u"credential"_s, u"retry"_s, m_credentialId, u"--profile"_s, kProfile, u"--json"_s });
    QCOMPARE(again.exitCode, 3);
    QVERIFY2(again.err.contains("429") || again.err.contains("rate"), again.err.constData());

    const RunResult unknown =
        runCtl({ u"credential"_s, u"retry"_s, u"no-such-credential"_s, u"--profile"_s, kProfile });
    QCOMPARE(unknown.exitCode, 2);
}

void TestCtlOperator::rotateDeliversNewValue()
{
    const QByteArray secret = QJsonDocument(QJsonObject { { u"password"_s, kSecondSecret } })
                                  .toJson(QJsonDocument::Compact);
    const RunResult rotate =
        runCtl({ u"credential"_s, u"rotate"_s, m_credentialId, u"--profile"_s, kProfile,
                 u"--passphrase-file"_s, m_passphraseFile, u"--json"_s },
               secret);
    QVERIFY2(rotate.exitCode == 0, rotate.err.constData());
    QVERIFY(!rotate.out.contains(kSecondSecret.toUtf8()));
    QCOMPARE(parseObject(rotate.out).value(u"version"_s).toInteger(), 2);

    RunResult get;
    const bool rotated = pollUntil(
        [&] {
            get = agentGet(u"edge-2"_s, m_credentialId);
            return get.exitCode == 0 && get.out.contains(kSecondSecret.toUtf8());
        },
        30000);
    QVERIFY2(rotated, get.err.constData());

    const RunResult empty = runCtl({ u"credential"_s, u"rotate"_s, m_credentialId, u"--profile"_s,
                                     kProfile, u"--passphrase-file"_s, m_passphraseFile },
                                   "");
    QCOMPARE(empty.exitCode, 2);
    QVERIFY(empty.err.contains("empty"));
}

void TestCtlOperator::scopeRemovesAgent()
{
    const RunResult none = runCtl({ u"credential"_s, u"scope"_s, m_credentialId, u"--profile"_s,
                                    kProfile, u"--passphrase-file"_s, m_passphraseFile });
    QCOMPARE(none.exitCode, 2);

    const RunResult scope =
        runCtl({ u"credential"_s, u"scope"_s, m_credentialId, u"--agents"_s, u"edge-1"_s,
                 u"--profile"_s, kProfile, u"--passphrase-file"_s, m_passphraseFile, u"--json"_s });
    QVERIFY2(scope.exitCode == 0, scope.err.constData());
    QCOMPARE(parseObject(scope.out).value(u"revision"_s).toInteger(), 2);

    const bool purged =
        pollUntil([&] { return agentGet(u"edge-2"_s, m_credentialId).exitCode != 0; }, 30000);
    QVERIFY(purged);
    const RunResult kept = agentGet(u"edge-1"_s, m_credentialId);
    QCOMPARE(kept.exitCode, 0);
    QVERIFY(kept.out.contains(kSecondSecret.toUtf8()));
}

void TestCtlOperator::deletePurgesSecret()
{
    const RunResult removed =
        runCtl({ u"credential"_s, u"delete"_s, u"core-switch"_s, u"--profile"_s, kProfile,
                 u"--passphrase-file"_s, m_passphraseFile });
    QVERIFY2(removed.exitCode == 0, removed.err.constData());
    QVERIFY(removed.out.startsWith("deleted credential"));

    const bool purged =
        pollUntil([&] { return agentGet(u"edge-1"_s, m_credentialId).exitCode != 0; }, 30000);
    QVERIFY(purged);

    const RunResult list = runCtl({ u"credential"_s, u"list"_s, u"--include-deleted"_s,
                                    u"--profile"_s, kProfile, u"--json"_s });
    const QJsonArray credentials = parseObject(list.out).value(u"credentials"_s).toArray();
    QCOMPARE(credentials.size(), 1);
    QCOMPARE(credentials.at(0).toObject().value(u"state"_s).toString(), u"deleted"_s);
}

void TestCtlOperator::revokeAgent()
{
    const RunResult revoke =
        runCtl({ u"agent"_s, u"revoke"_s, u"edge-2"_s, u"--profile"_s, kProfile });
    QVERIFY2(revoke.exitCode == 0, revoke.err.constData());
    const RunResult list = runCtl({ u"agent"_s, u"list"_s, u"--status"_s, u"revoked"_s,
                                    u"--profile"_s, kProfile, u"--json"_s });
    const QJsonArray agents = parseObject(list.out).value(u"agents"_s).toArray();
    QCOMPARE(agents.size(), 1);
    QCOMPARE(agents.at(0).toObject().value(u"name"_s).toString(), u"edge-2"_s);

    const RunResult unknown =
        runCtl({ u"agent"_s, u"revoke"_s, u"edge-9"_s, u"--profile"_s, kProfile });
    QCOMPARE(unknown.exitCode, 2);
    QVERIFY(unknown.err.contains("edge-9"));
}

void TestCtlOperator::statusJson()
{
    const RunResult status = runCtl({ u"status"_s, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(status.exitCode == 0, status.err.constData());
    const QJsonObject json = parseObject(status.out);
    QCOMPARE(json.value(u"healthy"_s).toBool(), true);
    QCOMPARE(json.value(u"ready"_s).toBool(), true);
    QCOMPARE(json.value(u"agents"_s).toObject().value(u"revoked"_s).toInt(), 1);
    // The backend's /api/system/rewrap-coordination-status response, unchanged.
    QCOMPARE(json.value(u"rewrap_coordination"_s).toObject().value(u"coordination"_s).toString(),
             u"memory"_s);
    QVERIFY(json.value(u"credentials_synced"_s).isDouble());
    QVERIFY(json.value(u"credentials_synced"_s).toInt() <= json.value(u"credentials"_s).toInt());
    // Every approved agent is counted once by its connection.
    const QJsonObject connections = json.value(u"approved_agents_by_connection"_s).toObject();
    int approvedConnections = 0;
    for (const QString &connection : connections.keys()) {
        QVERIFY2(QStringList({ u"online"_s, u"backfilling"_s, u"offline"_s }).contains(connection),
                 qPrintable(connection));
        approvedConnections += connections.value(connection).toInt();
    }
    const int approved = json.value(u"agents"_s).toObject().value(u"approved"_s).toInt();
    QVERIFY(approved > 0);
    QCOMPARE(approvedConnections, approved);

    const RunResult text = runCtl({ u"status"_s, u"--profile"_s, kProfile });
    QVERIFY2(text.out.contains("stored by every agent in scope"), text.out.constData());
    QVERIFY2(text.out.contains(QStringLiteral("%1 approved (").arg(approved).toUtf8()),
             text.out.constData());
}

void TestCtlOperator::listLimitChecked_data()
{
    QTest::addColumn<QStringList>("command");
    QTest::addColumn<QString>("expected");
    QTest::newRow("audit limit not a number")
        << QStringList { u"audit"_s, u"list"_s, u"--limit"_s, u"abc"_s }
        << u"invalid --limit \"abc\": expected a whole number from 1 to 500"_s;
    QTest::newRow("audit limit too large")
        << QStringList { u"audit"_s, u"list"_s, u"--limit"_s, u"501"_s }
        << u"invalid --limit \"501\""_s;
    QTest::newRow("audit after-id negative")
        << QStringList { u"audit"_s, u"list"_s, u"--after-id"_s, u"-1"_s }
        << u"invalid --after-id \"-1\""_s;
    QTest::newRow("audit unknown event")
        << QStringList { u"audit"_s, u"list"_s, u"--event"_s, u"credential_peeked"_s }
        << u"invalid --event \"credential_peeked\": expected one of agent_approved, "_s;
    QTest::newRow("alerts limit zero")
        << QStringList { u"alerts"_s, u"list"_s, u"--limit"_s, u"0"_s }
        << u"invalid --limit \"0\": expected a whole number from 1 to 500"_s;
}

// An invalid --limit, --after-id or --event is a usage error before any request.
void TestCtlOperator::listLimitChecked()
{
    QFETCH(QStringList, command);
    QFETCH(QString, expected);
    const RunResult result = runCtl(command + QStringList { u"--profile"_s, kProfile });
    QCOMPARE(result.exitCode, 2);
    QVERIFY2(QString::fromUtf8(result.err).contains(expected), result.err.constData());
}

void TestCtlOperator::alertsAndAuditJson()
{
    const RunResult alerts =
        runCtl({ u"alerts"_s, u"list"_s, u"--open"_s, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(alerts.exitCode == 0, alerts.err.constData());
    QVERIFY(parseObject(alerts.out).value(u"alerts"_s).isArray());

    const RunResult ack = runCtl({ u"alerts"_s, u"ack"_s, u"00000000-0000-4000-8000-000000000000"_s,
                                   u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(ack.exitCode == 0, ack.err.constData());
    QCOMPARE(parseObject(ack.out).value(u"skipped"_s).toArray().size(), 1);

    const RunResult audit =
        runCtl({ u"audit"_s, u"list"_s, u"--event"_s, u"credential_created"_s, u"--credential"_s,
                 m_credentialId, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(audit.exitCode == 0, audit.err.constData());
    const QJsonArray records = parseObject(audit.out).value(u"records"_s).toArray();
    QCOMPARE(records.size(), 1);
    QCOMPARE(records.at(0).toObject().value(u"credential_id"_s).toString(), m_credentialId);

    // Text shows agents by name and each dispatch's trigger and source.
    const RunResult auditText = runCtl(
        { u"audit"_s, u"list"_s, u"--credential"_s, m_credentialId, u"--profile"_s, kProfile });
    QVERIFY2(auditText.exitCode == 0, auditText.err.constData());
    QVERIFY2(auditText.out.startsWith("ID "), auditText.out.constData());
    QVERIFY2(auditText.out.contains("  DETAIL\n"), auditText.out.constData());
    QVERIFY2(auditText.out.contains("agent edge-1"), auditText.out.constData());
    QVERIFY2(auditText.out.contains("trigger upload, from creator, version 1"),
             auditText.out.constData());

    // Text output names the next page only when the page is full.
    const RunResult fullPage =
        runCtl({ u"audit"_s, u"list"_s, u"--limit"_s, u"1"_s, u"--profile"_s, kProfile });
    QVERIFY2(fullPage.exitCode == 0, fullPage.err.constData());
    QVERIFY(fullPage.out.contains("more rows: --after-id 1"));
    const RunResult lastPage =
        runCtl({ u"audit"_s, u"list"_s, u"--limit"_s, u"500"_s, u"--profile"_s, kProfile });
    QVERIFY(lastPage.out.contains("credential_created"));
    QVERIFY(!lastPage.out.contains("more rows"));

    // --from and --to take any RFC 3339 time with an offset; --agent takes a
    // name too.
    const RunResult since = runCtl({ u"audit"_s, u"list"_s, u"--from"_s,
                                     u"2026-01-01T01:00:00+01:00"_s, u"--agent"_s, u"edge-1"_s,
                                     u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(since.exitCode == 0, since.err.constData());
    const QJsonArray agentRows = parseObject(since.out).value(u"records"_s).toArray();
    QVERIFY(!agentRows.isEmpty());
    const QString edgeOne = m_agents.at(u"edge-1"_s).agentId;
    for (const QJsonValue &row : agentRows)
        QCOMPARE(row.toObject().value(u"agent_id"_s).toString(), edgeOne);
    const RunResult noOffset = runCtl({ u"audit"_s, u"list"_s, u"--to"_s,
                                        u"2026-01-01T00:00:00"_s, u"--profile"_s, kProfile });
    QCOMPARE(noOffset.exitCode, 2);
    QVERIFY2(noOffset.err.contains("invalid --to \"2026-01-01T00:00:00\""),
             noOffset.err.constData());
    const RunResult unknownAgent = runCtl({ u"audit"_s, u"list"_s, u"--agent"_s, u"edge-9"_s,
                                            u"--profile"_s, kProfile });
    QCOMPARE(unknownAgent.exitCode, 2);
    QVERIFY2(unknownAgent.err.contains("no agent with id or name \"edge-9\""),
             unknownAgent.err.constData());
    // A deleted credential is listed by id only.
    const RunResult byName = runCtl({ u"audit"_s, u"list"_s, u"--credential"_s, u"core-switch"_s,
                                      u"--profile"_s, kProfile });
    QCOMPARE(byName.exitCode, 2);
    QVERIFY2(byName.err.contains("no credential with id or name \"core-switch\""),
             byName.err.constData());
}

// The keychain path of operator init and login, under gnome-keyring in a
// D-Bus session of its own (Debian packages dbus and gnome-keyring).
void TestCtlOperator::keychainOperatorAndLogin()
{
    const QString folder = m_dir.filePath(u"keychain-case"_s);
    QVERIFY(QDir().mkpath(folder));
    QFile url(folder + u"/backend-url"_s);
    QVERIFY(url.open(QIODevice::WriteOnly));
    url.write(m_backend.baseUrl().toUtf8());
    url.close();
    QFile token(folder + u"/token"_s);
    QVERIFY(token.open(QIODevice::WriteOnly));
    token.write(m_backend.adminToken().toLatin1());
    token.close();

    const sealrelay::test::KeychainSession session(m_dir.filePath(u"keychain-home"_s));
    const sealrelay::test::KeychainCaseOutput output =
        session.runWithSecretService({ u"ctl-keychain"_s, folder });
    sealrelay::test::verifyCaseSucceeded(output);
}

SEALRELAY_KEYCHAIN_TEST_MAIN(TestCtlOperator, runKeychainCase)
#include "tst_ctloperator.moc"
