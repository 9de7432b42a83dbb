// Parsing of /proc/PID/status, /proc/PID/stat and /proc/PID/cmdline.
#include "processsample.h"

#include <QByteArray>
#include <QDir>
#include <QFile>

#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::bench {

namespace {

std::optional<QByteArray> readProcFile(qint64 pid, const QString &name)
{
    QFile file(u"/proc/%1/%2"_s.arg(pid).arg(name));
    if (!file.open(QIODevice::ReadOnly))
        return std::nullopt;
    return file.readAll();
}

// The fields of /proc/PID/stat after the command name, which is in
// brackets and may contain spaces, so field 3 (state) is index 0.
std::optional<QList<QByteArray>> statFields(qint64 pid)
{
    const std::optional<QByteArray> stat = readProcFile(pid, u"stat"_s);
    if (!stat)
        return std::nullopt;
    const qsizetype closing = stat->lastIndexOf(')');
    if (closing < 0)
        return std::nullopt;
    return stat->mid(closing + 2).trimmed().split(' ');
}

} // namespace

std::optional<ProcessSample> sampleProcess(qint64 pid)
{
    const std::optional<QByteArray> status = readProcFile(pid, u"status"_s);
    const std::optional<QList<QByteArray>> fields = statFields(pid);
    // utime and stime are fields 14 and 15 of stat, in clock ticks.
    if (!status || !fields || fields->size() < 13)
        return std::nullopt;

    ProcessSample sample;
    for (const QByteArray &line : status->split('\n')) {
        if (line.startsWith("VmHWM:"))
            sample.peakRssKb = line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    const double ticksPerSecond = double(sysconf(_SC_CLK_TCK));
    sample.cpuSeconds =
        double(fields->at(11).toLongLong() + fields->at(12).toLongLong()) / ticksPerSecond;
    return sample;
}

QList<qint64> childProcessIds()
{
    const qint64 self = qint64(getpid());
    QList<qint64> children;
    const QStringList entries = QDir(u"/proc"_s).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    for (const QString &entry : entries) {
        bool numeric = false;
        const qint64 pid = entry.toLongLong(&numeric);
        if (!numeric)
            continue;
        // Field 4 of stat is the parent's id.
        const std::optional<QList<QByteArray>> fields = statFields(pid);
        if (fields && fields->size() > 1 && fields->at(1).toLongLong() == self)
            children.append(pid);
    }
    return children;
}

QString processCommandLine(qint64 pid)
{
    std::optional<QByteArray> commandLine = readProcFile(pid, u"cmdline"_s);
    if (!commandLine)
        return {};
    commandLine->replace('\0', ' ');
    return QString::fromLocal8Bit(commandLine->trimmed());
}

} // namespace sealrelay::bench
