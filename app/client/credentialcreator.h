// Client-side credential creation for the operator tools: one code path for
// create, rotate, scope change and delete. It builds the secret bytes, salt,
// commitment and signed credential statement, seals the payload to every
// certified agent in scope with a signed creator attestation each, and
// produces the body of the upload routes (POST /api/credentials,
// /api/credentials/{id}/rotate, /scope, /delete). The backend receives only
// the statement, envelopes and attestations.
#pragma once

#include "agentcertificates.h"
#include "backendclient.h"
#include "clientfiles.h"
#include "envelope.h"
#include "error.h"
#include "keys.h"
#include "statement.h"
#include "trustedoperators.h"

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>

namespace sealrelay::client {

// Maximum credential name length, in UTF-8 bytes after NFC normalisation.
inline constexpr qsizetype kMaxNameBytes = 200;

enum class UploadKind { Create, Rotate, ScopeChange, Delete };

struct NewCredential {
    QString credentialId; // empty: a new random UUID
    QString name; // NFC-normalised before signing
    QString kind; // e.g. "password"
    QStringList scopeAgentIds; // empty: auto_all, else explicit
};

// An upload ready to send. `body` is the exact JSON of the route.
struct PreparedUpload {
    UploadKind kind = UploadKind::Create;
    QString path; // e.g. /api/credentials/<id>/rotate
    QJsonObject body;
    CredentialStatement statement;
    SignedStatement signedStatement;
    QString requestId; // request_id of the creator attestations
    QStringList envelopeAgentIds; // sorted; empty for scope change and delete
    QStringList warnings; // one sentence per agent in scope that was skipped
};

// Sources of time and randomness; tests replace them to reproduce vectors.
struct CreatorOptions {
    Clock clock = systemClock();
    std::function<QByteArray()> saltSource; // default: core's generateSalt()
    std::function<QString()> idSource; // default: core's newUuid()
};

// Returns secret_bytes: the canonical JSON (RFC 8785) of the secret's
// fields, e.g. {"password":"...","username":"admin"}. An empty object is
// Reason::Malformed. NOTE: the QString values inside `fields` are the
// caller's and cannot be wiped from here.
Result<SecureBuffer> secretBytesFromFields(const QJsonObject &fields);

// Signs the creator attestation for `envelope` sealed to `targetAgentId`
// under the key with `targetKeyFingerprint`.
Result<SignedStatement>
signCreatorAttestation(const CredentialStatement &statement, const SignedStatement &signedStatement,
                       const QString &requestId, const QString &targetAgentId,
                       const QString &targetKeyFingerprint, const Envelope &envelope,
                       const Ed25519PrivateKey &signer);

class CredentialCreator {
public:
    // `certificates` (which also fixes the org) and `trusted` must outlive
    // the creator. `signer` must be one of the trusted operators.
    CredentialCreator(Ed25519PrivateKey signer, AgentCertificates &certificates,
                      const TrustedOperators &trusted, CreatorOptions options = {});

    // Version 1, revision 1. `agents` is GET /api/agents as parsed by
    // parseAgentList(); an envelope goes to every agent in scope whose
    // certificate verifies (AgentCertificates::verify()). Agents that fail
    // are skipped and named in `warnings`. With none left the upload is
    // rejected (Reason::NotInScope), because no agent could receive the secret.
    Result<PreparedUpload> create(const NewCredential &credential, const QJsonObject &secret,
                                  const QList<AgentRow> &agents);

    // A new value: version + 1, revision 1, the scope of `current`.
    Result<PreparedUpload> rotate(const SignedStatement &current, const QJsonObject &secret,
                                  const QList<AgentRow> &agents);

    // Revision + 1 with the same version and commitment, no envelopes.
    // An empty `scopeAgentIds` is auto_all.
    Result<PreparedUpload> changeScope(const SignedStatement &current,
                                       const QStringList &scopeAgentIds);
    Result<PreparedUpload> remove(const SignedStatement &current);

    // Verifies the current statement the backend returned: strict parse,
    // signature under its operator_key, that key pinned
    // (Reason::UntrustedOperator), our org, not deleted.
    Result<CredentialStatement> verifyCurrent(const SignedStatement &current) const;

private:
    Result<PreparedUpload> sealAndSign(UploadKind kind, CredentialStatement statement,
                                       const QJsonObject &secret, const QList<AgentRow> &agents);
    Result<PreparedUpload> signOnly(UploadKind kind, CredentialStatement statement);
    CredentialStatement successor(const CredentialStatement &current,
                                  const SignedStatement &signedCurrent) const;
    QDateTime now() const;

    Ed25519PrivateKey m_signer;
    AgentCertificates &m_certificates;
    const TrustedOperators &m_trusted;
    CreatorOptions m_options;
};

// GET /api/agents through `client`, parsed.
Result<QList<AgentRow>> fetchAgents(BackendClient &client);

// The current signed statement of `credentialId` from GET
// /api/credentials/{id}; verify it with CredentialCreator::verifyCurrent().
Result<SignedStatement> fetchCurrentStatement(BackendClient &client, const QString &credentialId);

// POSTs `upload.body` to `upload.path`; success is 201 for create and 200
// for the others.
ApiResult sendUpload(BackendClient &client, const PreparedUpload &upload);

} // namespace sealrelay::client
