// SqlStorage: alerts, raised once per open (type, subject) and acknowledged
// by operators.
#include "ids.h"
#include "sqlstorage.h"
#include "sqlvalues.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kAlertColumns =
    u"org_id, alert_id, type, severity, subject, details, first_seen, last_seen, count, "
    "acknowledged_at, acknowledged_by"_s;

AlertRow alertAt(const QSqlQuery &query)
{
    const RowReader columns(query);
    AlertRow row;
    row.orgId = columns.value(u"org_id"_s).toString();
    row.alertId = columns.value(u"alert_id"_s).toString();
    row.type = columns.value(u"type"_s).toString();
    row.severity =
        parseAlertSeverity(columns.value(u"severity"_s).toString()).value_or(AlertSeverity::Critical);
    row.subject = columns.value(u"subject"_s).toString();
    row.details = optionalTextAt(columns, u"details"_s);
    row.firstSeen = timeAt(columns, u"first_seen"_s);
    row.lastSeen = timeAt(columns, u"last_seen"_s);
    row.count = columns.value(u"count"_s).toLongLong();
    row.acknowledgedAt = optionalTimeAt(columns, u"acknowledged_at"_s);
    row.acknowledgedBy = optionalTextAt(columns, u"acknowledged_by"_s);
    return row;
}

} // namespace

Result<AlertRaiseResult> SqlStorage::raiseAlert(const AlertRaise &raise)
{
    const QDateTime seen = now();

    // The partial unique index alerts_open allows one unacknowledged row per
    // (org, type, subject); the upsert bumps that row when it exists. A new
    // row starts with count 1, so a count of 1 means this raise created it.
    auto query = m_connection->exec(
        u"raise alert %1"_s.arg(raise.type),
        u"INSERT INTO alerts (%1) VALUES (:org_id, :alert_id, :type, :severity, :subject, "
        ":details, :first_seen, :last_seen, 1, NULL, NULL) "
        "ON CONFLICT (org_id, type, subject) WHERE acknowledged_at IS NULL DO UPDATE SET "
        "count = alerts.count + 1, last_seen = excluded.last_seen, details = excluded.details "
        "RETURNING %1"_s.arg(kAlertColumns),
        { { u":org_id"_s, raise.orgId },
          { u":alert_id"_s, newUuid() },
          { u":type"_s, raise.type },
          { u":severity"_s, alertSeverityName(raise.severity) },
          { u":subject"_s, raise.subject },
          { u":details"_s, dbText(raise.details) },
          { u":first_seen"_s, dbTime(seen) },
          { u":last_seen"_s, dbTime(seen) } });
    if (!query) {
        return query.error();
    }
    if (!query->next()) {
        return makeError(Reason::IoError, u"raising alert %1 returned no row"_s.arg(raise.type));
    }
    AlertRaiseResult result { alertAt(query.value()), false };
    result.created = result.alert.count == 1;
    query->finish();
    return result;
}

Result<QList<AlertRow>> SqlStorage::alerts(const QString &orgId, const AlertFilter &filter)
{
    QString sql = u"SELECT %1 FROM alerts WHERE org_id = :org_id"_s.arg(kAlertColumns);
    SqlBindings bindings { { u":org_id"_s, orgId } };
    if (filter.type) {
        sql += u" AND type = :type"_s;
        bindings.append({ u":type"_s, *filter.type });
    }
    if (filter.subject) {
        sql += u" AND subject = :subject"_s;
        bindings.append({ u":subject"_s, *filter.subject });
    }
    if (filter.severity) {
        sql += u" AND severity = :severity"_s;
        bindings.append({ u":severity"_s, alertSeverityName(*filter.severity) });
    }
    if (filter.acknowledged) {
        sql += *filter.acknowledged ? u" AND acknowledged_at IS NOT NULL"_s
                                    : u" AND acknowledged_at IS NULL"_s;
    }
    if (filter.seenSince) {
        sql += u" AND last_seen >= :seen_since"_s;
        bindings.append({ u":seen_since"_s, dbTime(*filter.seenSince) });
    }
    sql += u" ORDER BY last_seen DESC, alert_id LIMIT :limit"_s;
    bindings.append({ u":limit"_s, filter.limit });

    auto query = m_connection->exec(u"list the alerts of org %1"_s.arg(orgId), sql, bindings);
    if (!query) {
        return query.error();
    }
    QList<AlertRow> rows;
    while (query->next()) {
        rows.append(alertAt(query.value()));
    }
    return rows;
}

Result<bool> SqlStorage::acknowledgeAlert(const QString &orgId, const QString &alertId,
                                          const QString &acknowledgedBy)
{
    auto query = m_connection->exec(
        u"acknowledge alert %1"_s.arg(alertId),
        u"UPDATE alerts SET acknowledged_at = :acknowledged_at, "
        "acknowledged_by = :acknowledged_by "
        "WHERE org_id = :org_id AND alert_id = :alert_id AND acknowledged_at IS NULL "
        "RETURNING alert_id"_s,
        { { u":acknowledged_at"_s, dbTime(now()) },
          { u":acknowledged_by"_s, acknowledgedBy },
          { u":org_id"_s, orgId },
          { u":alert_id"_s, alertId } });
    if (!query) {
        return query.error();
    }
    return query->next();
}

} // namespace sealrelay::backend
