// EventBatch: the live events a model has not applied yet. The first event
// starts a single-shot timer, and the model applies everything queued in one
// change when it fires, so a burst of events does not freeze a view.
#pragma once

#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QTimer>

#include <algorithm>
#include <chrono>
#include <functional>
#include <utility>

namespace sealrelay::models {

class EventBatch {
public:
    // Maximum delay between append() and the batch that applies it.
    static constexpr std::chrono::milliseconds kMaxInterval { 50 };

    // Calls `due` from `context`'s thread when the timer fires.
    EventBatch(QObject *context, std::function<void()> due)
    {
        m_timer.setSingleShot(true);
        m_timer.setInterval(std::chrono::milliseconds(20));
        QObject::connect(&m_timer, &QTimer::timeout, context, std::move(due));
    }

    void append(const QJsonObject &event)
    {
        m_queue.append(event);
        if (!m_timer.isActive())
            m_timer.start();
    }

    // Returns the queued events and stops the timer.
    QList<QJsonObject> take()
    {
        m_timer.stop();
        return std::exchange(m_queue, {});
    }

    void clear() { take(); }

    // Sets the batch delay, clamped to 0 .. kMaxInterval.
    void setInterval(std::chrono::milliseconds interval)
    {
        m_timer.setInterval(std::clamp(interval, std::chrono::milliseconds(0), kMaxInterval));
    }

private:
    QList<QJsonObject> m_queue;
    QTimer m_timer;
};

// The `data` object of a feed event, or the object itself when it has none.
inline QJsonObject eventData(const QJsonObject &event)
{
    return event.contains(QLatin1StringView("data"))
        ? event.value(QLatin1StringView("data")).toObject()
        : event;
}

} // namespace sealrelay::models
