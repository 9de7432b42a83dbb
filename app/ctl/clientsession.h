// State that sealrelayctl's operator commands share between runs: the profile
// (backend URL, org id, where the token and the operator key are kept), and the
// session that loads them for one command.
#pragma once

#include "agentcertificates.h"
#include "backendclient.h"
#include "clientprofile.h"
#include "commandline.h"
#include "error.h"
#include "operatorkeystore.h"
#include "trustedoperators.h"

#include <QCommandLineOption>
#include <QJsonObject>
#include <QString>

#include <memory>
#include <optional>

class QCommandLineParser;

namespace sealrelay::ctl {

using client::Profile;
using client::tokenKeychainKey;

// Options shared by the operator commands; each command adds the ones it uses.
struct SessionOptions {
    QCommandLineOption profile { QStringLiteral("profile"),
                                 QStringLiteral("Profile to use. Default: $SEALRELAY_PROFILE, or "
                                                "\"default\"."),
                                 QStringLiteral("NAME") };
    QCommandLineOption keyFile { QStringLiteral("key-file"),
                                 QStringLiteral(
                                     "Operator key file (scrypt-encrypted). Default: the "
                                     "profile's key file, else the OS keychain."),
                                 QStringLiteral("PATH") };
    QCommandLineOption passphraseFile {
        QStringLiteral("passphrase-file"),
        QStringLiteral("File whose first line is the key file passphrase. Default: "
                       "$SEALRELAY_OPERATOR_PASSPHRASE, else a prompt without echo."),
        QStringLiteral("PATH")
    };
    QCommandLineOption json { QStringLiteral("json"),
                              QStringLiteral("Print one JSON object instead of text.") };

    void addTo(QCommandLineParser &parser) const;
    QString profileName(const QCommandLineParser &parser) const;
};

// Reads one line from the controlling terminal (/dev/tty) without echo,
// after printing `prompt` there. Reason::IoError when there is no terminal.
Result<QByteArray> promptHidden(const QString &prompt);

// Reads one line from the terminal with echo, for values that are not secret.
Result<QString> promptVisible(const QString &prompt);

// True when standard input is a terminal.
bool standardInputIsTerminal();

// The passphrase of an operator key file: --passphrase-file, then
// $SEALRELAY_OPERATOR_PASSPHRASE, then a prompt (twice when `confirm`).
Result<QByteArray> readPassphrase(const SessionOptions &options, const QCommandLineParser &parser,
                                  bool confirm);

// The operator key store the options and the profile select.
Result<client::OperatorKeyStore> operatorKeyStore(const SessionOptions &options,
                                                  const QCommandLineParser &parser,
                                                  const Profile &profile, bool confirmNew);

// Everything a command that talks to the backend needs, loaded from the
// profile. The operator key is loaded only by loadOperatorKey().
class ClientSession {
public:
    // Loads the profile, its token and its trusted operators. A profile
    // without a backend or org is Reason::NotFound with the login command to
    // run.
    static Result<std::unique_ptr<ClientSession>> open(const SessionOptions &options,
                                                       const QCommandLineParser &parser);

    const Profile &profile() const { return m_profile; }
    client::BackendClient &backend() { return *m_backend; }
    const client::TrustedOperators &trusted() const { return *m_trusted; }
    client::AgentCertificates &certificates() { return *m_certificates; }
    client::GenerationRecord &generations() { return *m_generations; }

    // Loads the operator key and checks that it is pinned in the trusted
    // operators, because the agents reject anything else.
    Result<client::OperatorKey> loadOperatorKey();

private:
    ClientSession() = default;

    const SessionOptions *m_options = nullptr;
    const QCommandLineParser *m_parser = nullptr;
    Profile m_profile;
    std::unique_ptr<client::BackendClient> m_backend;
    std::optional<client::TrustedOperators> m_trusted;
    std::optional<client::GenerationRecord> m_generations;
    std::unique_ptr<client::AgentCertificates> m_certificates;
};

// parseCommandOptions() plus an exact count of positional arguments: fewer
// than `positional` prints the synopsis and returns the usage exit code.
std::optional<int> parseExactly(QCommandLineParser &parser, const QStringList &arguments,
                                const CommandHelp &help, qsizetype positional);

// Prints `object` as compact JSON and a newline.
void printJson(const QJsonObject &object);

// Prints a failed API request and returns ExitBackendError.
int failRequest(const client::ApiError &error);

// Finds the row whose agent_id or name is `agent`. A name shared by several
// agents is ambiguous, and the message lists their ids.
Result<client::AgentRow> findAgent(const QList<client::AgentRow> &rows, const QString &agent);

// Resolves a credential id or name through GET /api/credentials.
Result<QString> resolveCredentialId(client::BackendClient &backend, const QString &credential);

} // namespace sealrelay::ctl
