// Local files of the operator tools (key file, trusted operators, generation
// record): private atomic writes, reads that reject loose permissions, and
// the clock the client's checks use.
#pragma once

#include "error.h"

#include <QByteArray>
#include <QDateTime>
#include <QString>

#include <functional>

namespace sealrelay::client {

// Returns the current time; tests pass a fixed one.
using Clock = std::function<QDateTime()>;
Clock systemClock();

enum class WriteMode {
    Replace, // an existing file is replaced atomically
    CreateNew, // an existing file is left alone and Reason::IoError returned
};

// Writes `content` to a temporary file (mode 0600) in the same folder,
// fsyncs it and moves it to `path`, so a reader sees the old or the new file
// and never a partial one. Missing parent folders are created with mode 0700.
Result<void> writePrivateFile(const QString &path, QByteArrayView content, WriteMode mode);

// Reads at most `maxBytes` of `path`. Reason::NotFound when it does not
// exist; Reason::Forbidden when group or others may read or write it
// (`what` names the file's role in the message, e.g. "operator key file").
Result<QByteArray> readPrivateFile(const QString &path, qsizetype maxBytes, QStringView what);

// Overwrites `bytes` with zeros (OPENSSL_cleanse) when no other QByteArray
// shares its buffer, then clears it.
void wipe(QByteArray &bytes);

} // namespace sealrelay::client
