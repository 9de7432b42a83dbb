// The time source of the agent's checks and records. Tests pass a fixed
// clock so that certificate expiry and receipt times are reproducible.
#pragma once

#include <QDateTime>

#include <functional>

namespace sealrelay::agent {

// Returns the current time in UTC.
using Clock = std::function<QDateTime()>;

inline Clock systemClock()
{
    return [] {
        return QDateTime::currentDateTimeUtc();
    };
}

} // namespace sealrelay::agent
