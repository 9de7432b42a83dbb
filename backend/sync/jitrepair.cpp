// JIT repair: an agent's credential_missing starts a sync at once, within a
// per-agent rate limit, and a failure is replied to with a public reason only.
#include "ids.h"
#include "metrics.h"
#include "syncengine.h"
#include "syncsupport.h"

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay::backend::sync;

namespace sealrelay::backend {

void SyncEngine::handleCredentialMissing(const QString &orgId, const QString &agentId,
                                         const CredentialMissing &missing)
{
    const QString base = u"jit:%1:%2"_s.arg(orgId, agentId);
    const QByteArray member = newUuid().toUtf8();
    const QDateTime receivedAt = now();
    m_store.windowAdd(
        base + u":minute"_s, member, std::chrono::minutes(1), this,
        [this, orgId, agentId, missing, base, member, receivedAt](Result<qint64> perMinute) {
            m_store.windowAdd(
                base + u":flood"_s, member, m_options.jitFloodWindow, this,
                [this, orgId, agentId, missing, perMinute, receivedAt](Result<qint64> flood) {
                    if (flood && flood.value() > m_options.jitFloodThreshold)
                        raiseAlert(orgId, u"agent_credential_flood"_s, AlertSeverity::High,
                                   u"agent:"_s + agentId,
                                   QJsonObject { { u"agent_id"_s, agentId },
                                                 { u"requests_in_window"_s, flood.value() } });
                    if (!perMinute) {
                        log()->error("cannot count credential_missing of agent {}: {}",
                                     text(agentId), text(perMinute.error().message));
                        sendUnavailable(orgId, agentId, missing.requestId, missing.credentialId,
                                        Reason::BackendBusy);
                        return;
                    }
                    if (perMinute.value() > m_options.jitPerMinute) {
                        m_metrics.countRateLimited(u"credential_missing"_s);
                        sendUnavailable(orgId, agentId, missing.requestId, missing.credentialId,
                                        Reason::RateLimited);
                        return;
                    }
                    answerMissing(orgId, agentId, missing, receivedAt);
                });
        });
}

void SyncEngine::answerMissing(const QString &orgId, const QString &agentId,
                               const CredentialMissing &missing, const QDateTime &receivedAt)
{
    auto found = missing.credentialId ? m_storage.credential(orgId, *missing.credentialId)
                                      : m_storage.credentialByName(orgId, *missing.name);
    if (!found) {
        sendUnavailable(orgId, agentId, missing.requestId, missing.credentialId,
                        Reason::BackendBusy);
        return;
    }
    if (!found.value() || found.value()->state != CredentialState::Active) {
        sendUnavailable(orgId, agentId, missing.requestId, missing.credentialId,
                        Reason::UnknownCredential);
        return;
    }
    const CredentialRow &credential = *found.value();
    if (!rowCovers(credential, agentId)) {
        sendUnavailable(orgId, agentId, missing.requestId, credential.credentialId,
                        Reason::NotInScope);
        return;
    }

    // The agent reports the value missing, so its row is corrected first.
    auto row = m_storage.credentialAgent(orgId, credential.credentialId, agentId);
    if (row && !row.value()) {
        CredentialAgentRow created;
        created.orgId = orgId;
        created.credentialId = credential.credentialId;
        created.agentId = agentId;
        created.nextAttemptAt = now();
        logIfFailed(m_storage.upsertCredentialAgent(created),
                    "add the row of a missing credential");
    } else if (row && row.value()->secretStored) {
        logIfFailed(m_storage.markSecretLost(orgId, credential.credentialId, agentId,
                                             u"REPORTED_MISSING"_s),
                    "mark a credential missing on its agent");
    }

    const QString credentialId = credential.credentialId;
    const QString requestId = missing.requestId;
    syncRow(
        orgId, credentialId, agentId, SyncTrigger::Jit,
        [this, orgId, agentId, credentialId, requestId, receivedAt](const SyncOutcome &outcome) {
            if (outcome.result == SyncResult::Delivered) {
                m_metrics.observeJitLatencySeconds(receivedAt.msecsTo(now()) / 1000.0);
                return;
            }
            // NOTE: a sync deferred behind a creator delivery (the only
            // peer is still receiving the credential) is answered
            // NO_ELIGIBLE_PEER here, although the deferred sync runs moments
            // later; the caller has to ask again.
            sendUnavailable(orgId, agentId, requestId, credentialId, outcome.publicReason);
        },
        requestId);
}

void SyncEngine::sendUnavailable(const QString &orgId, const QString &agentId,
                                 const QString &requestId,
                                 const std::optional<QString> &credentialId, Reason reason)
{
    CredentialUnavailable reply;
    reply.id = newUuid();
    reply.requestId = requestId;
    reply.credentialId = credentialId;
    // Internal states never reach the agent.
    reply.reason = isPublicUnavailableReason(reason) ? reason : Reason::NoEligiblePeer;
    log()->info("credential_missing {} of agent {} answered {}", text(requestId), text(agentId),
                text(reasonName(reply.reason)));
    sendTo(orgId, agentId, reply);
}

} // namespace sealrelay::backend
