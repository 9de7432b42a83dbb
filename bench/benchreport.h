// The results of a benchmark run: each measure is printed at once as a
// machine-readable BENCH line, and the run ends with a Markdown table.
#pragma once

#include <QList>
#include <QString>

#include <optional>

namespace sealrelay::bench {

struct Measure {
    QString key; // stable identifier, e.g. jit_local_api_p99_ms
    QString label; // the table's first column
    double value = 0;
    QString unit; // e.g. "ms", "s", "credentials/s", "MiB"
    int decimals = 1;
    QString target; // e.g. "<= 20 ms", empty when only reported
    std::optional<bool> met; // std::nullopt when there is no target
    QString note;
};

class BenchReport {
public:
    // Records `measure` and prints its line to standard output:
    // BENCH {"key":...,"value":...,"unit":...,"target":...,"met":...}
    void add(const Measure &measure);
    // Prints an informational line, `# text`, that parsers skip.
    static void comment(const QString &text);
    // Prints a failure line, BENCH_ERROR text, for a step that stopped the run.
    static void error(const QString &text);

    // Returns the Markdown table of every measure in the order they were added.
    QString markdownTable() const;

private:
    QList<Measure> m_measures;
};

} // namespace sealrelay::bench
