// Statements, payloads, envelopes and creator attestations of the four
// uploads. The secret bytes and the payload live in SecureBuffers and the
// salt is wiped before each function returns, on every path.
#include "credentialcreator.h"

#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"
#include "payload.h"

#include <QJsonArray>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

// Wipes a QByteArray when the scope ends, whichever way it ends.
class WipeOnExit {
public:
    explicit WipeOnExit(QByteArray &bytes)
        : m_bytes(bytes)
    {
    }
    ~WipeOnExit() { wipe(m_bytes); }
    WipeOnExit(const WipeOnExit &) = delete;
    WipeOnExit &operator=(const WipeOnExit &) = delete;

private:
    QByteArray &m_bytes;
};

QString uploadPath(UploadKind kind, const QString &credentialId)
{
    switch (kind) {
    case UploadKind::Create:
        return u"/api/credentials"_s;
    case UploadKind::Rotate:
        return u"/api/credentials/%1/rotate"_s.arg(credentialId);
    case UploadKind::ScopeChange:
        return u"/api/credentials/%1/scope"_s.arg(credentialId);
    case UploadKind::Delete:
        return u"/api/credentials/%1/delete"_s.arg(credentialId);
    }
    return {};
}

// Sorted, duplicate-free lowercase UUIDs.
Result<QStringList> normaliseScope(const QStringList &agentIds)
{
    QStringList sorted;
    for (const QString &id : agentIds) {
        if (!isCanonicalUuid(id)) {
            return makeError(Reason::Malformed,
                             u"scope agent id \"%1\" is not a lowercase UUID"_s.arg(id));
        }
        if (!sorted.contains(id))
            sorted.append(id);
    }
    sorted.sort();
    return sorted;
}

QDateTime wholeMilliseconds(const QDateTime &time)
{
    return QDateTime::fromMSecsSinceEpoch(time.toMSecsSinceEpoch(), Qt::UTC);
}

} // namespace

Result<SecureBuffer> secretBytesFromFields(const QJsonObject &fields)
{
    if (fields.isEmpty()) {
        return makeError(Reason::Malformed,
                         u"the secret has no fields; give at least one, e.g. \"password\""_s);
    }
    Result<QByteArray> canonical = canonicalJson(fields);
    if (!canonical)
        return makeError(Reason::Malformed,
                         u"the secret's fields are not valid statement JSON: "_s
                             + canonical.error().message);
    QByteArray bytes = std::move(canonical).value();
    WipeOnExit wipeBytes(bytes);
    return SecureBuffer(bytes);
}

Result<SignedStatement>
signCreatorAttestation(const CredentialStatement &statement, const SignedStatement &signedStatement,
                       const QString &requestId, const QString &targetAgentId,
                       const QString &targetKeyFingerprint, const Envelope &envelope,
                       const Ed25519PrivateKey &signer)
{
    Attestation attestation;
    attestation.orgId = statement.orgId;
    attestation.requestId = requestId;
    attestation.credentialId = statement.credentialId;
    attestation.version = statement.version;
    attestation.revision = statement.revision;
    attestation.statementSha256 = signedStatement.sha256();
    attestation.targetAgentId = targetAgentId;
    attestation.targetKeyFingerprint = targetKeyFingerprint;
    attestation.sourceKind = AttestationSource::Creator;
    attestation.sourceId = signer.publicKey().rawBase64();
    attestation.envelopeSha256 = envelope.sha256();
    return signStatement(StatementContext::Attestation, attestation.toFields(), signer);
}

CredentialCreator::CredentialCreator(Ed25519PrivateKey signer, AgentCertificates &certificates,
                                     const TrustedOperators &trusted, CreatorOptions options)
    : m_signer(std::move(signer))
    , m_certificates(certificates)
    , m_trusted(trusted)
    , m_options(std::move(options))
{
    if (!m_options.saltSource)
        m_options.saltSource = generateSalt;
    if (!m_options.idSource)
        m_options.idSource = newUuid;
    if (!m_options.clock)
        m_options.clock = systemClock();
}

QDateTime CredentialCreator::now() const
{
    return wholeMilliseconds(m_options.clock());
}

Result<CredentialStatement> CredentialCreator::verifyCurrent(const SignedStatement &current) const
{
    Result<QJsonObject> fields = parseStatement(StatementContext::Credential, current.bytes);
    if (!fields)
        return fields.error();
    Result<CredentialStatement> statement = CredentialStatement::fromFields(fields.value());
    if (!statement)
        return statement.error();
    Result<Ed25519PublicKey> signer = Ed25519PublicKey::fromRaw(statement->operatorKey);
    if (!signer)
        return makeError(Reason::BadStatement, signer.error().message);
    if (Result<QJsonObject> verified =
            verifyStatement(StatementContext::Credential, current, signer.value());
        !verified) {
        return verified.error();
    }
    if (!m_trusted.contains(signer.value())) {
        return makeError(Reason::UntrustedOperator,
                         u"the current statement of credential %1 is signed by operator key %2 "
                         u"(fingerprint %3), which is not in the trusted operators of %4; do not "
                         u"build on it"_s.arg(statement->credentialId, signer->rawBase64(),
                                              signer->fingerprint(), m_trusted.path()));
    }
    if (statement->orgId != m_certificates.orgId()) {
        return makeError(Reason::IdMismatch,
                         u"the current statement of credential %1 is for org %2, not %3"_s.arg(
                             statement->credentialId, statement->orgId, m_certificates.orgId()));
    }
    if (statement->deleted) {
        return makeError(Reason::StaleStatement,
                         u"credential %1 is deleted; create a new credential instead"_s.arg(
                             statement->credentialId));
    }
    return statement;
}

CredentialStatement CredentialCreator::successor(const CredentialStatement &current,
                                                 const SignedStatement &signedCurrent) const
{
    CredentialStatement next = current;
    next.prevStatementSha256 = signedCurrent.sha256();
    next.issuedAt = now();
    next.operatorKey = m_signer.publicKey().raw();
    return next;
}

Result<PreparedUpload> CredentialCreator::create(const NewCredential &credential,
                                                 const QJsonObject &secret,
                                                 const QList<AgentRow> &agents)
{
    const QString credentialId =
        credential.credentialId.isEmpty() ? m_options.idSource() : credential.credentialId;
    if (!isCanonicalUuid(credentialId)) {
        return makeError(Reason::Malformed,
                         u"credential id \"%1\" is not a lowercase UUID"_s.arg(credentialId));
    }
    const QString name = credential.name.normalized(QString::NormalizationForm_C);
    if (name.isEmpty() || name.toUtf8().size() > kMaxNameBytes) {
        return makeError(
            Reason::Malformed,
            u"the credential name has %1 UTF-8 bytes; give 1 to %2"_s.arg(
                QString::number(name.toUtf8().size()), QString::number(kMaxNameBytes)));
    }
    if (credential.kind.isEmpty())
        return makeError(Reason::Malformed, u"the credential kind is empty; e.g. \"password\""_s);
    Result<QStringList> scope = normaliseScope(credential.scopeAgentIds);
    if (!scope)
        return scope.error();

    CredentialStatement statement;
    statement.orgId = m_certificates.orgId();
    statement.credentialId = credentialId;
    statement.version = 1;
    statement.revision = 1;
    statement.name = name;
    statement.kind = credential.kind;
    statement.scope = scope->isEmpty() ? CredentialScope::AutoAll : CredentialScope::Explicit;
    statement.agents = scope.value();
    statement.deleted = false;
    statement.prevStatementSha256 = QString(u""_s);
    statement.issuedAt = now();
    statement.operatorKey = m_signer.publicKey().raw();
    return sealAndSign(UploadKind::Create, std::move(statement), secret, agents);
}

Result<PreparedUpload> CredentialCreator::rotate(const SignedStatement &current,
                                                 const QJsonObject &secret,
                                                 const QList<AgentRow> &agents)
{
    Result<CredentialStatement> verified = verifyCurrent(current);
    if (!verified)
        return verified.error();
    CredentialStatement next = successor(verified.value(), current);
    next.version += 1;
    next.revision = 1;
    return sealAndSign(UploadKind::Rotate, std::move(next), secret, agents);
}

Result<PreparedUpload> CredentialCreator::changeScope(const SignedStatement &current,
                                                      const QStringList &scopeAgentIds)
{
    Result<CredentialStatement> verified = verifyCurrent(current);
    if (!verified)
        return verified.error();
    Result<QStringList> scope = normaliseScope(scopeAgentIds);
    if (!scope)
        return scope.error();
    CredentialStatement next = successor(verified.value(), current);
    next.revision += 1;
    next.scope = scope->isEmpty() ? CredentialScope::AutoAll : CredentialScope::Explicit;
    next.agents = scope.value();
    return signOnly(UploadKind::ScopeChange, std::move(next));
}

Result<PreparedUpload> CredentialCreator::remove(const SignedStatement &current)
{
    Result<CredentialStatement> verified = verifyCurrent(current);
    if (!verified)
        return verified.error();
    CredentialStatement next = successor(verified.value(), current);
    next.revision += 1;
    next.deleted = true;
    return signOnly(UploadKind::Delete, std::move(next));
}

Result<PreparedUpload> CredentialCreator::signOnly(UploadKind kind, CredentialStatement statement)
{
    Result<SignedStatement> signedStatement =
        signStatement(StatementContext::Credential, statement.toFields(), m_signer);
    if (!signedStatement)
        return signedStatement.error();

    PreparedUpload upload;
    upload.kind = kind;
    upload.path = uploadPath(kind, statement.credentialId);
    upload.body = QJsonObject { { u"statement"_s, signedStatement->toJson() } };
    upload.statement = std::move(statement);
    upload.signedStatement = signedStatement.value();
    return upload;
}

Result<PreparedUpload> CredentialCreator::sealAndSign(UploadKind kind,
                                                      CredentialStatement statement,
                                                      const QJsonObject &secret,
                                                      const QList<AgentRow> &agents)
{
    PreparedUpload upload;

    // 1. The agents that may receive the secret: in scope, not revoked, and
    //    with a certificate that verifies against the pinned keys.
    QList<CertifiedAgent> targets;
    QStringList listedIds;
    for (const AgentRow &row : agents) {
        listedIds.append(row.agentId);
        if (!statement.covers(row.agentId))
            continue;
        if (row.status == "revoked"_L1) {
            upload.warnings.append(
                u"agent %1 (%2) is revoked and gets no envelope"_s.arg(row.agentId, row.name));
            continue;
        }
        Result<CertifiedAgent> certified = m_certificates.verify(row);
        if (!certified) {
            upload.warnings.append(certified.error().message);
            continue;
        }
        targets.append(std::move(certified).value());
    }
    for (const QString &id : std::as_const(statement.agents)) {
        if (!listedIds.contains(id)) {
            upload.warnings.append(
                u"agent %1 is in scope but the backend does not list it"_s.arg(id));
        }
    }
    if (targets.isEmpty()) {
        QString message = u"no certified agent is in the scope of credential %1, so no agent could "
                          u"receive the secret; approve an agent or change the scope first"_s.arg(
                              statement.credentialId);
        if (!upload.warnings.isEmpty())
            message += u" ("_s + upload.warnings.join(u"; "_s) + u")"_s;
        return makeError(Reason::NotInScope, message);
    }

    // 2. secret_bytes, salt and commitment, then the signed statement.
    Result<SecureBuffer> secretBytes = secretBytesFromFields(secret);
    if (!secretBytes)
        return secretBytes.error();
    QByteArray salt = m_options.saltSource();
    WipeOnExit wipeSalt(salt);
    Result<QByteArray> commitment = computeCommitment(salt, secretBytes->view());
    if (!commitment)
        return commitment.error();
    statement.commitment = commitment.value();

    Result<SignedStatement> signedStatement =
        signStatement(StatementContext::Credential, statement.toFields(), m_signer);
    if (!signedStatement)
        return signedStatement.error();

    // 3. One payload, sealed once per agent, with a creator attestation each.
    Result<SecureBuffer> payload =
        buildPayload(statement.credentialId, statement.version, salt, secretBytes->view());
    secretBytes->clear();
    if (!payload)
        return payload.error();

    upload.requestId = m_options.idSource();
    QJsonObject envelopes;
    for (const CertifiedAgent &target : std::as_const(targets)) {
        const QString &agentId = target.certificate.agentId;
        Result<Envelope> envelope = sealEnvelope(target.encryptionKey, payload->view());
        if (!envelope) {
            return makeError(envelope.error().reason,
                             u"could not seal the secret to agent %1: %2"_s.arg(
                                 agentId, envelope.error().message));
        }
        Result<SignedStatement> attestation =
            signCreatorAttestation(statement, signedStatement.value(), upload.requestId, agentId,
                                   target.encryptionKeyFingerprint, envelope.value(), m_signer);
        if (!attestation)
            return attestation.error();
        envelopes.insert(agentId,
                         QJsonObject { { u"envelope"_s, envelope->toJson() },
                                       { u"attestation"_s, attestation->toJson() } });
        upload.envelopeAgentIds.append(agentId);
    }
    payload->clear();
    upload.envelopeAgentIds.sort();

    upload.kind = kind;
    upload.path = uploadPath(kind, statement.credentialId);
    upload.body = QJsonObject { { u"statement"_s, signedStatement->toJson() },
                                { u"envelopes"_s, envelopes } };
    upload.statement = std::move(statement);
    upload.signedStatement = signedStatement.value();
    return upload;
}

Result<QList<AgentRow>> fetchAgents(BackendClient &client)
{
    ApiResult reply = client.get(u"/api/agents"_s);
    if (!reply)
        return reply.error().toError();
    return parseAgentList(reply->json);
}

Result<SignedStatement> fetchCurrentStatement(BackendClient &client, const QString &credentialId)
{
    if (!isCanonicalUuid(credentialId)) {
        return makeError(Reason::Malformed,
                         u"credential id \"%1\" is not a lowercase UUID"_s.arg(credentialId));
    }
    ApiResult reply = client.get(u"/api/credentials/"_s + credentialId);
    if (!reply)
        return reply.error().toError();
    return SignedStatement::fromJson(reply->json.value(u"statement"_s), u"statement");
}

ApiResult sendUpload(BackendClient &client, const PreparedUpload &upload)
{
    return client.post(upload.path, upload.body);
}

} // namespace sealrelay::client
