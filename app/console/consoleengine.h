// Loading the console's QML with the session exposed to it, shared by main()
// and the tests.
#pragma once

#include "error.h"

#include <QQmlApplicationEngine>
#include <QString>

namespace sealrelay::console {

class ConsoleSession;

// The views Main.qml's `currentView` accepts.
inline const QStringList &consoleViews()
{
    static const QStringList views { QStringLiteral("credentials"), QStringLiteral("agents"),
                                     QStringLiteral("alerts"), QStringLiteral("audit"),
                                     QStringLiteral("system") };
    return views;
}

// The URL of the console's root file inside the QML module's resources.
inline constexpr auto kMainQmlUrl = QLatin1StringView("qrc:/Sealrelay/Console/Main.qml");

// Registers `session` as the QML singleton `Session` of module
// "Sealrelay.Backend" 1.0 and loads Main.qml into `engine` with its
// `currentView` set to `initialView` (one of consoleViews()). `session` must
// outlive the engine. An unknown view is Reason::Malformed; a Main.qml that
// fails to load is Reason::Internal with the QML errors.
Result<void> loadConsole(QQmlApplicationEngine &engine, ConsoleSession &session,
                         const QString &initialView = QStringLiteral("credentials"));

} // namespace sealrelay::console
