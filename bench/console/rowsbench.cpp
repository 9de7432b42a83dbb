// bench_console_rows: the GUI-thread CPU time of the credentials table's
// frames, measured on CredentialRow delegates in a ListView offscreen. A list
// model with the roles of CredentialsModel changes in rounds: rows inserted
// at the top, rows inserted below the visible ones, or every visible row
// changed. Each round is timed from the model change to the end of the frame
// that shows it. It needs no backend and runs in about 20 seconds, so it can
// compare changes to the delegate more often than bench_console can.
#include "consolesession.h"
#include "credentialsmodel.h"

#include <QAbstractListModel>
#include <QCommandLineParser>
#include <QDateTime>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QGuiApplication>
#include <QQmlComponent>
#include <QQmlContext>
#include <QQmlEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSGRendererInterface>
#include <QTimer>

#ifdef SEALRELAY_HAVE_QUICK_CONTROLS
#include <QQuickStyle>
#endif

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>

using namespace Qt::Literals::StringLiterals;

namespace {

qint64 threadCpuNs()
{
    timespec now {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return qint64(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

double toMs(qint64 ns)
{
    return double(ns) / 1e6;
}

// A row as CredentialsModel shows it, with the states that the benchmark's
// org has: synced, partly synced, verifying, stalled, and a few badges.
struct FakeRow {
    QString id;
    int chip = 0;
    QString chipText;
    int unverifiedCount = 0;
    bool integrityFailure = false;
    bool unprotected = false;
    bool stalled = false;
    QStringList badges;
    int version = 1;
};

// A list model with the role names of CredentialsModel, filled with FakeRow.
class FakeCredentialsModel : public QAbstractListModel {
public:
    using enum sealrelay::models::CredentialsModel::Role;

    int rowCount(const QModelIndex &parent = {}) const override
    {
        return parent.isValid() ? 0 : int(m_rows.size());
    }

    QVariant data(const QModelIndex &index, int role) const override
    {
        if (!checkIndex(index, CheckIndexOption::IndexIsValid))
            return {};
        const FakeRow &row = m_rows.at(index.row());
        switch (role) {
        case CredentialIdRole:
            return row.id;
        case NameRole:
            return QString(u"credential-"_s + row.id);
        case KindRole:
            return u"password"_s;
        case VersionRole:
            return row.version;
        case RevisionRole:
            return 1;
        case ScopeRole:
            return u"auto_all"_s;
        case ChipRole:
            return row.chip;
        case ChipTextRole:
            return row.chipText;
        case SyncedCountRole:
            return row.chip == 0 ? 10 : 9;
        case AgentCountRole:
            return 10;
        case PendingCountRole:
            return row.chip == 2 ? 1 : 0;
        case UnverifiedCountRole:
            return row.unverifiedCount;
        case IntegrityFailureRole:
            return row.integrityFailure;
        case UnprotectedRole:
            return row.unprotected;
        case StalledRole:
            return row.stalled;
        case LastChangeRole:
            return m_lastChange;
        case BadgesRole:
            return row.badges;
        case VerifyingRole:
            return row.chip == 2;
        default:
            return {};
        }
    }

    QHash<int, QByteArray> roleNames() const override
    {
        return sealrelay::models::CredentialsModel::roleNameTable();
    }

    // Inserts `count` new rows at `row`. The n-th row made is verifying,
    // partly synced, stalled or badged in a fixed pattern.
    void insert(int row, int count)
    {
        beginInsertRows({}, row, row + count - 1);
        for (int i = 0; i < count; ++i)
            m_rows.insert(row + i, makeRow(m_made++));
        endInsertRows();
    }

    // Gives rows `first` to `last` another state, as a set of verification
    // results does, and emits one dataChanged over them.
    void changeRows(int first, int last)
    {
        for (int i = first; i <= last; ++i) {
            FakeRow &row = m_rows[i];
            row.version += 1;
            row.chip = (row.chip + 1) % 3;
            row.chipText = chipText(row.chip);
        }
        Q_EMIT dataChanged(index(first), index(last));
    }

private:
    static QString chipText(int chip)
    {
        if (chip == 0)
            return u"✓ 10/10 synced"_s;
        if (chip == 1)
            return u"⚠ 9/10 synced"_s;
        return u"⏳ Verifying"_s;
    }

    static FakeRow makeRow(int n)
    {
        FakeRow row;
        row.id = u"%1"_s.arg(n, 6, 10, QLatin1Char('0'));
        // One row in four is partly synced (chip 1), one verifying (chip 2).
        row.chip = 0;
        if (n % 4 == 0)
            row.chip = 1;
        else if (n % 4 == 1)
            row.chip = 2;
        row.chipText = chipText(row.chip);
        row.unverifiedCount = n % 9 == 0 ? 1 : 0;
        row.stalled = n % 7 == 0;
        row.integrityFailure = n % 11 == 0;
        row.unprotected = n % 13 == 0;
        if (row.integrityFailure)
            row.badges.append(u"Integrity failure"_s);
        if (row.unprotected)
            row.badges.append(u"Unprotected"_s);
        return row;
    }

    QList<FakeRow> m_rows;
    int m_made = 0;
    QDateTime m_lastChange = QDateTime::currentDateTime();
};

// The list of CredentialsView (its ListView settings and the delegate's
// bindings), without the header, the detail pane and the Session's models.
const char kListQml[] = R"(
import QtQuick
import QtQuick.Controls
import Sealrelay.Console

Window {
    id: root
    property int created: 0
    width: 1024
    height: 690
    visible: true
    color: Theme.surface

    ListView {
        objectName: "credentialList"
        anchors.fill: parent
        clip: true
        model: rowsModel
        reuseItems: reuseRows
        highlightMoveDuration: 0
        boundsBehavior: Flickable.StopAtBounds
        ScrollBar.vertical: ScrollBar {}

        delegate: CredentialRow {
            width: ListView.view.width
            compact: false
            columnWidths: ({ kind: 110, version: 60, scope: 110, chip: 180,
                             badges: 200, lastChange: 100 })
            isCurrent: false
            Component.onCompleted: ++root.created
        }
    }
}
)";

struct RoundStats {
    QString key; // of the BENCH line
    QString name;
    QList<qint64> cpuNs; // per round: the model change, polish and frame
    QList<qint64> polishCpuNs; // per round: the model change up to the scene graph sync
    QList<int> created; // per round: delegates created
};

qint64 percentile(QList<qint64> values, double p)
{
    if (values.isEmpty())
        return 0;
    std::sort(values.begin(), values.end());
    const qsizetype at =
        std::min<qsizetype>(values.size() - 1, qsizetype(p / 100.0 * values.size()));
    return values.at(at);
}

class RowsBench {
public:
    RowsBench(QQuickWindow *window, QObject *root)
        : m_window(window)
        , m_root(root)
    {
        QObject::connect(
            window, &QQuickWindow::beforeSynchronizing, window,
            [this] {
                if (m_syncCpuNs == 0)
                    m_syncCpuNs = threadCpuNs();
            },
            Qt::DirectConnection);
    }

    // Runs `change` `rounds` times, each followed by the frame that shows it.
    RoundStats run(const QString &key, const QString &name, int rounds,
                   const std::function<void()> &change)
    {
        RoundStats stats;
        stats.key = key;
        stats.name = name;
        for (int i = 0; i < rounds; ++i) {
            settle();
            const int createdBefore = m_root->property("created").toInt();
            m_syncCpuNs = 0;
            const qint64 start = threadCpuNs();
            change();
            waitForFrame();
            const qint64 end = threadCpuNs();
            stats.cpuNs.append(end - start);
            stats.polishCpuNs.append((m_syncCpuNs != 0 ? m_syncCpuNs : end) - start);
            stats.created.append(m_root->property("created").toInt() - createdBefore);
        }
        return stats;
    }

    // Lets animations (the rows' flash) end, so that each round starts from
    // a still scene.
    void settle()
    {
        QEventLoop loop;
        QTimer::singleShot(m_settleMs, &loop, &QEventLoop::quit);
        loop.exec();
    }

    void setSettleMs(int ms) { m_settleMs = ms; }

private:
    void waitForFrame()
    {
        QEventLoop loop;
        const auto connection =
            QObject::connect(m_window, &QQuickWindow::frameSwapped, &loop, &QEventLoop::quit);
        QTimer::singleShot(1000, &loop, &QEventLoop::quit);
        loop.exec();
        QObject::disconnect(connection);
    }

    QQuickWindow *m_window;
    QObject *m_root;
    qint64 m_syncCpuNs = 0;
    int m_settleMs = 50;
};

double meanCreated(const RoundStats &stats)
{
    int created = 0;
    for (int n : stats.created)
        created += n;
    return stats.created.isEmpty() ? 0.0 : double(created) / double(stats.created.size());
}

void printBenchLine(const RoundStats &stats)
{
    std::printf("BENCH {\"key\":\"console_rows.%s.cpu_p50\",\"value\":%.2f,\"unit\":\"ms\"}\n",
                qPrintable(stats.key), toMs(percentile(stats.cpuNs, 50)));
    std::fflush(stdout);
}

void printTable(const QList<RoundStats> &cases)
{
    std::printf("\n| case | CPU p50 | CPU p90 | CPU max | p50 up to the scene graph sync | "
                "delegates created per round |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (const RoundStats &stats : cases) {
        std::printf("| %s | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.1f |\n",
                    qPrintable(stats.name), toMs(percentile(stats.cpuNs, 50)),
                    toMs(percentile(stats.cpuNs, 90)), toMs(percentile(stats.cpuNs, 100)),
                    toMs(percentile(stats.polishCpuNs, 50)), meanCreated(stats));
    }
}

} // namespace

int main(int argc, char *argv[])
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    QCoreApplication::setApplicationName(u"bench_console_rows"_s);

    QCommandLineParser parser;
    parser.setApplicationDescription(
        u"Times the GUI-thread CPU of the credentials table's frames (CredentialRow delegates "
        "in a ListView, offscreen) for rows inserted at the top, rows inserted below the "
        "visible ones and every visible row changed."_s);
    parser.addHelpOption();
    const QCommandLineOption rounds { u"rounds"_s, u"Rounds per case. Default: 30."_s, u"N"_s,
                                      u"30"_s };
    const QCommandLineOption noReuse { u"no-reuse"_s,
                                       u"Set the ListView's reuseItems to false."_s };
    parser.addOptions({ rounds, noReuse });
    parser.process(app);
#ifdef SEALRELAY_HAVE_QUICK_CONTROLS
    QQuickStyle::setStyle(u"Fusion"_s);
#endif
    const int roundCount = std::max(1, parser.value(rounds).toInt());
    const bool reuse = !parser.isSet(noReuse);

    // CredentialRow reads Session.selectedCredentialId. A session that is
    // not started has none.
    sealrelay::console::ConsoleSession session;
    qmlRegisterSingletonInstance("Sealrelay.Backend", 1, 0, "Session", &session);

    FakeCredentialsModel model;
    model.insert(0, 400);

    QQmlEngine engine;
    engine.addImportPath(u"qrc:/"_s);
    engine.rootContext()->setContextProperty(u"rowsModel"_s, &model);
    engine.rootContext()->setContextProperty(u"reuseRows"_s, reuse);
    QQmlComponent component(&engine);
    component.setData(kListQml, QUrl(u"qrc:/bench_console_rows/List.qml"_s));
    std::unique_ptr<QObject> root(component.create());
    auto *window = qobject_cast<QQuickWindow *>(root.get());
    if (!window) {
        std::fprintf(stderr, "bench_console_rows: the list did not load: %s\n",
                     qPrintable(component.errorString()));
        return 2;
    }

    RowsBench bench(window, root.get());
    bench.settle();
    std::printf("# bench_console_rows: window %dx%d, ListView.reuseItems %s, scene graph %s, %d "
                "rounds per case\n",
                window->width(), window->height(), reuse ? "true" : "false",
                window->rendererInterface()->graphicsApi() == QSGRendererInterface::Software
                    ? "software"
                    : "hardware",
                roundCount);
    std::printf("# GUI-thread CPU per round: the model change and the frame that shows it\n");

    // Rounds start 50 ms apart, about as often as results arrive while
    // loading, so the flashes of "change rows 0-29" overlap. The last case
    // waits 1.7 s before each round, longer than the 1.5 s flash.
    QList<RoundStats> cases;
    const auto runCase = [&](const QString &key, const QString &name, int count,
                             const std::function<void()> &change) {
        cases.append(bench.run(key, name, count, change));
        printBenchLine(cases.constLast());
    };
    runCase(u"insert_top_25"_s, u"insert 25 rows at the top"_s, roundCount,
            [&] { model.insert(0, 25); });
    runCase(u"insert_top_8"_s, u"insert 8 rows at the top"_s, roundCount,
            [&] { model.insert(0, 8); });
    runCase(u"insert_below_25"_s, u"insert 25 rows below the view"_s, roundCount,
            [&] { model.insert(200, 25); });
    runCase(u"change_visible"_s, u"change rows 0-29"_s, roundCount,
            [&] { model.changeRows(0, 29); });
    bench.setSettleMs(1700);
    runCase(u"insert_top_25_still"_s, u"insert 25 rows at the top, 1.7 s apart"_s,
            std::min(roundCount, 6), [&] { model.insert(0, 25); });
    printTable(cases);
    return 0;
}
