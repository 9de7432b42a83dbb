// SHA-256 through OpenSSL EVP and the fingerprint formats of the protocol.
#include "digest.h"

#include "base64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

QByteArray sha256(QByteArrayView bytes)
{
    QByteArray digest(32, Qt::Uninitialized);
    unsigned int digestLength = 0;
    // With SHA-256, EVP_Digest fails when OpenSSL cannot allocate memory or
    // has no provider for SHA-256. Returning a wrong digest would be worse than
    // stopping, so the process stops with qFatal.
    if (EVP_Digest(bytes.data(), std::size_t(bytes.size()),
                   reinterpret_cast<unsigned char *>(digest.data()), &digestLength, EVP_sha256(),
                   nullptr)
            != 1
        || digestLength != 32) {
        qFatal("SHA-256 failed in OpenSSL EVP_Digest");
    }
    return digest;
}

QString sha256Base64(QByteArrayView bytes)
{
    return encodeBase64(sha256(bytes));
}

QString sha256Hex(QByteArrayView bytes)
{
    return QString::fromLatin1(sha256(bytes).toHex());
}

QString formatFingerprintForDisplay(QStringView hex)
{
    QString grouped;
    grouped.reserve(hex.size() + hex.size() / 4);
    for (qsizetype i = 0; i < hex.size(); i += 4) {
        if (i > 0)
            grouped.append(u' ');
        grouped.append(hex.mid(i, 4));
    }
    return grouped;
}

QString normaliseTypedFingerprint(QStringView typed)
{
    QString normalised;
    normalised.reserve(typed.size());
    // Any whitespace goes, not only U+0020, because pasted text can carry tabs
    // or line breaks between the groups.
    for (const QChar c : typed) {
        if (c.isSpace())
            continue;
        normalised.append(c.toLower());
    }
    return normalised;
}

bool constantTimeEquals(QByteArrayView a, QByteArrayView b)
{
    if (a.size() != b.size())
        return false;
    if (a.isEmpty())
        return true;
    return CRYPTO_memcmp(a.data(), b.data(), std::size_t(a.size())) == 0;
}

} // namespace sealrelay
