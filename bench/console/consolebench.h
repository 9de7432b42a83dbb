// The console side of bench_console: a ConsoleSession signed in to the mock
// backend (a child process), the QML console on the credentials view, and
// the GUI-thread probe through the load and live phases.
#pragma once

#include "guiprobe.h"

#include <QObject>
#include <QProcess>
#include <QString>
#include <QTemporaryDir>

#include <functional>
#include <memory>

class QQmlApplicationEngine;

namespace sealrelay::console {
class ConsoleSession;
}

namespace sealrelay::bench {

struct ConsoleBenchOptions {
    int credentials = 10000;
    int agents = 10;
    int eventsPerSecond = 1000;
    int liveSeconds = 10;
    bool loadQml = true; // false: the session and its models without QML
    int timeoutSeconds = 300; // per phase
};

class ConsoleBench : public QObject {
    Q_OBJECT

public:
    explicit ConsoleBench(const ConsoleBenchOptions &options, QObject *parent = nullptr);
    ~ConsoleBench() override;

    // Runs every phase and prints the report. Returns the process exit
    // status: 0 when every target is met, 1 when one is missed, 2 when the
    // benchmark could not run.
    int run();

private:
    bool startFeeder();
    QString readFeederLine(int timeoutMs);
    bool writeProfile();
    void connectMarkers();
    bool waitFor(const std::function<bool()> &condition, int timeoutMs, int pollMs = 5);
    bool modelSettled(int expectedRows) const;
    int countSyncedRows() const;
    int countRowsAtVersion(qint64 version) const;
    void timeDerivedRefresh();
    void printReport();

    ConsoleBenchOptions m_options;
    QTemporaryDir m_home;
    QProcess m_feeder;
    QString m_orgId;
    QByteArray m_operatorKey; // raw Ed25519 public key of the mock org's operator
    QString m_token;
    quint16 m_port = 0;
    qint64 m_snapshotBytes = 0;
    qint64 m_generationMs = 0;

    GuiProbe m_probe;
    std::unique_ptr<console::ConsoleSession> m_session;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QObject *m_markedModel = nullptr;

    // Results, in ns of the probe's clock unless named otherwise.
    bool m_loaded = false;
    bool m_liveDrained = false;
    qint64 m_loadStartNs = 0; // ConsoleSession::start()
    qint64 m_startupEndNs = 0; // Main.qml created (or, without QML, the session started)
    qint64 m_signedInNs = 0;
    qint64 m_snapshotNs = 0; // the credentials model listed every row of the snapshot
    qint64 m_loadEndNs = 0;
    qint64 m_loadChecks = 0;
    qint64 m_liveStartNs = 0;
    qint64 m_liveSentNs = 0; // the mock backend sent its last event
    qint64 m_liveEndNs = 0;
    qint64 m_liveChecks = 0;
    qint64 m_liveSent = 0;
    qint64 m_liveSendMs = 0;
    qint64 m_batches = 0;
    qint64 m_batchedEvents = 0;
    int m_syncedAfterLoad = 0;
    int m_rotatedAfterLive = 0;
    int m_syncedAfterLive = 0;
    qint64 m_peakRssKib = 0;
    QString m_renderLoop;
    // Median ms of reading the model's totals, which
    // ConsoleSession::refreshDerived() does at most every 30 ms while events
    // arrive, and of computing them by a walk over every row, timed after
    // the live phase.
    double m_totalsMs = 0;
    double m_verificationsMs = 0;
    double m_countHoldingsMs = 0;
    double m_rowScanMs = 0;
    bool m_totalsMatch = false; // the model's totals equal the walk's
    int m_problemRows = 0; // rows refreshCounts() counts as problems
    int m_holdingAgents = 0; // agents countHoldings() returned
};

} // namespace sealrelay::bench
