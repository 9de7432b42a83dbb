// An agent played from the test process on the backend's /agent WebSocket,
// with its own keys, so a suite can act as an honest peer or target, or
// combine the honest replies into a malicious peer or a lying reporter.
#pragma once

#include "agentidentity.h"
#include "messages.h"
#include "securebuffer.h"
#include "statement.h"

#include <QByteArray>
#include <QLatin1StringView>
#include <QList>
#include <QObject>
#include <QString>
#include <QWebSocket>

#include <functional>
#include <map>
#include <optional>

namespace sealrelay::synctest {

class ScriptedAgent : public QObject {
    Q_OBJECT

public:
    using StoreHandler = std::function<std::optional<AgentMessage>(const CredentialStore &)>;
    using RewrapHandler = std::function<std::optional<AgentMessage>(const RewrapRequest &)>;

    static constexpr int kDefaultWaitMs = 10000;

    // Generates a fresh RSA-2048 encryption key, Ed25519 identity key and
    // agent_id. isValid() is false when OpenSSL could not generate them.
    explicit ScriptedAgent(QObject *parent = nullptr);
    ~ScriptedAgent() override;

    bool isValid() const { return m_identity.has_value(); }
    QString agentId() const;
    QString orgId() const { return m_orgId; }
    QString name() const { return m_name; }
    const agent::AgentIdentity &identity() const { return *m_identity; }
    // The certificate of the last welcome or certificate_update, if any.
    std::optional<SignedStatement> certificate() const { return m_certificate; }
    // The reason of the last failed call, for QVERIFY2.
    QString lastError() const { return m_lastError; }

    // Connects to `backendUrl` (http://127.0.0.1:PORT), waits for hello and
    // sends enrol; true once the backend's welcome has status pending_approval.
    // The connection stays open, so certificate_update arrives on it.
    bool enrol(const QString &backendUrl, const QString &enrolmentToken, const QString &name);
    // Closes any open connection, connects again and replies to hello with a
    // sealrelay/auth/v1 statement over the hello's nonce and backend_origin;
    // true once the welcome has status approved. Needs a successful enrol() first.
    bool authenticate(int timeoutMs = kDefaultWaitMs);
    void sendRegister(RegisterMode mode, const QList<KnownCredential> &known = {});
    // Closes the socket with a normal close and waits until it is closed.
    void close();
    bool isConnected() const;
    // The WebSocket close code the backend sent; 0 while connected.
    int closeCode() const;

    // Takes the oldest received message of `type` out of the queue, waiting
    // up to `timeoutMs` for one to arrive.
    std::optional<AgentMessage> waitFor(QLatin1StringView type, int timeoutMs = kDefaultWaitMs);
    template<typename T> std::optional<T> waitFor(int timeoutMs = kDefaultWaitMs)
    {
        std::optional<AgentMessage> message = waitFor(T::type, timeoutMs);
        if (!message)
            return std::nullopt;
        return std::get<T>(std::move(*message));
    }
    // Every parsed message not yet taken by waitFor(), oldest first.
    QList<AgentMessage> received() const { return m_queue; }
    // Frames that did not parse, as received.
    QList<QByteArray> unparsedFrames() const { return m_unparsed; }
    // Returns false when the socket did not take the whole frame.
    bool send(const AgentMessage &message);
    bool sendRaw(const QByteArray &frame);

    // ---- Honest building blocks -------------------------------------------
    // Opens the delivery's envelope with this agent's RSA key.
    std::optional<SecureBuffer> openDelivery(const CredentialStore &delivery);
    // A credential_stored for `delivery` whose commitment is recomputed from
    // `payload` (HMAC over its salt and secret) and whose receipt (state
    // `stored`) names the delivery's statement. A payload that does not
    // parse gives an empty commitment, which the backend's parser rejects.
    CredentialStored storedReply(const CredentialStore &delivery, QByteArrayView payload);
    // A credential_integrity_failure that echoes the delivery's attestation,
    // with a receipt of state `refused` and `reason`.
    CredentialIntegrityFailure failureReply(const CredentialStore &delivery, Reason reason);
    // A rewrap_response that seals `payloadBytes` to the encryption key of
    // the request's target certificate and signs a peer attestation for the
    // request's statement. An empty message (no id) when the certificate or
    // statement does not parse or sealing fails, and lastError() gives the reason.
    RewrapResponse rewrapResponse(const RewrapRequest &request, QByteArrayView payloadBytes);
    RewrapRefused refusedReply(const RewrapRequest &request, Reason reason);
    // A statement_applied with a receipt of state `deleted` for a deleting
    // statement and `stored` otherwise.
    StatementApplied appliedReply(const StatementUpdate &update);

    // ---- Automatic replies --------------------------------------------------
    // Replies to every credential_store as an honest target that checks only the
    // envelope, the payload and the commitment: credential_stored, or
    // credential_integrity_failure with DECRYPT_FAILED, PAYLOAD_MISMATCH or
    // COMMITMENT_MISMATCH. Stored payloads are kept by credential id.
    void setAutoStore(bool enabled) { m_autoStore = enabled; }
    // Replies to every rewrap_request from the kept payloads: rewrap_response
    // when the payload of the requested version is kept, else rewrap_refused
    // NOT_HELD. The target certificate and statement are not verified.
    void setAutoRewrap(bool enabled) { m_autoRewrap = enabled; }
    // A handler replaces the automatic reply: its message, if any, is sent.
    void setStoreHandler(StoreHandler handler) { m_storeHandler = std::move(handler); }
    void setRewrapHandler(RewrapHandler handler) { m_rewrapHandler = std::move(handler); }
    // Keeps `payload` as the one this agent holds for `credentialId`.
    void keepPayload(const QString &credentialId, QByteArrayView payload);
    // The kept payload of `credentialId`, copied out for the test.
    std::optional<QByteArray> payloadFor(const QString &credentialId) const;

private:
    bool openSocket(const QString &backendUrl, int timeoutMs);
    void onFrame(const QString &text);
    void answerAutomatically(const AgentMessage &message);
    std::optional<AgentMessage> honestStoreReply(const CredentialStore &delivery);
    std::optional<AgentMessage> honestRewrapReply(const RewrapRequest &request);
    SignedStatement signReceipt(const SignedStatement &statement, ReceiptState state,
                                const QString &reason);
    bool fail(const QString &message);

    std::optional<agent::AgentIdentity> m_identity;
    QString m_orgId;
    QString m_name;
    QString m_backendUrl;
    std::optional<SignedStatement> m_certificate;
    std::optional<Hello> m_hello;
    QWebSocket *m_socket = nullptr;
    bool m_closed = true;
    int m_closeCode = 0;
    QList<AgentMessage> m_queue;
    QList<QByteArray> m_unparsed;
    bool m_autoStore = false;
    bool m_autoRewrap = false;
    StoreHandler m_storeHandler;
    RewrapHandler m_rewrapHandler;
    std::map<QString, SecureBuffer> m_payloads;
    QString m_lastError;
};

} // namespace sealrelay::synctest
