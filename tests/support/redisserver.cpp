// Starting, killing and restarting a private redis-server for one test process.
#include "redisserver.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QHostAddress>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>

#include <signal.h>
#include <sys/prctl.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::test {

namespace {

// Returns a port that was free on 127.0.0.1 a moment ago.
quint16 pickFreePort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

} // namespace

RedisServer::RedisServer(QString password)
    : m_password(std::move(password)), m_dir(QDir::tempPath() + u"/sealrelay-redis-XXXXXX"_s)
{
}

RedisServer::~RedisServer()
{
    kill();
}

QString RedisServer::socketPath() const
{
    return m_dir.filePath(u"redis.sock"_s);
}

QString RedisServer::url() const
{
    const QString auth = m_password.isEmpty() ? QString() : u":"_s + m_password + u'@';
    return u"redis://"_s + auth + u"127.0.0.1:"_s + QString::number(m_port) + u"/0"_s;
}

bool RedisServer::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

bool RedisServer::start()
{
    if (isRunning())
        return true;
    const QString program = QStandardPaths::findExecutable(u"redis-server"_s);
    if (program.isEmpty()) {
        m_error = u"redis-server is not installed; install the Debian package redis-server "
                  "(`./run test` installs it)"_s;
        return false;
    }
    if (!m_dir.isValid()) {
        m_error = u"could not create a temporary folder: %1"_s.arg(m_dir.errorString());
        return false;
    }
    if (m_port == 0)
        m_port = pickFreePort();
    if (m_port == 0) {
        m_error = u"found no free port on 127.0.0.1"_s;
        return false;
    }

    QStringList arguments{u"--bind"_s,       u"127.0.0.1"_s,
                          u"--port"_s,       QString::number(m_port),
                          u"--unixsocket"_s, socketPath(),
                          u"--unixsocketperm"_s, u"700"_s,
                          u"--dir"_s,        m_dir.path(),
                          u"--save"_s,       u""_s,
                          u"--appendonly"_s, u"no"_s,
                          u"--daemonize"_s,  u"no"_s,
                          u"--loglevel"_s,   u"warning"_s};
    if (!m_password.isEmpty())
        arguments << u"--requirepass"_s << m_password;

    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    // The server dies with the test process, even when the test crashes.
    m_process->setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
    m_process->start(program, arguments);
    if (!m_process->waitForStarted(5000)) {
        m_error = u"redis-server did not start: %1"_s.arg(m_process->errorString());
        m_process.reset();
        return false;
    }
    if (!waitForPing(10'000)) {
        const QString output = QString::fromLocal8Bit(m_process->readAll());
        kill();
        m_error = u"redis-server on 127.0.0.1:%1 did not answer PING within 10 s: %2"_s.arg(m_port)
                          .arg(output);
        return false;
    }
    return true;
}

bool RedisServer::waitForPing(int timeoutMs)
{
    const QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (!isRunning())
            return false;
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, m_port);
        if (socket.waitForConnected(200)) {
            socket.write("PING\r\n");
            // "+PONG" without a password, "-NOAUTH ..." with one: both mean
            // the server accepts commands.
            if (socket.waitForReadyRead(500)) {
                const QByteArray line = socket.readLine();
                if (line.startsWith('+') || line.startsWith("-NOAUTH"))
                    return true;
            }
        }
        QThread::msleep(20);
    }
    return false;
}

void RedisServer::stop()
{
    if (!isRunning())
        return;
    m_process->terminate();
    if (!m_process->waitForFinished(5000)) {
        m_process->kill();
        m_process->waitForFinished(5000);
    }
}

void RedisServer::kill()
{
    if (!isRunning())
        return;
    m_process->kill();
    m_process->waitForFinished(5000);
}

void RedisServer::pause()
{
    if (isRunning())
        ::kill(static_cast<pid_t>(m_process->processId()), SIGSTOP);
}

void RedisServer::resume()
{
    if (isRunning())
        ::kill(static_cast<pid_t>(m_process->processId()), SIGCONT);
}

QByteArray RedisServer::command(const QStringList &arguments)
{
    QProcess cli;
    if (!m_password.isEmpty()) {
        // REDISCLI_AUTH keeps the password off the command line.
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(u"REDISCLI_AUTH"_s, m_password);
        cli.setProcessEnvironment(environment);
    }
    cli.start(u"redis-cli"_s,
              QStringList{u"-h"_s, u"127.0.0.1"_s, u"-p"_s, QString::number(m_port)} + arguments);
    if (!cli.waitForFinished(5000) || cli.exitCode() != 0) {
        m_error = u"redis-cli %1 failed: %2 %3"_s.arg(arguments.join(u' '), cli.errorString(),
                                                      QString::fromLocal8Bit(cli.readAllStandardError()));
        return {};
    }
    QByteArray output = cli.readAllStandardOutput();
    if (output.endsWith('\n'))
        output.chop(1);
    return output;
}

} // namespace sealrelay::test
