// Lease: one lock key in the CoordinationStore held under a random owner
// token, renewed while held and released by compare-and-delete.
#pragma once

#include "coordinationstore.h"

#include <QObject>
#include <QTimer>

namespace sealrelay::backend {

struct LeaseOptions {
    // TTL set on the key at acquisition and at every renewal. The reconciler
    // uses 55 s; dispatch locks use the default.
    std::chrono::milliseconds ttl{60'000};
    // Time between renewals while held. It must be positive and shorter than
    // ttl, so a failed renewal can be retried before the key expires. An
    // invalid value is replaced by ttl / 3.
    std::chrono::milliseconds renewInterval{20'000};
    // An empty clock uses steadyClock(). Renewals are scheduled by this
    // clock: a real-time timer wakes the lease, and renewIfDue() renews
    // only once renewInterval has passed on the clock.
    MonotonicClock clock;
};

// A lease never deletes a key it no longer owns: release and the destructor
// use compare-and-delete, so a holder whose TTL ran out cannot remove the
// lock of the holder that came after it. The store should outlive the lease,
// and replies that reach a destroyed lease are dropped.
class Lease : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Acquiring, Held, Releasing };
    Q_ENUM(State)

    Lease(CoordinationStore &store, QString key, LeaseOptions options = {},
          QObject *parent = nullptr);
    // Releases the key by compare-and-delete when it is held.
    ~Lease() override;

    // Tries once to take the key with a new random owner token. Emits
    // acquireFinished(true) when it did, acquireFinished(false) when the key
    // has another owner or the store failed. Ignored unless the state is Idle.
    void acquire();

    // Deletes the key if this lease still owns it, then emits released().
    // Ignored unless the state is Held.
    void release();

    // Renews the key when renewInterval has passed on the clock since the
    // last acquisition or renewal. The renewal timer calls this; tests call
    // it after advancing a manual clock.
    void renewIfDue();

    State state() const { return m_state; }
    bool isHeld() const { return m_state == State::Held; }
    const QString &key() const { return m_key; }
    // The owner token of the current or last acquisition; empty before.
    const QByteArray &token() const { return m_token; }
    // Clock time at which the last successful acquisition or renewal was
    // sent. The key's TTL started no earlier than this.
    qint64 lastRenewedAt() const { return m_renewedAt; }

Q_SIGNALS:
    void acquireFinished(bool acquired);
    // A renewal found the key gone or owned by another token, or renewals
    // failed until the TTL ran out. The lease is Idle afterwards.
    void lost();
    // release() finished; `deleted` is false when the key was already gone
    // or owned by another token.
    void released(bool deleted);

private:
    void scheduleRenewal();
    void handleRenewal(const Result<bool> &result, quint64 generation, qint64 sentAt);
    void becomeIdle();

    QPointer<CoordinationStore> m_store;
    QString m_key;
    LeaseOptions m_options;
    State m_state = State::Idle;
    QByteArray m_token;
    qint64 m_renewedAt = 0;
    bool m_renewing = false;
    // Counts acquisitions, so a reply that belongs to an earlier one is ignored.
    quint64 m_generation = 0;
    QTimer m_renewTimer;
};

} // namespace sealrelay::backend
