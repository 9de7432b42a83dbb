// Backfill: the syncs a registering agent needs, run at most a few at a time,
// paused while the agent is away and resumed when it registers again.
#pragma once

#include "syncengine.h"

#include <QObject>
#include <QSet>
#include <QString>
#include <QStringList>

namespace sealrelay::backend {

class Backfill : public QObject {
    Q_OBJECT

public:
    Backfill(SyncEngine &engine, QString orgId, QString agentId);

    // Queues the credentials of `gap` that are not queued or running yet;
    // one already done is queued again, because it changed since. Then runs.
    void resume(const QStringList &gap);
    // Stops starting syncs; running ones finish on their own.
    void pause();

    const QString &orgId() const { return m_orgId; }
    const QString &agentId() const { return m_agentId; }
    bool isRunning() const { return m_running; }
    // Credentials processed (delivered, up to date, or failed and left to
    // the reconciler), and processed plus waiting.
    qint64 done() const { return m_done.size() + m_failed.size(); }
    qint64 total() const { return done() + m_queue.size() + m_inFlight.size(); }
    qint64 failed() const { return m_failed.size(); }

private:
    void pump();
    void itemFinished(const QString &credentialId, const SyncOutcome &outcome);

    SyncEngine &m_engine;
    QString m_orgId;
    QString m_agentId;
    bool m_running = false;
    QStringList m_queue;
    QSet<QString> m_inFlight;
    // The syncs of m_inFlight whose dispatch has not ended. PROTOCOL's limit
    // of dispatches at once applies to these: a sync whose target replied
    // only records the reply, and the next one starts meanwhile.
    QSet<QString> m_dispatching;
    QSet<QString> m_done;
    QSet<QString> m_failed;
};

} // namespace sealrelay::backend
