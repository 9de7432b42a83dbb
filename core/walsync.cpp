#include "walsync.h"

#include <QFile>
#include <QMetaObject>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

QString systemError(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

} // namespace

WalSync::WalSync(QString walPath, QObject *parent)
    : QObject(parent)
    , m_walPath(std::move(walPath))
    , m_worker([this] { run(); })
{
}

WalSync::~WalSync()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_one();
    m_worker.join();
    if (m_fd >= 0)
        ::close(m_fd);
}

void WalSync::afterSync(Done done)
{
    {
        std::lock_guard lock(m_mutex);
        m_waiting.push_back(std::move(done));
    }
    m_wake.notify_one();
}

quint64 WalSync::syncCount() const
{
    std::lock_guard lock(m_mutex);
    return m_syncs;
}

void WalSync::run()
{
    for (;;) {
        std::vector<Done> covered;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this] { return m_stopping || !m_waiting.empty(); });
            if (m_stopping)
                return;
            // Everything requested so far was committed before this sync
            // starts, so this sync covers all of it.
            covered.swap(m_waiting);
        }
        Result<void> synced = syncLog();
        {
            std::lock_guard lock(m_mutex);
            ++m_syncs;
        }
        // A queued call with this object as context is dropped when the
        // object is destroyed first.
        QMetaObject::invokeMethod(
            this,
            [covered = std::move(covered), synced = std::move(synced)] {
                for (const Done &done : covered)
                    done(synced);
            },
            Qt::QueuedConnection);
    }
}

Result<void> WalSync::syncLog()
{
    const QByteArray path = QFile::encodeName(m_walPath);
    struct stat onDisk {};
    if (::stat(path.constData(), &onDisk) != 0) {
        const int error = errno;
        return makeError(Reason::IoError, u"cannot find the write-ahead log %1: %2"_s.arg(
                                              m_walPath, systemError(error)));
    }
    struct stat opened {};
    if (m_fd >= 0
        && (::fstat(m_fd, &opened) != 0 || opened.st_ino != onDisk.st_ino
            || opened.st_dev != onDisk.st_dev)) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (m_fd < 0) {
        m_fd = ::open(path.constData(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) {
            const int error = errno;
            return makeError(Reason::IoError, u"cannot open the write-ahead log %1: %2"_s.arg(
                                                  m_walPath, systemError(error)));
        }
    }
    if (::fdatasync(m_fd) != 0) {
        const int error = errno;
        return makeError(Reason::IoError, u"cannot sync the write-ahead log %1 to disk: %2"_s.arg(
                                              m_walPath, systemError(error)));
    }
    return {};
}

} // namespace sealrelay
