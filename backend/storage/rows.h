// Typed rows of the backend's durable state, as Storage reads and writes them.
// Times are UTC with millisecond precision; an empty std::optional is SQL NULL.
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace sealrelay::backend {

// ---- Enumerations stored as text ------------------------------------------

enum class ApiRole { Admin, Operator, Auditor };
enum class AgentStatus { PendingApproval, Approved, Revoked };
enum class CredentialScope { AutoAll, Explicit };
enum class CredentialState { Active, Deleted };
enum class AlertSeverity { Medium, High, Critical };

// Each name*() returns the stored text ("admin", "pending_approval", ...);
// each parse*() returns std::nullopt for text it does not know.
QString apiRoleName(ApiRole role);
std::optional<ApiRole> parseApiRole(QStringView text);
QString agentStatusName(AgentStatus status);
std::optional<AgentStatus> parseAgentStatus(QStringView text);
QString credentialScopeName(CredentialScope scope);
std::optional<CredentialScope> parseCredentialScope(QStringView text);
QString credentialStateName(CredentialState state);
std::optional<CredentialState> parseCredentialState(QStringView text);
QString alertSeverityName(AlertSeverity severity);
std::optional<AlertSeverity> parseAlertSeverity(QStringView text);

// ---- Orgs and tokens ------------------------------------------------------

struct OrgRow {
    QString orgId;
    QString name;
    QDateTime createdAt;
};

// A console or CLI bearer token. Only SHA-256 of the token is stored.
struct ApiTokenRow {
    QString orgId;
    QString tokenId;
    QByteArray tokenHash; // 32 bytes
    ApiRole role = ApiRole::Auditor;
    QString label;
    QDateTime createdAt;
    std::optional<QDateTime> revokedAt;
};

// Maximum lifetime of an enrolment token, from creation to expiry.
inline constexpr qint64 kMaxEnrolmentTokenLifetimeMs = 24 * 60 * 60 * 1000;

struct EnrolmentTokenRow {
    QString orgId;
    QString tokenId;
    QByteArray tokenHash; // 32 bytes
    QString agentName; // the only agent name this token enrols
    QString createdBy; // tokenId of the operator's API token
    QDateTime createdAt;
    QDateTime expiresAt; // at most kMaxEnrolmentTokenLifetimeMs after createdAt
    std::optional<QDateTime> usedAt;
    std::optional<QString> usedByAgentId;
};

enum class EnrolmentOutcome {
    Consumed, // the token was valid and is now used
    Unknown, // no token has this hash
    AlreadyUsed, // presented a second time: the caller raises enrolment_token_reused
    Expired, // presented after expires_at: the caller raises enrolment_token_reused
    NameMismatch, // the agent name differs from the one the token is bound to; not consumed
};

struct EnrolmentConsumption {
    EnrolmentOutcome outcome = EnrolmentOutcome::Unknown;
    std::optional<EnrolmentTokenRow> token; // set for every outcome but Unknown
};

// ---- Agents ---------------------------------------------------------------

struct AgentRow {
    QString orgId;
    QString agentId; // chosen by the agent at init
    QString name;
    AgentStatus status = AgentStatus::PendingApproval;
    QByteArray encryptionKey; // SPKI DER of the RSA-2048 key
    QByteArray identityKey; // raw 32-byte Ed25519 public key
    std::optional<QByteArray> certificateStatement; // exact signed bytes
    std::optional<QByteArray> certificateSignature;
    qint64 generation = 0; // 0 until the first certificate
    std::optional<QDateTime> expiresAt; // certificate expiry
    std::optional<QDateTime> lastSeen;
    bool quarantined = false;
    QDateTime createdAt;
};

struct AgentCertificate {
    QByteArray statement; // exact signed bytes of sealrelay/agent-certificate/v1
    QByteArray signature;
    qint64 generation = 0;
    QDateTime expiresAt;
};

// ---- Credentials ----------------------------------------------------------

// The only commitment scheme so far: HMAC-SHA256(salt, secret_bytes).
inline constexpr int kCommitmentVersion = 1;

// The current signed statement of a credential. There is no field for a salt
// or a secret: the backend never receives them.
struct CredentialRow {
    QString orgId;
    QString credentialId;
    QString name;
    QString kind;
    qint64 version = 0;
    qint64 revision = 0;
    QByteArray statement; // exact signed bytes of sealrelay/credential/v1
    QByteArray signature;
    QString statementSha256; // base64(SHA-256(statement)); Storage computes it on write
    std::optional<QByteArray> commitment; // 32 bytes
    std::optional<int> commitmentVersion; // kCommitmentVersion, or empty with no commitment
    CredentialScope scope = CredentialScope::AutoAll;
    QStringList scopeAgentIds; // sorted; empty under auto_all
    CredentialState state = CredentialState::Active;
    QDateTime createdAt;
    QDateTime updatedAt;
};

// The stored state a credential write expects to replace; the write happens
// only while the row still matches all three.
struct CredentialExpectation {
    qint64 version = 0;
    qint64 revision = 0;
    QString statementSha256;
};

enum class CredentialWriteOutcome {
    Written,
    AlreadyExists, // create: the credential_id is taken
    NameTaken, // another active credential of the org has this name
    NotFound, // rotate or update: no such credential
    Conflict, // rotate or update: the stored (version, revision, statement) moved on
};

// Delivery state of one credential on one agent.
struct CredentialAgentRow {
    QString orgId;
    QString credentialId;
    QString agentId;
    // Whether the credential's current statement covers the agent: always
    // under scope auto_all, only for the listed agents under scope explicit.
    bool inScope = true;
    bool secretStored = false;
    std::optional<qint64> storedVersion;
    std::optional<qint64> storedRevision;
    int attempts = 0;
    QDateTime nextAttemptAt;
    std::optional<QString> lastError;
    bool stalled = false;
    std::optional<QByteArray> receiptStatement; // the agent's signed receipt, exact bytes
    std::optional<QByteArray> receiptSignature;
    std::optional<QDateTime> receiptAt;
};

struct CredentialDetail {
    CredentialRow credential;
    QList<CredentialAgentRow> agents; // ordered by agent_id
};

// One credential_agents row of a credential with the state of its agent
// that decides whether the agent may serve as a rewrap peer for it.
struct PeerCandidateRow {
    QString agentId;
    bool secretStored = false;
    std::optional<qint64> storedVersion;
    AgentStatus status = AgentStatus::PendingApproval;
    bool quarantined = false;
    bool hasCertificate = false;
    std::optional<QDateTime> certificateExpiresAt;
    // True while an unexpired peer_blocklist entry blocks the agent as a
    // source of this credential.
    bool blocked = false;
};

// A signed receipt that marks a (credential, agent) row delivered.
struct DeliveryReceipt {
    qint64 version = 0;
    qint64 revision = 0;
    bool secretStored = true; // false for a `deleted` receipt
    QByteArray statement;
    QByteArray signature;
    QDateTime at;
};

// ---- Deliveries, dispatches, blocklist -------------------------------------

// A creator's envelope waiting for its target agent.
struct PendingDeliveryRow {
    QString orgId;
    QString deliveryId;
    QString credentialId;
    qint64 version = 0;
    QString targetAgentId;
    QByteArray envelope; // canonical JSON of the envelope
    QByteArray attestationStatement; // exact signed bytes of sealrelay/attestation/v1
    QByteArray attestationSignature;
    QDateTime createdAt;
};

// A rewrap request sent to a peer and not yet answered.
struct PendingDispatchRow {
    QString orgId;
    QString dispatchId; // the request_id of the rewrap_request
    QString credentialId;
    QString targetAgentId;
    QString peerAgentId;
    int attempt = 0;
    QString originatingReplicaId;
    QString dispatchAuditId;
    QDateTime startedAt;
    QDateTime deadline;
};

// The last status a backend replica reported.
struct ReplicaStatusRow {
    QString replicaId;
    QString coordination; // kind of the store its operations go to
    bool degraded = false; // true while that is a fallback store
    bool usable = true;
    QString detail;
    QString version;
    QDateTime startedAt;
    QDateTime seenAt;
};

struct BlocklistRow {
    QString orgId;
    QString credentialId;
    QString sourceAgentId;
    QString reporterAgentId;
    QDateTime createdAt;
    QDateTime expiresAt;
};

// ---- Alerts ---------------------------------------------------------------

struct AlertRow {
    QString orgId;
    QString alertId;
    QString type; // e.g. credential_sync_stalled
    AlertSeverity severity = AlertSeverity::Medium;
    QString subject; // what the alert is about, e.g. "credential:<id>/agent:<id>"
    std::optional<QString> details; // JSON text of the latest raise
    QDateTime firstSeen;
    QDateTime lastSeen;
    qint64 count = 1;
    std::optional<QDateTime> acknowledgedAt;
    std::optional<QString> acknowledgedBy;
};

struct AlertRaise {
    QString orgId;
    QString type;
    AlertSeverity severity = AlertSeverity::Medium;
    QString subject;
    std::optional<QString> details;
};

struct AlertRaiseResult {
    AlertRow alert;
    bool created = false; // false when an open alert of the same (type, subject) was bumped
};

struct AlertFilter {
    std::optional<QString> type;
    std::optional<QString> subject;
    std::optional<AlertSeverity> severity;
    std::optional<bool> acknowledged; // empty: both open and acknowledged alerts
    std::optional<QDateTime> seenSince; // last_seen at or after this time
    int limit = 100;
};

// ---- Audit trail ----------------------------------------------------------

// An audit event as a caller appends it; Storage assigns id, at, prev_hash
// and row_hash.
struct AuditEntry {
    QString orgId;
    QString event; // e.g. dispatch, commitment_mismatch_detected
    QString actor; // e.g. "agent:<id>", "token:<id>", "backend"
    std::optional<QString> credentialId;
    std::optional<QString> agentId;
    std::optional<QString> dispatchAuditId;
    std::optional<QString> outcome; // e.g. pending, success, peer_failed, timeout, exhausted
    std::optional<QString> reason;
    std::optional<QString> details; // JSON text
};

// One stored audit row. Its hash covers every field but rowHash.
struct AuditRecord {
    qint64 id = 0;
    QString orgId;
    QDateTime at;
    QString event;
    QString actor;
    std::optional<QString> credentialId;
    std::optional<QString> agentId;
    std::optional<QString> dispatchAuditId;
    std::optional<QString> outcome;
    std::optional<QString> reason;
    std::optional<QString> details;
    QString prevHash; // base64 of 32 bytes
    QString rowHash; // base64 of 32 bytes
};

struct AuditFilter {
    std::optional<QString> credentialId;
    std::optional<QString> agentId;
    std::optional<QString> event;
    std::optional<QDateTime> from; // at >= from
    std::optional<QDateTime> until; // at < until
    std::optional<qint64> afterId; // id > afterId, for paging forwards
    std::optional<qint64> beforeId; // id < beforeId, for paging backwards
    bool newestFirst = false;
    int limit = 100;
};

// The last row of an org's chain that a verification accepted. rowId 0 with
// an empty rowHash is the head of an empty chain.
struct AuditHead {
    qint64 rowId = 0;
    QString rowHash;
};

enum class AuditBreakKind {
    Malformed, // a stored hash is not base64 of 32 bytes, or the row cannot be hashed
    PrevHashMismatch, // prev_hash differs from the previous row's row_hash
    RowHashMismatch, // row_hash differs from the hash of the row's contents
    KnownHeadMissing, // the head remembered by an earlier verification is gone
    KnownHeadChanged, // that head's row_hash differs from the remembered one
};

struct AuditBreak {
    qint64 rowId = 0;
    AuditBreakKind kind = AuditBreakKind::Malformed;
    QString message;
};

struct AuditVerification {
    qint64 rowsVerified = 0;
    std::optional<AuditBreak> firstBreak; // empty when the whole chain verified
    AuditHead head; // last verified row; remember it for the next run

    bool intact() const { return !firstBreak.has_value(); }
};

} // namespace sealrelay::backend
