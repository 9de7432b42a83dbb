// Decides, from agents' signed receipts and the locally pinned operator keys,
// which agents hold the current statement of a credential. The backend's own
// claims (secret_stored, sync counts) never make an agent count as synced.
#pragma once

#include "agentcertificates.h"
#include "statement.h"
#include "trustedoperators.h"

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
    bool receiptVerified = false; // a receipt verified under the agent's certified key
    // An attributed refusal, or the backend marked this agent as the source of
    // a commitment mismatch. It can be set while the status is Synced.
    bool integrityFailure = false;
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

class SyncVerifier {
public:
    // `trusted` and `certificates` must outlive this object. The org id is
    // certificates.orgId(), which comes from local configuration.
    SyncVerifier(const client::TrustedOperators &trusted, client::AgentCertificates &certificates);

    // Replaces the agents (rows of GET /api/agents) and verifies their
    // certificates once.
    void setAgents(const QList<client::AgentRow> &agents);
    // Adds or replaces one agent, as `agent_status_changed` delivers it.
    void updateAgent(const client::AgentRow &agent);

    // Verifies the credential's statement and every in-scope agent's row.
    CredentialVerification verify(const QJsonObject &credential);

    // Number of receipt and statement signatures checked, cache misses only.
    qint64 signatureChecks() const { return m_signatureChecks; }

private:
    struct AgentEntry {
        client::AgentRow row;
        std::optional<client::CertifiedAgent> certified;
        QString rejection; // why the certificate was rejected
    };
    struct CachedStatement {
        bool verified = false;
        QJsonObject fields;
    };

    void addAgent(const client::AgentRow &agent);
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

    const client::TrustedOperators &m_trusted;
    client::AgentCertificates &m_certificates;
    QHash<QString, AgentEntry> m_agents;
    // Keyed by context, signer, signature and statement bytes, so an unchanged
    // receipt is checked once however many events repeat it.
    QHash<QByteArray, CachedStatement> m_signatureCache;
    qint64 m_signatureChecks = 0;
};

// Reasons of a `refused` receipt that an agent attributes to the envelope's
// source: a failed decryption, a malformed payload or a wrong commitment.
bool isAttributedRefusal(QStringView reason);

} // namespace sealrelay::models
