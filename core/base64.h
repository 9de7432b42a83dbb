// Base64 in the one canonical form the protocol accepts (RFC 4648 §4,
// standard alphabet, padded, zero padding bits, no whitespace).
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

namespace sealrelay {

// Encodes bytes as padded standard base64.
QString encodeBase64(QByteArrayView bytes);

// Decodes `text` and re-encodes the result; anything that does not come back
// byte-identical (whitespace, URL-safe characters, missing padding, non-zero
// padding bits, trailing junk) is Reason::Malformed with `field` named in the
// message. `expectedLength`, when given, is checked on the decoded bytes.
Result<QByteArray> decodeBase64(QStringView text, QStringView field,
                                std::optional<qsizetype> expectedLength = std::nullopt);

// The same check for secret material: the decoded bytes go straight into a
// SecureBuffer and are never held in an ordinary QByteArray.
Result<SecureBuffer> decodeBase64Secret(QByteArrayView text, QStringView field);

// Encodes secret bytes into a SecureBuffer holding the base64 text.
SecureBuffer encodeBase64Secret(QByteArrayView bytes);

} // namespace sealrelay
