// Reconciler: the periodic sweep that retries undelivered (credential,
// agent) rows whose backoff has passed, under a store lock so one replica
// sweeps at a time.
#pragma once

#include "lease.h"

#include <QObject>
#include <QTimer>

#include <memory>

namespace sealrelay::backend {

class SyncEngine;

class Reconciler : public QObject {
    Q_OBJECT

public:
    explicit Reconciler(SyncEngine &engine);
    ~Reconciler() override;

    // Sweeps now and then every reconcilerInterval.
    void start();
    void stop();

    // Sweeps once now unless a sweep of this replica is running.
    void sweep();

Q_SIGNALS:
    // A sweep ended: `started` syncs were started, or -1 when another
    // replica held the sweep lock.
    void sweepFinished(int started);

private:
    void onLock(bool acquired);
    int startDueSyncs();
    // Claims the pending_dispatches rows whose wait ended more than one
    // remote wait ago.
    void dropOrphanedDispatches(const QString &orgId);

    SyncEngine &m_engine;
    QTimer m_timer;
    std::unique_ptr<Lease> m_lease;
};

} // namespace sealrelay::backend
