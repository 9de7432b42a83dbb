// Field readers of the /agent message parser (see messagefields.h).
#include "messagefields.h"

#include "base64.h"
#include "canonicaljson.h"
#include "ids.h"
#include "keys.h"

#include <QStringList>

#include <algorithm>
#include <limits>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

constexpr qsizetype kQuotedCharacters = 64;

} // namespace

QString quoteForMessage(QStringView text)
{
    if (text.size() <= kQuotedCharacters) {
        return u'"' + text.toString() + u'"';
    }
    // The cut never splits a surrogate pair, so the message stays valid UTF-16.
    qsizetype length = kQuotedCharacters;
    if (text.at(length - 1).isHighSurrogate()) {
        --length;
    }
    return u'"' + text.first(length).toString() + u"…\""_s;
}

MessageFieldReader::MessageFieldReader(const QJsonObject &object, QLatin1StringView messageType,
                                       const MessageLimits &limits, QString fieldPrefix)
    : m_object(object)
    , m_messageType(messageType)
    , m_limits(limits)
    , m_fieldPrefix(std::move(fieldPrefix))
{
}

QString MessageFieldReader::fieldName(const QString &key) const
{
    return m_fieldPrefix + key;
}

void MessageFieldReader::fail(const QString &key, const QString &problem)
{
    failWith(Reason::InvalidMessage, key, problem);
}

void MessageFieldReader::adoptFailure(const MessageFieldReader &nested)
{
    if (!m_error && nested.m_error) {
        m_error = nested.m_error;
    }
}

void MessageFieldReader::failWith(Reason reason, const QString &key, const QString &problem)
{
    if (m_error) {
        return;
    }
    m_error = makeError(
        reason,
        u"invalid %1 message: field \"%2\" %3"_s.arg(m_messageType, fieldName(key), problem));
}

void MessageFieldReader::failWithDetail(Reason reason, const QString &detail)
{
    if (m_error) {
        return;
    }
    m_error = makeError(reason, u"invalid %1 message: %2"_s.arg(m_messageType, detail));
}

std::optional<QJsonValue> MessageFieldReader::readValue(QLatin1StringView key)
{
    if (m_error) {
        return std::nullopt;
    }
    const auto found = m_object.constFind(key);
    if (found == m_object.constEnd()) {
        fail(key, u"is missing"_s);
        return std::nullopt;
    }
    return found.value();
}

std::optional<QString> MessageFieldReader::readString(QLatin1StringView key)
{
    const std::optional<QJsonValue> value = readValue(key);
    if (!value) {
        return std::nullopt;
    }
    if (!value->isString()) {
        fail(key, u"must be a string"_s);
        return std::nullopt;
    }
    return value->toString();
}

QString MessageFieldReader::string(QLatin1StringView key)
{
    return readString(key).value_or(QString());
}

QString MessageFieldReader::nonEmptyString(QLatin1StringView key)
{
    const std::optional<QString> text = readString(key);
    if (!text) {
        return {};
    }
    if (text->isEmpty()) {
        fail(key, u"must not be empty"_s);
        return {};
    }
    return *text;
}

QString MessageFieldReader::uuid(QLatin1StringView key)
{
    const std::optional<QString> text = readString(key);
    if (!text) {
        return {};
    }
    if (!isCanonicalUuid(*text)) {
        fail(key, u"must be a lowercase 8-4-4-4-12 UUID, not %1"_s.arg(quoteForMessage(*text)));
        return {};
    }
    return *text;
}

std::optional<QString> MessageFieldReader::optionalUuid(QLatin1StringView key)
{
    if (m_error || !contains(key)) {
        return std::nullopt;
    }
    QString text = uuid(key);
    if (m_error) {
        return std::nullopt;
    }
    return text;
}

QString MessageFieldReader::name(QLatin1StringView key)
{
    const QString text = nonEmptyString(key);
    if (m_error) {
        return {};
    }
    const qsizetype utf8Bytes = text.toUtf8().size();
    if (utf8Bytes > m_limits.maxNameBytes) {
        fail(key,
             u"is %1 UTF-8 bytes long; the maximum is %2"_s.arg(utf8Bytes).arg(
                 m_limits.maxNameBytes));
        return {};
    }
    return text;
}

std::optional<QString> MessageFieldReader::optionalName(QLatin1StringView key)
{
    if (m_error || !contains(key)) {
        return std::nullopt;
    }
    QString text = name(key);
    if (m_error) {
        return std::nullopt;
    }
    return text;
}

qint64 MessageFieldReader::integer(QLatin1StringView key, qint64 minimum)
{
    const std::optional<QJsonValue> value = readValue(key);
    if (!value) {
        return 0;
    }
    // toInteger() returns the sentinel for a number with a fraction or
    // outside qint64; an integral double such as 1.0 reads as 1.
    constexpr qint64 notAnInteger = std::numeric_limits<qint64>::min();
    const qint64 number = value->isDouble() ? value->toInteger(notAnInteger) : notAnInteger;
    if (number == notAnInteger || number < minimum || number > kMaxStatementInteger) {
        fail(key, u"must be an integer from %1 to 2^53 - 1"_s.arg(minimum));
        return 0;
    }
    return number;
}

QByteArray MessageFieldReader::base64(QLatin1StringView key, qsizetype length)
{
    const std::optional<QString> text = readString(key);
    if (!text) {
        return {};
    }
    Result<QByteArray> bytes = decodeBase64(*text, fieldName(key), length);
    if (!bytes) {
        failWithDetail(Reason::InvalidMessage, bytes.error().message);
        return {};
    }
    return std::move(bytes).value();
}

QByteArray MessageFieldReader::rsaPublicKey(QLatin1StringView key)
{
    const std::optional<QString> text = readString(key);
    if (!text) {
        return {};
    }
    Result<QByteArray> der = decodeBase64(*text, fieldName(key));
    if (!der) {
        failWithDetail(Reason::InvalidMessage, der.error().message);
        return {};
    }
    const Result<RsaPublicKey> parsed = RsaPublicKey::fromSpkiDer(der.value());
    if (!parsed) {
        fail(key,
             u"must be the DER SubjectPublicKeyInfo of an RSA-2048 key: %1"_s.arg(
                 parsed.error().message));
        return {};
    }
    return std::move(der).value();
}

QDateTime MessageFieldReader::timestamp(QLatin1StringView key)
{
    const std::optional<QString> text = readString(key);
    if (!text) {
        return {};
    }
    Result<QDateTime> time = parseTimestamp(*text, fieldName(key));
    if (!time) {
        fail(key,
             u"must be a UTC time like 2026-12-04T02:05:00.000Z, not %1"_s.arg(
                 quoteForMessage(*text)));
        return {};
    }
    return std::move(time).value();
}

SignedStatement MessageFieldReader::signedStatement(QLatin1StringView key)
{
    const std::optional<QJsonValue> value = readValue(key);
    if (!value) {
        return {};
    }
    if (!value->isObject()) {
        fail(key, u"must be an object with statement_b64 and signature"_s);
        return {};
    }
    Result<SignedStatement> statement = SignedStatement::fromJson(*value, fieldName(key));
    if (!statement) {
        failWithDetail(Reason::InvalidMessage, statement.error().message);
        return {};
    }
    return std::move(statement).value();
}

std::optional<SignedStatement> MessageFieldReader::optionalSignedStatement(QLatin1StringView key)
{
    if (m_error || !contains(key)) {
        return std::nullopt;
    }
    SignedStatement statement = signedStatement(key);
    if (m_error) {
        return std::nullopt;
    }
    return statement;
}

Envelope MessageFieldReader::envelope(QLatin1StringView key)
{
    const std::optional<QJsonValue> value = readValue(key);
    if (!value) {
        return {};
    }
    if (!value->isObject()) {
        fail(key, u"must be an envelope object"_s);
        return {};
    }
    Result<Envelope> envelope = Envelope::fromJson(value->toObject());
    if (!envelope) {
        // An oversized ciphertext stays TOO_LARGE, as the protocol's limits require.
        const Reason reason =
            envelope.error().reason == Reason::TooLarge ? Reason::TooLarge : Reason::InvalidMessage;
        failWithDetail(reason, envelope.error().message);
        return {};
    }
    return std::move(envelope).value();
}

Reason MessageFieldReader::reason(QLatin1StringView key, std::span<const Reason> allowed)
{
    const std::optional<QString> text = readString(key);
    if (!text) {
        return allowed.front();
    }
    const std::optional<Reason> parsed = reasonFromName(*text);
    if (parsed && std::find(allowed.begin(), allowed.end(), *parsed) != allowed.end()) {
        return *parsed;
    }
    QStringList names;
    for (const Reason candidate : allowed) {
        names.append(reasonName(candidate));
    }
    fail(key, u"must be one of %1, not %2"_s.arg(names.join(u", "), quoteForMessage(*text)));
    return allowed.front();
}

QJsonObject MessageFieldReader::object(QLatin1StringView key)
{
    const std::optional<QJsonValue> value = readValue(key);
    if (!value) {
        return {};
    }
    if (!value->isObject()) {
        fail(key, u"must be an object"_s);
        return {};
    }
    return value->toObject();
}

QJsonArray MessageFieldReader::array(QLatin1StringView key)
{
    const std::optional<QJsonValue> value = readValue(key);
    if (!value) {
        return {};
    }
    if (!value->isArray()) {
        fail(key, u"must be an array"_s);
        return {};
    }
    return value->toArray();
}

} // namespace sealrelay
