// Child processes for keychain test cases and the line format they report in.
#include "keychainsession.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QLocalServer>
#include <QProcess>
#include <QStandardPaths>
#include <QTest>

#include <cstdio>
#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::test {

namespace {

const QString kCaseOption = u"--keychain-case"_s;

// Limits on starting a child and on its whole run, after which it counts as
// hung. Every keychain job in a child has its own deadline of a few seconds.
constexpr int kChildStartTimeoutMs = 10000;
constexpr int kChildFinishTimeoutMs = 60000;

void parseCaseLines(const QString &text, KeychainCaseOutput &output)
{
    const QStringList lines = text.split(u'\n');
    for (const QString &line : lines) {
        if (line.startsWith(u"result: "_s))
            output.result = line.mid(8);
        else if (line.startsWith(u"reason: "_s))
            output.reason = line.mid(8);
        else if (line.startsWith(u"message: "_s))
            output.message = line.mid(9);
        else if (line.startsWith(u"elapsed-ms: "_s))
            output.elapsedMs = line.mid(12).toLongLong();
    }
}

QString describe(const KeychainCaseOutput &output)
{
    return u"exit code %1, result \"%2\", message: %3, stderr: %4"_s.arg(output.exitCode)
        .arg(output.result, output.message, output.stderrText);
}

} // namespace

std::optional<KeychainCase> keychainCaseFromArguments(const QStringList &applicationArguments)
{
    if (applicationArguments.size() != 4 || applicationArguments.at(1) != kCaseOption)
        return std::nullopt;
    return KeychainCase { applicationArguments.at(2), applicationArguments.at(3) };
}

KeychainCaseReporter::KeychainCaseReporter()
{
    m_timer.start();
}

int KeychainCaseReporter::succeeded(const QString &message) const
{
    return print(true, QString(), message);
}

int KeychainCaseReporter::failed(const QString &message) const
{
    return print(false, QString(), message);
}

int KeychainCaseReporter::failed(const Error &error) const
{
    return print(false, reasonName(error.reason), error.message);
}

int KeychainCaseReporter::print(bool ok, const QString &reason, const QString &message) const
{
    std::printf("result: %s\n", ok ? "ok" : "error");
    if (!reason.isEmpty())
        std::printf("reason: %s\n", qPrintable(reason));
    std::printf("message: %s\nelapsed-ms: %lld\n", qPrintable(message),
                static_cast<long long>(m_timer.elapsed()));
    std::fflush(stdout);
    return 0;
}

KeychainSession::KeychainSession(QString home)
    : m_home(std::move(home))
{
    QDir().mkpath(m_home);
    for (const QString &name :
         { u"XDG_RUNTIME_DIR"_s, u"XDG_DATA_HOME"_s, u"XDG_CONFIG_HOME"_s, u"XDG_CACHE_HOME"_s }) {
        const QString directory = QDir(m_home).filePath(name.toLower());
        QDir().mkpath(directory);
        ::chmod(QFile::encodeName(directory).constData(), 0700);
    }
}

QProcessEnvironment KeychainSession::environment() const
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(u"DBUS_SESSION_BUS_ADDRESS"_s);
    environment.remove(u"DISPLAY"_s);
    environment.remove(u"WAYLAND_DISPLAY"_s);
    environment.insert(u"HOME"_s, m_home);
    for (const QString &name :
         { u"XDG_RUNTIME_DIR"_s, u"XDG_DATA_HOME"_s, u"XDG_CONFIG_HOME"_s, u"XDG_CACHE_HOME"_s })
        environment.insert(name, QDir(m_home).filePath(name.toLower()));
    return environment;
}

KeychainCaseOutput KeychainSession::runWithSecretService(const KeychainCase &keychainCase) const
{
    const QString dbusRunSession = QStandardPaths::findExecutable(u"dbus-run-session"_s);
    const QString keyringDaemon = QStandardPaths::findExecutable(u"gnome-keyring-daemon"_s);
    if (dbusRunSession.isEmpty() || keyringDaemon.isEmpty()) {
        KeychainCaseOutput output;
        output.launchError = u"dbus-run-session or gnome-keyring-daemon is not installed; the "
                             u"keychain cases need the Debian packages dbus and gnome-keyring"_s;
        return output;
    }

    // `gnome-keyring-daemon --unlock` reads the login keyring's password
    // ("pw") from stdin and creates that keyring when it is missing, so the
    // Secret Service stores entries without a prompt. sh receives the
    // test binary as $0 and the case options as $@.
    const QString script = u"echo -n pw | gnome-keyring-daemon --unlock --components=secrets "
                           u">/dev/null; exec \"$0\" \"$@\""_s;
    return run(dbusRunSession,
               { u"--"_s, u"sh"_s, u"-c"_s, script, QCoreApplication::applicationFilePath() },
               keychainCase, environment());
}

KeychainCaseOutput KeychainSession::runWithoutBus(const KeychainCase &keychainCase) const
{
    return run(QCoreApplication::applicationFilePath(), {}, keychainCase, environment());
}

KeychainCaseOutput KeychainSession::runOnSilentBus(const KeychainCase &keychainCase) const
{
    // The server never calls nextPendingConnection(), so the kernel accepts
    // the child's connection into the listen backlog and nothing replies.
    QLocalServer silentBus;
    const QString socketPath = QDir(m_home).filePath(u"silent-bus"_s);
    QLocalServer::removeServer(socketPath);
    if (!silentBus.listen(socketPath)) {
        KeychainCaseOutput output;
        output.launchError = u"cannot listen on %1: %2"_s.arg(socketPath, silentBus.errorString());
        return output;
    }

    QProcessEnvironment busEnvironment = environment();
    busEnvironment.insert(u"DBUS_SESSION_BUS_ADDRESS"_s, u"unix:path="_s + socketPath);
    return run(QCoreApplication::applicationFilePath(), {}, keychainCase, busEnvironment);
}

KeychainCaseOutput KeychainSession::run(const QString &program, const QStringList &arguments,
                                        const KeychainCase &keychainCase,
                                        const QProcessEnvironment &environment) const
{
    KeychainCaseOutput output;
    QProcess process;
    process.setProgram(program);
    process.setArguments(arguments
                         + QStringList { kCaseOption, keychainCase.mode, keychainCase.argument });
    process.setProcessEnvironment(environment);
    process.start();
    if (!process.waitForStarted(kChildStartTimeoutMs)) {
        output.launchError = u"cannot start %1: %2"_s.arg(program, process.errorString());
        return output;
    }
    if (!process.waitForFinished(kChildFinishTimeoutMs)) {
        process.kill();
        process.waitForFinished(5000);
        output.launchError =
            u"%1 did not finish within %2 ms"_s.arg(program).arg(kChildFinishTimeoutMs);
        return output;
    }

    output.exitCode = process.exitCode();
    output.stderrText = QString::fromUtf8(process.readAllStandardError());
    parseCaseLines(QString::fromUtf8(process.readAllStandardOutput()), output);
    const QString caseName = QString(keychainCase.mode + u' ' + keychainCase.argument).trimmed();
    qInfo("keychain case %s: %s (%lld ms)", qPrintable(caseName), qPrintable(output.message),
          output.elapsedMs);
    return output;
}

void verifyCaseSucceeded(const KeychainCaseOutput &output)
{
    QVERIFY2(output.launchError.isEmpty(), qPrintable(output.launchError));
    QVERIFY2(output.result == "ok"_L1, qPrintable(describe(output)));
    QCOMPARE(output.exitCode, 0);
}

void verifyCaseFailedWithin(const KeychainCaseOutput &output, std::chrono::milliseconds deadline)
{
    QVERIFY2(output.launchError.isEmpty(), qPrintable(output.launchError));
    QCOMPARE(output.exitCode, 0);
    QVERIFY2(output.result == "error"_L1, qPrintable(describe(output)));
    QVERIFY(output.elapsedMs >= 0);
    const qint64 limitMs = (deadline + kKeychainStartupSlack).count();
    QVERIFY2(output.elapsedMs < limitMs,
             qPrintable(u"took %1 ms, limit %2 ms"_s.arg(output.elapsedMs).arg(limitMs)));
}

} // namespace sealrelay::test
