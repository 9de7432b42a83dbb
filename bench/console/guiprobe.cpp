// GUI-thread gap measurement of the console benchmark.
#include "guiprobe.h"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace sealrelay::bench {

qint64 threadCpuNs()
{
    timespec now {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return qint64(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

GuiProbe::GuiProbe(QObject *parent)
    : QObject(parent)
{
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(std::chrono::milliseconds(1));
    connect(&m_timer, &QTimer::timeout, this, &GuiProbe::tick);
}

void GuiProbe::start(const QString &phase, bool judged)
{
    m_clock.start();
    m_lastTickNs = 0;
    m_lastTickCpuNs = threadCpuNs();
    m_phases.clear();
    m_blocks.clear();
    m_markers.clear();
    PhaseStats first;
    first.name = phase;
    first.judged = judged;
    m_phases.append(first);
    m_timer.start();
}

void GuiProbe::beginPhase(const QString &phase, bool judged)
{
    // The gap that ends here belongs to the phase that ends, so work that
    // kept the thread from its event loop until now counts there.
    tick();
    const qint64 now = nowNs();
    if (!m_phases.isEmpty())
        m_phases.last().endNs = now;
    PhaseStats next;
    next.name = phase;
    next.judged = judged;
    next.startNs = now;
    m_phases.append(next);
    mark(u"phase " + phase);
}

void GuiProbe::stop()
{
    tick();
    m_timer.stop();
    if (!m_phases.isEmpty())
        m_phases.last().endNs = nowNs();
}

void GuiProbe::mark(const QString &label)
{
    m_markers.append(Marker { nowNs(), label });
}

void GuiProbe::tick()
{
    const qint64 now = nowNs();
    const qint64 cpu = threadCpuNs();
    const qint64 gap = now - m_lastTickNs;
    const qint64 gapCpu = cpu - m_lastTickCpuNs;
    m_lastTickNs = now;
    m_lastTickCpuNs = cpu;
    PhaseStats &phase = m_phases.last();
    ++phase.ticks;
    phase.gapsNs.push_back(gap);
    phase.maxGapCpuNs = std::max(phase.maxGapCpuNs, gapCpu);
    if (gap > phase.maxGapNs) {
        phase.maxGapNs = gap;
        phase.maxGapEndNs = now;
        phase.maxCpuGapNs = gapCpu;
    }
    if (gap > kBlockNs) {
        ++phase.gapsOver16Ms;
        phase.blockedOver16MsNs += gap;
        m_blocks.append(Gap { now - gap, now, gapCpu, phase.name });
    }
}

qint64 percentileGapNs(const PhaseStats &stats, double percentile)
{
    if (stats.gapsNs.empty())
        return 0;
    std::vector<qint64> sorted = stats.gapsNs;
    std::sort(sorted.begin(), sorted.end());
    const auto rank =
        static_cast<size_t>(std::ceil(percentile / 100.0 * static_cast<double>(sorted.size())));
    return sorted.at(std::clamp<size_t>(rank, 1, sorted.size()) - 1);
}

} // namespace sealrelay::bench
