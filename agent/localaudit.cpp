// Appending to and verifying the local audit log's hash chain.
#include "localaudit.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"
#include "vaultdatabase.h"

#include <QJsonObject>
#include <QSqlQuery>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

constexpr qsizetype kHashBytes = 32;

QString genesisHash()
{
    return encodeBase64(QByteArray(kHashBytes, '\0'));
}

QJsonValue nullable(const std::optional<qint64> &value)
{
    return value ? QJsonValue(*value) : QJsonValue(QJsonValue::Null);
}

QVariant bindable(const std::optional<qint64> &value)
{
    return value ? QVariant(*value) : QVariant(QMetaType::fromType<qint64>());
}

// QSqlQuery binds a null QString as SQL NULL; the text columns are NOT NULL
// and hold "" for an absent value.
QVariant bindableText(const QString &text)
{
    return text.isNull() ? QVariant(QString(u""_s)) : QVariant(text);
}

Result<QString> computeRowHash(const LocalAuditRecord &record)
{
    Result<QByteArray> prevHash = decodeBase64(record.prevHash, u"prev_hash", kHashBytes);
    if (!prevHash)
        return prevHash.error();

    const LocalAuditEntry &entry = record.entry;
    const QJsonObject row {
        { u"id"_s, record.id },
        { u"at"_s, formatTimestamp(record.at) },
        { u"event"_s, entry.event },
        { u"severity"_s, auditSeverityName(entry.severity) },
        { u"credential_id"_s, entry.credentialId },
        { u"version"_s, nullable(entry.version) },
        { u"revision"_s, nullable(entry.revision) },
        { u"reason"_s, entry.reason },
        { u"reference_id"_s, entry.referenceId },
        { u"counterpart_id"_s, entry.counterpartId },
        { u"detail"_s, entry.detail },
        { u"prev_hash"_s, record.prevHash },
    };
    Result<QByteArray> canonical = canonicalJson(row);
    if (!canonical)
        return canonical.error();
    const QByteArray hashed = prevHash.value() + canonical.value();
    return sha256Base64(hashed);
}

std::optional<qint64> optionalInteger(const QVariant &value)
{
    if (value.isNull())
        return std::nullopt;
    return value.toLongLong();
}

} // namespace

QString auditSeverityName(AuditSeverity severity)
{
    return severity == AuditSeverity::Critical ? u"critical"_s : u"info"_s;
}

LocalAudit::LocalAudit(VaultDatabase &database, Clock clock)
    : m_database(database)
    , m_clock(std::move(clock))
{
}

Result<void> LocalAudit::createSchema(VaultDatabase &database)
{
    const QStringList statements = {
        u"CREATE TABLE local_audit ("
        u" id INTEGER PRIMARY KEY AUTOINCREMENT,"
        u" at TEXT NOT NULL,"
        u" event TEXT NOT NULL,"
        u" severity TEXT NOT NULL CHECK (severity IN ('info', 'critical')),"
        u" credential_id TEXT NOT NULL,"
        u" version INTEGER,"
        u" revision INTEGER,"
        u" reason TEXT NOT NULL,"
        u" reference_id TEXT NOT NULL,"
        u" counterpart_id TEXT NOT NULL,"
        u" detail TEXT NOT NULL,"
        u" prev_hash TEXT NOT NULL,"
        u" row_hash TEXT NOT NULL)"_s,
        // With recursive_triggers on (set by VaultDatabase), INSERT OR REPLACE
        // fires the DELETE trigger too.
        u"CREATE TRIGGER local_audit_no_update BEFORE UPDATE ON local_audit "
        u"BEGIN SELECT RAISE(ABORT, 'local_audit is append-only'); END"_s,
        u"CREATE TRIGGER local_audit_no_delete BEFORE DELETE ON local_audit "
        u"BEGIN SELECT RAISE(ABORT, 'local_audit is append-only'); END"_s,
    };
    for (const QString &statement : statements) {
        Result<SqlQuery> created = database.exec(u"create the local audit table", statement);
        if (!created)
            return created.error();
    }
    return {};
}

Result<qint64> LocalAudit::append(const LocalAuditEntry &entry, CommitDurability durability)
{
    WriteTransaction transaction(m_database, durability);
    if (Result<void> begun = transaction.begin(u"append to the local audit log"); !begun)
        return begun.error();
    Result<qint64> id = appendInTransaction(entry);
    if (!id)
        return id;
    if (Result<void> committed = transaction.commit(u"append to the local audit log"); !committed)
        return committed.error();
    return id;
}

Result<qint64> LocalAudit::appendInTransaction(const LocalAuditEntry &entry)
{
    Result<SqlQuery> last =
        m_database.exec(u"read the local audit head",
                        u"SELECT id, row_hash FROM local_audit ORDER BY id DESC LIMIT 1"_s);
    if (!last)
        return last.error();

    LocalAuditRecord record;
    record.entry = entry;
    record.at = m_clock();
    if (last->next()) {
        record.id = last->value(0).toLongLong() + 1;
        record.prevHash = last->value(1).toString();
    } else {
        // The triggers reject deletes, so the table is empty only before the
        // first append, which starts the chain at id 1.
        record.id = 1;
        record.prevHash = genesisHash();
    }

    Result<QString> rowHash = computeRowHash(record);
    if (!rowHash)
        return rowHash.error();

    Result<SqlQuery> inserted = m_database.exec(
        u"append to the local audit log",
        u"INSERT INTO local_audit (id, at, event, severity, credential_id, version, revision,"
        u" reason, reference_id, counterpart_id, detail, prev_hash, row_hash)"
        u" VALUES (:id, :at, :event, :severity, :credential_id, :version, :revision,"
        u" :reason, :reference_id, :counterpart_id, :detail, :prev_hash, :row_hash)"_s,
        {
            { u":id"_s, record.id },
            { u":at"_s, formatTimestamp(record.at) },
            { u":event"_s, bindableText(entry.event) },
            { u":severity"_s, auditSeverityName(entry.severity) },
            { u":credential_id"_s, bindableText(entry.credentialId) },
            { u":version"_s, bindable(entry.version) },
            { u":revision"_s, bindable(entry.revision) },
            { u":reason"_s, bindableText(entry.reason) },
            { u":reference_id"_s, bindableText(entry.referenceId) },
            { u":counterpart_id"_s, bindableText(entry.counterpartId) },
            { u":detail"_s, bindableText(entry.detail) },
            { u":prev_hash"_s, record.prevHash },
            { u":row_hash"_s, rowHash.value() },
        });
    if (!inserted)
        return inserted.error();
    return record.id;
}

Result<QList<LocalAuditRecord>> LocalAudit::records(qint64 afterId) const
{
    Result<SqlQuery> query =
        m_database.exec(u"read the local audit log",
                        u"SELECT id, at, event, severity, credential_id, version, revision, reason,"
                        u" reference_id, counterpart_id, detail, prev_hash, row_hash"
                        u" FROM local_audit WHERE id > :after ORDER BY id"_s,
                        { { u":after"_s, afterId } });
    if (!query)
        return query.error();

    QList<LocalAuditRecord> rows;
    while (query->next()) {
        LocalAuditRecord record;
        record.id = query->value(0).toLongLong();
        // An unreadable time stays invalid; verify() then reports the row,
        // because its hash no longer matches.
        Result<QDateTime> at = parseTimestamp(query->value(1).toString(), u"at");
        if (at)
            record.at = at.value();
        record.entry.event = query->value(2).toString();
        record.entry.severity = query->value(3).toString() == "critical"_L1
            ? AuditSeverity::Critical
            : AuditSeverity::Info;
        record.entry.credentialId = query->value(4).toString();
        record.entry.version = optionalInteger(query->value(5));
        record.entry.revision = optionalInteger(query->value(6));
        record.entry.reason = query->value(7).toString();
        record.entry.referenceId = query->value(8).toString();
        record.entry.counterpartId = query->value(9).toString();
        record.entry.detail = query->value(10).toString();
        record.prevHash = query->value(11).toString();
        record.rowHash = query->value(12).toString();
        rows.append(record);
    }
    return rows;
}

Result<LocalAuditVerification>
LocalAudit::verify(const std::optional<LocalAuditHead> &knownHead) const
{
    Result<QList<LocalAuditRecord>> rows = records();
    if (!rows)
        return rows.error();

    LocalAuditVerification result;
    QString expectedPrevHash = genesisHash();
    bool knownHeadSeen = false;
    const auto fail = [&](qint64 id, const QString &problem) {
        result.intact = false;
        result.firstBrokenId = id;
        result.problem = problem;
    };

    for (const LocalAuditRecord &record : rows.value()) {
        ++result.rowsChecked;
        if (record.prevHash != expectedPrevHash) {
            fail(record.id,
                 u"row %1: prev_hash does not match the row_hash of the row before "
                 u"it; a row was removed, inserted or changed"_s.arg(record.id));
            return result;
        }
        Result<QString> rowHash = computeRowHash(record);
        if (!rowHash || rowHash.value() != record.rowHash) {
            fail(record.id,
                 u"row %1: row_hash does not match the row's content; the row was changed"_s.arg(
                     record.id));
            return result;
        }
        if (knownHead && knownHead->id == record.id) {
            if (knownHead->rowHash != record.rowHash) {
                fail(record.id,
                     u"row %1: the row_hash differs from the one verified before; "
                     u"history was rewritten"_s.arg(record.id));
                return result;
            }
            knownHeadSeen = true;
        }
        expectedPrevHash = record.rowHash;
        result.head = LocalAuditHead { record.id, record.rowHash };
    }

    if (knownHead && !knownHeadSeen) {
        fail(knownHead->id,
             u"row %1, verified before, is missing; rows were removed from the "
             u"end of the log"_s.arg(knownHead->id));
    }
    return result;
}

} // namespace sealrelay::agent
