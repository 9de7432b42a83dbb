#include "cafile.h"

#include "logging.h"

#include <QDateTime>
#include <QFile>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

Result<QList<QSslCertificate>> readCaCertificates(const QString &path, QStringView setting)
{
    if (path.isEmpty())
        return QList<QSslCertificate>();
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return makeError(Reason::IoError,
                         u"Cannot read the backend CA file %1 (%2): %3"_s.arg(
                             path, setting, file.errorString()));
    const QList<QSslCertificate> certificates = QSslCertificate::fromData(file.readAll(),
                                                                          QSsl::Pem);
    if (certificates.isEmpty())
        return makeError(Reason::Malformed,
                         u"The backend CA file %1 (%2) contains no PEM certificate. Give the CA "
                         "certificate in PEM form (-----BEGIN CERTIFICATE-----)."_s.arg(path,
                                                                                      setting));
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (const QSslCertificate &certificate : certificates) {
        if (certificate.expiryDate() < now)
            logger("tls")->warn("CA certificate \"{}\" in {} expired at {}, so it is not trusted",
                                certificate.subjectDisplayName().toStdString(),
                                path.toStdString(),
                                certificate.expiryDate().toString(Qt::ISODate).toStdString());
    }
    return certificates;
}

} // namespace sealrelay
