// Registers the session for QML and loads the console's Main.qml.
#include "consoleengine.h"

#include "consolesession.h"

#include <QQmlComponent>
#include <QQmlEngine>
#include <QUrl>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::console {

Result<void> loadConsole(QQmlApplicationEngine &engine, ConsoleSession &session,
                         const QString &initialView)
{
    if (!consoleViews().contains(initialView))
        return makeError(Reason::Malformed,
                         u"unknown console view \"%1\"; use one of: %2"_s.arg(
                             initialView, consoleViews().join(u", "_s)));

    // The singleton is registered once per process. A second call with
    // another session would make every engine share the first one.
    static ConsoleSession *registered = nullptr;
    if (registered == nullptr) {
        qmlRegisterSingletonInstance("Sealrelay.Backend", 1, 0, "Session", &session);
        registered = &session;
    } else if (registered != &session) {
        return makeError(Reason::Internal,
                         u"loadConsole() was called with a second session; the QML singleton "
                         "Session is registered once per process"_s);
    }

    QStringList errors;
    const auto connection = QObject::connect(&engine, &QQmlApplicationEngine::warnings, &engine,
                                             [&errors](const QList<QQmlError> &warnings) {
                                                 for (const QQmlError &warning : warnings)
                                                     errors.append(warning.toString());
                                             });
    engine.setInitialProperties({ { u"currentView"_s, initialView } });
    engine.load(QUrl(QString(kMainQmlUrl)));
    QObject::disconnect(connection);

    if (engine.rootObjects().isEmpty())
        return makeError(
            Reason::Internal,
            u"the console's %1 did not load: %2"_s.arg(
                QString(kMainQmlUrl),
                errors.isEmpty() ? u"no QML errors reported"_s : errors.join(u"; "_s)));
    return {};
}

} // namespace sealrelay::console
