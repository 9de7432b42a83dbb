// Runs 'sealrelayctl import' as an operator would, against a real
// sealrelay-backend and two real sealrelay-agent processes on 127.0.0.1: the
// sample exports of tests/data/import are imported, and the agents must then
// return the imported secrets. The slots run in order and share one cluster.
#include "backendprocess.h"
#include "testdata.h"

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
    if (!process.waitForFinished(120000)) {
        process.kill();
        process.waitForFinished();
        return { -1, process.readAllStandardOutput(), process.readAllStandardError() };
    }
    return { process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
             process.readAllStandardOutput(), process.readAllStandardError() };
}

// The entries of an import's --json output whose action is `action`.
QJsonArray entriesWithAction(const QJsonObject &json, const QString &action)
{
    QJsonArray found;
    for (const QJsonValue &value : json.value(u"entries"_s).toArray()) {
        if (value.toObject().value(u"action"_s).toString() == action)
            found.append(value);
    }
    return found;
}

struct AgentHandle {
    QString dataDir;
    QString agentId;
    QString fingerprint; // 64 hex digits, as the agent printed it
    std::unique_ptr<QProcess> process;
};

} // namespace

class TestCtlImport : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void helpNamesFormats();
    void unknownFormatRejected();
    void malformedFileUploadsNothing();
    void encryptedBitwardenRejected();
    void dryRunUploadsNothing();
    void keepassxcImportDelivers();
    void existingNamesSkipped();
    void rotateExistingDelivers();
    void scopeLimitsAgents();
    void unknownScopeAgentRejected();

private:
    RunResult runCtl(const QStringList &arguments) const;
    RunResult runImport(const QStringList &arguments) const;
    RunResult runAgent(const QStringList &arguments) const;
    QProcessEnvironment agentEnvironment() const;
    bool startAgent(const QString &name);
    QString agentStatusField(const QString &name, const QString &key) const;
    // Waits until `sealrelay-agent get` of `credential` on agent `name`
    // succeeds with output containing `expected`.
    bool agentReturns(const QString &name, const QString &credential, const QByteArray &expected,
                      RunResult &last) const;
    QJsonArray listCredentials() const;

    QTemporaryDir m_dir;
    QProcessEnvironment m_environment;
    BackendProcess m_backend;
    QString m_keyFile;
    QString m_passphraseFile;
    QString m_trustedOperatorsFile;
    std::map<QString, AgentHandle> m_agents;
};

RunResult TestCtlImport::runCtl(const QStringList &arguments) const
{
    return runProgram(kCtlPath, arguments, m_environment);
}

RunResult TestCtlImport::runImport(const QStringList &arguments) const
{
    return runCtl(
        QStringList { u"import"_s } + arguments
        + QStringList { u"--profile"_s, kProfile, u"--passphrase-file"_s, m_passphraseFile });
}

QProcessEnvironment TestCtlImport::agentEnvironment() const
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

RunResult TestCtlImport::runAgent(const QStringList &arguments) const
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

QString TestCtlImport::agentStatusField(const QString &name, const QString &key) const
{
    const RunResult status = runAgent({ u"status"_s, u"--data-dir"_s, m_agents.at(name).dataDir });
    const QString prefix = key + u": "_s;
    for (const QString &line : QString::fromUtf8(status.out).split(u'\n')) {
        if (line.startsWith(prefix))
            return line.mid(prefix.size()).trimmed();
    }
    return {};
}

bool TestCtlImport::agentReturns(const QString &name, const QString &credential,
                                 const QByteArray &expected, RunResult &last) const
{
    return pollUntil(
        [&] {
            last = runAgent({ u"get"_s, u"--data-dir"_s, m_agents.at(name).dataDir, credential });
            return last.exitCode == 0 && last.out.contains(expected);
        },
        30000);
}

QJsonArray TestCtlImport::listCredentials() const
{
    const RunResult list =
        runCtl({ u"credential"_s, u"list"_s, u"--profile"_s, kProfile, u"--json"_s });
    return parseObject(list.out).value(u"credentials"_s).toArray();
}

// Enrols `name` with a token from `enrolment-token create`, starts it,
// approves it with its fingerprint and waits until it has registered.
bool TestCtlImport::startAgent(const QString &name)
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
    if (agent.agentId.isEmpty() || agent.fingerprint.size() != 64)
        return false;

    agent.process = std::make_unique<QProcess>();
    agent.process->setProcessEnvironment(agentEnvironment());
    agent.process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    agent.process->start(kAgentPath, { u"run"_s, u"--data-dir"_s, agent.dataDir });
    if (!agent.process->waitForStarted())
        return false;
    const bool pending = pollUntil(
        [&] {
            const BackendReply agents = m_backend.request("GET", u"/api/agents"_s);
            for (const QJsonValue &row : agents.json.value(u"agents"_s).toArray()) {
                if (row.toObject().value(u"agent_id"_s).toString() == agent.agentId)
                    return true;
            }
            return false;
        },
        20000);
    if (!pending)
        return false;

    const RunResult approved =
        runCtl({ u"agent"_s, u"approve"_s, name, u"--fingerprint"_s, agent.fingerprint.left(16),
                 u"--profile"_s, kProfile, u"--passphrase-file"_s, m_passphraseFile });
    if (approved.exitCode != 0) {
        qWarning("agent approve failed: %s", approved.err.constData());
        return false;
    }
    return pollUntil(
        [&] {
            const QString registration = agentStatusField(name, u"last_registration"_s);
            return !registration.isEmpty() && !registration.startsWith(u"none"_s);
        },
        30000);
}

void TestCtlImport::initTestCase()
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

    const RunResult init =
        runCtl({ u"operator"_s, u"init"_s, u"--key-file"_s, m_keyFile, u"--passphrase-file"_s,
                 m_passphraseFile, u"--profile"_s, kProfile });
    QVERIFY2(init.exitCode == 0, init.err.constData());
    const RunResult show = runCtl({ u"operator"_s, u"show"_s, u"--passphrase-file"_s,
                                    m_passphraseFile, u"--profile"_s, kProfile, u"--json"_s });
    QVERIFY2(show.exitCode == 0, show.err.constData());
    QFile trusted(m_trustedOperatorsFile);
    QVERIFY(trusted.open(QIODevice::WriteOnly));
    trusted.write(parseObject(show.out).value(u"trusted_operators_line"_s).toString().toLatin1()
                  + '\n');
    trusted.close();
    trusted.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);

    const RunResult login =
        runProgram(kCtlPath,
                   { u"login"_s, u"--backend"_s, m_backend.baseUrl(), u"--token-file"_s,
                     m_dir.filePath(u"secrets/token"_s), u"--profile"_s, kProfile },
                   m_environment, m_backend.adminToken().toLatin1() + '\n');
    QVERIFY2(login.exitCode == 0, login.err.constData());

    QVERIFY(startAgent(u"edge-1"_s));
    QVERIFY(startAgent(u"edge-2"_s));
}

void TestCtlImport::cleanupTestCase()
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

void TestCtlImport::helpNamesFormats()
{
    const RunResult help = runCtl({ u"import"_s, u"--help"_s });
    QCOMPARE(help.exitCode, 0);
    QVERIFY(help.out.contains("keepassxc-csv"));
    QVERIFY(help.out.contains("bitwarden-json"));
    QVERIFY(help.out.contains("--rotate-existing"));
}

void TestCtlImport::unknownFormatRejected()
{
    const RunResult import =
        runImport({ u"--format"_s, u"1password"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-network.csv"_s) });
    QCOMPARE(import.exitCode, 2);
    QVERIFY(import.err.contains("\"1password\""));
}

void TestCtlImport::malformedFileUploadsNothing()
{
    // The first two rows are valid, so an import that uploaded row by row
    // would have created them before reaching line 4.
    const QString path = m_dir.filePath(u"broken.csv"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\"\n"
               "\"Root/Network\",\"sw-a\",\"admin\",\"Fake-A\",\"\",\"\"\n"
               "\"Root/Network\",\"sw-b\",\"admin\",\"Fake-B\",\"\",\"\"\n"
               "\"Root/Network\",\"sw-c\",\"admin\",\"Fake\"C\",\"\",\"\"\n");
    file.close();

    const RunResult import = runImport({ u"--format"_s, u"keepassxc-csv"_s, path });
    QCOMPARE(import.exitCode, 2);
    QVERIFY2(import.err.contains("line 4"), import.err.constData());
    QVERIFY(import.err.contains("broken.csv"));
    QVERIFY(!import.err.contains("Fake"));
    QCOMPARE(listCredentials().size(), 0);
}

void TestCtlImport::encryptedBitwardenRejected()
{
    const RunResult import =
        runImport({ u"--format"_s, u"bitwarden-json"_s,
                    sealrelay::test::dataPath(u"import/bitwarden-encrypted.json"_s) });
    QCOMPARE(import.exitCode, 2);
    QVERIFY(import.err.contains("encrypted"));
    QVERIFY(import.err.contains("export the vault again"));
}

void TestCtlImport::dryRunUploadsNothing()
{
    const RunResult dryRun =
        runImport({ u"--format"_s, u"keepassxc-csv"_s, u"--dry-run"_s, u"--json"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-network.csv"_s) });
    QVERIFY2(dryRun.exitCode == 0, dryRun.err.constData());
    const QJsonObject json = parseObject(dryRun.out);
    QCOMPARE(json.value(u"dry_run"_s).toBool(), true);
    QCOMPARE(entriesWithAction(json, u"would_create"_s).size(), 5);
    QCOMPARE(entriesWithAction(json, u"skipped"_s).size(), 5);
    QCOMPARE(listCredentials().size(), 0);

    const RunResult text =
        runImport({ u"--format"_s, u"keepassxc-csv"_s, u"--dry-run"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-network.csv"_s) });
    QVERIFY(text.out.contains("would create line 2 \"Network/Core/core-sw-01 admin\""));
    QVERIFY(text.out.contains("skipped line 9 \"Network/Core/core-sw-03 admin\": the entry has "
                              "no password"));
    QVERIFY(text.out.contains("Dry run, nothing was uploaded: 5 to create, 0 to rotate, 5 "
                              "skipped, of 10 entries."));
}

void TestCtlImport::keepassxcImportDelivers()
{
    const RunResult import =
        runImport({ u"--format"_s, u"keepassxc-csv"_s, u"--json"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-network.csv"_s) });
    QVERIFY2(import.exitCode == 0, import.err.constData());
    for (const QByteArray &secret : { QByteArray("Fake-Core-01!"), QByteArray("Radius-Fake-99"),
                                      QByteArray("FAKEFAKEFAKEFAKE") }) {
        QVERIFY(!import.out.contains(secret));
        QVERIFY(!import.err.contains(secret));
    }
    const QJsonObject json = parseObject(import.out);
    const QJsonObject summary = json.value(u"summary"_s).toObject();
    QCOMPARE(summary.value(u"created"_s).toInt(), 5);
    QCOMPARE(summary.value(u"skipped"_s).toInt(), 5);
    QCOMPARE(summary.value(u"failed"_s).toInt(), 0);
    const QJsonArray created = entriesWithAction(json, u"created"_s);
    QCOMPARE(created.at(0).toObject().value(u"envelope_count"_s).toInt(), 2);

    const QJsonArray credentials = listCredentials();
    QCOMPARE(credentials.size(), 5);
    for (const QJsonValue &value : credentials)
        QCOMPARE(value.toObject().value(u"kind"_s).toString(), u"password"_s);

    RunResult get;
    QVERIFY2(agentReturns(u"edge-1"_s, u"Network/Core/core-sw-01 admin"_s, "Fake-Core-01!", get),
             get.err.constData());
    const QJsonObject fields = parseObject(get.out);
    QCOMPARE(fields.value(u"username"_s).toString(), u"admin"_s);
    QCOMPARE(fields.value(u"url"_s).toString(), u"ssh://10.0.0.1"_s);
    QCOMPARE(fields.value(u"notes"_s).toString(), u"Console: Slot 1\nOOB via cons-srv-01 port 7"_s);

    QVERIFY2(agentReturns(u"edge-2"_s, u"Netzwerk/Zürich/Übergang fw-zrh-01"_s,
                          "Fake-Z\xC3\xBCrich-\xC3\x9F-01", get),
             get.err.constData());
    QVERIFY2(agentReturns(u"edge-2"_s, u"Network/Core/core-sw-02 admin"_s, "pa\\\"ss,wo", get),
             get.out.constData());
    QVERIFY(!parseObject(get.out).contains(u"notes"_s));
}

void TestCtlImport::existingNamesSkipped()
{
    const RunResult again =
        runImport({ u"--format"_s, u"keepassxc-csv"_s, u"--json"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-network.csv"_s) });
    QVERIFY2(again.exitCode == 0, again.err.constData());
    const QJsonObject json = parseObject(again.out);
    QCOMPARE(json.value(u"summary"_s).toObject().value(u"created"_s).toInt(), 0);
    QCOMPARE(json.value(u"summary"_s).toObject().value(u"skipped"_s).toInt(), 10);
    const QJsonObject first = json.value(u"entries"_s).toArray().at(0).toObject();
    QVERIFY(first.value(u"reason"_s).toString().contains(u"exists on the backend"_s));
    QVERIFY(first.value(u"reason"_s).toString().contains(u"--rotate-existing"_s));

    const QJsonArray credentials = listCredentials();
    QCOMPARE(credentials.size(), 5);
    for (const QJsonValue &value : credentials)
        QCOMPARE(value.toObject().value(u"version"_s).toInteger(), 1);
}

void TestCtlImport::rotateExistingDelivers()
{
    // Without --rotate-existing the name of items[0] is skipped and the
    // stored value stays.
    const RunResult skipping =
        runImport({ u"--format"_s, u"bitwarden-json"_s, u"--dry-run"_s, u"--json"_s,
                    sealrelay::test::dataPath(u"import/bitwarden-network.json"_s) });
    QVERIFY2(skipping.exitCode == 0, skipping.err.constData());
    const QJsonObject skipped =
        parseObject(skipping.out).value(u"entries"_s).toArray().at(0).toObject();
    QCOMPARE(skipped.value(u"action"_s).toString(), u"skipped"_s);

    const RunResult import =
        runImport({ u"--format"_s, u"bitwarden-json"_s, u"--rotate-existing"_s, u"--json"_s,
                    sealrelay::test::dataPath(u"import/bitwarden-network.json"_s) });
    QVERIFY2(import.exitCode == 0, import.err.constData());
    QVERIFY(!import.out.contains("Fake-Bw-Core-01"));
    const QJsonObject json = parseObject(import.out);
    const QJsonObject summary = json.value(u"summary"_s).toObject();
    QCOMPARE(summary.value(u"rotated"_s).toInt(), 1);
    QCOMPARE(summary.value(u"created"_s).toInt(), 3);
    QCOMPARE(summary.value(u"skipped"_s).toInt(), 6);
    const QJsonObject rotated = entriesWithAction(json, u"rotated"_s).at(0).toObject();
    QCOMPARE(rotated.value(u"name"_s).toString(), u"Network/Core/core-sw-01 admin"_s);
    QCOMPARE(rotated.value(u"version"_s).toInteger(), 2);

    RunResult get;
    QVERIFY2(agentReturns(u"edge-1"_s, u"Network/Core/core-sw-01 admin"_s, "Fake-Bw-Core-01", get),
             get.out.constData());
    QCOMPARE(parseObject(get.out).value(u"url"_s).toString(), u"ssh://10.0.0.1"_s);
    QVERIFY2(agentReturns(u"edge-2"_s, u"Network/TACACS/tacacs key"_s, "JBSWY3DPEHPK3PXP", get),
             get.out.constData());
    QCOMPARE(listCredentials().size(), 8);
}

void TestCtlImport::scopeLimitsAgents()
{
    const RunResult import =
        runImport({ u"--format"_s, u"keepassxc-csv"_s, u"--scope"_s, u"edge-1"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-legacy.csv"_s) });
    QVERIFY2(import.exitCode == 0, import.err.constData());
    QVERIFY2(import.out.contains("created line 2 \"Network/Wireless/wlc-01 admin\": credential "),
             import.out.constData());
    QVERIFY(import.out.contains("sealed to 1 agent"));
    QVERIFY(!import.out.contains("agent(s)"));
    QVERIFY(import.out.contains("Imported 2 of 2 entries: 2 created, 0 rotated, 0 skipped, 0 "
                                "failed, 0 not attempted."));

    int scoped = 0;
    for (const QJsonValue &value : listCredentials()) {
        const QJsonObject credential = value.toObject();
        if (!credential.value(u"name"_s).toString().startsWith(u"Network/Wireless/"_s))
            continue;
        ++scoped;
        QCOMPARE(credential.value(u"scope"_s).toString(), u"explicit"_s);
        QCOMPARE(credential.value(u"scope_agent_ids"_s).toArray(),
                 QJsonArray { m_agents.at(u"edge-1"_s).agentId });
    }
    QCOMPARE(scoped, 2);
    RunResult get;
    QVERIFY2(agentReturns(u"edge-1"_s, u"Network/Wireless/wlc-02 admin"_s, "Wlc-Fake-02", get),
             get.err.constData());
}

void TestCtlImport::unknownScopeAgentRejected()
{
    const RunResult import =
        runImport({ u"--format"_s, u"keepassxc-csv"_s, u"--scope"_s, u"edge-9"_s,
                    sealrelay::test::dataPath(u"import/keepassxc-legacy.csv"_s) });
    QCOMPARE(import.exitCode, 2);
    QVERIFY(import.err.contains("edge-9"));
}

QTEST_GUILESS_MAIN(TestCtlImport)
#include "tst_ctlimport.moc"
