// RedisStore: hiredis connections on the Qt event loop, the ordered queue of
// operations with deadlines, the Lua scripts, and channel resubscription.
#include "redisstore.h"

#include "logging.h"

#include <QMetaObject>
#include <QRandomGenerator>
#include <QSocketNotifier>
#include <QUrl>
#include <QUrlQuery>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <vector>

using namespace Qt::Literals::StringLiterals;
using std::chrono::milliseconds;

namespace sealrelay::backend {

namespace {

// ---- Lua scripts ----------------------------------------------------------
// Each script reads Redis's clock with TIME, so every replica scores events
// and expiries on the same clock. Redis 5 and later replicate a script by its
// effects, which allows a write after TIME, so the store needs Redis 5 or
// later. The scripts go out with EVAL rather than EVALSHA: re-sending a
// script after a NOSCRIPT error would put it behind calls issued later.

#define SEALRELAY_REDIS_NOW \
    "local t = redis.call('TIME') " \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

// KEYS[1] = lock key, ARGV[1] = owner token. Returns 1 when it deleted the key.
constexpr const char *kCompareAndDelete =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('DEL', KEYS[1]) end "
        "return 0";

// KEYS[1] = lock key, ARGV[1] = owner token, ARGV[2] = TTL in ms. Returns 1
// when it reset the TTL.
constexpr const char *kCompareAndRenew =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
        "return 0";

// KEYS[1] = window key, ARGV[1] = member, ARGV[2] = window in ms. Scores the
// member with now, drops events at or before now - window and returns the
// count left.
constexpr const char *kWindowAdd =
        SEALRELAY_REDIS_NOW
        "local window = tonumber(ARGV[2]) "
        "redis.call('ZADD', KEYS[1], now, ARGV[1]) "
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) "
        "redis.call('PEXPIRE', KEYS[1], window) "
        "return redis.call('ZCARD', KEYS[1])";

// KEYS[1] = window key, ARGV[1] = window in ms. Counts events after now - window.
constexpr const char *kWindowCount =
        SEALRELAY_REDIS_NOW
        "return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')";

// KEYS[1] = window key, ARGV[1] = window in ms. Returns how many it dropped.
constexpr const char *kWindowTrim =
        SEALRELAY_REDIS_NOW
        "return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))";

// TTL sets are sorted sets scored by each member's expiry time. A member is
// live while its score is greater than now, and the key itself expires with
// its last member.

// KEYS[1] = set key, ARGV[1] = member, ARGV[2] = TTL in ms.
constexpr const char *kSetAdd =
        SEALRELAY_REDIS_NOW
        "local ttl = tonumber(ARGV[2]) "
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
        "redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) "
        "if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end "
        "return 1";

// KEYS[1] = set key, ARGV[1] = member. Returns 1 when a live member was removed.
constexpr const char *kSetRemove =
        SEALRELAY_REDIS_NOW
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
        "return redis.call('ZREM', KEYS[1], ARGV[1])";

// KEYS[1] = set key, ARGV[1] = member.
constexpr const char *kSetContains =
        SEALRELAY_REDIS_NOW
        "local expiresAt = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
        "if expiresAt and tonumber(expiresAt) > now then return 1 end "
        "return 0";

// KEYS[1] = set key. Drops expired members and returns the others.
constexpr const char *kSetMembers =
        SEALRELAY_REDIS_NOW
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
        "return redis.call('ZRANGE', KEYS[1], 0, -1)";

#undef SEALRELAY_REDIS_NOW

// Handshake steps, passed to onHandshakeReply as its private data.
constexpr quintptr kHandshakeStep = 1;
constexpr quintptr kHandshakeLast = 2;

auto log()
{
    return logger("backend.coordination");
}

std::string text(const QString &value)
{
    return value.toStdString();
}

std::optional<Error> checkDuration(milliseconds duration, QStringView name, const QString &key)
{
    if (duration.count() > 0)
        return std::nullopt;
    return makeError(Reason::Malformed,
                     u"The %1 for coordination key '%2' must be positive; got %3 ms."_s
                             .arg(name, key)
                             .arg(duration.count()));
}

QByteArray number(qint64 value)
{
    return QByteArray::number(value);
}

QByteArrayList evalCommand(const char *script, const QString &key, QByteArrayList arguments)
{
    QByteArrayList command{"EVAL", script, "1", key.toUtf8()};
    command.append(arguments);
    return command;
}

QString replyText(const redisReply &reply)
{
    return QString::fromUtf8(reply.str, static_cast<qsizetype>(reply.len));
}

// Returns true for errors that end when Redis finishes loading, a script
// ends or a replica is promoted. Other errors mean a bad command or a key
// that contains another kind of data.
bool isTransientRedisError(const QString &message)
{
    static const QStringList prefixes{u"LOADING"_s,  u"BUSY"_s,  u"MASTERDOWN"_s,
                                      u"TRYAGAIN"_s, u"READONLY"_s, u"NOAUTH"_s,
                                      u"OOM"_s,      u"CLUSTERDOWN"_s};
    return std::any_of(prefixes.cbegin(), prefixes.cend(),
                       [&message](const QString &prefix) { return message.startsWith(prefix); });
}

Error unexpectedReply(const QString &description, const redisReply &reply)
{
    return makeError(Reason::Internal,
                     u"Redis returned a reply of type %1 to %2; the key may hold another kind of "
                     "data."_s.arg(reply.type)
                             .arg(description));
}

// ---- Reply parsers ----------------------------------------------------------

Result<bool> parseStatusOrNil(const redisReply &reply, const QString &description)
{
    if (reply.type == REDIS_REPLY_STATUS)
        return true;
    if (reply.type == REDIS_REPLY_NIL)
        return false;
    return unexpectedReply(description, reply);
}

Result<bool> parseFlag(const redisReply &reply, const QString &description)
{
    if (reply.type == REDIS_REPLY_INTEGER)
        return reply.integer != 0;
    return unexpectedReply(description, reply);
}

Result<qint64> parseInteger(const redisReply &reply, const QString &description)
{
    if (reply.type == REDIS_REPLY_INTEGER)
        return static_cast<qint64>(reply.integer);
    return unexpectedReply(description, reply);
}

// ---- Event loop hooks -------------------------------------------------------

// The read and write notifiers of one hiredis context. hiredis calls the
// hooks below with this object as their data. It calls cleanup() while it
// frees the context, and the bridge then deletes itself from the event loop.
// This class replaces hiredis/adapters/qt.h, because that adapter keeps a
// pointer to the freed context and writes through it in its destructor.
class EventBridge : public QObject {
public:
    EventBridge(redisAsyncContext *context, QObject *parent) : QObject(parent), m_context(context)
    {
        context->ev.data = this;
        context->ev.addRead = [](void *data) { static_cast<EventBridge *>(data)->setRead(true); };
        context->ev.delRead = [](void *data) { static_cast<EventBridge *>(data)->setRead(false); };
        context->ev.addWrite = [](void *data) {
            static_cast<EventBridge *>(data)->setWrite(true);
        };
        context->ev.delWrite = [](void *data) {
            static_cast<EventBridge *>(data)->setWrite(false);
        };
        context->ev.cleanup = [](void *data) { static_cast<EventBridge *>(data)->cleanup(); };
    }

private:
    void setRead(bool enabled)
    {
        if (!m_read && enabled && m_context) {
            m_read = new QSocketNotifier(m_context->c.fd, QSocketNotifier::Read, this);
            connect(m_read, &QSocketNotifier::activated, this, [this] {
                if (m_context)
                    redisAsyncHandleRead(m_context);
            });
        }
        if (m_read)
            m_read->setEnabled(enabled);
    }

    void setWrite(bool enabled)
    {
        if (!m_write && enabled && m_context) {
            m_write = new QSocketNotifier(m_context->c.fd, QSocketNotifier::Write, this);
            connect(m_write, &QSocketNotifier::activated, this, [this] {
                if (m_context)
                    redisAsyncHandleWrite(m_context);
            });
        }
        if (m_write)
            m_write->setEnabled(enabled);
    }

    // hiredis frees the context right after this returns, possibly from
    // inside one of the notifier slots above, so deletion waits for the
    // event loop.
    void cleanup()
    {
        if (m_read)
            m_read->setEnabled(false);
        if (m_write)
            m_write->setEnabled(false);
        m_context = nullptr;
        deleteLater();
    }

    redisAsyncContext *m_context;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
};

} // namespace

// ---- Endpoint ---------------------------------------------------------------

QString RedisEndpoint::describe() const
{
    if (!socketPath.isEmpty())
        return u"unix socket %1 db %2"_s.arg(socketPath).arg(database);
    return u"%1:%2 db %3"_s.arg(host).arg(port).arg(database);
}

Result<RedisEndpoint> parseRedisUrl(const QString &url)
{
    const QString trimmed = url.trimmed();
    RedisEndpoint endpoint;

    if (trimmed.startsWith(u'/')) {
        endpoint.socketPath = trimmed;
        return endpoint;
    }

    const QUrl parsed(trimmed, QUrl::StrictMode);
    // The query can hold a password too, so it is left out along with the
    // user information's password.
    const QString displayUrl = parsed.isValid()
            ? parsed.toDisplayString(QUrl::RemovePassword | QUrl::RemoveQuery)
            : u"(unparsable URL)"_s;
    const auto invalid = [&displayUrl](const QString &problem) {
        return makeError(Reason::Malformed,
                         u"Invalid Redis URL '%1': %2. Expected redis://[:password@]host[:port]"
                         "[/db], unix:///path/to/socket[?db=N] or an absolute socket path."_s
                                 .arg(displayUrl, problem));
    };
    if (!parsed.isValid())
        return invalid(u"it is not a URL"_s);

    QString databaseText;
    if (parsed.scheme() == u"redis") {
        if (parsed.host().isEmpty())
            return invalid(u"the host is missing"_s);
        endpoint.host = parsed.host();
        const int port = parsed.port(6379);
        if (port <= 0 || port > 65535)
            return invalid(u"the port must be between 1 and 65535"_s);
        endpoint.port = static_cast<quint16>(port);
        endpoint.username = parsed.userName(QUrl::FullyDecoded);
        endpoint.password = parsed.password(QUrl::FullyDecoded);
        databaseText = parsed.path().mid(1);
    } else if (parsed.scheme() == u"unix") {
        if (parsed.path().isEmpty() || !parsed.path().startsWith(u'/'))
            return invalid(u"the socket path must be absolute"_s);
        endpoint.socketPath = parsed.path();
        const QUrlQuery query(parsed);
        databaseText = query.queryItemValue(u"db"_s, QUrl::FullyDecoded);
        endpoint.password = query.queryItemValue(u"password"_s, QUrl::FullyDecoded);
    } else {
        return invalid(u"the scheme must be redis or unix"_s);
    }

    if (!databaseText.isEmpty()) {
        bool ok = false;
        endpoint.database = databaseText.toInt(&ok);
        if (!ok || endpoint.database < 0)
            return invalid(u"the database must be a number of 0 or more"_s);
    }
    return endpoint;
}

// ---- Connections ------------------------------------------------------------

// One hiredis connection, reopened with backoff after every failure.
struct RedisStore::Link {
    enum class Role { Commands, Subscriber };

    RedisStore *store = nullptr;
    Role role = Role::Commands;
    redisAsyncContext *context = nullptr; // null between attempts
    bool ready = false;                   // connected and authenticated
    int failures = 0;                     // consecutive failed attempts
    QString lastError;
    QTimer retryTimer;
    QTimer handshakeTimer;

    QString name() const
    {
        return role == Role::Commands ? u"command connection"_s : u"subscriber connection"_s;
    }
};

RedisStore::RedisStore(RedisEndpoint endpoint, RedisStoreOptions options, QObject *parent)
    : CoordinationStore(parent), m_endpoint(std::move(endpoint)), m_options(options)
{
    m_elapsed.start();
    if (m_options.operationTimeout.count() <= 0)
        m_options.operationTimeout = RedisStoreOptions().operationTimeout;
    m_options.reconnectMin = std::max(m_options.reconnectMin, milliseconds(1));
    m_options.reconnectMax = std::max(m_options.reconnectMax, m_options.reconnectMin);

    m_health.kind = kind();
    m_health.usable = false;
    m_health.detail = u"Connecting to Redis at %1."_s.arg(m_endpoint.describe());

    m_deadlineTimer.setSingleShot(true);
    m_deadlineTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_deadlineTimer, &QTimer::timeout, this, &RedisStore::expireOperations);

    for (auto *link : {&m_commands, &m_subscriber}) {
        *link = std::make_unique<Link>();
        Link &created = **link;
        created.store = this;
        created.role = link == &m_commands ? Link::Role::Commands : Link::Role::Subscriber;
        created.retryTimer.setSingleShot(true);
        created.handshakeTimer.setSingleShot(true);
        connect(&created.retryTimer, &QTimer::timeout, this,
                [this, &created] { connectLink(created); });
        connect(&created.handshakeTimer, &QTimer::timeout, this, [this, &created] {
            closeLink(created);
            linkFailed(created, u"no reply to the connection handshake within %1 ms"_s.arg(
                                        m_options.operationTimeout.count()));
        });
    }

    connectLink(*m_commands);
    connectLink(*m_subscriber);
}

RedisStore::~RedisStore()
{
    const Error shutDown = makeError(
            Reason::BackendBusy,
            u"The Redis coordination store was shut down before the operation finished."_s);
    for (Operation &operation : m_operations) {
        if (!operation.post)
            operation.post = operation.settle(nullptr, &shutDown);
    }
    postSettled();

    // Replies that hiredis fails while freeing find no operation left.
    closeLink(*m_commands);
    closeLink(*m_subscriber);
}

void RedisStore::connectLink(Link &link)
{
    Q_ASSERT(!link.context);
    const QByteArray socketPath = m_endpoint.socketPath.toUtf8();
    const QByteArray host = m_endpoint.host.toUtf8();
    // NOTE: hiredis resolves a host name with a blocking getaddrinfo(), so
    // an IP address in the URL keeps the event loop free.
    redisAsyncContext *context = socketPath.isEmpty()
            ? redisAsyncConnect(host.constData(), m_endpoint.port)
            : redisAsyncConnectUnix(socketPath.constData());
    if (!context) {
        linkFailed(link, u"hiredis could not allocate a connection"_s);
        return;
    }
    if (context->err) {
        const QString reason = QString::fromLocal8Bit(context->errstr);
        redisAsyncFree(context);
        linkFailed(link, reason);
        return;
    }

    context->data = &link;
    new EventBridge(context, this);
    redisAsyncSetConnectCallback(context, &RedisStore::onConnect);
    redisAsyncSetDisconnectCallback(context, &RedisStore::onDisconnect);
    link.context = context;

    // The handshake is pipelined: AUTH, SELECT, then PING, whose reply marks
    // the connection ready.
    const auto sendStep = [context](const QByteArrayList &command, quintptr step) {
        std::vector<const char *> argv;
        std::vector<size_t> argvLength;
        for (const QByteArray &argument : command) {
            argv.push_back(argument.constData());
            argvLength.push_back(static_cast<size_t>(argument.size()));
        }
        redisAsyncCommandArgv(context, &RedisStore::onHandshakeReply,
                              reinterpret_cast<void *>(step), static_cast<int>(argv.size()),
                              argv.data(), argvLength.data());
    };
    if (!m_endpoint.password.isEmpty()) {
        QByteArrayList auth{"AUTH"};
        if (!m_endpoint.username.isEmpty())
            auth.append(m_endpoint.username.toUtf8());
        auth.append(m_endpoint.password.toUtf8());
        sendStep(auth, kHandshakeStep);
    }
    if (m_endpoint.database != 0)
        sendStep({"SELECT", number(m_endpoint.database)}, kHandshakeStep);
    sendStep({"PING"}, kHandshakeLast);

    link.handshakeTimer.start(m_options.operationTimeout);
}

void RedisStore::closeLink(Link &link)
{
    link.handshakeTimer.stop();
    link.ready = false;
    redisAsyncContext *context = std::exchange(link.context, nullptr);
    // Callbacks that hiredis runs while freeing see a context that is no
    // longer the link's and are ignored, except replies to operations.
    if (context)
        redisAsyncFree(context);
}

void RedisStore::linkReady(Link &link)
{
    link.handshakeTimer.stop();
    link.ready = true;
    if (link.failures > 0) {
        log()->info("Redis {} to {} restored after {} failed attempts", text(link.name()),
                    text(m_endpoint.describe()), link.failures);
    } else {
        log()->info("Redis {} to {} established", text(link.name()),
                    text(m_endpoint.describe()));
    }
    link.failures = 0;
    link.lastError.clear();

    if (link.role == Link::Role::Commands) {
        sendUnsent();
    } else {
        const QStringList channels = m_channels.keys();
        for (const QString &channel : channels)
            reconcileChannel(channel);
    }
    updateHealth();
}

void RedisStore::linkFailed(Link &link, const QString &reason)
{
    link.ready = false;
    link.handshakeTimer.stop();
    link.lastError = reason;
    ++link.failures;

    const int doublings = std::min(link.failures - 1, 20);
    const qint64 base = std::min<qint64>(m_options.reconnectMin.count() << doublings,
                                         m_options.reconnectMax.count());
    const qint64 delay = base + QRandomGenerator::global()->bounded(base / 5 + 1);

    // The first failure of a streak is a warning. Repeats are logged every
    // 50 attempts, so an outage does not flood the log.
    if (link.failures == 1) {
        log()->warn("Redis {} to {} failed: {}; reconnecting with backoff", text(link.name()),
                    text(m_endpoint.describe()), text(reason));
    } else if (link.failures % 50 == 0) {
        log()->warn("Redis {} to {} still failing after {} attempts: {}", text(link.name()),
                    text(m_endpoint.describe()), link.failures, text(reason));
    }

    if (link.role == Link::Role::Subscriber) {
        // Redis dropped every subscription with the connection.
        for (Channel &channel : m_channels)
            channel.state = ChannelState::Idle;
    }

    link.retryTimer.start(milliseconds(delay));
    updateHealth();
}

void RedisStore::updateHealth()
{
    CoordinationHealth health;
    health.kind = kind();
    health.usable = m_commands->ready && m_subscriber->ready && !m_stalled;

    const QString where = m_endpoint.describe();
    if (!m_commands->ready) {
        health.detail = m_commands->lastError.isEmpty()
                ? u"Connecting to Redis at %1."_s.arg(where)
                : u"Cannot reach Redis at %1: %2. Reconnecting with backoff."_s.arg(
                          where, m_commands->lastError);
    } else if (!m_subscriber->ready) {
        health.detail = m_subscriber->lastError.isEmpty()
                ? u"Connecting the subscriber connection to Redis at %1."_s.arg(where)
                : u"The subscriber connection to Redis at %1 failed: %2. Reconnecting with "
                  "backoff."_s.arg(where, m_subscriber->lastError);
    } else if (m_stalled) {
        health.detail = u"Redis at %1 did not reply within %2 ms."_s.arg(where).arg(
                m_options.operationTimeout.count());
    }

    if (health.usable == m_health.usable && health.detail == m_health.detail)
        return;
    m_health = health;
    Q_EMIT healthChanged();
}

QString RedisStore::kind() const
{
    return u"redis"_s;
}

CoordinationHealth RedisStore::health() const
{
    return m_health;
}

// ---- hiredis callbacks ------------------------------------------------------

void RedisStore::onConnect(const redisAsyncContext *context, int status)
{
    auto *link = static_cast<Link *>(context->data);
    if (status == REDIS_OK || link->context != context)
        return;
    // hiredis frees the context after this returns.
    link->context = nullptr;
    link->store->linkFailed(*link, QString::fromLocal8Bit(context->errstr));
}

void RedisStore::onDisconnect(const redisAsyncContext *context, int status)
{
    Q_UNUSED(status);
    auto *link = static_cast<Link *>(context->data);
    if (link->context != context)
        return;
    link->context = nullptr;
    const QString reason = context->err ? QString::fromLocal8Bit(context->errstr)
                                        : u"the connection was closed"_s;
    link->store->linkFailed(*link, reason);
}

void RedisStore::onHandshakeReply(redisAsyncContext *context, void *reply, void *step)
{
    auto *link = static_cast<Link *>(context->data);
    const auto *redis = static_cast<const redisReply *>(reply);
    if (link->context != context || !redis)
        return;

    RedisStore *store = link->store;
    if (redis->type == REDIS_REPLY_ERROR) {
        const QString reason = u"Redis rejected the connection handshake: %1"_s.arg(
                replyText(*redis));
        store->closeLink(*link);
        store->linkFailed(*link, reason);
        return;
    }
    if (reinterpret_cast<quintptr>(step) == kHandshakeLast)
        store->linkReady(*link);
}

void RedisStore::onOperationReply(redisAsyncContext *context, void *reply, void *operationId)
{
    auto *link = static_cast<Link *>(context->data);
    RedisStore *store = link->store;
    const auto id = static_cast<quint64>(reinterpret_cast<quintptr>(operationId));
    const auto *redis = static_cast<const redisReply *>(reply);

    if (!redis) {
        const QString reason = context->err ? QString::fromLocal8Bit(context->errstr)
                                            : u"the connection was closed"_s;
        const Error lost = makeError(
                Reason::BackendBusy,
                u"The connection to Redis at %1 was lost before its reply (%2); the operation "
                "may or may not have taken effect."_s.arg(store->m_endpoint.describe(), reason));
        store->settleOperation(id, nullptr, &lost);
        return;
    }

    if (store->m_stalled) {
        store->m_stalled = false;
        store->updateHealth();
    }
    store->settleOperation(id, redis, nullptr);
}

void RedisStore::onSubscriberReply(redisAsyncContext *context, void *reply, void *unused)
{
    Q_UNUSED(unused);
    auto *link = static_cast<Link *>(context->data);
    const auto *redis = static_cast<const redisReply *>(reply);
    // hiredis passes a null reply to every channel handler while it frees the
    // context, and onDisconnect handles that case.
    if (link->context != context || !redis)
        return;
    link->store->handleSubscriberReply(*redis);
}

// ---- Operation queue --------------------------------------------------------

template <typename T>
quint64 RedisStore::enqueue(QString description, QByteArrayList command, QObject *context,
                            StoreCallback<T> done, ReplyParser<T> parse)
{
    Operation operation;
    operation.id = m_nextOperationId++;
    operation.deadline = now() + m_options.operationTimeout.count();
    operation.description = description;
    operation.command = std::move(command);
    operation.settle = [receiver = QPointer<QObject>(context ? context : this),
                        done = std::move(done), parse = std::move(parse),
                        description = std::move(description),
                        where = m_endpoint.describe()](const redisReply *reply,
                                                        const Error *error) {
        std::optional<Result<T>> result;
        if (error) {
            result.emplace(*error);
        } else if (reply->type == REDIS_REPLY_ERROR) {
            const QString message = replyText(*reply);
            result.emplace(makeError(
                    isTransientRedisError(message) ? Reason::BackendBusy : Reason::Internal,
                    u"Redis at %1 rejected %2: %3"_s.arg(where, description, message)));
        } else {
            result.emplace(parse(*reply));
        }
        return std::function<void()>([receiver, done, result = std::move(*result)] {
            if (!done || !receiver)
                return;
            QMetaObject::invokeMethod(
                    receiver.data(), [done, result] { done(result); }, Qt::QueuedConnection);
        });
    };

    m_operations.push_back(std::move(operation));
    return m_operations.back().id;
}

template <typename T>
void RedisStore::submit(QString description, QByteArrayList command, QObject *context,
                        StoreCallback<T> done, ReplyParser<T> parse)
{
    enqueue<T>(std::move(description), std::move(command), context, std::move(done),
               std::move(parse));
    // Earlier operations were sent when the link became ready, so sending
    // this one now keeps issue order.
    if (m_commands->ready)
        sendOperation(m_operations.back());
    armDeadlineTimer();
}

template <typename T>
void RedisStore::rejectNow(QObject *context, StoreCallback<T> done, Error error)
{
    const quint64 id = enqueue<T>({}, {}, context, std::move(done), ReplyParser<T>());
    settleOperation(id, nullptr, &error);
}

RedisStore::Operation *RedisStore::findOperation(quint64 id)
{
    // Replies arrive in issue order, so the operation is near the front.
    for (Operation &operation : m_operations) {
        if (operation.id == id)
            return &operation;
    }
    return nullptr;
}

void RedisStore::settleOperation(quint64 id, const redisReply *reply, const Error *error)
{
    Operation *operation = findOperation(id);
    // A reply to an operation that already timed out is dropped.
    if (!operation || operation->post)
        return;
    operation->post = operation->settle(reply, error);
    postSettled();
    armDeadlineTimer();
}

void RedisStore::sendOperation(Operation &operation)
{
    if (operation.sent || operation.post || operation.command.isEmpty())
        return;

    std::vector<const char *> argv;
    std::vector<size_t> argvLength;
    argv.reserve(static_cast<size_t>(operation.command.size()));
    argvLength.reserve(argv.capacity());
    for (const QByteArray &argument : std::as_const(operation.command)) {
        argv.push_back(argument.constData());
        argvLength.push_back(static_cast<size_t>(argument.size()));
    }
    const int status = redisAsyncCommandArgv(
            m_commands->context, &RedisStore::onOperationReply,
            reinterpret_cast<void *>(static_cast<quintptr>(operation.id)),
            static_cast<int>(argv.size()), argv.data(), argvLength.data());
    if (status != REDIS_OK) {
        const Error error = makeError(
                Reason::BackendBusy,
                u"Could not send %1 to Redis at %2: the connection is closing."_s.arg(
                        operation.description, m_endpoint.describe()));
        settleOperation(operation.id, nullptr, &error);
        return;
    }
    operation.sent = true;
    operation.command.clear();
}

void RedisStore::sendUnsent()
{
    // Collects ids first: a failed send settles and may pop operations.
    QList<quint64> unsent;
    for (const Operation &operation : m_operations) {
        if (!operation.sent && !operation.post && !operation.command.isEmpty())
            unsent.append(operation.id);
    }
    for (const quint64 id : std::as_const(unsent)) {
        if (!m_commands->ready)
            return;
        if (Operation *operation = findOperation(id))
            sendOperation(*operation);
    }
}

void RedisStore::postSettled()
{
    while (!m_operations.empty() && m_operations.front().post) {
        const std::function<void()> post = std::move(m_operations.front().post);
        m_operations.pop_front();
        post();
    }
}

void RedisStore::expireOperations()
{
    const qint64 current = now();
    bool stalled = false;
    for (Operation &operation : m_operations) {
        if (operation.deadline > current)
            break;
        if (operation.post)
            continue;

        QString message;
        if (operation.sent) {
            stalled = true;
            message = u"Redis at %1 did not reply to %2 within %3 ms."_s.arg(
                    m_endpoint.describe(), operation.description)
                              .arg(m_options.operationTimeout.count());
        } else if (operation.command.isEmpty()) {
            message = u"Redis at %1 did not confirm %2 within %3 ms. The subscription stays "
                      "and is retried after a reconnect."_s
                              .arg(m_endpoint.describe(), operation.description)
                              .arg(m_options.operationTimeout.count());
        } else {
            const QString reason = m_commands->lastError.isEmpty() ? u"still connecting"_s
                                                                   : m_commands->lastError;
            message = u"Redis at %1 is unreachable (%2), so %3 was not sent within %4 ms. "
                      "Check that the Redis server is running."_s.arg(
                    m_endpoint.describe(), reason, operation.description)
                              .arg(m_options.operationTimeout.count());
        }
        operation.command.clear();
        const Error error = makeError(Reason::BackendBusy, message);
        operation.post = operation.settle(nullptr, &error);
    }

    if (stalled && !m_stalled) {
        m_stalled = true;
        log()->warn("Redis at {} did not reply within {} ms", text(m_endpoint.describe()),
                    m_options.operationTimeout.count());
        updateHealth();
    }
    postSettled();
    armDeadlineTimer();
}

void RedisStore::armDeadlineTimer()
{
    // Every operation gets the same timeout, so the first unsettled one has
    // the earliest deadline.
    const auto first = std::find_if(m_operations.cbegin(), m_operations.cend(),
                                    [](const Operation &operation) { return !operation.post; });
    if (first == m_operations.cend()) {
        m_deadlineTimer.stop();
        return;
    }
    const qint64 remaining = std::max<qint64>(first->deadline - now(), 0);
    if (!m_deadlineTimer.isActive() || m_deadlineTimer.remainingTime() > remaining)
        m_deadlineTimer.start(milliseconds(remaining));
}

// ---- Values -----------------------------------------------------------------

void RedisStore::setIfAbsent(const QString &key, const QByteArray &token, milliseconds ttl,
                             QObject *context, StoreCallback<bool> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        rejectNow<bool>(context, std::move(done), *error);
        return;
    }
    const QString description = u"SET NX on key '%1'"_s.arg(key);
    submit<bool>(description, {"SET", key.toUtf8(), token, "NX", "PX", number(ttl.count())},
                 context, std::move(done),
                 [description](const redisReply &reply) {
                     return parseStatusOrNil(reply, description);
                 });
}

void RedisStore::get(const QString &key, QObject *context,
                     StoreCallback<std::optional<QByteArray>> done)
{
    const QString description = u"GET on key '%1'"_s.arg(key);
    submit<std::optional<QByteArray>>(
            description, {"GET", key.toUtf8()}, context, std::move(done),
            [description](const redisReply &reply) -> Result<std::optional<QByteArray>> {
                if (reply.type == REDIS_REPLY_NIL)
                    return std::optional<QByteArray>();
                if (reply.type == REDIS_REPLY_STRING)
                    return std::optional<QByteArray>(
                            QByteArray(reply.str, static_cast<qsizetype>(reply.len)));
                return unexpectedReply(description, reply);
            });
}

void RedisStore::compareAndDelete(const QString &key, const QByteArray &token, QObject *context,
                                  StoreCallback<bool> done)
{
    const QString description = u"compare-and-delete on key '%1'"_s.arg(key);
    submit<bool>(description, evalCommand(kCompareAndDelete, key, {token}), context,
                 std::move(done),
                 [description](const redisReply &reply) { return parseFlag(reply, description); });
}

void RedisStore::compareAndRenew(const QString &key, const QByteArray &token, milliseconds ttl,
                                 QObject *context, StoreCallback<bool> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        rejectNow<bool>(context, std::move(done), *error);
        return;
    }
    const QString description = u"compare-and-renew on key '%1'"_s.arg(key);
    submit<bool>(description, evalCommand(kCompareAndRenew, key, {token, number(ttl.count())}),
                 context, std::move(done),
                 [description](const redisReply &reply) { return parseFlag(reply, description); });
}

void RedisStore::remove(const QString &key, QObject *context, StoreCallback<bool> done)
{
    const QString description = u"DEL on key '%1'"_s.arg(key);
    submit<bool>(description, {"DEL", key.toUtf8()}, context, std::move(done),
                 [description](const redisReply &reply) { return parseFlag(reply, description); });
}

// ---- Publish/subscribe ------------------------------------------------------

Subscription RedisStore::subscribe(const QString &channel, QObject *context,
                                   MessageHandler handler, StoreCallback<void> ready)
{
    const quint64 id = m_nextSubscriptionId++;
    const quint64 readyOperation = enqueue<void>(
            u"the subscription to channel '%1'"_s.arg(channel), {}, context, std::move(ready),
            [](const redisReply &) { return Result<void>(); });
    m_subscribers.append(Subscriber{id, channel, context ? context : this, std::move(handler),
                                    readyOperation});

    Channel &state = m_channels[channel];
    if (state.state == ChannelState::Subscribed) {
        m_subscribers.last().readyOperation = 0;
        const redisReply confirmed{};
        settleOperation(readyOperation, &confirmed, nullptr);
    } else {
        state.waitingSubscriptions.append(id);
    }
    reconcileChannel(channel);
    armDeadlineTimer();
    return Subscription(this, id);
}

void RedisStore::unsubscribe(quint64 id)
{
    const auto it = std::find_if(m_subscribers.begin(), m_subscribers.end(),
                                 [id](const Subscriber &subscriber) { return subscriber.id == id; });
    if (it == m_subscribers.end())
        return;
    const QString channel = it->channel;
    const quint64 readyOperation = it->readyOperation;
    m_subscribers.erase(it);

    if (auto state = m_channels.find(channel); state != m_channels.end())
        state->waitingSubscriptions.removeAll(id);
    if (readyOperation != 0) {
        const Error cancelled = makeError(
                Reason::BackendBusy,
                u"The subscription to channel '%1' was cancelled before Redis confirmed it."_s.arg(
                        channel));
        settleOperation(readyOperation, nullptr, &cancelled);
    }
    reconcileChannel(channel);
}

void RedisStore::reconcileChannel(const QString &channel)
{
    const auto state = m_channels.find(channel);
    if (state == m_channels.end())
        return;

    const bool hasSubscribers = std::any_of(
            m_subscribers.cbegin(), m_subscribers.cend(),
            [&channel](const Subscriber &subscriber) { return subscriber.channel == channel; });

    if (m_subscriber->ready) {
        const char *command = nullptr;
        if (hasSubscribers && state->state == ChannelState::Idle) {
            command = "SUBSCRIBE";
            state->state = ChannelState::Subscribing;
        } else if (!hasSubscribers && state->state == ChannelState::Subscribed) {
            command = "UNSUBSCRIBE";
            state->state = ChannelState::Unsubscribing;
        }
        if (command) {
            const QByteArray name = channel.toUtf8();
            const char *argv[] = {command, name.constData()};
            const size_t argvLength[] = {qstrlen(command), static_cast<size_t>(name.size())};
            redisAsyncCommandArgv(m_subscriber->context, &RedisStore::onSubscriberReply, nullptr,
                                  2, argv, argvLength);
        }
    }

    if (!hasSubscribers && state->state == ChannelState::Idle && state->waitingSubscriptions.isEmpty())
        m_channels.erase(state);
}

void RedisStore::handleSubscriberReply(const redisReply &reply)
{
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 3
        || reply.element[0]->type != REDIS_REPLY_STRING
        || reply.element[1]->type != REDIS_REPLY_STRING)
        return;

    const QByteArray kind(reply.element[0]->str, static_cast<qsizetype>(reply.element[0]->len));
    const QString channel = replyText(*reply.element[1]);

    if (kind == "message") {
        const redisReply &payload = *reply.element[2];
        deliverMessage(channel, QByteArray(payload.str, static_cast<qsizetype>(payload.len)));
        return;
    }

    const auto state = m_channels.find(channel);
    if (state == m_channels.end())
        return;
    if (kind == "subscribe") {
        state->state = ChannelState::Subscribed;
        const QList<quint64> waiting = std::exchange(state->waitingSubscriptions, {});
        for (Subscriber &subscriber : m_subscribers) {
            if (!waiting.contains(subscriber.id) || subscriber.readyOperation == 0)
                continue;
            const quint64 readyOperation = std::exchange(subscriber.readyOperation, 0);
            settleOperation(readyOperation, &reply, nullptr);
        }
    } else if (kind == "unsubscribe") {
        state->state = ChannelState::Idle;
    }
    reconcileChannel(channel);
}

void RedisStore::deliverMessage(const QString &channel, const QByteArray &message)
{
    const QPointer<RedisStore> self(this);
    for (const Subscriber &subscriber : std::as_const(m_subscribers)) {
        if (subscriber.channel != channel || !subscriber.context || !subscriber.handler)
            continue;
        // Checked again on delivery, so a handler never runs after its
        // subscription was cancelled.
        QMetaObject::invokeMethod(
                subscriber.context.data(),
                [self, id = subscriber.id, handler = subscriber.handler, channel, message] {
                    if (self && self->isSubscriptionActive(id))
                        handler(channel, message);
                },
                Qt::QueuedConnection);
    }
}

bool RedisStore::isSubscriptionActive(quint64 id) const
{
    return std::any_of(m_subscribers.cbegin(), m_subscribers.cend(),
                       [id](const Subscriber &subscriber) { return subscriber.id == id; });
}

void RedisStore::publish(const QString &channel, const QByteArray &message, QObject *context,
                         StoreCallback<int> done)
{
    const QString description = u"PUBLISH on channel '%1'"_s.arg(channel);
    submit<int>(description, {"PUBLISH", channel.toUtf8(), message}, context, std::move(done),
                [description](const redisReply &reply) -> Result<int> {
                    const Result<qint64> count = parseInteger(reply, description);
                    if (!count)
                        return count.error();
                    return static_cast<int>(count.value());
                });
}

// ---- Sliding windows --------------------------------------------------------

void RedisStore::windowAdd(const QString &key, const QByteArray &member, milliseconds window,
                           QObject *context, StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        rejectNow<qint64>(context, std::move(done), *error);
        return;
    }
    const QString description = u"window add on key '%1'"_s.arg(key);
    submit<qint64>(description, evalCommand(kWindowAdd, key, {member, number(window.count())}),
                   context, std::move(done), [description](const redisReply &reply) {
                       return parseInteger(reply, description);
                   });
}

void RedisStore::windowCount(const QString &key, milliseconds window, QObject *context,
                             StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        rejectNow<qint64>(context, std::move(done), *error);
        return;
    }
    const QString description = u"window count on key '%1'"_s.arg(key);
    submit<qint64>(description, evalCommand(kWindowCount, key, {number(window.count())}), context,
                   std::move(done), [description](const redisReply &reply) {
                       return parseInteger(reply, description);
                   });
}

void RedisStore::windowTrim(const QString &key, milliseconds window, QObject *context,
                            StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        rejectNow<qint64>(context, std::move(done), *error);
        return;
    }
    const QString description = u"window trim on key '%1'"_s.arg(key);
    submit<qint64>(description, evalCommand(kWindowTrim, key, {number(window.count())}), context,
                   std::move(done), [description](const redisReply &reply) {
                       return parseInteger(reply, description);
                   });
}

// ---- Sets with TTL ----------------------------------------------------------

void RedisStore::setAdd(const QString &key, const QByteArray &member, milliseconds ttl,
                        QObject *context, StoreCallback<void> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        rejectNow<void>(context, std::move(done), *error);
        return;
    }
    const QString description = u"set add on key '%1'"_s.arg(key);
    submit<void>(description, evalCommand(kSetAdd, key, {member, number(ttl.count())}), context,
                 std::move(done), [](const redisReply &) { return Result<void>(); });
}

void RedisStore::setRemove(const QString &key, const QByteArray &member, QObject *context,
                           StoreCallback<bool> done)
{
    const QString description = u"set remove on key '%1'"_s.arg(key);
    submit<bool>(description, evalCommand(kSetRemove, key, {member}), context, std::move(done),
                 [description](const redisReply &reply) { return parseFlag(reply, description); });
}

void RedisStore::setContains(const QString &key, const QByteArray &member, QObject *context,
                             StoreCallback<bool> done)
{
    const QString description = u"set lookup on key '%1'"_s.arg(key);
    submit<bool>(description, evalCommand(kSetContains, key, {member}), context, std::move(done),
                 [description](const redisReply &reply) { return parseFlag(reply, description); });
}

void RedisStore::setMembers(const QString &key, QObject *context,
                            StoreCallback<QList<QByteArray>> done)
{
    const QString description = u"set members on key '%1'"_s.arg(key);
    submit<QList<QByteArray>>(
            description, evalCommand(kSetMembers, key, {}), context, std::move(done),
            [description](const redisReply &reply) -> Result<QList<QByteArray>> {
                if (reply.type != REDIS_REPLY_ARRAY)
                    return unexpectedReply(description, reply);
                QList<QByteArray> members;
                members.reserve(static_cast<qsizetype>(reply.elements));
                for (size_t i = 0; i < reply.elements; ++i) {
                    const redisReply &element = *reply.element[i];
                    if (element.type != REDIS_REPLY_STRING)
                        return unexpectedReply(description, element);
                    members.append(QByteArray(element.str, static_cast<qsizetype>(element.len)));
                }
                return members;
            });
}

} // namespace sealrelay::backend
