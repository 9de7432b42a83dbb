// SqlStorage: appending to the hash-chained audit trail, querying it and
// verifying the chain.
#include "auditchain.h"
#include "auditevents.h"
#include "canonicaljson.h"
#include "sqlstorage.h"
#include "sqlvalues.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kAuditColumns =
    u"id, org_id, at, event, actor, credential_id, agent_id, dispatch_audit_id, outcome, reason, "
    "details, prev_hash, row_hash"_s;

// Rows read per query while verifying, so a long chain is never held whole.
constexpr int kVerifyPageSize = 1000;

AuditRecord auditRecordAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    AuditRecord record;
    record.id = columns.value(u"id"_s).toLongLong();
    record.orgId = columns.value(u"org_id"_s).toString();
    record.at = timeAt(columns, u"at"_s);
    record.event = columns.value(u"event"_s).toString();
    record.actor = columns.value(u"actor"_s).toString();
    record.credentialId = optionalTextAt(columns, u"credential_id"_s);
    record.agentId = optionalTextAt(columns, u"agent_id"_s);
    record.dispatchAuditId = optionalTextAt(columns, u"dispatch_audit_id"_s);
    record.outcome = optionalTextAt(columns, u"outcome"_s);
    record.reason = optionalTextAt(columns, u"reason"_s);
    record.details = optionalTextAt(columns, u"details"_s);
    record.prevHash = columns.value(u"prev_hash"_s).toString();
    record.rowHash = columns.value(u"row_hash"_s).toString();
    return record;
}

Result<void> checkAuditEntry(const AuditEntry &entry)
{
    if (entry.orgId.isEmpty() || entry.event.isEmpty() || entry.actor.isEmpty()) {
        return makeError(Reason::Malformed, u"an audit entry needs org_id, event and actor"_s);
    }
    if (!isAuditEvent(entry.event)) {
        return makeError(
            Reason::Malformed,
            u"%1 is not an audit event; add it to auditEventNames()"_s.arg(entry.event));
    }
    if (entry.details) {
        auto parsed = parseJsonStrict(entry.details->toUtf8());
        if (!parsed) {
            return makeError(Reason::Malformed,
                             u"details of audit event %1 are not valid JSON: %2"_s.arg(
                                 entry.event, parsed.error().message));
        }
        if (!parsed->isObject() && !parsed->isArray()) {
            return makeError(
                Reason::Malformed,
                u"details of audit event %1 must be a JSON object or array"_s.arg(entry.event));
        }
    }
    return {};
}

} // namespace

Result<AuditRecord> SqlStorage::appendAudit(const AuditEntry &entry)
{
    if (auto checked = checkAuditEntry(entry); !checked) {
        return checked.error();
    }

    SqlTransaction transaction(*m_connection);
    if (auto begun = transaction.begin(u"append to the audit trail"); !begun) {
        return begun.error();
    }

    // Appends of one org are serialised from here to the commit, so the
    // chain head read next is still the head when the new row goes in.
    if (const QString lock = m_connection->auditAppendLockStatement(); !lock.isEmpty()) {
        auto locked = m_connection->exec(u"lock the audit chain of org %1"_s.arg(entry.orgId), lock,
                                         { { u":org_id"_s, entry.orgId } });
        if (!locked) {
            return locked.error();
        }
    }

    AuditRecord record;
    record.orgId = entry.orgId;
    record.at = now();
    record.event = entry.event;
    record.actor = entry.actor;
    record.credentialId = entry.credentialId;
    record.agentId = entry.agentId;
    record.dispatchAuditId = entry.dispatchAuditId;
    record.outcome = entry.outcome;
    record.reason = entry.reason;
    record.details = entry.details;
    record.prevHash = auditGenesisHash();

    {
        // One statement reads the org's chain head, which is NULL while the
        // org has no row, and takes the next row id.
        auto head = m_connection->exec(
            u"read the audit chain head of org %1"_s.arg(entry.orgId),
            u"SELECT (SELECT row_hash FROM audit_log WHERE org_id = :org_id "
            "ORDER BY id DESC LIMIT 1), %1"_s.arg(m_connection->nextAuditIdExpression()),
            { { u":org_id"_s, entry.orgId } });
        if (!head) {
            return head.error();
        }
        if (!head->next()) {
            return makeError(
                Reason::IoError,
                u"reading the audit chain head of org %1 returned no row"_s.arg(entry.orgId));
        }
        if (const QVariant prevHash = head->value(0); !prevHash.isNull()) {
            record.prevHash = prevHash.toString();
        }
        record.id = head->value(1).toLongLong();
    }

    auto rowHash = computeAuditRowHash(record);
    if (!rowHash) {
        return makeError(rowHash.error().reason,
                         u"could not hash audit row %1: %2"_s.arg(QString::number(record.id),
                                                                  rowHash.error().message));
    }
    record.rowHash = rowHash.value();

    {
        auto inserted = m_connection->exec(
            u"append audit event %1"_s.arg(entry.event),
            u"INSERT INTO audit_log (%1) VALUES (:id, :org_id, :at, :event, :actor, "
            ":credential_id, :agent_id, :dispatch_audit_id, :outcome, :reason, :details, "
            ":prev_hash, :row_hash)"_s.arg(kAuditColumns),
            { { u":id"_s, QVariant::fromValue<qlonglong>(record.id) },
              { u":org_id"_s, record.orgId },
              { u":at"_s, dbTime(record.at) },
              { u":event"_s, record.event },
              { u":actor"_s, record.actor },
              { u":credential_id"_s, dbText(record.credentialId) },
              { u":agent_id"_s, dbText(record.agentId) },
              { u":dispatch_audit_id"_s, dbText(record.dispatchAuditId) },
              { u":outcome"_s, dbText(record.outcome) },
              { u":reason"_s, dbText(record.reason) },
              { u":details"_s, dbText(record.details) },
              { u":prev_hash"_s, record.prevHash },
              { u":row_hash"_s, record.rowHash } });
        if (!inserted) {
            return inserted.error();
        }
    }

    if (auto committed = transaction.commit(u"append to the audit trail"); !committed) {
        return committed.error();
    }
    return record;
}

Result<QList<AuditRecord>> SqlStorage::auditRecords(const QString &orgId, const AuditFilter &filter)
{
    QString sql = u"SELECT %1 FROM audit_log WHERE org_id = :org_id"_s.arg(kAuditColumns);
    SqlBindings bindings { { u":org_id"_s, orgId } };
    if (filter.credentialId) {
        sql += u" AND credential_id = :credential_id"_s;
        bindings.append({ u":credential_id"_s, *filter.credentialId });
    }
    if (filter.agentId) {
        sql += u" AND agent_id = :agent_id"_s;
        bindings.append({ u":agent_id"_s, *filter.agentId });
    }
    if (filter.event) {
        sql += u" AND event = :event"_s;
        bindings.append({ u":event"_s, *filter.event });
    }
    if (filter.from) {
        sql += u" AND at >= :from_time"_s;
        bindings.append({ u":from_time"_s, dbTime(*filter.from) });
    }
    if (filter.until) {
        sql += u" AND at < :until_time"_s;
        bindings.append({ u":until_time"_s, dbTime(*filter.until) });
    }
    if (filter.afterId) {
        sql += u" AND id > :after_id"_s;
        bindings.append({ u":after_id"_s, QVariant::fromValue<qlonglong>(*filter.afterId) });
    }
    if (filter.beforeId) {
        sql += u" AND id < :before_id"_s;
        bindings.append({ u":before_id"_s, QVariant::fromValue<qlonglong>(*filter.beforeId) });
    }
    sql += filter.newestFirst ? u" ORDER BY id DESC"_s : u" ORDER BY id"_s;
    sql += u" LIMIT :limit"_s;
    bindings.append({ u":limit"_s, filter.limit });

    auto query = m_connection->exec(u"query the audit trail of org %1"_s.arg(orgId), sql, bindings);
    if (!query) {
        return query.error();
    }
    QList<AuditRecord> records;
    while (query->next()) {
        records.append(auditRecordAt(query.value()));
    }
    return records;
}

Result<AuditVerification> SqlStorage::verifyAuditChain(const QString &orgId,
                                                       const std::optional<AuditHead> &knownHead)
{
    AuditChainVerifier verifier(knownHead);
    qint64 lastId = 0;

    for (;;) {
        auto query = m_connection->exec(
            u"read the audit chain of org %1"_s.arg(orgId),
            u"SELECT %1 FROM audit_log WHERE org_id = :org_id AND id > :after_id "
            "ORDER BY id LIMIT :limit"_s.arg(kAuditColumns),
            { { u":org_id"_s, orgId },
              { u":after_id"_s, QVariant::fromValue<qlonglong>(lastId) },
              { u":limit"_s, kVerifyPageSize } });
        if (!query) {
            return query.error();
        }

        int rowsInPage = 0;
        while (query->next()) {
            ++rowsInPage;
            const AuditRecord record = auditRecordAt(query.value());
            lastId = record.id;
            if (!verifier.check(record)) {
                return verifier.finish();
            }
        }
        if (rowsInPage < kVerifyPageSize) {
            break;
        }
    }
    return verifier.finish();
}

} // namespace sealrelay::backend
