// FallbackStore: the CoordinationStore of replicas configured with Redis. It
// forwards to the Redis store while that is usable and to a fallback store
// while it is not: MemoryStore for one replica, PostgresStore for several.
#pragma once

#include "coordinationstore.h"

#include <QTimer>

#include <map>
#include <memory>

namespace sealrelay::backend {

struct FallbackStoreOptions {
    // Continuous failure of the primary store, while it is in use, after
    // which operations move to the fallback store.
    std::chrono::milliseconds degradedAfter{300'000};
    // Time after each switch during which setIfAbsent grants no key. It must
    // be at least the longest lock TTL, so that a lock taken on the previous
    // store has expired or been released before the same key can be taken on
    // the new one.
    std::chrono::milliseconds switchHold{60'000};
    // Time the primary store has after construction to become usable before
    // the fallback store is used.
    std::chrono::milliseconds startTimeout{2'000};
    // Interval of the probe that sends a GET to the primary store while it is
    // not usable, so that a store which only recovers on a reply (a Redis
    // server that stopped replying) is seen to recover.
    std::chrono::milliseconds probeInterval{1'000};
    // An empty clock uses steadyClock(). It measures the hold and the failure
    // time; real-time timers wake the store.
    MonotonicClock clock;
};

// Modes, in the order a store goes through them:
// - Starting: operations go to the primary store, which is still connecting.
//   The first of "primary usable" and "startTimeout passed" picks Primary or
//   Fallback. This first choice starts no hold, because no lock can have been
//   granted on the other store yet.
// - Primary: operations go to the primary store. A failure shorter than
//   degradedAfter is logged and reported by primaryFailed() and
//   primaryRecovered(); its operations fail with the primary's errors.
// - Fallback: operations go to the fallback store and health() reports
//   degraded, and usable as the fallback store reports it. When the primary
//   is usable again the store returns to Primary.
//
// Each switch between Primary and Fallback starts a hold of switchHold
// during which setIfAbsent returns false without asking either store. Every
// setIfAbsent caller in the backend takes a lock through Lease, so the hold
// covers all of them. Subscriptions move to the new store at each switch.
// Messages published on the old store after the switch are not delivered.
//
// NOTE: callbacks keep issue order only among operations sent to the same
// inner store. An operation sent to Redis just before a switch may complete
// after one sent to memory just after it.
//
// With a MemoryStore fallback only one replica may use this store, because
// locks held in memory are invisible to other replicas. Several replicas
// need a fallback they share, such as a PostgresStore on their database.
class FallbackStore final : public CoordinationStore {
    Q_OBJECT
public:
    enum class Mode { Starting, Primary, Fallback };
    Q_ENUM(Mode)

    FallbackStore(std::unique_ptr<CoordinationStore> primary,
                  std::unique_ptr<CoordinationStore> fallback, FallbackStoreOptions options = {},
                  QObject *parent = nullptr);
    ~FallbackStore() override;

    // The primary store's kind ("redis").
    QString kind() const override;
    // Primary and Starting: the primary's health. Fallback: degraded, usable
    // when the fallback store is, and a detail naming the primary's failure
    // (and the fallback's, when it is not usable).
    CoordinationHealth health() const override;

    Mode mode() const { return m_mode; }
    // Kind of the store that operations go to now: the fallback's kind
    // ("memory" or "postgresql") in Fallback.
    QString activeKind() const;
    // True while setIfAbsent grants no key after a switch.
    bool isHolding() const;
    // Number of primary failures: one when it was not usable by startTimeout,
    // and one each time it became unusable while operations went to it.
    qint64 failureCount() const { return m_failureCount; }

    CoordinationStore &primary() { return *m_primary; }
    CoordinationStore &fallback() { return *m_fallback; }

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

    // The subscription is made on the active store and made again on the
    // new store at every switch. `ready` reports the first one only.
    Subscription subscribe(const QString &channel, QObject *context, MessageHandler handler,
                           StoreCallback<void> ready) override;
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

Q_SIGNALS:
    // Emitted after every change of mode, including the first choice.
    void modeChanged(sealrelay::backend::FallbackStore::Mode mode);
    // The primary store became unusable while operations went to it.
    void primaryFailed(const QString &detail);
    // The primary store was usable again after `downMs` of failure, before
    // degradedAfter passed.
    void primaryRecovered(qint64 downMs);

protected:
    void unsubscribe(quint64 id) override;

private:
    struct Subscriber {
        QString channel;
        QPointer<QObject> context; // null when the caller gave none
        bool hasContext = false;
        MessageHandler handler;
        Subscription inner;        // on the active store
    };

    CoordinationStore &active() const;
    // "in-memory store of this replica" or "postgresql store", for logs.
    QString fallbackName() const;
    QObject *contextOr(QObject *context) { return context ? context : this; }
    qint64 now() const { return m_clock(); }

    void onPrimaryHealthChanged();
    void onStartTimeout();
    void onDegradeTimeout();
    void probePrimary();
    void updateProbe();
    // Moves operations and subscriptions to the store of `mode`; starts the
    // hold unless this is the first choice after Starting.
    void switchTo(Mode mode, bool startHold);
    Subscription subscribeInner(quint64 id, Subscriber &subscriber, StoreCallback<void> ready);

    std::unique_ptr<CoordinationStore> m_primary;
    std::unique_ptr<CoordinationStore> m_fallback;
    FallbackStoreOptions m_options;
    MonotonicClock m_clock;

    Mode m_mode = Mode::Starting;
    qint64 m_holdUntil = 0;       // on m_clock; 0 when no switch happened
    qint64 m_failingSince = -1;   // on m_clock; -1 while the primary is usable
    qint64 m_failureCount = 0;
    QString m_lastPrimaryDetail;  // detail of the primary's last failure

    QTimer m_startTimer;
    QTimer m_degradeTimer;
    QTimer m_probeTimer;
    bool m_probeInFlight = false;

    std::map<quint64, Subscriber> m_subscribers;
    quint64 m_nextSubscriptionId = 1;
};

} // namespace sealrelay::backend
