// Reconciler: every sweep takes the store's sweep lock, starts a sync for at
// most reconcilerBatchRows due rows of connected agents, and lets go.
#include "reconciler.h"

#include "backfill.h"
#include "metrics.h"
#include "syncengine.h"
#include "syncsupport.h"

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay::backend::sync;

namespace sealrelay::backend {

Reconciler::Reconciler(SyncEngine &engine)
    : m_engine(engine)
{
    connect(&m_timer, &QTimer::timeout, this, &Reconciler::sweep);
}

Reconciler::~Reconciler() = default;

void Reconciler::start()
{
    m_timer.start(m_engine.options().reconcilerInterval);
    sweep();
}

void Reconciler::stop()
{
    m_timer.stop();
    m_lease.reset();
}

void Reconciler::sweep()
{
    if (m_lease)
        return;
    const SyncOptions &options = m_engine.options();
    LeaseOptions leaseOptions;
    leaseOptions.ttl = options.reconcilerLockTtl;
    leaseOptions.renewInterval = options.reconcilerLockTtl / 3;
    m_lease = std::make_unique<Lease>(m_engine.m_store, u"reconciler:sweep"_s, leaseOptions);
    connect(m_lease.get(), &Lease::acquireFinished, this, &Reconciler::onLock);
    m_lease->acquire();
}

void Reconciler::onLock(bool acquired)
{
    if (!acquired) {
        m_lease.release()->deleteLater();
        Q_EMIT sweepFinished(-1);
        return;
    }
    const int started = startDueSyncs();
    m_engine.m_metrics.countReconcilerSweep();
    // The lease is destroyed after its release, which deletes the key.
    m_lease->release();
    m_lease.release()->deleteLater();
    Q_EMIT sweepFinished(started);
}

int Reconciler::startDueSyncs()
{
    auto orgs = m_engine.m_storage.orgs();
    if (!orgs) {
        log()->error("reconciler cannot list orgs: {}", orgs.error().message.toStdString());
        return 0;
    }
    int budget = m_engine.options().reconcilerBatchRows;
    int started = 0;
    for (const OrgRow &org : orgs.value()) {
        if (budget <= 0)
            break;
        dropOrphanedDispatches(org.orgId);
        const QStringList connected = m_engine.m_link.connectedAgents
            ? m_engine.m_link.connectedAgents(org.orgId)
            : QStringList();
        if (connected.isEmpty())
            continue;
        auto due = m_engine.m_storage.dueCredentialAgents(org.orgId, budget, connected);
        if (!due) {
            log()->error("reconciler cannot list due rows of org {}: {}", org.orgId.toStdString(),
                         due.error().message.toStdString());
            continue;
        }
        for (const CredentialAgentRow &row : due.value()) {
            --budget;
            // A running backfill already covers its agent's rows.
            const Backfill *backfill =
                m_engine.m_backfills.value(SyncEngine::agentKey(org.orgId, row.agentId));
            if (backfill && backfill->isRunning())
                continue;
            m_engine.syncRow(org.orgId, row.credentialId, row.agentId, SyncTrigger::Reconciler);
            ++started;
        }
    }
    if (started > 0)
        log()->info("reconciler started {} syncs", started);
    return started;
}

void Reconciler::dropOrphanedDispatches(const QString &orgId)
{
    auto dispatches = m_engine.m_storage.pendingDispatches(orgId);
    if (!dispatches) {
        log()->error("reconciler cannot list pending dispatches of org {}: {}",
                     orgId.toStdString(), dispatches.error().message.toStdString());
        return;
    }
    // A replica claims its dispatch's row when the peer replies or times
    // out. A row whose wait ended long ago belongs to a replica that stopped
    // mid-dispatch, and the row only served to match the peer's reply. Its
    // pending audit row stays as evidence, and the (credential, target) row
    // is still due, so a sweep syncs it again.
    const QDateTime cutoff = m_engine.now().addMSecs(-m_engine.options().remoteWait().count());
    for (const PendingDispatchRow &dispatch : dispatches.value()) {
        if (dispatch.deadline >= cutoff)
            break;
        auto claimed = m_engine.m_storage.claimPendingDispatch(orgId, dispatch.dispatchId);
        if (claimed && claimed.value())
            log()->info("dropped dispatch {} of credential {} for agent {}: replica {} stopped "
                        "waiting for peer {} at {}",
                        dispatch.dispatchId.toStdString(), dispatch.credentialId.toStdString(),
                        dispatch.targetAgentId.toStdString(),
                        dispatch.originatingReplicaId.toStdString(),
                        dispatch.peerAgentId.toStdString(),
                        dispatch.deadline.toString(Qt::ISODateWithMs).toStdString());
    }
}

} // namespace sealrelay::backend
