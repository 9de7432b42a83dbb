// sealrelayctl's offline crypto commands: seal and open envelopes, verify
// signed statements, print key fingerprints. They exist for interoperability
// checks and for auditors, and never contact a backend.
#include "commandline.h"
#include "keyfile.h"

#include "canonicaljson.h"
#include "digest.h"
#include "envelope.h"
#include "ids.h"
#include "payload.h"
#include "statement.h"

#include <QCommandLineParser>
#include <QJsonDocument>

namespace sealrelay::ctl {

namespace {

// Largest standard input read: one message (1 MiB).
constexpr qsizetype kMaxInputBytes = 1024 * 1024;

Result<QJsonObject> readJsonObjectFromStdin()
{
    auto input = readStandardInput(kMaxInputBytes);
    if (!input)
        return input.error();
    auto value = parseJsonStrict(input->trimmed());
    if (!value)
        return makeError(Reason::Malformed,
                         QStringLiteral("standard input is not valid JSON: ") + value.error().message);
    if (!value->isObject())
        return makeError(Reason::Malformed, QStringLiteral("standard input is not a JSON object"));
    return value->toObject();
}

int sealEnvelopeCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("public-key"),
                      QStringLiteral("RSA-2048 public key of the recipient: SubjectPublicKeyInfo "
                                     "PEM, or a PKCS#8 private key PEM whose public half is used."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("allow-any-payload"),
                      QStringLiteral("Seal standard input even if it is not a valid payload.")});
    const CommandHelp help{
        QStringLiteral("--public-key FILE < payload"),
        QStringLiteral("Reads a payload on standard input and prints an envelope sealed to the "
                       "public key as JSON. The payload must be a valid sealrelay payload: the "
                       "canonical JSON of credential_id, pad, salt, secret and version, padded "
                       "with '0' characters to the smallest of 512, 1024, ... 131072 bytes that "
                       "fits (docs/protocol.md, section 6), unless --allow-any-payload is given.")};
    if (auto done = parseCommandOptions(parser, arguments, help))
        return *done;
    if (auto done = requireOption(parser, QStringLiteral("public-key")))
        return *done;

    auto key = loadRsaPublicKeyFile(parser.value(QStringLiteral("public-key")));
    if (!key)
        return failWith(ExitUsageError, key.error());
    auto payload = readStandardInput(kMaxPayloadBucket);
    if (!payload)
        return failWith(ExitUsageError, payload.error());
    if (payload->isEmpty())
        return fail(ExitUsageError, QStringLiteral("standard input is empty; pipe the payload "
                                                   "into the command"));
    if (!parser.isSet(QStringLiteral("allow-any-payload"))) {
        auto parsed = parsePayload(payload.value());
        if (!parsed)
            return failWith(ExitUsageError,
                            makeError(parsed.error().reason,
                                      QStringLiteral("standard input is not a valid payload: %1. "
                                                     "Pass --allow-any-payload to seal it anyway.")
                                          .arg(parsed.error().message)));
    }

    auto envelope = sealEnvelope(key.value(), payload.value());
    if (!envelope)
        return failWith(ExitUsageError, envelope.error());
    printOut(QJsonDocument(envelope->toJson()).toJson(QJsonDocument::Indented));
    return ExitSuccess;
}

int openEnvelopeCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("private-key"),
                      QStringLiteral("RSA-2048 private key of the recipient, unencrypted PKCS#8 "
                                     "PEM (\"BEGIN PRIVATE KEY\")."),
                      QStringLiteral("FILE")});
    const CommandHelp help{
        QStringLiteral("--private-key FILE < envelope.json"),
        QStringLiteral("Reads an envelope (a JSON object with exactly encrypted_key, iv, "
                       "ciphertext and tag) on standard input and prints the payload it "
                       "contains. Input that is not a JSON object exits with 2. An envelope "
                       "with a wrong field, a wrong length or an oversized ciphertext, and a "
                       "failed decryption, exit with 1 and print the reason (MALFORMED, "
                       "TOO_LARGE, DECRYPT_FAILED).")};
    if (auto done = parseCommandOptions(parser, arguments, help))
        return *done;
    if (auto done = requireOption(parser, QStringLiteral("private-key")))
        return *done;

    auto key = loadRsaPrivateKeyFile(parser.value(QStringLiteral("private-key")));
    if (!key)
        return failWith(ExitUsageError, key.error());
    auto object = readJsonObjectFromStdin();
    if (!object)
        return failWith(ExitUsageError, object.error());

    auto envelope = Envelope::fromJson(object.value());
    if (!envelope)
        return failWith(ExitVerificationFailed, envelope.error());
    auto payload = openEnvelope(key.value(), envelope.value());
    if (!payload)
        return failWith(ExitVerificationFailed,
                        makeError(payload.error().reason,
                                  payload.error().message
                                      + QStringLiteral("; check that --private-key is the key the "
                                                       "envelope was sealed to")));
    printOut(payload->view());
    return ExitSuccess;
}

std::optional<StatementContext> parseContextArgument(const QString &text)
{
    if (auto context = contextFromName(text))
        return context;
    // The short form drops the "sealrelay/" prefix and "/v1" suffix.
    const QString fullName = QStringLiteral("sealrelay/") + text + QStringLiteral("/v1");
    return contextFromName(fullName);
}

// The operator key a statement names as its signer: operator_key of a
// certificate or credential statement, source_id of a creator attestation.
// Statements signed by an agent's identity key name no key.
std::optional<QString> namedOperatorKey(StatementContext context, const QJsonObject &fields)
{
    switch (context) {
    case StatementContext::AgentCertificate:
    case StatementContext::Credential:
        return fields.value(u"operator_key").toString();
    case StatementContext::Attestation:
        if (fields.value(u"source_kind").toString() == u"creator")
            return fields.value(u"source_id").toString();
        return std::nullopt;
    case StatementContext::Receipt:
    case StatementContext::Auth:
        return std::nullopt;
    }
    return std::nullopt;
}

// Checks the typed meaning of the fields (ids, times, lengths) and, for a
// certificate, that `at` lies between issued_at and expires_at.
Result<void> checkTypedFields(StatementContext context, const QJsonObject &fields,
                              const QDateTime &at)
{
    auto asVoid = [](const auto &result) -> Result<void> {
        if (!result)
            return result.error();
        return {};
    };
    switch (context) {
    case StatementContext::AgentCertificate: {
        auto certificate = AgentCertificate::fromFields(fields);
        if (!certificate)
            return certificate.error();
        if (at < certificate->issuedAt || at >= certificate->expiresAt)
            return makeError(Reason::BadStatement,
                             QStringLiteral("the certificate is valid from %1 to %2, not at %3; "
                                            "pass --at TIME to check it at another time")
                                 .arg(formatTimestamp(certificate->issuedAt),
                                      formatTimestamp(certificate->expiresAt), formatTimestamp(at)));
        return {};
    }
    case StatementContext::Credential:
        return asVoid(CredentialStatement::fromFields(fields));
    case StatementContext::Attestation:
        return asVoid(Attestation::fromFields(fields));
    case StatementContext::Receipt:
        return asVoid(Receipt::fromFields(fields));
    case StatementContext::Auth:
        return asVoid(AuthStatement::fromFields(fields));
    }
    return makeError(Reason::Internal, QStringLiteral("unknown statement context"));
}

// Verifies the signature the way a sealrelay verifier does: under the key the
// statement names when it names one (then that key must be trusted), or else
// under one of the trusted keys. Returns the key that signed.
Result<Ed25519PublicKey> checkSignature(StatementContext context, const SignedStatement &statement,
                                        const QJsonObject &fields,
                                        const QList<Ed25519PublicKey> &trustedKeys,
                                        const QString &trustedKeysPath)
{
    const QByteArray input = signingInput(context, statement.bytes);

    if (const auto named = namedOperatorKey(context, fields)) {
        auto signer = Ed25519PublicKey::fromBase64(*named, u"operator key");
        if (!signer || !signer->verify(input, statement.signature))
            return makeError(Reason::BadStatement,
                             QStringLiteral("the signature does not verify under the operator key "
                                            "the statement names"));
        if (!trustedKeys.contains(signer.value()))
            return makeError(Reason::UntrustedOperator,
                             QStringLiteral("the statement is signed by operator key %1, which is "
                                            "not in %2; add its base64 line there if you trust it")
                                 .arg(signer->rawBase64(), trustedKeysPath));
        return signer;
    }

    for (const Ed25519PublicKey &key : trustedKeys) {
        if (key.verify(input, statement.signature))
            return key;
    }
    return makeError(Reason::BadStatement,
                     QStringLiteral("the signature does not verify under any key in %1")
                         .arg(trustedKeysPath));
}

int verifyStatementCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("context"),
                      QStringLiteral("Signing context: agent-certificate, credential, attestation, "
                                     "receipt or auth (the full form sealrelay/NAME/v1 works too)."),
                      QStringLiteral("CONTEXT")});
    parser.addOption({QStringLiteral("trusted-keys"),
                      QStringLiteral("File with one base64 raw 32-byte Ed25519 public key per line; "
                                     "lines starting with '#' are comments."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("at"),
                      QStringLiteral("Check a certificate's validity period at this time "
                                     "(2026-12-04T02:05:00.000Z) instead of now."),
                      QStringLiteral("TIME")});
    const CommandHelp help{
        QStringLiteral("--context CONTEXT --trusted-keys FILE < statement.json"),
        QStringLiteral(
            "Reads {\"statement_b64\": ..., \"signature\": ...} on standard input and checks the "
            "strict canonical parse, the context's exact field set and types, and the Ed25519 "
            "signature. A certificate, a credential statement and a creator attestation must "
            "verify under the operator key they name, and that key must be in the trusted-keys "
            "file (UNTRUSTED_OPERATOR otherwise); a certificate must also be within its validity "
            "period. Receipts, auth statements and peer attestations, signed by an agent's "
            "identity key, must verify under one of the trusted keys. Prints \"valid\" and the "
            "statement on success.")};
    if (auto done = parseCommandOptions(parser, arguments, help))
        return *done;
    if (auto done = requireOption(parser, QStringLiteral("context")))
        return *done;
    if (auto done = requireOption(parser, QStringLiteral("trusted-keys")))
        return *done;

    const QString contextText = parser.value(QStringLiteral("context"));
    const auto context = parseContextArgument(contextText);
    if (!context)
        return fail(ExitUsageError,
                    QStringLiteral("unknown context '%1'; use agent-certificate, credential, "
                                   "attestation, receipt or auth")
                        .arg(contextText));
    QDateTime at = QDateTime::currentDateTimeUtc();
    if (parser.isSet(QStringLiteral("at"))) {
        auto parsedAt = parseTimestamp(parser.value(QStringLiteral("at")), u"--at");
        if (!parsedAt)
            return failWith(ExitUsageError, parsedAt.error());
        at = parsedAt.value();
    }
    const QString trustedKeysPath = parser.value(QStringLiteral("trusted-keys"));
    auto keys = readTrustedKeysFile(trustedKeysPath);
    if (!keys)
        return failWith(ExitUsageError, keys.error());
    if (keys->isEmpty())
        return fail(ExitUsageError, QStringLiteral("%1 lists no keys").arg(trustedKeysPath));
    auto object = readJsonObjectFromStdin();
    if (!object)
        return failWith(ExitUsageError, object.error());

    auto statement = SignedStatement::fromJson(object.value(), u"standard input");
    if (!statement)
        return failWith(ExitVerificationFailed, statement.error());
    auto fields = parseStatement(*context, statement->bytes);
    if (!fields)
        return failWith(ExitVerificationFailed, fields.error());
    auto signer = checkSignature(*context, statement.value(), fields.value(), keys.value(),
                                 trustedKeysPath);
    if (!signer)
        return failWith(ExitVerificationFailed, signer.error());
    if (auto typed = checkTypedFields(*context, fields.value(), at); !typed)
        return failWith(ExitVerificationFailed,
                        makeError(Reason::BadStatement, typed.error().message));

    printOut(QByteArrayLiteral("valid\n"));
    printOut(QByteArray(statement->bytes + '\n'));
    printError(QStringLiteral("signed by %1")
                   .arg(formatFingerprintForDisplay(signer->fingerprint())));
    return ExitSuccess;
}

int keyFingerprintCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addPositionalArgument(QStringLiteral("FILE"),
                                 QStringLiteral("PEM key file, public or private."));
    parser.addOption({QStringLiteral("grouped"),
                      QStringLiteral("Print in groups of four digits, for people.")});
    const CommandHelp help{
        QStringLiteral("[--grouped] FILE"),
        QStringLiteral("Prints the SHA-256 fingerprint of the DER SubjectPublicKeyInfo of an "
                       "RSA-2048 or Ed25519 key, as 64 lowercase hex digits.")};
    if (auto done = parseCommandOptions(parser, arguments, help, 1))
        return *done;
    if (parser.positionalArguments().size() != 1)
        return fail(ExitUsageError, QStringLiteral("name the key file: %1 FILE")
                                        .arg(arguments.value(0)));

    auto result = fingerprintKeyFile(parser.positionalArguments().first());
    if (!result)
        return failWith(ExitUsageError, result.error());
    const QString text = parser.isSet(QStringLiteral("grouped"))
        ? formatFingerprintForDisplay(result->fingerprint)
        : result->fingerprint;
    printOut(QByteArray(text.toUtf8() + '\n'));
    return ExitSuccess;
}

} // namespace

QList<Command> cryptoCommands()
{
    return {
        { { QStringLiteral("envelope"), QStringLiteral("seal") },
          QStringLiteral("Seal a payload from stdin to an RSA-2048 public key."),
          sealEnvelopeCommand },
        { { QStringLiteral("envelope"), QStringLiteral("open") },
          QStringLiteral("Open an envelope from stdin with an RSA-2048 private key."),
          openEnvelopeCommand },
        { { QStringLiteral("statement"), QStringLiteral("verify") },
          QStringLiteral("Verify a signed statement from stdin against trusted keys."),
          verifyStatementCommand },
        { { QStringLiteral("keys"), QStringLiteral("fingerprint") },
          QStringLiteral("Print the SHA-256 fingerprint of a PEM key file."),
          keyFingerprintCommand },
    };
}

} // namespace sealrelay::ctl
