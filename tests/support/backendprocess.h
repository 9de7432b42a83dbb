// A real sealrelay-backend process for end-to-end suites: `init` in a
// temporary data directory, then `run` on a free 127.0.0.1 port, with the
// first admin token read from init's last output line.
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QSslCertificate>
#include <QString>
#include <QStringList>

struct BackendReply {
    int status = 0;
    QByteArray body;
    QJsonObject json;
};

class BackendProcess {
public:
    // The path of the sealrelay-backend binary in this build tree.
    static QString binaryPath();
    // Returns a port that was free on 127.0.0.1 a moment ago.
    static quint16 freePort();

    ~BackendProcess();

    // Runs `init` in `dataDir` and `run` with `environment` (settings as
    // SEALRELAY_* variables) added to the process environment; waits until
    // /healthz answers 200. Returns an error message, empty on success.
    QString start(const QString &dataDir, const QProcessEnvironment &environment = {},
                  quint16 port = 0);
    void stop();

    // Makes request() and the /healthz wait of start() use https, trusting
    // the PEM CA certificates in `caFile`. A non-empty `peerVerifyName`
    // checks the backend's certificate against that name instead of
    // 127.0.0.1. Call it before start(), whose environment then names the
    // backend's certificate and key (SEALRELAY_TLS_CERTIFICATE and
    // SEALRELAY_TLS_KEY). Returns false when the file contains no PEM
    // certificate.
    bool useTls(const QString &caFile, const QString &peerVerifyName = {});
    // Makes a test CA and a certificate for 127.0.0.1 in `pkiDir`
    // (testpki.h), then start()s with https and wss; `pkiDir`/ca.pem is the
    // CA file for clients. Returns an error message, empty on success.
    QString startWithTestPki(const QString &dataDir, const QString &pkiDir);

    quint16 port() const { return m_port; }
    QString adminToken() const { return m_adminToken; }
    QString baseUrl() const;

    // Sends one request with the admin token and waits up to 15 s.
    BackendReply request(const QByteArray &method, const QString &path,
                         const QJsonObject &body = {}) const;

private:
    QProcess m_process;
    quint16 m_port = 0;
    QString m_adminToken;
    QList<QSslCertificate> m_tlsCaCertificates; // empty: plain http
    QString m_peerVerifyName;
};
