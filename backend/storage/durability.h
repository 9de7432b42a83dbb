// When a committed write transaction of the backend's storage is on disk.
#pragma once

namespace sealrelay::backend {

enum class Durability {
    // The commit returns once the writes survive a power loss.
    OnCommit,
    // The writes survive a crash of this process at once, and a power loss
    // once a later OnCommit transaction on the same database has committed.
    // The database writes its log in order, so a later durable commit cannot
    // survive without them. For steps that are only repeated when lost, such
    // as a pending dispatch, whose late response is then rejected as
    // unsolicited.
    WithNextDurableCommit,
};

} // namespace sealrelay::backend
