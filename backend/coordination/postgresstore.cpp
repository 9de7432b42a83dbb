// PostgresStore: values, channels, windows and TTL sets in PostgreSQL tables,
// the connections behind them and their reconnects.
#include "postgresstore.h"

#include "logging.h"

#include <QMetaObject>
#include <QSqlDriver>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;
using std::chrono::milliseconds;

namespace sealrelay::backend {

namespace {

// Key of the transaction-level advisory lock taken while creating the
// tables. It only has to differ from other single-key advisory locks taken
// on the same database.
constexpr qint64 kSchemaLockKey = 0x5ea1c00d;

// The PostgreSQL notification channel that carries every store channel.
const QString kNotifyChannel = u"sealrelay_coordination"_s;

// A NOTIFY payload carries the message id and, up to this many bytes, the
// store channel, so receivers skip rows of channels they do not subscribe
// to without reading them. PostgreSQL limits a payload to 8000 bytes.
constexpr qsizetype kMaxAnnouncedChannelBytes = 4000;

// A duration in milliseconds bound as :name, as an SQL interval.
QString interval(QStringView name)
{
    return u"(CAST(:%1 AS double precision) * interval '1 millisecond')"_s.arg(name);
}

const QStringList kTableNames = {
    u"coordination_values"_s,      u"coordination_window_keys"_s,
    u"coordination_window_events"_s, u"coordination_set_members"_s,
    u"coordination_messages"_s,
};

// Statements that create the tables of kTableNames and their indexes.
const QStringList kCreateTables = {
    u"CREATE TABLE IF NOT EXISTS coordination_values ("
    " key text PRIMARY KEY,"
    " value bytea NOT NULL,"
    " expires_at timestamptz NOT NULL)"_s,
    u"CREATE TABLE IF NOT EXISTS coordination_window_keys ("
    " key text PRIMARY KEY,"
    " expires_at timestamptz NOT NULL)"_s,
    u"CREATE TABLE IF NOT EXISTS coordination_window_events ("
    " key text NOT NULL,"
    " member bytea NOT NULL,"
    " recorded_at timestamptz NOT NULL,"
    " PRIMARY KEY (key, member))"_s,
    u"CREATE INDEX IF NOT EXISTS coordination_window_events_time"
    " ON coordination_window_events (key, recorded_at)"_s,
    u"CREATE TABLE IF NOT EXISTS coordination_set_members ("
    " key text NOT NULL,"
    " member bytea NOT NULL,"
    " expires_at timestamptz NOT NULL,"
    " PRIMARY KEY (key, member))"_s,
    u"CREATE TABLE IF NOT EXISTS coordination_messages ("
    " id bigserial PRIMARY KEY,"
    " channel text NOT NULL,"
    " payload bytea NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT clock_timestamp())"_s,
    u"CREATE INDEX IF NOT EXISTS coordination_messages_created"
    " ON coordination_messages (created_at)"_s,
};

auto log()
{
    return logger("backend.coordination");
}

std::string text(const QString &value)
{
    return value.toStdString();
}

// Rejects a TTL or window that is zero or negative.
std::optional<Error> checkDuration(milliseconds duration, QStringView what, const QString &key)
{
    if (duration.count() > 0)
        return std::nullopt;
    return makeError(Reason::Malformed,
                     u"The %1 for coordination key '%2' must be positive; got %3 ms."_s
                             .arg(what, key)
                             .arg(duration.count()));
}

QVariant durationMs(milliseconds duration)
{
    return QVariant(qlonglong(duration.count()));
}

} // namespace

PostgresStore::PostgresStore(PostgresUrl url, PostgresStoreOptions options, QObject *parent)
    : CoordinationStore(parent), m_url(std::move(url)), m_options(options),
      m_reconnectDelay(options.reconnectMin)
{
    m_location = u"PostgreSQL at %1:%2 database '%3'"_s.arg(m_url.host)
                         .arg(m_url.port)
                         .arg(m_url.database);
    m_health.kind = kind();
    m_health.usable = false;

    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &PostgresStore::connectMissing);
    connect(&m_checkTimer, &QTimer::timeout, this, &PostgresStore::checkConnections);
    m_checkTimer.start(std::max(m_options.checkInterval, milliseconds(1)));
    connect(&m_cleanupTimer, &QTimer::timeout, this, &PostgresStore::purgeExpired);
    m_cleanupTimer.start(std::max(m_options.cleanupInterval, milliseconds(1)));

    connectMissing();
}

PostgresStore::~PostgresStore()
{
    // The listener's driver goes first, so no notification arrives while the
    // command connection is closing.
    m_listener.reset();
    m_commands.reset();
}

QString PostgresStore::kind() const
{
    return u"postgresql"_s;
}

CoordinationHealth PostgresStore::health() const
{
    return m_health;
}

template <typename T>
void PostgresStore::reply(QObject *context, StoreCallback<T> done, Result<T> result)
{
    if (!done)
        return;
    QMetaObject::invokeMethod(
            context ? context : this,
            [done = std::move(done), result = std::move(result)] { done(result); },
            Qt::QueuedConnection);
}

// ---- Connections ------------------------------------------------------------

Result<std::unique_ptr<SqlConnection>> PostgresStore::openConnection()
{
    PostgresUrl url = m_url;
    if (!url.connectOptions.contains(u"connect_timeout"_s)) {
        const QString timeout =
                u"connect_timeout=%1"_s.arg(std::max(m_options.connectTimeoutSeconds, 2));
        url.connectOptions = url.connectOptions.isEmpty()
                ? timeout
                : url.connectOptions + u';' + timeout;
    }
    return SqlConnection::openPostgres(url);
}

Result<void> PostgresStore::createTables(SqlConnection &connection)
{
    // CREATE TABLE IF NOT EXISTS needs the CREATE privilege even when the
    // table exists, so tables that another role created are not touched.
    auto existing = connection.exec(
            u"look up the coordination tables",
            u"SELECT count(to_regclass(name)) FROM unnest(ARRAY['%1']) AS name"_s.arg(
                    kTableNames.join(u"', '"_s)));
    if (!existing)
        return existing.error();
    if (existing->next() && existing->value(0).toInt() == kTableNames.size())
        return {};
    existing->finish();

    const QString purpose = u"create the coordination tables"_s;
    SqlTransaction transaction(connection);
    if (auto begun = transaction.begin(purpose); !begun)
        return begun.error();
    if (auto locked = connection.exec(purpose,
                                      u"SELECT pg_advisory_xact_lock(%1)"_s.arg(kSchemaLockKey));
        !locked)
        return locked.error();
    // Without this, libpq prints a NOTICE for every table that exists.
    if (auto quiet = connection.exec(purpose, u"SET LOCAL client_min_messages = warning"_s);
        !quiet)
        return quiet.error();
    for (const QString &statement : kCreateTables) {
        if (auto created = connection.exec(purpose, statement); !created)
            return created.error();
    }
    return transaction.commit(purpose);
}

Result<void> PostgresStore::listen(SqlConnection &connection)
{
    QSqlDriver *driver = connection.database().driver();
    if (!driver->subscribeToNotification(kNotifyChannel)) {
        return makeError(Reason::IoError, u"could not LISTEN on %1: %2"_s.arg(
                                                  kNotifyChannel,
                                                  sqlErrorSummary(driver->lastError())));
    }
    connect(driver,
            qOverload<const QString &, QSqlDriver::NotificationSource, const QVariant &>(
                    &QSqlDriver::notification),
            this, &PostgresStore::onNotification);
    return {};
}

void PostgresStore::connectMissing()
{
    dropLostConnections();
    const bool wasUsable = m_health.usable;
    QString failure;

    if (!m_commands) {
        auto opened = openConnection();
        if (!opened) {
            failure = opened.error().message;
        } else if (auto created = createTables(*opened.value()); !created) {
            failure = created.error().message;
        } else {
            m_commands = std::move(opened.value());
        }
    }
    if (!m_listener && failure.isEmpty()) {
        auto opened = openConnection();
        if (!opened) {
            failure = opened.error().message;
        } else if (auto listening = listen(*opened.value()); !listening) {
            failure = listening.error().message;
        } else {
            m_listener = std::move(opened.value());
        }
    }

    if (m_commands && m_listener) {
        m_failure.clear();
        m_reconnectDelay = m_options.reconnectMin;
        m_reconnectTimer.stop();
        if (!wasUsable)
            log()->info("Coordination on {} is usable", text(m_location));
    } else {
        if (m_failure != failure)
            log()->warn("Connecting coordination to {} failed; retrying in {} ms: {}",
                        text(m_location), m_reconnectDelay.count(), text(failure));
        m_failure = failure;
        scheduleReconnect();
        m_reconnectDelay = std::min(m_reconnectDelay * 2, m_options.reconnectMax);
    }
    updateHealth();
}

void PostgresStore::dropLostConnections()
{
    if (m_listenerLost) {
        m_listener.reset();
        m_listenerLost = false;
    }
    if (m_commandsLost) {
        m_commands.reset();
        m_commandsLost = false;
    }
}

void PostgresStore::markLost(bool listener, const QString &detail)
{
    bool &lost = listener ? m_listenerLost : m_commandsLost;
    if (lost)
        return;
    lost = true;
    if (m_failure.isEmpty()) {
        m_failure = detail;
        log()->warn("Coordination lost its {} connection to {}; reconnecting: {}",
                    listener ? "LISTEN" : "command", text(m_location), text(detail));
    }
    scheduleReconnect();
    updateHealth();
}

bool PostgresStore::checkConnection(SqlConnection &connection)
{
    return connection.exec(u"check the coordination connection", u"SELECT 1"_s).ok();
}

void PostgresStore::checkConnections()
{
    dropLostConnections();
    if (m_commands) {
        auto checked = m_commands->exec(u"check the coordination connection", u"SELECT 1"_s);
        if (!checked)
            markLost(false, checked.error().message);
    }
    if (m_listener) {
        auto checked = m_listener->exec(u"check the LISTEN connection", u"SELECT 1"_s);
        if (!checked)
            markLost(true, checked.error().message);
    }
    if (!m_commands || !m_listener)
        scheduleReconnect();
}

void PostgresStore::scheduleReconnect()
{
    if (!m_reconnectTimer.isActive())
        m_reconnectTimer.start(std::max(m_reconnectDelay, milliseconds(1)));
}

void PostgresStore::updateHealth()
{
    const bool usable = m_commands && m_listener && !m_commandsLost && !m_listenerLost;
    const QString detail = usable ? QString() : u"%1 is not usable: %2"_s.arg(m_location, m_failure);
    if (m_health.usable == usable && m_health.detail == detail)
        return;
    m_health.usable = usable;
    m_health.detail = detail;
    Q_EMIT healthChanged();
}

Error PostgresStore::notConnected(QStringView purpose) const
{
    return makeError(Reason::BackendBusy,
                     u"Could not %1: %2 is not connected (%3). The store reconnects in the "
                     "background."_s.arg(purpose, m_location, m_failure));
}

Result<SqlQuery> PostgresStore::run(QStringView purpose, const QString &sql,
                                    const SqlBindings &bindings)
{
    if (!m_commands || m_commandsLost)
        return notConnected(purpose);
    auto result = m_commands->exec(purpose, sql, bindings);
    if (result)
        return result;

    // A failed statement aborts an open transaction, and SELECT 1 fails
    // inside one, so the transaction is rolled back before the check.
    if (m_inTransaction) {
        m_inTransaction = false;
        auto rolledBack = m_commands->exec(u"roll back the coordination transaction",
                                           u"ROLLBACK"_s);
        if (!rolledBack)
            log()->debug("{}", text(rolledBack.error().message));
    }
    if (!checkConnection(*m_commands))
        markLost(false, result.error().message);
    return result.error();
}

// ---- Values -------------------------------------------------------------------

void PostgresStore::setIfAbsent(const QString &key, const QByteArray &token, milliseconds ttl,
                                QObject *context, StoreCallback<bool> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        reply<bool>(context, std::move(done), *error);
        return;
    }
    dropLostConnections();
    // The WHERE of DO UPDATE lets an expired row be taken over, and a live
    // row makes the statement return no row.
    auto set = run(u"set coordination key '%1'"_s.arg(key),
                   u"INSERT INTO coordination_values AS v (key, value, expires_at)"
                   " VALUES (:key, :token, clock_timestamp() + %1)"
                   " ON CONFLICT (key) DO UPDATE"
                   " SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
                   " WHERE v.expires_at <= clock_timestamp()"
                   " RETURNING 1"_s.arg(interval(u"ttl")),
                   {{u":key"_s, key}, {u":token"_s, token}, {u":ttl"_s, durationMs(ttl)}});
    if (!set) {
        reply<bool>(context, std::move(done), set.error());
        return;
    }
    reply<bool>(context, std::move(done), set->next());
}

void PostgresStore::get(const QString &key, QObject *context,
                        StoreCallback<std::optional<QByteArray>> done)
{
    dropLostConnections();
    auto read = run(u"read coordination key '%1'"_s.arg(key),
                    u"SELECT value FROM coordination_values"
                    " WHERE key = :key AND expires_at > clock_timestamp()"_s,
                    {{u":key"_s, key}});
    if (!read) {
        reply<std::optional<QByteArray>>(context, std::move(done), read.error());
        return;
    }
    std::optional<QByteArray> value;
    if (read->next())
        value = read->value(0).toByteArray();
    reply<std::optional<QByteArray>>(context, std::move(done), value);
}

void PostgresStore::compareAndDelete(const QString &key, const QByteArray &token,
                                     QObject *context, StoreCallback<bool> done)
{
    dropLostConnections();
    auto deleted = run(u"delete coordination key '%1'"_s.arg(key),
                       u"DELETE FROM coordination_values"
                       " WHERE key = :key AND value = :token AND expires_at > clock_timestamp()"
                       " RETURNING 1"_s,
                       {{u":key"_s, key}, {u":token"_s, token}});
    if (!deleted) {
        reply<bool>(context, std::move(done), deleted.error());
        return;
    }
    reply<bool>(context, std::move(done), deleted->next());
}

void PostgresStore::compareAndRenew(const QString &key, const QByteArray &token, milliseconds ttl,
                                    QObject *context, StoreCallback<bool> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        reply<bool>(context, std::move(done), *error);
        return;
    }
    dropLostConnections();
    auto renewed = run(u"renew coordination key '%1'"_s.arg(key),
                       u"UPDATE coordination_values SET expires_at = clock_timestamp() + %1"
                       " WHERE key = :key AND value = :token AND expires_at > clock_timestamp()"
                       " RETURNING 1"_s.arg(interval(u"ttl")),
                       {{u":ttl"_s, durationMs(ttl)}, {u":key"_s, key}, {u":token"_s, token}});
    if (!renewed) {
        reply<bool>(context, std::move(done), renewed.error());
        return;
    }
    reply<bool>(context, std::move(done), renewed->next());
}

void PostgresStore::remove(const QString &key, QObject *context, StoreCallback<bool> done)
{
    dropLostConnections();
    // A racing DELETE waits for the first one's commit and then finds no
    // row, so exactly one caller gets a row back.
    auto deleted = run(u"delete coordination key '%1'"_s.arg(key),
                       u"DELETE FROM coordination_values"
                       " WHERE key = :key AND expires_at > clock_timestamp() RETURNING 1"_s,
                       {{u":key"_s, key}});
    if (!deleted) {
        reply<bool>(context, std::move(done), deleted.error());
        return;
    }
    reply<bool>(context, std::move(done), deleted->next());
}

// ---- Publish/subscribe -----------------------------------------------------------

Subscription PostgresStore::subscribe(const QString &channel, QObject *context,
                                      MessageHandler handler, StoreCallback<void> ready)
{
    dropLostConnections();
    const quint64 id = m_nextSubscriptionId++;
    m_subscribers.append(Subscriber{id, channel, context ? context : this, std::move(handler)});
    if (m_listener) {
        reply<void>(context, std::move(ready), Result<void>());
    } else {
        reply<void>(context, std::move(ready),
                    notConnected(u"subscribe to channel '%1'"_s.arg(channel)));
    }
    return Subscription(this, id);
}

void PostgresStore::unsubscribe(quint64 id)
{
    m_subscribers.removeIf([id](const Subscriber &subscriber) { return subscriber.id == id; });
}

int PostgresStore::localSubscriberCount(const QString &channel) const
{
    return int(std::count_if(m_subscribers.cbegin(), m_subscribers.cend(),
                             [&channel](const Subscriber &subscriber) {
                                 return subscriber.channel == channel && subscriber.context
                                         && subscriber.handler;
                             }));
}

void PostgresStore::publish(const QString &channel, const QByteArray &message, QObject *context,
                            StoreCallback<int> done)
{
    dropLostConnections();
    const QString announcement = channel.toUtf8().size() <= kMaxAnnouncedChannelBytes
            ? u"message.id::text || ':' || :announced"_s
            : u"message.id::text"_s;
    SqlBindings bindings{{u":channel"_s, channel}, {u":payload"_s, message}};
    if (channel.toUtf8().size() <= kMaxAnnouncedChannelBytes)
        bindings.append({u":announced"_s, channel});

    // The NOTIFY is sent when the INSERT commits, so a receiver always finds
    // the row.
    auto published = run(u"publish on channel '%1'"_s.arg(channel),
                         u"WITH message AS ("
                         " INSERT INTO coordination_messages (channel, payload)"
                         " VALUES (:channel, :payload) RETURNING id)"
                         " SELECT pg_notify('%1', %2) FROM message"_s.arg(kNotifyChannel,
                                                                        announcement),
                         bindings);
    if (!published) {
        reply<int>(context, std::move(done), published.error());
        return;
    }
    const int receivers = m_listener && !m_listenerLost ? localSubscriberCount(channel) : 0;
    reply<int>(context, std::move(done), receivers);
}

void PostgresStore::onNotification(const QString &name, QSqlDriver::NotificationSource,
                                   const QVariant &payload)
{
    if (name != kNotifyChannel)
        return;
    const QString announcement = payload.toString();
    const qsizetype separator = announcement.indexOf(u':');
    bool valid = false;
    const quint64 messageId = announcement.left(separator).toULongLong(&valid);
    if (!valid) {
        log()->warn("Ignoring a notification on {} with the malformed payload '{}'",
                    text(kNotifyChannel), text(announcement.left(64)));
        return;
    }
    deliver(messageId, separator < 0 ? QString() : announcement.mid(separator + 1));
}

void PostgresStore::deliver(quint64 messageId, const QString &announcedChannel)
{
    if (!announcedChannel.isNull() && localSubscriberCount(announcedChannel) == 0)
        return;

    auto row = run(u"read published message %1"_s.arg(messageId),
                   u"SELECT channel, payload FROM coordination_messages WHERE id = :id"_s,
                   {{u":id"_s, QVariant(qulonglong(messageId))}});
    if (!row) {
        log()->warn("Dropping published message {}: {}", messageId, text(row.error().message));
        return;
    }
    if (!row->next()) {
        log()->warn("Dropping published message {}: its row was deleted before it was read",
                    messageId);
        return;
    }
    const QString channel = row->value(0).toString();
    const QByteArray message = row->value(1).toByteArray();

    // The subscription is checked again on delivery, so a handler never runs
    // after its subscription was cancelled.
    const QPointer<PostgresStore> self(this);
    for (const Subscriber &subscriber : std::as_const(m_subscribers)) {
        if (subscriber.channel != channel || !subscriber.context || !subscriber.handler)
            continue;
        QMetaObject::invokeMethod(
                subscriber.context.data(),
                [self, id = subscriber.id, handler = subscriber.handler, channel, message] {
                    if (!self)
                        return;
                    const bool active = std::any_of(
                            self->m_subscribers.cbegin(), self->m_subscribers.cend(),
                            [id](const Subscriber &candidate) { return candidate.id == id; });
                    if (active)
                        handler(channel, message);
                },
                Qt::QueuedConnection);
    }
}

// ---- Sliding windows ----------------------------------------------------------------

Result<qint64> PostgresStore::addToWindow(const QString &key, const QByteArray &member,
                                          milliseconds window)
{
    const QString purpose = u"add to coordination window '%1'"_s.arg(key);
    if (auto begun = run(purpose, u"BEGIN"_s); !begun)
        return begun.error();
    m_inTransaction = true;

    // Locks the key row, so concurrent adds to this window wait here, and
    // reads the one `now` that every later step uses. The no-op update
    // returns the old expiry.
    auto locked = run(purpose,
                      u"INSERT INTO coordination_window_keys AS k (key, expires_at)"
                      " VALUES (:key, clock_timestamp())"
                      " ON CONFLICT (key) DO UPDATE SET expires_at = k.expires_at"
                      " RETURNING clock_timestamp()::text, k.expires_at <= clock_timestamp()"_s,
                      {{u":key"_s, key}});
    if (!locked)
        return locked.error();
    locked->next();
    const QString now = locked->value(0).toString();
    const bool expired = locked->value(1).toBool();
    locked->finish();

    const QList<std::pair<QString, SqlBindings>> steps = {
        // Events of an expired window are gone, as if the key had expired.
        {expired ? u"DELETE FROM coordination_window_events WHERE key = :key"_s : QString(),
         {{u":key"_s, key}}},
        {u"INSERT INTO coordination_window_events (key, member, recorded_at)"
         " VALUES (:key, :member, CAST(:now AS timestamptz))"
         " ON CONFLICT (key, member) DO UPDATE SET recorded_at = EXCLUDED.recorded_at"_s,
         {{u":key"_s, key}, {u":member"_s, member}, {u":now"_s, now}}},
        {u"DELETE FROM coordination_window_events"
         " WHERE key = :key AND recorded_at <= CAST(:now AS timestamptz) - %1"_s.arg(
                 interval(u"window")),
         {{u":key"_s, key}, {u":now"_s, now}, {u":window"_s, durationMs(window)}}},
        {u"UPDATE coordination_window_keys SET expires_at = CAST(:now AS timestamptz) + %1"
         " WHERE key = :key"_s.arg(interval(u"window")),
         {{u":now"_s, now}, {u":window"_s, durationMs(window)}, {u":key"_s, key}}},
    };
    for (const auto &[sql, bindings] : steps) {
        if (sql.isEmpty())
            continue;
        if (auto done = run(purpose, sql, bindings); !done)
            return done.error();
    }

    auto counted = run(purpose,
                       u"SELECT count(*) FROM coordination_window_events WHERE key = :key"_s,
                       {{u":key"_s, key}});
    if (!counted)
        return counted.error();
    counted->next();
    const qint64 count = counted->value(0).toLongLong();
    counted->finish();

    if (auto committed = run(purpose, u"COMMIT"_s); !committed)
        return committed.error();
    m_inTransaction = false;
    return count;
}

void PostgresStore::windowAdd(const QString &key, const QByteArray &member, milliseconds window,
                              QObject *context, StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        reply<qint64>(context, std::move(done), *error);
        return;
    }
    dropLostConnections();
    reply<qint64>(context, std::move(done), addToWindow(key, member, window));
}

void PostgresStore::windowCount(const QString &key, milliseconds window, QObject *context,
                                StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        reply<qint64>(context, std::move(done), *error);
        return;
    }
    dropLostConnections();
    auto counted = run(u"count coordination window '%1'"_s.arg(key),
                       u"SELECT count(*) FROM coordination_window_events e"
                       " JOIN coordination_window_keys k ON k.key = e.key"
                       " CROSS JOIN (SELECT clock_timestamp() AS t) AS now"
                       " WHERE e.key = :key AND k.expires_at > now.t"
                       " AND e.recorded_at > now.t - %1"_s.arg(interval(u"window")),
                       {{u":key"_s, key}, {u":window"_s, durationMs(window)}});
    if (!counted) {
        reply<qint64>(context, std::move(done), counted.error());
        return;
    }
    counted->next();
    reply<qint64>(context, std::move(done), counted->value(0).toLongLong());
}

void PostgresStore::windowTrim(const QString &key, milliseconds window, QObject *context,
                               StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        reply<qint64>(context, std::move(done), *error);
        return;
    }
    dropLostConnections();
    // Events of an expired window key are not counted as dropped, because
    // the cleanup deletes them with the key.
    auto trimmed = run(u"trim coordination window '%1'"_s.arg(key),
                       u"WITH now AS (SELECT clock_timestamp() AS t),"
                       " dropped AS ("
                       " DELETE FROM coordination_window_events e"
                       " USING coordination_window_keys k, now"
                       " WHERE e.key = :key AND k.key = e.key AND k.expires_at > now.t"
                       " AND e.recorded_at <= now.t - %1 RETURNING 1)"
                       " SELECT count(*) FROM dropped"_s.arg(interval(u"window")),
                       {{u":key"_s, key}, {u":window"_s, durationMs(window)}});
    if (!trimmed) {
        reply<qint64>(context, std::move(done), trimmed.error());
        return;
    }
    trimmed->next();
    reply<qint64>(context, std::move(done), trimmed->value(0).toLongLong());
}

// ---- Sets with TTL -----------------------------------------------------------------

void PostgresStore::setAdd(const QString &key, const QByteArray &member, milliseconds ttl,
                           QObject *context, StoreCallback<void> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        reply<void>(context, std::move(done), *error);
        return;
    }
    dropLostConnections();
    auto added = run(u"add to coordination set '%1'"_s.arg(key),
                     u"INSERT INTO coordination_set_members (key, member, expires_at)"
                     " VALUES (:key, :member, clock_timestamp() + %1)"
                     " ON CONFLICT (key, member) DO UPDATE SET expires_at = EXCLUDED.expires_at"_s
                             .arg(interval(u"ttl")),
                     {{u":key"_s, key}, {u":member"_s, member}, {u":ttl"_s, durationMs(ttl)}});
    if (!added) {
        reply<void>(context, std::move(done), added.error());
        return;
    }
    reply<void>(context, std::move(done), Result<void>());
}

void PostgresStore::setRemove(const QString &key, const QByteArray &member, QObject *context,
                              StoreCallback<bool> done)
{
    dropLostConnections();
    auto removed = run(u"remove from coordination set '%1'"_s.arg(key),
                       u"DELETE FROM coordination_set_members"
                       " WHERE key = :key AND member = :member AND expires_at > clock_timestamp()"
                       " RETURNING 1"_s,
                       {{u":key"_s, key}, {u":member"_s, member}});
    if (!removed) {
        reply<bool>(context, std::move(done), removed.error());
        return;
    }
    reply<bool>(context, std::move(done), removed->next());
}

void PostgresStore::setContains(const QString &key, const QByteArray &member, QObject *context,
                                StoreCallback<bool> done)
{
    dropLostConnections();
    auto found = run(u"read coordination set '%1'"_s.arg(key),
                     u"SELECT 1 FROM coordination_set_members"
                     " WHERE key = :key AND member = :member AND expires_at > clock_timestamp()"_s,
                     {{u":key"_s, key}, {u":member"_s, member}});
    if (!found) {
        reply<bool>(context, std::move(done), found.error());
        return;
    }
    reply<bool>(context, std::move(done), found->next());
}

void PostgresStore::setMembers(const QString &key, QObject *context,
                               StoreCallback<QList<QByteArray>> done)
{
    dropLostConnections();
    auto found = run(u"read coordination set '%1'"_s.arg(key),
                     u"SELECT member FROM coordination_set_members"
                     " WHERE key = :key AND expires_at > clock_timestamp()"_s,
                     {{u":key"_s, key}});
    if (!found) {
        reply<QList<QByteArray>>(context, std::move(done), found.error());
        return;
    }
    QList<QByteArray> members;
    while (found->next())
        members.append(found->value(0).toByteArray());
    reply<QList<QByteArray>>(context, std::move(done), members);
}

// ---- Cleanup ------------------------------------------------------------------------

void PostgresStore::purgeExpired()
{
    dropLostConnections();
    if (!m_commands)
        return;

    // Deleting a window key and its events in one statement keeps a
    // concurrent windowAdd, which locks the key row first, from losing the
    // events it just wrote.
    const QList<std::pair<QString, SqlBindings>> statements = {
        {u"DELETE FROM coordination_values WHERE expires_at <= clock_timestamp()"_s, {}},
        {u"DELETE FROM coordination_set_members WHERE expires_at <= clock_timestamp()"_s, {}},
        {u"WITH gone AS ("
         " DELETE FROM coordination_window_keys WHERE expires_at <= clock_timestamp()"
         " RETURNING key)"
         " DELETE FROM coordination_window_events WHERE key IN (SELECT key FROM gone)"_s,
         {}},
        {u"DELETE FROM coordination_messages WHERE created_at <= clock_timestamp() - %1"_s.arg(
                 interval(u"retention")),
         {{u":retention"_s, durationMs(m_options.messageRetention)}}},
    };
    for (const auto &[sql, bindings] : statements) {
        if (auto done = run(u"delete expired coordination rows", sql, bindings); !done) {
            log()->warn("Deleting expired coordination rows on {} failed: {}", text(m_location),
                        text(done.error().message));
            return;
        }
    }
}

} // namespace sealrelay::backend
