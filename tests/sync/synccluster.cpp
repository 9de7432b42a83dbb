// The sync cluster: backend and agent processes, approvals, credential
// uploads built as a console builds them, and reads of the API and vaults.
#include "synccluster.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "envelope.h"
#include "ids.h"
#include "masterkey.h"
#include "payload.h"
#include "scriptedagent.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QThread>
#include <QTimer>
#include <QUrlQuery>

#include <openssl/crypto.h>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::synctest {

namespace {

const QString kAgentPath = QStringLiteral(SEALRELAY_BINARY_DIR "/agent/sealrelay-agent");

constexpr int kPendingWaitMs = 20000;
constexpr int kRegistrationWaitMs = 20000;
constexpr int kPollMs = 100;

// Calls `condition` every kPollMs until it is true or `timeoutMs` passed,
// keeping the test's event loop running in between.
bool pollUntil(const std::function<bool()> &condition, int timeoutMs)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (true) {
        if (condition())
            return true;
        if (deadline.hasExpired())
            return false;
        QEventLoop loop;
        QTimer::singleShot(kPollMs, &loop, &QEventLoop::quit);
        loop.exec();
    }
}

void wipe(QByteArray &bytes)
{
    if (!bytes.isEmpty())
        OPENSSL_cleanse(bytes.data(), size_t(bytes.size()));
    bytes.clear();
}

} // namespace

QHash<QString, QString> SyncCluster::defaultAgentEnvironment()
{
    return {
        { u"SEALRELAY_CONNECTION_RECONNECT_MIN_MS"_s, u"100"_s },
        { u"SEALRELAY_CONNECTION_RECONNECT_MAX_MS"_s, u"500"_s },
        { u"SEALRELAY_CONNECTION_PING_INTERVAL_MS"_s, u"500"_s },
        { u"SEALRELAY_CONNECTION_SILENCE_TIMEOUT_MS"_s, u"3000"_s },
        { u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"5000"_s },
        { u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s },
    };
}

QProcessEnvironment SyncCluster::defaultBackendEnvironment()
{
    // Every interval and timeout is shrunk from minutes to about a second, so
    // sweeps, retries and peer timeouts happen within one suite's run. TTLs
    // that end a penalty (blocklist, alert deduplication) and the flood
    // windows keep their defaults, so they never lapse during a suite.
    QProcessEnvironment environment;
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    environment.insert(u"SEALRELAY_AGENT_PING_INTERVAL_MS"_s, u"500"_s);
    environment.insert(u"SEALRELAY_AGENT_SILENCE_TIMEOUT_MS"_s, u"3000"_s);
    environment.insert(u"SEALRELAY_RECONCILER_INTERVAL_MS"_s, u"1000"_s);
    environment.insert(u"SEALRELAY_RECONCILER_BACKOFF_SCHEDULE_MS"_s, u"500,1000,2000"_s);
    environment.insert(u"SEALRELAY_DISPATCH_PEER_TIMEOUT_MS"_s, u"3000"_s);
    environment.insert(u"SEALRELAY_JIT_AGENT_WAIT_MS"_s, u"5000"_s);
    environment.insert(u"SEALRELAY_COORDINATION_LOCK_TTL_MS"_s, u"5000"_s);
    environment.insert(u"SEALRELAY_COORDINATION_LOCK_RENEW_MS"_s, u"1000"_s);
    environment.insert(u"SEALRELAY_COORDINATION_RECONCILER_LOCK_TTL_MS"_s, u"900"_s);
    environment.insert(u"SEALRELAY_COORDINATION_DEGRADED_AFTER_MS"_s, u"3000"_s);
    environment.insert(u"SEALRELAY_BACKFILL_RECONNECT_MAX_WAIT_MS"_s, u"2000"_s);
    environment.insert(u"SEALRELAY_API_RETRY_WINDOW_MS"_s, u"1000"_s);
    return environment;
}

SyncCluster::SyncCluster(const QProcessEnvironment &backendSettings)
    : m_backendSettings(backendSettings)
{
}

SyncCluster::~SyncCluster()
{
    stop();
}

bool SyncCluster::fail(const QString &message)
{
    m_lastError = message;
    return false;
}

QString SyncCluster::start()
{
    if (!m_root.isValid())
        return u"could not create a temporary directory: "_s + m_root.errorString();
    if (!QFileInfo::exists(kAgentPath))
        return u"the agent binary %1 is missing; build the sealrelay-agent target"_s.arg(
            kAgentPath);
    m_network = std::make_unique<QNetworkAccessManager>();

    Result<Ed25519PrivateKey> operatorKey = Ed25519PrivateKey::generate();
    if (!operatorKey)
        return u"could not generate the operator key: "_s + operatorKey.error().message;
    m_operatorKey = operatorKey.value();

    m_trustedOperatorsFile = m_root.filePath(u"trusted-operators"_s);
    QFile trusted(m_trustedOperatorsFile);
    if (!trusted.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return u"could not write %1: %2"_s.arg(m_trustedOperatorsFile, trusted.errorString());
    trusted.write("# the cluster's operator\n");
    trusted.write(m_operatorKey->publicKey().rawBase64().toLatin1() + '\n');
    trusted.close();
    trusted.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);

    if (m_externalUrl.isEmpty()) {
        QProcessEnvironment environment = defaultBackendEnvironment();
        environment.insert(m_backendSettings);
        const QString started = m_backend.start(m_root.filePath(u"backend"_s), environment);
        if (!started.isEmpty())
            return started;
    }

    const BackendReply verify = request("GET", u"/api/audit/verify"_s);
    m_orgId = verify.json.value(u"org_id"_s).toString();
    if (m_orgId.isEmpty())
        return u"GET /api/audit/verify returned %1 without org_id: %2"_s.arg(
            QString::number(verify.status), QString::fromUtf8(verify.body));
    return {};
}

void SyncCluster::useBackend(const QString &baseUrl, const QString &adminToken)
{
    m_externalUrl = baseUrl;
    m_externalToken = adminToken;
}

void SyncCluster::stop()
{
    for (auto &[name, entry] : m_agents) {
        if (entry.process && entry.process->state() != QProcess::NotRunning)
            stopAgent(name);
    }
    m_backend.stop();
}

BackendReply SyncCluster::request(const QByteArray &method, const QString &path,
                                  const QJsonObject &body)
{
    QNetworkRequest networkRequest(QUrl(backendUrl() + path));
    networkRequest.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    networkRequest.setRawHeader("Authorization", "Bearer " + adminToken().toLatin1());
    const QByteArray payload =
        method == "GET" ? QByteArray() : QJsonDocument(body).toJson(QJsonDocument::Compact);
    QNetworkReply *reply = m_network->sendCustomRequest(networkRequest, method, payload);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(15000, &loop, &QEventLoop::quit);
    if (!reply->isFinished())
        loop.exec();

    BackendReply result;
    if (reply->isFinished()) {
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        result.body = reply->readAll();
        result.json = QJsonDocument::fromJson(result.body).object();
    } else {
        reply->abort();
    }
    reply->deleteLater();
    return result;
}

// ---- Agents -----------------------------------------------------------------------

SyncCluster::AgentEntry *SyncCluster::findAgent(const QString &name)
{
    const auto found = m_agents.find(name);
    return found == m_agents.end() ? nullptr : &found->second;
}

const SyncCluster::AgentEntry *SyncCluster::findAgent(const QString &name) const
{
    const auto found = m_agents.find(name);
    return found == m_agents.end() ? nullptr : &found->second;
}

QProcessEnvironment SyncCluster::agentEnvironment(const AgentEntry &entry) const
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    const QHash<QString, QString> defaults = defaultAgentEnvironment();
    for (auto it = defaults.cbegin(); it != defaults.cend(); ++it)
        environment.insert(it.key(), it.value());
    for (auto it = entry.environment.cbegin(); it != entry.environment.cend(); ++it)
        environment.insert(it.key(), it.value());
    return environment;
}

ProcessResult SyncCluster::runAgentCommand(const QString &name, const QStringList &arguments,
                                           int timeoutMs)
{
    const AgentEntry *entry = findAgent(name);
    QProcess process;
    process.setProcessEnvironment(entry ? agentEnvironment(*entry)
                                        : QProcessEnvironment::systemEnvironment());
    QElapsedTimer timer;
    timer.start();
    process.start(kAgentPath, arguments);
    ProcessResult result;
    if (!process.waitForStarted() || !process.waitForFinished(timeoutMs)) {
        process.kill();
        process.waitForFinished();
        result.elapsedMs = timer.elapsed();
        result.err = QString::fromUtf8(process.readAllStandardError());
        return result;
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = QString::fromUtf8(process.readAllStandardOutput());
    result.err = QString::fromUtf8(process.readAllStandardError());
    result.elapsedMs = timer.elapsed();
    return result;
}

QString SyncCluster::statusField(const QString &name, const QString &key)
{
    const AgentEntry *entry = findAgent(name);
    if (!entry || entry->scripted)
        return {};
    const ProcessResult status =
        runAgentCommand(name, { u"status"_s, u"--data-dir"_s, entry->dataDir });
    const QString prefix = key + u": "_s;
    for (const QString &line : status.out.split(u'\n')) {
        if (line.startsWith(prefix))
            return line.mid(prefix.size());
    }
    return {};
}

QString SyncCluster::createEnrolmentToken(const QString &name)
{
    const BackendReply token =
        request("POST", u"/api/agents/enrolment-tokens"_s,
                QJsonObject { { u"agent_name"_s, name }, { u"ttl_seconds"_s, 3600 } });
    if (token.status != 201) {
        fail(u"POST /api/agents/enrolment-tokens for %1 returned %2: %3"_s.arg(
            name, QString::number(token.status), QString::fromUtf8(token.body)));
        return {};
    }
    return token.json.value(u"token"_s).toString();
}

bool SyncCluster::launchAgent(AgentEntry &entry)
{
    const QString socketPath = QDir(entry.dataDir).filePath(u"agent.sock"_s);
    QFile::remove(socketPath); // left behind by a SIGKILL
    entry.process = std::make_unique<QProcess>();
    entry.process->setProcessEnvironment(agentEnvironment(entry));
    entry.process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    entry.process->start(kAgentPath, { u"run"_s, u"--data-dir"_s, entry.dataDir });
    if (!entry.process->waitForStarted())
        return fail(u"sealrelay-agent run for %1 did not start: %2"_s.arg(
            entry.name, entry.process->errorString()));
    QProcess *process = entry.process.get();
    const bool listening = pollUntil(
        [&] { return QFileInfo::exists(socketPath) || process->state() == QProcess::NotRunning; },
        10000);
    if (process->state() == QProcess::NotRunning)
        return fail(u"sealrelay-agent run for %1 exited with code %2"_s.arg(
            entry.name, QString::number(process->exitCode())));
    if (!listening)
        return fail(
            u"sealrelay-agent run for %1 created no %2 within 10 s"_s.arg(entry.name, socketPath));
    return true;
}

std::optional<QJsonObject> SyncCluster::waitUntilPending(const QString &agentId)
{
    std::optional<QJsonObject> row;
    pollUntil(
        [&] {
            const BackendReply pending = request("GET", u"/api/agents?status=pending_approval"_s);
            for (const QJsonValue &value : pending.json.value(u"agents"_s).toArray()) {
                if (value.toObject().value(u"agent_id"_s).toString() == agentId) {
                    row = value.toObject();
                    return true;
                }
            }
            return false;
        },
        kPendingWaitMs);
    if (!row)
        fail(u"agent %1 was not pending_approval in GET /api/agents within %2 ms"_s.arg(
            agentId, QString::number(kPendingWaitMs)));
    return row;
}

bool SyncCluster::approve(const QJsonObject &row, const QString &expectedFingerprint)
{
    const QString agentId = row.value(u"agent_id"_s).toString();
    Result<QByteArray> encryptionKey =
        decodeBase64(row.value(u"encryption_key"_s).toString(), u"encryption_key");
    Result<QByteArray> identityKey =
        decodeBase64(row.value(u"identity_key"_s).toString(), u"identity_key");
    if (!encryptionKey || !identityKey)
        return fail(u"GET /api/agents lists unreadable keys for agent %1"_s.arg(agentId));

    // The operator approves only the keys whose fingerprint the agent host
    // printed.
    const QString listed = agentFingerprint(agentId, encryptionKey.value(), identityKey.value());
    if (listed != normaliseTypedFingerprint(expectedFingerprint))
        return fail(u"agent %1: the listed keys have fingerprint %2 but the agent printed %3"_s.arg(
            agentId, listed, expectedFingerprint));

    AgentCertificate fields;
    fields.orgId = m_orgId;
    fields.agentId = agentId;
    fields.agentName = row.value(u"name"_s).toString();
    fields.generation = row.value(u"generation"_s).toInteger() + 1;
    fields.encryptionKey = encryptionKey.value();
    fields.identityKey = identityKey.value();
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.expiresAt = fields.issuedAt.addDays(365);
    fields.operatorKey = m_operatorKey->publicKey().raw();
    Result<SignedStatement> certificate =
        signStatement(StatementContext::AgentCertificate, fields.toFields(), *m_operatorKey);
    if (!certificate)
        return fail(u"could not sign the certificate of agent %1: "_s.arg(agentId)
                    + certificate.error().message);

    const BackendReply approved =
        request("POST", u"/api/agents/%1/certificate"_s.arg(agentId),
                QJsonObject { { u"certificate"_s, certificate->toJson() } });
    if (approved.status != 200)
        return fail(u"POST /api/agents/%1/certificate returned %2: %3"_s.arg(
            agentId, QString::number(approved.status), QString::fromUtf8(approved.body)));
    return true;
}

bool SyncCluster::waitUntilRegistered(const QString &name, const QString &previous)
{
    AgentEntry *entry = findAgent(name);
    QString current;
    const bool registered = pollUntil(
        [&] {
            if (entry->process && entry->process->state() == QProcess::NotRunning)
                return true;
            current = statusField(name, u"last_registration"_s);
            return !current.isEmpty() && !current.startsWith(u"none"_s) && current != previous;
        },
        kRegistrationWaitMs);
    if (entry->process && entry->process->state() == QProcess::NotRunning)
        return fail(u"agent %1 exited with code %2 before it registered"_s.arg(
            name, QString::number(entry->process->exitCode())));
    if (!registered)
        return fail(u"agent %1 did not register within %2 ms; last_registration is \"%3\""_s.arg(
            name, QString::number(kRegistrationWaitMs), current));
    return true;
}

QString SyncCluster::addAgent(const QString &name, const QHash<QString, QString> &environment)
{
    if (findAgent(name)) {
        fail(u"the cluster already has an agent named %1"_s.arg(name));
        return {};
    }
    const QString token = createEnrolmentToken(name);
    if (token.isEmpty())
        return {};

    AgentEntry &entry = m_agents[name];
    entry.name = name;
    entry.dataDir = m_root.filePath(u"agents/"_s + name);
    entry.keyFile = m_root.filePath(u"agents/"_s + name + u".key"_s);
    entry.environment = environment;
    QDir().mkpath(m_root.filePath(u"agents"_s));

    const ProcessResult init = runAgentCommand(
        name,
        { u"init"_s, u"--data-dir"_s, entry.dataDir, u"--backend"_s, backendUrl(),
          u"--enrolment-token"_s, token, u"--trusted-operators"_s, m_trustedOperatorsFile,
          u"--name"_s, name, u"--vault-key-file"_s, entry.keyFile });
    if (init.exitCode != 0) {
        fail(u"sealrelay-agent init for %1 exited with %2: %3"_s.arg(
            name, QString::number(init.exitCode), init.err));
        return {};
    }
    entry.agentId = statusField(name, u"agent_id"_s);
    const ProcessResult printed =
        runAgentCommand(name, { u"fingerprint"_s, u"--data-dir"_s, entry.dataDir });
    if (entry.agentId.isEmpty() || printed.exitCode != 0) {
        fail(u"sealrelay-agent status or fingerprint for %1 failed: %2"_s.arg(name, printed.err));
        return {};
    }

    if (!launchAgent(entry))
        return {};
    const std::optional<QJsonObject> row = waitUntilPending(entry.agentId);
    if (!row || !approve(*row, printed.out.trimmed()))
        return {};
    if (!waitUntilRegistered(name, QString()))
        return {};
    return entry.agentId;
}

QString SyncCluster::addScriptedAgent(ScriptedAgent &agent, const QString &name)
{
    if (findAgent(name)) {
        fail(u"the cluster already has an agent named %1"_s.arg(name));
        return {};
    }
    if (!agent.isValid()) {
        fail(agent.lastError());
        return {};
    }
    const QString token = createEnrolmentToken(name);
    if (token.isEmpty())
        return {};
    if (!agent.enrol(backendUrl(), token, name)) {
        fail(agent.lastError());
        return {};
    }
    AgentEntry &entry = m_agents[name];
    entry.name = name;
    entry.agentId = agent.agentId();
    entry.scripted = &agent;

    const std::optional<QJsonObject> row = waitUntilPending(entry.agentId);
    if (!row || !approve(*row, agent.identity().fingerprint()))
        return {};
    if (!agent.authenticate()) {
        fail(agent.lastError());
        return {};
    }
    agent.sendRegister(RegisterMode::FirstRegistration);
    return entry.agentId;
}

bool SyncCluster::stopAgent(const QString &name)
{
    AgentEntry *entry = findAgent(name);
    if (!entry || !entry->process)
        return fail(u"no agent process named %1"_s.arg(name));
    if (entry->process->state() == QProcess::NotRunning)
        return true;
    entry->process->terminate();
    if (entry->process->waitForFinished(10000))
        return true;
    entry->process->kill();
    entry->process->waitForFinished();
    return fail(u"agent %1 did not exit within 10 s of SIGTERM and was killed"_s.arg(name));
}

bool SyncCluster::killAgent(const QString &name)
{
    AgentEntry *entry = findAgent(name);
    if (!entry || !entry->process)
        return fail(u"no agent process named %1"_s.arg(name));
    if (entry->process->state() == QProcess::NotRunning)
        return true;
    entry->process->kill();
    return entry->process->waitForFinished(10000);
}

bool SyncCluster::startAgent(const QString &name)
{
    AgentEntry *entry = findAgent(name);
    if (!entry || !entry->process)
        return fail(u"no agent process named %1"_s.arg(name));
    if (entry->process->state() != QProcess::NotRunning)
        return fail(u"agent %1 is still running; stop or kill it first"_s.arg(name));
    const QString previous = statusField(name, u"last_registration"_s);
    return launchAgent(*entry) && waitUntilRegistered(name, previous);
}

bool SyncCluster::rekeyAgent(const QString &name)
{
    AgentEntry *entry = findAgent(name);
    if (!entry || !entry->process)
        return fail(u"no agent process named %1"_s.arg(name));
    if (entry->process->state() != QProcess::NotRunning)
        return fail(u"agent %1 is still running; stop or kill it before a rekey"_s.arg(name));
    const QString token = createEnrolmentToken(name);
    if (token.isEmpty())
        return false;

    const ProcessResult rekeyed =
        runAgentCommand(name,
                        { u"rekey"_s, u"--data-dir"_s, entry->dataDir, u"--enrolment-token"_s,
                          token, u"--vault-key-file"_s, entry->keyFile });
    if (rekeyed.exitCode != 0)
        return fail(u"sealrelay-agent rekey for %1 exited with %2: %3"_s.arg(
            name, QString::number(rekeyed.exitCode), rekeyed.err));
    const ProcessResult printed =
        runAgentCommand(name, { u"fingerprint"_s, u"--data-dir"_s, entry->dataDir });
    if (printed.exitCode != 0)
        return fail(u"sealrelay-agent fingerprint for %1 failed after the rekey: %2"_s.arg(
            name, printed.err));

    const QString previous = statusField(name, u"last_registration"_s);
    if (!launchAgent(*entry))
        return false;
    const std::optional<QJsonObject> row = waitUntilPending(entry->agentId);
    if (!row || !approve(*row, printed.out.trimmed()))
        return false;
    return waitUntilRegistered(name, previous);
}

bool SyncCluster::isAgentRunning(const QString &name) const
{
    const AgentEntry *entry = findAgent(name);
    return entry && entry->process && entry->process->state() != QProcess::NotRunning;
}

QString SyncCluster::agentId(const QString &name) const
{
    const AgentEntry *entry = findAgent(name);
    return entry ? entry->agentId : QString();
}

QString SyncCluster::dataDir(const QString &name) const
{
    const AgentEntry *entry = findAgent(name);
    return entry ? entry->dataDir : QString();
}

QString SyncCluster::vaultKeyFile(const QString &name) const
{
    const AgentEntry *entry = findAgent(name);
    return entry ? entry->keyFile : QString();
}

// ---- Credentials ------------------------------------------------------------------

std::optional<QStringList> SyncCluster::agentIdsOf(const QStringList &names)
{
    QStringList ids;
    for (const QString &name : names) {
        const QString id = agentId(name);
        if (id.isEmpty()) {
            fail(u"the cluster has no agent named %1"_s.arg(name));
            return std::nullopt;
        }
        ids.append(id);
    }
    return ids;
}

std::optional<QList<const SyncCluster::CertifiedAgent *>> SyncCluster::certifiedAgents()
{
    const BackendReply listed = request("GET", u"/api/agents?status=approved"_s);
    if (listed.status != 200) {
        fail(u"GET /api/agents returned %1: %2"_s.arg(QString::number(listed.status),
                                                      QString::fromUtf8(listed.body)));
        return std::nullopt;
    }
    const QDateTime now = QDateTime::currentDateTimeUtc();
    QList<const CertifiedAgent *> kept;
    for (const QJsonValue &value : listed.json.value(u"agents"_s).toArray()) {
        const QJsonObject row = value.toObject();
        Result<SignedStatement> certificate =
            SignedStatement::fromJson(row.value(u"certificate"_s), u"certificate");
        if (!certificate)
            continue;
        const QByteArray cacheKey = sha256(QByteArray(certificate->bytes + certificate->signature));
        auto cached = m_certified.find(cacheKey);
        if (cached == m_certified.end()) {
            // Parsed and verified once per certificate: later uploads reuse
            // the parsed RSA key.
            Result<QJsonObject> verified =
                verifyStatement(StatementContext::AgentCertificate, certificate.value(),
                                m_operatorKey->publicKey());
            if (!verified)
                continue;
            Result<AgentCertificate> fields = AgentCertificate::fromFields(verified.value());
            if (!fields || fields->orgId != m_orgId)
                continue;
            Result<RsaPublicKey> key = RsaPublicKey::fromSpkiDer(fields->encryptionKey);
            if (!key)
                continue;
            CertifiedAgent agent;
            agent.agentId = fields->agentId;
            agent.certificateBytes = certificate->bytes;
            agent.generation = fields->generation;
            agent.expiresAt = fields->expiresAt;
            agent.encryptionKey = key.value();
            agent.encryptionKeyFingerprint = key->fingerprint();
            cached = m_certified.emplace(cacheKey, std::move(agent)).first;
        }
        const CertifiedAgent &agent = cached->second;
        if (agent.agentId != row.value(u"agent_id"_s).toString() || agent.expiresAt <= now)
            continue;
        qint64 &highest = m_highestGeneration[agent.agentId];
        if (agent.generation < highest)
            continue;
        highest = agent.generation;
        kept.append(&agent);
    }
    return kept;
}

std::optional<SyncCluster::CurrentCredential>
SyncCluster::currentCredential(const QString &credentialId)
{
    const BackendReply reply = request("GET", u"/api/credentials/"_s + credentialId);
    if (reply.status != 200) {
        fail(u"GET /api/credentials/%1 returned %2: %3"_s.arg(
            credentialId, QString::number(reply.status), QString::fromUtf8(reply.body)));
        return std::nullopt;
    }
    Result<SignedStatement> statement =
        SignedStatement::fromJson(reply.json.value(u"statement"_s), u"statement");
    Result<QJsonObject> parsed = statement
        ? parseStatement(StatementContext::Credential, statement->bytes)
        : Result<QJsonObject>(statement.error());
    Result<CredentialStatement> fields = parsed ? CredentialStatement::fromFields(parsed.value())
                                                : Result<CredentialStatement>(parsed.error());
    if (!fields) {
        fail(u"the current statement of credential %1 does not parse: %2"_s.arg(
            credentialId, fields.error().message));
        return std::nullopt;
    }
    return CurrentCredential { fields.value(), statement->sha256() };
}

Upload SyncCluster::failUpload(const QString &message)
{
    fail(message);
    return {};
}

Upload SyncCluster::uploadStatement(const QString &path, CredentialStatement fields,
                                    const std::optional<QJsonObject> &secret,
                                    const std::optional<QStringList> &envelopeAgentNames)
{
    QByteArray salt;
    SecureBuffer secretBytes;
    if (secret) {
        Result<QByteArray> canonical = canonicalJson(*secret);
        if (!canonical)
            return failUpload(u"the secret is no canonical JSON object: "_s
                              + canonical.error().message);
        secretBytes = SecureBuffer(canonical.value());
        wipe(canonical.value());
        salt = generateSalt();
        Result<QByteArray> commitment = computeCommitment(salt, secretBytes.view());
        if (!commitment)
            return failUpload(u"could not compute the commitment: "_s + commitment.error().message);
        fields.commitment = commitment.value();
    }

    Result<SignedStatement> statement =
        signStatement(StatementContext::Credential, fields.toFields(), *m_operatorKey);
    if (!statement)
        return failUpload(
            u"could not sign the statement of credential %1: "_s.arg(fields.credentialId)
            + statement.error().message);
    QJsonObject body { { u"statement"_s, statement->toJson() } };

    if (secret) {
        std::optional<QList<const CertifiedAgent *>> certified = certifiedAgents();
        if (!certified)
            return {};
        QList<const CertifiedAgent *> targets;
        if (envelopeAgentNames) {
            std::optional<QStringList> ids = agentIdsOf(*envelopeAgentNames);
            if (!ids)
                return {};
            for (const QString &id : *ids) {
                const auto found = std::find_if(
                    certified->cbegin(), certified->cend(),
                    [&id](const CertifiedAgent *agent) { return agent->agentId == id; });
                if (found == certified->cend())
                    return failUpload(u"agent %1 has no approved certificate that verifies "
                                      "under the operator key"_s.arg(id));
                targets.append(*found);
            }
        } else {
            for (const CertifiedAgent *agent : std::as_const(*certified)) {
                if (fields.covers(agent->agentId))
                    targets.append(agent);
            }
            if (targets.isEmpty())
                return failUpload(
                    u"no approved agent is in the scope of credential %1, so "
                    "nobody could receive it; approve an agent first"_s.arg(fields.credentialId));
        }

        Result<SecureBuffer> payload =
            buildPayload(fields.credentialId, fields.version, salt, secretBytes.view());
        wipe(salt);
        secretBytes.clear();
        if (!payload)
            return failUpload(u"could not build the payload: "_s + payload.error().message);

        const QString uploadId = newUuid();
        QJsonObject envelopes;
        for (const CertifiedAgent *target : std::as_const(targets)) {
            Result<Envelope> envelope = sealEnvelope(*target->encryptionKey, payload->view());
            if (!envelope)
                return failUpload(u"could not seal to agent %1: "_s.arg(target->agentId)
                                  + envelope.error().message);
            Attestation attestation;
            attestation.orgId = fields.orgId;
            attestation.requestId = uploadId;
            attestation.credentialId = fields.credentialId;
            attestation.version = fields.version;
            attestation.revision = fields.revision;
            attestation.statementSha256 = statement->sha256();
            attestation.targetAgentId = target->agentId;
            attestation.targetKeyFingerprint = target->encryptionKeyFingerprint;
            attestation.sourceKind = AttestationSource::Creator;
            attestation.sourceId = m_operatorKey->publicKey().rawBase64();
            attestation.envelopeSha256 = envelope->sha256();
            Result<SignedStatement> signedAttestation = signStatement(
                StatementContext::Attestation, attestation.toFields(), *m_operatorKey);
            if (!signedAttestation)
                return failUpload(
                    u"could not sign the attestation for agent %1: "_s.arg(target->agentId)
                    + signedAttestation.error().message);
            envelopes.insert(target->agentId,
                             QJsonObject { { u"envelope"_s, envelope->toJson() },
                                           { u"attestation"_s, signedAttestation->toJson() } });
        }
        if (!envelopes.isEmpty())
            body.insert(u"envelopes"_s, envelopes);
    }

    const BackendReply reply = request("POST", path, body);
    Upload upload;
    upload.status = reply.status;
    upload.json = reply.json;
    upload.credentialId = fields.credentialId;
    upload.version = fields.version;
    upload.revision = fields.revision;
    if (reply.status != 200 && reply.status != 201)
        fail(u"POST %1 returned %2: %3"_s.arg(path, QString::number(reply.status),
                                              QString::fromUtf8(reply.body)));
    return upload;
}

Upload SyncCluster::createCredential(const QString &name, const QJsonObject &secret,
                                     const QStringList &scopeAgentNames,
                                     std::optional<QStringList> envelopeAgentNames)
{
    std::optional<QStringList> scope = agentIdsOf(scopeAgentNames);
    if (!scope)
        return {};
    scope->sort();

    CredentialStatement fields;
    fields.orgId = m_orgId;
    fields.credentialId = newUuid();
    fields.version = 1;
    fields.revision = 1;
    fields.name = name.normalized(QString::NormalizationForm_C);
    fields.kind = u"password"_s;
    fields.scope = scope->isEmpty() ? CredentialScope::AutoAll : CredentialScope::Explicit;
    fields.agents = *scope;
    fields.deleted = false;
    fields.prevStatementSha256 = QString(u""_s);
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.operatorKey = m_operatorKey->publicKey().raw();
    return uploadStatement(u"/api/credentials"_s, fields, secret, envelopeAgentNames);
}

Upload SyncCluster::rotateCredential(const QString &credentialId, const QJsonObject &secret,
                                     std::optional<QStringList> envelopeAgentNames)
{
    std::optional<CurrentCredential> current = currentCredential(credentialId);
    if (!current)
        return {};
    CredentialStatement fields = current->fields;
    fields.version += 1;
    fields.revision = 1;
    fields.prevStatementSha256 = current->statementSha256;
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.operatorKey = m_operatorKey->publicKey().raw();
    return uploadStatement(u"/api/credentials/%1/rotate"_s.arg(credentialId), fields, secret,
                           envelopeAgentNames);
}

Upload SyncCluster::changeScope(const QString &credentialId, const QStringList &scopeAgentNames)
{
    std::optional<QStringList> scope = agentIdsOf(scopeAgentNames);
    if (!scope)
        return {};
    scope->sort();
    std::optional<CurrentCredential> current = currentCredential(credentialId);
    if (!current)
        return {};
    CredentialStatement fields = current->fields;
    fields.revision += 1;
    fields.scope = scope->isEmpty() ? CredentialScope::AutoAll : CredentialScope::Explicit;
    fields.agents = *scope;
    fields.prevStatementSha256 = current->statementSha256;
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.operatorKey = m_operatorKey->publicKey().raw();
    return uploadStatement(u"/api/credentials/%1/scope"_s.arg(credentialId), fields, std::nullopt,
                           std::nullopt);
}

Upload SyncCluster::deleteCredential(const QString &credentialId)
{
    std::optional<CurrentCredential> current = currentCredential(credentialId);
    if (!current)
        return {};
    CredentialStatement fields = current->fields;
    fields.revision += 1;
    fields.deleted = true;
    fields.prevStatementSha256 = current->statementSha256;
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.operatorKey = m_operatorKey->publicKey().raw();
    return uploadStatement(u"/api/credentials/%1/delete"_s.arg(credentialId), fields, std::nullopt,
                           std::nullopt);
}

// ---- Observations -----------------------------------------------------------------

QJsonObject SyncCluster::credential(const QString &credentialId)
{
    const BackendReply reply = request("GET", u"/api/credentials/"_s + credentialId);
    if (reply.status != 200) {
        fail(u"GET /api/credentials/%1 returned %2"_s.arg(credentialId,
                                                          QString::number(reply.status)));
        return {};
    }
    return reply.json;
}

std::unique_ptr<agent::Vault> SyncCluster::openVault(const QString &agentName)
{
    const AgentEntry *entry = findAgent(agentName);
    if (!entry || entry->scripted) {
        fail(u"no agent process named %1, so there is no vault to read"_s.arg(agentName));
        return nullptr;
    }
    QFile keyFile(entry->keyFile);
    if (!keyFile.open(QIODevice::ReadOnly)) {
        fail(u"could not read %1: %2"_s.arg(entry->keyFile, keyFile.errorString()));
        return nullptr;
    }
    QByteArray keyText = keyFile.readAll();
    Result<SecureBuffer> masterKey = agent::parseMasterKeyText(keyText, entry->keyFile);
    wipe(keyText);
    if (!masterKey) {
        fail(masterKey.error().message);
        return nullptr;
    }
    Result<std::unique_ptr<agent::Vault>> vault =
        agent::Vault::open(QDir(entry->dataDir).filePath(u"vault.db"_s), masterKey->view());
    if (!vault) {
        fail(vault.error().message);
        return nullptr;
    }
    return std::move(vault).value();
}

std::optional<agent::HeldCredential> SyncCluster::vaultCredential(const QString &agentName,
                                                                  const QString &credentialId)
{
    std::unique_ptr<agent::Vault> vault = openVault(agentName);
    if (!vault)
        return std::nullopt;
    Result<std::optional<agent::HeldCredential>> held = vault->findCredential(credentialId);
    if (!held) {
        fail(held.error().message);
        return std::nullopt;
    }
    return held.value();
}

std::optional<QPair<qint64, qint64>> SyncCluster::vaultHolds(const QString &agentName,
                                                             const QString &credentialId)
{
    const std::optional<agent::HeldCredential> held = vaultCredential(agentName, credentialId);
    if (!held || held->state != agent::HeldState::Stored)
        return std::nullopt;
    return qMakePair(held->version, held->revision);
}

QJsonArray SyncCluster::audit(const QString &event)
{
    QJsonArray records;
    QString afterId;
    while (true) {
        QUrlQuery query;
        query.addQueryItem(u"event"_s, event);
        query.addQueryItem(u"limit"_s, u"500"_s);
        if (!afterId.isEmpty())
            query.addQueryItem(u"after_id"_s, afterId);
        const BackendReply page =
            request("GET", u"/api/audit?"_s + query.toString(QUrl::FullyEncoded));
        if (page.status != 200) {
            fail(u"GET /api/audit returned %1: %2"_s.arg(QString::number(page.status),
                                                         QString::fromUtf8(page.body)));
            return records;
        }
        for (const QJsonValue &record : page.json.value(u"records"_s).toArray())
            records.append(record);
        const QJsonValue next = page.json.value(u"next_after_id"_s);
        if (next.isUndefined() || next.isNull())
            return records;
        afterId = QString::number(next.toInteger());
    }
}

QJsonArray SyncCluster::alerts(const QString &type)
{
    QUrlQuery query;
    query.addQueryItem(u"type"_s, type);
    query.addQueryItem(u"limit"_s, u"500"_s);
    const BackendReply reply =
        request("GET", u"/api/alerts?"_s + query.toString(QUrl::FullyEncoded));
    if (reply.status != 200)
        fail(u"GET /api/alerts returned %1: %2"_s.arg(QString::number(reply.status),
                                                      QString::fromUtf8(reply.body)));
    return reply.json.value(u"alerts"_s).toArray();
}

QJsonObject SyncCluster::agent(const QString &name)
{
    const QString id = agentId(name);
    const BackendReply reply = request("GET", u"/api/agents"_s);
    for (const QJsonValue &value : reply.json.value(u"agents"_s).toArray()) {
        const QJsonObject row = value.toObject();
        if (id.isEmpty() ? row.value(u"name"_s).toString() == name
                         : row.value(u"agent_id"_s).toString() == id)
            return row;
    }
    return {};
}

ProcessResult SyncCluster::get(const QString &agentName, const QString &credentialName,
                               const QStringList &extraArguments)
{
    QStringList arguments { u"get"_s, u"--data-dir"_s, dataDir(agentName) };
    arguments += extraArguments;
    arguments.append(credentialName);
    return runAgentCommand(agentName, arguments);
}

} // namespace sealrelay::synctest
