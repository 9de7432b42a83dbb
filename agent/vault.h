// The agent's vault: one SQLite file with the agent's identity, its
// certificate, the highest certificate generation seen per agent, the
// credentials it stores and the local audit log. Private keys and credential
// payloads are sealed with AES-256-GCM under the 32-byte vault master key
// (see rowcipher.h). Statements, ids and generations are public and stored
// as they are.
#pragma once

#include "agentidentity.h"
#include "clock.h"
#include "error.h"
#include "localaudit.h"
#include "rowcipher.h"
#include "securebuffer.h"
#include "statement.h"

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QString>

#include <memory>
#include <optional>

namespace sealrelay::agent {

class VaultDatabase;
class WriteTransaction;

// A write transaction that every write of one vault joins until it commits
// or is destroyed (see Vault::beginBatch()). Destroying it uncommitted rolls
// back every write made since it began.
class VaultBatch {
public:
    VaultBatch(VaultBatch &&) noexcept;
    VaultBatch &operator=(VaultBatch &&) noexcept;
    ~VaultBatch();

    // Makes every write of the batch durable with one disk sync. It fails,
    // and nothing is kept, when any statement inside the batch failed.
    Result<void> commit();

private:
    friend class Vault;
    explicit VaultBatch(std::unique_ptr<WriteTransaction> transaction);

    std::unique_ptr<WriteTransaction> m_transaction;
};

struct VaultOptions {
    int busyTimeoutMs = 5000; // how long a write waits for another connection's lock
    Clock clock = systemClock();
};

// State of one credential in the vault.
enum class HeldState {
    Stored, // the statement and the payload of its version
    Pending, // a newer statement whose payload has not arrived; nothing to serve
    Tombstone, // deleted or out of scope: the statement is kept, the secret purged
};

QString heldStateName(HeldState state);

struct HeldCredential {
    QString credentialId;
    qint64 version = 0;
    qint64 revision = 0;
    QString name;
    QByteArray commitment; // 32 bytes, from the statement
    SignedStatement statement; // sealrelay/credential/v1, bytes as received
    HeldState state = HeldState::Stored;
    QDateTime updatedAt;
};

// The result of a compare-and-set write of a statement.
enum class VaultWrite {
    Written,
    Superseded, // the vault already stores a higher (version, revision)
    Equivocation, // the vault stores the same (version, revision) with other bytes
};

struct StatementWriteResult {
    VaultWrite outcome = VaultWrite::Written;
    HeldState state = HeldState::Stored; // the credential's state after the write
};

class Vault {
public:
    // Creates a new vault file at `path`; an existing file is left alone and
    // reported as an error.
    static Result<std::unique_ptr<Vault>> create(const QString &path, QByteArrayView masterKey,
                                                 const VaultOptions &options = {});

    // Opens an existing vault. The master key is checked against the sealed
    // check value before anything is written, so a wrong key changes no byte
    // of the file. A vault of an older schema version is then upgraded in
    // one write transaction. A newer schema version than this build reads is
    // rejected with Reason::Malformed, and the file is left unchanged.
    static Result<std::unique_ptr<Vault>> open(const QString &path, QByteArrayView masterKey,
                                               const VaultOptions &options = {});

    ~Vault();
    Vault(const Vault &) = delete;
    Vault &operator=(const Vault &) = delete;

    QString path() const;
    // Random UUID chosen at create().
    const QString &vaultId() const { return m_vaultId; }
    // Qt SQL connection name of this vault, for diagnostics.
    QString connectionName() const;
    LocalAudit &audit() { return *m_audit; }

    // Takes the vault's write lock and opens a transaction that the writes
    // below join, each in a savepoint of its own, until the batch ends. No
    // write inside it is durable before VaultBatch::commit() returns, so a
    // caller reports a write as done only after that.
    Result<VaultBatch> beginBatch();

    // ---- Identity ----------------------------------------------------------

    // Stores the identity made at `init`; fails when the vault has one.
    Result<void> storeIdentity(const AgentIdentity &identity);
    // Returns std::nullopt before storeIdentity().
    Result<std::optional<AgentIdentity>> loadIdentity() const;
    // Records the org the backend's welcome names. An agent stays in the org
    // it first joined, so another org id is Reason::Forbidden.
    Result<void> storeOrgId(const QString &orgId);
    // Stores the agent's current certificate, which the caller has verified,
    // and records its generation.
    Result<void> storeCertificate(const SignedStatement &certificate,
                                  const AgentCertificate &fields);
    Result<std::optional<SignedStatement>> loadCertificate() const;
    // Replaces the keys for `sealrelay-agent rekey`: deletes every credential,
    // drops the certificate of the old keys and keeps agent_id, org_id, the
    // generations seen and the local audit log. `newIdentity` must have the
    // stored agent_id.
    Result<void> purgeForRekey(const AgentIdentity &newIdentity);

    // ---- Certificate generations -------------------------------------------

    Result<std::optional<qint64>> highestGeneration(const QString &agentId) const;
    // Raises the recorded generation of `agentId` to `generation`; a lower or
    // equal one changes nothing.
    Result<void> recordGeneration(const QString &agentId, qint64 generation);

    // ---- Credentials -------------------------------------------------------

    Result<std::optional<HeldCredential>> findCredential(const QString &credentialId) const;
    // Finds the credential that a local `get` names: the row whose
    // credential_id is `nameOrId`, else a row with that name. Among several
    // rows of one name, a Stored row comes before a Pending one and a Pending
    // one before a Tombstone, and then the lowest credential_id wins. Both
    // lookups use an index instead of reading every row.
    Result<std::optional<HeldCredential>> findCredentialByNameOrId(const QString &nameOrId) const;
    Result<QList<HeldCredential>> credentials() const;

    // Stores a verified statement with its payload. Inside the write
    // transaction the (version, revision) is compared with the one held again
    // (compare-and-set), so a concurrent writer that stored a newer statement
    // wins and this call returns Superseded without writing. `audit` is
    // appended in the same transaction when the write happens.
    Result<StatementWriteResult> storeCredential(const SignedStatement &statement,
                                                 const CredentialStatement &fields,
                                                 QByteArrayView payload,
                                                 const LocalAuditEntry &audit);

    // Stores a verified statement without a payload (statement_update), with
    // the same compare-and-set. With `purge` the secret is removed and a
    // tombstone kept. Otherwise the held payload stays only when it is of the
    // statement's version and commitment, and the credential becomes Pending
    // when it is not.
    Result<StatementWriteResult> storeStatement(const SignedStatement &statement,
                                                const CredentialStatement &fields, bool purge,
                                                const LocalAuditEntry &audit);

    // Opens the payload of a Stored credential. A payload moved from another
    // row or version does not open (Reason::DecryptFailed); a credential that
    // is not Stored is Reason::NotFound.
    Result<SecureBuffer> loadPayload(const QString &credentialId) const;

private:
    Vault(std::unique_ptr<VaultDatabase> database, RowCipher cipher, QString vaultId, Clock clock);

    struct VaultMeta {
        QString vaultId;
        int schemaVersion = 0;
    };

    // Reads the vault id and schema version and checks the master key on a
    // read-only connection.
    static Result<VaultMeta> checkMasterKey(const QString &path, const RowCipher &cipher,
                                            const VaultOptions &options);
    Result<void> createSchema();
    // Brings a vault of an older schema version to the version this build
    // creates.
    Result<void> upgradeSchema();
    Result<std::optional<HeldCredential>>
    findCredentialInTransaction(const QString &credentialId) const;
    Result<StatementWriteResult> writeStatement(const SignedStatement &statement,
                                                const CredentialStatement &fields,
                                                std::optional<QByteArrayView> payload, bool purge,
                                                const LocalAuditEntry &audit);

    std::unique_ptr<VaultDatabase> m_database;
    RowCipher m_cipher;
    QString m_vaultId;
    Clock m_clock;
    std::unique_ptr<LocalAudit> m_audit;
};

} // namespace sealrelay::agent
