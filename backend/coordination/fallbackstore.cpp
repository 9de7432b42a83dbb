// FallbackStore: forwarding to the primary or the fallback store, the
// switches between them, the lock hold after a switch and the moving of
// subscriptions.
#include "fallbackstore.h"

#include "logging.h"

#include <QMetaObject>

using namespace Qt::Literals::StringLiterals;
using std::chrono::milliseconds;

namespace sealrelay::backend {

namespace {

std::shared_ptr<spdlog::logger> log()
{
    return logger("backend.coordination");
}

std::string text(const QString &value)
{
    return value.toStdString();
}

// Key the probe reads; it is never written.
const QString kProbeKey = u"sealrelay:coordination-probe"_s;

} // namespace

FallbackStore::FallbackStore(std::unique_ptr<CoordinationStore> primary,
                             std::unique_ptr<CoordinationStore> fallback, FallbackStoreOptions options,
                             QObject *parent)
    : CoordinationStore(parent), m_primary(std::move(primary)), m_fallback(std::move(fallback)),
      m_options(options), m_clock(options.clock ? options.clock : steadyClock())
{
    Q_ASSERT(m_primary && m_fallback);
    connect(m_primary.get(), &CoordinationStore::healthChanged, this,
            &FallbackStore::onPrimaryHealthChanged);
    connect(m_fallback.get(), &CoordinationStore::healthChanged, this, [this] {
        if (m_mode == Mode::Fallback)
            Q_EMIT healthChanged();
    });

    // A coarse timer may fire up to 5 % early, and degradedAfter is a minimum.
    m_startTimer.setSingleShot(true);
    m_startTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_startTimer, &QTimer::timeout, this, &FallbackStore::onStartTimeout);
    m_degradeTimer.setSingleShot(true);
    m_degradeTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_degradeTimer, &QTimer::timeout, this, &FallbackStore::onDegradeTimeout);
    connect(&m_probeTimer, &QTimer::timeout, this, &FallbackStore::probePrimary);

    if (m_primary->health().usable) {
        switchTo(Mode::Primary, false);
        return;
    }
    m_startTimer.start(std::max(m_options.startTimeout, milliseconds(0)));
}

FallbackStore::~FallbackStore()
{
    // Inner subscriptions end before the stores they point to.
    m_subscribers.clear();
}

QString FallbackStore::kind() const
{
    return m_primary->kind();
}

CoordinationHealth FallbackStore::health() const
{
    CoordinationHealth health = m_primary->health();
    health.kind = kind();
    if (m_mode != Mode::Fallback)
        return health;

    const CoordinationHealth fallbackHealth = m_fallback->health();
    health.usable = fallbackHealth.usable;
    health.degraded = true;
    const QString reason = m_lastPrimaryDetail.isEmpty() ? health.detail : m_lastPrimaryDetail;
    health.detail = u"Running on the %1 because the %2 store failed: %3"_s.arg(
            fallbackName(), kind(), reason);
    if (!fallbackHealth.usable)
        health.detail += u" The fallback store is not usable either: %1"_s.arg(
                fallbackHealth.detail);
    return health;
}

QString FallbackStore::fallbackName() const
{
    const QString fallbackKind = m_fallback->kind();
    if (fallbackKind == u"memory")
        return u"in-memory store of this replica"_s;
    return u"%1 store"_s.arg(fallbackKind);
}

QString FallbackStore::activeKind() const
{
    return active().kind();
}

bool FallbackStore::isHolding() const
{
    return m_holdUntil > 0 && now() < m_holdUntil;
}

CoordinationStore &FallbackStore::active() const
{
    if (m_mode == Mode::Fallback)
        return *m_fallback;
    return *m_primary;
}

// ---- Switching --------------------------------------------------------------

void FallbackStore::onPrimaryHealthChanged()
{
    const CoordinationHealth health = m_primary->health();
    if (!health.usable && !health.detail.isEmpty())
        m_lastPrimaryDetail = health.detail;

    switch (m_mode) {
    case Mode::Starting:
        if (health.usable) {
            m_startTimer.stop();
            log()->info("Coordination on {} is usable", text(kind()));
            switchTo(Mode::Primary, false);
        }
        break;
    case Mode::Primary:
        if (!health.usable && m_failingSince < 0) {
            m_failingSince = now();
            ++m_failureCount;
            log()->warn("Coordination on {} failed (failure {} since start); operations fail "
                        "until it recovers, and move to the {} after {} ms: {}",
                        text(kind()), m_failureCount, text(fallbackName()),
                        m_options.degradedAfter.count(), text(health.detail));
            m_degradeTimer.start(std::max(m_options.degradedAfter, milliseconds(0)));
            Q_EMIT primaryFailed(health.detail);
        } else if (health.usable && m_failingSince >= 0) {
            const qint64 downMs = now() - m_failingSince;
            m_failingSince = -1;
            m_degradeTimer.stop();
            log()->info("Coordination on {} recovered after {} ms", text(kind()), downMs);
            Q_EMIT primaryRecovered(downMs);
        }
        break;
    case Mode::Fallback:
        if (health.usable) {
            log()->info("Coordination on {} is usable again after {} ms; moving back from the {}",
                        text(kind()), now() - m_failingSince, text(fallbackName()));
            m_failingSince = -1;
            switchTo(Mode::Primary, true);
        }
        break;
    }
    updateProbe();
    Q_EMIT healthChanged();
}

void FallbackStore::onStartTimeout()
{
    if (m_mode != Mode::Starting || m_primary->health().usable)
        return;
    m_failingSince = now();
    ++m_failureCount;
    m_lastPrimaryDetail = m_primary->health().detail;
    log()->warn("Coordination on {} is not usable {} ms after start; using the {} until it is: {}",
                text(kind()), m_options.startTimeout.count(), text(fallbackName()),
                text(m_lastPrimaryDetail));
    switchTo(Mode::Fallback, false);
}

void FallbackStore::onDegradeTimeout()
{
    if (m_mode != Mode::Primary || m_failingSince < 0)
        return;
    log()->warn("Coordination on {} failed for {} ms; moving to the {}: {}", text(kind()),
                now() - m_failingSince, text(fallbackName()), text(m_lastPrimaryDetail));
    switchTo(Mode::Fallback, true);
}

void FallbackStore::switchTo(Mode mode, bool startHold)
{
    const CoordinationStore *before = &active();
    m_mode = mode;
    if (startHold) {
        m_holdUntil = now() + m_options.switchHold.count();
        log()->warn("Coordination moved to the {} store; no lock is granted for {} ms",
                    text(activeKind()), m_options.switchHold.count());
    }

    // Starting already subscribed on the primary. Elsewhere, assigning the
    // new inner subscription cancels the one on the old store.
    for (auto &[id, subscriber] : m_subscribers) {
        if (before == &active())
            break;
        if (subscriber.hasContext && !subscriber.context)
            continue;
        const QString channel = subscriber.channel;
        subscriber.inner = subscribeInner(id, subscriber, [channel](Result<void> result) {
            if (!result)
                log()->warn("Subscribing again to channel {} after a switch failed: {}",
                            text(channel), text(result.error().message));
        });
    }

    updateProbe();
    Q_EMIT modeChanged(mode);
    Q_EMIT healthChanged();
}

// ---- Probe --------------------------------------------------------------------

void FallbackStore::updateProbe()
{
    const bool probeNeeded = m_mode != Mode::Starting && !m_primary->health().usable;
    if (probeNeeded && !m_probeTimer.isActive())
        m_probeTimer.start(std::max(m_options.probeInterval, milliseconds(1)));
    else if (!probeNeeded)
        m_probeTimer.stop();
}

void FallbackStore::probePrimary()
{
    if (m_probeInFlight)
        return;
    m_probeInFlight = true;
    m_primary->get(kProbeKey, this, [this](Result<std::optional<QByteArray>>) {
        // The reply itself carries nothing; the primary updates its own
        // health from it, and onPrimaryHealthChanged() acts on that.
        m_probeInFlight = false;
    });
}

// ---- Values -------------------------------------------------------------------

void FallbackStore::setIfAbsent(const QString &key, const QByteArray &token, milliseconds ttl,
                                QObject *context, StoreCallback<bool> done)
{
    if (isHolding()) {
        log()->debug("setIfAbsent on key '{}' not granted: {} ms of the hold after a switch remain",
                     text(key), m_holdUntil - now());
        if (done)
            QMetaObject::invokeMethod(
                    contextOr(context), [done = std::move(done)] { done(false); },
                    Qt::QueuedConnection);
        return;
    }
    active().setIfAbsent(key, token, ttl, contextOr(context), std::move(done));
}

void FallbackStore::get(const QString &key, QObject *context,
                        StoreCallback<std::optional<QByteArray>> done)
{
    active().get(key, contextOr(context), std::move(done));
}

void FallbackStore::compareAndDelete(const QString &key, const QByteArray &token,
                                     QObject *context, StoreCallback<bool> done)
{
    active().compareAndDelete(key, token, contextOr(context), std::move(done));
}

void FallbackStore::compareAndRenew(const QString &key, const QByteArray &token, milliseconds ttl,
                                    QObject *context, StoreCallback<bool> done)
{
    active().compareAndRenew(key, token, ttl, contextOr(context), std::move(done));
}

void FallbackStore::remove(const QString &key, QObject *context, StoreCallback<bool> done)
{
    active().remove(key, contextOr(context), std::move(done));
}

// ---- Publish/subscribe ---------------------------------------------------------

Subscription FallbackStore::subscribe(const QString &channel, QObject *context,
                                      MessageHandler handler, StoreCallback<void> ready)
{
    const quint64 id = m_nextSubscriptionId++;
    Subscriber &subscriber = m_subscribers[id];
    subscriber.channel = channel;
    subscriber.context = context;
    subscriber.hasContext = context != nullptr;
    subscriber.handler = std::move(handler);
    subscriber.inner = subscribeInner(id, subscriber, std::move(ready));
    return Subscription(this, id);
}

Subscription FallbackStore::subscribeInner(quint64 id, Subscriber &subscriber,
                                           StoreCallback<void> ready)
{
    QObject *context = subscriber.hasContext ? subscriber.context.data() : this;
    return active().subscribe(
            subscriber.channel, context,
            [this, id](const QString &channel, const QByteArray &message) {
                const auto found = m_subscribers.find(id);
                if (found == m_subscribers.end())
                    return;
                // A copy, because the handler may cancel its own subscription.
                const MessageHandler handler = found->second.handler;
                handler(channel, message);
            },
            std::move(ready));
}

void FallbackStore::unsubscribe(quint64 id)
{
    m_subscribers.erase(id);
}

void FallbackStore::publish(const QString &channel, const QByteArray &message, QObject *context,
                            StoreCallback<int> done)
{
    active().publish(channel, message, contextOr(context), std::move(done));
}

// ---- Windows and sets ------------------------------------------------------------

void FallbackStore::windowAdd(const QString &key, const QByteArray &member, milliseconds window,
                              QObject *context, StoreCallback<qint64> done)
{
    active().windowAdd(key, member, window, contextOr(context), std::move(done));
}

void FallbackStore::windowCount(const QString &key, milliseconds window, QObject *context,
                                StoreCallback<qint64> done)
{
    active().windowCount(key, window, contextOr(context), std::move(done));
}

void FallbackStore::windowTrim(const QString &key, milliseconds window, QObject *context,
                               StoreCallback<qint64> done)
{
    active().windowTrim(key, window, contextOr(context), std::move(done));
}

void FallbackStore::setAdd(const QString &key, const QByteArray &member, milliseconds ttl,
                           QObject *context, StoreCallback<void> done)
{
    active().setAdd(key, member, ttl, contextOr(context), std::move(done));
}

void FallbackStore::setRemove(const QString &key, const QByteArray &member, QObject *context,
                              StoreCallback<bool> done)
{
    active().setRemove(key, member, contextOr(context), std::move(done));
}

void FallbackStore::setContains(const QString &key, const QByteArray &member, QObject *context,
                                StoreCallback<bool> done)
{
    active().setContains(key, member, contextOr(context), std::move(done));
}

void FallbackStore::setMembers(const QString &key, QObject *context,
                               StoreCallback<QList<QByteArray>> done)
{
    active().setMembers(key, contextOr(context), std::move(done));
}

} // namespace sealrelay::backend
