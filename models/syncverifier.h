// Decides, from agents' signed receipts and the locally pinned operator keys,
// which agents hold the current statement of a credential. The backend's own
// claims (secret_stored, sync counts) never make an agent count as synced.
#pragma once

#include "agentcertificates.h"
#include "knownagents.h"
#include "statement.h"
#include "trustedoperators.h"

#include <QDateTime>
#include <QFuture>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace sealrelay::models {

// The sync state of one in-scope agent for one credential.
enum class AgentSyncStatus {
    Synced, // verified `stored` receipt for the current statement
    PendingUnverified, // the backend claims secret_stored without such a receipt
    Pending, // nothing stored yet, or a receipt for an older statement
    Refused, // verified `refused` receipt for a non-attributed reason
    IntegrityFailure, // attributed refusal or COMMITMENT_MISMATCH_SOURCE
    Stalled, // retired by the backend after the maximum attempts
};

struct AgentSyncResult {
    QString agentId;
    AgentSyncStatus status = AgentSyncStatus::Pending;
    bool certificateVerified = false;
    bool receiptPresent = false; // the backend's row carries a receipt, verified or not
    bool receiptVerified = false; // a receipt verified under the agent's certified key
    // The fields of the receipt when receiptVerified is true. It may be a
    // `refused` receipt or one for an older statement.
    std::optional<Receipt> receipt;
    // An attributed refusal, or the backend marked this agent as the source of
    // a commitment mismatch. It can be set while the status is Synced.
    bool integrityFailure = false;
    // The backend's agent list does not contain the agent: it has only a row
    // of the credential, or only an entry in the known-agent list.
    bool missingFromAgentList = false;
    // agent_name of the agent's certificate in the known-agent list, empty
    // when the agent is not known.
    QString knownName;
    QString detail; // why the agent does not count, in plain words
};

// The outcome of verifying one credential object of GET /api/credentials/{id}.
struct CredentialVerification {
    QString credentialId;
    bool statementTrusted = false; // false: the credential is "Unprotected"
    std::optional<CredentialStatement> statement; // parsed, even when untrusted
    QString statementSha256;
    QList<AgentSyncResult> agents; // in-scope agents, ordered by agent id
};

// An agent row after its certificate check, reduced to what receipt checks
// need. It holds only implicitly shared Qt values and no OpenSSL key object,
// so a copy can be sent to another thread.
struct CheckedAgent {
    QString agentId;
    QString status; // the backend's status: pending_approval, approved or revoked
    QByteArray identityKey; // raw Ed25519 key from the verified certificate, empty when rejected
    QString rejection; // why the certificate was rejected, empty when it verified
};

// Verifies credential statements and agents' receipts against checked agents
// and the raw bytes of the pinned operator keys. An instance owns copies of
// everything it reads, so it can live on a worker thread, but it must be used
// from one thread at a time.
class ReceiptVerifier {
public:
    // `trustedKeys` are raw Ed25519 operator keys. `orgId` comes from local
    // configuration, never from the backend. `clock` decides whether a known
    // agent's certificate has expired.
    ReceiptVerifier(QList<QByteArray> trustedKeys, QString orgId,
                    client::Clock clock = client::systemClock());

    void setTrustedKeys(QList<QByteArray> trustedKeys);
    // Replaces every agent.
    void setAgents(const QList<CheckedAgent> &agents);
    // Adds or replaces one agent.
    void updateAgent(const CheckedAgent &agent);
    // Replaces the known-agent list: agents seen earlier with a verified
    // certificate. Under auto_all they are in scope even when the backend no
    // longer lists them, unless it lists them as revoked or their known
    // certificate has expired.
    void setKnownAgents(const QList<KnownAgent> &agents);

    // Verifies the credential's statement and every in-scope agent's row.
    CredentialVerification verify(const QJsonObject &credential);

    // Number of receipt and statement signatures checked, cache misses only.
    qint64 signatureChecks() const { return m_signatureChecks; }

private:
    struct CachedStatement {
        bool verified = false;
        QJsonObject fields;
    };

    std::optional<CredentialStatement> readStatement(const QJsonObject &credential,
                                                     CredentialVerification &result);
    QStringList inScopeAgents(const QJsonObject &credential,
                              const std::optional<CredentialStatement> &statement,
                              const QHash<QString, QJsonObject> &rows) const;
    AgentSyncResult verifyAgent(const QString &agentId, const QJsonObject &row,
                                const CredentialVerification &credential);
    const CachedStatement &checkSignature(StatementContext context,
                                          const SignedStatement &statement,
                                          const Ed25519PublicKey &signer);

    QList<QByteArray> m_trustedKeys;
    QString m_orgId;
    client::Clock m_clock;
    QHash<QString, CheckedAgent> m_agents;
    QHash<QString, KnownAgent> m_knownAgents;
    // Keyed by context, signer, signature and statement bytes, so an unchanged
    // receipt is checked once however many events repeat it.
    QHash<QByteArray, CachedStatement> m_signatureCache;
    qint64 m_signatureChecks = 0;
};

// The outcome of AgentCertificates::verify() for one agent row, computed on a
// worker thread from copies of the pinned keys and the generation record.
struct CertificatePrecheck {
    client::AgentRow row; // the row as checked
    QList<QByteArray> trustedKeys; // raw pinned operator keys the check used
    std::optional<qint64> recordedGeneration; // the agent's recorded generation it used
    std::optional<client::CertifiedAgent> certified; // empty when the check failed
};

// Checks agent certificates with a shared AgentCertificates, records the
// agents that pass in a known-agent list and verifies receipts on the calling
// thread. CredentialsModel uses it for the certificate checks, the pinned
// keys and the known agents, and verifies receipts on its own worker thread
// with a ReceiptVerifier.
class SyncVerifier {
public:
    // `trusted`, `certificates` and `knownAgents` must outlive this object.
    // The org id is certificates.orgId(), which comes from local
    // configuration. Without `knownAgents` the verifier keeps an in-memory
    // list of its own, which starts empty.
    // `generations`, when given, must be the record that `certificates`
    // uses. It enables prechecks (startPrecheck()).
    SyncVerifier(const client::TrustedOperators &trusted, client::AgentCertificates &certificates,
                 KnownAgents *knownAgents = nullptr,
                 client::GenerationRecord *generations = nullptr);

    // Replaces the agents (rows of GET /api/agents), verifies their
    // certificates once and saves the known-agent list.
    void setAgents(const QList<client::AgentRow> &agents);
    // Adds or replaces one agent, as `agent_status_changed` delivers it, and
    // saves the known-agent list.
    void updateAgent(const client::AgentRow &agent);

    // Verifies one agent's certificate, and records the agent in the
    // known-agent list in memory when it verified.
    CheckedAgent checkAgent(const client::AgentRow &agent);
    // checkAgent() for each agent, with one write of the generation record.
    QList<CheckedAgent> checkAgents(const QList<client::AgentRow> &agents);
    // Returns what AgentCertificates::verify() returns for `agent`. A
    // precheck of the same row takes the place of the parse and signature
    // check when the pinned keys are those it used, the certificate has not
    // expired since, and the agent's recorded generation is the one the
    // precheck read or not above the certificate's generation. The
    // generation is then raised as verify() raises it.
    Result<client::CertifiedAgent> verifyCertificate(const client::AgentRow &agent);
    // Number of verifyCertificate() calls that ran AgentCertificates::verify()
    // on the calling thread because no precheck applied.
    qint64 certificateChecks() const { return m_certificateChecks; }

    // Starts checking the certificates of `agents` on a thread of
    // QThreadPool::globalInstance(), with copies of the pinned keys, the
    // generation record and the current time. Without a generation record
    // the future contains no precheck.
    QFuture<QList<CertificatePrecheck>> startPrecheck(const QList<client::AgentRow> &agents) const;
    // Keeps `prechecks` for verifyCertificate(), replacing those kept before.
    void setPrechecks(const QList<CertificatePrecheck> &prechecks);
    // Writes the known-agent list's unsaved changes to its file. A failure
    // is logged as a warning, once until a write succeeds again, and the
    // changes stay in memory.
    void saveKnownAgents();

    // Verifies the credential's statement and every in-scope agent's row
    // under the operator keys pinned at the time of the call.
    CredentialVerification verify(const QJsonObject &credential);

    // Raw bytes of the operator keys pinned now.
    QList<QByteArray> trustedKeys() const;
    const QString &orgId() const { return m_certificates.orgId(); }
    // The clock of the certificate checks.
    const client::Clock &clock() const { return m_certificates.clock(); }
    // A copy of the known-agent list.
    QList<KnownAgent> knownAgents() const { return m_knownAgents->agents(); }

    // Number of receipt and statement signatures checked, cache misses only.
    qint64 signatureChecks() const { return m_receipts.signatureChecks(); }

private:
    const client::TrustedOperators &m_trusted;
    client::AgentCertificates &m_certificates;
    client::GenerationRecord *m_generations; // nullptr: no prechecks
    QHash<QString, CertificatePrecheck> m_prechecks; // by agent id
    qint64 m_certificateChecks = 0;
    std::optional<KnownAgents> m_ownKnownAgents; // used when no list was passed
    KnownAgents *m_knownAgents;
    bool m_knownAgentsWriteFailing = false;
    ReceiptVerifier m_receipts;
};

// Reasons of a `refused` receipt that an agent attributes to the envelope's
// source: a failed decryption, a malformed payload or a wrong commitment.
bool isAttributedRefusal(QStringView reason);

} // namespace sealrelay::models
