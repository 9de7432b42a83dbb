// Signed statements: the field table of each context, strict parsing,
// Ed25519 signing and verification, and the typed views with their semantic
// checks.
#include "statement.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"

#include <QFile>
#include <QJsonArray>
#include <QUrl>

#include <algorithm>
#include <cmath>
#include <span>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

constexpr qsizetype kMaxNameBytes = 200;
constexpr qsizetype kDigestBytes = 32;
constexpr qsizetype kCommitmentBytes = 32;
constexpr qsizetype kNonceBytes = 16;
constexpr qint64 kMaxCertificateLifetimeDays = 365;

// ---------------------------------------------------------------------------
// Field tables

enum class FieldType { String, Integer, Boolean, StringArray };

struct FieldSpec {
    QLatin1StringView name;
    FieldType type;
};

using enum FieldType;

constexpr FieldSpec kCertificateFields[] = {
    { "org_id"_L1, String },      { "agent_id"_L1, String },       { "agent_name"_L1, String },
    { "generation"_L1, Integer }, { "encryption_key"_L1, String }, { "identity_key"_L1, String },
    { "issued_at"_L1, String },   { "expires_at"_L1, String },     { "operator_key"_L1, String },
};

constexpr FieldSpec kCredentialFields[] = {
    { "org_id"_L1, String },
    { "credential_id"_L1, String },
    { "version"_L1, Integer },
    { "revision"_L1, Integer },
    { "name"_L1, String },
    { "kind"_L1, String },
    { "commitment"_L1, String },
    { "scope"_L1, String },
    { "agents"_L1, StringArray },
    { "deleted"_L1, Boolean },
    { "prev_statement_sha256"_L1, String },
    { "issued_at"_L1, String },
    { "operator_key"_L1, String },
};

constexpr FieldSpec kAttestationFields[] = {
    { "org_id"_L1, String },          { "request_id"_L1, String },
    { "credential_id"_L1, String },   { "version"_L1, Integer },
    { "revision"_L1, Integer },       { "statement_sha256"_L1, String },
    { "target_agent_id"_L1, String }, { "target_key_fingerprint"_L1, String },
    { "source_kind"_L1, String },     { "source_id"_L1, String },
    { "envelope_sha256"_L1, String },
};

constexpr FieldSpec kReceiptFields[] = {
    { "org_id"_L1, String },   { "agent_id"_L1, String },  { "credential_id"_L1, String },
    { "version"_L1, Integer }, { "revision"_L1, Integer }, { "statement_sha256"_L1, String },
    { "state"_L1, String },    { "reason"_L1, String },    { "at"_L1, String },
};

constexpr FieldSpec kAuthFields[] = {
    { "org_id"_L1, String }, { "agent_id"_L1, String },  { "backend_origin"_L1, String },
    { "nonce"_L1, String },  { "issued_at"_L1, String },
};

std::span<const FieldSpec> fieldsOf(StatementContext context)
{
    switch (context) {
    case StatementContext::AgentCertificate:
        return kCertificateFields;
    case StatementContext::Credential:
        return kCredentialFields;
    case StatementContext::Attestation:
        return kAttestationFields;
    case StatementContext::Receipt:
        return kReceiptFields;
    case StatementContext::Auth:
        return kAuthFields;
    }
    return {};
}

QString typeDescription(FieldType type)
{
    switch (type) {
    case String:
        return u"a string"_s;
    case Integer:
        return u"an integer in [0, 2^53)"_s;
    case Boolean:
        return u"a boolean"_s;
    case StringArray:
        return u"an array of strings"_s;
    }
    return {};
}

bool isStatementInteger(const QJsonValue &value)
{
    if (!value.isDouble())
        return false;
    const double number = value.toDouble();
    if (!std::isfinite(number) || std::trunc(number) != number || number < 0
        || number > double(kMaxStatementInteger)) {
        return false;
    }
    const qint64 integer = value.toInteger(-1);
    return integer >= 0 && integer <= kMaxStatementInteger;
}

bool hasType(const QJsonValue &value, FieldType type)
{
    switch (type) {
    case String:
        return value.isString();
    case Integer:
        return isStatementInteger(value);
    case Boolean:
        return value.isBool();
    case StringArray: {
        if (!value.isArray())
            return false;
        const QJsonArray array = value.toArray();
        return std::all_of(array.begin(), array.end(),
                           [](const QJsonValue &element) { return element.isString(); });
    }
    }
    return false;
}

Error badStatement(StatementContext context, const QString &description)
{
    return makeError(Reason::BadStatement,
                     u"%1 statement: %2"_s.arg(contextName(context), description));
}

// Checks that `fields` has exactly the context's fields, each with its JSON type.
Result<void> checkFieldSet(StatementContext context, const QJsonObject &fields)
{
    const std::span<const FieldSpec> specs = fieldsOf(context);

    for (auto it = fields.begin(); it != fields.end(); ++it) {
        const bool known = std::any_of(specs.begin(), specs.end(), [&](const FieldSpec &spec) {
            return it.key() == spec.name;
        });
        if (!known) {
            return badStatement(context,
                                u"unexpected field \"%1\"; remove it"_s.arg(it.key().left(64)));
        }
    }

    for (const FieldSpec &spec : specs) {
        const QJsonValue value = fields.value(spec.name);
        if (value.isUndefined())
            return badStatement(context, u"required field \"%1\" is missing"_s.arg(spec.name));
        if (!hasType(value, spec.type)) {
            return badStatement(
                context, u"field \"%1\" must be %2"_s.arg(spec.name, typeDescription(spec.type)));
        }
    }
    return {};
}

// ---------------------------------------------------------------------------
// Typed field reading

// Typed reader for the fields of one statement, which runs checkFieldSet()
// first. Each read returns false once any check has failed, so a chain of
// reads joined by && stops at the first failure, and error() names that field.
class FieldReader {
public:
    FieldReader(const QJsonObject &fields, StatementContext context)
        : m_fields(fields)
        , m_context(context)
    {
        if (Result<void> checked = checkFieldSet(context, fields); !checked)
            m_error = checked.error();
    }

    const Error &error() const { return *m_error; }

    bool fail(QLatin1StringView field, const QString &description)
    {
        if (!m_error)
            m_error = badStatement(m_context, u"field \"%1\" %2"_s.arg(field, description));
        return false;
    }

    bool text(QLatin1StringView field, QString &out)
    {
        if (m_error)
            return false;
        out = m_fields.value(field).toString();
        return true;
    }

    bool flag(QLatin1StringView field, bool &out)
    {
        if (m_error)
            return false;
        out = m_fields.value(field).toBool();
        return true;
    }

    bool strings(QLatin1StringView field, QStringList &out)
    {
        if (m_error)
            return false;
        out.clear();
        const QJsonArray array = m_fields.value(field).toArray();
        for (const QJsonValue &element : array)
            out.append(element.toString());
        return true;
    }

    // Reads an integer of at least 1, because version, revision and generation
    // all start at 1.
    bool counter(QLatin1StringView field, qint64 &out)
    {
        if (m_error)
            return false;
        out = m_fields.value(field).toInteger();
        if (out < 1)
            return fail(field, u"must be at least 1, got %1"_s.arg(out));
        return true;
    }

    bool uuid(QLatin1StringView field, QString &out)
    {
        if (!text(field, out))
            return false;
        if (!isCanonicalUuid(out))
            return fail(field,
                        u"must be a lowercase 8-4-4-4-12 UUID, got \"%1\""_s.arg(out.left(64)));
        return true;
    }

    bool timestamp(QLatin1StringView field, QDateTime &out)
    {
        QString value;
        if (!text(field, value))
            return false;
        Result<QDateTime> parsed = parseTimestamp(value, QString(field));
        if (!parsed)
            return fail(field, u"is invalid: %1"_s.arg(parsed.error().message));
        out = parsed.value();
        return true;
    }

    bool bytes(QLatin1StringView field, std::optional<qsizetype> expectedLength, QByteArray &out)
    {
        QString value;
        if (!text(field, value))
            return false;
        Result<QByteArray> decoded = decodeBase64(value, QString(field), expectedLength);
        if (!decoded)
            return fail(field, u"is invalid: %1"_s.arg(decoded.error().message));
        out = decoded.value();
        return true;
    }

    // Reads a base64 SHA-256 digest and keeps its text form, the form in which
    // statements compare digests.
    bool digest(QLatin1StringView field, QString &out)
    {
        QByteArray decoded;
        if (!bytes(field, kDigestBytes, decoded))
            return false;
        out = m_fields.value(field).toString();
        return true;
    }

    // Reads a display name, which must be non-empty and at most 200 bytes of UTF-8.
    bool name(QLatin1StringView field, QString &out)
    {
        if (!text(field, out))
            return false;
        if (out.isEmpty())
            return fail(field, u"must not be empty"_s);
        const qsizetype utf8Bytes = out.toUtf8().size();
        if (utf8Bytes > kMaxNameBytes) {
            return fail(
                field,
                u"is %1 bytes of UTF-8; the limit is %2"_s.arg(utf8Bytes).arg(kMaxNameBytes));
        }
        return true;
    }

private:
    const QJsonObject &m_fields;
    StatementContext m_context;
    std::optional<Error> m_error;
};

bool isLowerHex(QStringView text)
{
    return std::all_of(text.begin(), text.end(), [](QChar c) {
        return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f');
    });
}

// Returns true for scheme://host:port with nothing else (no user, path, query
// or fragment).
bool isOrigin(const QString &text)
{
    const QUrl url(text, QUrl::StrictMode);
    return url.isValid() && !url.scheme().isEmpty() && !url.host().isEmpty() && url.port() != -1
        && url.userInfo().isEmpty() && url.path().isEmpty() && !url.hasQuery() && !url.hasFragment()
        && url.toString() == text;
}

} // namespace

// ---------------------------------------------------------------------------
// Contexts and signed statements

QString contextName(StatementContext context)
{
    switch (context) {
    case StatementContext::AgentCertificate:
        return u"sealrelay/agent-certificate/v1"_s;
    case StatementContext::Credential:
        return u"sealrelay/credential/v1"_s;
    case StatementContext::Attestation:
        return u"sealrelay/attestation/v1"_s;
    case StatementContext::Receipt:
        return u"sealrelay/receipt/v1"_s;
    case StatementContext::Auth:
        return u"sealrelay/auth/v1"_s;
    }
    return {};
}

std::optional<StatementContext> contextFromName(QStringView name)
{
    for (StatementContext context :
         { StatementContext::AgentCertificate, StatementContext::Credential,
           StatementContext::Attestation, StatementContext::Receipt, StatementContext::Auth }) {
        if (name == contextName(context))
            return context;
    }
    return std::nullopt;
}

Result<SignedStatement> SignedStatement::fromJson(const QJsonValue &value, QStringView field)
{
    const auto fail = [&](const QString &description) {
        return makeError(Reason::BadStatement, u"%1 %2"_s.arg(field, description));
    };

    if (!value.isObject())
        return fail(u"must be an object with statement_b64 and signature"_s);
    const QJsonObject object = value.toObject();
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (it.key() != "statement_b64"_L1 && it.key() != "signature"_L1)
            return fail(
                u"has unexpected field \"%1\"; only statement_b64 and signature are allowed"_s.arg(
                    it.key().left(64)));
    }

    const QJsonValue statementText = object.value("statement_b64"_L1);
    const QJsonValue signatureText = object.value("signature"_L1);
    if (!statementText.isString())
        return fail(u"is invalid: statement_b64 is missing or not a string"_s);
    if (!signatureText.isString())
        return fail(u"is invalid: signature is missing or not a string"_s);

    const QString statementField = field + u".statement_b64";
    Result<QByteArray> bytes = decodeBase64(statementText.toString(), statementField);
    if (!bytes)
        return makeError(Reason::BadStatement, bytes.error().message);
    if (bytes->isEmpty())
        return makeError(Reason::BadStatement, u"%1 is empty"_s.arg(statementField));

    const QString signatureField = field + u".signature";
    Result<QByteArray> signature =
        decodeBase64(signatureText.toString(), signatureField, kEd25519SignatureBytes);
    if (!signature)
        return makeError(Reason::BadStatement, signature.error().message);

    return SignedStatement { std::move(bytes).value(), std::move(signature).value() };
}

QJsonObject SignedStatement::toJson() const
{
    return QJsonObject {
        { u"statement_b64"_s, encodeBase64(bytes) },
        { u"signature"_s, encodeBase64(signature) },
    };
}

QString SignedStatement::sha256() const
{
    return sha256Base64(bytes);
}

QByteArray signingInput(StatementContext context, QByteArrayView statementBytes)
{
    QByteArray input = contextName(context).toLatin1();
    input.append('\0');
    input.append(statementBytes);
    return input;
}

Result<QJsonObject> parseStatement(StatementContext context, QByteArrayView bytes)
{
    Result<QJsonObject> parsed = parseCanonicalJsonObject(bytes);
    if (!parsed)
        return badStatement(context, parsed.error().message);
    if (Result<void> checked = checkFieldSet(context, parsed.value()); !checked)
        return checked.error();
    return parsed;
}

Result<SignedStatement> signStatement(StatementContext context, const QJsonObject &fields,
                                      const Ed25519PrivateKey &signer)
{
    if (Result<void> checked = checkFieldSet(context, fields); !checked)
        return checked.error();
    Result<QByteArray> bytes = canonicalJson(fields);
    if (!bytes)
        return badStatement(context, bytes.error().message);
    // The signed bytes must pass the verifier's own parse.
    if (Result<QJsonObject> reparsed = parseStatement(context, bytes.value()); !reparsed)
        return reparsed.error();

    QByteArray signature = signer.sign(signingInput(context, bytes.value()));
    if (signature.size() != kEd25519SignatureBytes)
        return makeError(Reason::Internal,
                         u"Ed25519 signing of a %1 statement failed"_s.arg(contextName(context)));
    return SignedStatement { std::move(bytes).value(), std::move(signature) };
}

Result<QJsonObject> verifyStatement(StatementContext context, const SignedStatement &statement,
                                    const Ed25519PublicKey &signer)
{
    Result<QJsonObject> fields = parseStatement(context, statement.bytes);
    if (!fields)
        return fields;
    if (!signer.verify(signingInput(context, statement.bytes), statement.signature)) {
        return badStatement(
            context, u"signature does not verify under the key %1"_s.arg(signer.rawBase64()));
    }
    return fields;
}

// ---------------------------------------------------------------------------
// sealrelay/agent-certificate/v1

Result<AgentCertificate> AgentCertificate::fromFields(const QJsonObject &fields)
{
    AgentCertificate certificate;
    FieldReader reader(fields, StatementContext::AgentCertificate);
    const bool read = reader.uuid("org_id"_L1, certificate.orgId)
        && reader.uuid("agent_id"_L1, certificate.agentId)
        && reader.name("agent_name"_L1, certificate.agentName)
        && reader.counter("generation"_L1, certificate.generation)
        && reader.bytes("encryption_key"_L1, std::nullopt, certificate.encryptionKey)
        && reader.bytes("identity_key"_L1, kEd25519PublicKeyBytes, certificate.identityKey)
        && reader.timestamp("issued_at"_L1, certificate.issuedAt)
        && reader.timestamp("expires_at"_L1, certificate.expiresAt)
        && reader.bytes("operator_key"_L1, kEd25519PublicKeyBytes, certificate.operatorKey);
    if (!read)
        return reader.error();

    Result<RsaPublicKey> encryptionKey = RsaPublicKey::fromSpkiDer(certificate.encryptionKey);
    if (!encryptionKey) {
        reader.fail("encryption_key"_L1,
                    u"is not a usable RSA-2048 key: %1"_s.arg(encryptionKey.error().message));
        return reader.error();
    }
    // Key fingerprints hash the DER bytes, so a lax encoding of the same key
    // would give the key a second fingerprint.
    if (encryptionKey->spkiDer() != certificate.encryptionKey) {
        reader.fail("encryption_key"_L1, u"is not in canonical DER form"_s);
        return reader.error();
    }
    if (certificate.expiresAt <= certificate.issuedAt
        || certificate.issuedAt.addDays(kMaxCertificateLifetimeDays) < certificate.expiresAt) {
        reader.fail("expires_at"_L1,
                    u"must be after issued_at and at most %1 days later"_s.arg(
                        kMaxCertificateLifetimeDays));
        return reader.error();
    }
    return certificate;
}

QJsonObject AgentCertificate::toFields() const
{
    return QJsonObject {
        { u"org_id"_s, orgId },
        { u"agent_id"_s, agentId },
        { u"agent_name"_s, agentName },
        { u"generation"_s, generation },
        { u"encryption_key"_s, encodeBase64(encryptionKey) },
        { u"identity_key"_s, encodeBase64(identityKey) },
        { u"issued_at"_s, formatTimestamp(issuedAt) },
        { u"expires_at"_s, formatTimestamp(expiresAt) },
        { u"operator_key"_s, encodeBase64(operatorKey) },
    };
}

// ---------------------------------------------------------------------------
// sealrelay/credential/v1

Result<CredentialStatement> CredentialStatement::fromFields(const QJsonObject &fields)
{
    CredentialStatement statement;
    QString scopeName;
    FieldReader reader(fields, StatementContext::Credential);
    const bool read = reader.uuid("org_id"_L1, statement.orgId)
        && reader.uuid("credential_id"_L1, statement.credentialId)
        && reader.counter("version"_L1, statement.version)
        && reader.counter("revision"_L1, statement.revision)
        && reader.name("name"_L1, statement.name) && reader.text("kind"_L1, statement.kind)
        && reader.bytes("commitment"_L1, kCommitmentBytes, statement.commitment)
        && reader.text("scope"_L1, scopeName) && reader.strings("agents"_L1, statement.agents)
        && reader.flag("deleted"_L1, statement.deleted)
        && reader.text("prev_statement_sha256"_L1, statement.prevStatementSha256)
        && reader.timestamp("issued_at"_L1, statement.issuedAt)
        && reader.bytes("operator_key"_L1, kEd25519PublicKeyBytes, statement.operatorKey);
    if (!read)
        return reader.error();

    if (statement.kind.isEmpty()) {
        reader.fail("kind"_L1, u"must not be empty"_s);
        return reader.error();
    }

    if (scopeName == "auto_all"_L1) {
        statement.scope = CredentialScope::AutoAll;
        if (!statement.agents.isEmpty()) {
            reader.fail("agents"_L1, u"must be [] when scope is auto_all"_s);
            return reader.error();
        }
    } else if (scopeName == "explicit"_L1) {
        statement.scope = CredentialScope::Explicit;
    } else {
        reader.fail("scope"_L1,
                    u"must be \"auto_all\" or \"explicit\", got \"%1\""_s.arg(scopeName.left(64)));
        return reader.error();
    }

    for (qsizetype i = 0; i < statement.agents.size(); ++i) {
        const QString &agentId = statement.agents.at(i);
        if (!isCanonicalUuid(agentId)) {
            reader.fail("agents"_L1,
                        u"entry %1 is not a lowercase UUID: \"%2\""_s.arg(i).arg(agentId.left(64)));
            return reader.error();
        }
        if (i > 0 && !(statement.agents.at(i - 1) < agentId)) {
            reader.fail("agents"_L1,
                        u"must be sorted and unique; entry %1 (\"%2\") breaks the "
                        u"order"_s.arg(i)
                            .arg(agentId));
            return reader.error();
        }
    }

    const bool first = statement.version == 1 && statement.revision == 1;
    if (first && !statement.prevStatementSha256.isEmpty()) {
        reader.fail("prev_statement_sha256"_L1, u"must be \"\" for version 1 revision 1"_s);
        return reader.error();
    }
    if (!first) {
        QString digest;
        if (!reader.digest("prev_statement_sha256"_L1, digest))
            return reader.error();
    }
    return statement;
}

QJsonObject CredentialStatement::toFields() const
{
    return QJsonObject {
        { u"org_id"_s, orgId },
        { u"credential_id"_s, credentialId },
        { u"version"_s, version },
        { u"revision"_s, revision },
        { u"name"_s, name },
        { u"kind"_s, kind },
        { u"commitment"_s, encodeBase64(commitment) },
        { u"scope"_s, scope == CredentialScope::AutoAll ? u"auto_all"_s : u"explicit"_s },
        { u"agents"_s, QJsonArray::fromStringList(agents) },
        { u"deleted"_s, deleted },
        { u"prev_statement_sha256"_s, prevStatementSha256 },
        { u"issued_at"_s, formatTimestamp(issuedAt) },
        { u"operator_key"_s, encodeBase64(operatorKey) },
    };
}

bool CredentialStatement::covers(QStringView agentId) const
{
    if (deleted)
        return false;
    if (scope == CredentialScope::AutoAll)
        return true;
    return std::binary_search(agents.cbegin(), agents.cend(), agentId,
                              [](QStringView a, QStringView b) { return a < b; });
}

// ---------------------------------------------------------------------------
// sealrelay/attestation/v1

Result<Attestation> Attestation::fromFields(const QJsonObject &fields)
{
    Attestation attestation;
    QString sourceKindName;
    FieldReader reader(fields, StatementContext::Attestation);
    const bool read = reader.uuid("org_id"_L1, attestation.orgId)
        && reader.uuid("request_id"_L1, attestation.requestId)
        && reader.uuid("credential_id"_L1, attestation.credentialId)
        && reader.counter("version"_L1, attestation.version)
        && reader.counter("revision"_L1, attestation.revision)
        && reader.digest("statement_sha256"_L1, attestation.statementSha256)
        && reader.uuid("target_agent_id"_L1, attestation.targetAgentId)
        && reader.text("target_key_fingerprint"_L1, attestation.targetKeyFingerprint)
        && reader.text("source_kind"_L1, sourceKindName)
        && reader.text("source_id"_L1, attestation.sourceId)
        && reader.digest("envelope_sha256"_L1, attestation.envelopeSha256);
    if (!read)
        return reader.error();

    if (attestation.targetKeyFingerprint.size() != 64
        || !isLowerHex(attestation.targetKeyFingerprint)) {
        reader.fail("target_key_fingerprint"_L1, u"must be 64 lowercase hex digits"_s);
        return reader.error();
    }

    if (sourceKindName == "peer"_L1) {
        attestation.sourceKind = AttestationSource::Peer;
        if (!reader.uuid("source_id"_L1, attestation.sourceId))
            return reader.error();
    } else if (sourceKindName == "creator"_L1) {
        attestation.sourceKind = AttestationSource::Creator;
        QByteArray operatorKey;
        if (!reader.bytes("source_id"_L1, kEd25519PublicKeyBytes, operatorKey))
            return reader.error();
    } else {
        reader.fail("source_kind"_L1,
                    u"must be \"peer\" or \"creator\", got \"%1\""_s.arg(sourceKindName.left(64)));
        return reader.error();
    }
    return attestation;
}

QJsonObject Attestation::toFields() const
{
    return QJsonObject {
        { u"org_id"_s, orgId },
        { u"request_id"_s, requestId },
        { u"credential_id"_s, credentialId },
        { u"version"_s, version },
        { u"revision"_s, revision },
        { u"statement_sha256"_s, statementSha256 },
        { u"target_agent_id"_s, targetAgentId },
        { u"target_key_fingerprint"_s, targetKeyFingerprint },
        { u"source_kind"_s, sourceKind == AttestationSource::Peer ? u"peer"_s : u"creator"_s },
        { u"source_id"_s, sourceId },
        { u"envelope_sha256"_s, envelopeSha256 },
    };
}

// ---------------------------------------------------------------------------
// sealrelay/receipt/v1

Result<Receipt> Receipt::fromFields(const QJsonObject &fields)
{
    Receipt receipt;
    QString stateName;
    FieldReader reader(fields, StatementContext::Receipt);
    const bool read = reader.uuid("org_id"_L1, receipt.orgId)
        && reader.uuid("agent_id"_L1, receipt.agentId)
        && reader.uuid("credential_id"_L1, receipt.credentialId)
        && reader.counter("version"_L1, receipt.version)
        && reader.counter("revision"_L1, receipt.revision)
        && reader.digest("statement_sha256"_L1, receipt.statementSha256)
        && reader.text("state"_L1, stateName) && reader.text("reason"_L1, receipt.reason)
        && reader.timestamp("at"_L1, receipt.at);
    if (!read)
        return reader.error();

    if (stateName == "stored"_L1) {
        receipt.state = ReceiptState::Stored;
    } else if (stateName == "deleted"_L1) {
        receipt.state = ReceiptState::Deleted;
    } else if (stateName == "refused"_L1) {
        receipt.state = ReceiptState::Refused;
    } else {
        reader.fail("state"_L1,
                    u"must be \"stored\", \"deleted\" or \"refused\", got \"%1\""_s.arg(
                        stateName.left(64)));
        return reader.error();
    }

    if (!receipt.reason.isEmpty() && !reasonFromName(receipt.reason)) {
        reader.fail(
            "reason"_L1,
            u"must be \"\" or a known reason name, got \"%1\""_s.arg(receipt.reason.left(64)));
        return reader.error();
    }
    return receipt;
}

QJsonObject Receipt::toFields() const
{
    QString stateName;
    switch (state) {
    case ReceiptState::Stored:
        stateName = u"stored"_s;
        break;
    case ReceiptState::Deleted:
        stateName = u"deleted"_s;
        break;
    case ReceiptState::Refused:
        stateName = u"refused"_s;
        break;
    }
    return QJsonObject {
        { u"org_id"_s, orgId },
        { u"agent_id"_s, agentId },
        { u"credential_id"_s, credentialId },
        { u"version"_s, version },
        { u"revision"_s, revision },
        { u"statement_sha256"_s, statementSha256 },
        { u"state"_s, stateName },
        { u"reason"_s, reason },
        { u"at"_s, formatTimestamp(at) },
    };
}

// ---------------------------------------------------------------------------
// sealrelay/auth/v1

Result<AuthStatement> AuthStatement::fromFields(const QJsonObject &fields)
{
    AuthStatement statement;
    FieldReader reader(fields, StatementContext::Auth);
    const bool read = reader.uuid("org_id"_L1, statement.orgId)
        && reader.uuid("agent_id"_L1, statement.agentId)
        && reader.text("backend_origin"_L1, statement.backendOrigin)
        && reader.bytes("nonce"_L1, kNonceBytes, statement.nonce)
        && reader.timestamp("issued_at"_L1, statement.issuedAt);
    if (!read)
        return reader.error();

    if (!isOrigin(statement.backendOrigin)) {
        reader.fail(
            "backend_origin"_L1,
            u"must be scheme://host:port, got \"%1\""_s.arg(statement.backendOrigin.left(200)));
        return reader.error();
    }
    return statement;
}

QJsonObject AuthStatement::toFields() const
{
    return QJsonObject {
        { u"org_id"_s, orgId },
        { u"agent_id"_s, agentId },
        { u"backend_origin"_s, backendOrigin },
        { u"nonce"_s, encodeBase64(nonce) },
        { u"issued_at"_s, formatTimestamp(issuedAt) },
    };
}

// ---------------------------------------------------------------------------
// Agent fingerprint and trusted operator keys

QString agentFingerprint(QStringView agentId, QByteArrayView encryptionKeyDer,
                         QByteArrayView identityKeyRaw)
{
    const QJsonObject fields {
        { u"agent_id"_s, agentId.toString() },
        { u"encryption_key"_s, encodeBase64(encryptionKeyDer) },
        { u"identity_key"_s, encodeBase64(identityKeyRaw) },
    };
    // Only an agent id with a lone surrogate has no canonical form, and no
    // valid agent id (a UUID) has one.
    Result<QByteArray> bytes = canonicalJson(fields);
    if (!bytes)
        return {};
    return sha256Hex(bytes.value());
}

Result<QList<Ed25519PublicKey>> readTrustedKeysFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return makeError(
            Reason::IoError,
            u"cannot read the trusted-operators file %1: %2"_s.arg(path, file.errorString()));
    }
    const QByteArray content = file.readAll();
    if (file.error() != QFileDevice::NoError) {
        return makeError(
            Reason::IoError,
            u"cannot read the trusted-operators file %1: %2"_s.arg(path, file.errorString()));
    }

    QList<Ed25519PublicKey> keys;
    const QList<QByteArray> lines = content.split('\n');
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const QString line = QString::fromUtf8(lines.at(i));
        qsizetype end = line.size();
        while (end > 0 && line.at(end - 1).isSpace())
            --end;
        const QStringView key = QStringView(line).first(end);
        if (key.isEmpty() || key.startsWith(u'#'))
            continue;

        const QString field = u"line %1"_s.arg(i + 1);
        Result<Ed25519PublicKey> parsed = Ed25519PublicKey::fromBase64(key, field);
        if (!parsed) {
            return makeError(
                Reason::InvalidKey,
                u"trusted-operators file %1, line %2: not a base64 raw Ed25519 "
                u"public key (%3)"_s.arg(path, QString::number(i + 1), parsed.error().message));
        }
        const bool duplicate =
            std::any_of(keys.cbegin(), keys.cend(),
                        [&](const Ed25519PublicKey &known) { return known == parsed.value(); });
        if (!duplicate)
            keys.append(parsed.value());
    }
    return keys;
}

} // namespace sealrelay
