// Measures how long the GUI thread stays away from its event loop. A 1 ms
// precise timer on that thread records the gap between its timeouts per
// named phase, and markers (model signals) show what ran inside each gap.
#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>

#include <vector>

namespace sealrelay::bench {

struct PhaseStats {
    QString name;
    // False for a phase that is reported but not held to the 16 ms target.
    bool judged = true;
    qint64 maxCpuGapNs = 0; // GUI-thread CPU time inside the longest gap
    // Maximum GUI-thread CPU time inside any one gap. It need not be in the
    // longest gap, because on a busy machine a gap can be long while the
    // thread waits for a core.
    qint64 maxGapCpuNs = 0;
    qint64 startNs = 0;
    qint64 endNs = 0;
    qint64 ticks = 0;
    qint64 maxGapNs = 0;
    qint64 maxGapEndNs = 0; // when the longest gap ended
    qint64 gapsOver16Ms = 0;
    qint64 blockedOver16MsNs = 0; // sum of the gaps longer than 16 ms
    std::vector<qint64> gapsNs; // every gap, for percentiles
};

struct Gap {
    qint64 startNs = 0;
    qint64 endNs = 0;
    // CPU time the GUI thread used inside the gap. Much less than the gap
    // means the thread waited (for a core, a lock or I/O) rather than worked.
    qint64 cpuNs = 0;
    QString phase;
};

struct Marker {
    qint64 atNs = 0;
    QString label;
};

class GuiProbe : public QObject {
    Q_OBJECT

public:
    // The gap that counts as a block of the GUI thread: one frame at 60 Hz.
    static constexpr qint64 kBlockNs = 16'000'000;

    explicit GuiProbe(QObject *parent = nullptr);

    // Starts the clock and the 1 ms timer, in phase `phase`. A phase that
    // is not `judged` is reported but not held to kBlockNs.
    void start(const QString &phase, bool judged = true);
    // Ends the current phase and starts `phase`.
    void beginPhase(const QString &phase, bool judged = true);
    void stop();

    // Records `label` at the current time. Call it from the GUI thread.
    void mark(const QString &label);

    qint64 nowNs() const { return m_clock.nsecsElapsed(); }
    const QList<PhaseStats> &phases() const { return m_phases; }
    // Gaps longer than kBlockNs, in time order.
    const QList<Gap> &blocks() const { return m_blocks; }
    const QList<Marker> &markers() const { return m_markers; }

private:
    void tick();

    QElapsedTimer m_clock;
    QTimer m_timer;
    qint64 m_lastTickNs = 0;
    qint64 m_lastTickCpuNs = 0;
    QList<PhaseStats> m_phases;
    QList<Gap> m_blocks;
    QList<Marker> m_markers;
};

// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID) in ns.
qint64 threadCpuNs();

// The gap at `percentile` (0-100) of `stats`, in ns.
qint64 percentileGapNs(const PhaseStats &stats, double percentile);

} // namespace sealrelay::bench
