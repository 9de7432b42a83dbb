// A throwaway PostgreSQL 15 server for tests: its own data folder under the
// temporary directory, a port it picks on 127.0.0.1, an owner role and a
// service role, stopped and removed when the object is destroyed.
#pragma once

#include <QString>
#include <QTemporaryDir>

namespace sealrelay::test {

// NOTE: a test process that crashes leaves its server running; stop it with
// `pg_ctl -D <folder>/data stop` and remove the sealrelay-pg-* folder.
class PostgresServer {
public:
    // Roles that start() creates; the owner role owns every database that
    // createDatabase() makes.
    static constexpr const char *kOwnerRole = "sealrelay_owner";
    static constexpr const char *kServiceRole = "sealrelay_service";

    PostgresServer();
    // Stops the server (pg_ctl stop -m immediate, or SIGKILL to its pid) and
    // removes its folder.
    ~PostgresServer();
    PostgresServer(const PostgresServer &) = delete;
    PostgresServer &operator=(const PostgresServer &) = delete;

    // Runs initdb (as the postgres user when this process is root, since
    // initdb refuses root), starts the server with fsync off and creates the
    // two roles. Returns false with errorString() set on failure; when the
    // binaries are missing the message names the Debian package postgresql.
    bool start();
    const QString &errorString() const { return m_error; }

    // Stops the server as a crash would (pg_ctl stop -m immediate) and keeps
    // its folder, databases and port for startAgain().
    void stopServer();
    // Starts the server that stopServer() stopped, on the same data and port,
    // and reopens the superuser connections. Returns false with
    // errorString() set on failure.
    bool startAgain();

    // Creates a new empty database owned by the owner role and returns its
    // name; an empty string and errorString() on failure.
    QString createDatabase();

    quint16 port() const { return m_port; }
    QString superuserUrl(const QString &database) const;
    QString ownerUrl(const QString &database) const;
    QString serviceUrl(const QString &database) const;

    // Name of a Qt SQL connection to `database` as the superuser, opened on
    // first use and removed with the server; empty with errorString() on
    // failure.
    QString superuserConnection(const QString &database);

private:
    bool runTool(const QString &tool, const QStringList &arguments, int timeoutMs);
    bool execAsSuperuser(const QString &sql);
    bool startProcess();
    void stop();

    QTemporaryDir m_dir;
    QString m_dataDir;
    quint16 m_port = 0;
    qint64 m_pid = 0;
    bool m_started = false;
    int m_databaseCount = 0;
    QString m_superuserPassword;
    QString m_ownerPassword;
    QString m_servicePassword;
    QStringList m_connections;
    QString m_error;
};

} // namespace sealrelay::test
