#include "commandline.h"

#include <QFile>
#include <QTextStream>

#include <cstdio>

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
                          "  2  usage or input error\n");
}

void printOut(QByteArrayView bytes)
{
    std::fwrite(bytes.data(), 1, static_cast<size_t>(bytes.size()), stdout);
    std::fflush(stdout);
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
    QFile input;
    if (!input.open(stdin, QIODevice::ReadOnly))
        return makeError(Reason::IoError, QStringLiteral("cannot read standard input"));
    QByteArray bytes = input.read(maxBytes + 1);
    if (bytes.size() > maxBytes)
        return makeError(Reason::TooLarge,
                         QStringLiteral("standard input is larger than %1 bytes").arg(maxBytes));
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

    // The longest command path that prefixes the words wins.
    const Command *match = nullptr;
    for (const Command &command : commands) {
        if (command.path.size() <= words.size()
            && words.mid(0, command.path.size()) == command.path
            && (!match || command.path.size() > match->path.size()))
            match = &command;
    }
    if (!match) {
        printError(QStringLiteral("error: unknown command '%1'").arg(words.join(u' ')));
        printError(commandListText(commands));
        return ExitUsageError;
    }

    QStringList commandArguments{QStringLiteral("sealrelayctl ") + match->path.join(u' ')};
    commandArguments += words.mid(match->path.size());
    return match->run(commandArguments);
}

} // namespace sealrelay::ctl
