// Signed statements: canonical JSON bytes plus an Ed25519 signature over
// context || 0x00 || bytes, for the five contexts of the protocol, and the
// typed views of each statement.
#pragma once

#include "error.h"
#include "keys.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <optional>

namespace sealrelay {

enum class StatementContext {
    AgentCertificate,   // sealrelay/agent-certificate/v1
    Credential,         // sealrelay/credential/v1
    Attestation,        // sealrelay/attestation/v1
    Receipt,            // sealrelay/receipt/v1
    Auth,               // sealrelay/auth/v1
};

QString contextName(StatementContext context);
std::optional<StatementContext> contextFromName(QStringView name);

// {"statement_b64": ..., "signature": ...} as it travels.
struct SignedStatement {
    QByteArray bytes;       // canonical JSON of the statement
    QByteArray signature;   // 64 bytes

    // Exactly the two fields, canonical base64, a 64-byte signature; errors
    // are Reason::BadStatement naming `field`.
    static Result<SignedStatement> fromJson(const QJsonValue &value, QStringView field);
    QJsonObject toJson() const;

    // statement_sha256: base64(SHA-256(bytes)).
    QString sha256() const;
};

// The bytes an Ed25519 signature covers: context || 0x00 || statement bytes.
QByteArray signingInput(StatementContext context, QByteArrayView statementBytes);

// Strict parse of statement bytes for `context`: canonical JSON, values of the
// statement types only, exactly the context's fields with their types.
// Every failure is Reason::BadStatement.
Result<QJsonObject> parseStatement(StatementContext context, QByteArrayView bytes);

// Checks `fields` as parseStatement() would, canonicalises and signs them.
Result<SignedStatement> signStatement(StatementContext context, const QJsonObject &fields,
                                      const Ed25519PrivateKey &signer);

// parseStatement() and the signature under `signer`; Reason::BadStatement on
// any failure. Whether `signer` is trusted is the caller's separate check.
Result<QJsonObject> verifyStatement(StatementContext context, const SignedStatement &statement,
                                    const Ed25519PublicKey &signer);

// sealrelay/agent-certificate/v1
struct AgentCertificate {
    QString orgId;
    QString agentId;
    QString agentName;
    qint64 generation = 0;
    QByteArray encryptionKey;   // SPKI DER of the RSA-2048 key
    QByteArray identityKey;     // raw Ed25519, 32 bytes
    QDateTime issuedAt;
    QDateTime expiresAt;
    QByteArray operatorKey;     // raw Ed25519 of the signing operator

    static Result<AgentCertificate> fromFields(const QJsonObject &fields);
    QJsonObject toFields() const;
};

enum class CredentialScope { AutoAll, Explicit };

// sealrelay/credential/v1
struct CredentialStatement {
    QString orgId;
    QString credentialId;
    qint64 version = 0;
    qint64 revision = 0;
    QString name;
    QString kind;
    QByteArray commitment;          // 32 bytes
    CredentialScope scope = CredentialScope::AutoAll;
    QStringList agents;             // sorted agent ids; empty under auto_all
    bool deleted = false;
    QString prevStatementSha256;    // "" for version 1 revision 1
    QDateTime issuedAt;
    QByteArray operatorKey;

    static Result<CredentialStatement> fromFields(const QJsonObject &fields);
    QJsonObject toFields() const;

    // True when `agentId` is in scope: every agent under auto_all, the listed
    // ones under explicit; false for every agent once deleted.
    bool covers(QStringView agentId) const;
};

enum class AttestationSource { Peer, Creator };

// sealrelay/attestation/v1
struct Attestation {
    QString orgId;
    QString requestId;
    QString credentialId;
    qint64 version = 0;
    qint64 revision = 0;
    QString statementSha256;
    QString targetAgentId;
    QString targetKeyFingerprint;   // 64 lowercase hex
    AttestationSource sourceKind = AttestationSource::Peer;
    QString sourceId;               // agent_id, or base64 of the operator's raw key
    QString envelopeSha256;

    static Result<Attestation> fromFields(const QJsonObject &fields);
    QJsonObject toFields() const;
};

enum class ReceiptState { Stored, Deleted, Refused };

// sealrelay/receipt/v1
struct Receipt {
    QString orgId;
    QString agentId;
    QString credentialId;
    qint64 version = 0;
    qint64 revision = 0;
    QString statementSha256;
    ReceiptState state = ReceiptState::Stored;
    QString reason;                 // "" or a wire reason name
    QDateTime at;

    static Result<Receipt> fromFields(const QJsonObject &fields);
    QJsonObject toFields() const;
};

// sealrelay/auth/v1
struct AuthStatement {
    QString orgId;
    QString agentId;
    QString backendOrigin;          // scheme://host:port the agent dialled
    QByteArray nonce;               // 16 bytes
    QDateTime issuedAt;

    static Result<AuthStatement> fromFields(const QJsonObject &fields);
    QJsonObject toFields() const;
};

// The agent fingerprint: SHA-256 over canonical_json({agent_id,
// encryption_key, identity_key}) with both keys base64, as 64 hex digits.
QString agentFingerprint(QStringView agentId, QByteArrayView encryptionKeyDer,
                         QByteArrayView identityKeyRaw);

// Reads a trusted-operators file: one base64 raw Ed25519 key per line, blank
// lines and lines starting with '#' ignored. A bad line is Reason::InvalidKey
// naming the file and line number.
Result<QList<Ed25519PublicKey>> readTrustedKeysFile(const QString &path);

} // namespace sealrelay
