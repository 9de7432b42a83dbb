// Helpers the sync engine's files share: its logger, JSON text for audit
// details, the scope rule on stored rows, and logging of storage failures
// that must not stop a sync.
#pragma once

#include "error.h"
#include "logging.h"
#include "rows.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QString>

#include <memory>
#include <string>

namespace sealrelay::backend::sync {

inline std::shared_ptr<spdlog::logger> log()
{
    return logger("backend.sync");
}

inline std::string text(const QString &value)
{
    return value.toStdString();
}

// last_error of an agent whose copy a target reported as not matching the
// operator's commitment.
inline const QString kSourceMismatchError = QStringLiteral("COMMITMENT_MISMATCH_SOURCE");
// A sync deferred while another agent receives the creator's envelope.
inline const QString kAwaitingCreatorDelivery = QStringLiteral("AWAITING_CREATOR_DELIVERY");

inline QString compactJson(const QJsonObject &object)
{
    return QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

// True when the credential is active and its scope covers the agent.
inline bool rowCovers(const CredentialRow &credential, const QString &agentId)
{
    if (credential.state != CredentialState::Active)
        return false;
    return credential.scope == CredentialScope::AutoAll
        || credential.scopeAgentIds.contains(agentId);
}

// Logs a failed storage write that the sync continues without. `what`
// describes the write.
template<typename T> void logIfFailed(const Result<T> &result, const char *what)
{
    if (!result)
        log()->error("cannot {}: {}", what, result.error().message.toStdString());
}

} // namespace sealrelay::backend::sync
