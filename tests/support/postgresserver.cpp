// Starting and stopping a private PostgreSQL 15 server for one test process.
#include "postgresserver.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QProcess>
#include <QRandomGenerator>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTcpServer>

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::test {

namespace {

const QString kBinDir = u"/usr/lib/postgresql/15/bin"_s;
const QString kPostgresUser = u"postgres"_s;

QString randomPassword()
{
    QByteArray bytes(16, '\0');
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32 *>(bytes.data()),
                                          bytes.size() / 4);
    return QString::fromLatin1(bytes.toHex());
}

// Returns a port that was free on 127.0.0.1 a moment ago.
quint16 pickFreePort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0)) {
        return 0;
    }
    return probe.serverPort();
}

QString url(const QString &user, const QString &password, quint16 port, const QString &database)
{
    return u"postgresql://%1:%2@127.0.0.1:%3/%4"_s.arg(user, password, QString::number(port),
                                                       database);
}

} // namespace

PostgresServer::PostgresServer()
    : m_dir(QDir::tempPath() + u"/sealrelay-pg-XXXXXX"_s)
{
}

PostgresServer::~PostgresServer()
{
    for (const QString &name : std::as_const(m_connections)) {
        {
            QSqlDatabase db = QSqlDatabase::database(name, false);
            db.close();
        }
        QSqlDatabase::removeDatabase(name);
    }
    stop();
}

bool PostgresServer::runTool(const QString &tool, const QStringList &arguments, int timeoutMs)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.setWorkingDirectory(m_dir.path());

    // initdb and pg_ctl refuse to run as root.
    const QString program = kBinDir + u'/' + tool;
    if (geteuid() == 0) {
        process.start(u"runuser"_s,
                      QStringList { u"-u"_s, kPostgresUser, u"--"_s, program } + arguments);
    } else {
        process.start(program, arguments);
    }

    if (!process.waitForStarted(timeoutMs)) {
        m_error = u"%1 did not start: %2"_s.arg(tool, process.errorString());
        return false;
    }
    if (!process.waitForFinished(timeoutMs)) {
        process.kill();
        process.waitForFinished(1000);
        m_error = u"%1 timed out after %2 ms: %3"_s.arg(tool, QString::number(timeoutMs),
                                                        QString::fromLocal8Bit(process.readAll()));
        return false;
    }
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        m_error = u"%1 failed with exit code %2: %3"_s.arg(
            tool, QString::number(process.exitCode()), QString::fromLocal8Bit(process.readAll()));
        return false;
    }
    return true;
}

bool PostgresServer::start()
{
    for (const QString &tool : { u"initdb"_s, u"pg_ctl"_s, u"postgres"_s }) {
        if (!QFileInfo(kBinDir + u'/' + tool).isExecutable()) {
            m_error = u"%1/%2 is missing; install the Debian package postgresql "
                      "(PostgreSQL 15)"_s.arg(kBinDir, tool);
            return false;
        }
    }
    if (!m_dir.isValid()) {
        m_error = u"could not create a temporary folder: %1"_s.arg(m_dir.errorString());
        return false;
    }

    // As root the server runs as the postgres user, which must own its
    // folder. The folder also contains the server's Unix socket.
    if (geteuid() == 0) {
        const passwd *account = getpwnam("postgres");
        if (account == nullptr) {
            m_error = u"there is no postgres user; install the Debian package postgresql"_s;
            return false;
        }
        if (chown(QFile::encodeName(m_dir.path()).constData(), account->pw_uid, account->pw_gid)
            != 0) {
            m_error = u"could not give %1 to the postgres user"_s.arg(m_dir.path());
            return false;
        }
    }

    m_superuserPassword = randomPassword();
    m_ownerPassword = randomPassword();
    m_servicePassword = randomPassword();

    const QString passwordFile = m_dir.filePath(u"superuser-password"_s);
    {
        QFile file(passwordFile);
        if (!file.open(QIODevice::WriteOnly)) {
            m_error = u"could not write %1: %2"_s.arg(passwordFile, file.errorString());
            return false;
        }
        file.write(m_superuserPassword.toLatin1());
    }
    if (geteuid() == 0) {
        const passwd *account = getpwnam("postgres");
        if (chown(QFile::encodeName(passwordFile).constData(), account->pw_uid, account->pw_gid)
            != 0) {
            m_error = u"could not give %1 to the postgres user"_s.arg(passwordFile);
            return false;
        }
    }

    m_dataDir = m_dir.filePath(u"data"_s);
    const QStringList initdbArguments = {
        u"-D"_s,
        m_dataDir,
        u"-U"_s,
        u"postgres"_s,
        u"--pwfile"_s,
        passwordFile,
        u"--auth-local=trust"_s,
        u"--auth-host=scram-sha-256"_s,
        u"-E"_s,
        u"UTF8"_s,
        u"--no-locale"_s,
        u"--no-sync"_s,
    };
    if (!runTool(u"initdb"_s, initdbArguments, 60000)) {
        return false;
    }

    m_port = pickFreePort();
    if (m_port == 0) {
        m_error = u"could not find a free port on 127.0.0.1"_s;
        return false;
    }
    if (!startProcess()) {
        return false;
    }

    return execAsSuperuser(u"CREATE ROLE %1 LOGIN PASSWORD '%2'"_s.arg(
               QLatin1StringView(kOwnerRole), m_ownerPassword))
        && execAsSuperuser(u"CREATE ROLE %1 LOGIN PASSWORD '%2'"_s.arg(
            QLatin1StringView(kServiceRole), m_servicePassword));
}

bool PostgresServer::startProcess()
{
    const QString serverOptions =
        u"-p %1 -c listen_addresses=127.0.0.1 -k %2 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off"_s.arg(QString::number(m_port), m_dir.path());
    const QStringList startArguments = {
        u"-D"_s, m_dataDir,     u"-l"_s, m_dir.filePath(u"server.log"_s),
        u"-o"_s, serverOptions, u"-w"_s, u"-t"_s,
        u"30"_s, u"start"_s,
    };
    if (!runTool(u"pg_ctl"_s, startArguments, 40000)) {
        QFile log(m_dir.filePath(u"server.log"_s));
        if (log.open(QIODevice::ReadOnly)) {
            m_error += u"\nserver log:\n"_s + QString::fromLocal8Bit(log.readAll());
        }
        return false;
    }
    m_started = true;

    QFile pidFile(m_dataDir + u"/postmaster.pid"_s);
    if (pidFile.open(QIODevice::ReadOnly)) {
        m_pid = pidFile.readLine().trimmed().toLongLong();
    }
    return true;
}

void PostgresServer::stopServer()
{
    stop();
}

bool PostgresServer::startAgain()
{
    if (m_started || m_dataDir.isEmpty()) {
        m_error = u"startAgain() needs a server that stopServer() stopped"_s;
        return false;
    }
    if (!startProcess()) {
        return false;
    }
    for (const QString &name : std::as_const(m_connections)) {
        QSqlDatabase db = QSqlDatabase::database(name, false);
        db.close();
        if (!db.open()) {
            m_error = u"could not reconnect %1 as the superuser: %2"_s.arg(
                db.databaseName(), db.lastError().text());
            return false;
        }
    }
    return true;
}

QString PostgresServer::superuserConnection(const QString &database)
{
    const QString name = u"sealrelay.test.postgres.%1"_s.arg(database);
    if (m_connections.contains(name)) {
        return name;
    }

    QSqlDatabase db = QSqlDatabase::addDatabase(u"QPSQL"_s, name);
    m_connections.append(name);
    db.setHostName(u"127.0.0.1"_s);
    db.setPort(m_port);
    db.setDatabaseName(database);
    db.setUserName(u"postgres"_s);
    db.setPassword(m_superuserPassword);
    if (!db.open()) {
        m_error =
            u"could not connect to %1 as the superuser: %2"_s.arg(database, db.lastError().text());
        return {};
    }
    return name;
}

bool PostgresServer::execAsSuperuser(const QString &sql)
{
    const QString name = superuserConnection(u"postgres"_s);
    if (name.isEmpty()) {
        return false;
    }
    QSqlQuery query(QSqlDatabase::database(name, false));
    if (!query.exec(sql)) {
        m_error = u"statement failed as the superuser: %1"_s.arg(query.lastError().text());
        return false;
    }
    return true;
}

QString PostgresServer::createDatabase()
{
    const QString name = u"sealrelay_test_%1"_s.arg(++m_databaseCount);
    // CREATE DATABASE cannot run inside a transaction block, so it is a
    // statement of its own.
    if (!execAsSuperuser(
            u"CREATE DATABASE %1 OWNER %2"_s.arg(name, QLatin1StringView(kOwnerRole)))) {
        return {};
    }
    return name;
}

QString PostgresServer::superuserUrl(const QString &database) const
{
    return url(u"postgres"_s, m_superuserPassword, m_port, database);
}

QString PostgresServer::ownerUrl(const QString &database) const
{
    return url(QLatin1StringView(kOwnerRole), m_ownerPassword, m_port, database);
}

QString PostgresServer::serviceUrl(const QString &database) const
{
    return url(QLatin1StringView(kServiceRole), m_servicePassword, m_port, database);
}

void PostgresServer::stop()
{
    if (!m_started) {
        return;
    }
    m_started = false;

    const QStringList stopArguments = { u"-D"_s, m_dataDir, u"-m"_s, u"immediate"_s,
                                        u"-w"_s, u"-t"_s,   u"10"_s, u"stop"_s };
    if (!runTool(u"pg_ctl"_s, stopArguments, 15000) && m_pid > 0) {
        ::kill(pid_t(m_pid), SIGKILL);
    }
}

} // namespace sealrelay::test
