// The whole console offscreen against a real backend and three real agents.
// loadConsole() loads Main.qml with the session, which signs in from a
// sealrelayctl profile and creates a credential. The row's chip then turns
// "✓ 3/3 synced" in the credentials model and in the QML item tree.
#include "consoleengine.h"
#include "consolesession.h"
#include "consoletestsupport.h"
#include "credentialsmodel.h"

#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using sealrelay::console::ConsoleSession;
using sealrelay::consoletest::ConsoleFixture;

namespace {

// Texts of every item under `item` that has a `text` property.
void collectTexts(const QQuickItem *item, QStringList &texts)
{
    const QVariant text = item->property("text");
    if (text.isValid() && !text.toString().isEmpty())
        texts.append(text.toString());
    for (const QQuickItem *child : item->childItems())
        collectTexts(child, texts);
}

QStringList windowTexts(const QQmlApplicationEngine &engine)
{
    QStringList texts;
    const QList<QObject *> roots = engine.rootObjects();
    if (roots.isEmpty())
        return texts;
    if (const auto *window = qobject_cast<const QQuickWindow *>(roots.constFirst()))
        collectTexts(window->contentItem(), texts);
    return texts;
}

QString chipTextOf(const sealrelay::models::CredentialsModel &model, const QString &name)
{
    using sealrelay::models::CredentialsModel;
    for (int row = 0; row < model.rowCount(); ++row) {
        const QModelIndex index = model.index(row);
        if (index.data(CredentialsModel::NameRole).toString() == name)
            return index.data(CredentialsModel::ChipTextRole).toString();
    }
    return {};
}

} // namespace

class TestConsoleIntegration : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void loadsMainQml();
    void signsInFromProfile();
    void createdCredentialSyncs();
    void chipShownInView();

private:
    ConsoleFixture m_fixture;
    // Declared before the engine, so the engine that uses it goes first.
    std::unique_ptr<ConsoleSession> m_session;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
};

void TestConsoleIntegration::initTestCase()
{
    const QString started = m_fixture.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    for (const QString &name : { u"edge-1"_s, u"edge-2"_s, u"edge-3"_s })
        QVERIFY2(!m_fixture.cluster().addAgent(name).isEmpty(),
                 qPrintable(m_fixture.cluster().lastError()));
    m_session = std::make_unique<ConsoleSession>();
    m_engine = std::make_unique<QQmlApplicationEngine>();
}

void TestConsoleIntegration::cleanupTestCase()
{
    m_engine.reset();
    m_session.reset();
}

void TestConsoleIntegration::loadsMainQml()
{
    QVERIFY(m_session->start(QString(sealrelay::consoletest::kProfile)).ok());
    const sealrelay::Result<void> loaded =
        sealrelay::console::loadConsole(*m_engine, *m_session, u"credentials"_s);
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    QCOMPARE(m_engine->rootObjects().size(), 1);
    QObject *root = m_engine->rootObjects().constFirst();
    QCOMPARE(root->property("currentView").toString(), u"credentials"_s);
    auto *window = qobject_cast<QQuickWindow *>(root);
    QVERIFY(window != nullptr);
    QCOMPARE(window->width(), 1280);
    QCOMPARE(window->height(), 800);

    const sealrelay::Result<void> unknown =
        sealrelay::console::loadConsole(*m_engine, *m_session, u"settings"_s);
    QVERIFY(!unknown.ok());
}

void TestConsoleIntegration::signsInFromProfile()
{
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), u"signedIn"_s, 15000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->connection(), u"live"_s, 15000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->operatorKeyReady(), 15000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->agentChoices().size(), 3, 10000);
}

void TestConsoleIntegration::createdCredentialSyncs()
{
    QSignalSpy finished(m_session.get(), &ConsoleSession::actionFinished);
    m_session->createCredential(u"wan-backup"_s, u"password"_s,
                                { { u"password"_s, u"tr0ub4dor&3"_s } }, {});
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), 30000);
    const QList<QVariant> result = finished.constFirst();
    QCOMPARE(result.at(0).toString(), u"createCredential"_s);
    QVERIFY2(result.at(1).toBool(), qPrintable(result.at(2).toString()));
    QTRY_COMPARE_WITH_TIMEOUT(chipTextOf(m_session->credentialsModel(), u"wan-backup"_s),
                              u"✓ 3/3 synced"_s, 45000);
}

void TestConsoleIntegration::chipShownInView()
{
    QTRY_VERIFY_WITH_TIMEOUT(windowTexts(*m_engine).contains(u"✓ 3/3 synced"_s), 10000);
    QVERIFY(windowTexts(*m_engine).contains(u"wan-backup"_s));
}

int main(int argc, char *argv[])
{
    // Qt picks the platform when the application object is created.
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    TestConsoleIntegration test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_consoleintegration.moc"
