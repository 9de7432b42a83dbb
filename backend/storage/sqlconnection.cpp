// Opening SQLite and PostgreSQL connections, running statements and the SQL
// that differs between the two engines.
#include "sqlconnection.h"

#include "ids.h"

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QSqlDriver>
#include <QSqlError>
#include <QThread>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kSqliteDriver = u"QSQLITE"_s;
const QString kPostgresDriver = u"QPSQL"_s;

// First key of PostgreSQL's two-key advisory locks for audit appends; the
// second key is hashtext(org_id). The value only has to differ from the keys
// of other advisory locks taken on the same database.
constexpr int kAuditLockClass = 0x5ea1a0d1;

QString newConnectionName()
{
    return u"sealrelay.storage."_s + newUuid();
}

Error driverMissing(const QString &driver, const QString &package)
{
    return makeError(Reason::IoError,
                     u"the Qt SQL driver %1 is not available; install the Debian package %2"_s.arg(
                         driver, package));
}

// Qt SQL binds a null QString or QByteArray as NULL. A field that contains
// one is empty, not missing, so it is bound as an empty value. NULL comes
// only from a QVariant without a value (see sqlvalues.h).
QVariant bindableValue(const QVariant &value)
{
    if (value.metaType() == QMetaType::fromType<QString>() && value.toString().isNull()) {
        return QVariant(QString(u""_s));
    }
    if (value.metaType() == QMetaType::fromType<QByteArray>() && value.toByteArray().isNull()) {
        return QVariant(QByteArray(""));
    }
    return value;
}

} // namespace

QString sqlErrorSummary(const QSqlError &error)
{
    QString text = error.databaseText();
    if (text.isEmpty()) {
        text = error.driverText();
    }
    text = text.section(u'\n', 0, 0).trimmed();
    if (!error.nativeErrorCode().isEmpty()) {
        text += u" (code %1)"_s.arg(error.nativeErrorCode());
    }
    return text;
}

SqlConnection::SqlConnection(SqlEngine engine, QString name)
    : m_engine(engine)
    , m_name(std::move(name))
{
}

SqlConnection::~SqlConnection()
{
    m_statements.clear();
    if (m_database.isOpen()) {
        m_database.close();
    }
    m_database = QSqlDatabase();
    QSqlDatabase::removeDatabase(m_name);
}

QSqlDatabase SqlConnection::database() const
{
    return m_database;
}

Result<std::unique_ptr<SqlConnection>> SqlConnection::openSqlite(const QString &path,
                                                                 int busyTimeoutMs)
{
    if (!QSqlDatabase::isDriverAvailable(kSqliteDriver)) {
        return driverMissing(kSqliteDriver, u"libqt6sql6-sqlite"_s);
    }

    // SQLite creates the -wal and -shm files with the mode of the database
    // file, so a new database file made 0600 keeps all three owner-only.
    if (path != u":memory:"_s && !path.startsWith(u"file:"_s) && !QFileInfo::exists(path)) {
        const int fd = ::open(QFile::encodeName(path).constData(),
                              O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            return makeError(Reason::IoError,
                             u"could not create the SQLite database %1: %2; check that its "
                             "folder exists and is writable"_s.arg(
                                 path, QString::fromLocal8Bit(std::strerror(errno))));
        }
        if (fd >= 0) {
            ::close(fd);
        }
    }

    std::unique_ptr<SqlConnection> connection(
        new SqlConnection(SqlEngine::Sqlite, newConnectionName()));
    {
        QSqlDatabase &db = connection->m_database;
        db = QSqlDatabase::addDatabase(kSqliteDriver, connection->m_name);
        db.setDatabaseName(path);
        if (!db.open()) {
            return makeError(Reason::IoError,
                             u"could not open the SQLite database %1: %2"_s.arg(
                                 path, sqlErrorSummary(db.lastError())));
        }
    }

    if (auto applied = connection->applySqlitePragmas(busyTimeoutMs); !applied) {
        return applied.error();
    }
    return connection;
}

Result<void> SqlConnection::applySqlitePragmas(int busyTimeoutMs)
{
    // busy_timeout comes first so that switching to WAL waits for other
    // connections instead of failing.
    const QList<std::pair<QString, QString>> pragmas = {
        { u"busy_timeout"_s, QString::number(busyTimeoutMs) },
        { u"journal_mode"_s, u"WAL"_s },
        { u"foreign_keys"_s, u"ON"_s },
        { u"recursive_triggers"_s, u"ON"_s },
        { u"synchronous"_s, u"FULL"_s },
    };
    for (const auto &[pragma, value] : pragmas) {
        auto set = exec(u"set PRAGMA %1"_s.arg(pragma), u"PRAGMA %1 = %2"_s.arg(pragma, value));
        // SQLite returns SQLITE_BUSY for a journal_mode change at once,
        // without its busy handler, while another connection opens the same
        // file. So the switch is retried until the busy timeout has passed.
        QElapsedTimer waited;
        waited.start();
        while (!set && pragma == u"journal_mode" && waited.elapsed() < busyTimeoutMs
               && set.error().message.contains(u"locked")) {
            QThread::msleep(10);
            set = exec(u"set PRAGMA %1"_s.arg(pragma), u"PRAGMA %1 = %2"_s.arg(pragma, value));
        }
        if (!set) {
            return set.error();
        }
    }

    // journal_mode reports the mode in force; it stays "memory" or "delete"
    // when the file system cannot hold a WAL.
    auto mode = exec(u"read PRAGMA journal_mode", u"PRAGMA journal_mode"_s);
    if (!mode) {
        return mode.error();
    }
    if (!mode->next() || mode->value(0).toString().compare(u"wal", Qt::CaseInsensitive) != 0) {
        return makeError(Reason::IoError,
                         u"SQLite did not switch %1 to WAL mode; put the database on a local "
                         "file system"_s.arg(database().databaseName()));
    }
    return {};
}

Result<std::unique_ptr<SqlConnection>> SqlConnection::openPostgres(const PostgresUrl &url)
{
    if (!QSqlDatabase::isDriverAvailable(kPostgresDriver)) {
        return driverMissing(kPostgresDriver, u"libqt6sql6-psql"_s);
    }

    std::unique_ptr<SqlConnection> connection(
        new SqlConnection(SqlEngine::Postgres, newConnectionName()));
    QSqlDatabase &db = connection->m_database;
    db = QSqlDatabase::addDatabase(kPostgresDriver, connection->m_name);
    db.setHostName(url.host);
    db.setPort(url.port);
    db.setDatabaseName(url.database);
    db.setUserName(url.user);
    db.setPassword(url.password);
    db.setConnectOptions(url.connectOptions);
    if (!db.open()) {
        return makeError(
            Reason::IoError,
            u"could not connect to %1: %2"_s.arg(url.redacted(), sqlErrorSummary(db.lastError())));
    }
    return connection;
}

Result<SqlQuery> SqlConnection::exec(QStringView purpose, const QString &sql,
                                     const SqlBindings &bindings)
{
    m_lastError = QSqlError();

    // PostgreSQL cannot PREPARE DDL, GRANT or transaction control, so there
    // a statement without placeholders runs directly. SQLite prepares every
    // statement, transaction control included.
    if (bindings.isEmpty() && m_engine == SqlEngine::Postgres) {
        SqlQuery query = SqlQuery::unprepared(m_database);
        if (!query.execDirect(sql)) {
            m_lastError = query.lastError();
            return makeError(
                Reason::IoError,
                u"could not %1: %2"_s.arg(purpose, sqlErrorSummary(query.lastError())));
        }
        return query;
    }

    SqlQuery query = m_statements.take(m_database, sql);
    if (!query.isPrepared()) {
        m_lastError = query.lastError();
        return makeError(Reason::IoError,
                         u"could not prepare the query to %1: %2"_s.arg(
                             purpose, sqlErrorSummary(query.lastError())));
    }
    for (const auto &[placeholder, value] : bindings) {
        query.bindValue(placeholder, bindableValue(value));
    }
    if (!query.exec()) {
        m_lastError = query.lastError();
        return makeError(Reason::IoError,
                         u"could not %1: %2"_s.arg(purpose, sqlErrorSummary(query.lastError())));
    }
    return query;
}

Result<void> SqlConnection::setSqliteSynchronous(bool lowered)
{
    // WAL with synchronous=NORMAL appends a commit to the log without fsync;
    // the next commit at FULL syncs the log file, and with it every commit
    // written before.
    auto set = exec(u"set PRAGMA synchronous", lowered ? u"PRAGMA synchronous = NORMAL"_s
                                                       : u"PRAGMA synchronous = FULL"_s);
    if (!set) {
        return set.error();
    }
    m_synchronousLowered = lowered;
    return {};
}

void SqlConnection::restoreSynchronous()
{
    // A failure leaves the flag set, and the next durable begin() tries again
    // and fails when it cannot.
    if (m_synchronousLowered) {
        (void)setSqliteSynchronous(false);
    }
}

QString SqlConnection::beginWriteStatement() const
{
    return m_engine == SqlEngine::Sqlite ? u"BEGIN IMMEDIATE"_s : u"BEGIN"_s;
}

QString SqlConnection::auditAppendLockStatement() const
{
    if (m_engine == SqlEngine::Sqlite) {
        return {};
    }
    return u"SELECT pg_advisory_xact_lock(%1, hashtext(:org_id))"_s.arg(kAuditLockClass);
}

QString SqlConnection::nextAuditIdExpression() const
{
    if (m_engine == SqlEngine::Sqlite) {
        return u"(SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log)"_s;
    }
    return u"nextval(pg_get_serial_sequence('audit_log', 'id'))"_s;
}

bool SqlConnection::lastErrorWasUniqueViolation() const
{
    const QString code = m_lastError.nativeErrorCode();
    if (m_engine == SqlEngine::Postgres) {
        return code == u"23505"; // SQLSTATE unique_violation
    }
    // SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY, or the
    // primary code SQLITE_CONSTRAINT with the message SQLite uses for them.
    return code == u"2067" || code == u"1555"
        || (code == u"19" && m_lastError.databaseText().startsWith(u"UNIQUE constraint"));
}

SqlTransaction::~SqlTransaction()
{
    rollback();
}

Result<void> SqlTransaction::begin(QStringView purpose)
{
    const int depth = m_connection.m_transactionDepth;
    m_savepoint = depth == 0 ? QString() : u"sealrelay_%1"_s.arg(depth);
    if (!m_savepoint.isEmpty()) {
        auto begun = m_connection.exec(u"begin a transaction to %1"_s.arg(purpose),
                                       u"SAVEPOINT "_s + m_savepoint);
        if (!begun) {
            return begun.error();
        }
        m_open = true;
        ++m_connection.m_transactionDepth;
        return {};
    }

    // SQLite refuses to change synchronous inside a transaction, so the
    // level is set before BEGIN and set back after COMMIT or ROLLBACK.
    const bool sqlite = m_connection.m_engine == SqlEngine::Sqlite;
    const bool lower = m_durability == Durability::WithNextDurableCommit;
    if (sqlite && lower != m_connection.m_synchronousLowered) {
        if (auto set = m_connection.setSqliteSynchronous(lower); !set) {
            return set.error();
        }
    }
    auto begun = m_connection.exec(u"begin a transaction to %1"_s.arg(purpose),
                                   m_connection.beginWriteStatement());
    if (!begun) {
        m_connection.restoreSynchronous();
        return begun.error();
    }
    m_open = true;
    ++m_connection.m_transactionDepth;
    // PostgreSQL's SET LOCAL lasts until this transaction ends.
    if (!sqlite && lower) {
        auto set = m_connection.exec(u"begin a transaction to %1"_s.arg(purpose),
                                     u"SET LOCAL synchronous_commit = off"_s);
        if (!set) {
            rollback();
            return set.error();
        }
    }
    return {};
}

Result<void> SqlTransaction::commit(QStringView purpose)
{
    const QString statement =
        m_savepoint.isEmpty() ? u"COMMIT"_s : u"RELEASE SAVEPOINT "_s + m_savepoint;
    auto committed = m_connection.exec(u"commit the transaction to %1"_s.arg(purpose), statement);
    if (!committed) {
        rollback();
        return committed.error();
    }
    m_open = false;
    --m_connection.m_transactionDepth;
    if (m_savepoint.isEmpty()) {
        m_connection.restoreSynchronous();
    }
    return {};
}

void SqlTransaction::rollback()
{
    if (!m_open) {
        return;
    }
    m_open = false;
    --m_connection.m_transactionDepth;
    SqlQuery query = SqlQuery::unprepared(m_connection.database());
    if (m_savepoint.isEmpty()) {
        query.execDirect(u"ROLLBACK"_s);
        m_connection.restoreSynchronous();
        return;
    }
    // A savepoint rolled back stays open until it is released.
    query.execDirect(u"ROLLBACK TO SAVEPOINT "_s + m_savepoint);
    query.execDirect(u"RELEASE SAVEPOINT "_s + m_savepoint);
}

} // namespace sealrelay::backend
