// Start-up and REST calls of a real sealrelay-backend for end-to-end suites.
#include "backendprocess.h"

#include "testpki.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QEventLoop>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSslConfiguration>
#include <QTcpServer>
#include <QThread>
#include <QTimer>

using namespace Qt::Literals::StringLiterals;

QString BackendProcess::binaryPath()
{
    return QStringLiteral(SEALRELAY_BINARY_DIR "/backend/sealrelay-backend");
}

quint16 BackendProcess::freePort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    return server.serverPort();
}

BackendProcess::~BackendProcess()
{
    stop();
}

QString BackendProcess::start(const QString &dataDir, const QProcessEnvironment &environment,
                              quint16 port)
{
    QProcess init;
    init.start(binaryPath(), {u"init"_s, u"--data-dir"_s, dataDir, u"--org"_s, u"Test Org"_s});
    if (!init.waitForFinished(30000) || init.exitCode() != 0)
        return u"sealrelay-backend init failed: "_s + QString::fromUtf8(init.readAllStandardError());
    const QStringList lines = QString::fromUtf8(init.readAllStandardOutput()).trimmed().split(u'\n');
    m_adminToken = lines.constLast().trimmed();

    m_port = port != 0 ? port : freePort();
    QProcessEnvironment merged = QProcessEnvironment::systemEnvironment();
    merged.insert(environment);
    m_process.setProcessEnvironment(merged);
    m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_process.start(binaryPath(), {u"run"_s, u"--data-dir"_s, dataDir, u"--listen"_s,
                                   u"127.0.0.1:%1"_s.arg(m_port)});
    if (!m_process.waitForStarted())
        return u"sealrelay-backend run did not start"_s;

    const QDeadlineTimer deadline(15000);
    while (!deadline.hasExpired()) {
        if (request("GET", u"/healthz"_s).status == 200)
            return {};
        if (m_process.state() == QProcess::NotRunning)
            return u"sealrelay-backend run exited with code %1"_s.arg(m_process.exitCode());
        QThread::msleep(100);
    }
    return u"sealrelay-backend did not answer /healthz within 15 s"_s;
}

void BackendProcess::stop()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(10000)) {
        m_process.kill();
        m_process.waitForFinished();
    }
}

bool BackendProcess::useTls(const QString &caFile, const QString &peerVerifyName)
{
    m_peerVerifyName = peerVerifyName;
    m_tlsCaCertificates = QSslCertificate::fromPath(caFile, QSsl::Pem);
    return !m_tlsCaCertificates.isEmpty();
}

QString BackendProcess::startWithTestPki(const QString &dataDir, const QString &pkiDir)
{
    if (!QDir().mkpath(pkiDir))
        return u"cannot create "_s + pkiDir;
    if (QString failed = createTestCa(pkiDir); !failed.isEmpty())
        return failed;
    if (QString failed = issueServerCertificate(pkiDir, u"server"_s, u"IP:127.0.0.1"_s);
        !failed.isEmpty())
        return failed;
    if (!useTls(QDir(pkiDir).filePath(u"ca.pem"_s)))
        return u"the test CA in %1 holds no PEM certificate"_s.arg(pkiDir);
    return start(dataDir, tlsBackendEnvironment(pkiDir, u"server"_s));
}

QString BackendProcess::baseUrl() const
{
    const QString scheme = m_tlsCaCertificates.isEmpty() ? u"http"_s : u"https"_s;
    return u"%1://127.0.0.1:%2"_s.arg(scheme).arg(m_port);
}

BackendReply BackendProcess::request(const QByteArray &method, const QString &path,
                                     const QJsonObject &body) const
{
    QNetworkAccessManager network;
    QNetworkRequest networkRequest(QUrl(baseUrl() + path));
    networkRequest.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    networkRequest.setRawHeader("Authorization", "Bearer " + m_adminToken.toLatin1());
    if (!m_tlsCaCertificates.isEmpty()) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(m_tlsCaCertificates);
        networkRequest.setSslConfiguration(tls);
        if (!m_peerVerifyName.isEmpty())
            networkRequest.setPeerVerifyName(m_peerVerifyName);
    }
    const QByteArray payload =
        method == "GET" ? QByteArray() : QJsonDocument(body).toJson(QJsonDocument::Compact);
    QNetworkReply *reply = network.sendCustomRequest(networkRequest, method, payload);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(15000, &loop, &QEventLoop::quit);
    loop.exec();

    BackendReply result;
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.body = reply->readAll();
    result.json = QJsonDocument::fromJson(result.body).object();
    reply->deleteLater();
    return result;
}
