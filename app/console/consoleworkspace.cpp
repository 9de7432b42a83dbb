// The console's verification state and item models for one profile and org.
#include "consoleworkspace.h"

#include <QDir>
#include <QUuid>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::console {

Result<ConsoleWorkspace *> ConsoleWorkspace::open(const QString &profileName, const QString &orgId,
                                                  QObject *parent)
{
    Result<client::TrustedOperators> trusted =
        client::TrustedOperators::load(client::TrustedOperators::defaultPath(profileName));
    if (!trusted)
        return trusted.error();
    Result<client::GenerationRecord> generations =
        client::GenerationRecord::load(client::GenerationRecord::defaultPath(profileName));
    if (!generations)
        return generations.error();
    // Before the first sign-in no org id names the file, so the list stays in
    // memory.
    Result<models::KnownAgents> knownAgents = models::KnownAgents::inMemory(orgId);
    if (!orgId.isEmpty()) {
        knownAgents =
            models::KnownAgents::load(models::KnownAgents::defaultPath(profileName, orgId), orgId);
    }
    if (!knownAgents)
        return knownAgents.error();
    return new ConsoleWorkspace(std::move(trusted).value(), std::move(generations).value(),
                                std::move(knownAgents).value(), orgId, parent);
}

ConsoleWorkspace *ConsoleWorkspace::empty(const QString &orgId, QObject *parent)
{
    // TrustedOperators has no public empty constructor: a path that does not
    // exist loads as an empty list, and this object never writes it.
    const QString nowhere = QDir::temp().filePath(
        u"sealrelay-console-no-operators-"_s + QUuid::createUuid().toString(QUuid::WithoutBraces));
    Result<client::TrustedOperators> trusted = client::TrustedOperators::load(nowhere);
    Q_ASSERT(trusted.ok());
    return new ConsoleWorkspace(std::move(trusted).value(), client::GenerationRecord::inMemory(),
                                models::KnownAgents::inMemory(orgId), orgId, parent);
}

ConsoleWorkspace::ConsoleWorkspace(client::TrustedOperators trusted,
                                   client::GenerationRecord generations,
                                   models::KnownAgents knownAgents, const QString &orgId,
                                   QObject *parent)
    : QObject(parent)
{
    m_trusted.emplace(std::move(trusted));
    m_generations.emplace(std::move(generations));
    m_knownAgents.emplace(std::move(knownAgents));
    m_certificates = std::make_unique<client::AgentCertificates>(*m_trusted, orgId, *m_generations);
    m_verifier = std::make_unique<models::SyncVerifier>(*m_trusted, *m_certificates,
                                                        &*m_knownAgents, &*m_generations);
    m_credentials = std::make_unique<models::CredentialsModel>(*m_verifier);
    m_agents = std::make_unique<models::AgentsModel>(*m_certificates);
    m_agents->setVerifier(m_verifier.get());
    m_alerts = std::make_unique<models::AlertsModel>();
    m_audit = std::make_unique<models::AuditModel>();

    m_credentialFilter = std::make_unique<models::CredentialsFilterModel>();
    m_credentialFilter->setSourceModel(m_credentials.get());
    m_agentFilter = std::make_unique<models::AgentsFilterModel>();
    m_agentFilter->setSourceModel(m_agents.get());
    m_alertFilter = std::make_unique<models::AlertsFilterModel>();
    m_alertFilter->setSourceModel(m_alerts.get());
    m_credentialAgents =
        std::make_unique<models::CredentialAgentsModel>(*m_credentials, m_agents.get());
}

ConsoleWorkspace::~ConsoleWorkspace()
{
    // Proxies go first, so no proxy outlives its source model.
    m_credentialAgents.reset();
    m_alertFilter.reset();
    m_agentFilter.reset();
    m_credentialFilter.reset();
}

void ConsoleWorkspace::selectCredential(const QString &credentialId)
{
    m_credentialAgents->setCredential(credentialId);
}

} // namespace sealrelay::console
