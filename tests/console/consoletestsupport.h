// Shared set-up of the console suites: a SyncCluster (real backend, real
// agents on 127.0.0.1) and a temporary HOME and config folder. The profile
// is written as `sealrelayctl login` and `operator init --key-file` leave it,
// so a ConsoleSession signs in from it without typing.
#pragma once

#include "synccluster.h"

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QTemporaryDir>

#include <map>
#include <memory>

namespace sealrelay::consoletest {

inline constexpr auto kProfile = QLatin1StringView("console-test");
inline constexpr QByteArrayView kPassphrase = "console test passphrase";

// An agent enrolled outside the cluster, left pending approval.
struct PendingAgent {
    QString name;
    QString agentId;
    QString fingerprint; // 64 hex digits, as `sealrelay-agent fingerprint` prints it
    QString dataDir;
    std::unique_ptr<QProcess> process;
};

class ConsoleFixture {
public:
    ConsoleFixture();
    ~ConsoleFixture();

    // Points HOME and the XDG folders at a temporary directory, starts the
    // cluster and writes the profile, its token file, the operator key file
    // (passphrase in SEALRELAY_OPERATOR_PASSPHRASE) and the trusted
    // operators. Returns an error message, empty on success.
    QString start();

    synctest::SyncCluster &cluster() { return m_cluster; }
    QString homeDir() const { return m_home.path(); }

    // Runs `sealrelay-agent init` with `enrolmentToken` and starts the agent,
    // which enrols at start. Returns an error message.
    QString startAgent(const QString &name, const QString &enrolmentToken);
    // startAgent(), then waits until the backend lists the agent.
    QString enrolPendingAgent(const QString &name, const QString &enrolmentToken);
    // Stops an agent that startAgent() started.
    void stopAgent(const QString &name);
    PendingAgent &pendingAgent(const QString &name) { return m_pending.at(name); }
    // Runs `sealrelay-agent ARGUMENTS` with the cluster's agent settings.
    synctest::ProcessResult runAgent(const QStringList &arguments) const;

    // Stops the backend and starts it again on the same data directory and
    // port. Returns an error message.
    QString restartBackend();

private:
    QProcessEnvironment agentEnvironment() const;

    QTemporaryDir m_home;
    synctest::SyncCluster m_cluster;
    std::map<QString, PendingAgent> m_pending;
    std::unique_ptr<QProcess> m_restartedBackend;
};

} // namespace sealrelay::consoletest
