// Audit trail model: paging, live rows and the chain verification result.
#include "auditmodel.h"

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// The row id, or 0 when `id` is missing or not a positive integer.
qint64 rowId(const QJsonObject &record)
{
    const QJsonValue id = record.value(u"id"_s);
    if (!id.isDouble())
        return 0;
    const double value = id.toDouble();
    const qint64 integer = id.toInteger();
    return integer > 0 && static_cast<double>(integer) == value ? integer : 0;
}

QString nullableString(const QJsonValue &value)
{
    return value.isString() ? value.toString() : QString();
}

} // namespace

Result<AuditVerification> AuditVerification::fromJson(const QJsonObject &reply)
{
    if (!reply.value(u"intact"_s).isBool())
        return makeError(Reason::Malformed,
                         u"audit verification: `intact` is missing or not a boolean"_s);
    if (!reply.value(u"rows_verified"_s).isDouble())
        return makeError(Reason::Malformed,
                         u"audit verification: `rows_verified` is missing or not a number"_s);
    const QJsonValue firstBreak = reply.value(u"first_break"_s);
    if (!firstBreak.isNull() && !firstBreak.isUndefined() && !firstBreak.isObject())
        return makeError(Reason::Malformed,
                         u"audit verification: `first_break` is neither null nor an object"_s);

    AuditVerification result;
    result.checked = true;
    result.intact = reply.value(u"intact"_s).toBool();
    result.rowsVerified = reply.value(u"rows_verified"_s).toInteger();
    result.headRowId = reply.value(u"head"_s).toObject().value(u"row_id"_s).toInteger();
    result.verifiedAt =
        QDateTime::fromString(reply.value(u"verified_at"_s).toString(), Qt::ISODateWithMs);
    const QJsonObject breakObject = firstBreak.toObject();
    result.firstBreakRowId = breakObject.value(u"row_id"_s).toInteger();
    result.firstBreakKind = breakObject.value(u"kind"_s).toString();
    result.firstBreakMessage = breakObject.value(u"message"_s).toString();
    return result;
}

AuditModel::AuditModel(QObject *parent)
    : QAbstractListModel(parent)
{
}

int AuditModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

QVariant AuditModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const QJsonObject &row = m_rows.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
    case EventRole:
        return row.value(u"event"_s).toString();
    case IdRole:
        return rowId(row);
    case AtRole:
        return QDateTime::fromString(row.value(u"at"_s).toString(), Qt::ISODateWithMs);
    case ActorRole:
        return row.value(u"actor"_s).toString();
    case CredentialIdRole:
        return nullableString(row.value(u"credential_id"_s));
    case AgentIdRole:
        return nullableString(row.value(u"agent_id"_s));
    case OutcomeRole:
        return row.value(u"outcome"_s).toString();
    case ReasonRole:
        return nullableString(row.value(u"reason"_s));
    case DetailsRole:
        return row.value(u"details"_s).toVariant();
    default:
        return {};
    }
}

QHash<int, QByteArray> AuditModel::roleNames() const
{
    return {
        { IdRole, "id" },
        { AtRole, "at" },
        { EventRole, "event" },
        { ActorRole, "actor" },
        { CredentialIdRole, "credentialId" },
        { AgentIdRole, "agentId" },
        { OutcomeRole, "outcome" },
        { ReasonRole, "reason" },
        { DetailsRole, "details" },
    };
}

void AuditModel::clear(bool filtered)
{
    beginResetModel();
    m_rows.clear();
    m_batch.clear();
    m_nextAfterId.reset();
    m_filtered = filtered;
    endResetModel();
    Q_EMIT pagingChanged();
}

qint64 AuditModel::lastId() const
{
    return m_rows.isEmpty() ? 0 : rowId(m_rows.constLast());
}

Result<void> AuditModel::appendPage(const QJsonArray &records, std::optional<qint64> nextAfterId)
{
    QList<QJsonObject> rows;
    rows.reserve(records.size());
    for (qsizetype i = 0; i < records.size(); ++i) {
        const QJsonObject record = records.at(i).toObject();
        if (rowId(record) == 0)
            return makeError(Reason::Malformed,
                             u"audit records[%1]: `id` is missing or not a positive integer"_s.arg(
                                 i));
        rows.append(record);
    }
    appendRows(rows);
    m_nextAfterId = nextAfterId;
    Q_EMIT pagingChanged();
    return {};
}

// Appends the rows with ids above lastId() in ascending order, with one insert.
void AuditModel::appendRows(const QList<QJsonObject> &records)
{
    QList<QJsonObject> rows;
    qint64 last = lastId();
    for (const QJsonObject &record : records) {
        const qint64 id = rowId(record);
        if (id > last) {
            rows.append(record);
            last = id;
        }
    }
    if (rows.isEmpty())
        return;
    const int first = static_cast<int>(m_rows.size());
    beginInsertRows({}, first, first + static_cast<int>(rows.size()) - 1);
    m_rows.append(rows);
    endInsertRows();
}

void AuditModel::enqueue(const QJsonObject &event)
{
    if (event.value(u"type"_s).toString() != u"audit_appended")
        return;
    m_batch.append(event);
}

void AuditModel::flush()
{
    const QList<QJsonObject> events = m_batch.take();
    if (events.isEmpty())
        return;
    if (!m_filtered && !hasMore()) {
        QList<QJsonObject> records;
        records.reserve(events.size());
        for (const QJsonObject &event : events)
            records.append(eventData(event));
        // Several replicas may publish out of id order.
        std::sort(records.begin(), records.end(),
                  [](const QJsonObject &a, const QJsonObject &b) { return rowId(a) < rowId(b); });
        appendRows(records);
    }
    Q_EMIT batchApplied(static_cast<int>(events.size()));
}

void AuditModel::setBatchInterval(std::chrono::milliseconds interval)
{
    m_batch.setInterval(interval);
}

Result<void> AuditModel::setVerification(const QJsonObject &reply)
{
    Result<AuditVerification> verification = AuditVerification::fromJson(reply);
    if (!verification)
        return verification.error();
    if (verification.value() == m_verification)
        return {};
    m_verification = verification.value();
    Q_EMIT verificationChanged();
    return {};
}

} // namespace sealrelay::models
