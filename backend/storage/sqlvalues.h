// Conversions between row fields and the values Qt SQL binds and returns.
// Times are stored as Unix epoch milliseconds; an empty optional is NULL.
// Qt SQL binds a null QString or QByteArray as NULL too, so
// SqlConnection::exec() binds those as empty values and only these helpers
// produce NULL.
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QSqlQuery>
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

inline QDateTime timeAt(const QSqlQuery &query, const QString &column)
{
    return QDateTime::fromMSecsSinceEpoch(query.value(column).toLongLong(), Qt::UTC);
}

inline std::optional<QDateTime> optionalTimeAt(const QSqlQuery &query, const QString &column)
{
    const QVariant value = query.value(column);
    if (value.isNull()) {
        return std::nullopt;
    }
    return QDateTime::fromMSecsSinceEpoch(value.toLongLong(), Qt::UTC);
}

inline std::optional<QString> optionalTextAt(const QSqlQuery &query, const QString &column)
{
    const QVariant value = query.value(column);
    return value.isNull() ? std::nullopt : std::optional<QString>(value.toString());
}

inline std::optional<QByteArray> optionalBytesAt(const QSqlQuery &query, const QString &column)
{
    const QVariant value = query.value(column);
    return value.isNull() ? std::nullopt : std::optional<QByteArray>(value.toByteArray());
}

inline std::optional<qint64> optionalIntegerAt(const QSqlQuery &query, const QString &column)
{
    const QVariant value = query.value(column);
    return value.isNull() ? std::nullopt : std::optional<qint64>(value.toLongLong());
}

} // namespace sealrelay::backend
