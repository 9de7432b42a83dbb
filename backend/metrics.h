// Prometheus metrics of the backend on one prometheus-cpp registry, and their
// text exposition for GET /metrics. Labels carry route patterns, statuses,
// outcomes and alert types only, never names, ids or secrets.
#pragma once

#include <QByteArray>
#include <QString>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>

namespace sealrelay::backend {

class Metrics {
public:
    Metrics();

    // One handled REST request; `route` is the route pattern such as
    // "/api/credentials/{id}", or "unmatched".
    void countRequest(const QString &route, int status);
    void countRateLimited(const QString &route);
    void setConnectedAgents(double count);
    void countAlertRaised(const QString &type);

    // Fed by the sync engine (dispatcher, JIT repair, backfill, reconciler).
    void countDispatch(const QString &outcome);
    void observeJitLatencySeconds(double seconds);
    void setBackfillProgress(double queued, double done);
    void countReconcilerSweep();
    void setCoordinationDegraded(bool degraded);

    // The Prometheus text exposition format (version 0.0.4).
    QByteArray render() const;

    prometheus::Registry &registry() { return *m_registry; }

private:
    std::shared_ptr<prometheus::Registry> m_registry;
    prometheus::Family<prometheus::Counter> *m_requests;
    prometheus::Family<prometheus::Counter> *m_rateLimited;
    prometheus::Gauge *m_connectedAgents;
    prometheus::Family<prometheus::Counter> *m_alertsRaised;
    prometheus::Family<prometheus::Counter> *m_dispatches;
    prometheus::Histogram *m_jitLatency;
    prometheus::Gauge *m_backfillQueued;
    prometheus::Gauge *m_backfillDone;
    prometheus::Counter *m_reconcilerSweeps;
    prometheus::Gauge *m_coordinationDegraded;
};

} // namespace sealrelay::backend
