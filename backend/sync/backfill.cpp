// Registration and backfill: what a registering agent lacks (first
// registration, regenerated keys, or the gap of a warm reconnect), the
// registered reply, the reconnect throttle and the progress it publishes.
#include "backfill.h"

#include "ids.h"
#include "metrics.h"
#include "syncsupport.h"

#include <QHash>
#include <QPointer>
#include <QTimer>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay::backend::sync;

namespace sealrelay::backend {

namespace {

// The rule of Storage::dueCredentialAgents without the backoff. An agent in
// scope needs the current value and statement, and an agent outside it needs
// only the statement that purges the older one it stores.
bool needsSync(const CredentialRow &credential, const CredentialAgentRow &row)
{
    const bool held = row.storedVersion && row.storedRevision;
    const bool behind = !held || *row.storedVersion < credential.version
        || (*row.storedVersion == credential.version && *row.storedRevision < credential.revision);
    if (rowCovers(credential, row.agentId))
        return behind || !row.secretStored;
    return held && behind;
}

} // namespace

Backfill::Backfill(SyncEngine &engine, QString orgId, QString agentId)
    : m_engine(engine)
    , m_orgId(std::move(orgId))
    , m_agentId(std::move(agentId))
{
}

void Backfill::resume(const QStringList &gap)
{
    QSet<QString> queued(m_queue.cbegin(), m_queue.cend());
    for (const QString &credentialId : gap) {
        if (m_inFlight.contains(credentialId) || queued.contains(credentialId))
            continue;
        queued.insert(credentialId);
        m_done.remove(credentialId);
        m_failed.remove(credentialId);
        m_queue.append(credentialId);
    }
    m_running = true;
    m_engine.publishBackfill(*this);
    pump();
}

void Backfill::pause()
{
    m_running = false;
}

void Backfill::pump()
{
    if (!m_running)
        return;
    while (m_dispatching.size() < m_engine.options().backfillConcurrency && !m_queue.isEmpty()) {
        const QString credentialId = m_queue.takeFirst();
        m_inFlight.insert(credentialId);
        m_dispatching.insert(credentialId);
        QPointer<Backfill> self(this);
        m_engine.syncRow(
            m_orgId, credentialId, m_agentId, SyncTrigger::Backfill,
            [self, credentialId](const SyncOutcome &outcome) {
                if (self)
                    self->itemFinished(credentialId, outcome);
            },
            {},
            [self, credentialId] {
                if (self && self->m_dispatching.remove(credentialId))
                    self->pump();
            });
    }
    if (m_inFlight.isEmpty() && m_queue.isEmpty())
        m_engine.backfillFinished(this);
}

void Backfill::itemFinished(const QString &credentialId, const SyncOutcome &outcome)
{
    m_inFlight.remove(credentialId);
    m_dispatching.remove(credentialId);
    if (outcome.succeeded()) {
        m_done.insert(credentialId);
    } else if (!m_running && !outcome.countsAsAttempt) {
        // The agent went away; the item waits for the next registration.
        m_queue.append(credentialId);
    } else {
        // Left to the reconciler's backoff.
        m_failed.insert(credentialId);
    }
    m_engine.publishBackfill(*this);
    pump();
}

void SyncEngine::handleRegister(const QString &orgId, const QString &agentId,
                                const Register &message)
{
    const QString key = agentKey(orgId, agentId);
    const quint64 serial = ++m_registrations[key];
    m_store.windowAdd(
        u"registrations:%1:%2"_s.arg(orgId, agentId), newUuid().toUtf8(), std::chrono::minutes(1),
        this, [this, orgId, agentId, key, serial, message](Result<qint64> count) {
            const qint64 excess = count ? count.value() - m_options.reconnectLimitPerMinute : 0;
            if (excess <= 0) {
                startBackfill(orgId, agentId, message);
                return;
            }
            // An agent that reconnects in a loop waits longer each time.
            const qint64 shift = std::min<qint64>(excess - 1, 20);
            const auto wait = std::min<std::chrono::milliseconds>(
                std::chrono::milliseconds(1000LL << shift), m_options.reconnectMaxWait);
            log()->warn("agent {} registered {} times in a minute; its backfill waits {} ms",
                        text(agentId), count.value(), wait.count());
            QTimer::singleShot(wait, this, [this, orgId, agentId, key, serial, message] {
                if (m_registrations.value(key) == serial && isConnected(orgId, agentId))
                    startBackfill(orgId, agentId, message);
            });
        });
}

void SyncEngine::startBackfill(const QString &orgId, const QString &agentId,
                               const Register &message)
{
    if (m_stopped || !isConnected(orgId, agentId))
        return;
    if (message.mode == RegisterMode::KeyRegenerated) {
        // The rekey purged the vault: everything is sent again.
        logIfFailed(m_storage.resetAgentDeliveries(orgId, agentId),
                    "reset the rows of an agent with regenerated keys");
    }
    // An agent enrolled after an upload to scope auto_all has no row for
    // that credential yet. One statement adds all of them, so the loop below
    // finds every row it compares without an insert per credential.
    if (auto added = m_storage.addAutoAllRows(orgId, agentId); !added) {
        log()->error("cannot add the rows of agent {} for its backfill: {}", text(agentId),
                     text(added.error().message));
        return;
    }
    auto details = m_storage.credentialDetailsOfAgent(orgId, agentId);
    if (!details) {
        log()->error("cannot read credentials for the backfill of agent {}: {}", text(agentId),
                     text(details.error().message));
        return;
    }

    QHash<QString, KnownCredential> known;
    for (const KnownCredential &entry : message.known)
        known.insert(entry.credentialId, entry);

    QStringList gap;
    const QDateTime now = this->now();
    // The rows of a large vault change in one commit, not one commit each.
    writeTogether(u"record what the registering agent holds", [&] {
        for (const CredentialDetail &detail : details.value()) {
            const CredentialRow &credential = detail.credential;
            const auto found =
                std::find_if(detail.agents.cbegin(), detail.agents.cend(),
                             [&](const CredentialAgentRow &row) { return row.agentId == agentId; });
            CredentialAgentRow row;
            bool changed = false;
            if (found != detail.agents.cend()) {
                row = *found;
            } else if (rowCovers(credential, agentId)) {
                // A credential uploaded since addAutoAllRows() has no row yet.
                row.orgId = orgId;
                row.credentialId = credential.credentialId;
                row.agentId = agentId;
                row.nextAttemptAt = now;
                changed = true;
            } else {
                continue;
            }

            // What the agent lists is what its vault holds.
            const auto entry = known.constFind(credential.credentialId);
            if (entry != known.constEnd()) {
                if (row.storedVersion != entry->version || row.storedRevision != entry->revision
                    || !row.secretStored) {
                    row.storedVersion = entry->version;
                    row.storedRevision = entry->revision;
                    row.secretStored = true;
                    changed = true;
                }
            } else if (row.secretStored && rowCovers(credential, agentId)) {
                row.secretStored = false;
                row.storedVersion.reset();
                row.storedRevision.reset();
                changed = true;
            }
            if (changed) {
                if (auto written = m_storage.upsertCredentialAgent(row); !written)
                    log()->error("cannot update the row of credential {} on agent {}: {}",
                                 text(credential.credentialId), text(agentId),
                                 text(written.error().message));
            }
            if (needsSync(credential, row))
                gap.append(credential.credentialId);
        }
    });

    Registered reply;
    reply.id = newUuid();
    reply.backfillTotal = gap.size();
    sendTo(orgId, agentId, reply);
    log()->info("agent {} registered ({}); credentials to backfill: {}", text(agentId),
                text(registerModeName(message.mode)), gap.size());

    const QString key = agentKey(orgId, agentId);
    Backfill *backfill = m_backfills.value(key);
    if (!backfill) {
        backfill = new Backfill(*this, orgId, agentId);
        m_backfills.insert(key, backfill);
    }
    backfill->resume(gap);
}

void SyncEngine::backfillFinished(Backfill *backfill)
{
    const QString key = agentKey(backfill->orgId(), backfill->agentId());
    if (m_backfills.value(key) != backfill)
        return;
    m_backfills.remove(key);
    m_lastBackfill.insert(key, { backfill->done(), backfill->total() });
    backfill->pause();
    log()->info("backfill of agent {} finished: {} of {} credentials, {} left to the "
                "reconciler",
                text(backfill->agentId()), backfill->done() - backfill->failed(), backfill->total(),
                backfill->failed());
    publishBackfill(*backfill);
    backfill->deleteLater();
    updateBackfillMetrics();
}

void SyncEngine::publishBackfill(const Backfill &backfill)
{
    updateBackfillMetrics();
    if (!eventsWatched(backfill.orgId()))
        return;
    const bool finished = !m_backfills.contains(agentKey(backfill.orgId(), backfill.agentId()));
    const QString state = finished ? u"online"_s
        : backfill.isRunning()     ? u"backfilling"_s
                                   : u"paused"_s;
    Q_EMIT eventPublished(backfill.orgId(), u"agent_backfill_progress"_s,
                          QJsonObject { { u"agent_id"_s, backfill.agentId() },
                                        { u"state"_s, state },
                                        { u"done"_s, backfill.done() },
                                        { u"failed"_s, backfill.failed() },
                                        { u"total"_s, backfill.total() } });
}

void SyncEngine::updateBackfillMetrics()
{
    qint64 total = 0;
    qint64 done = 0;
    for (const Backfill *backfill : std::as_const(m_backfills)) {
        total += backfill->total();
        done += backfill->done();
    }
    m_metrics.setBackfillProgress(double(total - done), double(done));
}

} // namespace sealrelay::backend
