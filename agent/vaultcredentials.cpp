// The vault's credential rows: reading them, the compare-and-set writes of
// statements and payloads, and opening a stored payload.
#include "ids.h"
#include "statementorder.h"
#include "vault.h"
#include "vaultdatabase.h"

#include <QSqlQuery>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

const QString kSelectCredential =
    u"SELECT credential_id, version, revision, name, commitment, statement_bytes,"
    u" statement_signature, state, updated_at FROM credentials"_s;

std::optional<HeldState> heldStateFromName(const QString &name)
{
    if (name == "stored"_L1)
        return HeldState::Stored;
    if (name == "pending"_L1)
        return HeldState::Pending;
    if (name == "tombstone"_L1)
        return HeldState::Tombstone;
    return std::nullopt;
}

// Reads the current row of a query over kSelectCredential.
Result<HeldCredential> readHeldCredential(const QSqlQuery &query)
{
    HeldCredential held;
    held.credentialId = query.value(0).toString();
    held.version = query.value(1).toLongLong();
    held.revision = query.value(2).toLongLong();
    held.name = query.value(3).toString();
    held.commitment = query.value(4).toByteArray();
    held.statement = SignedStatement { query.value(5).toByteArray(), query.value(6).toByteArray() };
    const std::optional<HeldState> state = heldStateFromName(query.value(7).toString());
    if (!state) {
        return makeError(Reason::Malformed,
                         u"credential %1 has an unknown vault state \"%2\""_s.arg(
                             held.credentialId, query.value(7).toString()));
    }
    held.state = *state;
    Result<QDateTime> updatedAt = parseTimestamp(query.value(8).toString(), u"updated_at");
    if (updatedAt)
        held.updatedAt = updatedAt.value();
    return held;
}

// Reads the first row of a query over kSelectCredential, if it has one.
Result<std::optional<HeldCredential>> firstHeldCredential(Result<SqlQuery> &query)
{
    if (!query)
        return query.error();
    if (!query->next())
        return std::optional<HeldCredential>();
    Result<HeldCredential> held = readHeldCredential(query.value());
    if (!held)
        return held.error();
    return std::optional<HeldCredential>(std::move(held).value());
}

RowBinding payloadBinding(const QString &credentialId, qint64 version)
{
    return RowBinding { RowPurpose::CredentialPayload, credentialId, version };
}

} // namespace

Result<std::optional<HeldCredential>> Vault::findCredential(const QString &credentialId) const
{
    return findCredentialInTransaction(credentialId);
}

Result<std::optional<HeldCredential>>
Vault::findCredentialInTransaction(const QString &credentialId) const
{
    Result<SqlQuery> query =
        m_database->exec(u"read a credential", kSelectCredential + u" WHERE credential_id = :id"_s,
                         { { u":id"_s, credentialId } });
    return firstHeldCredential(query);
}

Result<std::optional<HeldCredential>> Vault::findCredentialByNameOrId(const QString &nameOrId) const
{
    Result<std::optional<HeldCredential>> byId = findCredentialInTransaction(nameOrId);
    if (!byId || byId->has_value())
        return byId;

    // The index credentials_name finds the rows of the name.
    Result<SqlQuery> query =
        m_database->exec(u"find a credential by name",
                         kSelectCredential
                             + u" WHERE name = :name ORDER BY CASE state WHEN 'stored' THEN 0"
                               u" WHEN 'pending' THEN 1 ELSE 2 END, credential_id LIMIT 1"_s,
                         { { u":name"_s, nameOrId } });
    return firstHeldCredential(query);
}

Result<QList<HeldCredential>> Vault::credentials() const
{
    Result<SqlQuery> query =
        m_database->exec(u"list the credentials", kSelectCredential + u" ORDER BY credential_id"_s);
    if (!query)
        return query.error();
    QList<HeldCredential> all;
    while (query->next()) {
        Result<HeldCredential> held = readHeldCredential(query.value());
        if (!held)
            return held.error();
        all.append(std::move(held).value());
    }
    return all;
}

Result<StatementWriteResult> Vault::storeCredential(const SignedStatement &statement,
                                                    const CredentialStatement &fields,
                                                    QByteArrayView payload,
                                                    const LocalAuditEntry &audit)
{
    return writeStatement(statement, fields, payload, false, audit);
}

Result<StatementWriteResult> Vault::storeStatement(const SignedStatement &statement,
                                                   const CredentialStatement &fields, bool purge,
                                                   const LocalAuditEntry &audit)
{
    return writeStatement(statement, fields, std::nullopt, purge, audit);
}

Result<StatementWriteResult> Vault::writeStatement(const SignedStatement &statement,
                                                   const CredentialStatement &fields,
                                                   std::optional<QByteArrayView> payload,
                                                   bool purge, const LocalAuditEntry &audit)
{
    // Sealing happens before the write lock is taken, to keep it short.
    std::optional<QByteArray> sealedPayload;
    if (payload) {
        Result<QByteArray> sealed =
            m_cipher.seal(payloadBinding(fields.credentialId, fields.version), *payload);
        if (!sealed)
            return sealed.error();
        sealedPayload = std::move(sealed).value();
    }

    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"store a credential"); !begun)
        return begun.error();

    // The compare-and-set: another connection may have written this
    // credential since the caller's checks read it.
    Result<std::optional<HeldCredential>> held = findCredentialInTransaction(fields.credentialId);
    if (!held)
        return held.error();
    if (held.value()) {
        const HeldCredential &current = *held.value();
        const StatementOrder order =
            compareStatements({ current.version, current.revision, current.statement.bytes },
                              { fields.version, fields.revision, statement.bytes });
        if (order == StatementOrder::Older)
            return StatementWriteResult { VaultWrite::Superseded, current.state };
        if (order == StatementOrder::Conflicting)
            return StatementWriteResult { VaultWrite::Equivocation, current.state };

        // A statement for the held version and commitment keeps the payload.
        const bool keepsPayload = !payload && !purge && current.state == HeldState::Stored
            && current.version == fields.version && current.commitment == fields.commitment;
        if (keepsPayload) {
            Result<QVariant> kept = m_database->queryValue(
                u"read a sealed payload",
                u"SELECT sealed_payload FROM credentials WHERE credential_id = :id"_s,
                { { u":id"_s, fields.credentialId } });
            if (!kept)
                return kept.error();
            sealedPayload = kept->toByteArray();
        }
    }

    HeldState state = HeldState::Pending;
    if (sealedPayload)
        state = HeldState::Stored;
    else if (purge)
        state = HeldState::Tombstone;

    Result<SqlQuery> written = m_database->exec(
        u"store a credential",
        u"INSERT INTO credentials (credential_id, version, revision, name, commitment,"
        u" statement_bytes, statement_signature, state, sealed_payload, updated_at)"
        u" VALUES (:id, :version, :revision, :name, :commitment, :bytes, :signature, :state,"
        u" :payload, :at)"
        u" ON CONFLICT (credential_id) DO UPDATE SET version = excluded.version,"
        u" revision = excluded.revision, name = excluded.name, commitment = excluded.commitment,"
        u" statement_bytes = excluded.statement_bytes,"
        u" statement_signature = excluded.statement_signature, state = excluded.state,"
        u" sealed_payload = excluded.sealed_payload, updated_at = excluded.updated_at"_s,
        {
            { u":id"_s, fields.credentialId },
            { u":version"_s, fields.version },
            { u":revision"_s, fields.revision },
            { u":name"_s, fields.name },
            { u":commitment"_s, fields.commitment },
            { u":bytes"_s, statement.bytes },
            { u":signature"_s, statement.signature },
            { u":state"_s, heldStateName(state) },
            { u":payload"_s,
              sealedPayload ? QVariant(*sealedPayload)
                            : QVariant(QMetaType::fromType<QByteArray>()) },
            { u":at"_s, formatTimestamp(m_clock()) },
        });
    if (!written)
        return written.error();

    if (Result<qint64> audited = m_audit->appendInTransaction(audit); !audited)
        return audited.error();
    if (Result<void> committed = transaction.commit(u"store a credential"); !committed)
        return committed.error();
    return StatementWriteResult { VaultWrite::Written, state };
}

Result<SecureBuffer> Vault::loadPayload(const QString &credentialId) const
{
    Result<SqlQuery> query = m_database->exec(
        u"read a sealed payload",
        u"SELECT version, state, sealed_payload FROM credentials WHERE credential_id = :id"_s,
        { { u":id"_s, credentialId } });
    if (!query)
        return query.error();
    if (!query->next() || query->value(1).toString() != "stored"_L1 || query->value(2).isNull()) {
        return makeError(Reason::NotFound,
                         u"the vault holds no payload for credential %1"_s.arg(credentialId));
    }
    return m_cipher.open(payloadBinding(credentialId, query->value(0).toLongLong()),
                         query->value(2).toByteArray());
}

} // namespace sealrelay::agent
