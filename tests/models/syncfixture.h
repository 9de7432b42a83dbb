// Test data for the credential models: three agents of one org with real
// Ed25519 certificates, and signed credential statements and receipts, plus
// the trusted operators, certificates and verifier that check them.
#pragma once

#include "agentcertificates.h"
#include "syncverifier.h"
#include "trustedoperators.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>

#include <memory>
#include <optional>

namespace sealrelay::models::testing {

inline const QString kOrgId = QStringLiteral("6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10");
inline const QString kCredentialId = QStringLiteral("0d7c3f7e-5a51-4bd4-8f0b-0e0f3d1c2a11");
inline const QStringList kAgentIds = {
    QStringLiteral("0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"),
    QStringLiteral("1c8a6a1f-9d2e-4f3b-84d5-6e7f8091a2b3"),
    QStringLiteral("2d9b7b2a-ae3f-4a4c-95e6-7f8091a2b3c4"),
};

// 2026-12-10 12:00 UTC, the clock of every certificate check.
QDateTime testNow();

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("test set-up failed: %s", qPrintable(result.error().message));
    return std::move(result).value();
}

class SyncFixture {
public:
    // Generates the operator, an unpinned key and the agents' identity keys.
    SyncFixture();

    // Creates a fresh temporary trusted-operators file pinning operatorKey,
    // an in-memory generation record, the certificates and the verifier with
    // an in-memory known-agent list, and sets `now` to testNow(). Returns
    // false when the temporary folder cannot be created.
    bool reset();

    // Agent `index` as GET /api/agents returns it, certified by `signer`, with
    // the connection `connection` and last_seen `lastSeen`.
    QJsonObject agentJson(int index, const Ed25519PrivateKey &signer,
                          const QString &connection = QStringLiteral("online"),
                          const QDateTime &lastSeen = testNow()) const;
    // Agent `index` certified by operatorKey at `generation` until
    // `expiresAt`, as GET /api/agents returns it while it is online.
    QJsonObject certifiedAgentJson(int index, qint64 generation, const QDateTime &expiresAt) const;
    // The three agents certified by operatorKey.
    QJsonArray pinnedAgents() const;

    SignedStatement credentialStatement(const QString &credentialId, qint64 version,
                                        qint64 revision, const Ed25519PrivateKey &signer,
                                        const QString &name = QStringLiteral("core-switch"),
                                        const QString &kind = QStringLiteral("password")) const;
    SignedStatement receipt(int agentIndex, const QString &credentialId, qint64 version,
                            qint64 revision, const QString &statementSha256,
                            ReceiptState state = ReceiptState::Stored,
                            const QString &reason = {}) const;
    QJsonObject credentialJson(const QString &credentialId, const QString &name,
                               const SignedStatement &statement, qint64 version, qint64 revision,
                               const QJsonArray &rows) const;
    QJsonObject storedRow(int agentIndex, const QString &credentialId,
                          const SignedStatement &receipt) const;
    QJsonObject emptyRow(int agentIndex, const QString &credentialId) const;
    // A `snapshot` frame of /api/events.
    QJsonObject snapshot(const QJsonArray &credentials, const QJsonArray &agents) const;
    // A `credential_sync_changed` frame; `agentIndex` -1 names no agent.
    QJsonObject syncEvent(const QJsonObject &credential, const QString &change,
                          int agentIndex = -1, const QJsonObject &extra = {}) const;

    // A credential at version 1 revision 1, signed by operatorKey, whose
    // agents in `stored` hold verified receipts and the others have empty rows.
    QJsonObject credentialStoredOn(const QString &credentialId, const QString &name,
                                   const QList<int> &stored,
                                   const QString &kind = QStringLiteral("password")) const;

    std::optional<Ed25519PrivateKey> operatorKey;
    std::optional<Ed25519PrivateKey> unpinnedKey;
    QList<Ed25519PrivateKey> identities;
    QByteArray encryptionKey;

    // The time every certificate and known-agent check reads. Tests move it
    // only while the verification thread is idle.
    QDateTime now = testNow();

    std::unique_ptr<QTemporaryDir> dir;
    std::optional<client::TrustedOperators> trusted;
    std::optional<client::GenerationRecord> generations;
    std::unique_ptr<client::AgentCertificates> certificates;
    std::unique_ptr<SyncVerifier> verifier;

private:
    QJsonObject agentJson(int index, const Ed25519PrivateKey &signer, const QString &connection,
                          const QDateTime &lastSeen, qint64 generation,
                          const QDateTime &expiresAt) const;
};

} // namespace sealrelay::models::testing
