// Subcommand dispatch and shared input/output helpers of sealrelayctl.
#pragma once

#include "error.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

class QCommandLineParser;

namespace sealrelay::ctl {

// Exit codes, documented in --help.
enum ExitCode : int {
    ExitSuccess = 0,
    ExitVerificationFailed = 1,   // verification or decryption failed
    ExitUsageError = 2,           // bad arguments or unreadable input
    ExitBackendError = 3,         // the backend rejected a request or could not be reached
};

struct Command {
    QStringList path;             // e.g. {"envelope", "open"}
    QString summary;              // one line for the command list
    // Receives the arguments after the command path, with the program name
    // first so QCommandLineParser can process them.
    std::function<int(const QStringList &arguments)> run;
};

// The text a command's --help prints above the options.
struct CommandHelp {
    QString synopsis;      // after the command path, e.g. "--public-key FILE < payload"
    QString description;   // what the command does, in sentences
};

// Adds --help to `parser` and parses `arguments`. Returns the exit code to
// end with when --help was given or the arguments are wrong (more than
// `maxPositional` positional arguments included), std::nullopt otherwise.
std::optional<int> parseCommandOptions(QCommandLineParser &parser, const QStringList &arguments,
                                       const CommandHelp &help, qsizetype maxPositional = 0);

// Prints "error: --NAME is required" and returns the usage exit code when the
// option has no value; std::nullopt when it has one.
std::optional<int> requireOption(const QCommandLineParser &parser, const QString &name);

// Commands of each family, registered by main().
QList<Command> cryptoCommands();
QList<Command> backendCommands();
QList<Command> operatorCommands();   // operator key, login, status, alerts, audit list
QList<Command> agentCommands();      // enrolment tokens, agent list, approve, revoke
QList<Command> credentialCommands(); // credential create, rotate, scope, delete, list, show
QList<Command> importCommands();     // import of password manager exports

// Runs the command named by `arguments` (argv as QStringList).
int dispatch(const QList<Command> &commands, const QStringList &arguments);

// Reads all of standard input, at most `maxBytes`; Reason::TooLarge beyond.
Result<QByteArray> readStandardInput(qsizetype maxBytes);

// Reads a whole file, at most `maxBytes`, with errors naming the path.
Result<QByteArray> readFile(const QString &path, qsizetype maxBytes);

// Writes to standard output / standard error without Qt's message handler.
void printOut(QByteArrayView bytes);
void printError(const QString &line);

// Returns "1 agent" or "N agents" for `count`.
QString agentCountText(qsizetype count);

// The text form of a list: a header line and one line per row, each column as
// wide as its widest cell and two spaces from the next. The last column is
// not padded.
class TextTable {
public:
    explicit TextTable(QStringList header);

    // `cells` has one entry per header column.
    void addRow(QStringList cells);
    bool isEmpty() const { return m_rows.isEmpty(); }
    QByteArray toUtf8() const;

private:
    QStringList m_header;
    QList<QStringList> m_rows;
};

// Prints "error: MESSAGE" and returns `code`.
int fail(int code, const QString &message);

// Prints "REASON: message" for a typed failure and returns `code`.
int failWith(int code, const Error &error);

// The exit-code paragraph every --help ends with.
QString exitCodeHelp();

} // namespace sealrelay::ctl
