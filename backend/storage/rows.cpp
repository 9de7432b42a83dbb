// Text forms of the enumerations that rows store.
#include "rows.h"

#include <array>
#include <utility>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

template<typename Enum, std::size_t N>
QString nameOf(const std::array<std::pair<Enum, QStringView>, N> &names, Enum value)
{
    for (const auto &[candidate, name] : names) {
        if (candidate == value) {
            return name.toString();
        }
    }
    Q_UNREACHABLE();
    return {};
}

template<typename Enum, std::size_t N>
std::optional<Enum> valueOf(const std::array<std::pair<Enum, QStringView>, N> &names,
                            QStringView text)
{
    for (const auto &[candidate, name] : names) {
        if (name == text) {
            return candidate;
        }
    }
    return std::nullopt;
}

constexpr std::array<std::pair<ApiRole, QStringView>, 3> kApiRoles { {
    { ApiRole::Admin, u"admin" },
    { ApiRole::Operator, u"operator" },
    { ApiRole::Auditor, u"auditor" },
} };

constexpr std::array<std::pair<AgentStatus, QStringView>, 3> kAgentStatuses { {
    { AgentStatus::PendingApproval, u"pending_approval" },
    { AgentStatus::Approved, u"approved" },
    { AgentStatus::Revoked, u"revoked" },
} };

constexpr std::array<std::pair<CredentialScope, QStringView>, 2> kCredentialScopes { {
    { CredentialScope::AutoAll, u"auto_all" },
    { CredentialScope::Explicit, u"explicit" },
} };

constexpr std::array<std::pair<CredentialState, QStringView>, 2> kCredentialStates { {
    { CredentialState::Active, u"active" },
    { CredentialState::Deleted, u"deleted" },
} };

constexpr std::array<std::pair<AlertSeverity, QStringView>, 3> kAlertSeverities { {
    { AlertSeverity::Medium, u"medium" },
    { AlertSeverity::High, u"high" },
    { AlertSeverity::Critical, u"critical" },
} };

} // namespace

QString apiRoleName(ApiRole role)
{
    return nameOf(kApiRoles, role);
}

std::optional<ApiRole> parseApiRole(QStringView text)
{
    return valueOf(kApiRoles, text);
}

QString agentStatusName(AgentStatus status)
{
    return nameOf(kAgentStatuses, status);
}

std::optional<AgentStatus> parseAgentStatus(QStringView text)
{
    return valueOf(kAgentStatuses, text);
}

QString credentialScopeName(CredentialScope scope)
{
    return nameOf(kCredentialScopes, scope);
}

std::optional<CredentialScope> parseCredentialScope(QStringView text)
{
    return valueOf(kCredentialScopes, text);
}

QString credentialStateName(CredentialState state)
{
    return nameOf(kCredentialStates, state);
}

std::optional<CredentialState> parseCredentialState(QStringView text)
{
    return valueOf(kCredentialStates, text);
}

QString alertSeverityName(AlertSeverity severity)
{
    return nameOf(kAlertSeverities, severity);
}

std::optional<AlertSeverity> parseAlertSeverity(QStringView text)
{
    return valueOf(kAlertSeverities, text);
}

} // namespace sealrelay::backend
