// Typed failures shared by every layer: a reason from PROTOCOL.md's vocabulary
// plus a sentence for people, and Result<T> to carry either a value or one.
#pragma once

#include <QString>

#include <optional>
#include <utility>
#include <variant>

namespace sealrelay {

// Reasons that cross a process boundary keep their wire names (reasonName()).
enum class Reason {
    // Input and encoding
    Malformed,          // MALFORMED: wrong shape, type, encoding or length
    TooLarge,           // TOO_LARGE: over a size limit of the protocol
    InvalidKey,         // INVALID_KEY: unreadable key, wrong algorithm or size

    // Cryptographic failures
    DecryptFailed,      // DECRYPT_FAILED: RSA unwrap or GCM tag, reported alike

    // Target checks, in the order a target applies them
    BadStatement,
    UntrustedOperator,
    IdMismatch,
    Superseded,
    Equivocation,
    OutOfScope,
    BadAttestation,
    PayloadMismatch,
    CommitmentMismatch,

    // Peer refusals
    UntrustedTargetKey,
    StaleStatement,
    NotHeld,

    // Message-level errors (the `error` message's codes)
    InvalidMessage,
    UnknownType,
    Unauthenticated,
    Forbidden,
    RateLimited,
    Internal,

    // Public reasons of credential_unavailable
    NoEligiblePeer,
    BackendBusy,
    NotInScope,
    UnknownCredential,

    // Local failures that never travel on the wire
    IoError,
    NotFound,
};

// Returns the wire name, e.g. "DECRYPT_FAILED".
QString reasonName(Reason reason);

// Parses a wire name; std::nullopt for a name this build does not know.
std::optional<Reason> reasonFromName(QStringView name);

struct Error {
    Reason reason;
    QString message;   // names the offending value and what to do; never holds secret material
};

inline Error makeError(Reason reason, QString message)
{
    return Error{reason, std::move(message)};
}

// A value or an Error. Checked access only: value() on an error asserts in
// debug builds and is undefined otherwise, like std::optional::operator*.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_state(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_state(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return m_state.index() == 0; }
    explicit operator bool() const { return ok(); }

    T &value() & { Q_ASSERT(ok()); return std::get<0>(m_state); }
    const T &value() const & { Q_ASSERT(ok()); return std::get<0>(m_state); }
    T &&value() && { Q_ASSERT(ok()); return std::get<0>(std::move(m_state)); }

    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

    const Error &error() const { Q_ASSERT(!ok()); return std::get<1>(m_state); }

private:
    std::variant<T, Error> m_state;
};

// Result of an operation that produces nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)) {}

    bool ok() const { return !m_error.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error &error() const { Q_ASSERT(!ok()); return *m_error; }

private:
    std::optional<Error> m_error;
};

} // namespace sealrelay
