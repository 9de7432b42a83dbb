// The envelope's plaintext, built and checked byte for byte against its one
// canonical layout, and the HMAC-SHA256 commitment over the secret bytes.
#include "payload.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

// The payload's canonical JSON (keys sorted, no whitespace) is these literal
// pieces with the five values between them. No value needs JSON escaping: a
// UUID, ASCII zeros, base64 and decimal digits.
constexpr QByteArrayView kOpening = R"({"credential_id":")";
constexpr QByteArrayView kBeforePad = R"(","pad":")";
constexpr QByteArrayView kBeforeSalt = R"(","salt":")";
constexpr QByteArrayView kBeforeSecret = R"(","secret":")";
constexpr QByteArrayView kBeforeVersion = R"(","version":)";
constexpr QByteArrayView kClosing = "}";

constexpr qsizetype kUuidChars = 36;
constexpr qsizetype kSaltBase64Chars = (kSaltBytes + 2) / 3 * 4;
// Digits of the largest version, 2^53 - 1 = 9007199254740991.
constexpr qsizetype kMaxVersionDigits = 16;

Error payloadMismatch(const QString &violation)
{
    return makeError(Reason::PayloadMismatch,
                     u"payload is not in canonical form: %1 (a payload is the canonical JSON of "
                     "credential_id, pad, salt, secret and version, padded to a size bucket)"_s
                         .arg(violation));
}

// Reads a payload from left to right, one expected piece at a time.
class PayloadReader {
public:
    explicit PayloadReader(QByteArrayView bytes)
        : m_bytes(bytes)
    {
    }

    bool atEnd() const { return m_position == m_bytes.size(); }

    // Consumes `literal` when the input continues with exactly it.
    bool expect(QByteArrayView literal)
    {
        if (!m_bytes.sliced(m_position).startsWith(literal))
            return false;
        m_position += literal.size();
        return true;
    }

    // Consumes and returns everything up to, not including, the next `stop`
    // byte; an empty view with ok = false when there is no such byte.
    QByteArrayView readUntil(char stop, bool &ok)
    {
        const qsizetype end = m_bytes.indexOf(stop, m_position);
        ok = end >= 0;
        if (!ok)
            return {};
        const QByteArrayView field = m_bytes.sliced(m_position, end - m_position);
        m_position = end;
        return field;
    }

private:
    QByteArrayView m_bytes;
    qsizetype m_position = 0;
};

// A canonical positive integer below 2^53: digits only, no leading zero.
bool parseVersion(QByteArrayView digits, qint64 &version)
{
    if (digits.isEmpty() || digits.size() > kMaxVersionDigits || digits.front() == '0')
        return false;
    qint64 value = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + (c - '0');
    }
    if (value > kMaxStatementInteger)
        return false;
    version = value;
    return true;
}

} // namespace

qsizetype payloadBucketFor(qsizetype length)
{
    if (length < 0)
        return 0;
    for (qsizetype bucket = kMinPayloadBucket; bucket <= kMaxPayloadBucket; bucket *= 2) {
        if (length <= bucket)
            return bucket;
    }
    return 0;
}

Result<SecureBuffer> buildPayload(QStringView credentialId, qint64 version, QByteArrayView salt,
                                  QByteArrayView secretBytes)
{
    if (!isCanonicalUuid(credentialId)) {
        return makeError(
            Reason::Malformed,
            u"credential_id \"%1\" is not a lowercase 8-4-4-4-12 UUID"_s.arg(credentialId));
    }
    if (version < 1 || version > kMaxStatementInteger) {
        return makeError(
            Reason::Malformed,
            u"version %1 is out of range; it must be between 1 and 2^53 - 1"_s.arg(version));
    }
    if (salt.size() != kSaltBytes) {
        return makeError(
            Reason::Malformed,
            u"salt is %1 bytes; it must be %2 bytes"_s.arg(salt.size()).arg(kSaltBytes));
    }

    const QByteArray id = credentialId.toLatin1();
    const QByteArray saltText = encodeBase64(salt).toLatin1();
    const QByteArray versionText = QByteArray::number(version);
    // The base64 length is known before encoding, so an oversized secret is
    // rejected without copying it.
    const qsizetype secretTextSize = (secretBytes.size() + 2) / 3 * 4;

    const qsizetype unpadded = kOpening.size() + id.size() + kBeforePad.size() + kBeforeSalt.size()
        + saltText.size() + kBeforeSecret.size() + secretTextSize + kBeforeVersion.size()
        + versionText.size() + kClosing.size();
    const qsizetype bucket = payloadBucketFor(unpadded);
    if (bucket == 0) {
        return makeError(Reason::TooLarge,
                         u"payload needs %1 bytes without padding; the largest bucket is %2 "
                         "bytes, so the secret must be smaller"_s.arg(unpadded)
                             .arg(kMaxPayloadBucket));
    }

    const SecureBuffer secretText = encodeBase64Secret(secretBytes);
    Q_ASSERT(secretText.size() == secretTextSize);

    // The pad fills the gap to the bucket, so the written bytes end exactly
    // at the buffer's end.
    SecureBuffer payload(bucket);
    unsigned char *out = payload.data();
    const auto append = [&out](QByteArrayView piece) {
        if (!piece.isEmpty())
            std::memcpy(out, piece.data(), size_t(piece.size()));
        out += piece.size();
    };
    append(kOpening);
    append(id);
    append(kBeforePad);
    std::memset(out, '0', size_t(bucket - unpadded));
    out += bucket - unpadded;
    append(kBeforeSalt);
    append(saltText);
    append(kBeforeSecret);
    append(secretText.view());
    append(kBeforeVersion);
    append(versionText);
    append(kClosing);
    Q_ASSERT(out == payload.data() + payload.size());
    return payload;
}

Result<Payload> parsePayload(QByteArrayView bytes)
{
    if (payloadBucketFor(bytes.size()) != bytes.size()) {
        return payloadMismatch(
            u"its length of %1 bytes is not a bucket size (512, 1024, ... 131072)"_s.arg(
                bytes.size()));
    }

    PayloadReader reader(bytes);
    bool found = false;
    if (!reader.expect(kOpening))
        return payloadMismatch(u"it does not open with the \"credential_id\" field"_s);
    const QByteArrayView id = reader.readUntil('"', found);
    if (!found || id.size() != kUuidChars || !isCanonicalUuid(QString::fromLatin1(id)))
        return payloadMismatch(u"credential_id is not a lowercase 8-4-4-4-12 UUID"_s);

    if (!reader.expect(kBeforePad))
        return payloadMismatch(u"the \"pad\" field does not follow credential_id"_s);
    const QByteArrayView pad = reader.readUntil('"', found);
    if (!found)
        return payloadMismatch(u"the \"pad\" string is not closed"_s);
    for (const char c : pad) {
        if (c != '0')
            return payloadMismatch(u"the pad holds a character other than '0'"_s);
    }

    if (!reader.expect(kBeforeSalt))
        return payloadMismatch(u"the \"salt\" field does not follow pad"_s);
    const QByteArrayView saltText = reader.readUntil('"', found);
    if (!found || saltText.size() != kSaltBase64Chars)
        return payloadMismatch(u"salt is not the base64 of %1 bytes"_s.arg(kSaltBytes));
    auto salt = decodeBase64(QString::fromLatin1(saltText), u"salt", kSaltBytes);
    if (!salt)
        return payloadMismatch(u"salt is not canonical base64 of %1 bytes"_s.arg(kSaltBytes));

    if (!reader.expect(kBeforeSecret))
        return payloadMismatch(u"the \"secret\" field does not follow salt"_s);
    const QByteArrayView secretText = reader.readUntil('"', found);
    if (!found)
        return payloadMismatch(u"the \"secret\" string is not closed"_s);
    auto secretBytes = decodeBase64Secret(secretText, u"secret");
    if (!secretBytes)
        return payloadMismatch(u"secret is not canonical base64"_s);

    if (!reader.expect(kBeforeVersion))
        return payloadMismatch(u"the \"version\" field does not follow secret"_s);
    const QByteArrayView versionText = reader.readUntil('}', found);
    qint64 version = 0;
    if (!found || !parseVersion(versionText, version)) {
        return payloadMismatch(
            u"version is not a positive integer below 2^53 without leading zeros"_s);
    }
    if (!reader.expect(kClosing) || !reader.atEnd())
        return payloadMismatch(u"bytes follow the closing brace"_s);

    // The creator pads to the smallest bucket that fits, so a longer pad is
    // not canonical either.
    const qsizetype smallestBucket = payloadBucketFor(bytes.size() - pad.size());
    if (smallestBucket != bytes.size()) {
        return payloadMismatch(
            u"the pad fills %1 bytes, but the payload fits the smaller %2-byte bucket"_s
                .arg(bytes.size())
                .arg(smallestBucket));
    }

    Payload payload;
    payload.credentialId = QString::fromLatin1(id);
    payload.version = version;
    payload.salt = std::move(salt).value();
    payload.secretBytes = std::move(secretBytes).value();
    return payload;
}

Result<QByteArray> computeCommitment(QByteArrayView salt, QByteArrayView secretBytes)
{
    if (salt.size() != kSaltBytes) {
        return makeError(
            Reason::Malformed,
            u"commitment salt is %1 bytes; it must be %2 bytes"_s.arg(salt.size()).arg(kSaltBytes));
    }

    QByteArray commitment(kCommitmentBytes, Qt::Uninitialized);
    size_t length = 0;
    static const unsigned char kEmpty = 0;
    const unsigned char *message = secretBytes.isEmpty()
        ? &kEmpty
        : reinterpret_cast<const unsigned char *>(secretBytes.data());
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, salt.data(), size_t(salt.size()),
                   message, size_t(secretBytes.size()),
                   reinterpret_cast<unsigned char *>(commitment.data()), size_t(commitment.size()),
                   &length)
        || length != size_t(kCommitmentBytes)) {
        ERR_clear_error();
        return makeError(Reason::Internal, u"HMAC-SHA256 of the secret bytes failed in OpenSSL"_s);
    }
    return commitment;
}

Result<void> verifyCommitment(QByteArrayView salt, QByteArrayView secretBytes,
                              QByteArrayView expected)
{
    auto commitment = computeCommitment(salt, secretBytes);
    if (!commitment)
        return commitment.error();
    if (!constantTimeEquals(commitment.value(), expected)) {
        return makeError(Reason::CommitmentMismatch,
                         u"HMAC-SHA256 of the received secret differs from the statement's "
                         "commitment; the secret is not the one the operator entered"_s);
    }
    return {};
}

QByteArray generateSalt()
{
    QByteArray salt(kSaltBytes, Qt::Uninitialized);
    if (RAND_bytes(reinterpret_cast<unsigned char *>(salt.data()), int(salt.size())) != 1) {
        ERR_clear_error();
        return {};
    }
    return salt;
}

} // namespace sealrelay
