// Loading the bundled migration scripts and applying them under the engine's
// migration lock.
#include "migrations.h"

#include "digest.h"
#include "logging.h"

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QSqlDriver>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

// Key of PostgreSQL's advisory lock that serialises migrations across
// replicas. The value only has to differ from the keys of other advisory
// locks taken on the same database.
constexpr qint64 kMigrationLockKey = 0x5ea1'0001'0000'0001;

const QString kStatementBegin = u"-- statement-begin"_s;
const QString kStatementEnd = u"-- statement-end"_s;

QString migrationsFolder(SqlEngine engine)
{
    return engine == SqlEngine::Sqlite ? u":/sealrelay/migrations/sqlite"_s
                                       : u":/sealrelay/migrations/postgresql"_s;
}

Error brokenBuild(const QString &message)
{
    return makeError(Reason::Internal, message + u"; this build of sealrelay-backend is broken"_s);
}

struct AppliedMigration {
    int version = 0;
    QString name;
    QString checksum;
};

Result<QList<AppliedMigration>> readAppliedMigrations(SqlConnection &connection)
{
    auto query = connection.exec(u"read schema_migrations",
                                 u"SELECT version, name, checksum FROM schema_migrations "
                                 "ORDER BY version"_s);
    if (!query) {
        return query.error();
    }
    QList<AppliedMigration> applied;
    while (query->next()) {
        applied.append(
            { query->value(0).toInt(), query->value(1).toString(), query->value(2).toString() });
    }
    return applied;
}

// Checks that the database contains no migration that this build lacks or
// carries with other contents.
Result<void> checkAppliedMigrations(const QList<AppliedMigration> &applied,
                                    const QList<Migration> &migrations)
{
    for (const AppliedMigration &done : applied) {
        const auto bundled =
            std::find_if(migrations.cbegin(), migrations.cend(),
                         [&](const Migration &m) { return m.version == done.version; });
        if (bundled == migrations.cend()) {
            return makeError(Reason::IoError,
                             u"the database has migration %1 (%2), which this build of "
                             "sealrelay-backend does not know; run a newer build"_s.arg(
                                 QString::number(done.version), done.name));
        }
        if (bundled->checksum != done.checksum) {
            return makeError(Reason::IoError,
                             u"migration %1 (%2) was applied with checksum %3 but this build "
                             "carries checksum %4; the database was migrated by a different "
                             "build"_s.arg(QString::number(done.version), done.name, done.checksum,
                                           bundled->checksum));
        }
    }
    return {};
}

Result<void> grantServiceRole(SqlConnection &connection, const QString &serviceRole)
{
    const QString role =
        connection.database().driver()->escapeIdentifier(serviceRole, QSqlDriver::TableName);

    // GRANT ... ON ALL TABLES also covers the tables of later migrations.
    // The REVOKEs after it take back the write privileges on audit_log,
    // which the service may only append to, and on schema_migrations.
    const QStringList statements = {
        u"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %1"_s.arg(role),
        u"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM %1"_s.arg(role),
        u"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON schema_migrations "
        "FROM %1"_s.arg(role),
        u"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %1"_s.arg(role),
    };
    for (const QString &statement : statements) {
        auto granted = connection.exec(u"grant the service role its privileges", statement);
        if (!granted) {
            return granted.error();
        }
    }
    return {};
}

} // namespace

Result<QStringList> splitSqlStatements(QStringView script, QStringView fileName)
{
    QStringList statements;
    QString current;
    bool inBlock = false;

    const auto lines = script.split(u'\n');
    for (const QStringView rawLine : lines) {
        const QStringView line = rawLine.trimmed();

        if (line == kStatementBegin) {
            if (inBlock || !current.trimmed().isEmpty()) {
                return brokenBuild(
                    u"%1: \"%2\" inside another statement"_s.arg(fileName, kStatementBegin));
            }
            inBlock = true;
            continue;
        }
        if (line == kStatementEnd) {
            if (!inBlock) {
                return brokenBuild(
                    u"%1: \"%2\" without \"%3\""_s.arg(fileName, kStatementEnd, kStatementBegin));
            }
            inBlock = false;
            statements.append(current.trimmed());
            current.clear();
            continue;
        }
        if (inBlock) {
            current += rawLine + u'\n';
            continue;
        }

        if (line.isEmpty() || (line.startsWith(u"--") && current.trimmed().isEmpty())) {
            continue;
        }
        current += rawLine + u'\n';
        if (line.endsWith(u';')) {
            statements.append(current.trimmed());
            current.clear();
        }
    }

    if (inBlock || !current.trimmed().isEmpty()) {
        return brokenBuild(u"%1: the last statement does not end"_s.arg(fileName));
    }
    return statements;
}

Result<QList<Migration>> bundledMigrations(SqlEngine engine)
{
    static const QRegularExpression fileNamePattern(u"^(\\d{4})_[a-z0-9_]+\\.sql$"_s);

    const QDir folder(migrationsFolder(engine));
    const QStringList fileNames = folder.entryList({ u"*.sql"_s }, QDir::Files, QDir::Name);
    if (fileNames.isEmpty()) {
        return brokenBuild(u"no migrations found under %1"_s.arg(folder.path()));
    }

    QList<Migration> migrations;
    for (const QString &fileName : fileNames) {
        const QRegularExpressionMatch match = fileNamePattern.match(fileName);
        if (!match.hasMatch()) {
            return brokenBuild(u"the migration file name %1 is not NNNN_name.sql"_s.arg(fileName));
        }

        QFile file(folder.filePath(fileName));
        if (!file.open(QIODevice::ReadOnly)) {
            return brokenBuild(u"could not read %1: %2"_s.arg(file.fileName(), file.errorString()));
        }
        const QByteArray bytes = file.readAll();

        auto statements = splitSqlStatements(QString::fromUtf8(bytes), fileName);
        if (!statements) {
            return statements.error();
        }

        Migration migration;
        migration.version = match.captured(1).toInt();
        migration.name = fileName;
        migration.checksum = sha256Base64(bytes);
        migration.statements = std::move(statements).value();
        if (!migrations.isEmpty() && migrations.last().version == migration.version) {
            return brokenBuild(u"two migrations have number %1"_s.arg(migration.version));
        }
        migrations.append(std::move(migration));
    }
    return migrations;
}

Result<int> appliedSchemaVersion(SqlConnection &connection)
{
    if (!connection.database().tables().contains(u"schema_migrations"_s)) {
        return 0;
    }
    auto query = connection.exec(u"read the schema version",
                                 u"SELECT COALESCE(MAX(version), 0) FROM schema_migrations"_s);
    if (!query) {
        return query.error();
    }
    return query->next() ? query->value(0).toInt() : 0;
}

Result<int> applyMigrations(SqlConnection &connection, const QList<Migration> &migrations,
                            const std::optional<QString> &serviceRole, const QDateTime &now)
{
    SqlTransaction transaction(connection);
    if (auto begun = transaction.begin(u"apply migrations"); !begun) {
        return begun.error();
    }

    if (connection.engine() == SqlEngine::Postgres) {
        auto locked = connection.exec(u"take the migration lock",
                                      u"SELECT pg_advisory_xact_lock(%1)"_s.arg(kMigrationLockKey));
        if (!locked) {
            return locked.error();
        }
        // CREATE TABLE IF NOT EXISTS on an existing table raises a NOTICE,
        // which libpq prints to standard error; this transaction skips it.
        auto quiet = connection.exec(u"hide notices of the migration",
                                     u"SET LOCAL client_min_messages = warning"_s);
        if (!quiet) {
            return quiet.error();
        }
    }

    // Both engines accept this statement as written.
    auto created = connection.exec(u"create schema_migrations",
                                   u"CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   "version INTEGER NOT NULL PRIMARY KEY, "
                                   "name TEXT NOT NULL, "
                                   "checksum TEXT NOT NULL, "
                                   "applied_at BIGINT NOT NULL)"_s);
    if (!created) {
        return created.error();
    }

    auto applied = readAppliedMigrations(connection);
    if (!applied) {
        return applied.error();
    }
    if (auto checked = checkAppliedMigrations(applied.value(), migrations); !checked) {
        return checked.error();
    }

    int version = applied->isEmpty() ? 0 : applied->last().version;
    for (const Migration &migration : migrations) {
        if (migration.version <= version) {
            continue;
        }
        for (const QString &statement : migration.statements) {
            auto run = connection.exec(u"apply migration %1"_s.arg(migration.name), statement);
            if (!run) {
                return run.error();
            }
        }
        auto recorded =
            connection.exec(u"record migration %1"_s.arg(migration.name),
                            u"INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                            "VALUES (:version, :name, :checksum, :applied_at)"_s,
                            { { u":version"_s, migration.version },
                              { u":name"_s, migration.name },
                              { u":checksum"_s, migration.checksum },
                              { u":applied_at"_s, now.toMSecsSinceEpoch() } });
        if (!recorded) {
            return recorded.error();
        }
        version = migration.version;
        logger("backend.storage")->info("applied migration {}", migration.name.toStdString());
    }

    if (serviceRole && connection.engine() == SqlEngine::Postgres) {
        if (auto granted = grantServiceRole(connection, *serviceRole); !granted) {
            return granted.error();
        }
    }

    if (auto committed = transaction.commit(u"apply migrations"); !committed) {
        return committed.error();
    }
    return version;
}

} // namespace sealrelay::backend
