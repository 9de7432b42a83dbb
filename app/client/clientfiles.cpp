// Private file writes through mkstemp, fsync and rename (or link, which
// never replaces), and permission-checked reads.
#include "clientfiles.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

QString systemError(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

Error ioError(const QString &path, const QString &action, int error)
{
    return makeError(Reason::IoError,
                     u"could not %1 %2: %3"_s.arg(action, path, systemError(error)));
}

Result<void> syncFolder(const QString &folder)
{
    const int fd = ::open(QFile::encodeName(folder).constData(), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return ioError(folder, u"open the folder"_s, errno);
    const int synced = ::fsync(fd);
    const int error = errno;
    ::close(fd);
    if (synced != 0)
        return ioError(folder, u"sync the folder"_s, error);
    return {};
}

Result<void> writeAll(int fd, QByteArrayView content, const QString &path)
{
    qsizetype written = 0;
    while (written < content.size()) {
        const ssize_t n =
            ::write(fd, content.data() + written, std::size_t(content.size() - written));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ioError(path, u"write"_s, errno);
        written += n;
    }
    if (::fsync(fd) != 0)
        return ioError(path, u"sync"_s, errno);
    return {};
}

} // namespace

Clock systemClock()
{
    return [] {
        return QDateTime::currentDateTimeUtc();
    };
}

Result<void> writePrivateFile(const QString &path, QByteArrayView content, WriteMode mode)
{
    const QString folder = QFileInfo(path).absolutePath();
    if (!QDir(folder).exists()) {
        if (!QDir().mkpath(folder))
            return makeError(Reason::IoError, u"could not create the folder %1"_s.arg(folder));
        ::chmod(QFile::encodeName(folder).constData(), 0700);
    }

    // mkstemp creates the file with mode 0600, so the content is never
    // readable by others, not even for a moment.
    QByteArray temporary = QFile::encodeName(path) + ".tmp-XXXXXX";
    const int fd = ::mkstemp(temporary.data());
    if (fd < 0)
        return ioError(path, u"create a temporary file next to"_s, errno);
    const QString temporaryPath = QFile::decodeName(temporary);

    Result<void> written = writeAll(fd, content, temporaryPath);
    ::close(fd);
    if (!written) {
        ::unlink(temporary.constData());
        return written;
    }

    const QByteArray target = QFile::encodeName(path);
    if (mode == WriteMode::CreateNew) {
        // link() fails with EEXIST instead of replacing, unlike rename().
        const int linked = ::link(temporary.constData(), target.constData());
        const int error = errno;
        ::unlink(temporary.constData());
        if (linked != 0 && error == EEXIST) {
            return makeError(Reason::IoError,
                             u"%1 already exists; it was left unchanged. Remove it first to "
                             u"create a new one"_s.arg(path));
        }
        if (linked != 0)
            return ioError(path, u"create"_s, error);
    } else if (::rename(temporary.constData(), target.constData()) != 0) {
        const int error = errno;
        ::unlink(temporary.constData());
        return ioError(path, u"replace"_s, error);
    }
    return syncFolder(folder);
}

Result<QByteArray> readPrivateFile(const QString &path, qsizetype maxBytes, QStringView what)
{
    const QByteArray encoded = QFile::encodeName(path);
    const int fd = ::open(encoded.constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return makeError(Reason::NotFound, u"the %1 %2 does not exist"_s.arg(what, path));
    if (fd < 0)
        return ioError(path, u"open"_s, errno);

    struct stat status { };
    if (::fstat(fd, &status) != 0) {
        const int error = errno;
        ::close(fd);
        return ioError(path, u"inspect"_s, error);
    }
    if ((status.st_mode & 077) != 0) {
        ::close(fd);
        return makeError(Reason::Forbidden,
                         u"the %1 %2 has mode %3, so other users may read or change it; "
                         u"restrict it with: chmod 600 %2"_s.arg(
                             what, path, QString::number(status.st_mode & 07777, 8)));
    }
    if (status.st_size > maxBytes) {
        ::close(fd);
        return makeError(
            Reason::TooLarge,
            u"the %1 %2 has %3 bytes, more than the %4 bytes allowed"_s.arg(
                what, path, QString::number(status.st_size), QString::number(maxBytes)));
    }

    QByteArray content(qsizetype(status.st_size), Qt::Uninitialized);
    qsizetype done = 0;
    while (done < content.size()) {
        const ssize_t n = ::read(fd, content.data() + done, std::size_t(content.size() - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += n;
    }
    ::close(fd);
    content.truncate(done);
    return content;
}

void wipe(QByteArray &bytes)
{
    // A shared copy belongs to another holder too, so only a buffer this
    // array owns alone is overwritten.
    if (!bytes.isEmpty() && bytes.isDetached())
        OPENSSL_cleanse(bytes.data(), std::size_t(bytes.size()));
    bytes.clear();
}

} // namespace sealrelay::client
