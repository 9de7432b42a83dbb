// Readings of a running process from /proc (Linux): its peak resident set
// size and the CPU time it used so far, and the child processes of this one.
#pragma once

#include <QList>
#include <QString>
#include <QtGlobal>

#include <optional>

namespace sealrelay::bench {

struct ProcessSample {
    qint64 peakRssKb = 0; // VmHWM of /proc/PID/status
    double cpuSeconds = 0; // utime + stime of /proc/PID/stat
};

// Reads the sample of `pid`. Returns std::nullopt when the process is gone
// or /proc cannot be read.
std::optional<ProcessSample> sampleProcess(qint64 pid);

// The ids of the running processes whose parent is this process.
QList<qint64> childProcessIds();

// Returns the command line of `pid` with its arguments joined by spaces, or
// an empty string when the process is gone.
QString processCommandLine(qint64 pid);

} // namespace sealrelay::bench
