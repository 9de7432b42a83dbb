// The sealed envelope: strict JSON form, sealing with RSA-OAEP(SHA-256,
// MGF1-SHA-256) around a fresh AES-256-GCM key, and opening without an oracle.
#include "envelope.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"

#include <QJsonValue>
#include <QStringList>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <memory>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

constexpr qsizetype kAesKeyBytes = 32;

const QString kEncryptedKeyField = u"encrypted_key"_s;
const QString kIvField = u"iv"_s;
const QString kCiphertextField = u"ciphertext"_s;
const QString kTagField = u"tag"_s;

// Maximum length of canonical base64 text for kMaxCiphertextBytes bytes:
// four characters per started group of three bytes.
constexpr qsizetype kMaxCiphertextBase64Chars = (kMaxCiphertextBytes + 2) / 3 * 4;

struct CipherCtxDeleter {
    // EVP_CIPHER_CTX_free wipes the expanded AES key schedule.
    void operator()(EVP_CIPHER_CTX *ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxHandle = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX *ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxHandle = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

const unsigned char *bytesOf(QByteArrayView view)
{
    return reinterpret_cast<const unsigned char *>(view.data());
}

// The single error for both an RSA unwrap failure and a GCM tag failure, so a
// caller cannot tell which of the two happened.
Error decryptFailed()
{
    ERR_clear_error();
    return makeError(Reason::DecryptFailed,
                     u"envelope cannot be opened: the RSA-OAEP key unwrap or the AES-GCM "
                     "authentication failed (the two are reported alike): the envelope was sealed "
                     "to another key or altered in transit"_s);
}

// Takes the reason of the latest OpenSSL error and empties the error queue.
QString takeOpenSslError()
{
    unsigned long code = 0;
    unsigned long last = 0;
    while ((code = ERR_get_error()) != 0)
        last = code;
    const char *reason = last ? ERR_reason_error_string(last) : nullptr;
    return reason ? QString::fromLatin1(reason) : u"unknown OpenSSL error"_s;
}

Error internalError(const QString &operation)
{
    return makeError(Reason::Internal, operation + u": "_s + takeOpenSslError());
}

// RsaPublicKey and RsaPrivateKey check the key on import, so this only guards
// against an empty handle.
Result<void> checkRecipient(EVP_PKEY *key)
{
    if (!key || !EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) != kRsaKeyBits) {
        ERR_clear_error();
        return makeError(Reason::InvalidKey,
                         u"envelope recipient is not an RSA-2048 key; load the agent's "
                         "encryption key again"_s);
    }
    return {};
}

// Parameters of RSA-OAEP with SHA-256 as the hash and as MGF1's hash, and no label.
std::array<OSSL_PARAM, 4> oaepParams()
{
    static char padMode[] = OSSL_PKEY_RSA_PAD_MODE_OAEP;
    static char digest[] = "SHA256";
    static char mgf1Digest[] = "SHA256";
    return {
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, padMode, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, digest, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, mgf1Digest, 0),
        OSSL_PARAM_construct_end(),
    };
}

Result<void> checkSizes(const Envelope &envelope)
{
    if (envelope.ciphertext.size() > kMaxCiphertextBytes) {
        return makeError(Reason::TooLarge,
                         u"envelope ciphertext is %1 bytes; the maximum is %2 bytes"_s
                             .arg(envelope.ciphertext.size())
                             .arg(kMaxCiphertextBytes));
    }
    const struct {
        const QString &field;
        qsizetype size;
        qsizetype expected;
    } fields[] = {
        { kEncryptedKeyField, envelope.encryptedKey.size(), kEncryptedKeyBytes },
        { kIvField, envelope.iv.size(), kIvBytes },
        { kTagField, envelope.tag.size(), kTagBytes },
    };
    for (const auto &field : fields) {
        if (field.size != field.expected) {
            return makeError(
                Reason::Malformed,
                u"envelope field \"%1\" is %2 bytes; expected %3 bytes"_s.arg(field.field)
                    .arg(field.size)
                    .arg(field.expected));
        }
    }
    return {};
}

// Decrypts AES-256-GCM `ciphertext` with `tag` and no additional
// authenticated data. On failure nothing readable is left in `plaintext`.
bool gcmDecrypt(const SecureBuffer &aesKey, const Envelope &envelope, SecureBuffer &plaintext)
{
    CipherCtxHandle ctx(EVP_CIPHER_CTX_new());
    int written = 0;
    int finalWritten = 0;
    const bool ok = ctx
        && EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), aesKey.data(), bytesOf(envelope.iv),
                               nullptr)
            == 1
        && EVP_DecryptUpdate(ctx.get(), plaintext.data(), &written, bytesOf(envelope.ciphertext),
                             int(envelope.ciphertext.size()))
            == 1
        && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, int(kTagBytes),
                               const_cast<char *>(envelope.tag.constData()))
            == 1
        && EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + written, &finalWritten) == 1
        && written + finalWritten == envelope.ciphertext.size();
    if (!ok)
        plaintext.clear();
    ERR_clear_error();
    return ok;
}

} // namespace

Result<Envelope> Envelope::fromJson(const QJsonObject &object)
{
    static const QStringList fieldNames = { kCiphertextField, kEncryptedKeyField, kIvField,
                                            kTagField };
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (!fieldNames.contains(it.key())) {
            return makeError(Reason::Malformed,
                             u"envelope has unknown field \"%1\"; an envelope has exactly "
                             "encrypted_key, iv, ciphertext and tag"_s.arg(it.key()));
        }
    }
    for (const QString &name : fieldNames) {
        if (!object.contains(name)) {
            return makeError(Reason::Malformed,
                             u"envelope is missing field \"%1\"; an envelope has exactly "
                             "encrypted_key, iv, ciphertext and tag"_s.arg(name));
        }
        if (!object.value(name).isString()) {
            return makeError(Reason::Malformed,
                             u"envelope field \"%1\" must be a base64 string"_s.arg(name));
        }
    }

    // The ciphertext's text length is checked first, so an oversized string
    // is rejected without decoding it.
    const QString ciphertextText = object.value(kCiphertextField).toString();
    if (ciphertextText.size() > kMaxCiphertextBase64Chars) {
        return makeError(Reason::TooLarge,
                         u"envelope field \"ciphertext\" has %1 base64 characters; the maximum "
                         "is %2 (%3 bytes decoded)"_s.arg(ciphertextText.size())
                             .arg(kMaxCiphertextBase64Chars)
                             .arg(kMaxCiphertextBytes));
    }

    auto encryptedKey = decodeBase64(object.value(kEncryptedKeyField).toString(),
                                     u"envelope field \"encrypted_key\"", kEncryptedKeyBytes);
    if (!encryptedKey)
        return encryptedKey.error();
    auto iv = decodeBase64(object.value(kIvField).toString(), u"envelope field \"iv\"", kIvBytes);
    if (!iv)
        return iv.error();
    auto tag =
        decodeBase64(object.value(kTagField).toString(), u"envelope field \"tag\"", kTagBytes);
    if (!tag)
        return tag.error();
    auto ciphertext = decodeBase64(ciphertextText, u"envelope field \"ciphertext\"");
    if (!ciphertext)
        return ciphertext.error();

    Envelope envelope;
    envelope.encryptedKey = std::move(encryptedKey).value();
    envelope.iv = std::move(iv).value();
    envelope.ciphertext = std::move(ciphertext).value();
    envelope.tag = std::move(tag).value();
    if (auto sizes = checkSizes(envelope); !sizes)
        return sizes.error();
    return envelope;
}

QJsonObject Envelope::toJson() const
{
    return QJsonObject {
        { kEncryptedKeyField, encodeBase64(encryptedKey) },
        { kIvField, encodeBase64(iv) },
        { kCiphertextField, encodeBase64(ciphertext) },
        { kTagField, encodeBase64(tag) },
    };
}

QString Envelope::sha256() const
{
    // canonicalJson rejects only numbers out of range and lone surrogates, and
    // the envelope's JSON is four base64 (ASCII) strings.
    auto bytes = canonicalJson(toJson());
    Q_ASSERT(bytes.ok());
    return bytes ? sha256Base64(bytes.value()) : QString();
}

Result<Envelope> sealEnvelope(const RsaPublicKey &recipient, QByteArrayView payload)
{
    if (auto checked = checkRecipient(recipient.handle()); !checked)
        return checked.error();
    if (payload.size() > kMaxCiphertextBytes) {
        return makeError(
            Reason::TooLarge,
            u"payload is %1 bytes; an envelope holds at most %2 bytes"_s.arg(payload.size())
                .arg(kMaxCiphertextBytes));
    }

    SecureBuffer aesKey(kAesKeyBytes);
    Envelope envelope;
    envelope.iv = QByteArray(kIvBytes, Qt::Uninitialized);
    if (RAND_bytes(aesKey.data(), int(aesKey.size())) != 1
        || RAND_bytes(reinterpret_cast<unsigned char *>(envelope.iv.data()), int(kIvBytes)) != 1) {
        return internalError(u"random bytes for the envelope key and IV are unavailable"_s);
    }

    // AES-256-GCM over the payload, no additional authenticated data.
    CipherCtxHandle cipher(EVP_CIPHER_CTX_new());
    envelope.ciphertext = QByteArray(payload.size(), Qt::Uninitialized);
    envelope.tag = QByteArray(kTagBytes, Qt::Uninitialized);
    auto *ciphertextOut = reinterpret_cast<unsigned char *>(envelope.ciphertext.data());
    int written = 0;
    int finalWritten = 0;
    if (!cipher
        || EVP_EncryptInit_ex2(cipher.get(), EVP_aes_256_gcm(), aesKey.data(), bytesOf(envelope.iv),
                               nullptr)
            != 1
        || EVP_EncryptUpdate(cipher.get(), ciphertextOut, &written, bytesOf(payload),
                             int(payload.size()))
            != 1
        || EVP_EncryptFinal_ex(cipher.get(), ciphertextOut + written, &finalWritten) != 1
        || written + finalWritten != payload.size()
        || EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_AEAD_GET_TAG, int(kTagBytes),
                               envelope.tag.data())
            != 1) {
        return internalError(u"AES-256-GCM encryption of the payload failed"_s);
    }

    // RSA-OAEP wraps the AES key for the recipient.
    PkeyCtxHandle wrap(EVP_PKEY_CTX_new_from_pkey(nullptr, recipient.handle(), nullptr));
    auto params = oaepParams();
    size_t wrappedLength = size_t(kEncryptedKeyBytes);
    envelope.encryptedKey = QByteArray(kEncryptedKeyBytes, Qt::Uninitialized);
    if (!wrap || EVP_PKEY_encrypt_init_ex(wrap.get(), params.data()) != 1
        || EVP_PKEY_encrypt(wrap.get(),
                            reinterpret_cast<unsigned char *>(envelope.encryptedKey.data()),
                            &wrappedLength, aesKey.data(), size_t(aesKey.size()))
            != 1
        || wrappedLength != size_t(kEncryptedKeyBytes)) {
        return internalError(u"RSA-OAEP wrapping of the envelope key failed"_s);
    }
    return envelope;
}

Result<SecureBuffer> openEnvelope(const RsaPrivateKey &recipient, const Envelope &envelope)
{
    if (auto checked = checkRecipient(recipient.handle()); !checked)
        return checked.error();
    if (auto sizes = checkSizes(envelope); !sizes)
        return sizes.error();

    // RSA-OAEP unwrap of the AES key. The output buffer has the modulus size
    // because OpenSSL requires room for the largest possible message.
    PkeyCtxHandle unwrap(EVP_PKEY_CTX_new_from_pkey(nullptr, recipient.handle(), nullptr));
    auto params = oaepParams();
    SecureBuffer aesKey(kEncryptedKeyBytes);
    size_t unwrappedLength = size_t(aesKey.size());
    const bool unwrapped = unwrap && EVP_PKEY_decrypt_init_ex(unwrap.get(), params.data()) == 1
        && EVP_PKEY_decrypt(unwrap.get(), aesKey.data(), &unwrappedLength,
                            bytesOf(envelope.encryptedKey), size_t(envelope.encryptedKey.size()))
            == 1
        && unwrappedLength == size_t(kAesKeyBytes);
    ERR_clear_error();

    // A failed unwrap still runs the GCM step, under a random key, so both
    // failures take the same path and return the same error.
    if (unwrapped) {
        aesKey.truncate(kAesKeyBytes);
    } else {
        aesKey = SecureBuffer(kAesKeyBytes);
        if (RAND_bytes(aesKey.data(), int(aesKey.size())) != 1)
            ERR_clear_error();
    }

    SecureBuffer plaintext(envelope.ciphertext.size());
    const bool authenticated = gcmDecrypt(aesKey, envelope, plaintext);
    aesKey.clear();
    if (!unwrapped || !authenticated) {
        plaintext.clear();
        return decryptFailed();
    }
    return plaintext;
}

} // namespace sealrelay
