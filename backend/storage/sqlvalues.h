// Conversions between row fields and the values Qt SQL binds and returns.
// Times are stored as Unix epoch milliseconds; an empty optional is NULL.
// Qt SQL binds a null QString or QByteArray as NULL too, so
// SqlConnection::exec() binds those as empty values and only these helpers
// produce NULL.
#pragma once

#include "sqlstatementcache.h"

#include <QByteArray>
#include <QDateTime>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QString>
#include <QVariant>

#include <optional>

namespace sealrelay::backend {

inline QVariant dbTime(const QDateTime &time)
{
    return QVariant::fromValue<qlonglong>(time.toMSecsSinceEpoch());
}

inline QVariant dbTime(const std::optional<QDateTime> &time)
{
    return time ? dbTime(*time) : QVariant();
}

inline QVariant dbText(const std::optional<QString> &text)
{
    return text ? QVariant(*text) : QVariant();
}

inline QVariant dbBytes(const std::optional<QByteArray> &bytes)
{
    return bytes ? QVariant(*bytes) : QVariant();
}

inline QVariant dbInteger(const std::optional<qint64> &value)
{
    return value ? QVariant::fromValue<qlonglong>(*value) : QVariant();
}

// Truncates to the millisecond, the precision the database keeps.
inline QDateTime toStoredPrecision(const QDateTime &time)
{
    return QDateTime::fromMSecsSinceEpoch(time.toMSecsSinceEpoch(), Qt::UTC);
}

// The current row of a query, read by column name. QSqlQuery::value(name)
// builds the result's whole record on every call to find the column, so a
// RowReader takes the record once and looks the names up in it.
class RowReader {
public:
    RowReader(const QSqlQuery &query)
        : m_query(query)
        , m_record(query.record())
    {
    }
    RowReader(const SqlQuery &query)
        : RowReader(static_cast<const QSqlQuery &>(query))
    {
    }

    QVariant value(const QString &column) const { return m_query.value(m_record.indexOf(column)); }

private:
    const QSqlQuery &m_query;
    QSqlRecord m_record;
};

inline QDateTime timeAt(const RowReader &row, const QString &column)
{
    return QDateTime::fromMSecsSinceEpoch(row.value(column).toLongLong(), Qt::UTC);
}

inline std::optional<QDateTime> optionalTimeAt(const RowReader &row, const QString &column)
{
    const QVariant value = row.value(column);
    if (value.isNull()) {
        return std::nullopt;
    }
    return QDateTime::fromMSecsSinceEpoch(value.toLongLong(), Qt::UTC);
}

inline std::optional<QString> optionalTextAt(const RowReader &row, const QString &column)
{
    const QVariant value = row.value(column);
    return value.isNull() ? std::nullopt : std::optional<QString>(value.toString());
}

inline std::optional<QByteArray> optionalBytesAt(const RowReader &row, const QString &column)
{
    const QVariant value = row.value(column);
    return value.isNull() ? std::nullopt : std::optional<QByteArray>(value.toByteArray());
}

inline std::optional<qint64> optionalIntegerAt(const RowReader &row, const QString &column)
{
    const QVariant value = row.value(column);
    return value.isNull() ? std::nullopt : std::optional<qint64>(value.toLongLong());
}

} // namespace sealrelay::backend
