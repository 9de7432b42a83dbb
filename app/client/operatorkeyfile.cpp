// scrypt through OpenSSL's EVP_KDF "SCRYPT" and AES-256-GCM through
// EVP_CIPHER. Every buffer of the derived key or the PKCS#8 bytes is wiped.
#include "operatorkeyfile.h"

#include "base64.h"
#include "canonicaljson.h"
#include "securebuffer.h"

#include <QJsonObject>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

constexpr auto kFormatName = "sealrelay-operator-key"_L1;
constexpr qsizetype kKdfSaltBytes = 32;
constexpr qsizetype kKeyBytes = 32;
constexpr qsizetype kIvBytes = 12;
constexpr qsizetype kTagBytes = 16;
constexpr quint64 kMaxScryptMemoryBytes = quint64(1) << 30;
constexpr quint64 kMaxScryptN = quint64(1) << 20;
constexpr quint32 kMaxScryptR = 32;
constexpr quint32 kMaxScryptP = 16;

struct CipherContextDeleter {
    void operator()(EVP_CIPHER_CTX *context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

Error malformed(QStringView path, const QString &detail)
{
    return makeError(Reason::Malformed,
                     u"the operator key file %1 is not a version %2 sealrelay key file: %3"_s.arg(
                         path, QString::number(kOperatorKeyFileVersion), detail));
}

Error wrongPassphrase(QStringView path)
{
    return makeError(Reason::DecryptFailed,
                     u"could not open the operator key file %1: the passphrase is wrong or the "
                     u"file was changed"_s.arg(path));
}

Result<void> checkParameters(const ScryptParameters &parameters, QStringView path)
{
    const ScryptParameters minimum;
    const bool powerOfTwo = parameters.n != 0 && (parameters.n & (parameters.n - 1)) == 0;
    if (!powerOfTwo || parameters.n < minimum.n || parameters.n > kMaxScryptN)
        return malformed(path,
                         u"scrypt n is %1; expected a power of two from %2 to %3"_s.arg(
                             QString::number(parameters.n), QString::number(minimum.n),
                             QString::number(kMaxScryptN)));
    if (parameters.r < minimum.r || parameters.r > kMaxScryptR)
        return malformed(path,
                         u"scrypt r is %1; expected %2 to %3"_s.arg(QString::number(parameters.r),
                                                                    QString::number(minimum.r),
                                                                    QString::number(kMaxScryptR)));
    if (parameters.p < minimum.p || parameters.p > kMaxScryptP)
        return malformed(path,
                         u"scrypt p is %1; expected %2 to %3"_s.arg(QString::number(parameters.p),
                                                                    QString::number(minimum.p),
                                                                    QString::number(kMaxScryptP)));
    if (128 * parameters.n * parameters.r > kMaxScryptMemoryBytes)
        return malformed(path,
                         u"scrypt n = %1 with r = %2 needs more than 1 GiB of memory"_s.arg(
                             QString::number(parameters.n), QString::number(parameters.r)));
    return {};
}

Result<SecureBuffer> deriveKey(QByteArrayView passphrase, QByteArrayView salt,
                               const ScryptParameters &parameters)
{
    EVP_KDF *kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
    if (!kdf)
        return makeError(Reason::Internal, u"OpenSSL offers no SCRYPT key derivation"_s);
    EVP_KDF_CTX *context = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!context)
        return makeError(Reason::Internal, u"OpenSSL could not start a SCRYPT derivation"_s);

    uint64_t n = parameters.n;
    uint32_t r = parameters.r;
    uint32_t p = parameters.p;
    uint64_t maxMemory = kMaxScryptMemoryBytes * 2;
    const OSSL_PARAM settings[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                          const_cast<char *>(passphrase.data()),
                                          std::size_t(passphrase.size())),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char *>(salt.data()),
                                          std::size_t(salt.size())),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxMemory),
        OSSL_PARAM_construct_end(),
    };
    SecureBuffer key(kKeyBytes);
    const int derived = EVP_KDF_derive(context, key.data(), std::size_t(key.size()), settings);
    EVP_KDF_CTX_free(context);
    if (derived != 1)
        return makeError(Reason::Internal, u"OpenSSL's SCRYPT derivation failed"_s);
    return key;
}

QJsonObject headerFields(const ScryptParameters &parameters, const QString &publicKey,
                         const QString &salt, const QString &iv)
{
    return QJsonObject {
        { u"format"_s, QString(kFormatName) },
        { u"version"_s, kOperatorKeyFileVersion },
        { u"public_key"_s, publicKey },
        { u"kdf"_s,
          QJsonObject { { u"name"_s, u"scrypt"_s },
                        { u"n"_s, qint64(parameters.n) },
                        { u"r"_s, qint64(parameters.r) },
                        { u"p"_s, qint64(parameters.p) },
                        { u"salt"_s, salt } } },
        { u"cipher"_s, QJsonObject { { u"name"_s, u"aes-256-gcm"_s }, { u"iv"_s, iv } } },
    };
}

struct ParsedFile {
    ScryptParameters parameters;
    QString publicKey;
    QByteArray salt;
    QByteArray iv;
    QByteArray ciphertext;
    QByteArray tag;
    QByteArray associatedData;
};

Result<qint64> integerField(const QJsonObject &object, const QString &name, QStringView path)
{
    const QJsonValue value = object.value(name);
    if (!value.isDouble() || value.toDouble() != double(value.toInteger()) || value.toInteger() < 0)
        return malformed(path, u"\"%1\" is missing or not a non-negative integer"_s.arg(name));
    return value.toInteger();
}

Result<ParsedFile> parseFile(QByteArrayView content, QStringView path)
{
    if (content.size() > kMaxOperatorKeyFileBytes)
        return malformed(path, u"it has more than %1 bytes"_s.arg(kMaxOperatorKeyFileBytes));
    Result<QJsonValue> json = parseJsonStrict(content);
    if (!json)
        return malformed(path, json.error().message);
    if (!json->isObject())
        return malformed(path, u"it is not a JSON object"_s);
    const QJsonObject document = json->toObject();

    if (document.value(u"format"_s).toString() != kFormatName)
        return malformed(path, u"\"format\" is not \"%1\""_s.arg(kFormatName));
    Result<qint64> version = integerField(document, u"version"_s, path);
    if (!version)
        return version.error();
    if (version.value() != kOperatorKeyFileVersion)
        return malformed(path,
                         u"it has version %1, which this build cannot read"_s.arg(
                             QString::number(version.value())));

    const QJsonObject kdf = document.value(u"kdf"_s).toObject();
    const QJsonObject cipher = document.value(u"cipher"_s).toObject();
    if (kdf.value(u"name"_s).toString() != "scrypt"_L1)
        return malformed(path, u"\"kdf\".\"name\" is not \"scrypt\""_s);
    if (cipher.value(u"name"_s).toString() != "aes-256-gcm"_L1)
        return malformed(path, u"\"cipher\".\"name\" is not \"aes-256-gcm\""_s);

    ParsedFile parsed;
    Result<qint64> n = integerField(kdf, u"n"_s, path);
    Result<qint64> r = integerField(kdf, u"r"_s, path);
    Result<qint64> p = integerField(kdf, u"p"_s, path);
    for (const Result<qint64> *field : { &n, &r, &p }) {
        if (!*field)
            return field->error();
    }
    if (r.value() > kMaxScryptR || p.value() > kMaxScryptP)
        return malformed(path, u"scrypt r or p is out of range"_s);
    parsed.parameters =
        ScryptParameters { quint64(n.value()), quint32(r.value()), quint32(p.value()) };
    if (Result<void> checked = checkParameters(parsed.parameters, path); !checked)
        return checked.error();

    parsed.publicKey = document.value(u"public_key"_s).toString();
    Result<QByteArray> salt =
        decodeBase64(kdf.value(u"salt"_s).toString(), u"kdf.salt", kKdfSaltBytes);
    Result<QByteArray> iv = decodeBase64(cipher.value(u"iv"_s).toString(), u"cipher.iv", kIvBytes);
    Result<QByteArray> ciphertext =
        decodeBase64(document.value(u"ciphertext"_s).toString(), u"ciphertext");
    Result<QByteArray> tag = decodeBase64(document.value(u"tag"_s).toString(), u"tag", kTagBytes);
    for (const Result<QByteArray> *field : { &salt, &iv, &ciphertext, &tag }) {
        if (!*field)
            return malformed(path, field->error().message);
    }
    parsed.salt = salt.value();
    parsed.iv = iv.value();
    parsed.ciphertext = ciphertext.value();
    parsed.tag = tag.value();

    Result<QByteArray> associatedData = canonicalJson(
        headerFields(parsed.parameters, parsed.publicKey, kdf.value(u"salt"_s).toString(),
                     cipher.value(u"iv"_s).toString()));
    if (!associatedData)
        return malformed(path, associatedData.error().message);
    parsed.associatedData = associatedData.value();
    return parsed;
}

} // namespace

Result<QByteArray> sealOperatorKey(const Ed25519PrivateKey &key, QByteArrayView passphrase,
                                   const ScryptParameters &parameters)
{
    if (passphrase.isEmpty())
        return makeError(Reason::Malformed,
                         u"the passphrase for the operator key file is empty; choose one"_s);
    if (Result<void> checked = checkParameters(parameters, u"being written"); !checked)
        return checked.error();

    QByteArray salt(kKdfSaltBytes, Qt::Uninitialized);
    QByteArray iv(kIvBytes, Qt::Uninitialized);
    if (RAND_bytes(reinterpret_cast<unsigned char *>(salt.data()), int(salt.size())) != 1
        || RAND_bytes(reinterpret_cast<unsigned char *>(iv.data()), int(iv.size())) != 1)
        return makeError(Reason::Internal, u"OpenSSL's random generator failed"_s);

    Result<SecureBuffer> wrappingKey = deriveKey(passphrase, salt, parameters);
    if (!wrappingKey)
        return wrappingKey.error();
    SecureBuffer pkcs8 = key.pkcs8Der();
    if (pkcs8.isEmpty())
        return makeError(Reason::InvalidKey, u"OpenSSL could not encode the operator key"_s);

    const QString saltText = encodeBase64(salt);
    const QString ivText = encodeBase64(iv);
    const QString publicKey = key.publicKey().rawBase64();
    QJsonObject document = headerFields(parameters, publicKey, saltText, ivText);
    Result<QByteArray> associatedData = canonicalJson(document);
    if (!associatedData)
        return associatedData.error();

    CipherContext context(EVP_CIPHER_CTX_new());
    QByteArray ciphertext(pkcs8.size(), Qt::Uninitialized);
    QByteArray tag(kTagBytes, Qt::Uninitialized);
    int length = 0;
    int finalLength = 0;
    const bool sealed = context
        && EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1
        && EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, int(kIvBytes), nullptr) == 1
        && EVP_EncryptInit_ex(context.get(), nullptr, nullptr, wrappingKey->data(),
                              reinterpret_cast<const unsigned char *>(iv.constData()))
            == 1
        && EVP_EncryptUpdate(context.get(), nullptr, &length,
                             reinterpret_cast<const unsigned char *>(associatedData->constData()),
                             int(associatedData->size()))
            == 1
        && EVP_EncryptUpdate(context.get(), reinterpret_cast<unsigned char *>(ciphertext.data()),
                             &length, pkcs8.data(), int(pkcs8.size()))
            == 1
        && EVP_EncryptFinal_ex(context.get(),
                               reinterpret_cast<unsigned char *>(ciphertext.data()) + length,
                               &finalLength)
            == 1
        && EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, int(kTagBytes), tag.data())
            == 1;
    if (!sealed)
        return makeError(Reason::Internal, u"OpenSSL could not seal the operator key"_s);

    document.insert(u"ciphertext"_s, encodeBase64(ciphertext));
    document.insert(u"tag"_s, encodeBase64(tag));
    Result<QByteArray> content = canonicalJson(document);
    if (!content)
        return content.error();
    return QByteArray(content.value() + "\n");
}

Result<Ed25519PrivateKey> openOperatorKey(QByteArrayView content, QByteArrayView passphrase,
                                          QStringView path)
{
    Result<ParsedFile> parsed = parseFile(content, path);
    if (!parsed)
        return parsed.error();
    if (passphrase.isEmpty())
        return wrongPassphrase(path);

    Result<SecureBuffer> wrappingKey = deriveKey(passphrase, parsed->salt, parsed->parameters);
    if (!wrappingKey)
        return wrappingKey.error();

    CipherContext context(EVP_CIPHER_CTX_new());
    SecureBuffer pkcs8(parsed->ciphertext.size());
    int length = 0;
    int finalLength = 0;
    const bool opened = context
        && EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1
        && EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, int(kIvBytes), nullptr) == 1
        && EVP_DecryptInit_ex(context.get(), nullptr, nullptr, wrappingKey->data(),
                              reinterpret_cast<const unsigned char *>(parsed->iv.constData()))
            == 1
        && EVP_DecryptUpdate(
               context.get(), nullptr, &length,
               reinterpret_cast<const unsigned char *>(parsed->associatedData.constData()),
               int(parsed->associatedData.size()))
            == 1
        && EVP_DecryptUpdate(
               context.get(), pkcs8.data(), &length,
               reinterpret_cast<const unsigned char *>(parsed->ciphertext.constData()),
               int(parsed->ciphertext.size()))
            == 1
        && EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, int(kTagBytes),
                               parsed->tag.data())
            == 1
        && EVP_DecryptFinal_ex(context.get(), pkcs8.data() + length, &finalLength) == 1;
    if (!opened)
        return wrongPassphrase(path);
    pkcs8.truncate(length + finalLength);

    Result<Ed25519PrivateKey> key = Ed25519PrivateKey::fromPkcs8Der(pkcs8.view());
    if (!key)
        return malformed(path, u"the sealed key is no Ed25519 PKCS#8 key"_s);
    if (key->publicKey().rawBase64() != parsed->publicKey)
        return malformed(path, u"\"public_key\" does not match the sealed private key"_s);
    return key;
}

Result<Ed25519PublicKey> operatorKeyFilePublicKey(QByteArrayView content, QStringView path)
{
    Result<ParsedFile> parsed = parseFile(content, path);
    if (!parsed)
        return parsed.error();
    Result<Ed25519PublicKey> key = Ed25519PublicKey::fromBase64(parsed->publicKey, u"public_key");
    if (!key)
        return malformed(path, key.error().message);
    return key;
}

Result<void> writeOperatorKeyFile(const QString &path, const Ed25519PrivateKey &key,
                                  QByteArrayView passphrase, WriteMode mode,
                                  const ScryptParameters &parameters)
{
    Result<QByteArray> content = sealOperatorKey(key, passphrase, parameters);
    if (!content)
        return content.error();
    return writePrivateFile(path, content.value(), mode);
}

Result<Ed25519PrivateKey> readOperatorKeyFile(const QString &path, QByteArrayView passphrase)
{
    Result<QByteArray> content =
        readPrivateFile(path, kMaxOperatorKeyFileBytes, u"operator key file");
    if (!content)
        return content.error();
    return openOperatorKey(content.value(), passphrase, path);
}

} // namespace sealrelay::client
