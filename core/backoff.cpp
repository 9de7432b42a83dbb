// Retry delays: the reconciler's schedule table and jittered exponential backoff.
#include "backoff.h"

#include <QRandomGenerator>

#include <algorithm>
#include <random>

namespace sealrelay {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

RandomSource systemRandomSource()
{
    return [](quint64 lowest, quint64 highest) {
        std::uniform_int_distribution<quint64> distribution(lowest, highest);
        return distribution(*QRandomGenerator::global());
    };
}

BackoffSchedule::BackoffSchedule(QList<milliseconds> delays, int retireAtFailure)
    : m_delays(std::move(delays)), m_retireAtFailure(retireAtFailure)
{
    Q_ASSERT(!m_delays.isEmpty());
    Q_ASSERT(m_retireAtFailure >= 1);
    if (m_delays.isEmpty() || m_retireAtFailure < 1)
        m_retireAtFailure = 0;
}

BackoffSchedule BackoffSchedule::reconciler()
{
    return BackoffSchedule({30s, 2min, 8min, 30min, 2h, 2h, 2h, 2h, 2h, 2h}, 10);
}

std::optional<milliseconds> BackoffSchedule::delayAfterFailure(int attempt) const
{
    const int index = std::max(attempt, 0);
    // Attempt `index` failing is failure number index + 1.
    if (retires(index + 1))
        return std::nullopt;
    return m_delays.at(std::min<qsizetype>(index, m_delays.size() - 1));
}

bool BackoffSchedule::retires(int failures) const
{
    return failures >= m_retireAtFailure;
}

ExponentialBackoff::ExponentialBackoff(milliseconds minimum, milliseconds maximum,
                                       RandomSource random)
    : m_minimum(minimum), m_maximum(maximum), m_random(std::move(random))
{
    Q_ASSERT(m_minimum > 0ms);
    Q_ASSERT(m_minimum <= m_maximum);
    m_minimum = std::max(m_minimum, 1ms);
    m_maximum = std::max(m_maximum, m_minimum);
    if (!m_random)
        m_random = systemRandomSource();
}

ExponentialBackoff ExponentialBackoff::agentReconnect(RandomSource random)
{
    return ExponentialBackoff(1s, 60s, std::move(random));
}

ExponentialBackoff ExponentialBackoff::backfillReconnect(RandomSource random)
{
    return ExponentialBackoff(1s, 5min, std::move(random));
}

milliseconds ExponentialBackoff::ceiling(int attempt) const
{
    // Doubling stops once the bound reaches the maximum, so it cannot overflow.
    milliseconds bound = m_minimum;
    for (int i = 0; i < attempt && bound < m_maximum; ++i)
        bound = std::min(bound * 2, m_maximum);
    return std::min(bound, m_maximum);
}

milliseconds ExponentialBackoff::delay(int attempt) const
{
    const auto lowest = static_cast<quint64>(m_minimum.count());
    const auto highest = static_cast<quint64>(ceiling(std::max(attempt, 0)).count());
    const quint64 drawn = m_random(lowest, highest);
    // A test source may return anything; the result stays inside the range.
    return milliseconds(static_cast<qint64>(std::clamp(drawn, lowest, highest)));
}

} // namespace sealrelay
