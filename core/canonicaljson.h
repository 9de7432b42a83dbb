// Canonical JSON (RFC 8785, JCS) for the value types of signed statements,
// and a strict JSON reader that rejects duplicate keys.
#pragma once

#include "error.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QJsonObject>
#include <QJsonValue>

namespace sealrelay {

// Largest integer a statement may carry: integers lie in [0, 2^53).
inline constexpr qint64 kMaxStatementInteger = (qint64(1) << 53) - 1;

// Serialises `value` per RFC 8785: object keys sorted by UTF-16 code units, no
// whitespace, minimal string escaping, integers in plain decimal. Only null,
// booleans, strings, integers with |n| < 2^53, arrays and objects are
// supported; a fractional or out-of-range number is Reason::Malformed.
Result<QByteArray> canonicalJson(const QJsonValue &value);
Result<QByteArray> canonicalJson(const QJsonObject &object);

struct StrictJsonOptions {
    qsizetype maxDepth = 32;
};

// Parses one JSON value from `bytes` (UTF-8, RFC 8259) and rejects what Qt's
// parser lets through: duplicate object keys, invalid UTF-8, lone surrogates,
// and trailing bytes after the value. Numbers without fraction or exponent
// are kept as qint64; others become doubles. Errors are Reason::Malformed
// with the byte offset in the message.
Result<QJsonValue> parseJsonStrict(QByteArrayView bytes, const StrictJsonOptions &options = {});

// Parses `bytes` as a JSON object that must already be canonical: it is
// parsed strictly, must contain no fractional numbers, and re-canonicalising
// it must give back exactly `bytes`.
Result<QJsonObject> parseCanonicalJsonObject(QByteArrayView bytes);

} // namespace sealrelay
