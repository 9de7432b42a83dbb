// DispatchSlots: a limit on the dispatches that run at once. A sync takes a
// slot before it sends anything to an agent and gives it back when its
// dispatch ends. A sync that needs a slot while every slot is taken waits,
// in order, for one to be given back.
#pragma once

#include <QtGlobal>

#include <deque>
#include <functional>

namespace sealrelay::backend {

class DispatchSlots {
public:
    // A place in the queue of syncs that wait for a slot. 0 means no place.
    using Ticket = quint64;

    explicit DispatchSlots(int limit);

    // Takes a slot when one is free and no sync waits for one.
    bool tryTake();
    // Queues `admitted`, which runs with its slot taken once a slot is given
    // back, and returns the ticket of its place. For a sync that tryTake()
    // refused: a slot is never free while syncs wait. `admitted` gets the
    // `atOnce` of that release().
    using Admitted = std::function<void(bool atOnce)>;
    Ticket wait(Admitted admitted);
    // Leaves the queue; the queued call will not run. A ticket that is no
    // longer queued is ignored.
    void cancel(Ticket ticket);
    // Gives a slot back, which admits the first sync of the queue. With
    // `atOnce` that sync may go on before release() returns. Without it, it
    // goes on from the event loop.
    void release(bool atOnce = false);

    int limit() const { return m_limit; }
    int taken() const { return m_taken; }
    qsizetype waiting() const { return qsizetype(m_queue.size()); }

private:
    struct Waiting {
        Ticket ticket;
        Admitted admitted;
    };

    int m_limit;
    int m_taken = 0;
    Ticket m_lastTicket = 0;
    std::deque<Waiting> m_queue;
};

} // namespace sealrelay::backend
