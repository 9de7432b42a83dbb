// The running agent and its data directory: the files `init` creates, the
// state `status` reports, and AgentService, which joins the backend
// connection to the vault and the target and peer handlers.
#pragma once

#include "agentconnection.h"
#include "agentidentity.h"
#include "agentsettings.h"
#include "error.h"
#include "masterkey.h"
#include "messages.h"
#include "securebuffer.h"
#include "targethandler.h"
#include "truststore.h"
#include "vault.h"

#include <QDateTime>
#include <QHash>
#include <QObject>
#include <QThreadPool>
#include <QString>

#include <functional>
#include <memory>
#include <optional>

class QTimer;

namespace sealrelay::agent {

class PeerHandler;

// Files of a data directory.
struct DataDirectory {
    QString path;

    QString vaultPath() const; // vault.db
    QString trustedOperatorsPath() const; // trusted-operators
    QString statePath() const; // agent.json
    QString enrolmentTokenPath() const; // enrolment-token, sealed under the master key
    QString socketPath() const; // agent.sock
};

// Public facts about the agent kept beside the vault in agent.json.
struct AgentState {
    QString agentName;
    QString backendUrl;
    QString vaultKeyFile; // "" when the key comes from elsewhere
    QDateTime lastConnectedAt; // last welcome from the backend
    QDateTime lastRegisteredAt;
    QString lastRegistrationMode; // wire name, "" before the first register
    // Set by `rekey`: the generation of the old keys. The agent registers as
    // key_regenerated once a higher generation is certified.
    std::optional<qint64> rekeyFromGeneration;

    static Result<AgentState> load(const QString &path);
    Result<void> save(const QString &path) const;
};

// Loads the vault master key from the sources in masterkey.h, with the key
// file at `keyFile` when it is not empty.
Result<MasterKey> loadVaultMasterKey(const QString &dataDir, const QString &keyFile);

// Opens the vault of an initialised data directory.
Result<std::unique_ptr<Vault>> openVault(const DataDirectory &directory, const QString &keyFile);

// The enrolment token, sealed with the vault master key until the first
// connection uses it.
Result<void> storeEnrolmentToken(const DataDirectory &directory, const SecureBuffer &masterKey,
                                 const QString &agentId, const QString &token);
Result<std::optional<QString>> loadEnrolmentToken(const DataDirectory &directory,
                                                  const SecureBuffer &masterKey,
                                                  const QString &agentId);

// Prints 64 hex digits in groups of four, as operators compare them.
QString groupedFingerprint(const QString &fingerprint);

struct InitRequest {
    QString dataDir;
    QString backendUrl;
    QString enrolmentToken;
    QString trustedOperatorsFile;
    QString name;
    QString vaultKeyFile; // "" uses the default sources, creating a keychain entry
};

// `sealrelay-agent init`: creates the keys, the vault and the state file and
// returns the agent fingerprint (64 hex digits).
Result<QString> initialiseAgent(const InitRequest &request);

// `sealrelay-agent rekey`: new keys under the same agent_id, the vault
// purged, the token stored for the next connection. Returns the new
// fingerprint.
Result<QString> rekeyAgent(const DataDirectory &directory, const QString &keyFile,
                           const QString &enrolmentToken);

// The outcome of a local `get`.
struct CredentialAnswer {
    enum class Kind { Secret, NotFound, Unavailable, Timeout, Failed };
    Kind kind = Kind::Failed;
    QString reason; // wire name of an unavailable reason
    QString message; // for people; never contains the secret
    SecureBuffer secret; // the secret's JSON, or one field of it
};

using CredentialCallback = std::function<void(CredentialAnswer)>;

class AgentService : public QObject {
    Q_OBJECT
public:
    // Opens the vault and the trusted-operators file of an initialised data
    // directory.
    static Result<std::unique_ptr<AgentService>> create(const AgentSettings &settings);
    ~AgentService() override;

    void start();
    const AgentIdentity &identity() const { return m_identity; }

Q_SIGNALS:
    // Emitted when the agent cannot go on without an operator: the backend
    // rejected its enrolment token, or it has neither a token nor an
    // enrolment. The connection is closed and no reconnect follows.
    void stoppedForOperator(const QString &message);

public:
    // Returns the credential named `nameOrId` (its name or credential id)
    // from the vault. One the vault lacks is requested from the backend with
    // credential_missing, and `done` runs when it lands, when
    // credential_unavailable names the request, or after the missing wait.
    void fetchCredential(const QString &nameOrId, const QString &field, CredentialCallback done);

private:
    struct PendingFetch {
        QString requestId;
        QString nameOrId;
        QString field;
        bool sent = false;
        QTimer *timer = nullptr;
        CredentialCallback done;
    };

    AgentService(AgentSettings settings, DataDirectory directory, AgentState state,
                 std::unique_ptr<Vault> vault, SecureBuffer masterKey, AgentIdentity identity,
                 ConnectionOptions options);

    void onMessage(const AgentMessage &message);
    void onDisconnected();
    void handleHello(const Hello &hello);
    // Logs and audits a hello whose backend_origin is not the origin this
    // agent dialled, and closes that connection without replying.
    void rejectHello(const Hello &hello);
    // Logs an error reply. An Unauthenticated or Forbidden reply to this
    // connection's enrol stops the agent (stopForOperator()).
    void handleError(const ErrorMessage &error);
    // Stops the connection for good, logging `message` as critical, and
    // emits stoppedForOperator().
    void stopForOperator(const QString &message);
    void handleWelcome(const Welcome &welcome);
    // Verifies and stores the agent's own certificate; registers once it is
    // accepted. Returns false when it was rejected.
    bool acceptCertificate(const SignedStatement &certificate);
    void sendRegister();
    // Queues a credential_store. The deliveries that arrive together are
    // stored by storeQueuedDeliveries() in one vault batch, so one disk sync
    // covers all of them.
    void queueCredentialStore(const CredentialStore &message);
    // Checks and stores every queued delivery in one vault batch and replies
    // to each only after the batch committed. Any other message from the
    // backend runs this first, so messages keep their order.
    void storeQueuedDeliveries();
    // Checks, stores and replies to one delivery in a write transaction of
    // its own.
    void handleCredentialStore(const CredentialStore &message);
    // Sends the reply to one processed delivery.
    void replyToDelivery(const CredentialStore &message,
                         const Result<CredentialStoreReply> &reply);
    void handleStatementUpdate(const StatementUpdate &message);
    void handleRewrapRequest(const RewrapRequest &message);
    void handleCredentialUnavailable(const CredentialUnavailable &message);
    Result<void> ensureHandlers();
    void saveState();

    // Builds the result from the vault alone; std::nullopt when the vault lacks
    // the credential.
    std::optional<CredentialAnswer> answerFromVault(const QString &nameOrId, const QString &field);
    // Completes the waiting fetches that name `credentialId` or its name,
    // after a credential_store stored it.
    void completeFetchesFor(const QString &credentialId);
    void sendMissing(PendingFetch &fetch);
    void finishFetch(const QString &requestId, CredentialAnswer answer);

    AgentSettings m_settings;
    DataDirectory m_directory;
    AgentState m_state;
    std::unique_ptr<Vault> m_vault;
    SecureBuffer m_masterKey;
    AgentIdentity m_identity;
    QList<Ed25519PublicKey> m_trustedOperators;
    std::optional<TrustStore> m_trust;
    std::unique_ptr<TargetHandler> m_target;
    std::unique_ptr<PeerHandler> m_peer;
    AgentConnection *m_connection = nullptr;
    QString m_enrolId; // the id of the enrol sent on this connection, until its welcome
    bool m_registered = false;
    QHash<QString, PendingFetch> m_fetches; // by request id
    QList<CredentialStore> m_queuedDeliveries;
    bool m_deliveryRunQueued = false;
    // One thread that precomputes the checks of a batch's deliveries
    // together with this one.
    QThreadPool m_checkPool;
};

} // namespace sealrelay::agent
