// The envelope's plaintext: canonical JSON of credential_id, version, salt,
// secret and a `pad` of ASCII zeros that fills it to a size bucket, and the
// HMAC-SHA256 commitment over the secret bytes.
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QByteArray>
#include <QString>

namespace sealrelay {

inline constexpr qsizetype kSaltBytes = 32;
inline constexpr qsizetype kCommitmentBytes = 32;
inline constexpr qsizetype kMinPayloadBucket = 512;
inline constexpr qsizetype kMaxPayloadBucket = 128 * 1024;

struct Payload {
    QString credentialId;
    qint64 version = 0;
    QByteArray salt;             // 32 bytes
    SecureBuffer secretBytes;    // canonical JSON of the secret's fields, verbatim
};

// Returns the smallest bucket (512, 1024, ... 131072) that holds `length`
// bytes, or 0 when none does.
qsizetype payloadBucketFor(qsizetype length);

// Builds the padded canonical payload. Reason::TooLarge when it cannot fit in
// the largest bucket, Reason::Malformed for a bad id, version or salt length.
Result<SecureBuffer> buildPayload(QStringView credentialId, qint64 version,
                                  QByteArrayView salt, QByteArrayView secretBytes);

// Parses a payload and checks it byte for byte: canonical field order and
// encoding, a bucket length, a pad of only '0'. Every failure is
// Reason::PayloadMismatch. Secret bytes never pass through a QString.
Result<Payload> parsePayload(QByteArrayView bytes);

// HMAC-SHA256(key = salt, message = secretBytes); the salt must be 32 bytes.
Result<QByteArray> computeCommitment(QByteArrayView salt, QByteArrayView secretBytes);

// Recomputes the commitment and compares it with `expected` in constant time;
// a difference (including in length) is Reason::CommitmentMismatch.
Result<void> verifyCommitment(QByteArrayView salt, QByteArrayView secretBytes,
                              QByteArrayView expected);

// Returns 32 fresh random bytes from OpenSSL's RAND_bytes, or an empty array
// when the generator fails (buildPayload and computeCommitment reject that).
QByteArray generateSalt();

} // namespace sealrelay
