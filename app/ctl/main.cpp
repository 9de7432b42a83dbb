// sealrelayctl: command-line client for scripts and auditors. main() only
// sets up logging and hands the arguments to the command table.
#include "commandline.h"
#include "logging.h"

#include <QCoreApplication>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("sealrelayctl"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SEALRELAY_VERSION));

    sealrelay::LoggingOptions logging;
    logging.level = qEnvironmentVariable("SEALRELAY_LOG_LEVEL", QStringLiteral("warn"));
    sealrelay::setupLogging(logging);

    QList<sealrelay::ctl::Command> commands = sealrelay::ctl::cryptoCommands();
    commands += sealrelay::ctl::backendCommands();
    commands += sealrelay::ctl::operatorCommands();
    commands += sealrelay::ctl::agentCommands();
    commands += sealrelay::ctl::credentialCommands();
    commands += sealrelay::ctl::importCommands();
    return sealrelay::ctl::dispatch(commands, QCoreApplication::arguments());
}
