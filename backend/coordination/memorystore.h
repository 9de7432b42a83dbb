// MemoryStore: the CoordinationStore of a single backend replica, kept in
// this process. TTLs follow an injectable clock, so tests never sleep.
#pragma once

#include "coordinationstore.h"

#include <QHash>
#include <QTimer>

#include <map>

namespace sealrelay::backend {

// Every read checks expiry against the clock (lazy expiry), and a periodic
// purge frees keys that are not read again. Published messages and replies
// are queued on the event loop like a broker's, never delivered inside the
// call that caused them.
class MemoryStore final : public CoordinationStore {
    Q_OBJECT
public:
    // An empty clock uses steadyClock().
    explicit MemoryStore(MonotonicClock clock = {}, QObject *parent = nullptr);
    ~MemoryStore() override;

    QString kind() const override;
    CoordinationHealth health() const override;

    // Marks the store as a fallback (degraded) with the reason shown by
    // health(); emits healthChanged() when the state changes.
    void setDegraded(bool degraded, const QString &detail = {});

    // Interval of the real-time timer that calls purgeExpired(); 0 stops it.
    // The default is 30 s.
    void setPurgeInterval(std::chrono::milliseconds interval);

    // Frees every expired value, window event, set member and empty key.
    void purgeExpired();

    // Number of keys held across values, windows and sets, expired or not
    // until read or purged.
    qsizetype keyCount() const;

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

protected:
    void unsubscribe(quint64 id) override;

private:
    struct Value {
        QByteArray data;
        qint64 expiresAt = 0;
    };

    // Events of one window key: member -> time, and time -> member for trims.
    struct Window {
        QHash<QByteArray, qint64> timeByMember;
        std::multimap<qint64, QByteArray> memberByTime;
        qint64 expiresAt = 0;
    };

    struct Subscriber {
        quint64 id = 0;
        QString channel;
        QPointer<QObject> context;
        MessageHandler handler;
    };

    template <typename T>
    void reply(QObject *context, StoreCallback<T> done, Result<T> result);

    // The live value of `key`, erasing it first when it has expired.
    Value *liveValue(const QString &key, qint64 now);
    Window *liveWindow(const QString &key, qint64 now);
    QHash<QByteArray, qint64> *liveSet(const QString &key, qint64 now);
    static qint64 trimWindow(Window &window, qint64 cutoff);
    static void dropExpiredMembers(QHash<QByteArray, qint64> &members, qint64 now);

    MonotonicClock m_clock;
    CoordinationHealth m_health;
    QHash<QString, Value> m_values;
    QHash<QString, Window> m_windows;
    QHash<QString, QHash<QByteArray, qint64>> m_sets;
    QList<Subscriber> m_subscribers; // in subscription order
    quint64 m_nextSubscriptionId = 1;
    QTimer m_purgeTimer;
};

} // namespace sealrelay::backend
