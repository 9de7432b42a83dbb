// An end-to-end cluster for the sync engine suites: one real sealrelay-backend
// with shrunk intervals, real sealrelay-agent processes and scripted agents
// on 127.0.0.1. An operator key in the test process approves the agents and
// signs credential uploads as an honest console would.
#pragma once

#include "backendprocess.h"
#include "keys.h"
#include "statement.h"
#include "vault.h"

#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QPair>
#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <map>
#include <memory>
#include <optional>

namespace sealrelay::synctest {

class ScriptedAgent;

struct ProcessResult {
    int exitCode = -1; // -1 when the process crashed or did not finish in time
    QString out;
    QString err;
    qint64 elapsedMs = 0;
};

// The backend's reply to a credential upload. status is 0 when the upload
// could not be built, and SyncCluster::lastError() then gives the reason.
struct Upload {
    int status = 0;
    QJsonObject json;
    QString credentialId;
    qint64 version = 0;
    qint64 revision = 0;
};

class SyncCluster {
public:
    // Agent process settings the cluster sets unless addAgent() overrides
    // them: fast reconnects, 500 ms pings, a 3 s silence timeout, a 5 s
    // missing-credential wait, and log level warn.
    static QHash<QString, QString> defaultAgentEnvironment();
    // Backend settings the cluster sets unless the constructor's argument
    // overrides them (see the definition for the values).
    static QProcessEnvironment defaultBackendEnvironment();

    explicit SyncCluster(const QProcessEnvironment &backendSettings = {});
    ~SyncCluster();
    SyncCluster(const SyncCluster &) = delete;
    SyncCluster &operator=(const SyncCluster &) = delete;

    // Starts the backend (SQLite in a temporary directory), generates the
    // operator key and writes the agents' trusted-operators file. Returns an
    // error message, empty on success.
    QString start();
    // Stops every agent process and the backend.
    void stop();

    // Makes the cluster use a backend that the caller runs and initialised
    // (e.g. one of several replicas) instead of its own. When it is called
    // before start(), start() starts no backend. Each call sends the
    // requests and the agents added after it to `baseUrl`.
    void useBackend(const QString &baseUrl, const QString &adminToken);

    // The reason of the last failed call, for QVERIFY2.
    QString lastError() const { return m_lastError; }
    void clearLastError() { m_lastError.clear(); }
    BackendProcess &backend() { return m_backend; }
    QString backendUrl() const
    {
        return m_externalUrl.isEmpty() ? m_backend.baseUrl() : m_externalUrl;
    }
    QString orgId() const { return m_orgId; }
    QString adminToken() const
    {
        return m_externalUrl.isEmpty() ? m_backend.adminToken() : m_externalToken;
    }
    const Ed25519PrivateKey &operatorKey() const { return *m_operatorKey; }
    QString trustedOperatorsFile() const { return m_trustedOperatorsFile; }
    QString rootDir() const { return m_root.path(); }

    // Sends one request with the admin token on a kept-alive connection and
    // waits up to 15 s; status 0 when it timed out.
    BackendReply request(const QByteArray &method, const QString &path,
                         const QJsonObject &body = {});

    // ---- Agents ---------------------------------------------------------------
    // Creates an enrolment token, runs `sealrelay-agent init` and starts the
    // agent. Once it is pending, compares its printed fingerprint with the
    // keys the backend lists, approves it with a certificate the operator key
    // signs, and waits until the agent registered. `environment` is added to
    // defaultAgentEnvironment() for every command of this agent. Returns the
    // agent id, or an empty string (see lastError()).
    QString addAgent(const QString &name, const QHash<QString, QString> &environment = {});
    // Creates an enrolment token, enrols `agent`, approves it, authenticates
    // it and sends register first_registration. Returns its agent id, or an
    // empty string. It does not wait for `registered`, because the backend
    // sends that only once its sync engine runs; call
    // agent.waitFor<Registered>() for it.
    QString addScriptedAgent(ScriptedAgent &agent, const QString &name);
    // SIGTERM, then waits up to 10 s for the exit (SIGKILL after that).
    bool stopAgent(const QString &name);
    // SIGKILL, and waits for the exit.
    bool killAgent(const QString &name);
    // Starts a stopped agent on its data directory and waits until its
    // `status` shows a registration newer than the one before the start.
    bool startAgent(const QString &name);
    // Runs `sealrelay-agent rekey` with a new enrolment token on the stopped
    // agent `name`, starts it, approves its new keys at generation + 1 and
    // waits until it registered. False when a step failed (see lastError()).
    bool rekeyAgent(const QString &name);
    bool isAgentRunning(const QString &name) const;
    QString agentId(const QString &name) const;
    QString dataDir(const QString &name) const;
    QString vaultKeyFile(const QString &name) const;
    // The value of a `key: value` line of `sealrelay-agent status`, e.g.
    // last_registration or certificate_generation; empty when absent.
    QString statusField(const QString &name, const QString &key);
    // Runs `sealrelay-agent ARGUMENTS` with the agent's environment.
    ProcessResult runAgentCommand(const QString &name, const QStringList &arguments,
                                  int timeoutMs = 60000);

    // ---- Credentials, as an honest operator uploads them ---------------------
    // Creates version 1 revision 1 of a credential named `name` with
    // `secret`'s canonical JSON as secret bytes. An empty scope is auto_all.
    // Envelopes go to every approved agent in scope whose certificate
    // verifies under the operator key, or to exactly the named agents (which
    // may be empty, or include agents outside the scope for a negative test).
    Upload createCredential(const QString &name, const QJsonObject &secret,
                            const QStringList &scopeAgentNames = {},
                            std::optional<QStringList> envelopeAgentNames = std::nullopt);
    // Uploads version + 1, revision 1 with the current scope and a new salt
    // and commitment.
    Upload rotateCredential(const QString &credentialId, const QJsonObject &secret,
                            std::optional<QStringList> envelopeAgentNames = std::nullopt);
    // Uploads revision + 1 with the current commitment. An empty list is
    // auto_all.
    Upload changeScope(const QString &credentialId, const QStringList &scopeAgentNames);
    // Uploads revision + 1 with deleted true.
    Upload deleteCredential(const QString &credentialId);

    // ---- Observations ---------------------------------------------------------
    // GET /api/credentials/{id}; empty when it is not 200.
    QJsonObject credential(const QString &credentialId);
    // Reads the (version, revision) the agent's vault stores with a secret,
    // through a connection of the test's own that is closed before returning.
    // Returns std::nullopt for an unknown id, a pending or tombstoned
    // credential, a scripted agent, or a vault that cannot be read.
    std::optional<QPair<qint64, qint64>> vaultHolds(const QString &agentName,
                                                    const QString &credentialId);
    // The whole vault row, tombstones and pending statements included.
    std::optional<agent::HeldCredential> vaultCredential(const QString &agentName,
                                                         const QString &credentialId);
    // GET /api/audit?event=EVENT (every page), oldest first.
    QJsonArray audit(const QString &event);
    // GET /api/alerts?type=TYPE (up to 500), newest first.
    QJsonArray alerts(const QString &type);
    // The agent's row of GET /api/agents; empty when it is not listed.
    QJsonObject agent(const QString &name);
    // Runs `sealrelay-agent get NAME_OR_ID EXTRA...` against the running
    // agent. Its wait for a repair is the running agent's
    // SEALRELAY_API_MISSING_WAIT_MS; `--missing-wait` in extraArguments only
    // sets how long the client itself waits (that value + 10 s).
    ProcessResult get(const QString &agentName, const QString &credentialName,
                      const QStringList &extraArguments = {});

private:
    struct AgentEntry {
        QString name;
        QString agentId;
        QString dataDir;
        QString keyFile;
        QHash<QString, QString> environment;
        std::unique_ptr<QProcess> process; // null for a scripted agent
        ScriptedAgent *scripted = nullptr;
    };
    // An approved agent with a certificate that verifies under the operator
    // key, as a creator keeps it after step 1 of an upload.
    struct CertifiedAgent {
        QString agentId;
        QByteArray certificateBytes;
        qint64 generation = 0;
        QDateTime expiresAt;
        std::optional<RsaPublicKey> encryptionKey;
        QString encryptionKeyFingerprint;
    };
    struct CurrentCredential {
        CredentialStatement fields;
        QString statementSha256;
    };

    AgentEntry *findAgent(const QString &name);
    const AgentEntry *findAgent(const QString &name) const;
    QProcessEnvironment agentEnvironment(const AgentEntry &entry) const;
    QString createEnrolmentToken(const QString &name);
    bool launchAgent(AgentEntry &entry);
    // Waits until GET /api/agents lists `agentId` as pending_approval and
    // returns its row.
    std::optional<QJsonObject> waitUntilPending(const QString &agentId);
    // Signs and uploads generation + 1 of the row's certificate once the
    // fingerprint of the listed keys equals the one the agent printed.
    bool approve(const QJsonObject &row, const QString &expectedFingerprint);
    bool waitUntilRegistered(const QString &name, const QString &previous);
    std::optional<QStringList> agentIdsOf(const QStringList &names);
    // The approved agents of GET /api/agents whose certificates verify,
    // parsed once per certificate and kept.
    std::optional<QList<const CertifiedAgent *>> certifiedAgents();
    std::optional<CurrentCredential> currentCredential(const QString &credentialId);
    std::unique_ptr<agent::Vault> openVault(const QString &agentName);
    // Signs `fields` and POSTs them to `path`. With a secret it first sets
    // a fresh salt's commitment and adds one envelope and creator
    // attestation per receiving agent.
    Upload uploadStatement(const QString &path, CredentialStatement fields,
                           const std::optional<QJsonObject> &secret,
                           const std::optional<QStringList> &envelopeAgentNames);
    Upload failUpload(const QString &message);
    bool fail(const QString &message);

    QProcessEnvironment m_backendSettings;
    QTemporaryDir m_root;
    BackendProcess m_backend;
    // The backend of useBackend(); empty while the cluster runs its own.
    QString m_externalUrl;
    QString m_externalToken;
    std::unique_ptr<QNetworkAccessManager> m_network;
    std::optional<Ed25519PrivateKey> m_operatorKey;
    QString m_trustedOperatorsFile;
    QString m_orgId;
    std::map<QString, AgentEntry> m_agents;
    std::map<QByteArray, CertifiedAgent> m_certified; // by SHA-256 of certificate bytes
    std::map<QString, qint64> m_highestGeneration; // by agent id
    QString m_lastError;
};

} // namespace sealrelay::synctest
