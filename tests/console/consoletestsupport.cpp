// Set-up of the console suites: cluster, private folders and the profile.
#include "consoletestsupport.h"

#include "clientprofile.h"
#include "operatorkeyfile.h"
#include "trustedoperators.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QRegularExpression>
#include <QThread>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::consoletest {

namespace {

const QString kAgentPath = QStringLiteral(SEALRELAY_BINARY_DIR "/agent/sealrelay-agent");

} // namespace

ConsoleFixture::ConsoleFixture() = default;

ConsoleFixture::~ConsoleFixture()
{
    for (auto &[name, agent] : m_pending) {
        if (agent.process && agent.process->state() != QProcess::NotRunning) {
            agent.process->terminate();
            if (!agent.process->waitForFinished(10000))
                agent.process->kill();
        }
    }
    if (m_restartedBackend && m_restartedBackend->state() != QProcess::NotRunning) {
        m_restartedBackend->terminate();
        if (!m_restartedBackend->waitForFinished(10000))
            m_restartedBackend->kill();
    }
    m_cluster.stop();
}

QString ConsoleFixture::start()
{
    if (!m_home.isValid())
        return u"no temporary directory: "_s + m_home.errorString();
    qputenv("HOME", m_home.path().toUtf8());
    qputenv("XDG_CONFIG_HOME", m_home.filePath(u"config"_s).toUtf8());
    qputenv("XDG_STATE_HOME", m_home.filePath(u"state"_s).toUtf8());
    qputenv("XDG_DATA_HOME", m_home.filePath(u"data"_s).toUtf8());
    qputenv("XDG_RUNTIME_DIR", m_home.filePath(u"runtime"_s).toUtf8());
    QDir().mkpath(m_home.filePath(u"runtime"_s));
    QFile::setPermissions(m_home.filePath(u"runtime"_s),
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    qunsetenv("SEALRELAY_PROFILE");
    qputenv("SEALRELAY_OPERATOR_PASSPHRASE", QByteArray(kPassphrase.data(), kPassphrase.size()));

    const QString started = m_cluster.start();
    if (!started.isEmpty())
        return started;

    const QString keyFile = m_home.filePath(u"operator.key"_s);
    Result<void> written = client::writeOperatorKeyFile(keyFile, m_cluster.operatorKey(),
                                                        kPassphrase, client::WriteMode::CreateNew);
    if (!written)
        return written.error().message;
    Result<client::TrustedOperators> trusted =
        client::TrustedOperators::load(client::TrustedOperators::defaultPath(kProfile));
    if (!trusted)
        return trusted.error().message;
    Result<bool> added = trusted->add(m_cluster.operatorKey().publicKey());
    if (!added)
        return added.error().message;

    client::Profile profile;
    profile.name = kProfile;
    profile.backendUrl = m_cluster.backendUrl();
    profile.orgId = m_cluster.orgId();
    profile.tokenFile = m_home.filePath(u"secrets/token"_s);
    profile.operatorKeyFile = keyFile;
    Result<void> stored = client::storeToken(profile, m_cluster.adminToken().toUtf8());
    if (!stored)
        return stored.error().message;
    Result<void> saved = profile.save();
    if (!saved)
        return saved.error().message;
    return {};
}

QProcessEnvironment ConsoleFixture::agentEnvironment() const
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    const QHash<QString, QString> defaults = synctest::SyncCluster::defaultAgentEnvironment();
    for (auto it = defaults.cbegin(); it != defaults.cend(); ++it)
        environment.insert(it.key(), it.value());
    return environment;
}

synctest::ProcessResult ConsoleFixture::runAgent(const QStringList &arguments) const
{
    QProcess process;
    process.setProcessEnvironment(agentEnvironment());
    process.start(kAgentPath, arguments);
    synctest::ProcessResult result;
    if (!process.waitForStarted() || !process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished();
        return result;
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = QString::fromUtf8(process.readAllStandardOutput());
    result.err = QString::fromUtf8(process.readAllStandardError());
    return result;
}

QString ConsoleFixture::enrolPendingAgent(const QString &name, const QString &enrolmentToken)
{
    const QString started = startAgent(name, enrolmentToken);
    if (!started.isEmpty())
        return started;
    const QDeadlineTimer deadline(20000);
    while (!deadline.hasExpired()) {
        if (!m_cluster.agent(name).isEmpty())
            return {};
        QThread::msleep(100);
    }
    return u"the backend did not list agent %1 within 20 s"_s.arg(name);
}

void ConsoleFixture::stopAgent(const QString &name)
{
    const auto found = m_pending.find(name);
    if (found == m_pending.end() || !found->second.process)
        return;
    QProcess &process = *found->second.process;
    process.terminate();
    if (!process.waitForFinished(10000))
        process.kill();
}

QString ConsoleFixture::startAgent(const QString &name, const QString &enrolmentToken)
{
    PendingAgent &agent = m_pending[name];
    agent.name = name;
    agent.dataDir = m_home.filePath(u"agents/"_s + name);
    const synctest::ProcessResult init =
        runAgent({ u"init"_s, u"--data-dir"_s, agent.dataDir, u"--backend"_s,
                   m_cluster.backendUrl(), u"--enrolment-token"_s, enrolmentToken,
                   u"--trusted-operators"_s, m_cluster.trustedOperatorsFile(), u"--name"_s, name,
                   u"--vault-key-file"_s, m_home.filePath(u"agents/"_s + name + u".key"_s) });
    if (init.exitCode != 0)
        return u"sealrelay-agent init failed: "_s + init.err;

    const synctest::ProcessResult status =
        runAgent({ u"status"_s, u"--data-dir"_s, agent.dataDir });
    for (const QString &line : status.out.split(u'\n')) {
        if (line.startsWith(u"agent_id: "_s))
            agent.agentId = line.mid(10).trimmed();
    }
    const synctest::ProcessResult printed =
        runAgent({ u"fingerprint"_s, u"--data-dir"_s, agent.dataDir });
    agent.fingerprint = printed.out;
    agent.fingerprint.remove(QRegularExpression(u"\\s"_s));
    if (agent.agentId.isEmpty() || agent.fingerprint.size() != 64)
        return u"agent id or fingerprint missing: "_s + status.err + printed.err;

    agent.process = std::make_unique<QProcess>();
    agent.process->setProcessEnvironment(agentEnvironment());
    agent.process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    agent.process->start(kAgentPath, { u"run"_s, u"--data-dir"_s, agent.dataDir });
    if (!agent.process->waitForStarted())
        return u"sealrelay-agent run did not start"_s;
    return {};
}

QString ConsoleFixture::restartBackend()
{
    const quint16 port = m_cluster.backend().port();
    m_cluster.backend().stop();
    if (m_restartedBackend && m_restartedBackend->state() != QProcess::NotRunning) {
        m_restartedBackend->terminate();
        m_restartedBackend->waitForFinished(10000);
    }
    m_restartedBackend = std::make_unique<QProcess>();
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(synctest::SyncCluster::defaultBackendEnvironment());
    m_restartedBackend->setProcessEnvironment(environment);
    m_restartedBackend->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_restartedBackend->start(BackendProcess::binaryPath(),
                              { u"run"_s, u"--data-dir"_s,
                                QDir(m_cluster.rootDir()).filePath(u"backend"_s), u"--listen"_s,
                                u"127.0.0.1:%1"_s.arg(port) });
    if (!m_restartedBackend->waitForStarted())
        return u"sealrelay-backend run did not start again"_s;
    return {};
}

} // namespace sealrelay::consoletest
