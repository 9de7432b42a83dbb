// Wire names of the failure reasons (SCREAMING_SNAKE_CASE, e.g. DECRYPT_FAILED)
// and the reverse lookup.
#include "error.h"

#include <array>
#include <utility>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

struct ReasonEntry {
    Reason reason;
    QLatin1StringView name;
};

// One entry per enumerator of Reason, in enum order. The static_asserts below
// catch a missing or misplaced entry as long as NotFound stays the last reason.
constexpr std::array kReasonNames {
    ReasonEntry { Reason::Malformed, "MALFORMED"_L1 },
    ReasonEntry { Reason::TooLarge, "TOO_LARGE"_L1 },
    ReasonEntry { Reason::InvalidKey, "INVALID_KEY"_L1 },
    ReasonEntry { Reason::DecryptFailed, "DECRYPT_FAILED"_L1 },
    ReasonEntry { Reason::BadStatement, "BAD_STATEMENT"_L1 },
    ReasonEntry { Reason::UntrustedOperator, "UNTRUSTED_OPERATOR"_L1 },
    ReasonEntry { Reason::IdMismatch, "ID_MISMATCH"_L1 },
    ReasonEntry { Reason::Superseded, "SUPERSEDED"_L1 },
    ReasonEntry { Reason::Equivocation, "EQUIVOCATION"_L1 },
    ReasonEntry { Reason::OutOfScope, "OUT_OF_SCOPE"_L1 },
    ReasonEntry { Reason::BadAttestation, "BAD_ATTESTATION"_L1 },
    ReasonEntry { Reason::PayloadMismatch, "PAYLOAD_MISMATCH"_L1 },
    ReasonEntry { Reason::CommitmentMismatch, "COMMITMENT_MISMATCH"_L1 },
    ReasonEntry { Reason::UntrustedTargetKey, "UNTRUSTED_TARGET_KEY"_L1 },
    ReasonEntry { Reason::StaleStatement, "STALE_STATEMENT"_L1 },
    ReasonEntry { Reason::NotHeld, "NOT_HELD"_L1 },
    ReasonEntry { Reason::InvalidMessage, "INVALID_MESSAGE"_L1 },
    ReasonEntry { Reason::UnknownType, "UNKNOWN_TYPE"_L1 },
    ReasonEntry { Reason::Unauthenticated, "UNAUTHENTICATED"_L1 },
    ReasonEntry { Reason::Forbidden, "FORBIDDEN"_L1 },
    ReasonEntry { Reason::RateLimited, "RATE_LIMITED"_L1 },
    ReasonEntry { Reason::Internal, "INTERNAL"_L1 },
    ReasonEntry { Reason::NoEligiblePeer, "NO_ELIGIBLE_PEER"_L1 },
    ReasonEntry { Reason::BackendBusy, "BACKEND_BUSY"_L1 },
    ReasonEntry { Reason::NotInScope, "NOT_IN_SCOPE"_L1 },
    ReasonEntry { Reason::UnknownCredential, "UNKNOWN_CREDENTIAL"_L1 },
    ReasonEntry { Reason::IoError, "IO_ERROR"_L1 },
    ReasonEntry { Reason::NotFound, "NOT_FOUND"_L1 },
};

static_assert(kReasonNames.size() == std::size_t(Reason::NotFound) + 1,
              "every Reason needs a wire name");

constexpr bool entriesFollowEnumOrder()
{
    for (std::size_t i = 0; i < kReasonNames.size(); ++i) {
        if (std::size_t(kReasonNames[i].reason) != i)
            return false;
    }
    return true;
}
static_assert(entriesFollowEnumOrder(), "kReasonNames must list reasons in enum order");

} // namespace

QString reasonName(Reason reason)
{
    const auto index = std::size_t(reason);
    if (index >= kReasonNames.size())
        return u"INTERNAL"_s;
    return QString(kReasonNames[index].name);
}

std::optional<Reason> reasonFromName(QStringView name)
{
    for (const ReasonEntry &entry : kReasonNames) {
        if (name == entry.name)
            return entry.reason;
    }
    return std::nullopt;
}

} // namespace sealrelay
