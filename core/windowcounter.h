// In-process sliding-window event counter keyed by string (per agent, per
// credential), and the monotonic clock type that time-driven helpers take.
#pragma once

#include <QHash>
#include <QString>
#include <QtGlobal>

#include <chrono>
#include <deque>
#include <functional>
#include <utility>

namespace sealrelay {

// Returns a monotonic time in milliseconds. Only differences between two
// readings are meaningful; tests pass a manual clock.
using MonotonicClock = std::function<qint64()>;

// The default MonotonicClock, backed by std::chrono::steady_clock.
MonotonicClock steadyClock();

// Counts events per key over the last `window`. An event recorded at time t
// is counted while now - t < window. Each key stores at most one entry per
// millisecond of the window, because expired entries are dropped on every
// access to their key. A sweep, run at most once per window from record()
// and count(), removes keys with no event left.
class WindowCounter {
public:
    // `limit` is the largest count that is still allowed: exceeds() is true
    // above it, as in "more than 30 per minute". An empty clock uses
    // steadyClock().
    WindowCounter(std::chrono::milliseconds window, int limit, MonotonicClock clock = {});

    // Records one event for `key` now and returns the count in the window
    // after recording it.
    int record(const QString &key);

    // Returns the count of events for `key` in the window ending now.
    int count(const QString &key);

    // True when the count for `key` is above the counter's limit.
    bool exceeds(const QString &key) { return exceeds(key, m_limit); }
    // True when the count for `key` is above `limit`.
    bool exceeds(const QString &key, int limit) { return count(key) > limit; }

    // Forgets every event of `key`, e.g. after an operator clears a quarantine.
    void reset(const QString &key);

    // Drops expired events of every key and keys left without events.
    void purge();

    // Number of keys currently tracked.
    qsizetype keyCount() const { return m_events.size(); }
    // Number of stored entries across keys; events of one millisecond share
    // one entry.
    qsizetype storedEntryCount() const;

    std::chrono::milliseconds window() const { return m_window; }
    int limit() const { return m_limit; }

private:
    // Events of one key as (millisecond, events in that millisecond), oldest
    // first, so a burst within one millisecond takes one entry. `total` is
    // the sum of the counts.
    struct Buckets {
        std::deque<std::pair<qint64, int>> entries;
        int total = 0;
    };

    void dropExpired(Buckets &buckets, qint64 now) const;
    void sweepIfDue(qint64 now);

    std::chrono::milliseconds m_window;
    int m_limit;
    MonotonicClock m_clock;
    QHash<QString, Buckets> m_events;
    qint64 m_lastSweep = 0;
};

} // namespace sealrelay
