// Loading PEM key files for sealrelayctl, with errors that name the file.
#pragma once

#include "error.h"
#include "keys.h"

#include <QString>

namespace sealrelay::ctl {

// An RSA-2048 public key from a SubjectPublicKeyInfo PEM file, or the public
// half of a PKCS#8 private key PEM file.
Result<RsaPublicKey> loadRsaPublicKeyFile(const QString &path);

// An RSA-2048 private key from an unencrypted PKCS#8 PEM file.
Result<RsaPrivateKey> loadRsaPrivateKeyFile(const QString &path);

struct KeyFileFingerprint {
    QString algorithm;     // "RSA-2048" or "Ed25519"
    bool isPrivate = false;
    QString fingerprint;   // SHA-256 over the DER SubjectPublicKeyInfo, 64 hex digits
};

// Fingerprint of the public key in a PEM file (public or private, RSA-2048
// or Ed25519). Other algorithms and sizes are Reason::InvalidKey.
Result<KeyFileFingerprint> fingerprintKeyFile(const QString &path);

} // namespace sealrelay::ctl
