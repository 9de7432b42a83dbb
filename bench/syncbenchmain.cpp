// bench_sync: runs the sync benchmark (see syncbench.h). The
// SEALRELAY_BENCH_* variables of SyncBenchConfig change the counts.
#include "syncbench.h"

#include <QCoreApplication>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    sealrelay::bench::SyncBench bench(sealrelay::bench::SyncBenchConfig::fromEnvironment());
    return bench.run();
}
