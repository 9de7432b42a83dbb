// A private test CA and TLS server certificates made with the openssl
// command line, and the environment that makes sealrelay-backend serve
// https and wss with one of them.
#pragma once

#include <QProcessEnvironment>
#include <QString>
#include <QStringList>

// Runs the openssl command line in `directory`. Returns its error output on
// failure, empty on success.
QString runOpenssl(const QString &directory, const QStringList &arguments);

// Creates ca.pem and ca.key, a self-signed test CA, in `directory`.
QString createTestCa(const QString &directory);

// Creates NAME.pem and NAME.key in `directory`: a TLS server certificate
// for `subjectAltName` (such as "IP:127.0.0.1,DNS:localhost") issued by the
// CA of createTestCa().
QString issueServerCertificate(const QString &directory, const QString &name,
                               const QString &subjectAltName);

// The environment that makes sealrelay-backend serve https and wss with the
// certificate NAME.pem of `directory`.
QProcessEnvironment tlsBackendEnvironment(const QString &directory, const QString &name);
