// RFC 8785 (JCS) canonical JSON for the statement value types, and a strict
// RFC 8259 recursive-descent parser over UTF-8 bytes.
#include "canonicaljson.h"

#include <QJsonArray>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

// ---------------------------------------------------------------------------
// Canonical writer

// Orders object keys by their UTF-16 code units, as RFC 8785 §3.2.3 requires
// (QChar::operator< compares code units, not code points).
bool keyLess(const QString &a, const QString &b)
{
    return std::lexicographical_compare(a.cbegin(), a.cend(), b.cbegin(), b.cend());
}

void appendUtf8(QByteArray &out, char32_t codePoint)
{
    if (codePoint < 0x80) {
        out.append(char(codePoint));
    } else if (codePoint < 0x800) {
        out.append(char(0xC0 | (codePoint >> 6)));
        out.append(char(0x80 | (codePoint & 0x3F)));
    } else if (codePoint < 0x10000) {
        out.append(char(0xE0 | (codePoint >> 12)));
        out.append(char(0x80 | ((codePoint >> 6) & 0x3F)));
        out.append(char(0x80 | (codePoint & 0x3F)));
    } else {
        out.append(char(0xF0 | (codePoint >> 18)));
        out.append(char(0x80 | ((codePoint >> 12) & 0x3F)));
        out.append(char(0x80 | ((codePoint >> 6) & 0x3F)));
        out.append(char(0x80 | (codePoint & 0x3F)));
    }
}

// Writes `text` as a JSON string with RFC 8785's minimal escaping. A lone
// surrogate has no UTF-8 form and is Reason::Malformed.
std::optional<Error> writeString(const QString &text, QByteArray &out)
{
    static constexpr char kHexDigits[] = "0123456789abcdef";

    out.append('"');
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char16_t unit = text[i].unicode();
        switch (unit) {
        case u'"':
            out.append("\\\"");
            continue;
        case u'\\':
            out.append("\\\\");
            continue;
        case u'\b':
            out.append("\\b");
            continue;
        case u'\f':
            out.append("\\f");
            continue;
        case u'\n':
            out.append("\\n");
            continue;
        case u'\r':
            out.append("\\r");
            continue;
        case u'\t':
            out.append("\\t");
            continue;
        default:
            break;
        }

        if (unit < 0x20) {
            out.append("\\u00");
            out.append(kHexDigits[unit >> 4]);
            out.append(kHexDigits[unit & 0xF]);
        } else if (QChar::isHighSurrogate(unit)) {
            if (i + 1 >= text.size() || !QChar::isLowSurrogate(text[i + 1].unicode())) {
                return makeError(Reason::Malformed,
                                 u"string contains a lone surrogate at UTF-16 index %1"_s.arg(i));
            }
            appendUtf8(out, QChar::surrogateToUcs4(unit, text[i + 1].unicode()));
            ++i;
        } else if (QChar::isLowSurrogate(unit)) {
            return makeError(Reason::Malformed,
                             u"string contains a lone surrogate at UTF-16 index %1"_s.arg(i));
        } else {
            appendUtf8(out, unit);
        }
    }
    out.append('"');
    return std::nullopt;
}

// Integers only: a double that contains a whole number within range is written
// as that integer, as RFC 8785's number serialisation would.
std::optional<Error> writeNumber(const QJsonValue &value, QByteArray &out)
{
    constexpr double kLimit = double(kMaxStatementInteger) + 1.0; // 2^53, exact in a double

    const double asDouble = value.toDouble();
    if (!std::isfinite(asDouble) || std::trunc(asDouble) != asDouble) {
        return makeError(
            Reason::Malformed,
            u"number %1 is not an integer; canonical JSON here carries integers only"_s.arg(
                asDouble));
    }
    // Checked on the double first: toInteger() returns 0 for a double too
    // large for qint64.
    if (std::fabs(asDouble) >= kLimit) {
        return makeError(
            Reason::Malformed,
            u"integer %1 is outside the range -(2^53-1) to 2^53-1"_s.arg(asDouble, 0, 'f', 0));
    }
    const qint64 integer = value.toInteger();
    if (integer > kMaxStatementInteger || integer < -kMaxStatementInteger) {
        return makeError(Reason::Malformed,
                         u"integer %1 is outside the range -(2^53-1) to 2^53-1"_s.arg(integer));
    }
    out.append(QByteArray::number(integer));
    return std::nullopt;
}

std::optional<Error> writeValue(const QJsonValue &value, QByteArray &out);

std::optional<Error> writeObject(const QJsonObject &object, QByteArray &out)
{
    QStringList keys = object.keys();
    std::sort(keys.begin(), keys.end(), keyLess);

    out.append('{');
    bool first = true;
    for (const QString &key : std::as_const(keys)) {
        if (!first)
            out.append(',');
        first = false;
        if (auto error = writeString(key, out))
            return error;
        out.append(':');
        if (auto error = writeValue(object.value(key), out))
            return error;
    }
    out.append('}');
    return std::nullopt;
}

std::optional<Error> writeValue(const QJsonValue &value, QByteArray &out)
{
    switch (value.type()) {
    case QJsonValue::Null:
        out.append("null");
        return std::nullopt;
    case QJsonValue::Bool:
        out.append(value.toBool() ? "true" : "false");
        return std::nullopt;
    case QJsonValue::Double:
        return writeNumber(value, out);
    case QJsonValue::String:
        return writeString(value.toString(), out);
    case QJsonValue::Array: {
        const QJsonArray array = value.toArray();
        out.append('[');
        for (qsizetype i = 0; i < array.size(); ++i) {
            if (i > 0)
                out.append(',');
            if (auto error = writeValue(array.at(i), out))
                return error;
        }
        out.append(']');
        return std::nullopt;
    }
    case QJsonValue::Object:
        return writeObject(value.toObject(), out);
    case QJsonValue::Undefined:
        break;
    }
    return makeError(Reason::Malformed, u"an undefined JSON value has no canonical form"_s);
}

// ---------------------------------------------------------------------------
// Strict parser

// Recursive-descent RFC 8259 parser. Each step either advances m_position or
// fails, and nesting is bounded by maxDepth, so every input ends in a value or
// an error.
class StrictParser {
public:
    StrictParser(QByteArrayView input, qsizetype maxDepth)
        : m_input(input)
        , m_maxDepth(maxDepth)
    {
    }

    Result<QJsonValue> parseDocument()
    {
        QJsonValue value;
        skipWhitespace();
        if (!parseValue(value, 0))
            return *m_error;
        skipWhitespace();
        if (m_position != m_input.size()) {
            fail(u"unexpected bytes after the JSON value"_s);
            return *m_error;
        }
        return value;
    }

    // True once a number with a fraction or an exponent was read.
    bool sawNonIntegerNumber() const { return m_sawNonIntegerNumber; }

private:
    struct Member {
        QString key;
        QJsonValue value;
        qsizetype offset; // byte offset of the key's opening quote
    };

    bool atEnd() const { return m_position >= m_input.size(); }
    unsigned char peek() const { return static_cast<unsigned char>(m_input[m_position]); }

    bool fail(const QString &description) { return failAt(m_position, description); }

    bool failAt(qsizetype offset, const QString &description)
    {
        if (!m_error) {
            m_error = makeError(
                Reason::Malformed,
                u"invalid JSON at byte offset %1: %2"_s.arg(QString::number(offset), description));
        }
        return false;
    }

    void skipWhitespace()
    {
        while (!atEnd()) {
            const unsigned char c = peek();
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                return;
            ++m_position;
        }
    }

    bool parseValue(QJsonValue &out, qsizetype depth)
    {
        if (atEnd())
            return fail(u"unexpected end of input, expected a value"_s);

        switch (peek()) {
        case '{':
            return parseObject(out, depth + 1);
        case '[':
            return parseArray(out, depth + 1);
        case '"': {
            QString text;
            if (!parseString(text))
                return false;
            out = QJsonValue(text);
            return true;
        }
        case 't':
            return parseLiteral("true", QJsonValue(true), out);
        case 'f':
            return parseLiteral("false", QJsonValue(false), out);
        case 'n':
            return parseLiteral("null", QJsonValue(QJsonValue::Null), out);
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9'))
                return parseNumber(out);
            return fail(
                u"unexpected byte 0x%1, expected a value"_s.arg(uint(peek()), 2, 16, QChar(u'0')));
        }
    }

    bool parseLiteral(QByteArrayView literal, const QJsonValue &value, QJsonValue &out)
    {
        if (m_input.sliced(m_position).startsWith(literal)) {
            m_position += literal.size();
            out = value;
            return true;
        }
        return fail(u"invalid literal, expected %1"_s.arg(QLatin1StringView(literal)));
    }

    bool enterContainer(qsizetype depth)
    {
        if (depth > m_maxDepth)
            return fail(u"nesting is deeper than the limit of %1"_s.arg(m_maxDepth));
        ++m_position; // the opening bracket or brace
        skipWhitespace();
        return true;
    }

    bool parseArray(QJsonValue &out, qsizetype depth)
    {
        if (!enterContainer(depth))
            return false;

        QJsonArray array;
        if (!atEnd() && peek() == ']') {
            ++m_position;
            out = array;
            return true;
        }
        while (true) {
            QJsonValue element;
            if (!parseValue(element, depth))
                return false;
            array.append(element);
            skipWhitespace();
            if (atEnd())
                return fail(u"unexpected end of input inside an array"_s);
            if (peek() == ']') {
                ++m_position;
                out = array;
                return true;
            }
            if (peek() != ',')
                return fail(u"expected ',' or ']' in an array"_s);
            ++m_position;
            skipWhitespace();
        }
    }

    bool parseObject(QJsonValue &out, qsizetype depth)
    {
        if (!enterContainer(depth))
            return false;

        std::vector<Member> members;
        if (!atEnd() && peek() == '}') {
            ++m_position;
            out = QJsonObject();
            return true;
        }
        while (true) {
            if (atEnd() || peek() != '"')
                return fail(u"expected a string key in an object"_s);
            Member member;
            member.offset = m_position;
            if (!parseString(member.key))
                return false;
            skipWhitespace();
            if (atEnd() || peek() != ':')
                return fail(u"expected ':' after an object key"_s);
            ++m_position;
            skipWhitespace();
            if (!parseValue(member.value, depth))
                return false;
            members.push_back(std::move(member));

            skipWhitespace();
            if (atEnd())
                return fail(u"unexpected end of input inside an object"_s);
            if (peek() == '}') {
                ++m_position;
                break;
            }
            if (peek() != ',')
                return fail(u"expected ',' or '}' in an object"_s);
            ++m_position;
            skipWhitespace();
        }
        return buildObject(members, out);
    }

    // Sorts the members by key, rejects a repeated key (Qt would silently keep
    // the last one), and inserts them in key order.
    bool buildObject(std::vector<Member> &members, QJsonValue &out)
    {
        std::stable_sort(members.begin(), members.end(),
                         [](const Member &a, const Member &b) { return keyLess(a.key, b.key); });
        for (std::size_t i = 1; i < members.size(); ++i) {
            if (members[i].key == members[i - 1].key) {
                // stable_sort keeps input order, so members[i] is the repeat.
                return failAt(members[i].offset,
                              u"duplicate object key \"%1\""_s.arg(members[i].key.left(64)));
            }
        }

        QJsonObject object;
        for (const Member &member : members)
            object.insert(member.key, member.value);
        out = object;
        return true;
    }

    static int hexValue(unsigned char c)
    {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }

    // Reads the four hex digits of a \u escape whose backslash is at m_position.
    bool readUnicodeEscape(char16_t &unit)
    {
        if (m_input.size() - m_position < 6)
            return fail(u"truncated \\u escape"_s);
        unsigned value = 0;
        for (qsizetype i = 2; i < 6; ++i) {
            const int digit = hexValue(static_cast<unsigned char>(m_input[m_position + i]));
            if (digit < 0)
                return fail(u"\\u escape needs four hex digits"_s);
            value = value * 16 + unsigned(digit);
        }
        unit = char16_t(value);
        m_position += 6;
        return true;
    }

    bool parseEscape(QString &out)
    {
        if (m_position + 1 >= m_input.size())
            return fail(u"unexpected end of input inside an escape"_s);

        const unsigned char kind = static_cast<unsigned char>(m_input[m_position + 1]);
        char16_t simple = 0;
        switch (kind) {
        case '"':
            simple = u'"';
            break;
        case '\\':
            simple = u'\\';
            break;
        case '/':
            simple = u'/';
            break;
        case 'b':
            simple = u'\b';
            break;
        case 'f':
            simple = u'\f';
            break;
        case 'n':
            simple = u'\n';
            break;
        case 'r':
            simple = u'\r';
            break;
        case 't':
            simple = u'\t';
            break;
        case 'u':
            break;
        default:
            return fail(u"invalid escape sequence"_s);
        }
        if (kind != 'u') {
            out.append(QChar(simple));
            m_position += 2;
            return true;
        }

        const qsizetype escapeStart = m_position;
        char16_t unit = 0;
        if (!readUnicodeEscape(unit))
            return false;
        if (QChar::isLowSurrogate(unit))
            return failAt(escapeStart, u"lone low surrogate in a \\u escape"_s);
        if (QChar::isHighSurrogate(unit)) {
            char16_t low = 0;
            if (m_input.size() - m_position < 2 || m_input[m_position] != '\\'
                || m_input[m_position + 1] != 'u' || !readUnicodeEscape(low)
                || !QChar::isLowSurrogate(low)) {
                // A failed readUnicodeEscape() has already stored its own error.
                return failAt(escapeStart, u"lone high surrogate in a \\u escape"_s);
            }
            out.append(QChar(unit));
            out.append(QChar(low));
            return true;
        }
        out.append(QChar(unit));
        return true;
    }

    // Decodes one UTF-8 sequence whose lead byte is at m_position (RFC 3629:
    // no overlong forms, no surrogates, nothing above U+10FFFF).
    bool parseUtf8Sequence(QString &out)
    {
        const unsigned char lead = peek();
        qsizetype continuationCount = 0;
        char32_t codePoint = 0;
        unsigned char secondMin = 0x80;
        unsigned char secondMax = 0xBF;

        if (lead >= 0xC2 && lead <= 0xDF) {
            continuationCount = 1;
            codePoint = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            continuationCount = 2;
            codePoint = lead & 0x0F;
            if (lead == 0xE0)
                secondMin = 0xA0; // overlong below U+0800
            if (lead == 0xED)
                secondMax = 0x9F; // U+D800..U+DFFF
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            continuationCount = 3;
            codePoint = lead & 0x07;
            if (lead == 0xF0)
                secondMin = 0x90; // overlong below U+10000
            if (lead == 0xF4)
                secondMax = 0x8F; // above U+10FFFF
        } else {
            return fail(u"invalid UTF-8 lead byte 0x%1"_s.arg(uint(lead), 2, 16, QChar(u'0')));
        }

        if (m_input.size() - m_position <= continuationCount)
            return fail(u"truncated UTF-8 sequence"_s);
        for (qsizetype i = 1; i <= continuationCount; ++i) {
            const unsigned char byte = static_cast<unsigned char>(m_input[m_position + i]);
            const unsigned char min = i == 1 ? secondMin : 0x80;
            const unsigned char max = i == 1 ? secondMax : 0xBF;
            if (byte < min || byte > max)
                return fail(u"invalid UTF-8 sequence"_s);
            codePoint = (codePoint << 6) | (byte & 0x3F);
        }

        if (codePoint >= 0x10000) {
            out.append(QChar(QChar::highSurrogate(codePoint)));
            out.append(QChar(QChar::lowSurrogate(codePoint)));
        } else {
            out.append(QChar(char16_t(codePoint)));
        }
        m_position += continuationCount + 1;
        return true;
    }

    // Appends the printable ASCII bytes from m_position up to the next quote,
    // backslash, control character or non-ASCII byte, all at once.
    void appendAsciiRun(QString &out)
    {
        const qsizetype start = m_position;
        while (!atEnd()) {
            const unsigned char c = peek();
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            ++m_position;
        }
        out.append(QLatin1StringView(m_input.data() + start, m_position - start));
    }

    bool parseString(QString &out)
    {
        const qsizetype start = m_position;
        ++m_position; // opening quote
        while (true) {
            if (atEnd())
                return failAt(start, u"unterminated string"_s);
            const unsigned char c = peek();
            if (c == '"') {
                ++m_position;
                return true;
            }
            if (c == '\\') {
                if (!parseEscape(out))
                    return false;
            } else if (c < 0x20) {
                return fail(u"unescaped control character 0x%1 in a string"_s.arg(uint(c), 2, 16,
                                                                                  QChar(u'0')));
            } else if (c < 0x80) {
                appendAsciiRun(out);
            } else if (!parseUtf8Sequence(out)) {
                return false;
            }
        }
    }

    bool skipDigits()
    {
        const qsizetype start = m_position;
        while (!atEnd() && peek() >= '0' && peek() <= '9')
            ++m_position;
        return m_position > start;
    }

    bool parseNumber(QJsonValue &out)
    {
        const qsizetype start = m_position;
        if (peek() == '-')
            ++m_position;
        if (atEnd() || peek() < '0' || peek() > '9')
            return fail(u"expected a digit in a number"_s);
        if (peek() == '0') {
            ++m_position;
            if (!atEnd() && peek() >= '0' && peek() <= '9')
                return failAt(start, u"number has a leading zero"_s);
        } else {
            skipDigits();
        }

        bool integral = true;
        if (!atEnd() && peek() == '.') {
            integral = false;
            ++m_position;
            if (!skipDigits())
                return fail(u"expected a digit after the decimal point"_s);
        }
        if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
            integral = false;
            ++m_position;
            if (!atEnd() && (peek() == '+' || peek() == '-'))
                ++m_position;
            if (!skipDigits())
                return fail(u"expected a digit in the exponent"_s);
        }

        const char *first = m_input.data() + start;
        const char *last = m_input.data() + m_position;
        if (integral) {
            qint64 integer = 0;
            const auto [end, error] = std::from_chars(first, last, integer);
            if (error != std::errc() || end != last)
                return failAt(start, u"integer does not fit in 64 bits"_s);
            out = QJsonValue(integer);
            return true;
        }

        m_sawNonIntegerNumber = true;
        double number = 0;
        const auto [end, error] = std::from_chars(first, last, number);
        if (error != std::errc() || end != last || !std::isfinite(number))
            return failAt(start, u"number is out of the range of a double"_s);
        out = QJsonValue(number);
        return true;
    }

    QByteArrayView m_input;
    qsizetype m_maxDepth;
    qsizetype m_position = 0;
    bool m_sawNonIntegerNumber = false;
    std::optional<Error> m_error;
};

} // namespace

Result<QByteArray> canonicalJson(const QJsonValue &value)
{
    QByteArray out;
    if (auto error = writeValue(value, out))
        return *error;
    return out;
}

Result<QByteArray> canonicalJson(const QJsonObject &object)
{
    QByteArray out;
    if (auto error = writeObject(object, out))
        return *error;
    return out;
}

Result<QJsonValue> parseJsonStrict(QByteArrayView bytes, const StrictJsonOptions &options)
{
    StrictParser parser(bytes, options.maxDepth);
    return parser.parseDocument();
}

Result<QJsonObject> parseCanonicalJsonObject(QByteArrayView bytes)
{
    StrictParser parser(bytes, StrictJsonOptions {}.maxDepth);
    Result<QJsonValue> parsed = parser.parseDocument();
    if (!parsed)
        return parsed.error();
    if (!parsed->isObject())
        return makeError(Reason::Malformed, u"canonical JSON must be an object"_s);
    if (parser.sawNonIntegerNumber()) {
        return makeError(Reason::Malformed,
                         u"canonical JSON must not contain numbers with a fraction or exponent"_s);
    }

    const QJsonObject object = parsed->toObject();
    Result<QByteArray> canonical = canonicalJson(object);
    if (!canonical)
        return canonical.error();
    if (QByteArrayView(canonical.value()) != bytes) {
        const QByteArray &expected = canonical.value();
        qsizetype offset = 0;
        while (offset < expected.size() && offset < bytes.size()
               && expected[offset] == bytes[offset]) {
            ++offset;
        }
        return makeError(Reason::Malformed,
                         u"JSON is not in canonical form (RFC 8785): it differs from its "
                         u"canonical serialisation at byte offset %1"_s.arg(offset));
    }
    return object;
}

} // namespace sealrelay
