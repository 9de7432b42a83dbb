// sealrelayctl's offline crypto commands: seal and open envelopes, verify
// signed statements, print key fingerprints. They exist for interoperability
// checks and for auditors, and never contact a backend.
#include "commandline.h"
#include "keyfile.h"

#include "canonicaljson.h"
#include "digest.h"
#include "envelope.h"
#include "payload.h"
#include "statement.h"

#include <QCommandLineParser>
#include <QJsonDocument>

namespace sealrelay::ctl {

namespace {

// Largest standard input read: one message (1 MiB).
constexpr qsizetype kMaxInputBytes = 1024 * 1024;

// Parses the command's options; on --help or a usage error prints and
// returns the exit code to end with.
std::optional<int> parseOptions(QCommandLineParser &parser, const QStringList &arguments,
                                const QString &description, qsizetype maxPositional = 0)
{
    parser.setApplicationDescription(description + QStringLiteral("\n\n") + exitCodeHelp());
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help."));
    parser.addOption(help);
    if (!parser.parse(arguments))
        return fail(ExitUsageError, parser.errorText());
    if (parser.isSet(help)) {
        printOut(parser.helpText().toUtf8());
        return ExitSuccess;
    }
    if (parser.positionalArguments().size() > maxPositional)
        return fail(ExitUsageError, QStringLiteral("unexpected arguments: %1")
                                        .arg(parser.positionalArguments().join(u' ')));
    return std::nullopt;
}

std::optional<int> requireOption(const QCommandLineParser &parser, const QCommandLineOption &option)
{
    if (parser.value(option).isEmpty())
        return fail(ExitUsageError,
                    QStringLiteral("--%1 is required; see --help").arg(option.names().last()));
    return std::nullopt;
}

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
    const QCommandLineOption publicKey(
        QStringLiteral("public-key"),
        QStringLiteral("RSA-2048 public key (SubjectPublicKeyInfo PEM) of the recipient."),
        QStringLiteral("FILE"));
    const QCommandLineOption anyPayload(
        QStringLiteral("allow-any-payload"),
        QStringLiteral("Seal standard input even if it is not a valid sealrelay payload."));
    parser.addOption(publicKey);
    parser.addOption(anyPayload);
    const QString description = QStringLiteral(
        "Reads a payload on standard input and prints an envelope sealed to the public key as "
        "JSON. The payload must be a valid sealrelay payload (canonical JSON of credential_id, "
        "version, salt, secret and pad, padded to a size bucket) unless --allow-any-payload is "
        "given.");
    if (auto done = parseOptions(parser, arguments, description))
        return *done;
    if (auto done = requireOption(parser, publicKey))
        return *done;

    auto key = loadRsaPublicKeyFile(parser.value(publicKey));
    if (!key)
        return failWith(ExitUsageError, key.error());
    auto payload = readStandardInput(kMaxPayloadBucket);
    if (!payload)
        return failWith(ExitUsageError, payload.error());
    if (!parser.isSet(anyPayload)) {
        auto parsed = parsePayload(payload.value());
        if (!parsed)
            return failWith(ExitUsageError,
                            makeError(parsed.error().reason,
                                      QStringLiteral("standard input is not a valid payload (%1); "
                                                     "pass --allow-any-payload to seal it anyway")
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
    const QCommandLineOption privateKey(
        QStringLiteral("private-key"),
        QStringLiteral("RSA-2048 private key (unencrypted PKCS#8 PEM) of the recipient."),
        QStringLiteral("FILE"));
    parser.addOption(privateKey);
    const QString description = QStringLiteral(
        "Reads an envelope (JSON with encrypted_key, iv, ciphertext and tag) on standard input "
        "and prints the payload it contains. A malformed or oversized envelope and a failed "
        "decryption exit with 1 and print the reason (MALFORMED, TOO_LARGE, DECRYPT_FAILED).");
    if (auto done = parseOptions(parser, arguments, description))
        return *done;
    if (auto done = requireOption(parser, privateKey))
        return *done;

    auto key = loadRsaPrivateKeyFile(parser.value(privateKey));
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
        return failWith(ExitVerificationFailed, payload.error());
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

// Checks the typed meaning of the fields (ids, times, lengths) once the
// signature and the field set have passed.
Result<void> checkTypedFields(StatementContext context, const QJsonObject &fields)
{
    auto asVoid = [](const auto &result) -> Result<void> {
        if (!result)
            return result.error();
        return {};
    };
    switch (context) {
    case StatementContext::AgentCertificate:
        return asVoid(AgentCertificate::fromFields(fields));
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

int verifyStatementCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    const QCommandLineOption contextOption(
        QStringLiteral("context"),
        QStringLiteral("Signing context: agent-certificate, credential, attestation, receipt or "
                       "auth (the full form sealrelay/NAME/v1 works too)."),
        QStringLiteral("CONTEXT"));
    const QCommandLineOption trustedKeys(
        QStringLiteral("trusted-keys"),
        QStringLiteral("File with one base64 Ed25519 public key per line; '#' starts a comment."),
        QStringLiteral("FILE"));
    parser.addOption(contextOption);
    parser.addOption(trustedKeys);
    const QString description = QStringLiteral(
        "Reads {\"statement_b64\": ..., \"signature\": ...} on standard input and checks the "
        "strict canonical parse, the context's exact field set and the Ed25519 signature under "
        "one of the trusted keys. Prints \"valid\" and the statement on success.");
    if (auto done = parseOptions(parser, arguments, description))
        return *done;
    if (auto done = requireOption(parser, contextOption))
        return *done;
    if (auto done = requireOption(parser, trustedKeys))
        return *done;

    const auto context = parseContextArgument(parser.value(contextOption));
    if (!context)
        return fail(ExitUsageError,
                    QStringLiteral("unknown context '%1'; use agent-certificate, credential, "
                                   "attestation, receipt or auth")
                        .arg(parser.value(contextOption)));
    auto keys = readTrustedKeysFile(parser.value(trustedKeys));
    if (!keys)
        return failWith(ExitUsageError, keys.error());
    if (keys->isEmpty())
        return fail(ExitUsageError,
                    QStringLiteral("%1 lists no keys").arg(parser.value(trustedKeys)));
    auto object = readJsonObjectFromStdin();
    if (!object)
        return failWith(ExitUsageError, object.error());

    auto statement = SignedStatement::fromJson(object.value(), u"standard input");
    if (!statement)
        return failWith(ExitVerificationFailed, statement.error());
    auto fields = parseStatement(*context, statement->bytes);
    if (!fields)
        return failWith(ExitVerificationFailed, fields.error());
    if (auto typed = checkTypedFields(*context, fields.value()); !typed)
        return failWith(ExitVerificationFailed, makeError(Reason::BadStatement, typed.error().message));

    const QByteArray input = signingInput(*context, statement->bytes);
    const Ed25519PublicKey *signer = nullptr;
    for (const Ed25519PublicKey &key : keys.value()) {
        if (key.verify(input, statement->signature)) {
            signer = &key;
            break;
        }
    }
    if (!signer)
        return failWith(ExitVerificationFailed,
                        makeError(Reason::BadStatement,
                                  QStringLiteral("the signature does not verify under any key in %1")
                                      .arg(parser.value(trustedKeys))));

    printOut(QByteArrayLiteral("valid\n"));
    printOut(QByteArray(statement->bytes + '\n'));
    printError(QStringLiteral("signed by %1").arg(formatFingerprintForDisplay(signer->fingerprint())));
    return ExitSuccess;
}

int keyFingerprintCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addPositionalArgument(QStringLiteral("FILE"),
                                 QStringLiteral("PEM key file, public or private."));
    const QCommandLineOption grouped(QStringLiteral("grouped"),
                                     QStringLiteral("Print in groups of four digits, for people."));
    parser.addOption(grouped);
    const QString description = QStringLiteral(
        "Prints the SHA-256 fingerprint of the DER SubjectPublicKeyInfo of an RSA-2048 or "
        "Ed25519 key, as 64 lowercase hex digits.");
    if (auto done = parseOptions(parser, arguments, description, 1))
        return *done;
    if (parser.positionalArguments().size() != 1)
        return fail(ExitUsageError, QStringLiteral("expected one key file; see --help"));

    auto result = fingerprintKeyFile(parser.positionalArguments().first());
    if (!result)
        return failWith(ExitUsageError, result.error());
    const QString text = parser.isSet(grouped) ? formatFingerprintForDisplay(result->fingerprint)
                                               : result->fingerprint;
    printOut(QByteArray(text.toUtf8() + '\n'));
    return ExitSuccess;
}

} // namespace

QList<Command> cryptoCommands()
{
    return {
        {{QStringLiteral("envelope"), QStringLiteral("seal")},
         QStringLiteral("seal a payload from stdin to an RSA-2048 public key"),
         sealEnvelopeCommand},
        {{QStringLiteral("envelope"), QStringLiteral("open")},
         QStringLiteral("open an envelope from stdin with an RSA-2048 private key"),
         openEnvelopeCommand},
        {{QStringLiteral("statement"), QStringLiteral("verify")},
         QStringLiteral("verify a signed statement from stdin against trusted keys"),
         verifyStatementCommand},
        {{QStringLiteral("keys"), QStringLiteral("fingerprint")},
         QStringLiteral("print the SHA-256 fingerprint of a PEM key file"),
         keyFingerprintCommand},
    };
}

} // namespace sealrelay::ctl
