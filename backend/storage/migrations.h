// Numbered schema migrations compiled into the binary from
// resources/migrations/<engine>/NNNN_name.sql, and their application.
#pragma once

#include "error.h"
#include "sqlconnection.h"

#include <QDateTime>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace sealrelay::backend {

struct Migration {
    int version = 0; // NNNN of the file name
    QString name; // file name
    QString checksum; // base64(SHA-256(file bytes)), recorded when applied
    QStringList statements;
};

// Reads the migrations of `engine`, ordered by version. A file whose name
// does not start with a number, a repeated number or a statement block that
// never ends is Reason::Internal: the build is broken.
Result<QList<Migration>> bundledMigrations(SqlEngine engine);

// Splits a migration script into statements. A statement ends at a line that
// ends with ';', except between a "-- statement-begin" line and a
// "-- statement-end" line, which enclose one statement (a trigger or
// function body). Lines holding only a comment outside statements are dropped.
Result<QStringList> splitSqlStatements(QStringView script, QStringView fileName);

// Applies the migrations the database lacks, in one transaction: BEGIN
// IMMEDIATE on SQLite, a transaction holding an advisory lock on PostgreSQL,
// so replicas starting together apply each migration once. Migrations
// already applied must have the recorded checksum, and a database newer than
// the build is rejected. On PostgreSQL with `serviceRole`, the role gets
// SELECT, INSERT, UPDATE and DELETE on every table but audit_log and
// schema_migrations, SELECT and INSERT on audit_log, SELECT on
// schema_migrations and USAGE on the sequences. Returns the schema version.
Result<int> applyMigrations(SqlConnection &connection, const QList<Migration> &migrations,
                            const std::optional<QString> &serviceRole, const QDateTime &now);

// Highest version recorded in schema_migrations; 0 when the table is absent.
Result<int> appliedSchemaVersion(SqlConnection &connection);

} // namespace sealrelay::backend
