// Field readers for the /agent message parser. Each checks one field's
// presence, JSON type and format, and the first failure becomes an error
// that names the field. Internal to core.
#pragma once

#include "envelope.h"
#include "error.h"
#include "messages.h"
#include "statement.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QLatin1StringView>
#include <QString>

#include <optional>
#include <span>

namespace sealrelay {

// Returns `text` in double quotes, cut to 64 UTF-16 code units, for error
// messages that echo a value received from the peer.
QString quoteForMessage(QStringView text);

// Reads the fields of one JSON object of a message and keeps the first
// failure. Once a read has failed, every later read returns an empty value
// without checking, so a parser can read all fields and test failed() once.
class MessageFieldReader {
public:
    // `messageType` names the message in errors; `fieldPrefix` is prepended
    // to field names of a nested object, e.g. "source." or "known[3].".
    MessageFieldReader(const QJsonObject &object, QLatin1StringView messageType,
                       const MessageLimits &limits, QString fieldPrefix = {});

    bool contains(QLatin1StringView key) const { return m_object.contains(key); }
    bool failed() const { return m_error.has_value(); }
    const Error &error() const { return *m_error; }
    const MessageLimits &limits() const { return m_limits; }

    // Records a failure of `key` unless one is already recorded; `problem`
    // completes the sentence "field "key" ...".
    void fail(const QString &key, const QString &problem);
    // Records the failure of a reader of a nested object, if it has one.
    void adoptFailure(const MessageFieldReader &nested);

    QString string(QLatin1StringView key);
    QString nonEmptyString(QLatin1StringView key);
    QString uuid(QLatin1StringView key);
    std::optional<QString> optionalUuid(QLatin1StringView key);
    // A name of 1 to limits().maxNameBytes UTF-8 bytes.
    QString name(QLatin1StringView key);
    std::optional<QString> optionalName(QLatin1StringView key);
    // An integer in [minimum, 2^53).
    qint64 integer(QLatin1StringView key, qint64 minimum);
    // Canonical base64 of exactly `length` decoded bytes.
    QByteArray base64(QLatin1StringView key, qsizetype length);
    // Canonical base64 of a DER SubjectPublicKeyInfo that RsaPublicKey accepts.
    QByteArray rsaPublicKey(QLatin1StringView key);
    QDateTime timestamp(QLatin1StringView key);
    SignedStatement signedStatement(QLatin1StringView key);
    std::optional<SignedStatement> optionalSignedStatement(QLatin1StringView key);
    // An envelope; a ciphertext over 128 KiB keeps Reason::TooLarge.
    Envelope envelope(QLatin1StringView key);
    // A wire reason name that is one of `allowed`.
    Reason reason(QLatin1StringView key, std::span<const Reason> allowed);
    QJsonObject object(QLatin1StringView key);
    QJsonArray array(QLatin1StringView key);

private:
    // The value of `key`, or std::nullopt after recording why not: an earlier
    // failure, a missing key, or a value that is not a string.
    std::optional<QString> readString(QLatin1StringView key);
    std::optional<QJsonValue> readValue(QLatin1StringView key);
    QString fieldName(const QString &key) const;
    void failWith(Reason reason, const QString &key, const QString &problem);
    // Records a failure whose `detail` comes from a decoder that already
    // names the field, such as decodeBase64() or Envelope::fromJson().
    void failWithDetail(Reason reason, const QString &detail);

    const QJsonObject &m_object;
    QLatin1StringView m_messageType;
    const MessageLimits &m_limits;
    QString m_fieldPrefix;
    std::optional<Error> m_error;
};

} // namespace sealrelay
