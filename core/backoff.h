// Retry delays: the reconciler's fixed schedule by attempt, and exponential
// backoff with full jitter for reconnect waits.
#pragma once

#include <QList>
#include <QtGlobal>

#include <chrono>
#include <functional>
#include <optional>

namespace sealrelay {

// Returns a uniformly distributed integer in [lowest, highest], both included.
using RandomSource = std::function<quint64(quint64 lowest, quint64 highest)>;

// The default RandomSource, backed by QRandomGenerator::global().
RandomSource systemRandomSource();

// A table of delays indexed by the zero-based number of the attempt that
// failed, and the failure count at which a row is retired instead of retried.
// Attempts past the end of the table reuse its last delay.
class BackoffSchedule {
public:
    // `delays` must not be empty and `retireAtFailure` must be at least 1;
    // an invalid table asserts in debug builds and retires at once otherwise.
    BackoffSchedule(QList<std::chrono::milliseconds> delays, int retireAtFailure);

    // The reconciler's schedule: attempt 0 -> 30 s, 1 -> 2 min, 2 -> 8 min,
    // 3 -> 30 min, 4-9 -> 2 h, retired at the 10th failure.
    static BackoffSchedule reconciler();

    // Returns the wait before the next try after attempt `attempt` (0 for the
    // first try) failed, or std::nullopt when that failure retires the row.
    // A negative attempt is treated as 0.
    std::optional<std::chrono::milliseconds> delayAfterFailure(int attempt) const;

    // True when `failures` failed attempts retire the row.
    bool retires(int failures) const;

    // The failure count that retires a row, e.g. 10 for the reconciler; the
    // value Storage takes as maxAttempts.
    int retireAtFailure() const { return m_retireAtFailure; }

    const QList<std::chrono::milliseconds> &delays() const { return m_delays; }

private:
    QList<std::chrono::milliseconds> m_delays;
    int m_retireAtFailure;
};

// Exponential backoff with full jitter: the wait before retry `attempt`
// (0 for the first retry) is drawn uniformly from [minimum, ceiling], where
// ceiling = min(maximum, minimum * 2^attempt).
class ExponentialBackoff {
public:
    // `minimum` must be positive and at most `maximum`. An empty `random`
    // uses systemRandomSource().
    ExponentialBackoff(std::chrono::milliseconds minimum, std::chrono::milliseconds maximum,
                       RandomSource random = {});

    // Agent reconnects: 1 s to 60 s.
    static ExponentialBackoff agentReconnect(RandomSource random = {});
    // The wait imposed on an agent that reconnects too often during a
    // backfill: 1 s to 5 min.
    static ExponentialBackoff backfillReconnect(RandomSource random = {});

    // Returns a jittered wait for retry `attempt`; a negative attempt is
    // treated as 0.
    std::chrono::milliseconds delay(int attempt) const;

    // Returns the upper bound of the jitter range for retry `attempt`.
    std::chrono::milliseconds ceiling(int attempt) const;

    std::chrono::milliseconds minimum() const { return m_minimum; }
    std::chrono::milliseconds maximum() const { return m_maximum; }

private:
    std::chrono::milliseconds m_minimum;
    std::chrono::milliseconds m_maximum;
    RandomSource m_random;
};

} // namespace sealrelay
