#include "commandline.h"

#include <QCommandLineParser>
#include <QFile>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace sealrelay::ctl {

namespace {

QString commandListText(const QList<Command> &commands)
{
    QString text = QStringLiteral("Usage: sealrelayctl COMMAND [options]\n\nCommands:\n");
    for (const Command &command : commands)
        text += QStringLiteral("  %1  %2\n").arg(command.path.join(u' '), -28).arg(command.summary);
    text += QStringLiteral("\nRun 'sealrelayctl COMMAND --help' for the options of a command.\n\n");
    text += exitCodeHelp();
    return text;
}

} // namespace

QString exitCodeHelp()
{
    return QStringLiteral("Exit codes:\n"
                          "  0  success\n"
                          "  1  verification or decryption failed (the reason is printed)\n"
                          "  2  usage or input error, including a credential or agent name\n"
                          "     or id that does not exist\n"
                          "  3  the backend rejected the request or could not be reached\n");
}

void printOut(QByteArrayView bytes)
{
    std::fwrite(bytes.data(), 1, static_cast<size_t>(bytes.size()), stdout);
    std::fflush(stdout);
}

QString agentCountText(qsizetype count)
{
    return count == 1 ? QStringLiteral("1 agent") : QStringLiteral("%1 agents").arg(count);
}

TextTable::TextTable(QStringList header)
    : m_header(std::move(header))
{
}

void TextTable::addRow(QStringList cells)
{
    Q_ASSERT(cells.size() == m_header.size());
    m_rows.append(std::move(cells));
}

QByteArray TextTable::toUtf8() const
{
    QList<qsizetype> widths;
    for (const QString &title : m_header)
        widths.append(title.size());
    for (const QStringList &row : m_rows) {
        for (qsizetype column = 0; column < row.size(); ++column)
            widths[column] = std::max(widths[column], row[column].size());
    }

    QString text;
    const auto appendLine = [&](const QStringList &cells) {
        QString line;
        for (qsizetype column = 0; column < cells.size(); ++column) {
            if (column + 1 < cells.size())
                line += cells[column].leftJustified(widths[column] + 2);
            else
                line += cells[column];
        }
        // Empty cells at the end leave no trailing blanks.
        while (line.endsWith(u' '))
            line.chop(1);
        text += line + u'\n';
    };
    appendLine(m_header);
    for (const QStringList &row : m_rows)
        appendLine(row);
    return text.toUtf8();
}

void printError(const QString &line)
{
    const QByteArray bytes = line.toUtf8() + '\n';
    std::fwrite(bytes.constData(), 1, static_cast<size_t>(bytes.size()), stderr);
    std::fflush(stderr);
}

int fail(int code, const QString &message)
{
    printError(QStringLiteral("error: ") + message);
    return code;
}

int failWith(int code, const Error &error)
{
    printError(reasonName(error.reason) + QStringLiteral(": ") + error.message);
    return code;
}

Result<QByteArray> readStandardInput(qsizetype maxBytes)
{
    // A pipe delivers its data in pieces, so read until end of file rather
    // than taking what one read() returns.
    QByteArray bytes;
    char chunk[64 * 1024];
    while (true) {
        const ssize_t count = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (count == 0)
            break;
        if (count < 0) {
            if (errno == EINTR)
                continue;
            return makeError(Reason::IoError,
                             QStringLiteral("cannot read standard input: %1")
                                 .arg(QString::fromLocal8Bit(std::strerror(errno))));
        }
        bytes.append(chunk, count);
        if (bytes.size() > maxBytes)
            return makeError(Reason::TooLarge,
                             QStringLiteral("standard input is larger than %1 bytes").arg(maxBytes));
    }
    return bytes;
}

Result<QByteArray> readFile(const QString &path, qsizetype maxBytes)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return makeError(Reason::IoError,
                         QStringLiteral("cannot open %1: %2").arg(path, file.errorString()));
    QByteArray bytes = file.read(maxBytes + 1);
    if (bytes.size() > maxBytes)
        return makeError(Reason::TooLarge,
                         QStringLiteral("%1 is larger than %2 bytes").arg(path).arg(maxBytes));
    return bytes;
}

std::optional<int> parseCommandOptions(QCommandLineParser &parser, const QStringList &arguments,
                                       const CommandHelp &help, qsizetype maxPositional)
{
    const QString commandName = arguments.value(0);
    const QCommandLineOption helpOption(QStringList{QStringLiteral("h"), QStringLiteral("help")},
                                        QStringLiteral("Show this help."));
    parser.addOption(helpOption);

    if (!parser.parse(arguments)) {
        // Qt's text names an unknown option without its dashes, so they are added back.
        QStringList unknown;
        for (const QString &name : parser.unknownOptionNames())
            unknown.append((name.size() == 1 ? QStringLiteral("-") : QStringLiteral("--")) + name);
        if (!unknown.isEmpty()) {
            return fail(ExitUsageError,
                        QStringLiteral("unknown option %1; see '%2 --help'")
                            .arg(unknown.join(QStringLiteral(", ")), commandName));
        }
        QString message = parser.errorText();
        if (message.endsWith(u'.'))
            message.chop(1);
        if (!message.isEmpty())
            message[0] = message[0].toLower();
        return fail(ExitUsageError,
                    QStringLiteral("%1; see '%2 --help'").arg(message, commandName));
    }
    if (parser.isSet(helpOption)) {
        // Qt's own usage line names the binary's path, so the text starts
        // at the option list and the usage line is written here.
        const QString qtHelp = parser.helpText();
        const qsizetype optionsStart = qtHelp.indexOf(QStringLiteral("Options:"));
        QString text = QStringLiteral("Usage: %1 %2\n\n%3\n\n")
                           .arg(commandName, help.synopsis, help.description);
        text += optionsStart >= 0 ? qtHelp.mid(optionsStart) : qtHelp;
        text += u'\n' + exitCodeHelp();
        printOut(text.toUtf8());
        return ExitSuccess;
    }
    if (parser.positionalArguments().size() > maxPositional) {
        const QStringList extra = parser.positionalArguments().mid(maxPositional);
        return fail(ExitUsageError, QStringLiteral("unexpected argument '%1'; see '%2 --help'")
                                        .arg(extra.join(QStringLiteral("' '")), commandName));
    }
    return std::nullopt;
}

std::optional<int> requireOption(const QCommandLineParser &parser, const QString &name)
{
    if (parser.value(name).isEmpty())
        return fail(ExitUsageError, QStringLiteral("--%1 is required; see --help").arg(name));
    return std::nullopt;
}

int dispatch(const QList<Command> &commands, const QStringList &arguments)
{
    const QStringList words = arguments.mid(1);
    if (words.isEmpty() || words.first() == u"--help" || words.first() == u"-h"
        || words.first() == u"help") {
        printOut(commandListText(commands).toUtf8());
        return words.isEmpty() ? ExitUsageError : ExitSuccess;
    }
    if (words.first() == u"--version") {
        printOut(QByteArrayLiteral("sealrelayctl " SEALRELAY_VERSION "\n"));
        return ExitSuccess;
    }

    // Of the command paths that prefix the words, the longest is chosen.
    const Command *match = nullptr;
    for (const Command &command : commands) {
        if (command.path.size() <= words.size()
            && words.mid(0, command.path.size()) == command.path
            && (!match || command.path.size() > match->path.size()))
            match = &command;
    }
    if (!match) {
        // A group word alone ("envelope") lists the commands under it.
        QStringList subcommands;
        QList<Command> group;
        for (const Command &command : commands) {
            if (command.path.size() > 1 && command.path.first() == words.first()) {
                subcommands.append(command.path.at(1));
                group.append(command);
            }
        }
        const bool helpRequested = words.size() == 2
            && (words.at(1) == u"--help" || words.at(1) == u"-h" || words.at(1) == u"help");
        if (!group.isEmpty() && helpRequested) {
            printOut(commandListText(group).toUtf8());
            return ExitSuccess;
        }
        if (!subcommands.isEmpty()) {
            const QString list = subcommands.join(QStringLiteral(", "));
            if (words.size() == 1)
                printError(QStringLiteral("error: '%1' needs a subcommand: %2").arg(words.first(), list));
            else
                printError(QStringLiteral("error: unknown command '%1'; '%2' has: %3")
                               .arg(words.join(u' '), words.first(), list));
            return ExitUsageError;
        }
        printError(QStringLiteral("error: unknown command '%1'").arg(words.join(u' ')));
        printError(commandListText(commands));
        return ExitUsageError;
    }

    QStringList commandArguments{QStringLiteral("sealrelayctl ") + match->path.join(u' ')};
    commandArguments += words.mid(match->path.size());
    return match->run(commandArguments);
}

} // namespace sealrelay::ctl
