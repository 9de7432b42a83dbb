// The console session's actions: credential uploads built with the operator
// key, agent approval and revocation, enrolment tokens, alerts, the audit
// trail and the system view. Each runs asynchronously and ends with one
// actionFinished().
#include "backendclient.h"
#include "clientfiles.h"
#include "consolesession.h"
#include "consoleworkspace.h"
#include "credentialcreator.h"
#include "logging.h"
#include "operatorkeystore.h"

#include <QJsonArray>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSet>

#include <cmath>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::console {

// Copies of everything a worker thread needs to build an upload, so it shares
// no mutable state with the views' thread.
struct UploadInputs {
    UploadInputs(Ed25519PrivateKey signer, client::TrustedOperators trusted,
                 client::GenerationRecord generations, QString orgId)
        : signer(std::move(signer))
        , trusted(std::move(trusted))
        , generations(std::move(generations))
        , orgId(std::move(orgId))
    {
    }

    Ed25519PrivateKey signer;
    client::TrustedOperators trusted;
    // NOTE: a copy of the profile's record. A generation it raises is written
    // to the same file, so a raise by the views' thread at the same moment
    // can be lost until that agent's certificate is seen again.
    client::GenerationRecord generations;
    QString orgId;
    QList<client::AgentRow> agents;
    std::optional<SignedStatement> current;
};

namespace {

// Reads the secret fields typed in QML into the JSON object the creator
// seals. Values must be strings.
Result<QJsonObject> secretFromFields(const QVariantMap &fields)
{
    QJsonObject secret;
    for (auto it = fields.cbegin(); it != fields.cend(); ++it) {
        if (it.value().typeId() != QMetaType::QString)
            return makeError(Reason::Malformed,
                             u"the secret field \"%1\" is not text"_s.arg(it.key()));
        secret.insert(it.key(), it.value().toString());
    }
    if (secret.isEmpty())
        return makeError(Reason::Malformed, u"the secret has no fields"_s);
    return secret;
}

QString agentCountText(qsizetype count)
{
    return count == 1 ? u"1 agent"_s : u"%1 agents"_s.arg(count);
}

} // namespace

// ---- Common steps ---------------------------------------------------------------

bool ConsoleSession::beginAction(const QString &action, bool needsOperatorKey)
{
    if (m_state != u"signedIn"_s || !m_backend) {
        Q_EMIT actionFinished(action, false, tr("Sign in first."), QString());
        return false;
    }
    if (needsOperatorKey && !m_operatorKey) {
        Q_EMIT actionFinished(action, false,
                              m_operatorKeyError.isEmpty()
                                  ? tr("The operator key is still loading: try again in a moment.")
                                  : m_operatorKeyError,
                              QString());
        return false;
    }
    if (++m_runningActions == 1)
        Q_EMIT busyChanged();
    return true;
}

void ConsoleSession::endAction(const QString &action, bool ok, const QString &message,
                               const QString &detail)
{
    if (m_runningActions > 0 && --m_runningActions == 0)
        Q_EMIT busyChanged();
    if (!ok)
        logger("console")->warn("{} failed: {}", action.toStdString(), message.toStdString());
    Q_EMIT actionFinished(action, ok, message, detail);
}

void ConsoleSession::abandonActions()
{
    // Replies of the dropped BackendClient never arrive, so its actions never
    // end on their own. An upload still sealing on a worker ends later with
    // "Signed out before the upload was sent."
    if (m_runningActions == 0)
        return;
    m_runningActions = 0;
    Q_EMIT busyChanged();
}

QString ConsoleSession::describeApiError(const client::ApiError &error) const
{
    switch (error.status) {
    case 401:
        return tr("The backend refused the token: sign in again with a new one from "
                  "`sealrelayctl token create`.");
    case 403:
        return tr("This token may not do that: ask an admin for an operator token.");
    case 404:
        return tr("The backend does not know it (%1): it may have been removed meanwhile.")
            .arg(error.message);
    case 409:
        return tr("It changed on the backend meanwhile (%1): look at it again and retry.")
            .arg(error.message);
    case 429:
        return tr("The backend asks to slow down: wait a few seconds and try again.");
    default:
        break;
    }
    if (error.code == u"network_error"_s || error.code == u"timeout"_s)
        return tr("The backend at %1 cannot be reached (%2): try again once the connection is "
                  "back.")
            .arg(m_backendUrl, error.message);
    return tr("The backend rejected the request: %1").arg(error.toError().message);
}

// ---- Credentials ----------------------------------------------------------------

void ConsoleSession::runUpload(const QString &action, const QString &credentialId,
                               PrepareUpload prepare)
{
    if (!beginAction(action, true))
        return;
    auto inputs =
        std::make_shared<UploadInputs>(m_operatorKey->privateKey(), m_workspace->trusted(),
                                       m_workspace->generations(), m_workspace->orgId());

    m_backend->getAsync(
        u"/api/agents"_s, {}, this,
        [this, action, credentialId, inputs, prepare](const client::ApiResult &agents) {
            if (!agents) {
                endAction(action, false, describeApiError(agents.error()));
                return;
            }
            Result<QList<client::AgentRow>> rows = client::parseAgentList(agents->json);
            if (!rows) {
                endAction(action, false,
                          tr("The backend's agent list is malformed, so nothing was sealed: %1")
                              .arg(rows.error().message));
                return;
            }
            inputs->agents = std::move(rows).value();
            if (credentialId.isEmpty()) {
                prepareOnWorker(action, inputs, prepare);
                return;
            }
            if (!m_backend) {
                endAction(action, false, tr("Signed out before the upload was built."));
                return;
            }
            m_backend->getAsync(
                u"/api/credentials/"_s + credentialId, {}, this,
                [this, action, inputs, prepare](const client::ApiResult &credential) {
                    if (!credential) {
                        endAction(action, false, describeApiError(credential.error()));
                        return;
                    }
                    Result<SignedStatement> current = SignedStatement::fromJson(
                        credential->json.value(u"statement"_s), u"statement");
                    if (!current) {
                        endAction(action, false,
                                  tr("The backend returned a malformed statement, so nothing was "
                                     "signed: %1")
                                      .arg(current.error().message));
                        return;
                    }
                    inputs->current = std::move(current).value();
                    prepareOnWorker(action, inputs, prepare);
                });
        });
}

void ConsoleSession::prepareOnWorker(const QString &action, std::shared_ptr<UploadInputs> inputs,
                                     PrepareUpload prepare)
{
    // Sealing to many agents (RSA-OAEP and one signature each) would stall the
    // views, so it runs on a worker thread.
    const quint64 attempt = m_signInAttempt;
    m_workers.start([this, action, attempt, inputs, prepare] {
        client::AgentCertificates certificates(inputs->trusted, inputs->orgId, inputs->generations);
        client::CredentialCreator creator(inputs->signer, certificates, inputs->trusted);
        auto prepared = std::make_shared<Result<client::PreparedUpload>>(prepare(creator, *inputs));
        QMetaObject::invokeMethod(
            this, [this, action, attempt, prepared] { sendUpload(action, attempt, *prepared); },
            Qt::QueuedConnection);
    });
}

void ConsoleSession::sendUpload(const QString &action, quint64 signInAttempt,
                                const Result<client::PreparedUpload> &prepared)
{
    // A sign-out or another sign-in since the action started drops the upload.
    if (signInAttempt != m_signInAttempt || !m_backend) {
        endAction(action, false, tr("Signed out before the upload was sent."));
        return;
    }
    if (!prepared) {
        const Error &error = prepared.error();
        QString message;
        if (error.reason == Reason::NotInScope)
            message = tr("No agent in scope has a certificate this console trusts, so no agent "
                         "could receive the secret: approve the agents first. Nothing was sent.");
        else if (error.reason == Reason::UntrustedOperator)
            message = tr("The current statement is signed by an operator key this profile does "
                         "not trust: pin it with `sealrelayctl operator trust KEY` if it is a "
                         "colleague's. Nothing was sent. (%1)")
                          .arg(error.message);
        else
            message = tr("Nothing was sent: %1.").arg(error.message);
        endAction(action, false, message);
        return;
    }
    const client::PreparedUpload upload = prepared.value();
    m_backend->postAsync(
        upload.path, upload.body, this, [this, action, upload](const client::ApiResult &reply) {
            if (!reply) {
                endAction(action, false, describeApiError(reply.error()));
                return;
            }
            const CredentialStatement &statement = upload.statement;
            QString message;
            switch (upload.kind) {
            case client::UploadKind::Create:
                message = tr("Created \"%1\" and sealed it to %2.")
                              .arg(statement.name, agentCountText(upload.envelopeAgentIds.size()));
                break;
            case client::UploadKind::Rotate:
                message = tr("Rotated \"%1\" to version %2 and sealed it to %3.")
                              .arg(statement.name)
                              .arg(statement.version)
                              .arg(agentCountText(upload.envelopeAgentIds.size()));
                break;
            case client::UploadKind::ScopeChange:
                message = statement.scope == CredentialScope::AutoAll
                    ? u"\"%1\" now goes to every agent."_s.arg(statement.name)
                    : u"\"%1\" now goes to %2."_s.arg(statement.name,
                                                      agentCountText(statement.agents.size()));
                break;
            case client::UploadKind::Delete:
                message = tr("Deleted \"%1\"; its agents purge their copies.").arg(statement.name);
                break;
            }
            endAction(action, true, message, upload.warnings.join(u'\n'));
        });
}

void ConsoleSession::createCredential(const QString &name, const QString &kind,
                                      const QVariantMap &secretFields,
                                      const QStringList &scopeAgentIds)
{
    const QString action = u"createCredential"_s;
    if (name.trimmed().isEmpty() || kind.trimmed().isEmpty()) {
        Q_EMIT actionFinished(action, false, tr("Type a name and a kind for the credential."),
                              QString());
        return;
    }
    Result<QJsonObject> secret = secretFromFields(secretFields);
    if (!secret) {
        Q_EMIT actionFinished(action, false,
                              tr("The secret cannot be used: %1.").arg(secret.error().message),
                              QString());
        return;
    }
    client::NewCredential credential;
    credential.name = name.trimmed();
    credential.kind = kind.trimmed();
    credential.scopeAgentIds = scopeAgentIds;
    // NOTE: the QString values of the secret cannot be wiped; the object is
    // released as soon as the upload is sealed.
    auto sealed = std::make_shared<QJsonObject>(std::move(secret).value());
    runUpload(action, QString(),
              [credential, sealed](client::CredentialCreator &creator, const UploadInputs &inputs) {
                  Result<client::PreparedUpload> upload =
                      creator.create(credential, *sealed, inputs.agents);
                  *sealed = QJsonObject();
                  return upload;
              });
}

void ConsoleSession::rotateCredential(const QString &credentialId, const QVariantMap &secretFields)
{
    const QString action = u"rotateCredential"_s;
    Result<QJsonObject> secret = secretFromFields(secretFields);
    if (!secret) {
        Q_EMIT actionFinished(action, false,
                              tr("The secret cannot be used: %1.").arg(secret.error().message),
                              QString());
        return;
    }
    auto sealed = std::make_shared<QJsonObject>(std::move(secret).value());
    runUpload(action, credentialId,
              [sealed](client::CredentialCreator &creator, const UploadInputs &inputs) {
                  Result<client::PreparedUpload> upload =
                      creator.rotate(*inputs.current, *sealed, inputs.agents);
                  *sealed = QJsonObject();
                  return upload;
              });
}

void ConsoleSession::changeScope(const QString &credentialId, const QStringList &scopeAgentIds)
{
    runUpload(u"changeScope"_s, credentialId,
              [scopeAgentIds](client::CredentialCreator &creator, const UploadInputs &inputs) {
                  return creator.changeScope(*inputs.current, scopeAgentIds);
              });
}

void ConsoleSession::deleteCredential(const QString &credentialId)
{
    runUpload(u"deleteCredential"_s, credentialId,
              [](client::CredentialCreator &creator, const UploadInputs &inputs) {
                  return creator.remove(*inputs.current);
              });
}

int ConsoleSession::agentsAffected(const QString &credentialId,
                                   const QStringList &scopeAgentIds) const
{
    QSet<QString> next;
    if (scopeAgentIds.isEmpty()) {
        for (const QVariant &choice : m_agentChoices)
            next.insert(choice.toMap().value(u"agentId"_s).toString());
    } else {
        next = QSet<QString>(scopeAgentIds.cbegin(), scopeAgentIds.cend());
    }
    const models::VerifiedCredential *verified =
        m_workspace->credentials().verifiedCredential(credentialId);
    if (verified == nullptr)
        return int(next.size());
    QSet<QString> current;
    for (const models::AgentSyncResult &agent : verified->verification.agents)
        current.insert(agent.agentId);
    const QSet<QString> gained = next - current;
    const QSet<QString> lost = current - next;
    return int(gained.size() + lost.size());
}

void ConsoleSession::retryCredential(const QString &credentialId)
{
    const QString action = u"retryCredential"_s;
    const models::CredentialSyncState *state = m_workspace->credentials().syncState(credentialId);
    const QString name = state ? state->name : credentialId.left(8);
    const int left = retrySecondsLeft(credentialId);
    if (left > 0) {
        Q_EMIT actionFinished(
            action, false,
            u"\"%1\" was retried a moment ago: retry again in %2 s."_s.arg(name).arg(left),
            QString());
        return;
    }
    if (!beginAction(action, false))
        return;
    m_retryCooldowns.insert(credentialId,
                            QDateTime::currentDateTimeUtc().addSecs(kRetryCooldownSeconds));
    m_cooldownTimer.start();
    Q_EMIT retryCooldownChanged();

    m_backend->postAsync(
        u"/api/credentials/%1/retry"_s.arg(credentialId), {}, this,
        [this, action, credentialId, name](const client::ApiResult &reply) {
            if (!reply) {
                // The backend returns 429 inside its own retry window, and the
                // cooldown then stays. Any other failure clears it.
                if (reply.error().status != 429) {
                    m_retryCooldowns.remove(credentialId);
                    Q_EMIT retryCooldownChanged();
                }
                endAction(action, false, describeApiError(reply.error()));
                return;
            }
            const QJsonObject sync = reply->json.value(u"sync"_s).toObject();
            const qint64 inScope = sync.value(u"in_scope"_s).toInteger();
            const qint64 missing = inScope - sync.value(u"delivered"_s).toInteger();
            if (sync.isEmpty()) {
                const qint64 reset = reply->json.value(u"rows_reset"_s).toInteger();
                endAction(action, true,
                          tr("Retrying \"%1\" now: %2 agent rows reset.").arg(name).arg(reset));
            } else if (missing <= 0) {
                endAction(action, true,
                          tr("Nothing to retry: every agent in the scope of \"%1\" holds its "
                             "current version.")
                              .arg(name));
            } else {
                endAction(action, true,
                          tr("Retrying \"%1\": %2 of %3 agents lack its current version; "
                             "connected agents get it now.")
                              .arg(name)
                              .arg(missing)
                              .arg(inScope));
            }
        });
}

int ConsoleSession::retrySecondsLeft(const QString &credentialId) const
{
    const auto until = m_retryCooldowns.constFind(credentialId);
    if (until == m_retryCooldowns.cend())
        return 0;
    const qint64 milliseconds = QDateTime::currentDateTimeUtc().msecsTo(until.value());
    if (milliseconds <= 0)
        return 0;
    return std::min(kRetryCooldownSeconds, int((milliseconds + 999) / 1000));
}

void ConsoleSession::tickRetryCooldowns()
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (auto it = m_retryCooldowns.begin(); it != m_retryCooldowns.end();) {
        if (it.value() <= now)
            it = m_retryCooldowns.erase(it);
        else
            ++it;
    }
    if (m_retryCooldowns.isEmpty())
        m_cooldownTimer.stop();
    Q_EMIT retryCooldownChanged();
}

// ---- Agents ---------------------------------------------------------------------

void ConsoleSession::approveAgent(const QString &agentId, const QString &typedFingerprint)
{
    const QString action = u"approveAgent"_s;
    if (!beginAction(action, true))
        return;
    const QPointer<ConsoleWorkspace> workspace = m_workspace;
    m_backend->getAsync(
        u"/api/agents"_s, {}, this,
        [this, action, agentId, typedFingerprint, workspace](const client::ApiResult &reply) {
            if (!reply) {
                endAction(action, false, describeApiError(reply.error()));
                return;
            }
            if (workspace != m_workspace || !m_operatorKey || !m_backend) {
                endAction(action, false,
                          tr("The session changed before the approval was signed; try again."));
                return;
            }
            Result<QList<client::AgentRow>> rows = client::parseAgentList(reply->json);
            if (!rows) {
                endAction(action, false,
                          tr("The backend's agent list is malformed, so nothing was signed: %1")
                              .arg(rows.error().message));
                return;
            }
            const auto row = std::find_if(
                rows->cbegin(), rows->cend(),
                [&agentId](const client::AgentRow &entry) { return entry.agentId == agentId; });
            if (row == rows->cend()) {
                endAction(action, false,
                          tr("The backend does not list agent %1 any more.").arg(agentId));
                return;
            }
            if (row->status != u"pending_approval"_s) {
                endAction(action, false,
                          tr("Agent \"%1\" is %2, not pending approval, so nothing was signed.")
                              .arg(row->name, row->status));
                return;
            }

            // A typing error and digits of another key get different advice.
            const QString listed =
                agentFingerprint(row->agentId, row->encryptionKey, row->identityKey);
            Result<void> matched = client::matchTypedFingerprint(typedFingerprint, listed);
            if (!matched) {
                if (matched.error().reason == Reason::IdMismatch)
                    endAction(
                        action, false,
                        tr("The fingerprint typed does not match agent \"%1\": the backend "
                           "lists keys with another fingerprint. Nothing was signed. Read the "
                           "fingerprint again on the agent host with `sealrelay-agent "
                           "fingerprint`; if it differs there too, the keys were replaced on "
                           "the way.")
                            .arg(row->name));
                else
                    endAction(action, false,
                              tr("Type at least %1 hex digits of the fingerprint that "
                                 "`sealrelay-agent fingerprint` prints on the agent host (%2).")
                                  .arg(client::kMinTypedFingerprintDigits)
                                  .arg(matched.error().message));
                return;
            }

            // A re-keyed agent gets the next generation. The local record is
            // higher than the backend's when the backend rolled the agent back.
            const qint64 recorded = workspace->generations().highest(row->agentId).value_or(0);
            const qint64 generation = std::max(row->generation, recorded) + 1;
            Result<SignedStatement> certificate = workspace->certificates().certify(
                *row, typedFingerprint, generation, m_operatorKey->privateKey());
            if (!certificate) {
                endAction(
                    action, false,
                    tr("The certificate was not signed: %1").arg(certificate.error().message));
                return;
            }
            const QString name = row->name;
            m_backend->postAsync(
                u"/api/agents/%1/certificate"_s.arg(agentId),
                { { u"certificate"_s, certificate->toJson() } }, this,
                [this, action, agentId, name, generation,
                 workspace](const client::ApiResult &posted) {
                    if (!posted) {
                        endAction(action, false, describeApiError(posted.error()));
                        return;
                    }
                    QString warning;
                    if (workspace) {
                        Result<void> raised = workspace->generations().raise(agentId, generation);
                        if (!raised)
                            warning = tr(" Recording its generation failed: %1")
                                          .arg(raised.error().message);
                    }
                    endAction(action, true,
                              tr("Approved agent \"%1\" with certificate generation %2.")
                                      .arg(name)
                                      .arg(generation)
                                  + warning);
                });
        });
}

void ConsoleSession::revokeAgent(const QString &agentId)
{
    const QString action = u"revokeAgent"_s;
    if (!beginAction(action, false))
        return;
    const QString name = agentName(agentId);
    m_backend->postAsync(u"/api/agents/%1/revoke"_s.arg(agentId), {}, this,
                         [this, action, name](const client::ApiResult &reply) {
                             if (!reply) {
                                 endAction(action, false, describeApiError(reply.error()));
                                 return;
                             }
                             endAction(action, true,
                                       tr("Revoked agent \"%1\": it receives no credentials any "
                                          "more.")
                                           .arg(name));
                         });
}

void ConsoleSession::createEnrolmentToken(const QString &agentName)
{
    const QString action = u"createEnrolmentToken"_s;
    const QString name = agentName.trimmed();
    if (name.isEmpty()) {
        Q_EMIT actionFinished(action, false, tr("Type the name the agent will enrol with."),
                              QString());
        return;
    }
    if (!beginAction(action, false))
        return;
    m_backend->postAsync(
        u"/api/agents/enrolment-tokens"_s, { { u"agent_name"_s, name } }, this,
        [this, action, name](const client::ApiResult &reply) {
            if (!reply) {
                endAction(action, false, describeApiError(reply.error()));
                return;
            }
            const QString token = reply->json.value(u"token"_s).toString();
            const QDateTime expires = QDateTime::fromString(
                reply->json.value(u"expires_at"_s).toString(), Qt::ISODateWithMs);
            endAction(action, true,
                      tr("Enrolment token for \"%1\" created. It works once, until %2: pass it to "
                         "`sealrelay-agent init --enrolment-token` on the agent host.")
                          .arg(name, expires.toLocalTime().toString(u"yyyy-MM-dd HH:mm"_s)),
                      token);
        });
}

// ---- Alerts ---------------------------------------------------------------------

void ConsoleSession::acknowledgeAlerts(const QStringList &alertIds)
{
    const QString action = u"acknowledgeAlerts"_s;
    if (alertIds.isEmpty()) {
        Q_EMIT actionFinished(action, false, tr("Select at least one alert."), QString());
        return;
    }
    if (!beginAction(action, false))
        return;
    m_backend->postAsync(
        u"/api/alerts/acknowledge"_s, { { u"ids"_s, QJsonArray::fromStringList(alertIds) } }, this,
        [this, action](const client::ApiResult &reply) {
            if (!reply) {
                endAction(action, false, describeApiError(reply.error()));
                return;
            }
            const qsizetype acknowledged = reply->json.value(u"acknowledged"_s).toArray().size();
            const qsizetype skipped = reply->json.value(u"skipped"_s).toArray().size();
            QString message = acknowledged == 1 ? tr("Acknowledged 1 alert.")
                                                : tr("Acknowledged %1 alerts.").arg(acknowledged);
            if (skipped > 0)
                message += u" %1 were already acknowledged or unknown."_s.arg(skipped);
            endAction(action, true, message);
        });
}

// ---- Audit trail ----------------------------------------------------------------

void ConsoleSession::setAuditFilter(const QString &credentialId, const QString &agentId,
                                    const QString &event, const QDateTime &from,
                                    const QDateTime &to)
{
    QStringList query;
    const auto add = [&query](const QString &name, const QString &value) {
        if (!value.isEmpty())
            query.append(name + u'=' + QString::fromLatin1(QUrl::toPercentEncoding(value)));
    };
    add(u"credential"_s, credentialId.trimmed());
    add(u"agent"_s, agentId.trimmed());
    add(u"event"_s, event.trimmed());
    if (from.isValid())
        add(u"from"_s, from.toUTC().toString(Qt::ISODateWithMs));
    if (to.isValid())
        add(u"to"_s, to.toUTC().toString(Qt::ISODateWithMs));
    m_auditQuery = query;
    if (!beginAction(u"setAuditFilter"_s, false))
        return;
    fetchAuditPage(true, true);
}

void ConsoleSession::setAuditPageSize(int rows)
{
    m_auditPageSize = std::clamp(rows, 1, 500);
}

void ConsoleSession::loadMoreAudit()
{
    if (!m_workspace->audit().hasMore()) {
        Q_EMIT actionFinished(u"loadMoreAudit"_s, true, tr("There are no older rows."), QString());
        return;
    }
    if (!beginAction(u"loadMoreAudit"_s, false))
        return;
    fetchAuditPage(false, true);
}

// With `replace`, the first page of the current filter replaces the rows;
// otherwise the next page is appended. With `reported` it ends the action
// setAuditFilter or loadMoreAudit started.
void ConsoleSession::fetchAuditPage(bool replace, bool reported)
{
    const QString action = replace ? u"setAuditFilter"_s : u"loadMoreAudit"_s;
    if (!m_backend) {
        if (reported)
            endAction(action, false, tr("Sign in first."));
        return;
    }
    const quint64 request = ++m_auditRequest;
    QUrlQuery query;
    for (const QString &item : std::as_const(m_auditQuery))
        query.addQueryItem(item.section(u'=', 0, 0), item.section(u'=', 1));
    query.addQueryItem(u"limit"_s, QString::number(m_auditPageSize));
    if (!replace)
        query.addQueryItem(u"after_id"_s, QString::number(m_workspace->audit().nextAfterId()));
    const bool filtered = !m_auditQuery.isEmpty();
    const QPointer<ConsoleWorkspace> workspace = m_workspace;

    m_backend->getAsync(
        u"/api/audit"_s, query, this,
        [this, action, reported, request, replace, filtered,
         workspace](const client::ApiResult &reply) {
            const auto finish = [&](bool ok, const QString &message) {
                if (reported)
                    endAction(action, ok, message);
            };
            if (request != m_auditRequest || workspace != m_workspace) {
                finish(false, tr("A newer audit query replaced this one."));
                return;
            }
            if (!reply) {
                finish(false, describeApiError(reply.error()));
                return;
            }
            const QJsonValue next = reply->json.value(u"next_after_id"_s);
            const std::optional<qint64> nextAfterId =
                next.isDouble() ? std::optional<qint64>(next.toInteger()) : std::nullopt;
            if (replace)
                workspace->audit().clear(filtered);
            const QJsonArray records = reply->json.value(u"records"_s).toArray();
            Result<void> appended = workspace->audit().appendPage(records, nextAfterId);
            if (!appended) {
                finish(false,
                       tr("The backend returned a malformed audit page: %1")
                           .arg(appended.error().message));
                return;
            }
            Q_EMIT auditHasMoreChanged();
            finish(true,
                   records.size() == 1 ? tr("Loaded 1 audit row.")
                                       : tr("Loaded %1 audit rows.").arg(records.size()));
        });
}

void ConsoleSession::verifyAudit()
{
    const QString action = u"verifyAudit"_s;
    if (!beginAction(action, false))
        return;
    const QPointer<ConsoleWorkspace> workspace = m_workspace;
    m_backend->getAsync(
        u"/api/audit/verify"_s, {}, this,
        [this, action, workspace](const client::ApiResult &reply) {
            if (!reply) {
                endAction(action, false, describeApiError(reply.error()));
                return;
            }
            if (!workspace) {
                endAction(action, false, tr("The session changed during the check; try again."));
                return;
            }
            Result<void> set = workspace->audit().setVerification(reply->json);
            if (!set) {
                endAction(action, false,
                          tr("The backend's verification report is malformed: %1")
                              .arg(set.error().message));
                return;
            }
            const models::AuditVerification verification = workspace->audit().verification();
            // The backend computes the report, so the message names it as the source.
            if (verification.intact)
                endAction(action, true,
                          tr("The backend reports the audit trail intact: %1 rows verified up to "
                             "row %2.")
                              .arg(verification.rowsVerified)
                              .arg(verification.headRowId));
            else
                endAction(action, true,
                          tr("The backend reports the audit trail broken at row %1: %2")
                              .arg(verification.firstBreakRowId)
                              .arg(verification.firstBreakMessage));
        });
}

// ---- System ---------------------------------------------------------------------

void ConsoleSession::refreshSystem()
{
    if (!beginAction(u"refreshSystem"_s, false))
        return;
    fetchSystem(true);
}

void ConsoleSession::fetchSystem(bool report)
{
    const QString action = u"refreshSystem"_s;
    if (!m_backend) {
        if (report)
            endAction(action, false, tr("Sign in first."));
        return;
    }
    m_backend->getAsync(
        u"/api/system/rewrap-coordination-status"_s, {}, this,
        [this, action, report](const client::ApiResult &reply) {
            if (!reply) {
                if (report)
                    endAction(action, false, describeApiError(reply.error()));
                return;
            }
            const QJsonObject &json = reply->json;
            QVariantMap system = m_system;
            system.insert(u"coordination"_s, json.value(u"coordination"_s).toString());
            system.insert(u"degraded"_s, json.value(u"degraded"_s).toBool());
            system.insert(u"replicaId"_s, json.value(u"replica_id"_s).toString());
            QVariantList replicas = json.value(u"replicas"_s).toArray().toVariantList();
            if (replicas.isEmpty() && json.contains(u"replica_id"_s))
                replicas.append(json.value(u"replica_id"_s).toString());
            system.insert(u"replicas"_s, replicas);
            // TODO: the backend has no route that returns its version yet.
            system.insert(u"backendVersion"_s, json.value(u"version"_s).toString());
            system.insert(u"checkedAt"_s, QDateTime::currentDateTimeUtc());
            m_system = system;
            m_coordinationDegraded = json.value(u"degraded"_s).toBool();
            m_coordinationName = json.value(u"coordination"_s).toString();
            Q_EMIT systemChanged();
            updateBanner();
            fetchMetrics();
            if (report)
                endAction(action, true,
                          m_coordinationDegraded
                              ? tr("Coordination (%1) is degraded.").arg(m_coordinationName)
                              : tr("Coordination (%1) works.").arg(m_coordinationName));
        });
}

// Reads a few summary numbers from the Prometheus text of GET /metrics,
// which needs no token.
void ConsoleSession::fetchMetrics()
{
    QUrl url(m_backendUrl);
    url.setPath(u"/metrics"_s);
    QNetworkRequest request(url);
    request.setTransferTimeout(10000);
    QNetworkReply *reply = m_network->get(request);
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        if (reply->error() != QNetworkReply::NoError)
            return;
        // Sums every series of a metric, whatever its labels.
        QHash<QByteArray, double> sums;
        const QList<QByteArray> lines = reply->readAll().split('\n');
        for (const QByteArray &line : lines) {
            if (line.isEmpty() || line.startsWith('#'))
                continue;
            const qsizetype space = line.lastIndexOf(' ');
            const qsizetype brace = line.indexOf('{');
            const QByteArray name = line.left(brace >= 0 && brace < space ? brace : space);
            bool valid = false;
            const double value = line.mid(space + 1).toDouble(&valid);
            if (valid)
                sums[name] += value;
        }
        QVariantMap metrics;
        const auto take = [&](const char *metric, const QString &key) {
            const auto found = sums.constFind(QByteArray(metric));
            if (found != sums.cend())
                metrics.insert(key, qint64(std::llround(found.value())));
        };
        take("sealrelay_connected_agents", u"connectedAgents"_s);
        take("sealrelay_alerts_raised_total", u"alertsRaised"_s);
        take("sealrelay_dispatches_total", u"dispatches"_s);
        take("sealrelay_reconciler_sweeps_total", u"reconcilerSweeps"_s);
        take("sealrelay_rate_limited_requests_total", u"rateLimitedRequests"_s);
        m_system.insert(u"metrics"_s, metrics);
        Q_EMIT systemChanged();
    });
}

} // namespace sealrelay::console
