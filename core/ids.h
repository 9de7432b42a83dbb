// Identifier and time formats of the wire protocol: lowercase UUIDs and
// RFC 3339 UTC times with milliseconds and `Z`.
#pragma once

#include "error.h"

#include <QDateTime>
#include <QString>

namespace sealrelay {

// Returns a new random UUID in lowercase 8-4-4-4-12 form.
QString newUuid();

// True for exactly 36 characters of lowercase hex in 8-4-4-4-12 groups.
bool isCanonicalUuid(QStringView text);

// Formats as "2026-12-04T02:05:00.000Z" (converted to UTC first).
QString formatTimestamp(const QDateTime &time);

// Parses exactly the form formatTimestamp() writes; anything else is
// Reason::Malformed naming `field`.
Result<QDateTime> parseTimestamp(QStringView text, QStringView field);

} // namespace sealrelay
