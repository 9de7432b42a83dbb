#include "dispatchslots.h"

#include <algorithm>

namespace sealrelay::backend {

DispatchSlots::DispatchSlots(int limit)
    : m_limit(std::max(limit, 1))
{
}

bool DispatchSlots::tryTake()
{
    if (m_taken >= m_limit || !m_queue.empty())
        return false;
    ++m_taken;
    return true;
}

DispatchSlots::Ticket DispatchSlots::wait(Admitted admitted)
{
    const Ticket ticket = ++m_lastTicket;
    m_queue.push_back({ ticket, std::move(admitted) });
    return ticket;
}

void DispatchSlots::cancel(Ticket ticket)
{
    if (ticket == 0)
        return;
    const auto found = std::find_if(m_queue.begin(), m_queue.end(),
                                    [ticket](const Waiting &entry) { return entry.ticket == ticket; });
    if (found != m_queue.end())
        m_queue.erase(found);
}

void DispatchSlots::release(bool atOnce)
{
    Q_ASSERT(m_taken > 0);
    if (m_taken == 0)
        return;
    if (m_queue.empty()) {
        --m_taken;
        return;
    }
    // The slot passes straight to the first sync of the queue.
    Admitted admitted = std::move(m_queue.front().admitted);
    m_queue.pop_front();
    admitted(atOnce);
}

} // namespace sealrelay::backend
