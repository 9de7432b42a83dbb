// The vault's SQLite connection: its own Qt SQL connection name, the
// durability settings (WAL, synchronous=FULL), statements with errors turned
// into Reason::IoError, and write transactions that start with BEGIN
// IMMEDIATE and nest as savepoints.
#pragma once

#include "error.h"
#include "sqlstatementcache.h"
#include "walsync.h"

#include <QList>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <QTimer>
#include <QVariant>

#include <chrono>
#include <memory>
#include <utility>

namespace sealrelay::agent {

// Named values for the placeholders of one statement, e.g. {u":id"_s, id}.
using SqlBindings = QList<std::pair<QString, QVariant>>;

// When the writes of a committed transaction are on disk.
enum class CommitDurability {
    // The commit returns once they survive a power loss.
    OnCommit,
    // The commit returns at once, and a sync of the write-ahead log in the
    // background puts them on disk within kDeferredSyncDelay. It suits
    // records that nothing relies on before then, such as the audit row of
    // a rewrap.
    WithinSyncDelay,
};

// Maximum time a WithinSyncDelay commit waits for its background sync.
inline constexpr std::chrono::milliseconds kDeferredSyncDelay { 100 };

// One SQLite connection, closed and removed when destroyed. Qt SQL allows a
// connection only on the thread that opened it, so a VaultDatabase belongs
// to one thread.
class VaultDatabase {
public:
    enum class Access { ReadWrite, ReadOnly };

    // Opens the SQLite file at `path` (ReadWrite creates it when missing) and
    // sets busy_timeout, synchronous=FULL, secure_delete and
    // recursive_triggers on the connection, none of which writes to the file.
    // A ReadOnly connection never writes the file, not even the checkpoint
    // that SQLite runs when the last connection to a WAL database closes.
    static Result<std::unique_ptr<VaultDatabase>> open(const QString &path, int busyTimeoutMs,
                                                       Access access = Access::ReadWrite);

    ~VaultDatabase();
    VaultDatabase(const VaultDatabase &) = delete;
    VaultDatabase &operator=(const VaultDatabase &) = delete;

    const QString &path() const { return m_path; }
    const QString &connectionName() const { return m_connectionName; }
    QSqlDatabase database() const;

    // Switches the file to WAL, which stays set in the file, and fails when
    // SQLite keeps another journal mode (a file system without shared memory).
    Result<void> enableWriteAheadLog();

    // Binds `bindings` to `sql` and runs it. The statement is prepared once
    // and kept in the connection's statement cache. A failure is
    // Reason::IoError naming `purpose` and the driver's message.
    Result<SqlQuery> exec(QStringView purpose, const QString &sql,
                          const SqlBindings &bindings = {});

    // Runs a query that returns one row and returns its first column, or an
    // invalid QVariant when it returns no row.
    Result<QVariant> queryValue(QStringView purpose, const QString &sql,
                                const SqlBindings &bindings = {});

private:
    friend class WriteTransaction;

    VaultDatabase(QString path, QString connectionName);

    // Sets synchronous to NORMAL for a WithinSyncDelay transaction, or back
    // to FULL; outside a transaction, where SQLite allows the change.
    Result<void> setSynchronous(bool full);
    // Starts the timer that syncs the write-ahead log within
    // kDeferredSyncDelay, unless it runs already.
    void scheduleSync();

    QString m_path;
    QString m_connectionName;
    QSqlDatabase m_database;
    SqlStatementCache m_statements;
    // Write transactions open on this connection, the outermost included.
    int m_transactionDepth = 0;
    // Created at the first WithinSyncDelay commit.
    std::unique_ptr<WalSync> m_walSync;
    std::unique_ptr<QTimer> m_syncTimer;
    // A statement failed while a transaction was open. SQLite may then have
    // rolled the whole transaction back, and a later SAVEPOINT would start a
    // new one, so no savepoint begins and the outermost transaction does not
    // commit until it has ended.
    bool m_transactionFailed = false;
};

// A write transaction that takes SQLite's write lock at BEGIN IMMEDIATE, so
// no other connection writes between a read and a write inside it. It rolls
// back unless commit() succeeded. One begun while another is open on the
// same connection is a savepoint inside it: its commit() releases the
// savepoint, its rollback undoes only its own writes, and nothing reaches
// the disk before the outermost transaction commits. After any failed
// statement inside the outermost transaction, begin() and commit() fail
// until it is rolled back.
class WriteTransaction {
public:
    explicit WriteTransaction(VaultDatabase &database,
                              CommitDurability durability = CommitDurability::OnCommit)
        : m_database(database)
        , m_durability(durability)
    {
    }
    ~WriteTransaction();
    WriteTransaction(const WriteTransaction &) = delete;
    WriteTransaction &operator=(const WriteTransaction &) = delete;

    Result<void> begin(QStringView purpose);
    Result<void> commit(QStringView purpose);
    void rollback();

private:
    // Marks the transaction ended, committed or rolled back.
    void close();
    // Sets synchronous back to FULL after a WithinSyncDelay transaction.
    void restoreSynchronous();

    VaultDatabase &m_database;
    // Applies to the outermost transaction only.
    CommitDurability m_durability;
    bool m_synchronousLowered = false;
    bool m_open = false;
    // 0 for the outermost transaction, else the savepoint's nesting level.
    int m_level = 0;
};

} // namespace sealrelay::agent
