// PEM CA certificates that a client trusts for the backend besides the
// system's, read from a file that an option or setting names.
#pragma once

#include "error.h"

#include <QList>
#include <QSslCertificate>
#include <QString>
#include <QStringView>

namespace sealrelay {

// Reads the PEM certificates of `path`; `setting` names where the path came
// from, such as "--backend-ca-file", for the messages. An empty path is an
// empty list. An unreadable file is Reason::IoError, a file without a PEM
// certificate Reason::Malformed. An expired certificate is returned and
// logged, because Qt leaves it out of the verification store.
Result<QList<QSslCertificate>> readCaCertificates(const QString &path, QStringView setting);

} // namespace sealrelay
