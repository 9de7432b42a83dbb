// /api/alerts: the filtered alert list and acknowledgement of one or many.
#include "httpapi.h"

#include "ids.h"
#include "logging.h"
#include "rowjson.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

constexpr int kMaxAlertsPerRequest = 500;

} // namespace

ApiResponse HttpApi::handleListAlerts(const ApiRequest &request)
{
    AlertFilter filter;
    const QUrlQuery &query = request.query;
    if (query.hasQueryItem(u"type"_s))
        filter.type = query.queryItemValue(u"type"_s);
    if (query.hasQueryItem(u"subject"_s))
        filter.subject = query.queryItemValue(u"subject"_s, QUrl::FullyDecoded);
    if (query.hasQueryItem(u"severity"_s)) {
        filter.severity = parseAlertSeverity(query.queryItemValue(u"severity"_s));
        if (!filter.severity)
            return ApiResponse::invalid(u"severity must be medium, high or critical."_s);
    }
    if (query.hasQueryItem(u"acknowledged"_s)) {
        const QString value = query.queryItemValue(u"acknowledged"_s);
        if (value != u"true"_s && value != u"false"_s)
            return ApiResponse::invalid(u"acknowledged must be true or false."_s);
        filter.acknowledged = value == u"true"_s;
    }
    if (query.hasQueryItem(u"limit"_s)) {
        bool ok = false;
        filter.limit = query.queryItemValue(u"limit"_s).toInt(&ok);
        if (!ok || filter.limit < 1 || filter.limit > kMaxAlertsPerRequest)
            return ApiResponse::invalid(u"limit must be an integer from 1 to %1."_s.arg(
                kMaxAlertsPerRequest));
    }

    auto alerts = m_storage.alerts(request.caller().orgId, filter);
    if (!alerts)
        return ApiResponse::internal(alerts.error());
    QJsonArray list;
    for (const AlertRow &alert : alerts.value())
        list.append(alertJson(alert));
    return ApiResponse::json(200, QJsonObject{{u"alerts"_s, list}});
}

ApiResponse HttpApi::handleAcknowledgeAlerts(const ApiRequest &request)
{
    const QJsonValue idsValue = request.body.value(u"ids"_s);
    const QJsonArray ids = idsValue.toArray();
    if (!idsValue.isArray() || ids.isEmpty() || ids.size() > kMaxAlertsPerRequest)
        return ApiResponse::invalid(u"ids must be an array of 1 to %1 alert ids."_s.arg(
            kMaxAlertsPerRequest));
    for (const QJsonValue &id : ids) {
        if (!id.isString() || id.toString().isEmpty())
            return ApiResponse::invalid(u"Every entry of ids must be an alert id string."_s);
    }

    const QString orgId = request.caller().orgId;
    QJsonArray acknowledged;
    QJsonArray skipped;
    for (const QJsonValue &id : ids) {
        auto done = m_storage.acknowledgeAlert(orgId, id.toString(), request.actor());
        if (!done)
            return ApiResponse::internal(done.error());
        (done.value() ? acknowledged : skipped).append(id);
    }

    if (!acknowledged.isEmpty()) {
        auto audited = audit(request, u"alerts_acknowledged"_s, std::nullopt, std::nullopt,
                             QJsonObject{{u"alert_ids"_s, acknowledged}});
        if (!audited)
            return ApiResponse::internal(audited.error());
        logger("backend.api")->info("{} alerts acknowledged by token {}", acknowledged.size(),
                                    request.caller().tokenId.toStdString());
        const QString at = formatTimestamp(QDateTime::currentDateTimeUtc());
        for (const QJsonValue &id : std::as_const(acknowledged))
            publish(orgId, u"alert_acknowledged"_s,
                    QJsonObject{{u"alert_id"_s, id},
                                {u"acknowledged_by"_s, request.actor()},
                                {u"acknowledged_at"_s, at}});
    }
    // Unknown and already acknowledged ids are reported, not treated as errors,
    // so acknowledging twice from two consoles is harmless.
    return ApiResponse::json(200, QJsonObject{{u"acknowledged"_s, acknowledged},
                                              {u"skipped"_s, skipped}});
}

} // namespace sealrelay::backend
