// Metric families of the backend and their text exposition.
#include "metrics.h"

#include <prometheus/text_serializer.h>

namespace sealrelay::backend {

namespace {

std::string label(const QString &text)
{
    return text.toStdString();
}

} // namespace

Metrics::Metrics()
    : m_registry(std::make_shared<prometheus::Registry>())
{
    m_requests = &prometheus::BuildCounter()
                      .Name("sealrelay_http_requests_total")
                      .Help("REST requests handled, by route pattern and status")
                      .Register(*m_registry);
    m_rateLimited = &prometheus::BuildCounter()
                         .Name("sealrelay_rate_limited_requests_total")
                         .Help("Requests refused with 429 or RATE_LIMITED, by route")
                         .Register(*m_registry);
    m_connectedAgents = &prometheus::BuildGauge()
                             .Name("sealrelay_connected_agents")
                             .Help("Agents connected to this replica")
                             .Register(*m_registry)
                             .Add({});
    m_alertsRaised = &prometheus::BuildCounter()
                          .Name("sealrelay_alerts_raised_total")
                          .Help("Alerts raised, by type")
                          .Register(*m_registry);
    m_dispatches = &prometheus::BuildCounter()
                        .Name("sealrelay_dispatches_total")
                        .Help("Rewrap dispatches finished, by outcome")
                        .Register(*m_registry);
    m_jitLatency = &prometheus::BuildHistogram()
                        .Name("sealrelay_jit_repair_latency_seconds")
                        .Help("Time from credential_missing to the store or the refusal")
                        .Register(*m_registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30});
    auto &backfill = prometheus::BuildGauge()
                         .Name("sealrelay_backfill_deliveries")
                         .Help("Deliveries of running backfills, by state")
                         .Register(*m_registry);
    m_backfillQueued = &backfill.Add({{"state", "queued"}});
    m_backfillDone = &backfill.Add({{"state", "done"}});
    m_reconcilerSweeps = &prometheus::BuildCounter()
                              .Name("sealrelay_reconciler_sweeps_total")
                              .Help("Reconciler sweeps run by this replica")
                              .Register(*m_registry)
                              .Add({});
    m_coordinationDegraded = &prometheus::BuildGauge()
                                  .Name("sealrelay_coordination_degraded")
                                  .Help("1 while the coordination store runs in fallback mode")
                                  .Register(*m_registry)
                                  .Add({});
}

void Metrics::countRequest(const QString &route, int status)
{
    m_requests->Add({{"route", label(route)}, {"status", std::to_string(status)}}).Increment();
}

void Metrics::countRateLimited(const QString &route)
{
    m_rateLimited->Add({{"route", label(route)}}).Increment();
}

void Metrics::setConnectedAgents(double count)
{
    m_connectedAgents->Set(count);
}

void Metrics::countAlertRaised(const QString &type)
{
    m_alertsRaised->Add({{"type", label(type)}}).Increment();
}

void Metrics::countDispatch(const QString &outcome)
{
    m_dispatches->Add({{"outcome", label(outcome)}}).Increment();
}

void Metrics::observeJitLatencySeconds(double seconds)
{
    m_jitLatency->Observe(seconds);
}

void Metrics::setBackfillProgress(double queued, double done)
{
    m_backfillQueued->Set(queued);
    m_backfillDone->Set(done);
}

void Metrics::countReconcilerSweep()
{
    m_reconcilerSweeps->Increment();
}

void Metrics::setCoordinationDegraded(bool degraded)
{
    m_coordinationDegraded->Set(degraded ? 1 : 0);
}

QByteArray Metrics::render() const
{
    const std::string text = prometheus::TextSerializer().Serialize(m_registry->Collect());
    return QByteArray::fromStdString(text);
}

} // namespace sealrelay::backend
