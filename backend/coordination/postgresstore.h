// PostgresStore: the CoordinationStore that several backend replicas share
// through their PostgreSQL database while Redis is down.
#pragma once

#include "coordinationstore.h"
#include "databaseurl.h"
#include "sqlconnection.h"

#include <QSqlDriver>
#include <QTimer>
#include <QVariant>

#include <memory>

namespace sealrelay::backend {

struct PostgresStoreOptions {
    // Interval of the check that runs SELECT 1 on both connections, so that
    // a lost LISTEN connection is noticed even when no operation runs.
    std::chrono::milliseconds checkInterval{1'000};
    // Reconnect delays: the first retry waits reconnectMin, and each failed
    // retry doubles the delay up to reconnectMax.
    std::chrono::milliseconds reconnectMin{100};
    std::chrono::milliseconds reconnectMax{5'000};
    // Interval of the cleanup that deletes expired values, window keys and
    // set members, and published messages older than messageRetention.
    std::chrono::milliseconds cleanupInterval{60'000};
    std::chrono::milliseconds messageRetention{300'000};
    // libpq connect_timeout in seconds, used when the URL sets none. libpq
    // waits forever without one, and every connect blocks the store's thread.
    int connectTimeoutSeconds = 5;
};

// Tables: the store creates coordination_values, coordination_window_keys,
// coordination_window_events, coordination_set_members and
// coordination_messages when it connects, with CREATE TABLE IF NOT EXISTS in
// one transaction that first takes a fixed transaction-level advisory lock,
// so replicas that start together do not collide. Creating them needs the
// CREATE privilege on the schema (on PostgreSQL 15 the database owner has it
// on `public`, other roles do not by default). When all five tables exist,
// the store creates nothing, so a role without CREATE can use tables that
// another role created and granted SELECT, INSERT, UPDATE and DELETE on,
// plus USAGE on the sequence of coordination_messages.id.
//
// Times: every TTL and window runs on the database server's clock
// (clock_timestamp()), so replicas with skewed clocks agree. Expired rows
// are ignored by every read and deleted by a periodic cleanup.
//
// Atomicity: setIfAbsent, compareAndDelete, compareAndRenew and remove are
// single statements whose WHERE clause checks expiry and token, so only one
// of racing replicas wins and a holder whose TTL ran out never deletes or
// renews its successor's key. windowAdd runs in a transaction that first
// locks the window's key row, so concurrent adds to one window serialise and
// each returns an exact count.
//
// Threading: every statement runs synchronously on the thread that created
// the store, as SqlStorage does, and only the callbacks are queued. An
// operation therefore blocks that thread for one or more round trips to
// PostgreSQL. Each connection attempt blocks it for up to
// connectTimeoutSeconds.
//
// Failures: while a connection is down, operations fail at once with
// Reason::BackendBusy and a timer reconnects in the background. A statement
// that fails is Reason::IoError naming the operation and the key. When a
// SELECT 1 on the same connection fails too, the connection counts as lost.
// A statement cut off by a lost connection may or may not have taken effect.
// Messages never contain the URL's password.
//
// NOTE: there is no statement timeout, so a server that accepts the
// connection but stops replying blocks the store's thread until TCP gives up.
//
// Publish/subscribe: publish() inserts the message into
// coordination_messages and sends its id and channel as the payload of a
// NOTIFY on the PostgreSQL channel sealrelay_coordination, because a NOTIFY
// payload is limited to 8000 bytes. A second connection LISTENs on that
// channel, reads each announced row whose channel has a local subscriber
// through the command connection and passes it to the handlers in
// subscription order. A row that cannot be read is dropped with a warning in
// the log. Messages published while
// the LISTEN connection is down are lost for this store: PostgreSQL keeps no
// notifications for a session that is gone, and after reconnecting the store
// only receives what is published after its new LISTEN.
class PostgresStore final : public CoordinationStore {
    Q_OBJECT
public:
    // Connects at once and creates the tables, and health() reports whether
    // that worked. On failure the store keeps reconnecting in the background.
    explicit PostgresStore(PostgresUrl url, PostgresStoreOptions options = {},
                           QObject *parent = nullptr);
    ~PostgresStore() override;

    // "postgresql".
    QString kind() const override;
    // Usable while both connections are open. A connection counts as lost
    // when its periodic check fails, or when a statement fails and a SELECT 1
    // after it fails too. The store is then unusable until it reconnects.
    CoordinationHealth health() const override;

    void setIfAbsent(const QString &key, const QByteArray &token, std::chrono::milliseconds ttl,
                     QObject *context, StoreCallback<bool> done) override;
    void get(const QString &key, QObject *context,
             StoreCallback<std::optional<QByteArray>> done) override;
    void compareAndDelete(const QString &key, const QByteArray &token, QObject *context,
                          StoreCallback<bool> done) override;
    void compareAndRenew(const QString &key, const QByteArray &token,
                         std::chrono::milliseconds ttl, QObject *context,
                         StoreCallback<bool> done) override;
    void remove(const QString &key, QObject *context, StoreCallback<bool> done) override;

    // `ready` runs with success when the LISTEN connection is open, which
    // means the LISTEN is in effect. Otherwise it runs with
    // Reason::BackendBusy, and the subscription stays and receives messages
    // once the store has reconnected.
    Subscription subscribe(const QString &channel, QObject *context, MessageHandler handler,
                           StoreCallback<void> ready) override;
    // Returns the number of subscriptions to `channel` on this store, or 0
    // while its LISTEN connection is down. Subscribers on other replicas are
    // not counted, because PostgreSQL does not report who LISTENs, so the
    // count is a lower bound of the receivers.
    void publish(const QString &channel, const QByteArray &message, QObject *context,
                 StoreCallback<int> done) override;

    void windowAdd(const QString &key, const QByteArray &member, std::chrono::milliseconds window,
                   QObject *context, StoreCallback<qint64> done) override;
    void windowCount(const QString &key, std::chrono::milliseconds window, QObject *context,
                     StoreCallback<qint64> done) override;
    void windowTrim(const QString &key, std::chrono::milliseconds window, QObject *context,
                    StoreCallback<qint64> done) override;

    void setAdd(const QString &key, const QByteArray &member, std::chrono::milliseconds ttl,
                QObject *context, StoreCallback<void> done) override;
    void setRemove(const QString &key, const QByteArray &member, QObject *context,
                   StoreCallback<bool> done) override;
    void setContains(const QString &key, const QByteArray &member, QObject *context,
                     StoreCallback<bool> done) override;
    void setMembers(const QString &key, QObject *context,
                    StoreCallback<QList<QByteArray>> done) override;

    // Deletes expired values, window keys with their events, set members and
    // messages older than messageRetention. The cleanup timer calls it.
    void purgeExpired();

protected:
    void unsubscribe(quint64 id) override;

private:
    struct Subscriber {
        quint64 id = 0;
        QString channel;
        QPointer<QObject> context;
        MessageHandler handler;
    };

    template <typename T>
    void reply(QObject *context, StoreCallback<T> done, Result<T> result);

    // Runs one statement on the command connection and updates health.
    Result<SqlQuery> run(QStringView purpose, const QString &sql,
                         const SqlBindings &bindings = {});
    Result<qint64> addToWindow(const QString &key, const QByteArray &member,
                               std::chrono::milliseconds window);
    Error notConnected(QStringView purpose) const;
    bool checkConnection(SqlConnection &connection);

    void connectMissing();
    Result<std::unique_ptr<SqlConnection>> openConnection();
    Result<void> createTables(SqlConnection &connection);
    Result<void> listen(SqlConnection &connection);
    // Drops connections marked lost. Only called where no QSqlQuery or
    // transaction on them is alive.
    void dropLostConnections();
    void markLost(bool listener, const QString &detail);
    void checkConnections();
    void scheduleReconnect();
    void updateHealth();

    void onNotification(const QString &name, QSqlDriver::NotificationSource source,
                        const QVariant &payload);
    void deliver(quint64 messageId, const QString &announcedChannel);
    int localSubscriberCount(const QString &channel) const;

    PostgresUrl m_url;
    PostgresStoreOptions m_options;
    QString m_location; // "PostgreSQL at host:port database name", for messages

    std::unique_ptr<SqlConnection> m_commands;
    std::unique_ptr<SqlConnection> m_listener;
    bool m_commandsLost = false;
    bool m_listenerLost = false;
    bool m_inTransaction = false; // between BEGIN and COMMIT of windowAdd
    QString m_failure; // why the store is not usable; empty while it is

    QTimer m_checkTimer;
    QTimer m_reconnectTimer;
    QTimer m_cleanupTimer;
    std::chrono::milliseconds m_reconnectDelay;

    QList<Subscriber> m_subscribers; // in subscription order
    quint64 m_nextSubscriptionId = 1;

    CoordinationHealth m_health;
};

} // namespace sealrelay::backend
