// Creating and opening the vault file: the private file mode, the master key
// check and the schema. The identity rows are in vaultidentity.cpp and the
// credential rows in vaultcredentials.cpp.
#include "vault.h"

#include "ids.h"
#include "logging.h"
#include "vaultdatabase.h"

#include <QFileInfo>
#include <QSqlQuery>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

// Version 1 is the first schema. Version 2 adds the index credentials_name,
// which the lookup of a credential by name uses.
constexpr int kSchemaVersion = 2;

const QString kCreateNameIndex =
    u"CREATE INDEX IF NOT EXISTS credentials_name ON credentials (name)"_s;

// The plaintext of the key check value. It is public: opening it proves the
// master key and reveals nothing.
constexpr QByteArrayView kKeyCheckPlaintext = "sealrelay vault key check v1";

// Creates the file with mode 0600 before SQLite opens it, because SQLite
// would create it with the process umask and gives its -wal and -shm files
// the main file's mode.
Result<void> createPrivateFile(const QString &path)
{
    const QByteArray nativePath = QFile::encodeName(path);
    const int fd = ::open(nativePath.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        const int error = errno;
        return makeError(Reason::IoError,
                         u"cannot create the vault file %1: %2"_s.arg(
                             path, QString::fromLocal8Bit(std::strerror(error))));
    }
    ::close(fd);
    return {};
}

Error wrongMasterKey(const QString &path)
{
    return makeError(
        Reason::InvalidKey,
        u"the vault master key does not match this vault (%1): its sealed key check value does "
        u"not open under the key supplied. Supply the key this vault was created with (systemd "
        u"credential sealrelay-vault-key, the key file or the keychain entry); the vault was not "
        u"changed"_s.arg(path));
}

Error invalidSchemaVersion(const QString &path)
{
    return makeError(Reason::Malformed,
                     u"the vault %1 lacks a valid schema_version in its metadata"_s.arg(path));
}

Error newerSchema(const QString &path, int schemaVersion)
{
    return makeError(
        Reason::Malformed,
        u"the vault %1 has schema version %2, but this build of sealrelay-agent reads schema "
        u"versions up to %3; run the sealrelay-agent release that wrote it, or a newer one. "
        u"The vault was not changed"_s.arg(path, QString::number(schemaVersion),
                                           QString::number(kSchemaVersion)));
}

} // namespace

QString heldStateName(HeldState state)
{
    switch (state) {
    case HeldState::Stored:
        return u"stored"_s;
    case HeldState::Pending:
        return u"pending"_s;
    case HeldState::Tombstone:
        return u"tombstone"_s;
    }
    return {};
}

Vault::Vault(std::unique_ptr<VaultDatabase> database, RowCipher cipher, QString vaultId,
             Clock clock)
    : m_database(std::move(database))
    , m_cipher(std::move(cipher))
    , m_vaultId(std::move(vaultId))
    , m_clock(std::move(clock))
    , m_audit(std::make_unique<LocalAudit>(*m_database, m_clock))
{
}

Vault::~Vault() = default;

VaultBatch::VaultBatch(std::unique_ptr<WriteTransaction> transaction)
    : m_transaction(std::move(transaction))
{
}

VaultBatch::VaultBatch(VaultBatch &&) noexcept = default;
VaultBatch &VaultBatch::operator=(VaultBatch &&) noexcept = default;
VaultBatch::~VaultBatch() = default;

Result<void> VaultBatch::commit()
{
    return m_transaction->commit(u"store a batch of writes");
}

Result<VaultBatch> Vault::beginBatch()
{
    auto transaction = std::make_unique<WriteTransaction>(*m_database);
    if (Result<void> begun = transaction->begin(u"store a batch of writes"); !begun)
        return begun.error();
    return VaultBatch(std::move(transaction));
}

QString Vault::path() const
{
    return m_database->path();
}

QString Vault::connectionName() const
{
    return m_database->connectionName();
}

Result<std::unique_ptr<Vault>> Vault::create(const QString &path, QByteArrayView masterKey,
                                             const VaultOptions &options)
{
    if (QFileInfo::exists(path)) {
        return makeError(Reason::IoError,
                         u"the vault %1 already exists; open it, or move it away to start a "
                         u"new one"_s.arg(path));
    }
    Result<RowCipher> cipher = RowCipher::create(masterKey);
    if (!cipher)
        return cipher.error();
    if (Result<void> created = createPrivateFile(path); !created)
        return created.error();

    Result<std::unique_ptr<VaultDatabase>> database =
        VaultDatabase::open(path, options.busyTimeoutMs);
    if (!database)
        return database.error();
    if (Result<void> wal = database.value()->enableWriteAheadLog(); !wal)
        return wal.error();

    std::unique_ptr<Vault> vault(new Vault(std::move(database).value(), std::move(cipher).value(),
                                           newUuid(), options.clock));
    if (Result<void> schema = vault->createSchema(); !schema)
        return schema.error();
    logger("agent.vault")
        ->info("created vault {} ({})", path.toStdString(), vault->m_vaultId.toStdString());
    return vault;
}

Result<std::unique_ptr<Vault>> Vault::open(const QString &path, QByteArrayView masterKey,
                                           const VaultOptions &options)
{
    if (!QFileInfo::exists(path)) {
        return makeError(Reason::NotFound,
                         u"the vault %1 does not exist; run `sealrelay-agent init` to create "
                         u"it"_s.arg(path));
    }
    Result<RowCipher> cipher = RowCipher::create(masterKey);
    if (!cipher)
        return cipher.error();

    // The key is checked before any connection that could write exists, so
    // a wrong key changes no byte of the file.
    Result<VaultMeta> meta = checkMasterKey(path, cipher.value(), options);
    if (!meta)
        return meta.error();

    Result<std::unique_ptr<VaultDatabase>> database =
        VaultDatabase::open(path, options.busyTimeoutMs);
    if (!database)
        return database.error();
    if (Result<void> wal = database.value()->enableWriteAheadLog(); !wal)
        return wal.error();
    std::unique_ptr<Vault> vault(new Vault(std::move(database).value(), std::move(cipher).value(),
                                           meta->vaultId, options.clock));

    if (meta->schemaVersion < kSchemaVersion) {
        if (Result<void> upgraded = vault->upgradeSchema(); !upgraded)
            return upgraded.error();
    }
    return vault;
}

Result<Vault::VaultMeta> Vault::checkMasterKey(const QString &path, const RowCipher &cipher,
                                               const VaultOptions &options)
{
    Result<std::unique_ptr<VaultDatabase>> database =
        VaultDatabase::open(path, options.busyTimeoutMs, VaultDatabase::Access::ReadOnly);
    if (!database)
        return database.error();
    VaultDatabase &db = *database.value();

    Result<QVariant> tableCount = db.queryValue(
        u"look for the vault tables",
        u"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'vault_meta'"_s);
    if (!tableCount)
        return tableCount.error();
    if (tableCount->toInt() != 1) {
        return makeError(Reason::Malformed,
                         u"%1 is not a sealrelay vault: it has no vault_meta table"_s.arg(path));
    }

    Result<SqlQuery> meta =
        db.exec(u"read the vault metadata", u"SELECT key, value FROM vault_meta"_s);
    if (!meta)
        return meta.error();
    QString vaultId;
    QByteArray keyCheck;
    int schemaVersion = 0;
    while (meta->next()) {
        const QString key = meta->value(0).toString();
        if (key == "vault_id"_L1)
            vaultId = QString::fromUtf8(meta->value(1).toByteArray());
        else if (key == "key_check"_L1)
            keyCheck = meta->value(1).toByteArray();
        else if (key == "schema_version"_L1)
            schemaVersion = meta->value(1).toByteArray().toInt();
    }
    if (schemaVersion > kSchemaVersion)
        return newerSchema(path, schemaVersion);
    if (schemaVersion < 1)
        return invalidSchemaVersion(path);
    if (!isCanonicalUuid(vaultId) || keyCheck.isEmpty()) {
        return makeError(Reason::Malformed,
                         u"the vault %1 lacks its vault_id or key_check metadata"_s.arg(path));
    }

    Result<SecureBuffer> opened =
        cipher.open(RowBinding { RowPurpose::KeyCheck, vaultId, 0 }, keyCheck);
    if (!opened || opened->view() != kKeyCheckPlaintext)
        return wrongMasterKey(path);
    return VaultMeta { vaultId, schemaVersion };
}

Result<void> Vault::createSchema()
{
    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"create the vault schema"); !begun)
        return begun;

    const QStringList statements = {
        u"CREATE TABLE vault_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)"_s,
        // One row. org_id is "" until the backend names the org.
        u"CREATE TABLE identity ("
        u" singleton INTEGER PRIMARY KEY CHECK (singleton = 1),"
        u" agent_id TEXT NOT NULL,"
        u" org_id TEXT NOT NULL,"
        u" sealed_encryption_key BLOB NOT NULL,"
        u" sealed_identity_key BLOB NOT NULL,"
        u" certificate_bytes BLOB,"
        u" certificate_signature BLOB,"
        u" updated_at TEXT NOT NULL)"_s,
        u"CREATE TABLE certificate_generations ("
        u" agent_id TEXT PRIMARY KEY,"
        u" generation INTEGER NOT NULL)"_s,
        // sealed_payload is present exactly when the state is 'stored', and
        // it is the payload of `version`.
        u"CREATE TABLE credentials ("
        u" credential_id TEXT PRIMARY KEY,"
        u" version INTEGER NOT NULL,"
        u" revision INTEGER NOT NULL,"
        u" name TEXT NOT NULL,"
        u" commitment BLOB NOT NULL,"
        u" statement_bytes BLOB NOT NULL,"
        u" statement_signature BLOB NOT NULL,"
        u" state TEXT NOT NULL CHECK (state IN ('stored', 'pending', 'tombstone')),"
        u" sealed_payload BLOB,"
        u" updated_at TEXT NOT NULL,"
        u" CHECK ((state = 'stored') = (sealed_payload IS NOT NULL)))"_s,
        kCreateNameIndex,
    };
    for (const QString &statement : statements) {
        if (Result<SqlQuery> created = m_database->exec(u"create the vault schema", statement);
            !created) {
            return created.error();
        }
    }
    if (Result<void> audit = LocalAudit::createSchema(*m_database); !audit)
        return audit;

    Result<QByteArray> keyCheck =
        m_cipher.seal(RowBinding { RowPurpose::KeyCheck, m_vaultId, 0 }, kKeyCheckPlaintext);
    if (!keyCheck)
        return keyCheck.error();
    const QList<std::pair<QString, QByteArray>> meta = {
        { u"schema_version"_s, QByteArray::number(kSchemaVersion) },
        { u"vault_id"_s, m_vaultId.toUtf8() },
        { u"key_check"_s, keyCheck.value() },
        { u"created_at"_s, formatTimestamp(m_clock()).toUtf8() },
    };
    for (const auto &[key, value] : meta) {
        Result<SqlQuery> inserted =
            m_database->exec(u"write the vault metadata",
                             u"INSERT INTO vault_meta (key, value) VALUES (:key, :value)"_s,
                             { { u":key"_s, key }, { u":value"_s, value } });
        if (!inserted)
            return inserted.error();
    }
    return transaction.commit(u"create the vault schema");
}

Result<void> Vault::upgradeSchema()
{
    WriteTransaction transaction(*m_database);
    if (Result<void> begun = transaction.begin(u"upgrade the vault schema"); !begun)
        return begun;

    // Another process may have upgraded the file since checkMasterKey() read
    // the version, so it is read again under the write lock.
    Result<QVariant> stored =
        m_database->queryValue(u"read the vault schema version",
                               u"SELECT value FROM vault_meta WHERE key = 'schema_version'"_s);
    if (!stored)
        return stored.error();
    const int version = stored->toByteArray().toInt();
    if (version > kSchemaVersion)
        return newerSchema(path(), version);
    if (version < 1)
        return invalidSchemaVersion(path());
    if (version == kSchemaVersion)
        return {};

    if (version < 2) {
        if (Result<SqlQuery> indexed =
                m_database->exec(u"add the index of credential names", kCreateNameIndex);
            !indexed) {
            return indexed.error();
        }
    }
    Result<SqlQuery> written =
        m_database->exec(u"write the vault schema version",
                         u"UPDATE vault_meta SET value = :value WHERE key = 'schema_version'"_s,
                         { { u":value"_s, QByteArray::number(kSchemaVersion) } });
    if (!written)
        return written.error();
    if (Result<void> committed = transaction.commit(u"upgrade the vault schema"); !committed)
        return committed;

    logger("agent.vault")
        ->info("upgraded the vault {} from schema version {} to {}", path().toStdString(), version,
               kSchemaVersion);
    return {};
}

} // namespace sealrelay::agent
