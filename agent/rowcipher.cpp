// AES-256-GCM row sealing with OpenSSL 3 EVP; the additional authenticated
// data is the canonical JSON of the row binding.
#include "rowcipher.h"

#include "canonicaljson.h"

#include <QJsonObject>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

constexpr qsizetype kIvBytes = 12;
constexpr qsizetype kTagBytes = 16;

struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX *ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxHandle = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const unsigned char *bytesOf(QByteArrayView view)
{
    return reinterpret_cast<const unsigned char *>(view.data());
}

QString purposeName(RowPurpose purpose)
{
    switch (purpose) {
    case RowPurpose::KeyCheck:
        return u"key-check"_s;
    case RowPurpose::EncryptionKey:
        return u"encryption-key"_s;
    case RowPurpose::IdentityKey:
        return u"identity-key"_s;
    case RowPurpose::CredentialPayload:
        return u"credential-payload"_s;
    }
    return {};
}

// {"id":...,"purpose":...,"scheme":"sealrelay/vault-row/v1","version":n} in
// canonical form, so no two bindings share an encoding.
Result<QByteArray> associatedData(const RowBinding &binding)
{
    const QJsonObject fields {
        { u"scheme"_s, u"sealrelay/vault-row/v1"_s },
        { u"purpose"_s, purposeName(binding.purpose) },
        { u"id"_s, binding.id },
        { u"version"_s, binding.version },
    };
    return canonicalJson(fields);
}

Error openSslFailure(const QString &operation)
{
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    const char *reason = code ? ERR_reason_error_string(code) : nullptr;
    return makeError(
        Reason::Internal,
        u"%1 failed: %2"_s.arg(operation,
                               reason ? QString::fromLatin1(reason) : u"unknown OpenSSL error"_s));
}

} // namespace

Result<RowCipher> RowCipher::create(QByteArrayView masterKey)
{
    if (masterKey.size() != kMasterKeyBytes) {
        return makeError(Reason::InvalidKey,
                         u"the vault master key must be %1 bytes, got %2"_s.arg(kMasterKeyBytes)
                             .arg(masterKey.size()));
    }
    return RowCipher(SecureBuffer(masterKey));
}

Result<QByteArray> RowCipher::seal(const RowBinding &binding, QByteArrayView plaintext) const
{
    Result<QByteArray> aad = associatedData(binding);
    if (!aad)
        return aad.error();

    QByteArray sealed(kIvBytes + plaintext.size() + kTagBytes, Qt::Uninitialized);
    auto *out = reinterpret_cast<unsigned char *>(sealed.data());
    if (RAND_bytes(out, int(kIvBytes)) != 1)
        return openSslFailure(u"generating a vault row IV"_s);

    CipherCtxHandle ctx(EVP_CIPHER_CTX_new());
    int written = 0;
    int finalWritten = 0;
    const bool ok = ctx
        && EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), m_key.data(), out, nullptr) == 1
        && EVP_EncryptUpdate(ctx.get(), nullptr, &written, bytesOf(aad.value()), int(aad->size()))
            == 1
        && EVP_EncryptUpdate(ctx.get(), out + kIvBytes, &written, bytesOf(plaintext),
                             int(plaintext.size()))
            == 1
        && EVP_EncryptFinal_ex(ctx.get(), out + kIvBytes + written, &finalWritten) == 1
        && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, int(kTagBytes),
                               out + kIvBytes + plaintext.size())
            == 1;
    if (!ok)
        return openSslFailure(u"AES-256-GCM sealing of a vault row"_s);
    return sealed;
}

Result<SecureBuffer> RowCipher::open(const RowBinding &binding, QByteArrayView sealed) const
{
    const auto cannotOpen = [&] {
        ERR_clear_error();
        return makeError(Reason::DecryptFailed,
                         u"the sealed %1 value of \"%2\" (version %3) does not open: the master "
                         u"key differs or the row was altered or moved"_s
                             .arg(purposeName(binding.purpose), binding.id)
                             .arg(binding.version));
    };
    if (sealed.size() < kIvBytes + kTagBytes)
        return cannotOpen();

    Result<QByteArray> aad = associatedData(binding);
    if (!aad)
        return aad.error();

    const qsizetype ciphertextBytes = sealed.size() - kIvBytes - kTagBytes;
    const unsigned char *in = bytesOf(sealed);
    SecureBuffer plaintext(ciphertextBytes);
    // OpenSSL writes nothing through a null output pointer, so an empty
    // plaintext still needs a valid one.
    unsigned char scratch = 0;
    unsigned char *out = ciphertextBytes > 0 ? plaintext.data() : &scratch;

    CipherCtxHandle ctx(EVP_CIPHER_CTX_new());
    int written = 0;
    int finalWritten = 0;
    const bool ok = ctx
        && EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), m_key.data(), in, nullptr) == 1
        && EVP_DecryptUpdate(ctx.get(), nullptr, &written, bytesOf(aad.value()), int(aad->size()))
            == 1
        && EVP_DecryptUpdate(ctx.get(), out, &written, in + kIvBytes, int(ciphertextBytes)) == 1
        && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, int(kTagBytes),
                               const_cast<unsigned char *>(in + kIvBytes + ciphertextBytes))
            == 1
        && EVP_DecryptFinal_ex(ctx.get(), out + written, &finalWritten) == 1;
    if (!ok)
        return cannotOpen();
    return plaintext;
}

} // namespace sealrelay::agent
