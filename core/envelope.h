// The sealed envelope: RSA-OAEP(SHA-256, MGF1-SHA-256) wraps a fresh AES-256
// key, AES-256-GCM seals the payload, no additional authenticated data. The
// same bytes as Web Crypto's RSA-OAEP and AES-GCM with hash SHA-256.
#pragma once

#include "error.h"
#include "keys.h"
#include "securebuffer.h"

#include <QByteArray>
#include <QJsonObject>

namespace sealrelay {

inline constexpr qsizetype kEncryptedKeyBytes = 256;
inline constexpr qsizetype kIvBytes = 12;
inline constexpr qsizetype kTagBytes = 16;
inline constexpr qsizetype kMaxCiphertextBytes = 128 * 1024;

struct Envelope {
    QByteArray encryptedKey;
    QByteArray iv;
    QByteArray ciphertext;   // without the tag
    QByteArray tag;

    // Exactly the four fields, each canonical base64 of the right length;
    // a ciphertext over 128 KiB is Reason::TooLarge (checked on the text's
    // length before decoding), anything else wrong is Reason::Malformed.
    static Result<Envelope> fromJson(const QJsonObject &object);
    QJsonObject toJson() const;

    // envelope_sha256: base64(SHA-256(canonical_json(envelope))).
    QString sha256() const;
};

// Seals `payload` to `recipient` with a fresh AES key and IV.
Result<Envelope> sealEnvelope(const RsaPublicKey &recipient, QByteArrayView payload);

// Opens an envelope. An RSA unwrap failure and a GCM tag failure both return
// Reason::DecryptFailed with the same message, so the result is no oracle.
Result<SecureBuffer> openEnvelope(const RsaPrivateKey &recipient, const Envelope &envelope);

} // namespace sealrelay
