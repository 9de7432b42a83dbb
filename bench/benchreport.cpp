// Printing of BENCH lines and of the Markdown table.
#include "benchreport.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::bench {

namespace {

void printLine(const QString &line)
{
    const QByteArray bytes = line.toUtf8();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

QString verdict(const Measure &measure)
{
    if (!measure.met)
        return u"reported"_s;
    return *measure.met ? u"met"_s : u"**missed**"_s;
}

} // namespace

void BenchReport::add(const Measure &measure)
{
    m_measures.append(measure);
    QJsonObject line { { u"key"_s, measure.key },
                       { u"value"_s, measure.value },
                       { u"unit"_s, measure.unit } };
    if (!measure.target.isEmpty())
        line.insert(u"target"_s, measure.target);
    if (measure.met)
        line.insert(u"met"_s, *measure.met);
    printLine(u"BENCH "_s + QString::fromUtf8(QJsonDocument(line).toJson(QJsonDocument::Compact)));
}

void BenchReport::comment(const QString &text)
{
    printLine(u"# "_s + text);
}

void BenchReport::error(const QString &text)
{
    printLine(u"BENCH_ERROR "_s + text);
}

QString BenchReport::markdownTable() const
{
    QString table = u"| measure | result | target | verdict | notes |\n|---|---|---|---|---|\n"_s;
    for (const Measure &measure : m_measures) {
        table += u"| %1 | %2 %3 | %4 | %5 | %6 |\n"_s.arg(
            measure.label, QString::number(measure.value, 'f', measure.decimals), measure.unit,
            measure.target.isEmpty() ? u"-"_s : measure.target, verdict(measure), measure.note);
    }
    return table;
}

} // namespace sealrelay::bench
