// The operator key file for headless use: the PKCS#8 Ed25519 key sealed with
// AES-256-GCM under a key derived from a passphrase with scrypt. The file is
// a small JSON document with a format version and the scrypt parameters, so
// they can change later:
//
//   {"format": "sealrelay-operator-key", "version": 1,
//    "public_key": b64(raw Ed25519 public key),
//    "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": b64(32 bytes)},
//    "cipher": {"name": "aes-256-gcm", "iv": b64(12 bytes)},
//    "ciphertext": b64(...), "tag": b64(16 bytes)}
//
// The additional authenticated data of the GCM seal is the canonical JSON of
// the document without "ciphertext" and "tag", so a changed parameter or
// public key fails like a wrong passphrase.
#pragma once

#include "clientfiles.h"
#include "error.h"
#include "keys.h"

#include <QByteArray>
#include <QString>

namespace sealrelay::client {

inline constexpr int kOperatorKeyFileVersion = 1;
inline constexpr qsizetype kMaxOperatorKeyFileBytes = 64 * 1024;

// scrypt cost. Files are written with these defaults. A file whose cost is
// below them, or whose memory (128 * n * r bytes) is over 1 GiB, is rejected.
struct ScryptParameters {
    quint64 n = quint64(1) << 15;
    quint32 r = 8;
    quint32 p = 1;
};

// Returns the file content for `key` sealed under `passphrase` (UTF-8 bytes,
// not empty) with a fresh salt and IV.
Result<QByteArray> sealOperatorKey(const Ed25519PrivateKey &key, QByteArrayView passphrase,
                                   const ScryptParameters &parameters = {});

// Opens file content. A wrong passphrase and a changed file are both
// Reason::DecryptFailed with one message; a document of the wrong shape or
// version is Reason::Malformed. `path` only names the file in messages.
Result<Ed25519PrivateKey> openOperatorKey(QByteArrayView content, QByteArrayView passphrase,
                                          QStringView path);

// Returns the public key listed in the file, without the passphrase. It is
// not authenticated until the file is opened.
Result<Ed25519PublicKey> operatorKeyFilePublicKey(QByteArrayView content, QStringView path);

// Writes a sealed key to `path` with mode 0600 (see writePrivateFile()).
Result<void> writeOperatorKeyFile(const QString &path, const Ed25519PrivateKey &key,
                                  QByteArrayView passphrase, WriteMode mode,
                                  const ScryptParameters &parameters = {});

// Reads and opens `path`. Reason::NotFound when it does not exist,
// Reason::Forbidden when group or others may access it.
Result<Ed25519PrivateKey> readOperatorKeyFile(const QString &path, QByteArrayView passphrase);

} // namespace sealrelay::client
