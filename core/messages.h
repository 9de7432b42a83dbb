// The messages of the /agent WebSocket: one typed struct per message type,
// the strict parser that checks every field of a frame, and the serialiser.
#pragma once

#include "envelope.h"
#include "error.h"
#include "statement.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QDateTime>
#include <QLatin1StringView>
#include <QList>
#include <QString>

#include <optional>
#include <variant>

namespace sealrelay {

inline constexpr qsizetype kNonceBytes = 16;

// Size limits of the parser. The defaults are the protocol's limits, and
// tests shrink them.
struct MessageLimits {
    qsizetype maxMessageBytes = 1024 * 1024; // a whole frame, checked before parsing
    qsizetype maxWarmReconnectEntries = 10000; // entries of register.known
    qsizetype maxNameBytes = 200; // agent_name and credential names, in UTF-8
};

enum class WelcomeStatus { PendingApproval, Approved, Revoked };
enum class RegisterMode { FirstRegistration, KeyRegenerated, WarmReconnect };

QString welcomeStatusName(WelcomeStatus status);
std::optional<WelcomeStatus> welcomeStatusFromName(QStringView name);
QString registerModeName(RegisterMode mode);
std::optional<RegisterMode> registerModeFromName(QStringView name);

// The closed sets of reasons each message may carry.
// rewrap_refused: UNTRUSTED_TARGET_KEY, BAD_STATEMENT, STALE_STATEMENT,
// NOT_HELD, OUT_OF_SCOPE.
bool isPeerRefusalReason(Reason reason);
// credential_integrity_failure: the ten checks a target applies, from
// BAD_STATEMENT to COMMITMENT_MISMATCH.
bool isTargetRefusalReason(Reason reason);
// credential_unavailable: NO_ELIGIBLE_PEER, RATE_LIMITED, BACKEND_BUSY,
// NOT_IN_SCOPE, UNKNOWN_CREDENTIAL, COMMITMENT_MISMATCH.
bool isPublicUnavailableReason(Reason reason);
// error: INVALID_MESSAGE, UNKNOWN_TYPE, TOO_LARGE, UNAUTHENTICATED,
// FORBIDDEN, RATE_LIMITED, INTERNAL.
bool isErrorCode(Reason reason);

// Every struct below contains the message's `id` (a canonical UUID chosen by
// the sender) and its fields. Binary fields contain the decoded bytes. Signed
// fields contain the {statement_b64, signature} pair, and the receiver
// verifies its statement with the keys it trusts.

// backend → agent, on connect.
struct Hello {
    static constexpr QLatin1StringView type { "hello" };
    QString id;
    QString backendOrigin;
    QByteArray nonce; // 16 bytes
    QDateTime serverTime;
};

// agent → backend, at first connection and after a rekey.
struct Enrol {
    static constexpr QLatin1StringView type { "enrol" };
    QString id;
    QString enrolmentToken;
    QString agentId;
    QString agentName; // 1 to maxNameBytes UTF-8 bytes
    QByteArray encryptionKey; // SPKI DER of an RSA-2048 key
    QByteArray identityKey; // raw Ed25519, 32 bytes
};

// agent → backend, on later connections.
struct Authenticate {
    static constexpr QLatin1StringView type { "authenticate" };
    QString id;
    SignedStatement auth; // sealrelay/auth/v1
};

// backend → agent.
struct Welcome {
    static constexpr QLatin1StringView type { "welcome" };
    QString id;
    QString orgId;
    QString agentId;
    WelcomeStatus status = WelcomeStatus::PendingApproval;
    std::optional<SignedStatement> certificate; // sealrelay/agent-certificate/v1
};

// backend → agent.
struct CertificateUpdate {
    static constexpr QLatin1StringView type { "certificate_update" };
    QString id;
    SignedStatement certificate;
};

// One entry of a warm reconnect: a credential the agent holds.
struct KnownCredential {
    QString credentialId;
    qint64 version = 0; // >= 1
    qint64 revision = 0; // >= 1

    bool operator==(const KnownCredential &) const = default;
};

// agent → backend, once approved.
struct Register {
    static constexpr QLatin1StringView type { "register" };
    QString id;
    RegisterMode mode = RegisterMode::FirstRegistration;
    // Sent only for warm_reconnect. An absent list reads as empty.
    QList<KnownCredential> known;
};

// backend → agent.
struct Registered {
    static constexpr QLatin1StringView type { "registered" };
    QString id;
    qint64 backfillTotal = 0; // deliveries and dispatches queued for the agent
};

// backend → peer.
struct RewrapRequest {
    static constexpr QLatin1StringView type { "rewrap_request" };
    QString id;
    QString requestId;
    QString credentialId;
    qint64 version = 0;
    QString targetAgentId;
    SignedStatement targetCertificate; // sealrelay/agent-certificate/v1
    SignedStatement statement; // sealrelay/credential/v1
};

// peer → backend.
struct RewrapResponse {
    static constexpr QLatin1StringView type { "rewrap_response" };
    QString id;
    QString requestId;
    QString credentialId;
    QString targetAgentId;
    Envelope envelope;
    SignedStatement attestation; // sealrelay/attestation/v1
};

// peer → backend; reason is one of isPeerRefusalReason().
struct RewrapRefused {
    static constexpr QLatin1StringView type { "rewrap_refused" };
    QString id;
    QString requestId;
    QString credentialId;
    QString targetAgentId;
    Reason reason = Reason::NotHeld;
};

// Who sealed the envelope of a credential_store: a peer agent, named with its
// certificate, or the creator, named with its operator key.
struct DeliverySource {
    AttestationSource kind = AttestationSource::Peer;
    QString agentId; // peer only
    SignedStatement certificate; // peer only: sealrelay/agent-certificate/v1
    QByteArray operatorKey; // creator only: raw Ed25519, 32 bytes
};

// backend → target.
struct CredentialStore {
    static constexpr QLatin1StringView type { "credential_store" };
    QString id;
    QString deliveryId;
    std::optional<QString> requestId; // set when it answers a credential_missing
    QString credentialId;
    SignedStatement statement; // sealrelay/credential/v1
    Envelope envelope;
    SignedStatement attestation; // sealrelay/attestation/v1
    DeliverySource source;
};

// target → backend.
struct CredentialStored {
    static constexpr QLatin1StringView type { "credential_stored" };
    QString id;
    QString deliveryId;
    QString credentialId;
    qint64 version = 0;
    qint64 revision = 0;
    QByteArray commitment; // 32 bytes, recomputed by the target
    SignedStatement receipt; // sealrelay/receipt/v1, state `stored`
};

// target → backend; reason is one of isTargetRefusalReason().
struct CredentialIntegrityFailure {
    static constexpr QLatin1StringView type { "credential_integrity_failure" };
    QString id;
    QString deliveryId;
    QString credentialId;
    Reason reason = Reason::BadStatement;
    SignedStatement attestation; // echoed as delivered
    SignedStatement receipt; // state `refused`
};

// backend → agent: a scope change or delete.
struct StatementUpdate {
    static constexpr QLatin1StringView type { "statement_update" };
    QString id;
    QString deliveryId;
    QString credentialId;
    SignedStatement statement;
};

// agent → backend.
struct StatementApplied {
    static constexpr QLatin1StringView type { "statement_applied" };
    QString id;
    QString deliveryId;
    QString credentialId;
    SignedStatement receipt; // state `stored` or `deleted`
};

// agent → backend: exactly one of credentialId and name is set.
struct CredentialMissing {
    static constexpr QLatin1StringView type { "credential_missing" };
    QString id;
    QString requestId;
    std::optional<QString> credentialId;
    std::optional<QString> name;
};

// backend → agent; reason is one of isPublicUnavailableReason().
struct CredentialUnavailable {
    static constexpr QLatin1StringView type { "credential_unavailable" };
    QString id;
    QString requestId;
    std::optional<QString> credentialId;
    Reason reason = Reason::NoEligiblePeer;
};

// Either way. inReplyTo is the id of the message it answers, or empty when
// that message had no readable id.
struct ErrorMessage {
    static constexpr QLatin1StringView type { "error" };
    QString id;
    QString inReplyTo;
    Reason code = Reason::Internal; // one of isErrorCode()
    QString message;
};

using AgentMessage =
    std::variant<Hello, Enrol, Authenticate, Welcome, CertificateUpdate, Register, Registered,
                 RewrapRequest, RewrapResponse, RewrapRefused, CredentialStore, CredentialStored,
                 CredentialIntegrityFailure, StatementUpdate, StatementApplied, CredentialMissing,
                 CredentialUnavailable, ErrorMessage>;

// Parses one text frame. A frame over limits.maxMessageBytes is
// Reason::TooLarge and is not parsed. The frame must be strict JSON (no
// duplicate key anywhere) holding an object with a string `type` and a
// canonical UUID `id`; an unknown type is Reason::UnknownType. Each field is
// then checked for presence, JSON type and format; a failure is
// Reason::InvalidMessage naming the field, except an envelope whose
// ciphertext is over 128 KiB, which is Reason::TooLarge. Unknown fields are
// ignored, but signed objects and envelopes must have exactly their fields.
// The contents of signed statements are not checked here.
Result<AgentMessage> parseAgentMessage(QByteArrayView frame, const MessageLimits &limits = {});

// Writes the message as one compact JSON object with its `type`, `id` and
// fields. The fields are written as they are, unchecked: a message that
// parseAgentMessage() returned serialises to a frame that parses again.
QByteArray serializeMessage(const AgentMessage &message);

// Returns the wire type, e.g. "credential_store".
QLatin1StringView messageType(const AgentMessage &message);
QString messageId(const AgentMessage &message);

// Returns the frame's `id` when the frame is a strict JSON object within
// limits.maxMessageBytes whose id is a canonical UUID, else an empty string.
// An error reply to a frame that failed to parse names it with this.
QString readMessageId(QByteArrayView frame, const MessageLimits &limits = {});

// Builds an `error` message with a new id. A code outside isErrorCode() is
// sent as INTERNAL, because the receiver would reject any other code.
ErrorMessage makeErrorReply(const QString &inReplyTo, Reason code, const QString &message);

} // namespace sealrelay
