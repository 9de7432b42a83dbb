// The agent's local audit log: an append-only, hash-chained table in the
// vault database recording every store, refusal and integrity failure with
// ids, reason and severity, and never a secret. A host administrator can
// read it even when the backend hides the events.
//
// row_hash = base64(SHA-256(prev_hash || canonical_json(row without
// row_hash))), where prev_hash enters as its 32 raw bytes and the canonical
// JSON (RFC 8785) has every other column under its name, SQL NULL as null
// and `at` as an RFC 3339 UTC time with milliseconds. The first row's
// prev_hash is 32 zero bytes.
#pragma once

#include "clock.h"
#include "error.h"
#include "vaultdatabase.h"

#include <QDateTime>
#include <QList>
#include <QString>

#include <optional>

namespace sealrelay::agent {

enum class AuditSeverity { Info, Critical };

QString auditSeverityName(AuditSeverity severity);

// One event to record. Every text field is an id, a wire name or a sentence
// without secret material.
struct LocalAuditEntry {
    QString event; // e.g. "credential_stored", "credential_refused"
    AuditSeverity severity = AuditSeverity::Info;
    QString credentialId; // "" when the event has none
    std::optional<qint64> version;
    std::optional<qint64> revision;
    QString reason; // a wire reason name, or ""
    QString referenceId; // the delivery_id or request_id, or ""
    QString counterpartId; // source agent, target agent or operator key, or ""
    QString detail; // what happened, for people
};

// A stored row: the entry plus its position in the chain.
struct LocalAuditRecord {
    qint64 id = 0;
    QDateTime at;
    LocalAuditEntry entry;
    QString prevHash;
    QString rowHash;
};

// The last row a verifier has seen intact, kept by the caller so that rows
// removed from the end of the chain are noticed on the next run.
struct LocalAuditHead {
    qint64 id = 0;
    QString rowHash;
};

struct LocalAuditVerification {
    bool intact = true;
    qint64 rowsChecked = 0;
    std::optional<qint64> firstBrokenId; // the first row that fails a check
    QString problem; // why it fails, for people
    std::optional<LocalAuditHead> head; // the last row, when there is one
};

class LocalAudit {
public:
    LocalAudit(VaultDatabase &database, Clock clock);

    // Creates the table and the triggers that reject UPDATE and DELETE.
    static Result<void> createSchema(VaultDatabase &database);

    // Appends one row in its own write transaction and returns its id.
    // With CommitDurability::WithinSyncDelay the row reaches the disk in the
    // background, within kDeferredSyncDelay.
    Result<qint64> append(const LocalAuditEntry &entry,
                          CommitDurability durability = CommitDurability::OnCommit);

    // Appends one row inside the caller's open WriteTransaction, so the row
    // commits or rolls back with the change it records.
    Result<qint64> appendInTransaction(const LocalAuditEntry &entry);

    // Returns the rows with id > afterId in ascending order.
    Result<QList<LocalAuditRecord>> records(qint64 afterId = 0) const;

    // Walks the chain from its first row and reports the first row whose
    // prev_hash does not link to the row before it or whose row_hash does not
    // match its content. With `knownHead`, a chain that no longer contains
    // that row with that hash is reported as broken too.
    Result<LocalAuditVerification>
    verify(const std::optional<LocalAuditHead> &knownHead = std::nullopt) const;

private:
    VaultDatabase &m_database;
    Clock m_clock;
};

} // namespace sealrelay::agent
