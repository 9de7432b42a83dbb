// Sliding-window event counter with bounded memory.
#include "windowcounter.h"

#include <algorithm>

namespace sealrelay {

MonotonicClock steadyClock()
{
    return [] {
        const auto sinceEpoch = std::chrono::steady_clock::now().time_since_epoch();
        return static_cast<qint64>(
                std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch).count());
    };
}

WindowCounter::WindowCounter(std::chrono::milliseconds window, int limit, MonotonicClock clock)
    : m_window(std::max(window, std::chrono::milliseconds(1))),
      m_limit(limit),
      m_clock(clock ? std::move(clock) : steadyClock())
{
    m_lastSweep = m_clock();
}

int WindowCounter::record(const QString &key)
{
    const qint64 now = m_clock();
    sweepIfDue(now);

    Buckets &buckets = m_events[key];
    dropExpired(buckets, now);
    if (!buckets.entries.empty() && buckets.entries.back().first == now)
        ++buckets.entries.back().second;
    else
        buckets.entries.emplace_back(now, 1);
    ++buckets.total;
    return buckets.total;
}

int WindowCounter::count(const QString &key)
{
    const qint64 now = m_clock();
    sweepIfDue(now);

    const auto it = m_events.find(key);
    if (it == m_events.end())
        return 0;
    dropExpired(*it, now);
    if (it->entries.empty()) {
        m_events.erase(it);
        return 0;
    }
    return it->total;
}

void WindowCounter::reset(const QString &key)
{
    m_events.remove(key);
}

void WindowCounter::purge()
{
    const qint64 now = m_clock();
    m_lastSweep = now;
    for (auto it = m_events.begin(); it != m_events.end();) {
        dropExpired(*it, now);
        if (it->entries.empty())
            it = m_events.erase(it);
        else
            ++it;
    }
}

qsizetype WindowCounter::storedEntryCount() const
{
    qsizetype events = 0;
    for (const Buckets &buckets : m_events)
        events += static_cast<qsizetype>(buckets.entries.size());
    return events;
}

void WindowCounter::dropExpired(Buckets &buckets, qint64 now) const
{
    // A bucket at time t is inside the window while now - t < window.
    while (!buckets.entries.empty() && now - buckets.entries.front().first >= m_window.count()) {
        buckets.total -= buckets.entries.front().second;
        buckets.entries.pop_front();
    }
}

void WindowCounter::sweepIfDue(qint64 now)
{
    if (now - m_lastSweep >= m_window.count())
        purge();
}

} // namespace sealrelay
