// The vault's identity rows: the agent's sealed private keys, its org, its
// certificate, the rekey purge, and the highest certificate generation seen
// per agent.
#include "ids.h"
#include "logging.h"
#include "vault.h"
#include "vaultdatabase.h"

#include <QSqlQuery>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

// ---------------------------------------------------------------------------
// Identity

Result<void> Vault::storeIdentity(const AgentIdentity &identity)
{
    if (!isCanonicalUuid(identity.agentId)) {
        return makeError(
            Reason::Malformed,
            u"agent_id \"%1\" is not a lowercase UUID"_s.arg(identity.agentId.left(64)));
    }
    const SecureBuffer encryptionKey = identity.encryptionKey.pkcs8Der();
    const SecureBuffer identityKey = identity.identityKey.pkcs8Der();
    if (encryptionKey.isEmpty() || identityKey.isEmpty())
        return makeError(Reason::Internal, u"OpenSSL cannot encode the agent's private keys"_s);
    Result<QByteArray> sealedEncryptionKey = m_cipher.seal(
        RowBinding { RowPurpose::EncryptionKey, identity.agentId, 0 }, encryptionKey.view());
    if (!sealedEncryptionKey)
        return sealedEncryptionKey.error();
    Result<QByteArray> sealedIdentityKey = m_cipher.seal(
        RowBinding { RowPurpose::IdentityKey, identity.agentId, 0 }, identityKey.view());
    if (!sealedIdentityKey)
        return sealedIdentityKey.error();

    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"store the agent identity"); !begun)
        return begun;
    Result<QVariant> existing =
        m_database->queryValue(u"look for an agent identity", u"SELECT agent_id FROM identity"_s);
    if (!existing)
        return existing.error();
    if (existing->isValid()) {
        return makeError(Reason::Forbidden,
                         u"the vault %1 already holds the identity of agent %2; use `rekey` to "
                         u"replace its keys"_s.arg(path(), existing->toString()));
    }
    Result<SqlQuery> inserted = m_database->exec(
        u"store the agent identity",
        u"INSERT INTO identity (singleton, agent_id, org_id, sealed_encryption_key,"
        u" sealed_identity_key, updated_at)"
        u" VALUES (1, :agent_id, :org_id, :encryption_key, :identity_key, :at)"_s,
        {
            { u":agent_id"_s, identity.agentId },
            { u":org_id"_s, identity.orgId.isNull() ? u""_s : identity.orgId },
            { u":encryption_key"_s, sealedEncryptionKey.value() },
            { u":identity_key"_s, sealedIdentityKey.value() },
            { u":at"_s, formatTimestamp(m_clock()) },
        });
    if (!inserted)
        return inserted.error();
    return transaction.commit(u"store the agent identity");
}

Result<std::optional<AgentIdentity>> Vault::loadIdentity() const
{
    Result<SqlQuery> query = m_database->exec(
        u"read the agent identity",
        u"SELECT agent_id, org_id, sealed_encryption_key, sealed_identity_key FROM identity"_s);
    if (!query)
        return query.error();
    if (!query->next())
        return std::optional<AgentIdentity>();

    const QString agentId = query->value(0).toString();
    const QString orgId = query->value(1).toString();
    Result<SecureBuffer> encryptionDer = m_cipher.open(
        RowBinding { RowPurpose::EncryptionKey, agentId, 0 }, query->value(2).toByteArray());
    if (!encryptionDer)
        return encryptionDer.error();
    Result<SecureBuffer> identityDer = m_cipher.open(
        RowBinding { RowPurpose::IdentityKey, agentId, 0 }, query->value(3).toByteArray());
    if (!identityDer)
        return identityDer.error();

    Result<RsaPrivateKey> encryptionKey = RsaPrivateKey::fromPkcs8Der(encryptionDer->view());
    if (!encryptionKey)
        return encryptionKey.error();
    Result<Ed25519PrivateKey> identityKey = Ed25519PrivateKey::fromPkcs8Der(identityDer->view());
    if (!identityKey)
        return identityKey.error();
    return std::optional<AgentIdentity>(AgentIdentity {
        agentId, orgId, std::move(encryptionKey).value(), std::move(identityKey).value() });
}

Result<void> Vault::storeOrgId(const QString &orgId)
{
    if (!isCanonicalUuid(orgId)) {
        return makeError(Reason::Malformed,
                         u"org_id \"%1\" is not a lowercase UUID"_s.arg(orgId.left(64)));
    }
    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"store the org id"); !begun)
        return begun;
    Result<QVariant> current =
        m_database->queryValue(u"read the org id", u"SELECT org_id FROM identity"_s);
    if (!current)
        return current.error();
    if (!current->isValid()) {
        return makeError(Reason::NotFound,
                         u"the vault %1 has no agent identity yet; run `sealrelay-agent init` "
                         u"first"_s.arg(path()));
    }
    const QString stored = current->toString();
    if (stored == orgId)
        return {};
    if (!stored.isEmpty()) {
        return makeError(Reason::Forbidden,
                         u"this agent belongs to org %1 and cannot join org %2; initialise a new "
                         u"vault to move it"_s.arg(stored, orgId));
    }
    Result<SqlQuery> updated = m_database->exec(
        u"store the org id", u"UPDATE identity SET org_id = :org_id, updated_at = :at"_s,
        { { u":org_id"_s, orgId }, { u":at"_s, formatTimestamp(m_clock()) } });
    if (!updated)
        return updated.error();
    return transaction.commit(u"store the org id");
}

Result<void> Vault::storeCertificate(const SignedStatement &certificate,
                                     const AgentCertificate &fields)
{
    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"store the agent certificate"); !begun)
        return begun;
    Result<SqlQuery> updated = m_database->exec(
        u"store the agent certificate",
        u"UPDATE identity SET certificate_bytes = :bytes, certificate_signature = :signature,"
        u" updated_at = :at WHERE agent_id = :agent_id"_s,
        {
            { u":bytes"_s, certificate.bytes },
            { u":signature"_s, certificate.signature },
            { u":at"_s, formatTimestamp(m_clock()) },
            { u":agent_id"_s, fields.agentId },
        });
    if (!updated)
        return updated.error();
    if (updated->numRowsAffected() != 1) {
        return makeError(Reason::NotFound,
                         u"the certificate names agent %1, which is not the identity in the "
                         u"vault %2"_s.arg(fields.agentId, path()));
    }
    Result<SqlQuery> generation = m_database->exec(
        u"record the certificate generation",
        u"INSERT INTO certificate_generations (agent_id, generation) VALUES (:agent_id, :gen)"
        u" ON CONFLICT (agent_id) DO UPDATE SET generation = excluded.generation"
        u" WHERE excluded.generation > generation"_s,
        { { u":agent_id"_s, fields.agentId }, { u":gen"_s, fields.generation } });
    if (!generation)
        return generation.error();
    return transaction.commit(u"store the agent certificate");
}

Result<std::optional<SignedStatement>> Vault::loadCertificate() const
{
    Result<SqlQuery> query =
        m_database->exec(u"read the agent certificate",
                         u"SELECT certificate_bytes, certificate_signature FROM identity"
                         u" WHERE certificate_bytes IS NOT NULL"_s);
    if (!query)
        return query.error();
    if (!query->next())
        return std::optional<SignedStatement>();
    return std::optional<SignedStatement>(
        SignedStatement { query->value(0).toByteArray(), query->value(1).toByteArray() });
}

Result<void> Vault::purgeForRekey(const AgentIdentity &newIdentity)
{
    const SecureBuffer encryptionKey = newIdentity.encryptionKey.pkcs8Der();
    const SecureBuffer identityKey = newIdentity.identityKey.pkcs8Der();
    if (encryptionKey.isEmpty() || identityKey.isEmpty())
        return makeError(Reason::Internal, u"OpenSSL cannot encode the agent's private keys"_s);
    Result<QByteArray> sealedEncryptionKey = m_cipher.seal(
        RowBinding { RowPurpose::EncryptionKey, newIdentity.agentId, 0 }, encryptionKey.view());
    if (!sealedEncryptionKey)
        return sealedEncryptionKey.error();
    Result<QByteArray> sealedIdentityKey = m_cipher.seal(
        RowBinding { RowPurpose::IdentityKey, newIdentity.agentId, 0 }, identityKey.view());
    if (!sealedIdentityKey)
        return sealedIdentityKey.error();

    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"purge the vault for a rekey"); !begun)
        return begun;
    Result<QVariant> agentId =
        m_database->queryValue(u"read the agent id", u"SELECT agent_id FROM identity"_s);
    if (!agentId)
        return agentId.error();
    if (agentId->toString() != newIdentity.agentId) {
        return makeError(Reason::Forbidden,
                         u"a rekey keeps agent_id %1, but the new identity names %2"_s.arg(
                             agentId->toString(), newIdentity.agentId));
    }

    Result<QVariant> purged = m_database->queryValue(u"count the credentials to purge",
                                                     u"SELECT count(*) FROM credentials"_s);
    if (!purged)
        return purged.error();
    if (Result<SqlQuery> deleted =
            m_database->exec(u"purge the credentials", u"DELETE FROM credentials"_s);
        !deleted) {
        return deleted.error();
    }
    Result<SqlQuery> updated =
        m_database->exec(u"replace the agent keys",
                         u"UPDATE identity SET sealed_encryption_key = :encryption_key,"
                         u" sealed_identity_key = :identity_key, certificate_bytes = NULL,"
                         u" certificate_signature = NULL, updated_at = :at"_s,
                         {
                             { u":encryption_key"_s, sealedEncryptionKey.value() },
                             { u":identity_key"_s, sealedIdentityKey.value() },
                             { u":at"_s, formatTimestamp(m_clock()) },
                         });
    if (!updated)
        return updated.error();

    LocalAuditEntry entry;
    entry.event = u"vault_rekeyed"_s;
    entry.severity = AuditSeverity::Info;
    entry.counterpartId = newIdentity.agentId;
    entry.detail =
        u"new encryption and identity keys; %1 credentials purged"_s.arg(purged->toLongLong());
    if (Result<qint64> audited = m_audit->appendInTransaction(entry); !audited)
        return audited.error();
    if (Result<void> committed = transaction.commit(u"purge the vault for a rekey"); !committed)
        return committed;

    logger("agent.vault")
        ->info("rekeyed agent {}: {} credentials purged", newIdentity.agentId.toStdString(),
               purged->toLongLong());
    return {};
}

// ---------------------------------------------------------------------------
// Certificate generations

Result<std::optional<qint64>> Vault::highestGeneration(const QString &agentId) const
{
    Result<QVariant> generation = m_database->queryValue(
        u"read a certificate generation",
        u"SELECT generation FROM certificate_generations WHERE agent_id = :agent_id"_s,
        { { u":agent_id"_s, agentId } });
    if (!generation)
        return generation.error();
    if (!generation->isValid())
        return std::optional<qint64>();
    return std::optional<qint64>(generation->toLongLong());
}

Result<void> Vault::recordGeneration(const QString &agentId, qint64 generation)
{
    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"record a certificate generation"); !begun)
        return begun;
    Result<SqlQuery> recorded = m_database->exec(
        u"record a certificate generation",
        u"INSERT INTO certificate_generations (agent_id, generation) VALUES (:agent_id, :gen)"
        u" ON CONFLICT (agent_id) DO UPDATE SET generation = excluded.generation"
        u" WHERE excluded.generation > generation"_s,
        { { u":agent_id"_s, agentId }, { u":gen"_s, generation } });
    if (!recorded)
        return recorded.error();
    return transaction.commit(u"record a certificate generation");
}

} // namespace sealrelay::agent
