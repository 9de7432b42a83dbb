// Signed certificates, statements and receipts for the credential model tests.
#include "syncfixture.h"

#include "digest.h"
#include "ids.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models::testing {

QDateTime testNow()
{
    return QDateTime(QDate(2026, 12, 10), QTime(12, 0), Qt::UTC);
}

SyncFixture::SyncFixture()
{
    operatorKey = require(Ed25519PrivateKey::generate());
    unpinnedKey = require(Ed25519PrivateKey::generate());
    for (qsizetype i = 0; i < kAgentIds.size(); ++i)
        identities.append(require(Ed25519PrivateKey::generate()));
    // One RSA key serves every agent: only the certificates' signatures matter here.
    encryptionKey = require(RsaPrivateKey::generate()).publicKey().spkiDer();
}

bool SyncFixture::reset()
{
    verifier.reset();
    certificates.reset();
    dir = std::make_unique<QTemporaryDir>();
    if (!dir->isValid())
        return false;
    trusted = require(client::TrustedOperators::load(dir->filePath(u"trusted-operators"_s)));
    require(trusted->add(operatorKey->publicKey()));
    generations = client::GenerationRecord::inMemory();
    now = testNow();
    certificates = std::make_unique<client::AgentCertificates>(*trusted, kOrgId, *generations,
                                                               [this] { return now; });
    verifier = std::make_unique<SyncVerifier>(*trusted, *certificates);
    return true;
}

QJsonObject SyncFixture::agentJson(int index, const Ed25519PrivateKey &signer,
                                   const QString &connection, const QDateTime &lastSeen) const
{
    return agentJson(index, signer, connection, lastSeen, 1, testNow().addDays(300));
}

QJsonObject SyncFixture::certifiedAgentJson(int index, qint64 generation,
                                            const QDateTime &expiresAt) const
{
    return agentJson(index, *operatorKey, u"online"_s, testNow(), generation, expiresAt);
}

QJsonObject SyncFixture::agentJson(int index, const Ed25519PrivateKey &signer,
                                   const QString &connection, const QDateTime &lastSeen,
                                   qint64 generation, const QDateTime &expiresAt) const
{
    AgentCertificate certificate;
    certificate.orgId = kOrgId;
    certificate.agentId = kAgentIds.at(index);
    certificate.agentName = u"edge-%1"_s.arg(index + 1);
    certificate.generation = generation;
    certificate.encryptionKey = encryptionKey;
    certificate.identityKey = identities.at(index).publicKey().raw();
    certificate.issuedAt = testNow().addDays(-1);
    certificate.expiresAt = expiresAt;
    certificate.operatorKey = signer.publicKey().raw();
    const SignedStatement signedCertificate = require(
        signStatement(StatementContext::AgentCertificate, certificate.toFields(), signer));
    return QJsonObject {
        { u"agent_id"_s, certificate.agentId },
        { u"name"_s, certificate.agentName },
        { u"status"_s, u"approved"_s },
        { u"encryption_key"_s, QString::fromLatin1(encryptionKey.toBase64()) },
        { u"identity_key"_s, QString::fromLatin1(certificate.identityKey.toBase64()) },
        { u"certificate"_s, signedCertificate.toJson() },
        { u"generation"_s, generation },
        { u"last_seen"_s, formatTimestamp(lastSeen) },
        { u"sync"_s, QJsonObject { { u"connection"_s, connection } } },
    };
}

QJsonArray SyncFixture::pinnedAgents() const
{
    QJsonArray agents;
    for (qsizetype i = 0; i < kAgentIds.size(); ++i)
        agents.append(agentJson(static_cast<int>(i), *operatorKey));
    return agents;
}

SignedStatement SyncFixture::credentialStatement(const QString &credentialId, qint64 version,
                                                 qint64 revision, const Ed25519PrivateKey &signer,
                                                 const QString &name, const QString &kind) const
{
    CredentialStatement statement;
    statement.orgId = kOrgId;
    statement.credentialId = credentialId;
    statement.version = version;
    statement.revision = revision;
    statement.name = name;
    statement.kind = kind;
    statement.commitment = QByteArray(32, '\x5a');
    statement.scope = CredentialScope::AutoAll;
    statement.prevStatementSha256 =
        version == 1 && revision == 1 ? QString() : sha256Base64("previous statement");
    statement.issuedAt = testNow();
    statement.operatorKey = signer.publicKey().raw();
    return require(signStatement(StatementContext::Credential, statement.toFields(), signer));
}

SignedStatement SyncFixture::receipt(int agentIndex, const QString &credentialId, qint64 version,
                                     qint64 revision, const QString &statementSha256,
                                     ReceiptState state, const QString &reason) const
{
    Receipt fields;
    fields.orgId = kOrgId;
    fields.agentId = kAgentIds.at(agentIndex);
    fields.credentialId = credentialId;
    fields.version = version;
    fields.revision = revision;
    fields.statementSha256 = statementSha256;
    fields.state = state;
    fields.reason = reason;
    fields.at = testNow();
    return require(
        signStatement(StatementContext::Receipt, fields.toFields(), identities.at(agentIndex)));
}

QJsonObject SyncFixture::storedRow(int agentIndex, const QString &credentialId,
                                   const SignedStatement &signedReceipt) const
{
    QJsonObject row = emptyRow(agentIndex, credentialId);
    row.insert(u"secret_stored"_s, true);
    row.insert(u"receipt"_s, signedReceipt.toJson());
    return row;
}

QJsonObject SyncFixture::emptyRow(int agentIndex, const QString &credentialId) const
{
    return QJsonObject {
        { u"credential_id"_s, credentialId },  { u"agent_id"_s, kAgentIds.at(agentIndex) },
        { u"secret_stored"_s, false },         { u"attempts"_s, 0 },
        { u"last_error"_s, QJsonValue::Null }, { u"stalled"_s, false },
        { u"receipt"_s, QJsonValue::Null },
    };
}

QJsonObject SyncFixture::credentialJson(const QString &credentialId, const QString &name,
                                        const SignedStatement &statement, qint64 version,
                                        qint64 revision, const QJsonArray &rows) const
{
    return QJsonObject {
        { u"credential_id"_s, credentialId },
        { u"name"_s, name },
        { u"kind"_s, u"password"_s },
        { u"version"_s, version },
        { u"revision"_s, revision },
        { u"scope"_s, u"auto_all"_s },
        { u"scope_agent_ids"_s, QJsonArray() },
        { u"state"_s, u"active"_s },
        { u"statement"_s, statement.toJson() },
        { u"statement_sha256"_s, statement.sha256() },
        { u"updated_at"_s, formatTimestamp(testNow()) },
        { u"agents"_s, rows },
    };
}

QJsonObject SyncFixture::snapshot(const QJsonArray &credentials, const QJsonArray &agents) const
{
    return QJsonObject {
        { u"type"_s, u"snapshot"_s },
        { u"id"_s, newUuid() },
        { u"org_id"_s, kOrgId },
        { u"data"_s,
          QJsonObject { { u"credentials"_s, credentials },
                        { u"agents"_s, agents },
                        { u"alerts"_s, QJsonArray() } } },
    };
}

QJsonObject SyncFixture::syncEvent(const QJsonObject &credential, const QString &change,
                                   int agentIndex, const QJsonObject &extra) const
{
    QJsonObject data = extra;
    data.insert(u"credential_id"_s, credential.value(u"credential_id"_s));
    data.insert(u"change"_s, change);
    data.insert(u"credential"_s, credential);
    if (agentIndex >= 0)
        data.insert(u"agent_id"_s, kAgentIds.at(agentIndex));
    return QJsonObject {
        { u"type"_s, u"credential_sync_changed"_s },
        { u"id"_s, newUuid() },
        { u"data"_s, data },
    };
}

QJsonObject SyncFixture::credentialStoredOn(const QString &credentialId, const QString &name,
                                            const QList<int> &stored, const QString &kind) const
{
    const SignedStatement statement =
        credentialStatement(credentialId, 1, 1, *operatorKey, name, kind);
    QJsonArray rows;
    for (qsizetype i = 0; i < kAgentIds.size(); ++i) {
        const int index = static_cast<int>(i);
        if (stored.contains(index))
            rows.append(storedRow(index, credentialId,
                                  receipt(index, credentialId, 1, 1, statement.sha256())));
        else
            rows.append(emptyRow(index, credentialId));
    }
    QJsonObject credential = credentialJson(credentialId, name, statement, 1, 1, rows);
    credential.insert(u"kind"_s, kind);
    return credential;
}

} // namespace sealrelay::models::testing
