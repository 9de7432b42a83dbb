// CoordinationStore: the state that backend replicas share to coordinate the
// sync engine (locks with owner tokens, pending-response claims, outcome
// channels, flood windows, TTL sets), implemented in one process by
// MemoryStore and meant for Redis across replicas.
#pragma once

#include "error.h"
#include "windowcounter.h"

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>

#include <chrono>
#include <functional>
#include <optional>
#include <utility>

namespace sealrelay::backend {

class CoordinationStore;

// Completion of one store operation.
template <typename T>
using StoreCallback = std::function<void(Result<T>)>;

// Store state reported by /readyz and the system status route.
struct CoordinationHealth {
    QString kind;          // "memory", "redis" or "postgresql"
    bool usable = true;    // false when operations currently fail
    bool degraded = false; // true when running on a fallback store
    QString detail;        // why it is degraded or unusable; empty otherwise
};

// Handle of one channel subscription. Destroying or cancelling it ends the
// subscription, and from then on its handler is never called, even for
// messages already queued. Move-only.
class Subscription {
public:
    Subscription() = default;
    Subscription(CoordinationStore *store, quint64 id);
    Subscription(Subscription &&other) noexcept;
    Subscription &operator=(Subscription &&other) noexcept;
    Subscription(const Subscription &) = delete;
    Subscription &operator=(const Subscription &) = delete;
    ~Subscription();

    void cancel();
    bool isActive() const;
    quint64 id() const { return m_id; }

private:
    QPointer<CoordinationStore> m_store;
    quint64 m_id = 0;
};

// The calling convention of every operation:
// - Each operation takes a `context` object and a callback. The callback
//   always runs later, from the event loop of the context's thread and never
//   before the operation call returns, so callers have one code path whether
//   the store replies at once (MemoryStore) or over the network (Redis).
//   When `context` is null the store itself is the context. Every
//   implementation must run the callback exactly once, with an Error when
//   the store fails or times out, unless the context is destroyed first.
// - Operations issued from one thread take effect in the order they were
//   issued, and their callbacks run in that order.
// - A store is used from the thread that created it.
// - Times are driven by the store's MonotonicClock. A TTL must be positive.
// - String keys name one kind of data each: a key used for values is not
//   also used as a window or a set.
class CoordinationStore : public QObject {
    Q_OBJECT
public:
    using MessageHandler = std::function<void(const QString &channel, const QByteArray &message)>;

    using QObject::QObject;
    ~CoordinationStore() override = default;

    // "memory", "redis" or "postgresql".
    virtual QString kind() const = 0;
    virtual CoordinationHealth health() const = 0;

    // ---- Values with owner tokens (locks, pending keys) -------------------

    // Sets `key` to `token` with `ttl` unless the key exists (SET NX PX).
    // Returns true when this call set it, that is, acquired the lock.
    virtual void setIfAbsent(const QString &key, const QByteArray &token,
                             std::chrono::milliseconds ttl, QObject *context,
                             StoreCallback<bool> done) = 0;

    // Returns the value of `key`, or std::nullopt when it is missing or expired.
    virtual void get(const QString &key, QObject *context,
                     StoreCallback<std::optional<QByteArray>> done) = 0;

    // Deletes `key` only if its value equals `token`. Returns true when this
    // call deleted it, false when it was missing or owned by another token.
    virtual void compareAndDelete(const QString &key, const QByteArray &token, QObject *context,
                                  StoreCallback<bool> done) = 0;

    // Resets the TTL of `key` to `ttl` from now only if its value equals
    // `token`. Returns false when the key is missing or owned by another token.
    virtual void compareAndRenew(const QString &key, const QByteArray &token,
                                 std::chrono::milliseconds ttl, QObject *context,
                                 StoreCallback<bool> done) = 0;

    // Deletes `key` whatever its value (DEL). Returns true for exactly one of
    // several callers that race to delete the same live key, which is how a
    // replica claims a pending response.
    virtual void remove(const QString &key, QObject *context, StoreCallback<bool> done) = 0;

    // ---- Publish/subscribe -----------------------------------------------

    // Subscribes `handler` to `channel`. `ready` runs once the subscription
    // is in effect, and every message published after that reaches the
    // handler, in publish order. A caller that must not miss an outcome
    // (subscribe first, then lock) waits for `ready` before its next step.
    // MemoryStore puts the subscription in effect before subscribe() returns.
    // The handler runs from the event loop of the context's thread.
    virtual Subscription subscribe(const QString &channel, QObject *context,
                                   MessageHandler handler, StoreCallback<void> ready) = 0;

    // Sends `message` to every subscriber of `channel` at the time of the
    // call, in the order they subscribed. Returns how many subscribers it
    // was sent to.
    virtual void publish(const QString &channel, const QByteArray &message, QObject *context,
                         StoreCallback<int> done) = 0;

    // ---- Sliding windows (sorted sets scored by time) ---------------------

    // Adds an event with `member`, which must be unique per event (a second
    // add of one member moves it to now), drops events of `key` older than
    // `window`, and returns the count in the window after adding. The key
    // expires `window` after its last add.
    virtual void windowAdd(const QString &key, const QByteArray &member,
                           std::chrono::milliseconds window, QObject *context,
                           StoreCallback<qint64> done) = 0;

    // Returns the count of events of `key` recorded less than `window` ago.
    virtual void windowCount(const QString &key, std::chrono::milliseconds window,
                             QObject *context, StoreCallback<qint64> done) = 0;

    // Drops events of `key` recorded `window` or more ago and returns how
    // many it dropped.
    virtual void windowTrim(const QString &key, std::chrono::milliseconds window,
                            QObject *context, StoreCallback<qint64> done) = 0;

    // ---- Sets with a TTL per member (blocklist, deduplication) -----------

    // Adds `member` to the set `key` until `ttl` from now; adding a present
    // member resets its expiry.
    virtual void setAdd(const QString &key, const QByteArray &member,
                        std::chrono::milliseconds ttl, QObject *context,
                        StoreCallback<void> done) = 0;

    // Removes `member`; returns true when it was present.
    virtual void setRemove(const QString &key, const QByteArray &member, QObject *context,
                           StoreCallback<bool> done) = 0;

    // True when `member` is in the set and has not expired.
    virtual void setContains(const QString &key, const QByteArray &member, QObject *context,
                             StoreCallback<bool> done) = 0;

    // Returns the members that have not expired, in no particular order.
    virtual void setMembers(const QString &key, QObject *context,
                            StoreCallback<QList<QByteArray>> done) = 0;

Q_SIGNALS:
    // Emitted when health() changes.
    void healthChanged();

protected:
    friend class Subscription;

    // Ends subscription `id`; unknown ids are ignored.
    virtual void unsubscribe(quint64 id) = 0;
};

inline Subscription::Subscription(CoordinationStore *store, quint64 id) : m_store(store), m_id(id) {}

inline Subscription::Subscription(Subscription &&other) noexcept
    : m_store(std::move(other.m_store)), m_id(std::exchange(other.m_id, 0))
{
    other.m_store.clear();
}

inline Subscription &Subscription::operator=(Subscription &&other) noexcept
{
    if (this != &other) {
        cancel();
        m_store = std::move(other.m_store);
        m_id = std::exchange(other.m_id, 0);
        other.m_store.clear();
    }
    return *this;
}

inline Subscription::~Subscription()
{
    cancel();
}

inline void Subscription::cancel()
{
    if (m_store && m_id != 0)
        m_store->unsubscribe(m_id);
    m_store.clear();
    m_id = 0;
}

inline bool Subscription::isActive() const
{
    return m_store && m_id != 0;
}

} // namespace sealrelay::backend
