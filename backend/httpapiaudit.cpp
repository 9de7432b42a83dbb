// /api/audit: the filtered, paged audit trail and verification of its hash
// chain.
#include "httpapi.h"

#include "auditevents.h"
#include "ids.h"
#include "logging.h"
#include "rowjson.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

QString breakKindName(AuditBreakKind kind)
{
    switch (kind) {
    case AuditBreakKind::Malformed: return u"malformed"_s;
    case AuditBreakKind::PrevHashMismatch: return u"prev_hash_mismatch"_s;
    case AuditBreakKind::RowHashMismatch: return u"row_hash_mismatch"_s;
    case AuditBreakKind::KnownHeadMissing: return u"known_head_missing"_s;
    case AuditBreakKind::KnownHeadChanged: return u"known_head_changed"_s;
    }
    return u"malformed"_s;
}

} // namespace

ApiResponse HttpApi::handleListAudit(const ApiRequest &request)
{
    AuditFilter filter;
    const QUrlQuery &query = request.query;
    for (const auto &[name, target] : {std::pair{u"credential"_s, &filter.credentialId},
                                       std::pair{u"agent"_s, &filter.agentId}}) {
        if (!query.hasQueryItem(name))
            continue;
        const QString id = query.queryItemValue(name, QUrl::FullyDecoded);
        if (!isCanonicalUuid(id))
            return ApiResponse::invalid(u"Invalid value \"%1\" for query parameter \"%2\": "
                                        "expected a lowercase UUID."_s.arg(id, name));
        *target = id;
    }
    if (query.hasQueryItem(u"event"_s)) {
        const QString event = query.queryItemValue(u"event"_s, QUrl::FullyDecoded);
        if (!isAuditEvent(event))
            return ApiResponse::invalid(
                u"Invalid value \"%1\" for query parameter \"event\": "
                "expected one of %2."_s.arg(event.left(64), auditEventNames().join(u", ")));
        filter.event = event;
    }
    for (const auto &[name, target] : {std::pair{u"from"_s, &filter.from},
                                       std::pair{u"to"_s, &filter.until}}) {
        if (!query.hasQueryItem(name))
            continue;
        auto time = parseTimestamp(query.queryItemValue(name, QUrl::FullyDecoded), name);
        if (!time)
            return ApiResponse::invalid(u"%1 must be a time like 2026-12-04T02:05:00.000Z."_s.arg(
                name));
        *target = time.value();
    }
    if (query.hasQueryItem(u"after_id"_s)) {
        bool ok = false;
        const qint64 afterId = query.queryItemValue(u"after_id"_s).toLongLong(&ok);
        if (!ok || afterId < 0)
            return ApiResponse::invalid(u"after_id must be a non-negative integer."_s);
        filter.afterId = afterId;
    }
    filter.limit = 100;
    if (query.hasQueryItem(u"limit"_s)) {
        bool ok = false;
        filter.limit = query.queryItemValue(u"limit"_s).toInt(&ok);
        if (!ok || filter.limit < 1 || filter.limit > m_settings.maxAuditPageRows)
            return ApiResponse::invalid(u"limit must be an integer from 1 to %1."_s.arg(
                m_settings.maxAuditPageRows));
    }

    auto records = m_storage.auditRecords(request.caller().orgId, filter);
    if (!records)
        return ApiResponse::internal(records.error());
    QJsonArray list;
    for (const AuditRecord &record : records.value())
        list.append(auditRecordJson(record));
    // A full page may have more rows after it; pass next_after_id as after_id.
    const QJsonValue next = records->size() == filter.limit && !records->isEmpty()
        ? QJsonValue(records->constLast().id)
        : QJsonValue(QJsonValue::Null);
    return ApiResponse::json(200, QJsonObject{{u"records"_s, list}, {u"next_after_id"_s, next}});
}

ApiResponse HttpApi::handleVerifyAudit(const ApiRequest &request)
{
    std::optional<AuditHead> knownHead;
    if (request.query.hasQueryItem(u"known_row_id"_s)) {
        bool ok = false;
        const qint64 rowId = request.query.queryItemValue(u"known_row_id"_s).toLongLong(&ok);
        if (!ok || rowId < 0)
            return ApiResponse::invalid(u"known_row_id must be a non-negative integer."_s);
        knownHead = AuditHead{rowId, request.query.queryItemValue(u"known_row_hash"_s,
                                                                  QUrl::FullyDecoded)};
    }

    auto verification = m_storage.verifyAuditChain(request.caller().orgId, knownHead);
    if (!verification)
        return ApiResponse::internal(verification.error());
    const AuditVerification &result = verification.value();

    QJsonValue firstBreak = QJsonValue::Null;
    if (result.firstBreak) {
        firstBreak = QJsonObject{{u"row_id"_s, result.firstBreak->rowId},
                                 {u"kind"_s, breakKindName(result.firstBreak->kind)},
                                 {u"message"_s, result.firstBreak->message}};
        logger("backend.api")->critical("Audit chain of org {} broken at row {}: {}",
                                        request.caller().orgId.toStdString(),
                                        result.firstBreak->rowId,
                                        result.firstBreak->message.toStdString());
    }
    return ApiResponse::json(
        200, QJsonObject{{u"org_id"_s, request.caller().orgId},
                         {u"intact"_s, result.intact()},
                         {u"rows_verified"_s, result.rowsVerified},
                         {u"head"_s, QJsonObject{{u"row_id"_s, result.head.rowId},
                                                 {u"row_hash"_s, result.head.rowHash}}},
                         {u"first_break"_s, firstBreak},
                         {u"verified_at"_s, formatTimestamp(QDateTime::currentDateTimeUtc())}});
}

} // namespace sealrelay::backend
