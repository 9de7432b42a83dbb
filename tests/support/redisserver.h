// A throwaway redis-server for tests: a port it picks on 127.0.0.1, a Unix
// socket and a working folder under the temporary directory, no persistence.
#pragma once

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

namespace sealrelay::test {

class RedisServer {
public:
    // `password` sets requirepass; empty for none.
    explicit RedisServer(QString password = {});
    // Kills the server when it still runs.
    ~RedisServer();
    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    // Starts redis-server with --save "" --appendonly no, on a free port the
    // first time and on the same port after stop() or kill(), and waits up to
    // 10 s until it replies to PING. Returns false with errorString() set; when
    // redis-server is missing the message names the Debian package.
    bool start();
    // Stops the server with SIGTERM and waits for it to exit.
    void stop();
    // Kills the server with SIGKILL, as a crash would, and waits for it.
    void kill();
    bool isRunning() const;
    // Stops (SIGSTOP) and continues (SIGCONT) the server process, so that it
    // keeps its connections open but does not reply in between.
    void pause();
    void resume();

    const QString &errorString() const { return m_error; }
    quint16 port() const { return m_port; }
    QString socketPath() const;
    // redis://[:password@]127.0.0.1:PORT/0
    QString url() const;

    // Runs one command through redis-cli and returns its raw output without
    // the trailing newline; an empty array and errorString() on failure.
    QByteArray command(const QStringList &arguments);

private:
    bool waitForPing(int timeoutMs);

    QString m_password;
    QTemporaryDir m_dir;
    quint16 m_port = 0;
    std::unique_ptr<QProcess> m_process;
    QString m_error;
};

} // namespace sealrelay::test
