// The /agent endpoint: accepts connections, tracks each agent's live session
// and relays messages between sessions and the rest of the backend.
#include "agentgateway.h"

#include "agentsession.h"
#include "ids.h"
#include "logging.h"

#include <QWebSocket>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

auto log()
{
    static const auto instance = logger("backend.agents");
    return instance;
}

QString sessionKey(const QString &orgId, const QString &agentId)
{
    return orgId + u'/' + agentId;
}

} // namespace

AgentGateway::AgentGateway(Storage &storage, AgentGatewayOptions options, QObject *parent)
    : QObject(parent)
    , m_storage(storage)
    , m_options(std::move(options))
{
    if (m_options.publicOrigins.isEmpty()) {
        log()->warn("no public origin is configured: hello announces an empty backend_origin "
                    "and every authenticate is rejected");
    }
}

AgentGateway::~AgentGateway() = default;

QDateTime AgentGateway::now() const
{
    return m_options.clock ? m_options.clock() : QDateTime::currentDateTimeUtc();
}

void AgentGateway::acceptConnection(QWebSocket *socket)
{
    auto *session = new AgentSession(m_storage, m_options, socket, this);
    connect(session, &AgentSession::live, this, [this, session] { onSessionLive(session); });
    connect(session, &AgentSession::finished, this,
            [this, session] { onSessionFinished(session); });
    connect(session, &AgentSession::messageReceived, this,
            [this, session](const AgentMessage &message) {
                Q_EMIT messageReceived(session->orgId(), session->agentId(), message);
            });
    connect(session, &AgentSession::malformedRewrapResponse, this,
            [this, session](const QString &requestId, const QString &problem) {
                Q_EMIT malformedRewrapResponse(session->orgId(), session->agentId(), requestId,
                                               problem);
            });
    connect(session, &AgentSession::auditAppended, this, &AgentGateway::auditAppended);
    connect(session, &AgentSession::alertRaised, this, &AgentGateway::alertRaised);
    session->start();
}

void AgentGateway::onSessionLive(AgentSession *session)
{
    const QString key = sessionKey(session->orgId(), session->agentId());
    AgentSession *previous = m_live.value(key);
    m_live.insert(key, session);

    if (previous && previous != session) {
        // Removed from m_live first, so its finished() does not report the
        // agent as disconnected.
        log()->info("agent {} of org {} connected again, so its older session is closed",
                    session->agentId().toStdString(), session->orgId().toStdString());
        previous->closeWith(QWebSocketProtocol::CloseCodeNormal,
                            u"replaced by a newer session of this agent"_s);
    }
    Q_EMIT agentAuthenticated(session->orgId(), session->agentId());
}

void AgentGateway::onSessionFinished(AgentSession *session)
{
    const QString orgId = session->orgId();
    const QString agentId = session->agentId();
    session->deleteLater();

    if (agentId.isEmpty()) {
        return;
    }
    const QString key = sessionKey(orgId, agentId);
    if (m_live.value(key) != session) {
        return;
    }
    m_live.remove(key);
    if (const auto touched = m_storage.touchAgent(orgId, agentId); !touched) {
        log()->error("could not record last_seen of agent {}: {}", agentId.toStdString(),
                     touched.error().message.toStdString());
    }
    log()->info("agent {} of org {} disconnected", agentId.toStdString(), orgId.toStdString());
    Q_EMIT agentDisconnected(orgId, agentId);
}

AgentSession *AgentGateway::liveSession(const QString &orgId, const QString &agentId) const
{
    return m_live.value(sessionKey(orgId, agentId));
}

bool AgentGateway::isConnected(const QString &orgId, const QString &agentId) const
{
    return liveSession(orgId, agentId) != nullptr;
}

bool AgentGateway::send(const QString &orgId, const QString &agentId, const AgentMessage &message)
{
    AgentSession *session = liveSession(orgId, agentId);
    if (!session) {
        return false;
    }
    return session->send(message);
}

void AgentGateway::pushCertificate(const QString &orgId, const QString &agentId)
{
    AgentSession *session = liveSession(orgId, agentId);
    if (!session) {
        return;
    }

    const Result<std::optional<AgentRow>> agent = m_storage.agent(orgId, agentId);
    if (!agent) {
        log()->error("could not read agent {} to push its certificate: {}", agentId.toStdString(),
                     agent.error().message.toStdString());
        return;
    }
    const std::optional<AgentRow> &row = agent.value();
    if (!row || row->status != AgentStatus::Approved || !row->certificateStatement
        || !row->certificateSignature) {
        log()->warn("not pushing a certificate to agent {} of org {}: it has no approved "
                    "certificate",
                    agentId.toStdString(), orgId.toStdString());
        return;
    }

    CertificateUpdate update;
    update.id = newUuid();
    update.certificate = SignedStatement{*row->certificateStatement, *row->certificateSignature};
    if (!session->send(update)) {
        log()->warn("could not send certificate_update to agent {}", agentId.toStdString());
        return;
    }
    session->setAgentStatus(AgentStatus::Approved);
    log()->info("sent certificate generation {} to agent {} of org {}", row->generation,
                agentId.toStdString(), orgId.toStdString());
}

void AgentGateway::closeAgent(const QString &orgId, const QString &agentId, int closeCode,
                              const QString &reason)
{
    AgentSession *session = liveSession(orgId, agentId);
    if (!session) {
        return;
    }
    log()->info("closing the session of agent {} of org {} with {}: {}", agentId.toStdString(),
                orgId.toStdString(), closeCode, reason.toStdString());
    session->closeWith(closeCode, reason);
}

QStringList AgentGateway::connectedAgents(const QString &orgId) const
{
    QStringList agents;
    for (auto it = m_live.cbegin(); it != m_live.cend(); ++it) {
        if (it.value()->orgId() == orgId)
            agents.append(it.value()->agentId());
    }
    return agents;
}

int AgentGateway::connectedCount() const
{
    return int(m_live.size());
}

} // namespace sealrelay::backend
