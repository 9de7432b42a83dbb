// The scripted agent: its /agent connection, the message queue, the honest
// replies a peer or target builds, and the automatic replies.
#include "scriptedagent.h"

#include "envelope.h"
#include "ids.h"
#include "keys.h"
#include "payload.h"

#include <QDateTime>
#include <QTest>
#include <QUrl>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::synctest {

namespace {

std::optional<CredentialStatement> parseCredentialStatement(const SignedStatement &statement)
{
    Result<QJsonObject> fields = parseStatement(StatementContext::Credential, statement.bytes);
    if (!fields)
        return std::nullopt;
    Result<CredentialStatement> parsed = CredentialStatement::fromFields(fields.value());
    if (!parsed)
        return std::nullopt;
    return parsed.value();
}

QString agentSocketUrl(const QString &backendUrl)
{
    QUrl url(backendUrl);
    url.setScheme(url.scheme() == u"https"_s ? u"wss"_s : u"ws"_s);
    url.setPath(u"/agent"_s);
    return url.toString();
}

} // namespace

ScriptedAgent::ScriptedAgent(QObject *parent)
    : QObject(parent)
{
    Result<agent::AgentIdentity> identity = agent::AgentIdentity::generate();
    if (identity)
        m_identity = std::move(identity).value();
    else
        m_lastError =
            u"could not generate the scripted agent's keys: "_s + identity.error().message;
}

ScriptedAgent::~ScriptedAgent()
{
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
    }
}

QString ScriptedAgent::agentId() const
{
    return m_identity ? m_identity->agentId : QString();
}

bool ScriptedAgent::fail(const QString &message)
{
    m_lastError = message;
    return false;
}

// ---- Connection -------------------------------------------------------------

bool ScriptedAgent::openSocket(const QString &backendUrl, int timeoutMs)
{
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
        m_socket->deleteLater();
        m_socket = nullptr;
    }
    m_queue.clear();
    m_unparsed.clear();
    m_hello.reset();
    m_closed = false;
    m_closeCode = 0;
    m_backendUrl = backendUrl;

    m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    QWebSocket *socket = m_socket;
    connect(socket, &QWebSocket::textMessageReceived, this,
            [this](const QString &text) { onFrame(text); });
    connect(socket, &QWebSocket::disconnected, this, [this, socket] {
        m_closed = true;
        m_closeCode = int(socket->closeCode());
    });
    socket->open(QUrl(agentSocketUrl(backendUrl)));

    std::optional<Hello> hello = waitFor<Hello>(timeoutMs);
    if (!hello)
        return fail(u"no hello from %1 within %2 ms (close code %3)"_s.arg(
            agentSocketUrl(backendUrl), QString::number(timeoutMs), QString::number(m_closeCode)));
    m_hello = std::move(hello);
    return true;
}

bool ScriptedAgent::enrol(const QString &backendUrl, const QString &enrolmentToken,
                          const QString &name)
{
    if (!m_identity)
        return fail(m_lastError);
    m_name = name;
    if (!openSocket(backendUrl, kDefaultWaitMs))
        return false;

    Enrol enrol;
    enrol.id = newUuid();
    enrol.enrolmentToken = enrolmentToken;
    enrol.agentId = m_identity->agentId;
    enrol.agentName = name;
    enrol.encryptionKey = m_identity->encryptionKey.publicKey().spkiDer();
    enrol.identityKey = m_identity->identityKey.publicKey().raw();
    if (!send(enrol))
        return fail(u"could not send enrol for agent %1"_s.arg(name));

    std::optional<Welcome> welcome = waitFor<Welcome>(kDefaultWaitMs);
    if (!welcome)
        return fail(u"no welcome after enrol of agent %1 (close code %2)"_s.arg(
            name, QString::number(m_closeCode)));
    m_orgId = welcome->orgId;
    if (welcome->status != WelcomeStatus::PendingApproval)
        return fail(
            u"welcome after enrol of agent %1 has status %2, expected pending_approval"_s.arg(
                name, welcomeStatusName(welcome->status)));
    return true;
}

bool ScriptedAgent::authenticate(int timeoutMs)
{
    if (!m_identity || m_orgId.isEmpty() || m_backendUrl.isEmpty())
        return fail(u"authenticate() needs a successful enrol() first"_s);
    if (!openSocket(m_backendUrl, timeoutMs))
        return false;

    AuthStatement auth;
    auth.orgId = m_orgId;
    auth.agentId = m_identity->agentId;
    auth.backendOrigin = m_hello->backendOrigin;
    auth.nonce = m_hello->nonce;
    auth.issuedAt = QDateTime::currentDateTimeUtc();
    Result<SignedStatement> signedAuth = m_identity->sign(StatementContext::Auth, auth.toFields());
    if (!signedAuth)
        return fail(u"could not sign the auth statement: "_s + signedAuth.error().message);
    if (!send(Authenticate { newUuid(), signedAuth.value() }))
        return fail(u"could not send authenticate for agent %1"_s.arg(m_name));

    std::optional<Welcome> welcome = waitFor<Welcome>(timeoutMs);
    if (!welcome)
        return fail(u"no welcome after authenticate of agent %1 (close code %2)"_s.arg(
            m_name, QString::number(m_closeCode)));
    if (welcome->certificate)
        m_certificate = welcome->certificate;
    if (welcome->status != WelcomeStatus::Approved)
        return fail(
            u"welcome after authenticate of agent %1 has status %2, expected approved"_s.arg(
                m_name, welcomeStatusName(welcome->status)));
    return true;
}

void ScriptedAgent::sendRegister(RegisterMode mode, const QList<KnownCredential> &known)
{
    Register message;
    message.id = newUuid();
    message.mode = mode;
    message.known = known;
    send(message);
}

void ScriptedAgent::close()
{
    if (!m_socket || m_closed)
        return;
    m_socket->close();
    if (!QTest::qWaitFor([this] { return m_closed; }, 5000))
        m_lastError = u"the backend did not close the connection of %1 within 5 s"_s.arg(m_name);
}

bool ScriptedAgent::isConnected() const
{
    return m_socket && !m_closed && m_socket->state() == QAbstractSocket::ConnectedState;
}

int ScriptedAgent::closeCode() const
{
    return m_closed ? m_closeCode : 0;
}

std::optional<AgentMessage> ScriptedAgent::waitFor(QLatin1StringView type, int timeoutMs)
{
    const auto takeFirst = [this, type]() -> std::optional<AgentMessage> {
        for (qsizetype i = 0; i < m_queue.size(); ++i) {
            if (messageType(m_queue.at(i)) == type)
                return m_queue.takeAt(i);
        }
        return std::nullopt;
    };
    if (std::optional<AgentMessage> found = takeFirst())
        return found;
    std::optional<AgentMessage> found;
    const bool arrived = QTest::qWaitFor(
        [&] {
            found = takeFirst();
            return found.has_value();
        },
        timeoutMs);
    return arrived ? found : std::nullopt;
}

bool ScriptedAgent::send(const AgentMessage &message)
{
    return sendRaw(serializeMessage(message));
}

bool ScriptedAgent::sendRaw(const QByteArray &frame)
{
    if (!isConnected())
        return fail(u"the scripted agent %1 is not connected"_s.arg(m_name));
    const QString text = QString::fromUtf8(frame);
    return m_socket->sendTextMessage(text) == text.size();
}

void ScriptedAgent::onFrame(const QString &text)
{
    const QByteArray frame = text.toUtf8();
    Result<AgentMessage> parsed = parseAgentMessage(frame);
    if (!parsed) {
        m_unparsed.append(frame);
        return;
    }
    if (const auto *update = std::get_if<CertificateUpdate>(&parsed.value()))
        m_certificate = update->certificate;
    m_queue.append(parsed.value());
    answerAutomatically(parsed.value());
}

// ---- Honest building blocks ---------------------------------------------------

std::optional<SecureBuffer> ScriptedAgent::openDelivery(const CredentialStore &delivery)
{
    Result<SecureBuffer> payload = openEnvelope(m_identity->encryptionKey, delivery.envelope);
    if (!payload) {
        m_lastError = payload.error().message;
        return std::nullopt;
    }
    return std::move(payload).value();
}

SignedStatement ScriptedAgent::signReceipt(const SignedStatement &statement, ReceiptState state,
                                           const QString &reason)
{
    const std::optional<CredentialStatement> fields = parseCredentialStatement(statement);
    Receipt receipt;
    receipt.orgId = m_orgId;
    receipt.agentId = m_identity->agentId;
    receipt.credentialId = fields ? fields->credentialId : QString();
    receipt.version = fields ? fields->version : 0;
    receipt.revision = fields ? fields->revision : 0;
    receipt.statementSha256 = statement.sha256();
    receipt.state = state;
    receipt.reason = reason;
    receipt.at = QDateTime::currentDateTimeUtc();
    Result<SignedStatement> signedReceipt =
        m_identity->sign(StatementContext::Receipt, receipt.toFields());
    if (!signedReceipt) {
        m_lastError = u"could not sign a receipt: "_s + signedReceipt.error().message;
        return {};
    }
    return signedReceipt.value();
}

CredentialStored ScriptedAgent::storedReply(const CredentialStore &delivery, QByteArrayView payload)
{
    const std::optional<CredentialStatement> fields = parseCredentialStatement(delivery.statement);
    CredentialStored reply;
    reply.id = newUuid();
    reply.deliveryId = delivery.deliveryId;
    reply.credentialId = delivery.credentialId;
    reply.version = fields ? fields->version : 0;
    reply.revision = fields ? fields->revision : 0;
    if (Result<Payload> parsed = parsePayload(payload)) {
        Result<QByteArray> commitment = computeCommitment(parsed->salt, parsed->secretBytes.view());
        if (commitment)
            reply.commitment = commitment.value();
    }
    reply.receipt = signReceipt(delivery.statement, ReceiptState::Stored, QString());
    return reply;
}

CredentialIntegrityFailure ScriptedAgent::failureReply(const CredentialStore &delivery,
                                                       Reason reason)
{
    CredentialIntegrityFailure reply;
    reply.id = newUuid();
    reply.deliveryId = delivery.deliveryId;
    reply.credentialId = delivery.credentialId;
    reply.reason = reason;
    reply.attestation = delivery.attestation;
    reply.receipt = signReceipt(delivery.statement, ReceiptState::Refused, reasonName(reason));
    return reply;
}

RewrapResponse ScriptedAgent::rewrapResponse(const RewrapRequest &request,
                                             QByteArrayView payloadBytes)
{
    const std::optional<CredentialStatement> statement =
        parseCredentialStatement(request.statement);
    Result<QJsonObject> certificateFields =
        parseStatement(StatementContext::AgentCertificate, request.targetCertificate.bytes);
    Result<AgentCertificate> certificate = certificateFields
        ? AgentCertificate::fromFields(certificateFields.value())
        : Result<AgentCertificate>(certificateFields.error());
    if (!statement || !certificate) {
        m_lastError = u"rewrap_request %1 carries a statement or target certificate that does "
                      "not parse"_s.arg(request.requestId);
        return {};
    }
    Result<RsaPublicKey> targetKey = RsaPublicKey::fromSpkiDer(certificate->encryptionKey);
    if (!targetKey) {
        m_lastError = u"target certificate of rewrap_request %1: "_s.arg(request.requestId)
            + targetKey.error().message;
        return {};
    }
    Result<Envelope> envelope = sealEnvelope(targetKey.value(), payloadBytes);
    if (!envelope) {
        m_lastError = u"could not seal for rewrap_request %1: "_s.arg(request.requestId)
            + envelope.error().message;
        return {};
    }

    Attestation attestation;
    attestation.orgId = m_orgId;
    attestation.requestId = request.requestId;
    attestation.credentialId = request.credentialId;
    attestation.version = statement->version;
    attestation.revision = statement->revision;
    attestation.statementSha256 = request.statement.sha256();
    attestation.targetAgentId = request.targetAgentId;
    attestation.targetKeyFingerprint = targetKey->fingerprint();
    attestation.sourceKind = AttestationSource::Peer;
    attestation.sourceId = m_identity->agentId;
    attestation.envelopeSha256 = envelope->sha256();
    Result<SignedStatement> signedAttestation =
        m_identity->sign(StatementContext::Attestation, attestation.toFields());
    if (!signedAttestation) {
        m_lastError = u"could not sign the attestation: "_s + signedAttestation.error().message;
        return {};
    }

    RewrapResponse response;
    response.id = newUuid();
    response.requestId = request.requestId;
    response.credentialId = request.credentialId;
    response.targetAgentId = request.targetAgentId;
    response.envelope = envelope.value();
    response.attestation = signedAttestation.value();
    return response;
}

RewrapRefused ScriptedAgent::refusedReply(const RewrapRequest &request, Reason reason)
{
    RewrapRefused reply;
    reply.id = newUuid();
    reply.requestId = request.requestId;
    reply.credentialId = request.credentialId;
    reply.targetAgentId = request.targetAgentId;
    reply.reason = reason;
    return reply;
}

StatementApplied ScriptedAgent::appliedReply(const StatementUpdate &update)
{
    const std::optional<CredentialStatement> fields = parseCredentialStatement(update.statement);
    const bool deleted = fields && (fields->deleted || !fields->covers(m_identity->agentId));
    StatementApplied reply;
    reply.id = newUuid();
    reply.deliveryId = update.deliveryId;
    reply.credentialId = update.credentialId;
    reply.receipt = signReceipt(update.statement,
                                deleted ? ReceiptState::Deleted : ReceiptState::Stored, QString());
    return reply;
}

// ---- Automatic replies ----------------------------------------------------------

void ScriptedAgent::keepPayload(const QString &credentialId, QByteArrayView payload)
{
    m_payloads.insert_or_assign(credentialId, SecureBuffer(payload));
}

std::optional<QByteArray> ScriptedAgent::payloadFor(const QString &credentialId) const
{
    const auto found = m_payloads.find(credentialId);
    if (found == m_payloads.end())
        return std::nullopt;
    return found->second.view().toByteArray();
}

void ScriptedAgent::answerAutomatically(const AgentMessage &message)
{
    std::optional<AgentMessage> reply;
    if (const auto *delivery = std::get_if<CredentialStore>(&message)) {
        if (m_storeHandler)
            reply = m_storeHandler(*delivery);
        else if (m_autoStore)
            reply = honestStoreReply(*delivery);
    } else if (const auto *request = std::get_if<RewrapRequest>(&message)) {
        if (m_rewrapHandler)
            reply = m_rewrapHandler(*request);
        else if (m_autoRewrap)
            reply = honestRewrapReply(*request);
    }
    if (reply)
        send(*reply);
}

std::optional<AgentMessage> ScriptedAgent::honestStoreReply(const CredentialStore &delivery)
{
    std::optional<SecureBuffer> payload = openDelivery(delivery);
    if (!payload)
        return failureReply(delivery, Reason::DecryptFailed);

    const std::optional<CredentialStatement> statement =
        parseCredentialStatement(delivery.statement);
    if (!statement)
        return failureReply(delivery, Reason::BadStatement);
    Result<Payload> parsed = parsePayload(payload->view());
    if (!parsed || parsed->credentialId != statement->credentialId
        || parsed->version != statement->version)
        return failureReply(delivery, Reason::PayloadMismatch);
    if (!verifyCommitment(parsed->salt, parsed->secretBytes.view(), statement->commitment))
        return failureReply(delivery, Reason::CommitmentMismatch);

    keepPayload(delivery.credentialId, payload->view());
    return storedReply(delivery, payload->view());
}

std::optional<AgentMessage> ScriptedAgent::honestRewrapReply(const RewrapRequest &request)
{
    const auto kept = m_payloads.find(request.credentialId);
    if (kept == m_payloads.end())
        return refusedReply(request, Reason::NotHeld);
    Result<Payload> parsed = parsePayload(kept->second.view());
    if (!parsed || parsed->version != request.version)
        return refusedReply(request, Reason::NotHeld);

    RewrapResponse response = rewrapResponse(request, kept->second.view());
    if (response.id.isEmpty())
        return std::nullopt;
    return response;
}

} // namespace sealrelay::synctest
