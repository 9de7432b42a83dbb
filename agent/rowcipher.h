// AES-256-GCM sealing of the vault's sensitive columns under the vault
// master key. The additional authenticated data binds each sealed value to
// its row (purpose, id, version), so a value copied into another row or
// another version does not open.
#pragma once

#include "error.h"
#include "securebuffer.h"

#include <QByteArray>
#include <QString>

namespace sealrelay::agent {

inline constexpr qsizetype kMasterKeyBytes = 32;

// Kind of a sealed value, part of its additional authenticated data.
enum class RowPurpose {
    KeyCheck, // the known value that proves the master key at open
    EncryptionKey, // the agent's RSA-2048 private key, PKCS#8 DER
    IdentityKey, // the agent's Ed25519 private key, PKCS#8 DER
    CredentialPayload, // a credential's payload bytes exactly as received
};

// The row a sealed value belongs to.
struct RowBinding {
    RowPurpose purpose = RowPurpose::KeyCheck;
    QString id; // vault id, agent id or credential id
    qint64 version = 0; // credential version; 0 where the row has none
};

class RowCipher {
public:
    // `masterKey` must be 32 bytes; it is copied into a wiped buffer.
    static Result<RowCipher> create(QByteArrayView masterKey);

    RowCipher(RowCipher &&) noexcept = default;
    RowCipher &operator=(RowCipher &&) noexcept = default;

    // Returns iv (12 bytes) || ciphertext || tag (16 bytes), with a fresh
    // random IV per call.
    Result<QByteArray> seal(const RowBinding &binding, QByteArrayView plaintext) const;

    // Opens what seal() returned for the same binding. A wrong key, another
    // binding or any altered byte is Reason::DecryptFailed.
    Result<SecureBuffer> open(const RowBinding &binding, QByteArrayView sealed) const;

private:
    explicit RowCipher(SecureBuffer key)
        : m_key(std::move(key))
    {
    }

    SecureBuffer m_key;
};

} // namespace sealrelay::agent
