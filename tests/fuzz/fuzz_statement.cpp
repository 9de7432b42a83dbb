// Fuzz target of signed statements: the strict JSON reader, the canonical
// JSON check, SignedStatement::fromJson, parseStatement for every context and
// verifyStatement under the interop vectors' operator key.
#include "canonicaljson.h"
#include "fuzzsupport.h"
#include "keys.h"
#include "statement.h"

#include <QByteArrayView>
#include <QJsonObject>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

namespace {

constexpr std::array kContexts {
    StatementContext::AgentCertificate, StatementContext::Credential, StatementContext::Attestation,
    StatementContext::Receipt,          StatementContext::Auth,
};

const Ed25519PublicKey &operatorKey()
{
    static const Ed25519PublicKey key = [] {
        Result<Ed25519PublicKey> parsed = Ed25519PublicKey::fromBase64(
            fuzz::interopVectors().value(u"operator_public_key_b64"_s).toString(),
            u"operator_public_key_b64");
        fuzz::check(parsed.ok(), "the vectors' operator key parses");
        return std::move(parsed).value();
    }();
    return key;
}

void parseForEveryContext(QByteArrayView bytes)
{
    for (const StatementContext context : kContexts) {
        const Result<QJsonObject> fields = parseStatement(context, bytes);
        if (fields) {
            const Result<QByteArray> canonical = canonicalJson(fields.value());
            fuzz::check(canonical.ok() && canonical.value() == bytes,
                        "an accepted statement is its own canonical JSON");
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView input(reinterpret_cast<const char *>(data), qsizetype(size));
    const Ed25519PublicKey &signer = operatorKey();

    const Result<QJsonObject> canonicalObject = parseCanonicalJsonObject(input);
    if (canonicalObject) {
        const Result<QByteArray> canonical = canonicalJson(canonicalObject.value());
        fuzz::check(canonical.ok() && canonical.value() == input,
                    "parseCanonicalJsonObject() accepts only canonical bytes");
    }
    parseForEveryContext(input);

    const Result<QJsonValue> json = parseJsonStrict(input);
    if (!json) {
        return 0;
    }
    const Result<QByteArray> canonical = canonicalJson(json.value());
    if (canonical) {
        const Result<QJsonValue> reparsed = parseJsonStrict(canonical.value());
        fuzz::check(reparsed.ok(), "canonical JSON parses strictly");
        const Result<QByteArray> again = canonicalJson(reparsed.value());
        fuzz::check(again.ok() && again.value() == canonical.value(),
                    "canonical JSON is a fixed point");
    }

    const Result<SignedStatement> statement = SignedStatement::fromJson(json.value(), u"statement");
    if (!statement) {
        return 0;
    }
    const Result<SignedStatement> copy =
        SignedStatement::fromJson(statement->toJson(), u"statement");
    fuzz::check(copy.ok() && copy->bytes == statement->bytes
                    && copy->signature == statement->signature,
                "a signed statement survives toJson() and fromJson()");
    (void)statement->sha256();

    parseForEveryContext(statement->bytes);
    for (const StatementContext context : kContexts) {
        const Result<QJsonObject> verified = verifyStatement(context, statement.value(), signer);
        if (verified) {
            fuzz::check(parseStatement(context, statement->bytes).ok(),
                        "a verified statement parses");
        }
    }
    return 0;
}
