// Storage configuration and the PostgreSQL connection URL it carries.
#pragma once

#include "error.h"

#include <QString>

namespace sealrelay::backend {

enum class SqlEngine { Sqlite, Postgres };

// postgresql://user:password@host:port/dbname?sslmode=require, parsed.
// User, password and database name are percent-decoded.
struct PostgresUrl {
    QString user;
    QString password;
    QString host;
    int port = 5432;
    QString database;
    // libpq options from the query string, as "key=value;key=value" for
    // QSqlDatabase::setConnectOptions().
    QString connectOptions;

    // The URL with the password replaced by "***", for logs and messages.
    QString redacted() const;
};

// Parses a PostgreSQL URL. A malformed URL is Reason::Malformed with a
// message naming the part that is wrong; the message never contains the
// password. Accepted query keys: sslmode, sslrootcert, sslcert, sslkey,
// connect_timeout, application_name.
Result<PostgresUrl> parsePostgresUrl(QStringView url);

struct StorageConfig {
    SqlEngine engine = SqlEngine::Sqlite;

    // SQLite: path of the database file; its folder must exist.
    QString sqlitePath;
    // How long a SQLite write waits for another connection's lock.
    int sqliteBusyTimeoutMs = 5000;

    // PostgreSQL: the service role's connection, used for everything but
    // migrations.
    QString postgresUrl;
    // PostgreSQL: the migration role's connection, which owns the tables and
    // grants the service role what it needs. Empty: migrations run as the
    // service role, which then owns audit_log (connectedRoleOwnsAuditLog()).
    QString postgresMigrationUrl;
};

} // namespace sealrelay::backend
