// Agent certificates on the operator's side. Rows of GET /api/agents are
// verified against the locally pinned operator keys, and a local record keeps
// the highest certificate generation seen per agent. Approval signs a new
// certificate only after the operator typed the agent's fingerprint.
#pragma once

#include "clientfiles.h"
#include "error.h"
#include "keys.h"
#include "statement.h"
#include "trustedoperators.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <chrono>
#include <optional>

namespace sealrelay::client {

// Minimum number of hex digits of the agent fingerprint an operator types.
inline constexpr qsizetype kMinTypedFingerprintDigits = 16;
// Maximum certificate lifetime of the protocol.
inline constexpr std::chrono::days kMaxCertificateValidity { 365 };

// One entry of GET /api/agents, as the backend claims it.
struct AgentRow {
    QString agentId;
    QString name;
    QString status; // pending_approval, approved, revoked
    QByteArray encryptionKey; // SPKI DER of the RSA-2048 key
    QByteArray identityKey; // raw Ed25519, 32 bytes
    std::optional<SignedStatement> certificate; // absent while pending
    qint64 generation = 0; // the backend's stored generation

    // Reads one row; a missing or badly encoded field is Reason::Malformed
    // naming it.
    static Result<AgentRow> fromJson(const QJsonObject &row);
};

// Reads {"agents": [...]} as GET /api/agents returns it.
Result<QList<AgentRow>> parseAgentList(const QJsonObject &reply);

// An agent whose certificate verified: the keys to seal to come from the
// certificate, never from the backend's row.
struct CertifiedAgent {
    AgentCertificate certificate;
    SignedStatement signedCertificate;
    RsaPublicKey encryptionKey;
    QString encryptionKeyFingerprint; // target_key_fingerprint, 64 hex digits
};

// The highest certificate generation seen per agent_id, kept in a small JSON
// file ({"agents": {"<agent_id>": <generation>}}, mode 0600) so a backend
// cannot roll an agent back to older keys between runs.
class GenerationRecord {
public:
    // <config folder>/sealrelay/agent-generations-<profile>.json.
    static QString defaultPath(const QString &profile);
    // A missing file is an empty record.
    static Result<GenerationRecord> load(const QString &path);
    // A record that is never written to disk, for tests and one-off checks.
    static GenerationRecord inMemory();

    std::optional<qint64> highest(const QString &agentId) const;
    // Raises the recorded generation; a lower or equal one changes nothing.
    // Outside a Batch the file is written before it returns, and a failed
    // write keeps the old generation and returns the error.
    Result<void> raise(const QString &agentId, qint64 generation);

    // Defers the file writes of raise() while it exists, so that raising
    // the generations of many agents (a console loading its agent list)
    // writes and syncs the file once. A failed final write is logged, and
    // the raised generations stay in memory until a later write succeeds.
    class Batch {
    public:
        explicit Batch(GenerationRecord &record);
        ~Batch();
        Batch(const Batch &) = delete;
        Batch &operator=(const Batch &) = delete;

        // Ends the batch and writes the file when a generation rose.
        Result<void> finish();

    private:
        GenerationRecord *m_record;
    };

private:
    explicit GenerationRecord(QString path)
        : m_path(std::move(path))
    {
    }

    Result<void> write() const;

    QString m_path; // empty: in memory only
    QHash<QString, qint64> m_generations;
    int m_batchDepth = 0;
    bool m_unwritten = false; // a raise() inside a Batch is not in the file yet
};

class AgentCertificates {
public:
    // `trusted` and `generations` must outlive this object. `orgId` is the
    // operator's own org from local configuration, never from the backend.
    AgentCertificates(const TrustedOperators &trusted, QString orgId, GenerationRecord &generations,
                      Clock clock = systemClock());

    const QString &orgId() const { return m_orgId; }
    GenerationRecord &generations() { return m_generations; }
    // The clock that decides whether a certificate has expired.
    const Clock &clock() const { return m_clock; }

    // Verifies a row's certificate with these checks: strict parse, the
    // signature under its own operator_key, that key pinned in the trusted
    // operators, org_id equal to ours, and expires_at after now. Its
    // generation must not be lower than the highest recorded, and a higher
    // one is recorded. Its agent_id and both keys must equal the row's.
    // Every failure is Reason::UntrustedTargetKey naming the agent.
    Result<CertifiedAgent> verify(const AgentRow &row);

    // Signs a certificate for `row` with `signer`, for POST
    // /api/agents/{id}/certificate, after matchTypedFingerprint() accepted
    // `typedFingerprint` against core's agentFingerprint() over the row's
    // agent_id and keys, the exact bytes signed here. Also rejects
    // (Reason::Malformed) a generation below 1 or below the highest
    // recorded and a validity outside 1 second to 365 days, and a signer
    // that is not pinned (Reason::UntrustedOperator). It does not record the
    // generation: raise the GenerationRecord once the backend accepted it.
    Result<SignedStatement> certify(const AgentRow &row, QStringView typedFingerprint,
                                    qint64 generation, const Ed25519PrivateKey &signer,
                                    std::chrono::seconds validity = kMaxCertificateValidity);

private:
    const TrustedOperators &m_trusted;
    QString m_orgId;
    GenerationRecord &m_generations;
    Clock m_clock;
};

// Checks what an operator typed against the agent fingerprint `expected`
// (64 hex digits). Whitespace is ignored and case does not matter. Fewer
// than 16 hex digits, or a character that is not a hex digit, is
// Reason::Malformed. Digits that are not a prefix of `expected` are
// Reason::IdMismatch.
Result<void> matchTypedFingerprint(QStringView typed, QStringView expected);

} // namespace sealrelay::client
