// Opening the vault's SQLite file and running statements on it.
#include "vaultdatabase.h"

#include "ids.h"
#include "logging.h"

#include <QSqlError>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

const QString kSqliteDriver = u"QSQLITE"_s;

// The driver's first message line with its code. Later lines can quote row
// values and are dropped.
QString sqlErrorSummary(const QSqlError &error)
{
    QString text = error.databaseText();
    if (text.isEmpty())
        text = error.driverText();
    text = text.section(u'\n', 0, 0).trimmed();
    if (!error.nativeErrorCode().isEmpty())
        text += u" (code %1)"_s.arg(error.nativeErrorCode());
    return text;
}

// Returns the statement that opens, releases or rolls back the savepoint of
// nesting `level`. Each level has a fixed name, so the statement cache keeps
// few of them.
QString savepointStatement(QStringView command, int level)
{
    return u"%1 nested_%2"_s.arg(command).arg(level);
}

// The error of a transaction that cannot go on after a failed statement.
Result<void> failedEarlier(const VaultDatabase &database, QStringView purpose)
{
    return makeError(Reason::IoError,
                     u"cannot %1 in the vault %2: an earlier statement of the same transaction "
                     u"failed"_s.arg(purpose, database.path()));
}

} // namespace

VaultDatabase::VaultDatabase(QString path, QString connectionName)
    : m_path(std::move(path))
    , m_connectionName(std::move(connectionName))
{
}

VaultDatabase::~VaultDatabase()
{
    // Commits still waiting for their background sync reach the disk now: a
    // checkpoint at synchronous=FULL syncs the log before it copies it.
    if (m_syncTimer && m_syncTimer->isActive()) {
        m_syncTimer->stop();
        if (Result<SqlQuery> synced = exec(u"sync the write-ahead log before closing",
                                           u"PRAGMA wal_checkpoint(PASSIVE)"_s);
            !synced) {
            logger("agent.vault")->error("{}", synced.error().message.toStdString());
        }
    }
    m_statements.clear();
    if (m_database.isOpen())
        m_database.close();
    m_database = QSqlDatabase();
    QSqlDatabase::removeDatabase(m_connectionName);
}

QSqlDatabase VaultDatabase::database() const
{
    return m_database;
}

Result<std::unique_ptr<VaultDatabase>> VaultDatabase::open(const QString &path, int busyTimeoutMs,
                                                           Access access)
{
    if (!QSqlDatabase::isDriverAvailable(kSqliteDriver)) {
        return makeError(Reason::IoError,
                         u"the Qt SQL driver QSQLITE is not available; install the Debian "
                         u"package libqt6sql6-sqlite"_s);
    }

    std::unique_ptr<VaultDatabase> vaultDatabase(
        new VaultDatabase(path, u"sealrelay.agent.vault."_s + newUuid()));
    {
        QSqlDatabase &db = vaultDatabase->m_database;
        db = QSqlDatabase::addDatabase(kSqliteDriver, vaultDatabase->m_connectionName);
        db.setDatabaseName(path);
        QString options = u"QSQLITE_BUSY_TIMEOUT=%1"_s.arg(busyTimeoutMs);
        if (access == Access::ReadOnly)
            options += u";QSQLITE_OPEN_READONLY"_s;
        db.setConnectOptions(options);
        if (!db.open()) {
            return makeError(Reason::IoError,
                             u"cannot open the vault database %1: %2"_s.arg(
                                 path, sqlErrorSummary(db.lastError())));
        }
    }

    // These settings belong to the connection and write nothing to the file.
    // synchronous=FULL syncs the WAL at every commit, so a commit that
    // returned survives power loss; secure_delete overwrites purged rows.
    const QList<std::pair<QString, QString>> pragmas = {
        { u"busy_timeout"_s, QString::number(busyTimeoutMs) },
        { u"synchronous"_s, u"FULL"_s },
        { u"secure_delete"_s, u"ON"_s },
        { u"recursive_triggers"_s, u"ON"_s },
    };
    for (const auto &[pragma, value] : pragmas) {
        Result<SqlQuery> set = vaultDatabase->exec(u"set PRAGMA %1"_s.arg(pragma),
                                                    u"PRAGMA %1 = %2"_s.arg(pragma, value));
        if (!set)
            return set.error();
    }
    return vaultDatabase;
}

Result<void> VaultDatabase::enableWriteAheadLog()
{
    Result<QVariant> mode =
        queryValue(u"switch the vault to WAL mode", u"PRAGMA journal_mode = WAL"_s);
    if (!mode)
        return mode.error();
    if (mode->toString().compare(u"wal"_s, Qt::CaseInsensitive) != 0) {
        return makeError(Reason::IoError,
                         u"SQLite kept journal mode \"%1\" for the vault %2 instead of WAL; put "
                         u"the vault on a local file system"_s.arg(mode->toString(), m_path));
    }
    return {};
}

Result<void> VaultDatabase::setSynchronous(bool full)
{
    Result<SqlQuery> set =
        exec(full ? u"set PRAGMA synchronous back to FULL" : u"set PRAGMA synchronous to NORMAL",
             full ? u"PRAGMA synchronous = FULL"_s : u"PRAGMA synchronous = NORMAL"_s);
    if (!set)
        return set.error();
    return {};
}

void VaultDatabase::scheduleSync()
{
    if (!m_syncTimer) {
        m_walSync = std::make_unique<WalSync>(m_path + u"-wal"_s);
        m_syncTimer = std::make_unique<QTimer>();
        m_syncTimer->setSingleShot(true);
        m_syncTimer->setInterval(kDeferredSyncDelay);
        QObject::connect(m_syncTimer.get(), &QTimer::timeout, m_walSync.get(), [this] {
            m_walSync->afterSync([](Result<void> synced) {
                if (!synced)
                    logger("agent.vault")
                        ->error("{}", synced.error().message.toStdString());
            });
        });
    }
    if (!m_syncTimer->isActive())
        m_syncTimer->start();
}

Result<SqlQuery> VaultDatabase::exec(QStringView purpose, const QString &sql,
                                     const SqlBindings &bindings)
{
    SqlQuery query = m_statements.take(m_database, sql);
    if (!query.isPrepared()) {
        return makeError(Reason::IoError,
                         u"cannot prepare the statement to %1 in the vault %2: %3"_s.arg(
                             purpose, m_path, sqlErrorSummary(query.lastError())));
    }
    for (const auto &[placeholder, value] : bindings)
        query.bindValue(placeholder, value);
    if (!query.exec()) {
        if (m_transactionDepth > 0)
            m_transactionFailed = true;
        return makeError(Reason::IoError,
                         u"cannot %1 in the vault %2: %3"_s.arg(
                             purpose, m_path, sqlErrorSummary(query.lastError())));
    }
    return query;
}

Result<QVariant> VaultDatabase::queryValue(QStringView purpose, const QString &sql,
                                           const SqlBindings &bindings)
{
    Result<SqlQuery> query = exec(purpose, sql, bindings);
    if (!query)
        return query.error();
    if (!query->next())
        return QVariant();
    return query->value(0);
}

WriteTransaction::~WriteTransaction()
{
    rollback();
}

Result<void> WriteTransaction::begin(QStringView purpose)
{
    const int level = m_database.m_transactionDepth;
    if (level > 0 && m_database.m_transactionFailed)
        return failedEarlier(m_database, purpose);
    if (level == 0 && m_durability == CommitDurability::WithinSyncDelay) {
        if (Result<void> lowered = m_database.setSynchronous(false); !lowered)
            return lowered;
        m_synchronousLowered = true;
    }
    const QString sql = level == 0 ? u"BEGIN IMMEDIATE"_s : savepointStatement(u"SAVEPOINT", level);
    Result<SqlQuery> begun = m_database.exec(u"begin a write transaction to %1"_s.arg(purpose), sql);
    if (!begun) {
        restoreSynchronous();
        return begun.error();
    }
    m_open = true;
    m_level = level;
    ++m_database.m_transactionDepth;
    return {};
}

Result<void> WriteTransaction::commit(QStringView purpose)
{
    if (m_database.m_transactionFailed)
        return failedEarlier(m_database, purpose);
    const QString sql = m_level == 0 ? u"COMMIT"_s : savepointStatement(u"RELEASE", m_level);
    Result<SqlQuery> committed =
        m_database.exec(u"commit the write transaction to %1"_s.arg(purpose), sql);
    if (!committed)
        return committed.error();
    close();
    if (m_synchronousLowered) {
        restoreSynchronous();
        m_database.scheduleSync();
    }
    return {};
}

void WriteTransaction::rollback()
{
    if (!m_open)
        return;
    // rollback() runs from the destructor and cannot report a failure. A
    // transaction left open is rolled back when the connection closes, and
    // the next BEGIN IMMEDIATE on this connection fails and reports it.
    if (m_level == 0) {
        (void)m_database.exec(u"roll back a write transaction", u"ROLLBACK"_s);
    } else {
        // ROLLBACK TO keeps the savepoint open, so it is released after it.
        (void)m_database.exec(u"roll back a savepoint", savepointStatement(u"ROLLBACK TO", m_level));
        (void)m_database.exec(u"release a savepoint", savepointStatement(u"RELEASE", m_level));
    }
    close();
    restoreSynchronous();
}

void WriteTransaction::restoreSynchronous()
{
    // A failure leaves NORMAL set, and the next commit that needs FULL then
    // syncs less: it is logged, because nothing else can report it.
    if (!std::exchange(m_synchronousLowered, false))
        return;
    if (Result<void> restored = m_database.setSynchronous(true); !restored)
        logger("agent.vault")->error("{}", restored.error().message.toStdString());
}

void WriteTransaction::close()
{
    m_open = false;
    if (--m_database.m_transactionDepth == 0)
        m_database.m_transactionFailed = false;
}

} // namespace sealrelay::agent
