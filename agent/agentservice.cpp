// The agent's data directory, its init and rekey steps, and AgentService,
// which speaks the /agent protocol over AgentConnection.
#include "agentservice.h"

#include "ids.h"
#include "localaudit.h"
#include "logging.h"
#include "payload.h"
#include "peerhandler.h"
#include "rowcipher.h"
#include "targethandler.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QSemaphore>
#include <QSysInfo>
#include <QTimer>
#include <QWebSocketProtocol>

#include <openssl/crypto.h>

#include <atomic>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

// Maximum number of deliveries stored in one vault batch. A longer run is
// split, so the first replies do not wait for the whole run.
constexpr qsizetype kMaxDeliveryBatch = 32;

std::shared_ptr<spdlog::logger> log()
{
    return logger("agent.service");
}

std::string text(const QString &value)
{
    return value.toStdString();
}

// Returns the sentence that `sealrelay-agent get` prints after the reason
// code of a credential_unavailable: the cause and what to do about it.
QString unavailableMessage(Reason reason, const QString &credential)
{
    switch (reason) {
    case Reason::NoEligiblePeer:
        return u"no online agent holds the current version of %1 to copy it from; start an "
               "agent that holds it ('sealrelayctl credential show' lists them), or wait for "
               "the retry"_s.arg(credential);
    case Reason::RateLimited:
        return u"this agent asked for too many missing credentials in the last minute; try "
               "%1 again in a minute"_s.arg(credential);
    case Reason::BackendBusy:
        return u"the backend cannot handle the request for %1 now; try again shortly"_s.arg(
            credential);
    case Reason::NotInScope:
        return u"the scope of %1 does not include this agent; an operator can add it with "
               "'sealrelayctl credential scope'"_s.arg(credential);
    case Reason::UnknownCredential:
        return u"the backend has no credential named %1 or with that id; check the name with "
               "'sealrelayctl credential list'"_s.arg(credential);
    case Reason::CommitmentMismatch:
        return u"a copy of %1 failed its integrity check; review the integrity alert in the "
               "console before using it"_s.arg(credential);
    default:
        return u"the backend cannot deliver %1"_s.arg(credential);
    }
}

// The sealed token's row binding. No credential has this id, because
// credential ids are UUIDs.
RowBinding tokenBinding(const QString &agentId)
{
    return RowBinding{RowPurpose::CredentialPayload, u"enrolment-token:"_s + agentId, 0};
}

Result<void> writePrivateFile(const QString &path, QByteArrayView bytes)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return makeError(Reason::IoError,
                         u"cannot write %1: %2"_s.arg(path, file.errorString()));
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.write(bytes.data(), bytes.size());
    if (!file.commit())
        return makeError(Reason::IoError,
                         u"cannot write %1: %2"_s.arg(path, file.errorString()));
    return {};
}

QString timestampOrEmpty(const QDateTime &time)
{
    return time.isValid() ? formatTimestamp(time) : QString();
}

} // namespace

QString DataDirectory::vaultPath() const
{
    return QDir(path).filePath(u"vault.db"_s);
}

QString DataDirectory::trustedOperatorsPath() const
{
    return QDir(path).filePath(u"trusted-operators"_s);
}

QString DataDirectory::statePath() const
{
    return QDir(path).filePath(u"agent.json"_s);
}

QString DataDirectory::enrolmentTokenPath() const
{
    return QDir(path).filePath(u"enrolment-token"_s);
}

QString DataDirectory::socketPath() const
{
    return QDir(path).filePath(u"agent.sock"_s);
}

Result<AgentState> AgentState::load(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return makeError(Reason::NotFound,
                         u"cannot read %1: %2. Run `sealrelay-agent init` for this data "
                         "directory first"_s.arg(path, file.errorString()));
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (!document.isObject())
        return makeError(Reason::Malformed, u"%1 is not a JSON object: %2"_s.arg(
                                                path, parseError.errorString()));
    const QJsonObject object = document.object();
    AgentState state;
    state.agentName = object.value(u"agent_name"_s).toString();
    state.backendUrl = object.value(u"backend_url"_s).toString();
    state.vaultKeyFile = object.value(u"vault_key_file"_s).toString();
    state.lastConnectedAt =
        QDateTime::fromString(object.value(u"last_connected_at"_s).toString(), Qt::ISODateWithMs);
    state.lastRegisteredAt =
        QDateTime::fromString(object.value(u"last_registered_at"_s).toString(), Qt::ISODateWithMs);
    state.lastRegistrationMode = object.value(u"last_registration_mode"_s).toString();
    if (object.value(u"rekey_from_generation"_s).isDouble())
        state.rekeyFromGeneration = object.value(u"rekey_from_generation"_s).toInteger();
    return state;
}

Result<void> AgentState::save(const QString &path) const
{
    QJsonObject object{
        {u"agent_name"_s, agentName},
        {u"backend_url"_s, backendUrl},
        {u"vault_key_file"_s, vaultKeyFile},
        {u"last_connected_at"_s, timestampOrEmpty(lastConnectedAt)},
        {u"last_registered_at"_s, timestampOrEmpty(lastRegisteredAt)},
        {u"last_registration_mode"_s, lastRegistrationMode},
    };
    if (rekeyFromGeneration)
        object.insert(u"rekey_from_generation"_s, *rekeyFromGeneration);
    return writePrivateFile(path, QJsonDocument(object).toJson());
}

Result<MasterKey> loadVaultMasterKey(const QString &dataDir, const QString &keyFile)
{
    MasterKeyLocations locations = MasterKeyLocations::forDataDirectory(dataDir);
    if (!keyFile.isEmpty())
        locations.keyFilePath = keyFile;
    return loadMasterKey(locations);
}

Result<std::unique_ptr<Vault>> openVault(const DataDirectory &directory, const QString &keyFile)
{
    if (!QFileInfo::exists(directory.vaultPath()))
        return makeError(Reason::NotFound,
                         u"no vault at %1. Run `sealrelay-agent init --data-dir %2` first"_s.arg(
                             directory.vaultPath(), directory.path));
    Result<MasterKey> key = loadVaultMasterKey(directory.path, keyFile);
    if (!key)
        return key.error();
    return Vault::open(directory.vaultPath(), key->key.view());
}

Result<void> storeEnrolmentToken(const DataDirectory &directory, const SecureBuffer &masterKey,
                                 const QString &agentId, const QString &token)
{
    Result<RowCipher> cipher = RowCipher::create(masterKey.view());
    if (!cipher)
        return cipher.error();
    QByteArray plain = token.toUtf8();
    Result<QByteArray> sealed = cipher->seal(tokenBinding(agentId), plain);
    OPENSSL_cleanse(plain.data(), size_t(plain.size()));
    if (!sealed)
        return sealed.error();
    return writePrivateFile(directory.enrolmentTokenPath(), sealed.value());
}

Result<std::optional<QString>> loadEnrolmentToken(const DataDirectory &directory,
                                                  const SecureBuffer &masterKey,
                                                  const QString &agentId)
{
    QFile file(directory.enrolmentTokenPath());
    if (!file.exists())
        return std::optional<QString>();
    if (!file.open(QIODevice::ReadOnly))
        return makeError(Reason::IoError, u"cannot read %1: %2"_s.arg(file.fileName(),
                                                                       file.errorString()));
    Result<RowCipher> cipher = RowCipher::create(masterKey.view());
    if (!cipher)
        return cipher.error();
    Result<SecureBuffer> opened = cipher->open(tokenBinding(agentId), file.readAll());
    if (!opened)
        return makeError(opened.error().reason,
                         u"the sealed enrolment token %1 does not open under the vault master "
                         "key. Run `sealrelay-agent rekey` with a new token"_s.arg(
                             file.fileName()));
    return std::optional<QString>(QString::fromUtf8(opened->view()));
}

QString groupedFingerprint(const QString &fingerprint)
{
    QStringList groups;
    for (qsizetype i = 0; i < fingerprint.size(); i += 4)
        groups.append(fingerprint.mid(i, 4));
    return groups.join(u' ');
}

Result<QString> initialiseAgent(const InitRequest &request)
{
    if (request.dataDir.isEmpty())
        return makeError(Reason::Malformed, u"--data-dir is required"_s);
    if (request.enrolmentToken.isEmpty())
        return makeError(Reason::Malformed, u"--enrolment-token is required"_s);
    if (request.trustedOperatorsFile.isEmpty())
        return makeError(Reason::Malformed, u"--trusted-operators is required"_s);
    if (Result<ConnectionOptions> url = connectionOptionsFor(request.backendUrl); !url)
        return url.error();

    const DataDirectory directory{QDir(request.dataDir).absolutePath()};
    if (QFileInfo::exists(directory.vaultPath()))
        return makeError(Reason::Malformed,
                         u"%1 already has a vault. Use another --data-dir, or `rekey` for new "
                         "keys"_s.arg(directory.vaultPath()));
    Result<QList<Ed25519PublicKey>> operators = readTrustedKeysFile(request.trustedOperatorsFile);
    if (!operators)
        return operators.error();
    if (operators->isEmpty())
        return makeError(Reason::InvalidKey,
                         u"the trusted-operators file %1 lists no key. Add the base64 raw "
                         "Ed25519 key of at least one operator"_s.arg(request.trustedOperatorsFile));

    if (!QDir().mkpath(directory.path))
        return makeError(Reason::IoError,
                         u"cannot create the data directory %1"_s.arg(directory.path));
    QFile::setPermissions(directory.path, QFileDevice::ReadOwner | QFileDevice::WriteOwner
                                              | QFileDevice::ExeOwner);

    const QString keyFile = request.vaultKeyFile.isEmpty()
        ? QString()
        : QFileInfo(request.vaultKeyFile).absoluteFilePath();
    MasterKeyLocations locations = MasterKeyLocations::forDataDirectory(directory.path);
    if (!keyFile.isEmpty())
        locations.keyFilePath = keyFile;
    Result<MasterKey> key = loadMasterKey(locations);
    if (!key && key.error().reason == Reason::NotFound)
        key = createMasterKey(locations, keyFile.isEmpty() ? MasterKeySource::Keychain
                                                            : MasterKeySource::KeyFile);
    if (!key)
        return key.error();

    Result<AgentIdentity> identity = AgentIdentity::generate();
    if (!identity)
        return identity.error();
    Result<std::unique_ptr<Vault>> vault = Vault::create(directory.vaultPath(), key->key.view());
    if (!vault)
        return vault.error();
    if (Result<void> stored = vault.value()->storeIdentity(identity.value()); !stored)
        return stored.error();

    QFile source(request.trustedOperatorsFile);
    if (!source.open(QIODevice::ReadOnly))
        return makeError(Reason::IoError, u"cannot read %1: %2"_s.arg(source.fileName(),
                                                                       source.errorString()));
    if (Result<void> copied = writePrivateFile(directory.trustedOperatorsPath(), source.readAll());
        !copied)
        return copied.error();

    if (Result<void> token = storeEnrolmentToken(directory, key->key, identity->agentId,
                                                 request.enrolmentToken);
        !token)
        return token.error();

    AgentState state;
    state.agentName = request.name.isEmpty() ? QSysInfo::machineHostName() : request.name;
    state.backendUrl = request.backendUrl;
    state.vaultKeyFile = key->source == MasterKeySource::KeyFile ? key->location : QString();
    if (Result<void> saved = state.save(directory.statePath()); !saved)
        return saved.error();

    log()->info("initialised agent {} ({}) in {} with the vault key from {}",
                text(identity->agentId), text(state.agentName), text(directory.path),
                text(masterKeySourceName(key->source)));
    return identity->fingerprint();
}

Result<QString> rekeyAgent(const DataDirectory &directory, const QString &keyFile,
                           const QString &enrolmentToken)
{
    if (enrolmentToken.isEmpty())
        return makeError(Reason::Malformed, u"--enrolment-token is required"_s);
    Result<AgentState> state = AgentState::load(directory.statePath());
    if (!state)
        return state.error();
    const QString effectiveKeyFile = keyFile.isEmpty() ? state->vaultKeyFile : keyFile;
    Result<MasterKey> key = loadVaultMasterKey(directory.path, effectiveKeyFile);
    if (!key)
        return key.error();
    Result<std::unique_ptr<Vault>> vault = Vault::open(directory.vaultPath(), key->key.view());
    if (!vault)
        return vault.error();
    Result<std::optional<AgentIdentity>> current = vault.value()->loadIdentity();
    if (!current)
        return current.error();
    if (!current.value())
        return makeError(Reason::NotFound, u"the vault %1 has no identity. Run init"_s.arg(
                                               directory.vaultPath()));
    const QString agentId = current.value()->agentId;
    Result<std::optional<qint64>> generation = vault.value()->highestGeneration(agentId);
    if (!generation)
        return generation.error();

    Result<AgentIdentity> identity = AgentIdentity::generate(agentId);
    if (!identity)
        return identity.error();
    identity->orgId = current.value()->orgId;
    if (Result<void> purged = vault.value()->purgeForRekey(identity.value()); !purged)
        return purged.error();
    if (Result<void> token = storeEnrolmentToken(directory, key->key, agentId, enrolmentToken);
        !token)
        return token.error();
    state->rekeyFromGeneration = generation.value().value_or(0);
    if (Result<void> saved = state->save(directory.statePath()); !saved)
        return saved.error();
    log()->info("agent {} has new keys; it enrols again and registers as key_regenerated once "
                "generation {} is certified",
                text(agentId), generation.value().value_or(0) + 1);
    return identity->fingerprint();
}

// ---- AgentService ----------------------------------------------------------

Result<std::unique_ptr<AgentService>> AgentService::create(const AgentSettings &settings)
{
    if (settings.dataDir.isEmpty())
        return makeError(Reason::Malformed, u"--data-dir is required"_s);
    DataDirectory directory{QDir(settings.dataDir).absolutePath()};
    Result<AgentState> state = AgentState::load(directory.statePath());
    if (!state)
        return state.error();
    if (!settings.name.isEmpty())
        state->agentName = settings.name;
    const QString backendUrl = settings.backendUrl.isEmpty() ? state->backendUrl
                                                             : settings.backendUrl;
    Result<ConnectionOptions> options = connectionOptionsFor(backendUrl);
    if (!options)
        return options.error();
    options->reconnectMin = std::chrono::milliseconds(settings.reconnectMinMs);
    options->reconnectMax = std::chrono::milliseconds(settings.reconnectMaxMs);
    options->pingInterval = std::chrono::milliseconds(settings.pingIntervalMs);
    options->silenceTimeout = std::chrono::milliseconds(settings.silenceTimeoutMs);
    Result<QList<QSslCertificate>> caCertificates =
        readBackendCaCertificates(settings.backendCaFile);
    if (!caCertificates)
        return caCertificates.error();
    if (!settings.backendCaFile.isEmpty() && options->url.scheme() != u"wss"_s)
        log()->warn("the backend CA file {} (--backend-ca-file) is not used: the backend {} is "
                    "not https",
                    text(settings.backendCaFile), text(backendUrl));
    options->caCertificates = std::move(caCertificates).value();

    const QString keyFile = settings.vaultKeyFile.isEmpty() ? state->vaultKeyFile
                                                            : settings.vaultKeyFile;
    Result<MasterKey> key = loadVaultMasterKey(directory.path, keyFile);
    if (!key)
        return key.error();
    Result<std::unique_ptr<Vault>> vault = Vault::open(directory.vaultPath(), key->key.view());
    if (!vault)
        return vault.error();
    Result<std::optional<AgentIdentity>> identity = vault.value()->loadIdentity();
    if (!identity)
        return identity.error();
    if (!identity.value())
        return makeError(Reason::NotFound, u"the vault %1 has no identity. Run init"_s.arg(
                                               directory.vaultPath()));

    std::unique_ptr<AgentService> service(new AgentService(
        settings, directory, std::move(state).value(), std::move(vault).value(),
        std::move(key->key), std::move(*identity.value()), std::move(options).value()));
    Result<QList<Ed25519PublicKey>> operators =
        readTrustedKeysFile(directory.trustedOperatorsPath());
    if (!operators)
        return operators.error();
    service->m_trustedOperators = operators.value();
    return service;
}

AgentService::AgentService(AgentSettings settings, DataDirectory directory, AgentState state,
                           std::unique_ptr<Vault> vault, SecureBuffer masterKey,
                           AgentIdentity identity, ConnectionOptions options)
    : m_settings(std::move(settings))
    , m_directory(std::move(directory))
    , m_state(std::move(state))
    , m_vault(std::move(vault))
    , m_masterKey(std::move(masterKey))
    , m_identity(std::move(identity))
    , m_connection(new AgentConnection(std::move(options), this))
{
    m_checkPool.setMaxThreadCount(1);
    connect(m_connection, &AgentConnection::messageReceived, this, &AgentService::onMessage);
    connect(m_connection, &AgentConnection::disconnected, this, &AgentService::onDisconnected);
}

AgentService::~AgentService() = default;

void AgentService::start()
{
    log()->info("agent {} ({}) starting; backend {}", text(m_identity.agentId),
                text(m_state.agentName), text(m_connection->options().url.toString()));
    m_connection->start();
}

void AgentService::saveState()
{
    if (Result<void> saved = m_state.save(m_directory.statePath()); !saved)
        log()->error("could not save the agent state: {}", text(saved.error().message));
}

void AgentService::onDisconnected()
{
    m_enrolId.clear();
    m_registered = false;
    for (PendingFetch &fetch : m_fetches)
        fetch.sent = false;
}

void AgentService::onMessage(const AgentMessage &message)
{
    if (const auto *store = std::get_if<CredentialStore>(&message)) {
        queueCredentialStore(*store);
        return;
    }
    storeQueuedDeliveries();

    if (const auto *hello = std::get_if<Hello>(&message))
        handleHello(*hello);
    else if (const auto *welcome = std::get_if<Welcome>(&message))
        handleWelcome(*welcome);
    else if (const auto *update = std::get_if<CertificateUpdate>(&message)) {
        log()->info("received certificate_update");
        acceptCertificate(update->certificate);
    } else if (const auto *registered = std::get_if<Registered>(&message))
        log()->info("registered; deliveries the backend queued: {}", registered->backfillTotal);
    else if (const auto *statement = std::get_if<StatementUpdate>(&message))
        handleStatementUpdate(*statement);
    else if (const auto *rewrap = std::get_if<RewrapRequest>(&message))
        handleRewrapRequest(*rewrap);
    else if (const auto *unavailable = std::get_if<CredentialUnavailable>(&message))
        handleCredentialUnavailable(*unavailable);
    else if (const auto *error = std::get_if<ErrorMessage>(&message))
        handleError(*error);
    else {
        log()->warn("backend sent {}, which only an agent sends", messageType(message).data());
        m_connection->send(makeErrorReply(messageId(message), Reason::InvalidMessage,
                                          u"%1 is sent by agents only"_s.arg(
                                              messageType(message))));
    }
}

void AgentService::handleHello(const Hello &hello)
{
    // The auth statement names the origin this agent dialled. A hello that
    // names another origin may be another backend's challenge relayed by
    // this one, so the agent neither enrols nor authenticates in reply.
    if (hello.backendOrigin != m_connection->options().origin) {
        rejectHello(hello);
        return;
    }

    const bool enrolled = !m_identity.orgId.isEmpty();
    const bool rekeying = m_state.rekeyFromGeneration.has_value();
    if (!enrolled || rekeying) {
        Result<std::optional<QString>> token =
            loadEnrolmentToken(m_directory, m_masterKey, m_identity.agentId);
        if (token && token.value()) {
            Enrol enrol;
            enrol.id = newUuid();
            enrol.enrolmentToken = *token.value();
            enrol.agentId = m_identity.agentId;
            enrol.agentName = m_state.agentName;
            enrol.encryptionKey = m_identity.encryptionKey.publicKey().spkiDer();
            enrol.identityKey = m_identity.identityKey.publicKey().raw();
            if (m_connection->send(enrol))
                m_enrolId = enrol.id;
            log()->info("sent enrol for agent {} ({})", text(m_identity.agentId),
                        text(m_state.agentName));
            return;
        }
        if (!enrolled) {
            if (!token)
                log()->critical("{}", text(token.error().message));
            stopForOperator(
                u"agent %1 has no enrolment token and is not enrolled. Ask an operator for a "
                "token (`sealrelayctl enrolment-token create --agent-name %2`), then run "
                "`sealrelay-agent rekey --data-dir %3 --enrolment-token TOKEN` and start the "
                "agent again"_s.arg(m_identity.agentId, m_state.agentName, m_directory.path));
            return;
        }
    }

    AuthStatement auth;
    auth.orgId = m_identity.orgId;
    auth.agentId = m_identity.agentId;
    auth.backendOrigin = m_connection->options().origin;
    auth.nonce = hello.nonce;
    auth.issuedAt = QDateTime::currentDateTimeUtc();
    Result<SignedStatement> signedAuth = m_identity.sign(StatementContext::Auth, auth.toFields());
    if (!signedAuth) {
        log()->critical("could not sign the auth statement: {}",
                        text(signedAuth.error().message));
        m_connection->closeWith(QWebSocketProtocol::CloseCodeNormal, u"signing failed"_s);
        return;
    }
    m_connection->send(Authenticate{newUuid(), signedAuth.value()});
    log()->info("sent authenticate for agent {}", text(m_identity.agentId));
}

void AgentService::handleError(const ErrorMessage &error)
{
    const bool enrolRejected = !m_enrolId.isEmpty() && error.inReplyTo == m_enrolId
        && (error.code == Reason::Unauthenticated || error.code == Reason::Forbidden);
    if (!enrolRejected) {
        log()->warn("backend replied error {} to message {}: {}", text(reasonName(error.code)),
                    text(error.inReplyTo), text(error.message));
        return;
    }
    // Another try with the same token is rejected too, and the backend raises
    // an alert for each try, so the agent stops until an operator acts.
    stopForOperator(u"the backend rejected the enrolment of agent %1 (%2): %3. Ask an operator "
                    "for a new token (`sealrelayctl enrolment-token create --agent-name %2`), "
                    "then run `sealrelay-agent rekey --data-dir %4 --enrolment-token TOKEN` and "
                    "start the agent again"_s.arg(m_identity.agentId, m_state.agentName,
                                                  error.message, m_directory.path));
}

void AgentService::stopForOperator(const QString &message)
{
    log()->critical("{}", text(message));
    m_connection->stop();
    Q_EMIT stoppedForOperator(message);
}

void AgentService::rejectHello(const Hello &hello)
{
    const QString dialled = m_connection->options().origin;
    log()->critical("hello {} names backend origin {}, but this agent dialled {}, so it closes "
                    "the connection without enrolling or authenticating. Either the backend "
                    "relays another backend's hello, or --backend is not one of the backend's "
                    "public origins",
                    text(hello.id), text(hello.backendOrigin), text(dialled));

    LocalAuditEntry entry;
    entry.event = u"hello_rejected"_s;
    entry.severity = AuditSeverity::Critical;
    entry.referenceId = hello.id;
    entry.detail = u"hello names backend origin %1, but this agent dialled %2"_s.arg(
        hello.backendOrigin, dialled);
    if (Result<qint64> audited = m_vault->audit().append(entry); !audited)
        log()->critical("failed to write the rejected hello {} to the local audit log: {}",
                        text(hello.id), text(audited.error().message));

    m_connection->closeWith(QWebSocketProtocol::CloseCodePolicyViolated,
                            u"backend origin mismatch"_s);
}

void AgentService::handleWelcome(const Welcome &welcome)
{
    if (welcome.agentId != m_identity.agentId) {
        log()->critical("welcome names agent {}, not this agent {}; closing",
                        text(welcome.agentId), text(m_identity.agentId));
        m_connection->closeWith(QWebSocketProtocol::CloseCodePolicyViolated, u"wrong agent"_s);
        return;
    }
    if (Result<void> stored = m_vault->storeOrgId(welcome.orgId); !stored) {
        log()->critical("welcome names org {}, which the vault refuses: {}", text(welcome.orgId),
                        text(stored.error().message));
        m_connection->closeWith(QWebSocketProtocol::CloseCodePolicyViolated, u"wrong org"_s);
        return;
    }
    m_identity.orgId = welcome.orgId;
    if (!m_enrolId.isEmpty()) {
        // The backend consumed the token, so it is of no further use.
        QFile::remove(m_directory.enrolmentTokenPath());
        m_enrolId.clear();
    }
    m_state.lastConnectedAt = QDateTime::currentDateTimeUtc();
    saveState();

    switch (welcome.status) {
    case WelcomeStatus::PendingApproval:
        log()->info("agent {} is pending approval; fingerprint {}", text(m_identity.agentId),
                    text(groupedFingerprint(m_identity.fingerprint())));
        return;
    case WelcomeStatus::Revoked:
        log()->critical("the backend reports agent {} as revoked", text(m_identity.agentId));
        m_connection->closeWith(QWebSocketProtocol::CloseCodeNormal, u"revoked"_s);
        return;
    case WelcomeStatus::Approved:
        break;
    }
    if (!welcome.certificate) {
        log()->critical("welcome says approved but carries no certificate; closing");
        m_connection->closeWith(QWebSocketProtocol::CloseCodePolicyViolated,
                                u"approved without certificate"_s);
        return;
    }
    acceptCertificate(*welcome.certificate);
}

Result<void> AgentService::ensureHandlers()
{
    if (m_trust && m_trust->orgId() == m_identity.orgId)
        return {};
    m_peer.reset();
    m_target.reset();
    m_trust.emplace(m_trustedOperators, m_identity.orgId, *m_vault);
    m_target = std::make_unique<TargetHandler>(*m_vault, *m_trust, m_identity);
    m_peer = std::make_unique<PeerHandler>(*m_vault, *m_trust, m_identity);
    return {};
}

bool AgentService::acceptCertificate(const SignedStatement &certificate)
{
    if (m_identity.orgId.isEmpty()) {
        log()->critical("certificate arrived before welcome named the org; ignored");
        return false;
    }
    (void)ensureHandlers();
    Result<AgentCertificate> fields = m_trust->verifyOwnCertificate(certificate, m_identity);
    if (!fields) {
        log()->critical("rejected this agent's certificate: {}", text(fields.error().message));
        m_connection->closeWith(QWebSocketProtocol::CloseCodePolicyViolated,
                                u"certificate rejected"_s);
        return false;
    }
    if (m_state.rekeyFromGeneration && fields->generation <= *m_state.rekeyFromGeneration) {
        log()->info("certificate generation {} is of the old keys; waiting for generation {}",
                    fields->generation, *m_state.rekeyFromGeneration + 1);
        return false;
    }
    if (Result<void> stored = m_vault->storeCertificate(certificate, fields.value()); !stored) {
        log()->error("could not store the certificate: {}", text(stored.error().message));
        return false;
    }
    log()->info("accepted certificate generation {} expiring {}", fields->generation,
                text(formatTimestamp(fields->expiresAt)));
    if (!m_registered)
        sendRegister();
    return true;
}

void AgentService::sendRegister()
{
    Register message;
    message.id = newUuid();
    Result<QList<HeldCredential>> held = m_vault->credentials();
    if (!held) {
        log()->error("could not list the vault's credentials: {}", text(held.error().message));
        return;
    }
    if (m_state.rekeyFromGeneration) {
        message.mode = RegisterMode::KeyRegenerated;
    } else if (m_state.lastRegistrationMode.isEmpty() && held->isEmpty()) {
        message.mode = RegisterMode::FirstRegistration;
    } else {
        message.mode = RegisterMode::WarmReconnect;
        for (const HeldCredential &credential : held.value()) {
            if (credential.state != HeldState::Stored)
                continue;
            if (message.known.size() >= 10000)
                break;
            message.known.append({credential.credentialId, credential.version,
                                  credential.revision});
        }
    }
    if (!m_connection->send(message))
        return;
    m_registered = true;
    m_connection->resetBackoff();
    m_state.rekeyFromGeneration.reset();
    m_state.lastRegistrationMode = registerModeName(message.mode);
    m_state.lastRegisteredAt = QDateTime::currentDateTimeUtc();
    saveState();
    log()->info("sent register ({}, {} known credentials)", text(registerModeName(message.mode)),
                message.known.size());
    for (PendingFetch &fetch : m_fetches) {
        if (!fetch.sent)
            sendMissing(fetch);
    }
}

void AgentService::queueCredentialStore(const CredentialStore &message)
{
    m_queuedDeliveries.append(message);
    if (m_queuedDeliveries.size() >= kMaxDeliveryBatch) {
        storeQueuedDeliveries();
        return;
    }
    // The deliveries that one read of the socket brings are all queued
    // before the queued call runs.
    if (!m_deliveryRunQueued) {
        m_deliveryRunQueued = true;
        QMetaObject::invokeMethod(
            this,
            [this] {
                m_deliveryRunQueued = false;
                storeQueuedDeliveries();
            },
            Qt::QueuedConnection);
    }
}

void AgentService::storeQueuedDeliveries()
{
    if (m_queuedDeliveries.isEmpty())
        return;
    const QList<CredentialStore> deliveries = std::exchange(m_queuedDeliveries, {});
    if (!m_target) {
        for (const CredentialStore &message : deliveries)
            log()->warn("credential_store {} before approval; ignored", text(message.deliveryId));
        return;
    }
    if (deliveries.size() == 1) {
        handleCredentialStore(deliveries.first());
        return;
    }

    Result<VaultBatch> batch = m_vault->beginBatch();
    if (!batch) {
        log()->warn("could not open a vault batch for {} deliveries ({}); storing them one by one",
                    deliveries.size(), text(batch.error().message));
        for (const CredentialStore &message : deliveries)
            handleCredentialStore(message);
        return;
    }
    // The signature checks and RSA unwraps run on two threads at once; the
    // checks that read the vault and the writes run here, in order.
    std::vector<PrecomputedChecks> precomputed(size_t(deliveries.size()));
    std::atomic<qsizetype> next = 0;
    const auto precomputeRest = [&] {
        for (qsizetype i = next++; i < deliveries.size(); i = next++)
            precomputed[size_t(i)] = m_target->precompute(deliveries.at(i));
    };
    QSemaphore helperDone;
    m_checkPool.start([&] {
        precomputeRest();
        helperDone.release();
    });
    precomputeRest();
    helperDone.acquire();

    std::vector<Result<CredentialStoreReply>> replies;
    replies.reserve(size_t(deliveries.size()));
    for (qsizetype i = 0; i < deliveries.size(); ++i)
        replies.push_back(m_target->handleCredentialStore(deliveries.at(i), &precomputed[size_t(i)]));

    // A reply confirms a durable write, so none leaves before the commit.
    if (Result<void> committed = batch->commit(); !committed) {
        log()->error("could not store {} deliveries in the vault: {}", deliveries.size(),
                     text(committed.error().message));
        for (const CredentialStore &message : deliveries)
            replyToDelivery(message, committed.error());
        return;
    }
    for (qsizetype i = 0; i < deliveries.size(); ++i)
        replyToDelivery(deliveries.at(i), replies.at(size_t(i)));
}

void AgentService::handleCredentialStore(const CredentialStore &message)
{
    replyToDelivery(message, m_target->handleCredentialStore(message));
}

void AgentService::replyToDelivery(const CredentialStore &message,
                                   const Result<CredentialStoreReply> &reply)
{
    if (!reply) {
        log()->error("could not process credential_store {} for credential {}: {}",
                     text(message.deliveryId), text(message.credentialId),
                     text(reply.error().message));
        m_connection->send(makeErrorReply(message.id, Reason::Internal,
                                          u"the agent could not process the delivery"_s));
        return;
    }
    std::visit([this](const auto &value) { m_connection->send(value); }, reply.value());
    if (!std::holds_alternative<CredentialStored>(reply.value()))
        return;

    completeFetchesFor(std::get<CredentialStored>(reply.value()).credentialId);
}

void AgentService::completeFetchesFor(const QString &credentialId)
{
    if (m_fetches.isEmpty())
        return;
    Result<std::optional<HeldCredential>> stored = m_vault->findCredential(credentialId);
    if (!stored || !stored->has_value()) {
        log()->error("could not read credential {} after storing it: {}", text(credentialId),
                     text(stored ? u"not in the vault"_s : stored.error().message));
        return;
    }

    // Only a fetch that names the stored credential by id or name can be
    // completed by it. finishFetch() removes entries, so the matching request
    // ids are collected first.
    const QString &name = stored->value().name;
    QStringList matching;
    for (const PendingFetch &fetch : std::as_const(m_fetches)) {
        if (fetch.nameOrId == credentialId || fetch.nameOrId == name)
            matching.append(fetch.requestId);
    }
    for (const QString &requestId : std::as_const(matching)) {
        const auto found = m_fetches.constFind(requestId);
        if (found == m_fetches.cend())
            continue;
        std::optional<CredentialAnswer> answer = answerFromVault(found->nameOrId, found->field);
        if (answer)
            finishFetch(requestId, std::move(*answer));
    }
}

void AgentService::handleStatementUpdate(const StatementUpdate &message)
{
    if (!m_target) {
        log()->warn("statement_update {} before approval; ignored", text(message.deliveryId));
        return;
    }
    Result<StatementApplied> reply = m_target->handleStatementUpdate(message);
    if (!reply) {
        log()->error("could not process statement_update {}: {}", text(message.deliveryId),
                     text(reply.error().message));
        m_connection->send(makeErrorReply(message.id, Reason::Internal,
                                          u"the agent could not apply the statement"_s));
        return;
    }
    m_connection->send(reply.value());
}

void AgentService::handleRewrapRequest(const RewrapRequest &message)
{
    if (!m_peer) {
        log()->warn("rewrap_request {} before approval; ignored", text(message.requestId));
        return;
    }
    Result<RewrapReply> reply = m_peer->handleRewrapRequest(message);
    if (!reply) {
        log()->error("could not process rewrap_request {}: {}", text(message.requestId),
                     text(reply.error().message));
        m_connection->send(makeErrorReply(message.id, Reason::Internal,
                                          u"the agent could not rewrap the credential"_s));
        return;
    }
    std::visit([this](const auto &value) { m_connection->send(value); }, reply.value());
}

void AgentService::handleCredentialUnavailable(const CredentialUnavailable &message)
{
    log()->info("credential_unavailable for request {}: {}", text(message.requestId),
                text(reasonName(message.reason)));
    if (!m_fetches.contains(message.requestId))
        return;
    CredentialAnswer answer;
    answer.kind = CredentialAnswer::Kind::Unavailable;
    answer.reason = reasonName(message.reason);
    answer.message = unavailableMessage(message.reason, m_fetches.value(message.requestId).nameOrId);
    finishFetch(message.requestId, std::move(answer));
}

std::optional<CredentialAnswer> AgentService::answerFromVault(const QString &nameOrId,
                                                              const QString &field)
{
    CredentialAnswer answer;
    Result<std::optional<HeldCredential>> held = m_vault->findCredentialByNameOrId(nameOrId);
    if (!held) {
        answer.message = u"cannot read the vault: %1"_s.arg(held.error().message);
        return answer;
    }
    const std::optional<HeldCredential> &match = held.value();
    if (!match || match->state == HeldState::Pending)
        return std::nullopt;
    if (match->state == HeldState::Tombstone) {
        answer.kind = CredentialAnswer::Kind::NotFound;
        answer.message = u"credential %1 was deleted or is no longer in this agent's scope"_s.arg(
            nameOrId);
        return answer;
    }

    Result<SecureBuffer> payloadBytes = m_vault->loadPayload(match->credentialId);
    if (!payloadBytes) {
        answer.message = u"cannot open credential %1: %2"_s.arg(match->credentialId,
                                                                 payloadBytes.error().message);
        return answer;
    }
    Result<Payload> payload = parsePayload(payloadBytes->view());
    if (!payload) {
        answer.message = u"the stored payload of credential %1 does not parse"_s.arg(
            match->credentialId);
        return answer;
    }
    if (field.isEmpty()) {
        answer.kind = CredentialAnswer::Kind::Secret;
        answer.secret = std::move(payload->secretBytes);
        return answer;
    }

    // QJsonDocument keeps its own copies, which cannot be wiped.
    const QJsonDocument document = QJsonDocument::fromJson(
        QByteArray::fromRawData(payload->secretBytes.view().data(),
                                payload->secretBytes.view().size()));
    const QJsonValue value = document.object().value(field);
    if (value.isUndefined()) {
        answer.kind = CredentialAnswer::Kind::NotFound;
        answer.message = u"credential %1 has no field %2"_s.arg(nameOrId, field);
        return answer;
    }
    QByteArray fieldBytes = value.isString()
        ? value.toString().toUtf8()
        : QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact).mid(1).chopped(1);
    SecureBuffer secret(fieldBytes.size());
    std::memcpy(secret.data(), fieldBytes.constData(), size_t(fieldBytes.size()));
    OPENSSL_cleanse(fieldBytes.data(), size_t(fieldBytes.size()));
    answer.kind = CredentialAnswer::Kind::Secret;
    answer.secret = std::move(secret);
    return answer;
}

void AgentService::fetchCredential(const QString &nameOrId, const QString &field,
                                   CredentialCallback done)
{
    if (std::optional<CredentialAnswer> answer = answerFromVault(nameOrId, field)) {
        done(std::move(*answer));
        return;
    }
    PendingFetch fetch;
    fetch.requestId = newUuid();
    fetch.nameOrId = nameOrId;
    fetch.field = field;
    fetch.done = std::move(done);
    fetch.timer = new QTimer(this);
    fetch.timer->setSingleShot(true);
    const QString requestId = fetch.requestId;
    connect(fetch.timer, &QTimer::timeout, this, [this, requestId] {
        const auto found = m_fetches.constFind(requestId);
        if (found == m_fetches.cend())
            return;
        CredentialAnswer answer;
        answer.kind = CredentialAnswer::Kind::Timeout;
        if (found->sent) {
            answer.message = u"timed out after %1 ms waiting for the backend to deliver "
                             "the credential"_s.arg(m_settings.missingWaitMs);
        } else {
            // The request never left: the agent was not registered with the
            // backend during the whole wait.
            answer.message =
                u"timed out after %1 ms: the agent is not connected to the backend "
                "%2, so it could not request the credential. It keeps reconnecting, and "
                "its log shows why it cannot connect"_s.arg(m_settings.missingWaitMs)
                    .arg(m_connection->options().origin);
        }
        log()->warn("get of {}: {}", text(found->nameOrId), text(answer.message));
        finishFetch(requestId, std::move(answer));
    });
    fetch.timer->start(std::chrono::milliseconds(m_settings.missingWaitMs));
    auto inserted = m_fetches.insert(requestId, std::move(fetch));
    if (m_registered)
        sendMissing(inserted.value());
}

void AgentService::sendMissing(PendingFetch &fetch)
{
    CredentialMissing missing;
    missing.id = newUuid();
    missing.requestId = fetch.requestId;
    if (isCanonicalUuid(fetch.nameOrId))
        missing.credentialId = fetch.nameOrId;
    else
        missing.name = fetch.nameOrId;
    fetch.sent = m_connection->send(missing);
    log()->info("sent credential_missing {} for {}", text(fetch.requestId), text(fetch.nameOrId));
}

void AgentService::finishFetch(const QString &requestId, CredentialAnswer answer)
{
    auto found = m_fetches.find(requestId);
    if (found == m_fetches.end())
        return;
    PendingFetch fetch = std::move(found.value());
    m_fetches.erase(found);
    fetch.timer->stop();
    fetch.timer->deleteLater();
    fetch.done(std::move(answer));
}

} // namespace sealrelay::agent
