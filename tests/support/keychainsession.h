// Runs OS keychain test cases in child processes of the test binary: under a
// real Secret Service (gnome-keyring in its own D-Bus session), without any
// D-Bus, or on a session bus that never replies.
#pragma once

#include "error.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QTest>

#include <chrono>
#include <optional>

namespace sealrelay::test {

// How long a keychain case may take beyond its job deadline before a test
// calls the deadline broken: process start-up and D-Bus set-up.
inline constexpr std::chrono::milliseconds kKeychainStartupSlack { 3000 };

// A keychain case as the child process receives it:
// `BINARY --keychain-case MODE ARGUMENT`.
struct KeychainCase {
    QString mode;
    QString argument;
};

// Returns the case when `applicationArguments` start a keychain case, so
// main() runs the case instead of the Qt Test suite.
std::optional<KeychainCase> keychainCaseFromArguments(const QStringList &applicationArguments);

// Child side: prints "result: ok|error", an optional "reason: NAME",
// "message: TEXT" and "elapsed-ms: N" on standard output for the parent to
// parse. Each method returns the child's exit code, 0.
class KeychainCaseReporter {
public:
    // Starts the elapsed-time clock.
    KeychainCaseReporter();

    int succeeded(const QString &message) const;
    int failed(const QString &message) const;
    // Reports the reason name of `error` as well as its message.
    int failed(const Error &error) const;

private:
    int print(bool ok, const QString &reason, const QString &message) const;

    QElapsedTimer m_timer;
};

// Parent side: what a child process reported. `launchError` is set when the
// child could not be started or did not finish, and the other fields are
// then left at their defaults.
struct KeychainCaseOutput {
    QString launchError;
    int exitCode = -1;
    QString result;
    QString reason;
    QString message;
    qint64 elapsedMs = -1;
    QString stderrText;
};

// Parent side: a launcher of this test binary as a keychain case, with HOME
// and the XDG folders under `home`, and without DISPLAY, WAYLAND_DISPLAY or
// the parent's session bus.
class KeychainSession {
public:
    // Creates `home` and its private (mode 0700) XDG folders.
    explicit KeychainSession(QString home);

    // Runs the case in `dbus-run-session` with gnome-keyring started and
    // unlocked there. Sets launchError when dbus-run-session or
    // gnome-keyring-daemon is not installed (Debian packages dbus and
    // gnome-keyring).
    KeychainCaseOutput runWithSecretService(const KeychainCase &keychainCase) const;

    // Runs the case with no D-Bus session at all.
    KeychainCaseOutput runWithoutBus(const KeychainCase &keychainCase) const;

    // Runs the case against a Unix socket that accepts D-Bus connections and
    // never replies, as a hung session bus does.
    KeychainCaseOutput runOnSilentBus(const KeychainCase &keychainCase) const;

private:
    QProcessEnvironment environment() const;
    // Starts `program` with `arguments` followed by the case options.
    KeychainCaseOutput run(const QString &program, const QStringList &arguments,
                           const KeychainCase &keychainCase,
                           const QProcessEnvironment &environment) const;

    QString m_home;
};

// Fails the running test unless the case was launched, exited with code 0
// and reported "result: ok". Callers return when QTest::currentTestFailed().
void verifyCaseSucceeded(const KeychainCaseOutput &output);

// Fails the running test unless the case was launched, exited with code 0,
// reported "result: error" and took less than `deadline` plus
// kKeychainStartupSlack. Callers return when QTest::currentTestFailed().
void verifyCaseFailedWithin(const KeychainCaseOutput &output, std::chrono::milliseconds deadline);

} // namespace sealrelay::test

// Defines main() for a suite whose keychain cases run in child processes:
// `BINARY --keychain-case MODE ARGUMENT` calls `runCase` with the
// KeychainCase, and any other command line runs the Qt Test class
// `TestClass`.
#define SEALRELAY_KEYCHAIN_TEST_MAIN(TestClass, runCase)                                           \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        QCoreApplication app(argc, argv);                                                          \
        if (const std::optional<sealrelay::test::KeychainCase> keychainCase =                      \
                sealrelay::test::keychainCaseFromArguments(app.arguments()))                       \
            return runCase(*keychainCase);                                                         \
                                                                                                   \
        TestClass test;                                                                            \
        QTEST_SET_MAIN_SOURCE_PATH                                                                 \
        return QTest::qExec(&test, argc, argv);                                                    \
    }
