// A named Qt SQL connection with the session settings of its engine, the
// few statements that differ between SQLite and PostgreSQL, and helpers that
// run queries and turn SQL errors into Reason::IoError.
#pragma once

#include "databaseurl.h"
#include "durability.h"
#include "error.h"
#include "sqlstatementcache.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QString>
#include <QVariant>

#include <memory>
#include <utility>

namespace sealrelay::backend {

// Named values for the placeholders of one statement, e.g. {u":org_id"_s, id}.
using SqlBindings = QList<std::pair<QString, QVariant>>;

// One QSqlDatabase connection, removed when this object is destroyed. Qt SQL
// connections may only be used from the thread that opened them.
class SqlConnection {
public:
    // Opens (creating when missing) a SQLite file and sets WAL, foreign_keys,
    // busy_timeout, recursive_triggers and synchronous=FULL on the connection.
    static Result<std::unique_ptr<SqlConnection>> openSqlite(const QString &path,
                                                             int busyTimeoutMs);
    static Result<std::unique_ptr<SqlConnection>> openPostgres(const PostgresUrl &url);

    ~SqlConnection();
    SqlConnection(const SqlConnection &) = delete;
    SqlConnection &operator=(const SqlConnection &) = delete;

    SqlEngine engine() const { return m_engine; }
    // Qt connection name, for QSqlDatabase::database() in diagnostics and tests.
    const QString &name() const { return m_name; }
    QSqlDatabase database() const;

    // Binds `bindings` to `sql` and executes it. The statement is prepared
    // once and kept in the connection's statement cache, except on
    // PostgreSQL a statement without bindings, which runs unprepared. A
    // failure is Reason::IoError naming `purpose` and the driver's primary
    // message.
    Result<SqlQuery> exec(QStringView purpose, const QString &sql,
                          const SqlBindings &bindings = {});

    // ---- Engine differences ------------------------------------------------

    // BEGIN IMMEDIATE on SQLite, so a read-then-write transaction takes the
    // write lock at its start instead of failing with SQLITE_BUSY later.
    QString beginWriteStatement() const;
    // Serialises audit appends of one org (:org_id); empty on SQLite, where
    // BEGIN IMMEDIATE already serialises every writer.
    QString auditAppendLockStatement() const;
    // SQL expression whose value is the id the next audit row takes.
    QString nextAuditIdExpression() const;
    // True when the last failed exec() broke a unique or primary key
    // constraint.
    bool lastErrorWasUniqueViolation() const;

    // Open SqlTransactions on this connection; the outermost one owns the
    // database transaction and the inner ones are savepoints in it.
    int transactionDepth() const { return m_transactionDepth; }

private:
    friend class SqlTransaction;

    SqlConnection(SqlEngine engine, QString name);

    Result<void> applySqlitePragmas(int busyTimeoutMs);
    // Sets SQLite's synchronous to NORMAL (lowered) or FULL, outside a
    // transaction.
    Result<void> setSqliteSynchronous(bool lowered);
    // Sets SQLite's synchronous back to FULL when it is lowered.
    void restoreSynchronous();

    SqlEngine m_engine;
    QString m_name;
    QSqlDatabase m_database;
    SqlStatementCache m_statements;
    QSqlError m_lastError;
    int m_transactionDepth = 0;
    // True while SQLite's synchronous is NORMAL for a transaction whose
    // durability is WithNextDurableCommit.
    bool m_synchronousLowered = false;
};

// A write transaction that rolls back unless committed. Inside another
// SqlTransaction of the same connection it is a savepoint: its commit keeps
// its changes in the outer transaction, its rollback undoes only them, and
// nothing is durable before the outermost commit, whose durability decides.
class SqlTransaction {
public:
    explicit SqlTransaction(SqlConnection &connection,
                            Durability durability = Durability::OnCommit)
        : m_connection(connection)
        , m_durability(durability)
    {
    }
    ~SqlTransaction();
    SqlTransaction(const SqlTransaction &) = delete;
    SqlTransaction &operator=(const SqlTransaction &) = delete;

    Result<void> begin(QStringView purpose);
    Result<void> commit(QStringView purpose);
    void rollback();

private:
    SqlConnection &m_connection;
    Durability m_durability;
    bool m_open = false;
    QString m_savepoint; // empty for the outermost transaction
};

// The driver's primary error line with its code; detail lines, which may
// quote row values, are dropped.
QString sqlErrorSummary(const QSqlError &error);

} // namespace sealrelay::backend
