// Canonical base64 (RFC 4648 §4): decoding re-encodes the result and accepts
// the input only when it comes back byte-identical.
#include "base64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

// EVP_EncodeBlock and EVP_DecodeBlock take int lengths. Inputs up to this many
// characters (or bytes to encode) stay far below INT_MAX after expansion.
constexpr qsizetype kMaxBase64Chunk = qsizetype(INT_MAX / 4) * 3;

qsizetype encodedSize(qsizetype byteCount)
{
    return (byteCount + 2) / 3 * 4;
}

Error notCanonical(QStringView field)
{
    return makeError(Reason::Malformed,
                     u"%1 is not canonical base64: use the standard alphabet with '=' padding, "
                     u"no whitespace, and zero padding bits"_s.arg(field));
}

// Encodes `bytes` into `out`, which has room for encodedSize(bytes.size()) + 1
// bytes (EVP_EncodeBlock writes a terminating NUL).
void encodeInto(QByteArrayView bytes, unsigned char *out)
{
    const auto *in = reinterpret_cast<const unsigned char *>(bytes.data());
    qsizetype done = 0;
    while (done < bytes.size()) {
        const qsizetype chunk = std::min(bytes.size() - done, kMaxBase64Chunk);
        EVP_EncodeBlock(out + encodedSize(done), in + done, int(chunk));
        done += chunk;
    }
}

// Decodes base64 `text` into `out` (room for text.size() / 4 * 3 bytes) and
// returns the decoded length, or -1 when OpenSSL rejects the text. The result
// is not yet known to be canonical: the caller re-encodes and compares.
qsizetype decodeInto(QByteArrayView text, unsigned char *out)
{
    if (text.size() % 4 != 0 || text.size() > kMaxBase64Chunk)
        return -1;
    if (text.isEmpty())
        return 0;

    const int decoded = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char *>(text.data()),
                                        int(text.size()));
    if (decoded < 0)
        return -1;

    // EVP_DecodeBlock counts the bytes that padding stands for as zeros.
    qsizetype padding = 0;
    if (text.endsWith('='))
        ++padding;
    if (text.size() >= 2 && text[text.size() - 2] == '=')
        ++padding;
    if (decoded < padding)
        return -1;
    return decoded - padding;
}

} // namespace

QString encodeBase64(QByteArrayView bytes)
{
    QByteArray text(encodedSize(bytes.size()) + 1, Qt::Uninitialized);
    encodeInto(bytes, reinterpret_cast<unsigned char *>(text.data()));
    text.chop(1);
    return QString::fromLatin1(text);
}

Result<QByteArray> decodeBase64(QStringView text, QStringView field,
                                std::optional<qsizetype> expectedLength)
{
    // Only ASCII can be base64. Checking here also makes the Latin-1
    // conversion below lossless.
    for (const QChar c : text) {
        if (c.unicode() >= 0x80)
            return notCanonical(field);
    }
    const QByteArray ascii = text.toLatin1();

    QByteArray decoded(ascii.size() / 4 * 3, Qt::Uninitialized);
    const qsizetype decodedSize =
        decodeInto(ascii, reinterpret_cast<unsigned char *>(decoded.data()));
    if (decodedSize < 0)
        return notCanonical(field);
    decoded.truncate(decodedSize);

    if (encodeBase64(decoded) != text)
        return notCanonical(field);

    if (expectedLength && decoded.size() != *expectedLength) {
        return makeError(
            Reason::Malformed,
            u"%1 must decode to %2 bytes, but it decodes to %3"_s.arg(
                field, QString::number(*expectedLength), QString::number(decoded.size())));
    }
    return decoded;
}

Result<SecureBuffer> decodeBase64Secret(QByteArrayView text, QStringView field)
{
    SecureBuffer decoded(text.size() / 4 * 3);
    const qsizetype decodedSize = decodeInto(text, decoded.data());
    if (decodedSize < 0)
        return notCanonical(field);
    decoded.truncate(decodedSize);

    // The re-encoded text is as secret as the bytes, so it lives in a
    // SecureBuffer too.
    const SecureBuffer reencoded = encodeBase64Secret(decoded.view());
    if (reencoded.size() != text.size()
        || (!text.isEmpty()
            && CRYPTO_memcmp(reencoded.data(), text.data(), std::size_t(text.size())) != 0)) {
        return notCanonical(field);
    }
    return decoded;
}

SecureBuffer encodeBase64Secret(QByteArrayView bytes)
{
    SecureBuffer text(encodedSize(bytes.size()) + 1);
    encodeInto(bytes, text.data());
    text.truncate(text.size() - 1);
    return text;
}

} // namespace sealrelay
