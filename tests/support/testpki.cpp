#include "testpki.h"

#include <QDir>
#include <QFile>
#include <QProcess>

using namespace Qt::Literals::StringLiterals;

QString runOpenssl(const QString &directory, const QStringList &arguments)
{
    QProcess openssl;
    openssl.setWorkingDirectory(directory);
    openssl.setProcessChannelMode(QProcess::MergedChannels);
    openssl.start(u"openssl"_s, arguments);
    if (!openssl.waitForStarted())
        return u"openssl did not start: "_s + openssl.errorString();
    if (!openssl.waitForFinished(60000) || openssl.exitStatus() != QProcess::NormalExit
        || openssl.exitCode() != 0)
        return u"openssl %1 failed: %2"_s.arg(arguments.join(u' '),
                                              QString::fromLocal8Bit(openssl.readAll()));
    return {};
}

QString createTestCa(const QString &directory)
{
    return runOpenssl(directory,
                      {u"req"_s, u"-x509"_s, u"-newkey"_s, u"rsa:2048"_s, u"-nodes"_s,
                       u"-keyout"_s, u"ca.key"_s, u"-out"_s, u"ca.pem"_s, u"-days"_s, u"2"_s,
                       u"-subj"_s, u"/CN=sealrelay test CA"_s, u"-addext"_s,
                       u"basicConstraints=critical,CA:TRUE"_s, u"-addext"_s,
                       u"keyUsage=critical,keyCertSign,cRLSign"_s});
}

QString issueServerCertificate(const QString &directory, const QString &name,
                               const QString &subjectAltName)
{
    const QString extensions = QDir(directory).filePath(name + u".ext"_s);
    QFile file(extensions);
    if (!file.open(QIODevice::WriteOnly))
        return u"cannot write "_s + extensions;
    file.write("basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth\n"
               "subjectAltName="
               + subjectAltName.toLatin1() + '\n');
    file.close();
    if (QString failed = runOpenssl(directory, {u"req"_s, u"-newkey"_s, u"rsa:2048"_s,
                                                u"-nodes"_s, u"-keyout"_s, name + u".key"_s,
                                                u"-out"_s, name + u".csr"_s, u"-subj"_s,
                                                u"/CN="_s + name});
        !failed.isEmpty())
        return failed;
    return runOpenssl(directory, {u"x509"_s, u"-req"_s, u"-in"_s, name + u".csr"_s, u"-CA"_s,
                                  u"ca.pem"_s, u"-CAkey"_s, u"ca.key"_s, u"-CAcreateserial"_s,
                                  u"-days"_s, u"2"_s, u"-out"_s, name + u".pem"_s,
                                  u"-extfile"_s, extensions});
}

QProcessEnvironment tlsBackendEnvironment(const QString &directory, const QString &name)
{
    QProcessEnvironment environment;
    environment.insert(u"SEALRELAY_TLS_CERTIFICATE"_s, QDir(directory).filePath(name + u".pem"_s));
    environment.insert(u"SEALRELAY_TLS_KEY"_s, QDir(directory).filePath(name + u".key"_s));
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    return environment;
}
