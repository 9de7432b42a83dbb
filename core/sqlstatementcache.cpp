#include "sqlstatementcache.h"

#include <utility>

namespace sealrelay {

SqlQuery::SqlQuery(std::shared_ptr<Slot> slot, bool prepared, bool cached)
    : m_slot(std::move(slot))
    , m_query(&m_slot->query)
    , m_prepared(prepared)
    , m_cached(cached)
{
}

SqlQuery::SqlQuery(SqlQuery &&other) noexcept
    : m_slot(std::move(other.m_slot))
    , m_query(std::exchange(other.m_query, nullptr))
    , m_boundPlaceholders(std::move(other.m_boundPlaceholders))
    , m_prepared(other.m_prepared)
    , m_cached(std::exchange(other.m_cached, false))
{
}

SqlQuery &SqlQuery::operator=(SqlQuery &&other) noexcept
{
    if (this != &other) {
        release();
        m_slot = std::move(other.m_slot);
        m_query = std::exchange(other.m_query, nullptr);
        m_prepared = other.m_prepared;
        m_boundPlaceholders = std::move(other.m_boundPlaceholders);
        m_cached = std::exchange(other.m_cached, false);
    }
    return *this;
}

SqlQuery::~SqlQuery()
{
    release();
}

SqlQuery SqlQuery::unprepared(const QSqlDatabase &database)
{
    auto slot = std::make_shared<Slot>(database);
    slot->query.setForwardOnly(true);
    return SqlQuery(std::move(slot), false, false);
}

void SqlQuery::bindValue(const QString &placeholder, const QVariant &value)
{
    m_query->bindValue(placeholder, value);
    if (m_cached) {
        m_boundPlaceholders.append(placeholder);
    }
}

bool SqlQuery::exec()
{
    return m_query->exec();
}

void SqlQuery::release()
{
    if (!m_cached) {
        m_slot.reset();
        return;
    }
    m_query->finish();
    // Qt maps a named placeholder to its positions, so the values are
    // cleared by name; clearing by position would switch the statement to
    // positional binding.
    for (const QString &placeholder : std::as_const(m_boundPlaceholders)) {
        m_query->bindValue(placeholder, QVariant());
    }
    m_boundPlaceholders.clear();
    m_slot->inUse = false;
    m_slot.reset();
    m_cached = false;
}

SqlQuery SqlStatementCache::take(const QSqlDatabase &database, const QString &sql)
{
    if (const auto found = m_slots.constFind(sql); found != m_slots.cend()) {
        if (!(*found)->inUse) {
            (*found)->inUse = true;
            return SqlQuery(*found, true, true);
        }
    }

    auto slot = std::make_shared<SqlQuery::Slot>(database);
    slot->query.setForwardOnly(true);
    if (!slot->query.prepare(sql)) {
        return SqlQuery(std::move(slot), false, false);
    }
    // While the cached statement is in use, a second user gets a statement
    // of its own, which is not cached.
    const bool cached = !m_slots.contains(sql) && m_slots.size() < m_capacity;
    if (cached) {
        slot->inUse = true;
        m_slots.insert(sql, slot);
    }
    return SqlQuery(std::move(slot), true, cached);
}

} // namespace sealrelay
