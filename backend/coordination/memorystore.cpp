// MemoryStore: values, channels, windows and TTL sets of one replica in memory.
#include "memorystore.h"

#include <QMetaObject>

#include <algorithm>
#include <iterator>

using namespace Qt::Literals::StringLiterals;
using std::chrono::milliseconds;

namespace sealrelay::backend {

namespace {

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

} // namespace

MemoryStore::MemoryStore(MonotonicClock clock, QObject *parent)
    : CoordinationStore(parent), m_clock(clock ? std::move(clock) : steadyClock())
{
    m_health.kind = kind();
    connect(&m_purgeTimer, &QTimer::timeout, this, &MemoryStore::purgeExpired);
    setPurgeInterval(std::chrono::seconds(30));
}

MemoryStore::~MemoryStore() = default;

QString MemoryStore::kind() const
{
    return u"memory"_s;
}

CoordinationHealth MemoryStore::health() const
{
    return m_health;
}

void MemoryStore::setDegraded(bool degraded, const QString &detail)
{
    const QString newDetail = degraded ? detail : QString();
    if (m_health.degraded == degraded && m_health.detail == newDetail)
        return;
    m_health.degraded = degraded;
    m_health.detail = newDetail;
    Q_EMIT healthChanged();
}

void MemoryStore::setPurgeInterval(milliseconds interval)
{
    m_purgeTimer.stop();
    if (interval.count() > 0)
        m_purgeTimer.start(interval);
}

qsizetype MemoryStore::keyCount() const
{
    return m_values.size() + m_windows.size() + m_sets.size();
}

void MemoryStore::purgeExpired()
{
    const qint64 now = m_clock();

    for (auto it = m_values.begin(); it != m_values.end();) {
        if (it->expiresAt <= now)
            it = m_values.erase(it);
        else
            ++it;
    }
    for (auto it = m_windows.begin(); it != m_windows.end();) {
        if (it->expiresAt <= now)
            it = m_windows.erase(it);
        else
            ++it;
    }
    for (auto it = m_sets.begin(); it != m_sets.end();) {
        dropExpiredMembers(*it, now);
        if (it->isEmpty())
            it = m_sets.erase(it);
        else
            ++it;
    }
}

template <typename T>
void MemoryStore::reply(QObject *context, StoreCallback<T> done, Result<T> result)
{
    if (!done)
        return;
    QMetaObject::invokeMethod(
            context ? context : this,
            [done = std::move(done), result = std::move(result)] { done(result); },
            Qt::QueuedConnection);
}

MemoryStore::Value *MemoryStore::liveValue(const QString &key, qint64 now)
{
    const auto it = m_values.find(key);
    if (it == m_values.end())
        return nullptr;
    if (it->expiresAt <= now) {
        m_values.erase(it);
        return nullptr;
    }
    return &*it;
}

MemoryStore::Window *MemoryStore::liveWindow(const QString &key, qint64 now)
{
    const auto it = m_windows.find(key);
    if (it == m_windows.end())
        return nullptr;
    if (it->expiresAt <= now) {
        m_windows.erase(it);
        return nullptr;
    }
    return &*it;
}

QHash<QByteArray, qint64> *MemoryStore::liveSet(const QString &key, qint64 now)
{
    const auto it = m_sets.find(key);
    if (it == m_sets.end())
        return nullptr;
    dropExpiredMembers(*it, now);
    if (it->isEmpty()) {
        m_sets.erase(it);
        return nullptr;
    }
    return &*it;
}

qint64 MemoryStore::trimWindow(Window &window, qint64 cutoff)
{
    // Removes events at or before `cutoff`.
    qint64 dropped = 0;
    auto it = window.memberByTime.begin();
    while (it != window.memberByTime.end() && it->first <= cutoff) {
        window.timeByMember.remove(it->second);
        it = window.memberByTime.erase(it);
        ++dropped;
    }
    return dropped;
}

void MemoryStore::dropExpiredMembers(QHash<QByteArray, qint64> &members, qint64 now)
{
    members.removeIf([now](const auto &member) { return member.value() <= now; });
}

// ---- Values ---------------------------------------------------------------

void MemoryStore::setIfAbsent(const QString &key, const QByteArray &token, milliseconds ttl,
                              QObject *context, StoreCallback<bool> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        reply<bool>(context, std::move(done), *error);
        return;
    }
    const qint64 now = m_clock();
    if (liveValue(key, now)) {
        reply<bool>(context, std::move(done), false);
        return;
    }
    m_values.insert(key, Value{token, now + ttl.count()});
    reply<bool>(context, std::move(done), true);
}

void MemoryStore::get(const QString &key, QObject *context,
                      StoreCallback<std::optional<QByteArray>> done)
{
    std::optional<QByteArray> data;
    if (const Value *value = liveValue(key, m_clock()))
        data = value->data;
    reply<std::optional<QByteArray>>(context, std::move(done), data);
}

void MemoryStore::compareAndDelete(const QString &key, const QByteArray &token, QObject *context,
                                   StoreCallback<bool> done)
{
    const Value *value = liveValue(key, m_clock());
    const bool owned = value && value->data == token;
    if (owned)
        m_values.remove(key);
    reply<bool>(context, std::move(done), owned);
}

void MemoryStore::compareAndRenew(const QString &key, const QByteArray &token, milliseconds ttl,
                                  QObject *context, StoreCallback<bool> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        reply<bool>(context, std::move(done), *error);
        return;
    }
    const qint64 now = m_clock();
    Value *value = liveValue(key, now);
    const bool owned = value && value->data == token;
    if (owned)
        value->expiresAt = now + ttl.count();
    reply<bool>(context, std::move(done), owned);
}

void MemoryStore::remove(const QString &key, QObject *context, StoreCallback<bool> done)
{
    const bool deleted = liveValue(key, m_clock()) != nullptr;
    if (deleted)
        m_values.remove(key);
    reply<bool>(context, std::move(done), deleted);
}

// ---- Publish/subscribe ----------------------------------------------------

Subscription MemoryStore::subscribe(const QString &channel, QObject *context,
                                    MessageHandler handler, StoreCallback<void> ready)
{
    const quint64 id = m_nextSubscriptionId++;
    m_subscribers.append(Subscriber{id, channel, context ? context : this, std::move(handler)});
    reply<void>(context, std::move(ready), Result<void>());
    return Subscription(this, id);
}

void MemoryStore::unsubscribe(quint64 id)
{
    m_subscribers.removeIf([id](const Subscriber &subscriber) { return subscriber.id == id; });
}

void MemoryStore::publish(const QString &channel, const QByteArray &message, QObject *context,
                          StoreCallback<int> done)
{
    int receivers = 0;
    const QPointer<MemoryStore> self(this);
    for (const Subscriber &subscriber : std::as_const(m_subscribers)) {
        if (subscriber.channel != channel || !subscriber.context || !subscriber.handler)
            continue;
        ++receivers;
        // The subscription is checked again on delivery, so a handler never
        // runs after its subscription was cancelled.
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
    reply<int>(context, std::move(done), receivers);
}

// ---- Sliding windows ------------------------------------------------------

void MemoryStore::windowAdd(const QString &key, const QByteArray &member, milliseconds window,
                            QObject *context, StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        reply<qint64>(context, std::move(done), *error);
        return;
    }
    const qint64 now = m_clock();
    Window *events = liveWindow(key, now);
    if (!events)
        events = &m_windows[key];

    const auto previous = events->timeByMember.constFind(member);
    if (previous != events->timeByMember.cend()) {
        auto [first, last] = events->memberByTime.equal_range(previous.value());
        for (auto it = first; it != last; ++it) {
            if (it->second == member) {
                events->memberByTime.erase(it);
                break;
            }
        }
    }
    events->timeByMember.insert(member, now);
    events->memberByTime.emplace(now, member);
    trimWindow(*events, now - window.count());
    events->expiresAt = now + window.count();

    reply<qint64>(context, std::move(done), static_cast<qint64>(events->memberByTime.size()));
}

void MemoryStore::windowCount(const QString &key, milliseconds window, QObject *context,
                              StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        reply<qint64>(context, std::move(done), *error);
        return;
    }
    const qint64 now = m_clock();
    qint64 count = 0;
    if (const Window *events = liveWindow(key, now)) {
        const auto first = events->memberByTime.upper_bound(now - window.count());
        count = static_cast<qint64>(std::distance(first, events->memberByTime.end()));
    }
    reply<qint64>(context, std::move(done), count);
}

void MemoryStore::windowTrim(const QString &key, milliseconds window, QObject *context,
                             StoreCallback<qint64> done)
{
    if (auto error = checkDuration(window, u"window", key)) {
        reply<qint64>(context, std::move(done), *error);
        return;
    }
    const qint64 now = m_clock();
    qint64 dropped = 0;
    if (Window *events = liveWindow(key, now)) {
        dropped = trimWindow(*events, now - window.count());
        if (events->memberByTime.empty())
            m_windows.remove(key);
    }
    reply<qint64>(context, std::move(done), dropped);
}

// ---- Sets with TTL --------------------------------------------------------

void MemoryStore::setAdd(const QString &key, const QByteArray &member, milliseconds ttl,
                         QObject *context, StoreCallback<void> done)
{
    if (auto error = checkDuration(ttl, u"TTL", key)) {
        reply<void>(context, std::move(done), *error);
        return;
    }
    m_sets[key].insert(member, m_clock() + ttl.count());
    reply<void>(context, std::move(done), Result<void>());
}

void MemoryStore::setRemove(const QString &key, const QByteArray &member, QObject *context,
                            StoreCallback<bool> done)
{
    bool removed = false;
    if (auto *members = liveSet(key, m_clock())) {
        removed = members->remove(member);
        if (members->isEmpty())
            m_sets.remove(key);
    }
    reply<bool>(context, std::move(done), removed);
}

void MemoryStore::setContains(const QString &key, const QByteArray &member, QObject *context,
                              StoreCallback<bool> done)
{
    const auto *members = liveSet(key, m_clock());
    reply<bool>(context, std::move(done), members && members->contains(member));
}

void MemoryStore::setMembers(const QString &key, QObject *context,
                             StoreCallback<QList<QByteArray>> done)
{
    QList<QByteArray> result;
    if (const auto *members = liveSet(key, m_clock()))
        result = members->keys();
    reply<QList<QByteArray>>(context, std::move(done), result);
}

} // namespace sealrelay::backend
