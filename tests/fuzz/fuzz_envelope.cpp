// Fuzz target of envelopes and payloads: Envelope::fromJson on strict JSON,
// parsePayload on the raw input, and openEnvelope with the interop vectors'
// RSA key for every envelope that parses.
#include "canonicaljson.h"
#include "envelope.h"
#include "fuzzsupport.h"
#include "keys.h"
#include "payload.h"

#include <QByteArrayView>
#include <QJsonObject>

#include <cstddef>
#include <cstdint>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

namespace {

const RsaPrivateKey &recipientKey()
{
    static const RsaPrivateKey key = [] {
        Result<RsaPrivateKey> parsed = RsaPrivateKey::fromPkcs8Pem(
            fuzz::interopVectors().value(u"rsa_private_key_pkcs8_pem"_s).toString().toUtf8());
        fuzz::check(parsed.ok(), "the vectors' RSA key parses");
        return std::move(parsed).value();
    }();
    return key;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView input(reinterpret_cast<const char *>(data), qsizetype(size));
    const RsaPrivateKey &recipient = recipientKey();

    const Result<Payload> payload = parsePayload(input);
    if (payload) {
        fuzz::check(payloadBucketFor(input.size()) == input.size(),
                    "an accepted payload is exactly one bucket long");
    }

    const Result<QJsonValue> json = parseJsonStrict(input);
    if (!json || !json->isObject()) {
        return 0;
    }
    const Result<Envelope> envelope = Envelope::fromJson(json->toObject());
    if (!envelope) {
        const Reason reason = envelope.error().reason;
        fuzz::check(reason == Reason::Malformed || reason == Reason::TooLarge,
                    "a rejected envelope is MALFORMED or TOO_LARGE");
        return 0;
    }
    const Result<Envelope> copy = Envelope::fromJson(envelope->toJson());
    fuzz::check(copy.ok() && copy->toJson() == envelope->toJson(),
                "an envelope survives toJson() and fromJson()");
    (void)envelope->sha256();

    const Result<SecureBuffer> opened = openEnvelope(recipient, envelope.value());
    if (!opened) {
        fuzz::check(opened.error().reason == Reason::DecryptFailed,
                    "an envelope that does not open is DECRYPT_FAILED");
        return 0;
    }
    (void)parsePayload(opened->view());
    return 0;
}
