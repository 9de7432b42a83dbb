// WalSync: makes SQLite commits that did not wait for the disk durable, on a
// thread of its own, so the thread that serves the sockets does not wait for
// the disk. It runs fdatasync on the database's write-ahead log, the call a
// commit with synchronous=FULL makes itself. The log contains the commits in
// order, so one fdatasync makes every commit written before it started
// durable. Requests that arrive while one runs share the next one.
// NOTE: SQLite names the log <database>-wal for a plain file path; a
// database opened through a URI file name would need another path here.
#pragma once

#include "error.h"

#include <QObject>
#include <QString>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sealrelay {

class WalSync : public QObject {
    Q_OBJECT

public:
    using Done = std::function<void(Result<void>)>;

    // `walPath` is the database file's path with "-wal" appended, where
    // SQLite keeps the log of a database in WAL mode.
    explicit WalSync(QString walPath, QObject *parent = nullptr);
    // Waits for the fdatasync that runs. The callbacks of requests still
    // waiting are dropped.
    ~WalSync() override;
    WalSync(const WalSync &) = delete;
    WalSync &operator=(const WalSync &) = delete;

    // Runs `done` on this object's thread once everything committed to the
    // log before this call is on disk, or with the error of the failed
    // fdatasync.
    void afterSync(Done done);

    // fdatasync calls made so far, for tests and metrics.
    quint64 syncCount() const;

private:
    void run();
    // Opens the log again when SQLite replaced the file, then syncs it.
    Result<void> syncLog();

    const QString m_walPath;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<Done> m_waiting; // requested and not yet covered by a sync
    bool m_stopping = false;
    quint64 m_syncs = 0;
    int m_fd = -1; // used by the worker thread only
    std::thread m_worker;
};

} // namespace sealrelay
