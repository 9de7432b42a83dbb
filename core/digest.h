// SHA-256 helpers and the fingerprint formats of the protocol.
#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

namespace sealrelay {

QByteArray sha256(QByteArrayView bytes);

// base64(SHA-256(bytes)), the form of statement_sha256 and envelope_sha256.
QString sha256Base64(QByteArrayView bytes);

// 64 lowercase hex digits of SHA-256(bytes), the form of key fingerprints.
QString sha256Hex(QByteArrayView bytes);

// Groups a 64-digit fingerprint in fours for people: "9f2c 1a0b …".
QString formatFingerprintForDisplay(QStringView hex);

// Removes spaces from what a person typed and lowercases it, so
// "9F2C 1A0B" compares equal to "9f2c1a0b".
QString normaliseTypedFingerprint(QStringView typed);

// Constant-time comparison; false when the sizes differ.
bool constantTimeEquals(QByteArrayView a, QByteArrayView b);

} // namespace sealrelay
