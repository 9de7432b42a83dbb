// The console's verification state and item models for one profile and org:
// the pinned operators, the recorded agent generations, the known agents, the
// certificate and receipt checks, and the models built on them.
#pragma once

#include "agentcertificates.h"
#include "agentsfiltermodel.h"
#include "agentsmodel.h"
#include "alertsmodel.h"
#include "auditmodel.h"
#include "credentialagentsmodel.h"
#include "credentialsfiltermodel.h"
#include "credentialsmodel.h"
#include "error.h"
#include "knownagents.h"
#include "syncverifier.h"
#include "trustedoperators.h"

#include <QObject>

#include <memory>
#include <optional>

namespace sealrelay::console {

class ConsoleWorkspace : public QObject {
    Q_OBJECT

public:
    // Loads the trusted operators, the generation record and the known-agent
    // list of `profileName`, the last one for `orgId`. `orgId` may be empty
    // before the first sign-in: every certificate then fails its org check,
    // and the known-agent list is kept in memory only.
    static Result<ConsoleWorkspace *> open(const QString &profileName, const QString &orgId,
                                           QObject *parent);
    // A workspace with no pinned operators, an in-memory generation record
    // and an in-memory known-agent list, which the session shows until it
    // opens a profile.
    static ConsoleWorkspace *empty(const QString &orgId, QObject *parent);
    ~ConsoleWorkspace() override;

    const QString &orgId() const { return m_certificates->orgId(); }
    client::TrustedOperators &trusted() { return *m_trusted; }
    client::GenerationRecord &generations() { return *m_generations; }
    models::KnownAgents &knownAgents() { return *m_knownAgents; }
    client::AgentCertificates &certificates() { return *m_certificates; }
    models::SyncVerifier &verifier() { return *m_verifier; }

    models::CredentialsModel &credentials() { return *m_credentials; }
    models::AgentsModel &agents() { return *m_agents; }
    models::AlertsModel &alerts() { return *m_alerts; }
    models::AuditModel &audit() { return *m_audit; }
    models::CredentialsFilterModel &credentialFilter() { return *m_credentialFilter; }
    models::AgentsFilterModel &agentFilter() { return *m_agentFilter; }
    models::AlertsFilterModel &alertFilter() { return *m_alertFilter; }
    models::CredentialAgentsModel &credentialAgents() { return *m_credentialAgents; }

    // Points the credential agents model at `credentialId` (empty: none).
    void selectCredential(const QString &credentialId);

private:
    ConsoleWorkspace(client::TrustedOperators trusted, client::GenerationRecord generations,
                     models::KnownAgents knownAgents, const QString &orgId, QObject *parent);

    // Declared in dependency order: the models are destroyed before the
    // verifier and certificates they hold references to.
    std::optional<client::TrustedOperators> m_trusted;
    std::optional<client::GenerationRecord> m_generations;
    std::optional<models::KnownAgents> m_knownAgents;
    std::unique_ptr<client::AgentCertificates> m_certificates;
    std::unique_ptr<models::SyncVerifier> m_verifier;
    std::unique_ptr<models::CredentialsModel> m_credentials;
    std::unique_ptr<models::AgentsModel> m_agents;
    std::unique_ptr<models::AlertsModel> m_alerts;
    std::unique_ptr<models::AuditModel> m_audit;
    std::unique_ptr<models::CredentialsFilterModel> m_credentialFilter;
    std::unique_ptr<models::AgentsFilterModel> m_agentFilter;
    std::unique_ptr<models::AlertsFilterModel> m_alertFilter;
    std::unique_ptr<models::CredentialAgentsModel> m_credentialAgents;
};

} // namespace sealrelay::console
