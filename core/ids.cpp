// Lowercase UUIDs and "YYYY-MM-DDTHH:MM:SS.mmmZ" timestamps of the wire protocol.
#include "ids.h"

#include <QUuid>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

bool isLowerHexDigit(QChar c)
{
    return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f');
}

bool isAsciiDigit(QChar c)
{
    return c >= u'0' && c <= u'9';
}

// Reads `count` ASCII digits starting at `position`; -1 when any is not a digit.
int readDigits(QStringView text, qsizetype position, qsizetype count)
{
    int value = 0;
    for (qsizetype i = position; i < position + count; ++i) {
        if (!isAsciiDigit(text[i]))
            return -1;
        value = value * 10 + (text[i].unicode() - u'0');
    }
    return value;
}

Error malformedTimestamp(QStringView text, QStringView field)
{
    // The value is cut so a huge input cannot blow up the message.
    return makeError(
        Reason::Malformed,
        u"%1 is not a UTC timestamp of the form 2026-12-04T02:05:00.000Z: \"%2\""_s.arg(
            field, text.left(64)));
}

} // namespace

QString newUuid()
{
    return QUuid::createUuid().toString(QUuid::WithoutBraces).toLower();
}

bool isCanonicalUuid(QStringView text)
{
    if (text.size() != 36)
        return false;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const bool dashPosition = i == 8 || i == 13 || i == 18 || i == 23;
        if (dashPosition ? text[i] != u'-' : !isLowerHexDigit(text[i]))
            return false;
    }
    return true;
}

QString formatTimestamp(const QDateTime &time)
{
    return time.toUTC().toString(u"yyyy-MM-dd'T'HH:mm:ss.zzz'Z'"_s);
}

Result<QDateTime> parseTimestamp(QStringView text, QStringView field)
{
    // Layout: YYYY-MM-DDTHH:MM:SS.mmmZ, 24 characters, every separator fixed.
    if (text.size() != 24 || text[4] != u'-' || text[7] != u'-' || text[10] != u'T'
        || text[13] != u':' || text[16] != u':' || text[19] != u'.' || text[23] != u'Z') {
        return malformedTimestamp(text, field);
    }

    const int year = readDigits(text, 0, 4);
    const int month = readDigits(text, 5, 2);
    const int day = readDigits(text, 8, 2);
    const int hour = readDigits(text, 11, 2);
    const int minute = readDigits(text, 14, 2);
    const int second = readDigits(text, 17, 2);
    const int millisecond = readDigits(text, 20, 3);
    if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0
        || millisecond < 0) {
        return malformedTimestamp(text, field);
    }

    // QDate and QTime reject day 31 of a 30-day month, 24:00, leap seconds and
    // the like, so only real instants get through.
    const QDate date(year, month, day);
    const QTime clock(hour, minute, second, millisecond);
    if (!date.isValid() || !clock.isValid())
        return malformedTimestamp(text, field);

    return QDateTime(date, clock, Qt::UTC);
}

} // namespace sealrelay
