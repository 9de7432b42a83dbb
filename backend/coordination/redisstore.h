// RedisStore: the CoordinationStore that backend replicas share through one
// Redis server, over two hiredis 0.14 connections driven by the Qt event loop.
#pragma once

#include "coordinationstore.h"

#include <QElapsedTimer>
#include <QHash>
#include <QTimer>

#include <deque>
#include <memory>

struct redisAsyncContext;
struct redisReply;

namespace sealrelay::backend {

// Address and credentials of the Redis server that a RedisStore connects
// to. The store never logs the password, and describe() leaves it out.
struct RedisEndpoint {
    QString host;       // IP address or host name for TCP, empty for a Unix socket
    quint16 port = 6379;
    QString socketPath; // Unix socket path, empty for TCP
    int database = 0;
    QString username;   // ACL user (Redis 6 and later), empty for the default user
    QString password;   // empty when the server has no password

    // Returns "127.0.0.1:6379 db 0" or "unix socket /run/redis.sock db 0".
    QString describe() const;
};

// Parses redis://[[user]:password@]host[:port][/db],
// unix://path[?db=N&password=P] or an absolute socket path. Error messages
// show the URL without its password.
Result<RedisEndpoint> parseRedisUrl(const QString &url);

struct RedisStoreOptions {
    // Time from an operation call to its callback when Redis does not reply,
    // and the limit for connecting plus authenticating.
    std::chrono::milliseconds operationTimeout{2'000};
    // Reconnect delays: the first retry waits reconnectMin, each further
    // failure doubles the delay up to reconnectMax, with up to 20 % jitter.
    std::chrono::milliseconds reconnectMin{100};
    std::chrono::milliseconds reconnectMax{5'000};
};

// Values are plain Redis strings set with SET NX PX. Compare-and-delete,
// compare-and-renew, windows and TTL sets run as Lua scripts (EVAL), so each
// check and write is atomic on the server. Windows and TTL sets are sorted
// sets scored in milliseconds of Redis's own clock (TIME inside the script),
// so replicas with skewed clocks agree.
//
// Times: every TTL and window runs on the Redis server's clock, not on a
// MonotonicClock, so tests of expiry wait in real time.
//
// Failures: an operation issued while Redis is unreachable waits for a
// reconnect and fails with Reason::BackendBusy when operationTimeout passes.
// When the connection drops after a command was sent, the command may or may
// not have taken effect, and its callback gets Reason::BackendBusy. Errors
// that Redis returns (a key of the wrong type, say) are Reason::Internal.
//
// Publish/subscribe: messages travel on a second connection that has one
// Redis subscription per channel and passes each message to every local
// handler of that channel. After a reconnect it subscribes to every channel
// again. Messages published while it is disconnected are lost, as with any
// Redis subscriber.
class RedisStore final : public CoordinationStore {
    Q_OBJECT
public:
    // Starts connecting at once; health() reports the progress.
    explicit RedisStore(RedisEndpoint endpoint, RedisStoreOptions options = {},
                        QObject *parent = nullptr);
    // Fails every pending operation with Reason::BackendBusy and closes both
    // connections.
    ~RedisStore() override;

    QString kind() const override;
    CoordinationHealth health() const override;
    const RedisEndpoint &endpoint() const { return m_endpoint; }

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

    // `ready` runs once Redis has confirmed the SUBSCRIBE, or with
    // Reason::BackendBusy when operationTimeout passes first. In that case
    // the subscription stays and is confirmed after a later reconnect.
    // NOTE: the subscriber connection is separate, so a publish() issued
    // before `ready` may reach Redis before the SUBSCRIBE does.
    Subscription subscribe(const QString &channel, QObject *context, MessageHandler handler,
                           StoreCallback<void> ready) override;
    // Returns the number of Redis connections subscribed to `channel`, which
    // is one per store however many local handlers it has.
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

protected:
    void unsubscribe(quint64 id) override;

private:
    struct Link;

    // One call in issue order. Its callback is posted only after the calls
    // before it have been posted, which keeps callbacks in issue order even
    // when a later call fails at once.
    struct Operation {
        quint64 id = 0;
        qint64 deadline = 0;        // on m_elapsed
        QString description;        // e.g. "SET NX on key 'lock'", for errors
        QByteArrayList command;     // empty for a subscription's `ready`
        bool sent = false;
        // Converts a reply, or the error when there is none, into the
        // caller's Result and returns the function that posts the callback.
        std::function<std::function<void()>(const redisReply *, const Error *)> settle;
        std::function<void()> post; // set once settled
    };

    enum class ChannelState { Idle, Subscribing, Subscribed, Unsubscribing };

    // Redis state of one channel. At most one SUBSCRIBE or UNSUBSCRIBE of a
    // channel is in flight, because hiredis keys its handlers by channel.
    struct Channel {
        ChannelState state = ChannelState::Idle;
        QList<quint64> waitingSubscriptions; // ids whose `ready` is pending
    };

    struct Subscriber {
        quint64 id = 0;
        QString channel;
        QPointer<QObject> context;
        MessageHandler handler;
        quint64 readyOperation = 0; // pending `ready` operation; 0 once settled
    };

    template <typename T>
    using ReplyParser = std::function<Result<T>(const redisReply &)>;

    template <typename T>
    void submit(QString description, QByteArrayList command, QObject *context,
                StoreCallback<T> done, ReplyParser<T> parse);
    template <typename T>
    quint64 enqueue(QString description, QByteArrayList command, QObject *context,
                    StoreCallback<T> done, ReplyParser<T> parse);
    template <typename T>
    void rejectNow(QObject *context, StoreCallback<T> done, Error error);

    Operation *findOperation(quint64 id);
    void settleOperation(quint64 id, const redisReply *reply, const Error *error);
    void sendOperation(Operation &operation);
    void sendUnsent();
    void postSettled();
    void expireOperations();
    void armDeadlineTimer();
    qint64 now() const { return m_elapsed.elapsed(); }

    void connectLink(Link &link);
    void closeLink(Link &link);
    void linkReady(Link &link);
    void linkFailed(Link &link, const QString &reason);
    void updateHealth();

    void reconcileChannel(const QString &channel);
    void handleSubscriberReply(const redisReply &reply);
    void deliverMessage(const QString &channel, const QByteArray &message);
    bool isSubscriptionActive(quint64 id) const;

    static void onConnect(const redisAsyncContext *context, int status);
    static void onDisconnect(const redisAsyncContext *context, int status);
    static void onHandshakeReply(redisAsyncContext *context, void *reply, void *step);
    static void onOperationReply(redisAsyncContext *context, void *reply, void *operationId);
    static void onSubscriberReply(redisAsyncContext *context, void *reply, void *unused);

    RedisEndpoint m_endpoint;
    RedisStoreOptions m_options;
    QElapsedTimer m_elapsed;
    std::unique_ptr<Link> m_commands;
    std::unique_ptr<Link> m_subscriber;

    std::deque<Operation> m_operations; // in issue order
    quint64 m_nextOperationId = 1;
    QTimer m_deadlineTimer;
    // True after a sent command timed out, until Redis replies again.
    bool m_stalled = false;

    QHash<QString, Channel> m_channels;
    QList<Subscriber> m_subscribers; // in subscription order
    quint64 m_nextSubscriptionId = 1;

    CoordinationHealth m_health;
};

} // namespace sealrelay::backend
