// The audit trail's hash chain: how a row is hashed and how a chain is
// checked row by row, independent of the database holding it.
//
// row_hash = SHA-256(prev_hash || canonical_json(row without row_hash)), where
// prev_hash enters as its 32 raw bytes, the canonical JSON (RFC 8785) has
// every column but row_hash under its column name, SQL NULL is JSON null,
// `at` is RFC 3339 UTC with milliseconds and `details` is its JSON text as a
// string. Both hashes are stored as base64. An org's first row has 32 zero
// bytes as prev_hash.
#pragma once

#include "error.h"
#include "rows.h"

#include <QByteArray>
#include <QString>

#include <optional>

namespace sealrelay::backend {

// base64 of 32 zero bytes: the prev_hash of an org's first audit row.
QString auditGenesisHash();

// The canonical JSON that the row hash covers. Reason::Malformed when a
// field cannot be represented (an id of 2^53 or more).
Result<QByteArray> auditRowCanonicalJson(const AuditRecord &record);

// base64 row_hash of `record` from its prevHash and other fields.
// Reason::Malformed when prevHash is not base64 of 32 bytes.
Result<QString> computeAuditRowHash(const AuditRecord &record);

// Checks one org's rows fed in ascending id order and stops at the first
// broken one.
class AuditChainVerifier {
public:
    explicit AuditChainVerifier(std::optional<AuditHead> knownHead = std::nullopt);

    // Checks the next row; returns false once a break is found (this row's
    // or an earlier one's), after which further rows are ignored.
    bool check(const AuditRecord &record);

    // The result after the last row: a known head that never came up is
    // reported as KnownHeadMissing.
    AuditVerification finish() const;

private:
    void fail(qint64 rowId, AuditBreakKind kind, const QString &message);

    std::optional<AuditHead> m_knownHead;
    bool m_knownHeadSeen = false;
    QString m_expectedPrevHash;
    AuditVerification m_result;
};

} // namespace sealrelay::backend
