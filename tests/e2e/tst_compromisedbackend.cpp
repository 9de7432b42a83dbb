// A compromised backend against three real sealrelay-agent processes. The
// test process plays the backend and makes credentials as an honest operator
// would. It then substitutes envelopes, redirects rewraps to keys it chose,
// replays old versions and statements, widens scopes and relays another
// backend's challenge. Each attack must be refused with its reason, a log
// line and a local audit row, and `sealrelay-agent get` must then print the
// right secret or none. The console's CredentialsModel is fed the backend's
// false sync claims.
#include "agentcertificates.h"
#include "canonicaljson.h"
#include "credentialcreator.h"
#include "credentialsmodel.h"
#include "hostilebackend.h"
#include "ids.h"
#include "payload.h"
#include "syncverifier.h"
#include "trustedoperators.h"

#include <QDeadlineTimer>
#include <QJsonArray>
#include <QProcess>
#include <QTemporaryDir>
#include <QWebSocket>
#include <QtTest>

#include <algorithm>
#include <map>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::e2etest;

namespace {

const QString kAgentPath = QStringLiteral(SEALRELAY_BINARY_DIR "/agent/sealrelay-agent");
constexpr int kCommandTimeoutMs = 30000;
constexpr int kLogWaitMs = 5000;

template<typename T> T require(Result<T> result, const char *step)
{
    if (!result)
        qFatal("test set-up failed (%s): %s", step, qPrintable(result.error().message));
    return std::move(result).value();
}

struct ProcessResult {
    int exitCode = -1; // -1 when the process crashed or did not finish in time
    QString out;
    QString err;
};

QProcessEnvironment agentEnvironment()
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"info"_s);
    environment.insert(u"SEALRELAY_CONNECTION_RECONNECT_MIN_MS"_s, u"100"_s);
    environment.insert(u"SEALRELAY_CONNECTION_RECONNECT_MAX_MS"_s, u"500"_s);
    environment.insert(u"SEALRELAY_API_MISSING_WAIT_MS"_s, u"3000"_s);
    return environment;
}

// Runs `sealrelay-agent ARGUMENTS` while the event loop keeps running, so
// the hostile backend can reply to the agent while `get` waits.
ProcessResult runAgentCommand(const QStringList &arguments)
{
    QProcess process;
    process.setProcessEnvironment(agentEnvironment());
    process.start(kAgentPath, arguments);
    if (!process.waitForStarted())
        return {};
    QDeadlineTimer deadline(kCommandTimeoutMs);
    while (process.state() != QProcess::NotRunning && !deadline.hasExpired())
        QTest::qWait(20);
    if (process.state() != QProcess::NotRunning) {
        process.kill();
        process.waitForFinished();
        return {};
    }
    return { process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
             QString::fromUtf8(process.readAllStandardOutput()),
             QString::fromUtf8(process.readAllStandardError()) };
}

QJsonObject secretOf(const QString &password)
{
    return QJsonObject { { u"password"_s, password }, { u"username"_s, u"admin"_s } };
}

// The message type and, for a refusal, its reason, for failure messages.
QString describe(const std::optional<AgentMessage> &message)
{
    if (!message)
        return u"no reply"_s;
    QString text = messageType(*message);
    if (const auto *failure = std::get_if<CredentialIntegrityFailure>(&*message))
        text += u" "_s + reasonName(failure->reason);
    if (const auto *refused = std::get_if<RewrapRefused>(&*message))
        text += u" "_s + reasonName(refused->reason);
    if (const auto *error = std::get_if<ErrorMessage>(&*message))
        text += u" "_s + error->message;
    return text;
}

CredentialStatement statementFields(const SignedStatement &statement)
{
    return require(CredentialStatement::fromFields(require(
                       parseStatement(StatementContext::Credential, statement.bytes), "statement")),
                   "statement fields");
}

// A real agent process with its data directory and the backend's record of it.
struct AgentHost {
    QString name;
    QString dataDir;
    QString keyFile;
    QString agentId;
    client::AgentRow row; // as GET /api/agents would list it once approved
    std::unique_ptr<QProcess> process;
    QByteArray log; // stderr of every run
};

// How attack 1 puts another envelope into charlie's delivery to agent c.
enum class Substitution {
    OtherCredential, // bravo's envelope to c with bravo's attestation
    OtherCredentialEnvelope, // bravo's envelope to c, charlie's attestation for c
    OtherAgent, // charlie's envelope to b with its attestation
    OtherAgentEnvelope, // charlie's envelope to b, charlie's attestation for c
    BackendSignedAttestation, // bravo's envelope, attestation signed by the backend's key
    ForgedOperatorAttestation, // the same naming the operator's key as its signer
};

// Which certificate attack 2 gives the peer in place of agent c's.
enum class TargetKey {
    PeersOwnCertificate,
    BackendKeyBackendSigned, // c's id with the backend's RSA key, signed by the backend
    BackendKeyForgedOperator, // the same naming the operator's key as its signer
    LowerGeneration, // generation 1 of c, with a key the backend kept
};

// How attack 4 widens delta's scope (a and b) to include agent c.
enum class Widening {
    AddedAgent, // c added to the agents, the operator's signature kept
    AutoAll, // scope auto_all, the operator's signature kept
    BackendSigned, // c added and signed by the backend's key, named as operator
    ForgedOperatorSignature, // c added and signed by the backend's key, the operator named
};

// The backend's false claim about agent c fed to the console in attack 5.
enum class Claim {
    EveryReceipt, // no lie: alpha, where every agent returned its own receipt
    NoReceipt,
    OtherAgentsReceipt,
    BackendSignedReceipt,
    OtherCredentialsReceipt,
};

} // namespace

Q_DECLARE_METATYPE(Substitution)
Q_DECLARE_METATYPE(TargetKey)
Q_DECLARE_METATYPE(Widening)
Q_DECLARE_METATYPE(Claim)
Q_DECLARE_METATYPE(sealrelay::Reason)
Q_DECLARE_METATYPE(sealrelay::models::AgentSyncStatus)

class CompromisedBackendTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void substitutedEnvelope_data();
    void substitutedEnvelope();
    void foreignTargetKey_data();
    void foreignTargetKey();
    void olderVersionReplay_data();
    void olderVersionReplay();
    void widenedScopeAtPeer_data();
    void widenedScopeAtPeer();
    void widenedScopeAtTarget_data();
    void widenedScopeAtTarget();
    void removedAgentRewrap();
    void removedAgentDelivery();
    void claimedSyncNotGreen_data();
    void claimedSyncNotGreen();
    void omittedAgentNotGreen();
    void relayedChallenge();
    void vaultsAfterAttacks_data();
    void vaultsAfterAttacks();
    void logsHoldNoSecret();

private:
    void enrolAgent(const QString &name, qint64 generation);
    void startAgent(AgentHost &host);
    void stopAgent(AgentHost &host);
    AgentHost &agent(const QString &name) { return m_agents.at(name); }
    QList<client::AgentRow> agentRows() const;

    CredentialStore creatorDelivery(const client::PreparedUpload &upload, const QString &target);
    CredentialStore peerDelivery(const RewrapResponse &response, const SignedStatement &statement,
                                 const QString &peer);
    RewrapRequest rewrapRequest(const SignedStatement &statement, const QString &target,
                                const SignedStatement &targetCertificate);
    // Sends `message` to the agent and returns its reply.
    std::optional<AgentMessage> deliver(const QString &agentName, const AgentMessage &message);
    // Delivers the upload's envelope to `target` and keeps its receipt under
    // `label`; fails the test unless the agent stores it.
    void storeHonestly(const client::PreparedUpload &upload, const QString &target,
                       const QString &label);

    // `get NAME --field password` on the running agent.
    ProcessResult getPassword(const QString &agentName, const QString &credentialName);
    // Lines of the agent's log at `level` that name `reference` and `reason`.
    qsizetype logLines(const QString &agentName, QLatin1StringView level, const QString &reference,
                       const QString &reason) const;
    // Rows of `sealrelay-agent audit` with this severity, event, credential
    // and reason; -1 when the command failed.
    int auditRows(const QString &agentName, QLatin1StringView severity, QLatin1StringView event,
                  const QString &credentialId, Reason reason);
    // Checks a target's refusal of `delivery`: the reply, its signed receipt,
    // the log line at `level` and one more audit row than `auditBefore`.
    void verifyTargetRefusal(const QString &agentName, const CredentialStore &delivery,
                             const std::optional<AgentMessage> &reply, Reason expected,
                             QLatin1StringView level, int auditBefore);
    // Checks a peer's refusal of `request`: rewrap_refused with the reason,
    // a critical log line and one more audit row than `auditBefore`.
    void verifyPeerRefusal(const QString &agentName, const RewrapRequest &request,
                           const std::optional<AgentMessage> &reply, Reason expected,
                           int auditBefore);

    QJsonObject agentJson(const AgentHost &host) const;
    QJsonObject credentialJson(const client::PreparedUpload &upload, const QJsonArray &rows) const;
    QJsonObject storedRow(const QString &credentialId, const QString &agentName,
                          const std::optional<SignedStatement> &receipt) const;

    QTemporaryDir m_dir;
    QString m_orgId;
    QString m_trustedFile;
    std::optional<Ed25519PrivateKey> m_operatorKey;
    std::optional<Ed25519PrivateKey> m_rogueKey; // the compromised backend's own signing key
    std::optional<RsaPrivateKey> m_backendRsaKey; // an RSA key the backend can open
    std::optional<client::TrustedOperators> m_trusted;
    std::optional<client::GenerationRecord> m_generations;
    std::unique_ptr<client::AgentCertificates> m_certificates;
    std::unique_ptr<client::CredentialCreator> m_creator;
    std::unique_ptr<HostileBackend> m_backend;
    std::map<QString, AgentHost> m_agents;

    // Generation 1 of agent c, certifying m_backendRsaKey, signed by the
    // operator before c was re-certified at generation 2.
    std::optional<SignedStatement> m_oldCertificateOfC;

    client::PreparedUpload m_alphaV1;
    client::PreparedUpload m_alphaV2;
    client::PreparedUpload m_bravo;
    client::PreparedUpload m_charlie; // never delivered to c
    client::PreparedUpload m_delta; // explicit scope a and b
    client::PreparedUpload m_echoFirst; // explicit scope a, b and c
    client::PreparedUpload m_echoNarrowed; // revision 2: c removed
    std::optional<CredentialStore> m_alphaV1FromPeer; // as delivered to c through peer a
    std::map<std::pair<QString, QString>, SignedStatement> m_receipts; // by (label, agent name)
};

void CompromisedBackendTest::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(QFileInfo::exists(kAgentPath), qPrintable(kAgentPath));
    m_orgId = newUuid();
    m_operatorKey = require(Ed25519PrivateKey::generate(), "operator key");
    m_rogueKey = require(Ed25519PrivateKey::generate(), "backend signing key");
    m_backendRsaKey = require(RsaPrivateKey::generate(), "backend RSA key");

    m_trustedFile = m_dir.filePath(u"trusted-operators"_s);
    m_trusted = require(client::TrustedOperators::load(m_trustedFile), "trusted operators");
    QVERIFY(m_trusted->add(m_operatorKey->publicKey()).ok());
    m_generations = client::GenerationRecord::inMemory();
    m_certificates =
        std::make_unique<client::AgentCertificates>(*m_trusted, m_orgId, *m_generations);
    m_creator =
        std::make_unique<client::CredentialCreator>(*m_operatorKey, *m_certificates, *m_trusted);

    m_backend = std::make_unique<HostileBackend>(m_orgId);
    QVERIFY(m_backend->listen());

    enrolAgent(u"a"_s, 1);
    enrolAgent(u"b"_s, 1);
    // c was re-keyed once: generation 1 certified a key the backend kept.
    enrolAgent(u"c"_s, 2);
    if (QTest::currentTestFailed())
        return;
    AgentCertificate old = require(
        AgentCertificate::fromFields(require(parseStatement(StatementContext::AgentCertificate,
                                                            agent(u"c"_s).row.certificate->bytes),
                                             "certificate")),
        "certificate fields");
    old.generation = 1;
    old.encryptionKey = m_backendRsaKey->publicKey().spkiDer();
    old.issuedAt = old.issuedAt.addDays(-30);
    m_oldCertificateOfC =
        require(signStatement(StatementContext::AgentCertificate, old.toFields(), *m_operatorKey),
                "old certificate");

    // alpha (auto_all): a and b get version 1 from the creator and c gets it
    // through a rewrap by a, which shows a generation 2 of c to a. Version 2
    // then goes to all three.
    m_alphaV1 = require(m_creator->create({ QString(), u"alpha"_s, u"password"_s, {} },
                                          secretOf(u"alpha-v1"_s), agentRows()),
                        "alpha");
    storeHonestly(m_alphaV1, u"a"_s, u"alpha v1"_s);
    storeHonestly(m_alphaV1, u"b"_s, u"alpha v1"_s);
    const RewrapRequest rewrap =
        rewrapRequest(m_alphaV1.signedStatement, u"c"_s, *agent(u"c"_s).row.certificate);
    const std::optional<AgentMessage> rewrapped = deliver(u"a"_s, rewrap);
    QVERIFY2(rewrapped && std::holds_alternative<RewrapResponse>(*rewrapped),
             qPrintable(describe(rewrapped)));
    m_alphaV1FromPeer =
        peerDelivery(std::get<RewrapResponse>(*rewrapped), m_alphaV1.signedStatement, u"a"_s);
    const std::optional<AgentMessage> storedFromPeer = deliver(u"c"_s, *m_alphaV1FromPeer);
    QVERIFY2(storedFromPeer && std::holds_alternative<CredentialStored>(*storedFromPeer),
             qPrintable(describe(storedFromPeer)));
    m_receipts[{ u"alpha v1"_s, u"c"_s }] = std::get<CredentialStored>(*storedFromPeer).receipt;
    if (QTest::currentTestFailed())
        return;

    m_alphaV2 =
        require(m_creator->rotate(m_alphaV1.signedStatement, secretOf(u"alpha-v2"_s), agentRows()),
                "alpha version 2");
    for (const QString &name : { u"a"_s, u"b"_s, u"c"_s })
        storeHonestly(m_alphaV2, name, u"alpha v2"_s);

    m_bravo = require(m_creator->create({ QString(), u"bravo"_s, u"password"_s, {} },
                                        secretOf(u"bravo-v1"_s), agentRows()),
                      "bravo");
    for (const QString &name : { u"a"_s, u"b"_s, u"c"_s })
        storeHonestly(m_bravo, name, u"bravo"_s);

    // charlie is in c's scope, but the backend withholds c's envelope.
    m_charlie = require(m_creator->create({ QString(), u"charlie"_s, u"password"_s, {} },
                                          secretOf(u"charlie-v1"_s), agentRows()),
                        "charlie");
    storeHonestly(m_charlie, u"a"_s, u"charlie"_s);
    storeHonestly(m_charlie, u"b"_s, u"charlie"_s);
    if (QTest::currentTestFailed())
        return;

    m_delta = require(m_creator->create({ QString(),
                                          u"delta"_s,
                                          u"password"_s,
                                          { agent(u"a"_s).agentId, agent(u"b"_s).agentId } },
                                        secretOf(u"delta-v1"_s), agentRows()),
                      "delta");
    storeHonestly(m_delta, u"a"_s, u"delta"_s);
    storeHonestly(m_delta, u"b"_s, u"delta"_s);

    // echo names all three, then a scope change removes c, which purges it.
    m_echoFirst = require(m_creator->create({ QString(),
                                              u"echo"_s,
                                              u"password"_s,
                                              { agent(u"a"_s).agentId, agent(u"b"_s).agentId,
                                                agent(u"c"_s).agentId } },
                                            secretOf(u"echo-v1"_s), agentRows()),
                          "echo");
    for (const QString &name : { u"a"_s, u"b"_s, u"c"_s })
        storeHonestly(m_echoFirst, name, u"echo"_s);
    m_echoNarrowed =
        require(m_creator->changeScope(m_echoFirst.signedStatement,
                                       { agent(u"a"_s).agentId, agent(u"b"_s).agentId }),
                "echo scope change");
    for (const QString &name : { u"a"_s, u"b"_s, u"c"_s }) {
        const StatementUpdate update { newUuid(), newUuid(), m_echoNarrowed.statement.credentialId,
                                       m_echoNarrowed.signedStatement };
        const std::optional<AgentMessage> applied = deliver(name, update);
        QVERIFY2(applied && std::holds_alternative<StatementApplied>(*applied),
                 qPrintable(describe(applied)));
    }
    const ProcessResult purged = getPassword(u"c"_s, u"echo"_s);
    QVERIFY2(purged.exitCode == 3, qPrintable(purged.err));
}

void CompromisedBackendTest::cleanupTestCase()
{
    for (auto &[name, host] : m_agents)
        stopAgent(host);
}

void CompromisedBackendTest::enrolAgent(const QString &name, qint64 generation)
{
    AgentHost &host = m_agents[name];
    host.name = name;
    host.dataDir = m_dir.filePath(name);
    host.keyFile = m_dir.filePath(name + u".key"_s);
    const ProcessResult init = runAgentCommand(
        { u"init"_s, u"--data-dir"_s, host.dataDir, u"--backend"_s, m_backend->origin(),
          u"--enrolment-token"_s, u"token-"_s + name, u"--trusted-operators"_s, m_trustedFile,
          u"--name"_s, name, u"--vault-key-file"_s, host.keyFile });
    QVERIFY2(init.exitCode == 0, qPrintable(init.err));
    const ProcessResult printed =
        runAgentCommand({ u"fingerprint"_s, u"--data-dir"_s, host.dataDir });
    QVERIFY2(printed.exitCode == 0, qPrintable(printed.err));

    startAgent(host);
    const std::optional<Enrol> enrol = m_backend->waitForEnrol(name);
    QVERIFY2(enrol,
             qPrintable(u"agent %1 did not enrol: %2"_s.arg(name, QString::fromUtf8(host.log))));

    // The operator approves the keys the backend relays only after typing
    // the fingerprint the agent printed on its host.
    client::AgentRow row;
    row.agentId = enrol->agentId;
    row.name = name;
    row.status = u"pending_approval"_s;
    row.encryptionKey = enrol->encryptionKey;
    row.identityKey = enrol->identityKey;
    const Result<SignedStatement> certificate =
        m_certificates->certify(row, printed.out, generation, *m_operatorKey);
    QVERIFY2(certificate.ok(),
             qPrintable(certificate.ok() ? QString() : certificate.error().message));
    QVERIFY(m_generations->raise(row.agentId, generation).ok());
    QVERIFY(m_backend->approve(row.agentId, certificate.value()));
    QVERIFY2(m_backend->waitFor(row.agentId, Register::type),
             qPrintable(u"agent %1 did not register: %2"_s.arg(name, QString::fromUtf8(host.log))));

    row.status = u"approved"_s;
    row.certificate = certificate.value();
    row.generation = generation;
    host.agentId = row.agentId;
    host.row = row;
}

void CompromisedBackendTest::startAgent(AgentHost &host)
{
    host.process = std::make_unique<QProcess>();
    host.process->setProcessEnvironment(agentEnvironment());
    QProcess *process = host.process.get();
    connect(process, &QProcess::readyReadStandardError, this,
            [&host, process] { host.log += process->readAllStandardError(); });
    process->start(kAgentPath, { u"run"_s, u"--data-dir"_s, host.dataDir });
    QVERIFY(process->waitForStarted());
}

void CompromisedBackendTest::stopAgent(AgentHost &host)
{
    if (!host.process || host.process->state() == QProcess::NotRunning)
        return;
    host.process->terminate();
    if (!host.process->waitForFinished(10000)) {
        host.process->kill();
        host.process->waitForFinished();
    }
}

QList<client::AgentRow> CompromisedBackendTest::agentRows() const
{
    QList<client::AgentRow> rows;
    for (const auto &[name, host] : m_agents)
        rows.append(host.row);
    return rows;
}

CredentialStore CompromisedBackendTest::creatorDelivery(const client::PreparedUpload &upload,
                                                        const QString &target)
{
    const QJsonObject entry =
        upload.body.value(u"envelopes"_s).toObject().value(agent(target).agentId).toObject();
    CredentialStore message;
    message.id = newUuid();
    message.deliveryId = newUuid();
    message.credentialId = upload.statement.credentialId;
    message.statement = upload.signedStatement;
    message.envelope = require(Envelope::fromJson(entry.value(u"envelope"_s).toObject()),
                               "envelope of the upload");
    message.attestation =
        require(SignedStatement::fromJson(entry.value(u"attestation"_s), u"attestation"),
                "attestation of the upload");
    message.source.kind = AttestationSource::Creator;
    message.source.operatorKey = m_operatorKey->publicKey().raw();
    return message;
}

CredentialStore CompromisedBackendTest::peerDelivery(const RewrapResponse &response,
                                                     const SignedStatement &statement,
                                                     const QString &peer)
{
    CredentialStore message;
    message.id = newUuid();
    message.deliveryId = newUuid();
    message.credentialId = response.credentialId;
    message.statement = statement;
    message.envelope = response.envelope;
    message.attestation = response.attestation;
    message.source.kind = AttestationSource::Peer;
    message.source.agentId = agent(peer).agentId;
    message.source.certificate = *agent(peer).row.certificate;
    return message;
}

RewrapRequest CompromisedBackendTest::rewrapRequest(const SignedStatement &statement,
                                                    const QString &target,
                                                    const SignedStatement &targetCertificate)
{
    const CredentialStatement fields = statementFields(statement);
    RewrapRequest request;
    request.id = newUuid();
    request.requestId = newUuid();
    request.credentialId = fields.credentialId;
    request.version = fields.version;
    request.targetAgentId = agent(target).agentId;
    request.targetCertificate = targetCertificate;
    request.statement = statement;
    return request;
}

std::optional<AgentMessage> CompromisedBackendTest::deliver(const QString &agentName,
                                                            const AgentMessage &message)
{
    const QString agentId = agent(agentName).agentId;
    if (!m_backend->send(agentId, message))
        return std::nullopt;
    return m_backend->waitForReply(agentId, message);
}

void CompromisedBackendTest::storeHonestly(const client::PreparedUpload &upload,
                                           const QString &target, const QString &label)
{
    const std::optional<AgentMessage> reply = deliver(target, creatorDelivery(upload, target));
    QVERIFY2(reply && std::holds_alternative<CredentialStored>(*reply),
             qPrintable(u"%1 to agent %2: %3"_s.arg(label, target, describe(reply))));
    m_receipts[{ label, target }] = std::get<CredentialStored>(*reply).receipt;
}

ProcessResult CompromisedBackendTest::getPassword(const QString &agentName,
                                                  const QString &credentialName)
{
    return runAgentCommand({ u"get"_s, u"--data-dir"_s, agent(agentName).dataDir, credentialName,
                             u"--field"_s, u"password"_s });
}

qsizetype CompromisedBackendTest::logLines(const QString &agentName, QLatin1StringView level,
                                           const QString &reference, const QString &reason) const
{
    // Lines read "<time> <level padded to 8> <logger>: <text>".
    const QString levelField = u" "_s + QString(level).leftJustified(8) + u" "_s;
    qsizetype count = 0;
    for (const QString &line : QString::fromUtf8(m_agents.at(agentName).log).split(u'\n')) {
        if (line.contains(levelField) && line.contains(reference) && line.contains(reason))
            ++count;
    }
    return count;
}

int CompromisedBackendTest::auditRows(const QString &agentName, QLatin1StringView severity,
                                      QLatin1StringView event, const QString &credentialId,
                                      Reason reason)
{
    const ProcessResult audit =
        runAgentCommand({ u"audit"_s, u"--data-dir"_s, agent(agentName).dataDir });
    if (audit.exitCode != 0)
        return -1;
    const QString row = u" %1 %2 credential=%3 "_s.arg(severity, event, credentialId);
    const QString reasonField = u" reason=%1"_s.arg(reasonName(reason));
    int count = 0;
    for (const QString &line : audit.out.split(u'\n')) {
        if (line.contains(row) && line.contains(reasonField))
            ++count;
    }
    return count;
}

void CompromisedBackendTest::verifyTargetRefusal(const QString &agentName,
                                                 const CredentialStore &delivery,
                                                 const std::optional<AgentMessage> &reply,
                                                 Reason expected, QLatin1StringView level,
                                                 int auditBefore)
{
    QVERIFY2(reply, "the agent did not reply to the credential_store");
    QVERIFY2(std::holds_alternative<CredentialIntegrityFailure>(*reply),
             qPrintable(u"the agent replied %1"_s.arg(describe(reply))));
    const auto &failure = std::get<CredentialIntegrityFailure>(*reply);
    QCOMPARE(reasonName(failure.reason), reasonName(expected));
    QCOMPARE(failure.attestation.bytes, delivery.attestation.bytes);

    const Ed25519PublicKey identityKey =
        require(Ed25519PublicKey::fromRaw(agent(agentName).row.identityKey), "identity key");
    const Result<QJsonObject> receiptFields =
        verifyStatement(StatementContext::Receipt, failure.receipt, identityKey);
    QVERIFY2(receiptFields.ok(), "the refusal's receipt does not verify under the agent's key");
    const Receipt receipt = require(Receipt::fromFields(receiptFields.value()), "receipt");
    QCOMPARE(receipt.agentId, agent(agentName).agentId);
    QCOMPARE(receipt.state, ReceiptState::Refused);
    QCOMPARE(receipt.reason, reasonName(expected));

    QTRY_COMPARE_WITH_TIMEOUT(logLines(agentName, level, delivery.deliveryId, reasonName(expected)),
                              qsizetype(1), kLogWaitMs);
    const QLatin1StringView severity = level == "critical"_L1 ? "critical"_L1 : "info"_L1;
    QCOMPARE(
        auditRows(agentName, severity, "credential_refused"_L1, delivery.credentialId, expected),
        auditBefore + 1);
}

void CompromisedBackendTest::verifyPeerRefusal(const QString &agentName,
                                               const RewrapRequest &request,
                                               const std::optional<AgentMessage> &reply,
                                               Reason expected, int auditBefore)
{
    QVERIFY2(reply, "the peer did not reply to the rewrap_request");
    // A rewrap_response here would be the secret sealed for the backend's pick.
    QVERIFY2(!std::holds_alternative<RewrapResponse>(*reply),
             "the peer sealed the secret and replied rewrap_response");
    QVERIFY2(std::holds_alternative<RewrapRefused>(*reply),
             qPrintable(u"the peer replied %1"_s.arg(describe(reply))));
    const auto &refused = std::get<RewrapRefused>(*reply);
    QCOMPARE(reasonName(refused.reason), reasonName(expected));
    QCOMPARE(refused.targetAgentId, request.targetAgentId);
    for (const AgentMessage &later : m_backend->queued(agent(agentName).agentId))
        QVERIFY2(referenceOf(later) != request.requestId,
                 qPrintable(u"the peer also sent %1 for the request"_s.arg(messageType(later))));

    QTRY_COMPARE_WITH_TIMEOUT(
        logLines(agentName, "critical"_L1, request.requestId, reasonName(expected)), qsizetype(1),
        kLogWaitMs);
    QCOMPARE(
        auditRows(agentName, "critical"_L1, "rewrap_refused"_L1, request.credentialId, expected),
        auditBefore + 1);
}

// ---- 1. Another credential's envelope in a credential_store ----------------

void CompromisedBackendTest::substitutedEnvelope_data()
{
    QTest::addColumn<Substitution>("substitution");
    QTest::addColumn<Reason>("expected");

    QTest::newRow("other credential") << Substitution::OtherCredential << Reason::IdMismatch;
    QTest::newRow("other credential envelope")
        << Substitution::OtherCredentialEnvelope << Reason::BadAttestation;
    QTest::newRow("other agent") << Substitution::OtherAgent << Reason::IdMismatch;
    QTest::newRow("other agent envelope")
        << Substitution::OtherAgentEnvelope << Reason::BadAttestation;
    QTest::newRow("backend-signed attestation")
        << Substitution::BackendSignedAttestation << Reason::BadAttestation;
    QTest::newRow("forged operator attestation")
        << Substitution::ForgedOperatorAttestation << Reason::BadAttestation;
}

void CompromisedBackendTest::substitutedEnvelope()
{
    QFETCH(Substitution, substitution);
    QFETCH(Reason, expected);

    CredentialStore delivery = creatorDelivery(m_charlie, u"c"_s);
    const CredentialStore bravoToC = creatorDelivery(m_bravo, u"c"_s);
    const CredentialStore charlieToB = creatorDelivery(m_charlie, u"b"_s);
    switch (substitution) {
    case Substitution::OtherCredential:
        delivery.envelope = bravoToC.envelope;
        delivery.attestation = bravoToC.attestation;
        break;
    case Substitution::OtherCredentialEnvelope:
        delivery.envelope = bravoToC.envelope;
        break;
    case Substitution::OtherAgent:
        delivery.envelope = charlieToB.envelope;
        delivery.attestation = charlieToB.attestation;
        break;
    case Substitution::OtherAgentEnvelope:
        delivery.envelope = charlieToB.envelope;
        break;
    case Substitution::BackendSignedAttestation:
    case Substitution::ForgedOperatorAttestation: {
        Attestation fields =
            require(Attestation::fromFields(require(
                        parseStatement(StatementContext::Attestation, delivery.attestation.bytes),
                        "attestation")),
                    "attestation fields");
        fields.envelopeSha256 = bravoToC.envelope.sha256();
        if (substitution == Substitution::BackendSignedAttestation) {
            fields.sourceId = m_rogueKey->publicKey().rawBase64();
            delivery.source.operatorKey = m_rogueKey->publicKey().raw();
        }
        delivery.envelope = bravoToC.envelope;
        delivery.attestation =
            require(signStatement(StatementContext::Attestation, fields.toFields(), *m_rogueKey),
                    "attestation");
        break;
    }
    }

    const int auditBefore =
        auditRows(u"c"_s, "critical"_L1, "credential_refused"_L1, delivery.credentialId, expected);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"c"_s, delivery);
    verifyTargetRefusal(u"c"_s, delivery, reply, expected, "critical"_L1, auditBefore);
    if (QTest::currentTestFailed())
        return;

    // c stores neither charlie nor another value of bravo.
    const ProcessResult charlie = getPassword(u"c"_s, u"charlie"_s);
    QCOMPARE(charlie.exitCode, 4);
    QCOMPARE(charlie.out, QString());
    const ProcessResult bravo = getPassword(u"c"_s, u"bravo"_s);
    QCOMPARE(bravo.exitCode, 0);
    QCOMPARE(bravo.out.trimmed(), u"bravo-v1"_s);
}

// ---- 2. A target key of the backend's choosing -----------------------------

void CompromisedBackendTest::foreignTargetKey_data()
{
    QTest::addColumn<TargetKey>("targetKey");

    QTest::newRow("peer's own certificate") << TargetKey::PeersOwnCertificate;
    QTest::newRow("backend key, backend-signed") << TargetKey::BackendKeyBackendSigned;
    QTest::newRow("backend key, forged operator") << TargetKey::BackendKeyForgedOperator;
    QTest::newRow("lower generation") << TargetKey::LowerGeneration;
}

void CompromisedBackendTest::foreignTargetKey()
{
    QFETCH(TargetKey, targetKey);

    SignedStatement certificate;
    AgentCertificate forged = require(
        AgentCertificate::fromFields(require(parseStatement(StatementContext::AgentCertificate,
                                                            agent(u"c"_s).row.certificate->bytes),
                                             "certificate")),
        "certificate fields");
    forged.generation = 3;
    forged.encryptionKey = m_backendRsaKey->publicKey().spkiDer();
    switch (targetKey) {
    case TargetKey::PeersOwnCertificate:
        certificate = *agent(u"a"_s).row.certificate;
        break;
    case TargetKey::BackendKeyBackendSigned:
        forged.operatorKey = m_rogueKey->publicKey().raw();
        certificate = require(
            signStatement(StatementContext::AgentCertificate, forged.toFields(), *m_rogueKey),
            "forged certificate");
        break;
    case TargetKey::BackendKeyForgedOperator:
        certificate = require(
            signStatement(StatementContext::AgentCertificate, forged.toFields(), *m_rogueKey),
            "forged certificate");
        break;
    case TargetKey::LowerGeneration:
        // Peer a saw generation 2 of c when it rewrapped alpha version 1.
        certificate = *m_oldCertificateOfC;
        break;
    }

    const RewrapRequest request = rewrapRequest(m_alphaV2.signedStatement, u"c"_s, certificate);
    const int auditBefore = auditRows(u"a"_s, "critical"_L1, "rewrap_refused"_L1,
                                      request.credentialId, Reason::UntrustedTargetKey);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"a"_s, request);
    verifyPeerRefusal(u"a"_s, request, reply, Reason::UntrustedTargetKey, auditBefore);
    if (QTest::currentTestFailed())
        return;

    const ProcessResult alpha = getPassword(u"c"_s, u"alpha"_s);
    QCOMPARE(alpha.exitCode, 0);
    QCOMPARE(alpha.out.trimmed(), u"alpha-v2"_s);
}

// ---- 3. An older version after a newer one ---------------------------------

void CompromisedBackendTest::olderVersionReplay_data()
{
    QTest::addColumn<bool>("fromPeer");

    QTest::newRow("creator's envelope") << false;
    QTest::newRow("peer's envelope") << true;
}

void CompromisedBackendTest::olderVersionReplay()
{
    QFETCH(bool, fromPeer);

    CredentialStore delivery = fromPeer ? *m_alphaV1FromPeer : creatorDelivery(m_alphaV1, u"c"_s);
    delivery.id = newUuid();
    delivery.deliveryId = newUuid();

    // A newer version already stored makes this SUPERSEDED, a harmless race
    // for the agent, which logs and audits it at info.
    const int auditBefore = auditRows(u"c"_s, "info"_L1, "credential_refused"_L1,
                                      delivery.credentialId, Reason::Superseded);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"c"_s, delivery);
    verifyTargetRefusal(u"c"_s, delivery, reply, Reason::Superseded, "info"_L1, auditBefore);
    if (QTest::currentTestFailed())
        return;

    const ProcessResult alpha = getPassword(u"c"_s, u"alpha"_s);
    QCOMPARE(alpha.exitCode, 0);
    QCOMPARE(alpha.out.trimmed(), u"alpha-v2"_s);
}

// ---- 4. A widened scope, and a statement naming a removed agent -------------

namespace {

// delta's statement with c in scope, signed as `widening` selects.
SignedStatement widenedStatement(const client::PreparedUpload &delta, const QString &addedAgentId,
                                 Widening widening, const Ed25519PrivateKey &backendKey)
{
    CredentialStatement fields = delta.statement;
    if (widening == Widening::AutoAll) {
        fields.scope = CredentialScope::AutoAll;
        fields.agents.clear();
    } else {
        fields.agents.append(addedAgentId);
        fields.agents.sort();
    }
    switch (widening) {
    case Widening::AddedAgent:
    case Widening::AutoAll:
        return { require(canonicalJson(fields.toFields()), "statement bytes"),
                 delta.signedStatement.signature };
    case Widening::BackendSigned:
        fields.operatorKey = backendKey.publicKey().raw();
        break;
    case Widening::ForgedOperatorSignature:
        break;
    }
    return require(signStatement(StatementContext::Credential, fields.toFields(), backendKey),
                   "widened statement");
}

} // namespace

void CompromisedBackendTest::widenedScopeAtPeer_data()
{
    QTest::addColumn<Widening>("widening");

    QTest::newRow("agent added") << Widening::AddedAgent;
    QTest::newRow("auto_all") << Widening::AutoAll;
    QTest::newRow("backend-signed") << Widening::BackendSigned;
    QTest::newRow("forged operator signature") << Widening::ForgedOperatorSignature;
}

void CompromisedBackendTest::widenedScopeAtPeer()
{
    QFETCH(Widening, widening);

    const SignedStatement statement =
        widenedStatement(m_delta, agent(u"c"_s).agentId, widening, *m_rogueKey);
    const RewrapRequest request = rewrapRequest(statement, u"c"_s, *agent(u"c"_s).row.certificate);
    // The peer reports an untrusted signer as BAD_STATEMENT too.
    const int auditBefore = auditRows(u"a"_s, "critical"_L1, "rewrap_refused"_L1,
                                      request.credentialId, Reason::BadStatement);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"a"_s, request);
    verifyPeerRefusal(u"a"_s, request, reply, Reason::BadStatement, auditBefore);
    if (QTest::currentTestFailed())
        return;

    const ProcessResult delta = getPassword(u"c"_s, u"delta"_s);
    QCOMPARE(delta.exitCode, 4);
    QCOMPARE(delta.out, QString());
}

void CompromisedBackendTest::widenedScopeAtTarget_data()
{
    QTest::addColumn<Widening>("widening");
    QTest::addColumn<Reason>("expected");

    QTest::newRow("agent added") << Widening::AddedAgent << Reason::BadStatement;
    QTest::newRow("auto_all") << Widening::AutoAll << Reason::BadStatement;
    QTest::newRow("backend-signed") << Widening::BackendSigned << Reason::UntrustedOperator;
    QTest::newRow("forged operator signature")
        << Widening::ForgedOperatorSignature << Reason::BadStatement;
}

void CompromisedBackendTest::widenedScopeAtTarget()
{
    QFETCH(Widening, widening);
    QFETCH(Reason, expected);

    // The backend seals a value of its own to c, with its own commitment
    // where it signs the statement itself, and attests it with its own key.
    const QByteArray salt = generateSalt();
    const QByteArray secretBytes = R"({"password":"chosen-by-backend","username":"admin"})";
    client::PreparedUpload delta = m_delta;
    if (widening == Widening::BackendSigned || widening == Widening::ForgedOperatorSignature)
        delta.statement.commitment = require(computeCommitment(salt, secretBytes), "commitment");
    const SignedStatement statement =
        widenedStatement(delta, agent(u"c"_s).agentId, widening, *m_rogueKey);
    const SecureBuffer payload = require(
        buildPayload(delta.statement.credentialId, delta.statement.version, salt, secretBytes),
        "payload");
    const RsaPublicKey targetKey =
        require(RsaPublicKey::fromSpkiDer(agent(u"c"_s).row.encryptionKey), "target key");

    CredentialStore delivery;
    delivery.id = newUuid();
    delivery.deliveryId = newUuid();
    delivery.credentialId = delta.statement.credentialId;
    delivery.statement = statement;
    delivery.envelope = require(sealEnvelope(targetKey, payload.view()), "envelope");
    delivery.attestation = require(
        client::signCreatorAttestation(delta.statement, statement, newUuid(), agent(u"c"_s).agentId,
                                       targetKey.fingerprint(), delivery.envelope, *m_rogueKey),
        "attestation");
    delivery.source.kind = AttestationSource::Creator;
    delivery.source.operatorKey = m_rogueKey->publicKey().raw();

    const int auditBefore =
        auditRows(u"c"_s, "critical"_L1, "credential_refused"_L1, delivery.credentialId, expected);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"c"_s, delivery);
    verifyTargetRefusal(u"c"_s, delivery, reply, expected, "critical"_L1, auditBefore);
    if (QTest::currentTestFailed())
        return;

    const ProcessResult stored = getPassword(u"c"_s, u"delta"_s);
    QCOMPARE(stored.exitCode, 4);
    QCOMPARE(stored.out, QString());
}

void CompromisedBackendTest::removedAgentRewrap()
{
    // a stores echo at revision 2, which removed c. Revision 1 still names c.
    const RewrapRequest request =
        rewrapRequest(m_echoFirst.signedStatement, u"c"_s, *agent(u"c"_s).row.certificate);
    const int auditBefore = auditRows(u"a"_s, "critical"_L1, "rewrap_refused"_L1,
                                      request.credentialId, Reason::StaleStatement);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"a"_s, request);
    verifyPeerRefusal(u"a"_s, request, reply, Reason::StaleStatement, auditBefore);
    if (QTest::currentTestFailed())
        return;

    // c keeps the tombstone: deleted or out of scope is exit 3.
    const ProcessResult echo = getPassword(u"c"_s, u"echo"_s);
    QCOMPARE(echo.exitCode, 3);
    QCOMPARE(echo.out, QString());
}

void CompromisedBackendTest::removedAgentDelivery()
{
    // Revision 1's envelope to c, which c stored before revision 2 purged it.
    CredentialStore delivery = creatorDelivery(m_echoFirst, u"c"_s);
    const int auditBefore = auditRows(u"c"_s, "info"_L1, "credential_refused"_L1,
                                      delivery.credentialId, Reason::Superseded);
    QVERIFY(auditBefore >= 0);
    const std::optional<AgentMessage> reply = deliver(u"c"_s, delivery);
    verifyTargetRefusal(u"c"_s, delivery, reply, Reason::Superseded, "info"_L1, auditBefore);
    if (QTest::currentTestFailed())
        return;

    const ProcessResult echo = getPassword(u"c"_s, u"echo"_s);
    QCOMPARE(echo.exitCode, 3);
    QCOMPARE(echo.out, QString());
}

// ---- 5. "Synced" claimed for an agent that never stored ---------------------

QJsonObject CompromisedBackendTest::agentJson(const AgentHost &host) const
{
    return QJsonObject {
        { u"agent_id"_s, host.agentId },
        { u"name"_s, host.name },
        { u"status"_s, u"approved"_s },
        { u"encryption_key"_s, QString::fromLatin1(host.row.encryptionKey.toBase64()) },
        { u"identity_key"_s, QString::fromLatin1(host.row.identityKey.toBase64()) },
        { u"certificate"_s, host.row.certificate->toJson() },
        { u"generation"_s, host.row.generation },
        { u"last_seen"_s, formatTimestamp(QDateTime::currentDateTimeUtc()) },
        { u"sync"_s, QJsonObject { { u"connection"_s, u"online"_s } } },
    };
}

QJsonObject CompromisedBackendTest::storedRow(const QString &credentialId, const QString &agentName,
                                              const std::optional<SignedStatement> &receipt) const
{
    return QJsonObject {
        { u"credential_id"_s, credentialId },
        { u"agent_id"_s, m_agents.at(agentName).agentId },
        { u"secret_stored"_s, true },
        { u"attempts"_s, 0 },
        { u"last_error"_s, QJsonValue::Null },
        { u"stalled"_s, false },
        { u"receipt"_s, receipt ? QJsonValue(receipt->toJson()) : QJsonValue(QJsonValue::Null) },
    };
}

QJsonObject CompromisedBackendTest::credentialJson(const client::PreparedUpload &upload,
                                                   const QJsonArray &rows) const
{
    const QString now = formatTimestamp(QDateTime::currentDateTimeUtc());
    // The backend's summary claims every listed agent delivered.
    return QJsonObject {
        { u"credential_id"_s, upload.statement.credentialId },
        { u"name"_s, upload.statement.name },
        { u"kind"_s, upload.statement.kind },
        { u"version"_s, upload.statement.version },
        { u"revision"_s, upload.statement.revision },
        { u"scope"_s, u"auto_all"_s },
        { u"scope_agent_ids"_s, QJsonArray() },
        { u"state"_s, u"active"_s },
        { u"statement"_s, upload.signedStatement.toJson() },
        { u"statement_sha256"_s, upload.signedStatement.sha256() },
        { u"created_at"_s, now },
        { u"updated_at"_s, now },
        { u"sync"_s,
          QJsonObject { { u"in_scope"_s, rows.size() },
                        { u"delivered"_s, rows.size() },
                        { u"pending"_s, 0 },
                        { u"failed"_s, 0 },
                        { u"stalled"_s, 0 } } },
        { u"agents"_s, rows },
    };
}

void CompromisedBackendTest::claimedSyncNotGreen_data()
{
    QTest::addColumn<Claim>("claim");
    QTest::addColumn<int>("chip");
    QTest::addColumn<QString>("chipText");
    QTest::addColumn<int>("synced");
    QTest::addColumn<int>("unverified");
    QTest::addColumn<models::AgentSyncStatus>("statusOfC");

    QTest::newRow("every receipt")
        << Claim::EveryReceipt << int(models::SyncChip::Synced) << u"✓ 3/3 synced"_s << 3 << 0
        << models::AgentSyncStatus::Synced;
    QTest::newRow("no receipt") << Claim::NoReceipt << int(models::SyncChip::Partial)
                                << u"⚠ 2/3 synced"_s << 2 << 1
                                << models::AgentSyncStatus::PendingUnverified;
    QTest::newRow("other agent's receipt")
        << Claim::OtherAgentsReceipt << int(models::SyncChip::Partial) << u"⚠ 2/3 synced"_s << 2
        << 1 << models::AgentSyncStatus::PendingUnverified;
    QTest::newRow("backend-signed receipt")
        << Claim::BackendSignedReceipt << int(models::SyncChip::Partial) << u"⚠ 2/3 synced"_s << 2
        << 1 << models::AgentSyncStatus::PendingUnverified;
    QTest::newRow("other credential's receipt")
        << Claim::OtherCredentialsReceipt << int(models::SyncChip::Partial) << u"⚠ 2/3 synced"_s
        << 2 << 1 << models::AgentSyncStatus::PendingUnverified;
}

void CompromisedBackendTest::claimedSyncNotGreen()
{
    QFETCH(Claim, claim);
    QFETCH(int, chip);
    QFETCH(QString, chipText);
    QFETCH(int, synced);
    QFETCH(int, unverified);
    QFETCH(models::AgentSyncStatus, statusOfC);

    // The console verifies with its own pinned keys and generation record.
    client::GenerationRecord generations = client::GenerationRecord::inMemory();
    client::AgentCertificates certificates(*m_trusted, m_orgId, generations);
    models::SyncVerifier verifier(*m_trusted, certificates);
    models::CredentialsModel model(verifier);

    const client::PreparedUpload &upload = claim == Claim::EveryReceipt ? m_alphaV2 : m_charlie;
    const QString label = claim == Claim::EveryReceipt ? u"alpha v2"_s : u"charlie"_s;
    const QString credentialId = upload.statement.credentialId;
    QJsonArray rows;
    rows.append(storedRow(credentialId, u"a"_s, m_receipts.at({ label, u"a"_s })));
    rows.append(storedRow(credentialId, u"b"_s, m_receipts.at({ label, u"b"_s })));

    std::optional<SignedStatement> receiptOfC;
    switch (claim) {
    case Claim::EveryReceipt:
        receiptOfC = m_receipts.at({ label, u"c"_s });
        break;
    case Claim::NoReceipt:
        break;
    case Claim::OtherAgentsReceipt:
        receiptOfC = m_receipts.at({ label, u"a"_s });
        break;
    case Claim::BackendSignedReceipt: {
        Receipt fields = require(
            Receipt::fromFields(require(
                parseStatement(StatementContext::Receipt, m_receipts.at({ label, u"a"_s }).bytes),
                "receipt")),
            "receipt fields");
        fields.agentId = agent(u"c"_s).agentId;
        receiptOfC =
            require(signStatement(StatementContext::Receipt, fields.toFields(), *m_rogueKey),
                    "backend receipt");
        break;
    }
    case Claim::OtherCredentialsReceipt:
        receiptOfC = m_receipts.at({ u"bravo"_s, u"c"_s });
        break;
    }
    rows.append(storedRow(credentialId, u"c"_s, receiptOfC));

    QJsonArray agents;
    for (const auto &[name, host] : m_agents)
        agents.append(agentJson(host));
    const QJsonObject snapshot {
        { u"type"_s, u"snapshot"_s },
        { u"id"_s, newUuid() },
        { u"org_id"_s, m_orgId },
        { u"data"_s,
          QJsonObject { { u"credentials"_s, QJsonArray { credentialJson(upload, rows) } },
                        { u"agents"_s, agents },
                        { u"alerts"_s, QJsonArray() } } },
    };
    QVERIFY(model.loadSnapshot(snapshot).ok());
    model.flush();
    QCOMPARE(model.rowCount(), 1);

    const QModelIndex row = model.index(0);
    QCOMPARE(row.data(models::CredentialsModel::CredentialIdRole).toString(), credentialId);
    QCOMPARE(row.data(models::CredentialsModel::AgentCountRole).toInt(), 3);
    QCOMPARE(row.data(models::CredentialsModel::ChipRole).toInt(), chip);
    QCOMPARE(row.data(models::CredentialsModel::ChipTextRole).toString(), chipText);
    QCOMPARE(row.data(models::CredentialsModel::SyncedCountRole).toInt(), synced);
    QCOMPARE(row.data(models::CredentialsModel::UnverifiedCountRole).toInt(), unverified);
    QCOMPARE(row.data(models::CredentialsModel::IntegrityFailureRole).toBool(), false);

    const models::VerifiedCredential *verified = model.verifiedCredential(credentialId);
    QVERIFY(verified);
    const QList<models::AgentSyncResult> &results = verified->verification.agents;
    const auto resultOfC = std::find_if(results.cbegin(), results.cend(), [&](const auto &result) {
        return result.agentId == agent(u"c"_s).agentId;
    });
    QVERIFY(resultOfC != results.cend());
    QCOMPARE(resultOfC->status, statusOfC);
}

void CompromisedBackendTest::omittedAgentNotGreen()
{
    // The console saw c certified in an earlier session, so its known-agent
    // list file names c when it starts again.
    const QString knownAgentsPath = m_dir.filePath(u"console-known-agents.json"_s);
    QJsonArray allAgents;
    for (const auto &[name, host] : m_agents)
        allAgents.append(agentJson(host));
    {
        Result<models::KnownAgents> knownAgents =
            models::KnownAgents::load(knownAgentsPath, m_orgId);
        QVERIFY(knownAgents.ok());
        client::GenerationRecord generations = client::GenerationRecord::inMemory();
        client::AgentCertificates certificates(*m_trusted, m_orgId, generations);
        models::SyncVerifier verifier(*m_trusted, certificates, &knownAgents.value());
        models::CredentialsModel model(verifier);
        const QJsonObject earlier {
            { u"type"_s, u"snapshot"_s },
            { u"id"_s, newUuid() },
            { u"org_id"_s, m_orgId },
            { u"data"_s,
              QJsonObject { { u"credentials"_s, QJsonArray() },
                            { u"agents"_s, allAgents },
                            { u"alerts"_s, QJsonArray() } } },
        };
        QVERIFY(model.loadSnapshot(earlier).ok());
        model.flush();
        QVERIFY(knownAgents->find(agent(u"c"_s).agentId).has_value());
    }

    Result<models::KnownAgents> knownAgents = models::KnownAgents::load(knownAgentsPath, m_orgId);
    QVERIFY(knownAgents.ok());
    client::GenerationRecord generations = client::GenerationRecord::inMemory();
    client::AgentCertificates certificates(*m_trusted, m_orgId, generations);
    models::SyncVerifier verifier(*m_trusted, certificates, &knownAgents.value());
    models::CredentialsModel model(verifier);

    // charlie is auto_all. The backend leaves c out of both the agent list
    // and the credential's rows, so only a and b, which stored it, remain.
    const QString credentialId = m_charlie.statement.credentialId;
    const QJsonArray rows {
        storedRow(credentialId, u"a"_s, m_receipts.at({ u"charlie"_s, u"a"_s })),
        storedRow(credentialId, u"b"_s, m_receipts.at({ u"charlie"_s, u"b"_s })),
    };
    const QJsonObject snapshot {
        { u"type"_s, u"snapshot"_s },
        { u"id"_s, newUuid() },
        { u"org_id"_s, m_orgId },
        { u"data"_s,
          QJsonObject {
              { u"credentials"_s, QJsonArray { credentialJson(m_charlie, rows) } },
              { u"agents"_s, QJsonArray { agentJson(agent(u"a"_s)), agentJson(agent(u"b"_s)) } },
              { u"alerts"_s, QJsonArray() } } },
    };
    QVERIFY(model.loadSnapshot(snapshot).ok());
    model.flush();
    QCOMPARE(model.rowCount(), 1);

    const QModelIndex row = model.index(0);
    QVERIFY2(row.data(models::CredentialsModel::ChipRole).toInt() != int(models::SyncChip::Synced),
             qPrintable(row.data(models::CredentialsModel::ChipTextRole).toString()));
    QCOMPARE(row.data(models::CredentialsModel::ChipTextRole).toString(), u"⚠ 2/3 synced"_s);
    QCOMPARE(row.data(models::CredentialsModel::AgentCountRole).toInt(), 3);

    const models::VerifiedCredential *verified = model.verifiedCredential(credentialId);
    QVERIFY(verified);
    const QList<models::AgentSyncResult> &results = verified->verification.agents;
    const auto resultOfC = std::find_if(results.cbegin(), results.cend(), [&](const auto &result) {
        return result.agentId == agent(u"c"_s).agentId;
    });
    QVERIFY(resultOfC != results.cend());
    QCOMPARE(resultOfC->status, models::AgentSyncStatus::Pending);
    QCOMPARE(resultOfC->missingFromAgentList, true);
}

// ---- 6. A challenge relayed from another backend origin ---------------------

void CompromisedBackendTest::relayedChallenge()
{
    // Another backend listens on its own port. The hostile one fetches its
    // hello, as it would to log in there as agent c, and relays it to c.
    HostileBackend other(m_orgId);
    QVERIFY(other.listen());
    QWebSocket relay;
    std::optional<Hello> otherHello;
    connect(&relay, &QWebSocket::textMessageReceived, this, [&otherHello](const QString &text) {
        Result<AgentMessage> parsed = parseAgentMessage(text.toUtf8());
        if (parsed && std::holds_alternative<Hello>(parsed.value()))
            otherHello = std::get<Hello>(parsed.value());
    });
    relay.open(QUrl(u"ws://127.0.0.1:%1/agent"_s.arg(other.port())));
    QTRY_VERIFY_WITH_TIMEOUT(otherHello.has_value(), 10000);
    QCOMPARE(otherHello->backendOrigin, other.origin());

    AgentHost &c = agent(u"c"_s);
    const int registrationsBefore = m_backend->registrations(c.agentId);
    const qsizetype unidentifiedBefore = m_backend->unidentifiedConnections().size();
    // The relayed hello is followed at once by a delivery, before any
    // authenticate. It is an honest operator's credential, so storing it is
    // no wrong secret, but a reply would show the connection in use.
    const client::PreparedUpload foxtrot =
        require(m_creator->create({ QString(), u"foxtrot"_s, u"password"_s, {} },
                                  secretOf(u"foxtrot-v1"_s), agentRows()),
                "foxtrot");
    m_backend->setRelayedHello(otherHello);
    m_backend->setMessagesAfterHello({ creatorDelivery(foxtrot, u"c"_s) });
    m_backend->disconnectAgent(c.agentId);

    // The connections to c whose hello carried the other backend's nonce.
    const auto relayedConnections = [&] {
        QList<HostileBackend::UnidentifiedConnection> relayed;
        const QList<HostileBackend::UnidentifiedConnection> all =
            m_backend->unidentifiedConnections();
        for (qsizetype i = unidentifiedBefore; i < all.size(); ++i) {
            if (all.at(i).hello.nonce == otherHello->nonce)
                relayed.append(all.at(i));
        }
        return relayed;
    };
    // c closes each of them and dials again after its backoff.
    QTRY_VERIFY_WITH_TIMEOUT(relayedConnections().size() >= 2, 10000);
    m_backend->setMessagesAfterHello({});
    m_backend->setRelayedHello(std::nullopt);

    // The backend's own hellos again; c authenticates and registers as usual.
    QTRY_VERIFY_WITH_TIMEOUT(m_backend->registrations(c.agentId) > registrationsBefore, 10000);
    QCOMPARE(m_backend->registrations(c.agentId), registrationsBefore + 1);
    const QList<HostileBackend::UnidentifiedConnection> relayed = relayedConnections();
    for (const HostileBackend::UnidentifiedConnection &connection : relayed) {
        QCOMPARE(connection.closeCode, int(QWebSocketProtocol::CloseCodePolicyViolated));
        // No enrol, authenticate, register or reply to the delivery.
        QStringList received;
        for (const AgentMessage &message : connection.received)
            received.append(describe(message));
        QVERIFY2(connection.received.isEmpty(), qPrintable(received.join(u", "_s)));
    }

    std::optional<HostileBackend::Authentication> relayedAuthentication;
    for (const HostileBackend::Authentication &authentication : m_backend->authentications()) {
        if (authentication.agentId == c.agentId && authentication.hello.nonce == otherHello->nonce)
            relayedAuthentication = authentication;
    }
    QVERIFY(!relayedAuthentication.has_value());

    // One critical log line and one critical audit row per rejected hello,
    // each naming both origins.
    QTRY_COMPARE_WITH_TIMEOUT(logLines(u"c"_s, "critical"_L1, other.origin(), m_backend->origin()),
                              relayed.size(), kLogWaitMs);
    const ProcessResult audit = runAgentCommand({ u"audit"_s, u"--data-dir"_s, c.dataDir });
    QCOMPARE(audit.exitCode, 0);
    qsizetype auditRowsRejected = 0;
    for (const QString &line : audit.out.split(u'\n')) {
        if (line.contains(u" critical hello_rejected "_s) && line.contains(other.origin())
            && line.contains(m_backend->origin()))
            ++auditRowsRejected;
    }
    QCOMPARE(auditRowsRejected, relayed.size());

    // The delivery pushed behind the relayed hello was not stored.
    const ProcessResult stored = getPassword(u"c"_s, u"foxtrot"_s);
    QCOMPARE(stored.exitCode, 4);
    QCOMPARE(stored.out, QString());
}

// ---- Every vault after the attacks -----------------------------------------

void CompromisedBackendTest::vaultsAfterAttacks_data()
{
    QTest::addColumn<QString>("agentName");
    QTest::addColumn<QString>("credentialName");
    QTest::addColumn<int>("exitCode"); // 0 found, 3 deleted or out of scope, 4 unavailable
    QTest::addColumn<QString>("password");

    const QList<std::pair<QString, QString>> heldByAAndB {
        { u"alpha"_s, u"alpha-v2"_s },     { u"bravo"_s, u"bravo-v1"_s },
        { u"charlie"_s, u"charlie-v1"_s }, { u"delta"_s, u"delta-v1"_s },
        { u"echo"_s, u"echo-v1"_s },
    };
    for (const QString &agentName : { u"a"_s, u"b"_s }) {
        for (const auto &[credential, password] : heldByAAndB) {
            QTest::addRow("%s %s", qPrintable(agentName), qPrintable(credential))
                << agentName << credential << 0 << password;
        }
    }
    QTest::newRow("c alpha") << u"c"_s << u"alpha"_s << 0 << u"alpha-v2"_s;
    QTest::newRow("c bravo") << u"c"_s << u"bravo"_s << 0 << u"bravo-v1"_s;
    QTest::newRow("c charlie") << u"c"_s << u"charlie"_s << 4 << QString();
    QTest::newRow("c delta") << u"c"_s << u"delta"_s << 4 << QString();
    QTest::newRow("c echo") << u"c"_s << u"echo"_s << 3 << QString();
}

void CompromisedBackendTest::vaultsAfterAttacks()
{
    QFETCH(QString, agentName);
    QFETCH(QString, credentialName);
    QFETCH(int, exitCode);
    QFETCH(QString, password);

    const ProcessResult get = getPassword(agentName, credentialName);
    QCOMPARE(get.exitCode, exitCode);
    QCOMPARE(get.out.trimmed(), password);
}

void CompromisedBackendTest::logsHoldNoSecret()
{
    const QStringList secrets { u"alpha-v1"_s,         u"alpha-v2"_s, u"bravo-v1"_s,
                                u"charlie-v1"_s,       u"delta-v1"_s, u"echo-v1"_s,
                                u"chosen-by-backend"_s };
    for (const auto &[name, host] : m_agents) {
        const QString log = QString::fromUtf8(host.log);
        QVERIFY2(!log.isEmpty(), qPrintable(u"agent %1 logged nothing"_s.arg(name)));
        for (const QString &secret : secrets)
            QVERIFY2(!log.contains(secret),
                     qPrintable(u"agent %1 logged the secret %2"_s.arg(name, secret)));
    }
}

QTEST_GUILESS_MAIN(CompromisedBackendTest)
#include "tst_compromisedbackend.moc"
