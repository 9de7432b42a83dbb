// Signed test data for the console benchmark: an org with agents certified by
// one operator key, credentials with a real receipt from each agent, and the
// live events of a rotation wave, in the JSON forms of the backend's feed.
#pragma once

#include "keys.h"
#include "statement.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace sealrelay::bench {

struct BenchDataOptions {
    int credentials = 10000;
    int agents = 10;
    int liveEvents = 10000; // credential_sync_changed events of the live phase
    // Every `pendingEvery`th credential lacks a receipt from its last agent,
    // and every `stalledEvery`th is stalled there, so the table has problem
    // rows to sort first. 0 disables either.
    int pendingEvery = 50;
    int stalledEvery = 500;
};

class BenchData {
public:
    // Generates the operator key, the agents' identity keys and one RSA
    // encryption key that every agent's certificate names (the console
    // checks only the certificate's signature and fields, never uses it).
    explicit BenchData(const BenchDataOptions &options);

    const QString &orgId() const { return m_orgId; }
    QByteArray operatorPublicKey() const { return m_operatorKey->publicKey().raw(); }

    // The `data` object of a `snapshot` frame: every credential as
    // GET /api/credentials/{id} returns it, the agents, no alerts. Returns
    // the number of signatures made in `signatures`.
    QJsonObject snapshotData(qint64 &signatures);

    // The `data` objects of the live phase: `delivered` changes with a new
    // `stored` receipt, for credentials rotated to the next version. The
    // events for 100 credentials (10 receipts each for 10 agents) interleave,
    // as deliveries to several agents run at once. Call snapshotData() first,
    // because each new statement names the snapshot's as its predecessor.
    QList<QJsonObject> liveEventData(qint64 &signatures) const;

private:
    QString credentialId(int index) const;
    QString credentialName(int index) const;
    SignedStatement credentialStatement(int index, qint64 version,
                                        const QString &previousSha256) const;
    SignedStatement receipt(int agent, const QString &credentialId, qint64 version,
                            const QString &statementSha256) const;
    QJsonObject credentialSummary(int index, qint64 version, const SignedStatement &statement,
                                  int delivered) const;
    QJsonObject agentRow(int agent, const QString &credentialId, qint64 version,
                         const std::optional<SignedStatement> &receipt) const;
    QJsonObject agentJson(int agent) const;

    BenchDataOptions m_options;
    QString m_orgId;
    QDateTime m_now; // issued_at of statements and `at` of receipts
    std::optional<Ed25519PrivateKey> m_operatorKey;
    QList<Ed25519PrivateKey> m_identities;
    QStringList m_agentIds; // sorted, as statements list agents
    QStringList m_credentialIds;
    QStringList m_snapshotSha256; // statement_sha256 of each credential in the snapshot
    QByteArray m_encryptionKey;
};

} // namespace sealrelay::bench
