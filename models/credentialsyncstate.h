// The sync chip and badges of one credential, computed from a
// CredentialVerification so the console's rule can be tested without QML.
#pragma once

#include "syncverifier.h"

#include <QDateTime>
#include <QString>
#include <QStringList>

namespace sealrelay::models {

enum class SyncChip {
    Synced, // every in-scope agent returned a verified receipt (k == n, n > 0)
    Partial, // some but not all did (0 < k < n)
    Pending, // none did yet (k == 0), including a credential with no agent in scope
};

struct CredentialSyncState {
    QString credentialId;
    QString name;
    QString kind;
    qint64 version = 0;
    qint64 revision = 0;
    QString scope; // auto_all or explicit
    QDateTime lastChange; // updated_at of the credential

    int agentCount = 0; // n: agents in scope
    int syncedCount = 0; // k: agents with a verified `stored` receipt for the current statement
    int pendingCount = 0; // in-scope agents neither synced, stalled nor failed
    int unverifiedCount = 0; // agents the backend claims as stored without a verified receipt
    bool integrityFailure = false;
    bool unprotected = false; // statement missing or not signed by a pinned operator key
    bool stalled = false; // at least one in-scope agent was retired after the maximum attempts

    SyncChip chip = SyncChip::Pending;
    // False until a verification result exists for the credential. An
    // unverified state has zero counts, no badges and the Pending chip.
    bool verified = false;

    // Computes the counts and the chip from `verification` and the
    // credential's display fields.
    static CredentialSyncState fromVerification(const QJsonObject &credential,
                                                const CredentialVerification &verification);
    // Returns the state shown while the credential's first verification is
    // running: the backend's display fields and nothing else.
    static CredentialSyncState awaitingVerification(const QJsonObject &credential);

    // Returns the translated chip text: "✓ 3/3 synced", "⚠ 2/3 synced",
    // "⏳ Pending (2)", or "⏳ Verifying" before the first result.
    QString chipText() const;
    // Returns the translated badges that apply: "Integrity failure",
    // "Unprotected".
    QStringList badges() const;
    // Returns the sort rank, problems first: 0 integrity failure, 1 stalled,
    // 2 pending or partial, 3 synced, and 4 before the first verification
    // result, which a row shows as "Verifying" without a known state yet.
    int problemRank() const;

    bool operator==(const CredentialSyncState &other) const = default;
};

} // namespace sealrelay::models
