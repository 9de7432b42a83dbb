// Prepared statements kept per connection, so that a statement run again
// skips the SQL parser and the planner. Qt SQL prepares a QSqlQuery anew for
// every exec(); SqlStatementCache keeps one prepared QSqlQuery per SQL text
// and hands it out as a SqlQuery, which resets it when it goes away.
#pragma once

#include <QHash>
#include <QList>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QString>
#include <QVariant>

#include <memory>

namespace sealrelay {

// One statement's query, from SqlStatementCache::take() or unprepared(). A
// statement taken from the cache goes back to it when this object is
// destroyed: its result set is reset and its bound values are cleared, so no
// bound bytes stay in memory between two runs.
class SqlQuery {
public:
    SqlQuery(SqlQuery &&other) noexcept;
    SqlQuery &operator=(SqlQuery &&other) noexcept;
    ~SqlQuery();
    SqlQuery(const SqlQuery &) = delete;
    SqlQuery &operator=(const SqlQuery &) = delete;

    // True when the statement is prepared and can be bound and run.
    bool isPrepared() const { return m_prepared; }
    QSqlError lastError() const { return m_query->lastError(); }

    void bindValue(const QString &placeholder, const QVariant &value);
    // Runs the prepared statement with the values bound since the last run.
    bool exec();
    // Runs `sql` without preparing it, for statements PostgreSQL cannot
    // prepare (DDL, transaction control).
    bool execDirect(const QString &sql) { return m_query->exec(sql); }

    bool next() { return m_query->next(); }
    QVariant value(int index) const { return m_query->value(index); }
    QVariant value(const QString &name) const { return m_query->value(name); }
    int numRowsAffected() const { return m_query->numRowsAffected(); }
    // Ends the result set early; the statement stays prepared.
    void finish() { m_query->finish(); }

    // For the row readers that take a QSqlQuery.
    operator const QSqlQuery &() const { return *m_query; }

    // A forward-only query on `database` for execDirect().
    static SqlQuery unprepared(const QSqlDatabase &database);

private:
    friend class SqlStatementCache;
    struct Slot {
        explicit Slot(const QSqlDatabase &database)
            : query(database)
        {
        }
        QSqlQuery query;
        bool inUse = false; // handed out to a SqlQuery
    };

    SqlQuery(std::shared_ptr<Slot> slot, bool prepared, bool cached);
    void release();

    std::shared_ptr<Slot> m_slot;
    QSqlQuery *m_query = nullptr;
    QList<QString> m_boundPlaceholders;
    bool m_prepared = false;
    bool m_cached = false;
};

// Prepared statements of one connection, keyed by SQL text. Like the
// connection, a cache belongs to the thread that opened it.
class SqlStatementCache {
public:
    // At most `capacity` statements are kept; SQL built at run time (such
    // as IN lists of varying length) beyond that is prepared for each run.
    explicit SqlStatementCache(int capacity = 256)
        : m_capacity(capacity)
    {
    }
    SqlStatementCache(const SqlStatementCache &) = delete;
    SqlStatementCache &operator=(const SqlStatementCache &) = delete;

    // Returns `sql` prepared on `database`: the cached statement when no
    // other SqlQuery uses it, otherwise a new one. When preparing fails, the
    // result is not prepared, lastError() gives the reason and nothing is
    // cached.
    SqlQuery take(const QSqlDatabase &database, const QString &sql);

    // Drops every statement. Queries still held keep theirs until they go
    // away. Called before the connection closes.
    void clear() { m_slots.clear(); }

    int size() const { return int(m_slots.size()); }

private:
    int m_capacity;
    QHash<QString, std::shared_ptr<SqlQuery::Slot>> m_slots;
};

} // namespace sealrelay
