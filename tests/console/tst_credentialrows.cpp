// CredentialRow delegates in a ListView that reuses them (reuseItems, as
// CredentialsView sets it), offscreen: a row taken from the pool or given
// another credential shows it without the flash, and a change of a shown
// credential still flashes.
#include "consolesession.h"
#include "credentialsmodel.h"

#include <QDateTime>
#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QQmlComponent>
#include <QQmlContext>
#include <QQmlEngine>
#include <QQuickItem>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QStandardItemModel>
#include <QtTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;

namespace {

const QString kScreenshotDir = QStringLiteral(SEALRELAY_BINARY_DIR "/screenshots");

using enum sealrelay::models::CredentialsModel::Role;

const char kListQml[] = R"(
import QtQuick
import QtQuick.Controls
import Sealrelay.Console

Window {
    id: root
    property int created: 0
    width: 1024
    height: 480
    visible: true
    color: Theme.surface

    ListView {
        objectName: "list"
        anchors.fill: parent
        clip: true
        model: rowsModel
        reuseItems: true

        delegate: CredentialRow {
            width: ListView.view.width
            columnWidths: ({ kind: 110, version: 60, scope: 110, chip: 180,
                             badges: 200, lastChange: 100 })
            Component.onCompleted: ++root.created
        }
    }
}
)";

QList<QStandardItem *> makeRow(int n)
{
    auto *item = new QStandardItem;
    const QString id = u"cred-%1"_s.arg(n, 4, 10, QLatin1Char('0'));
    item->setData(id, CredentialIdRole);
    item->setData(u"credential-%1"_s.arg(n), NameRole);
    item->setData(u"password"_s, KindRole);
    item->setData(1, VersionRole);
    item->setData(1, RevisionRole);
    item->setData(u"auto_all"_s, ScopeRole);
    // Rows differ in their chip, so a reused row takes other values.
    item->setData(n % 2, ChipRole);
    item->setData(n % 2 == 0 ? u"✓ 3/3 synced"_s : u"⚠ 2/3 synced"_s, ChipTextRole);
    item->setData(0, UnverifiedCountRole);
    item->setData(n % 5 == 0, IntegrityFailureRole);
    item->setData(false, UnprotectedRole);
    item->setData(n % 3 == 0, StalledRole);
    item->setData(QDateTime::currentDateTime(), LastChangeRole);
    item->setData(n % 5 == 0 ? QStringList { u"Integrity failure"_s } : QStringList {}, BadgesRole);
    return { item };
}

} // namespace

class CredentialRowsTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void reusedRowsDoNotFlash();
    void resortedRowsDoNotFlash();
    void changedRowFlashes();
    void changedRowsFlashTogether();

private:
    // The CredentialRow delegates the list shows now.
    QList<QQuickItem *> visibleRows() const;
    // The rows whose flash overlay is not fully transparent.
    QStringList flashingRows() const;

    std::unique_ptr<sealrelay::console::ConsoleSession> m_session;
    std::unique_ptr<QQmlEngine> m_engine;
    std::unique_ptr<QStandardItemModel> m_model;
    std::unique_ptr<QObject> m_root;
    QQuickWindow *m_window = nullptr;
    QQuickItem *m_list = nullptr;
    int m_made = 0;
};

void CredentialRowsTest::initTestCase()
{
    QQuickStyle::setStyle(u"Fusion"_s);
    // CredentialRow reads Session.selectedCredentialId. A session that is
    // not started has none.
    m_session = std::make_unique<sealrelay::console::ConsoleSession>();
    qmlRegisterSingletonInstance("Sealrelay.Backend", 1, 0, "Session", m_session.get());
    // A singleton instance serves one engine, so every test shares this one.
    m_engine = std::make_unique<QQmlEngine>();
    m_engine->addImportPath(u"qrc:/"_s);
    QDir().mkpath(kScreenshotDir);
}

void CredentialRowsTest::init()
{
    m_model = std::make_unique<QStandardItemModel>();
    m_model->setItemRoleNames(sealrelay::models::CredentialsModel::roleNameTable());
    for (m_made = 0; m_made < 100; ++m_made)
        m_model->appendRow(makeRow(m_made));

    m_engine->rootContext()->setContextProperty(u"rowsModel"_s, m_model.get());
    QQmlComponent component(m_engine.get());
    component.setData(kListQml, QUrl(u"qrc:/tst_credentialrows/List.qml"_s));
    m_root.reset(component.create());
    QVERIFY2(m_root, qPrintable(component.errorString()));
    m_window = qobject_cast<QQuickWindow *>(m_root.get());
    QVERIFY(m_window);
    m_list = m_root->findChild<QQuickItem *>(u"list"_s);
    QVERIFY(m_list);
    QVERIFY(QTest::qWaitForWindowExposed(m_window));
    QTRY_VERIFY(!visibleRows().isEmpty());
}

void CredentialRowsTest::cleanup()
{
    m_root.reset();
    m_model.reset();
    m_window = nullptr;
    m_list = nullptr;
}

QList<QQuickItem *> CredentialRowsTest::visibleRows() const
{
    QList<QQuickItem *> rows;
    auto *contentItem = m_list->property("contentItem").value<QQuickItem *>();
    if (!contentItem)
        return rows;
    const QList<QQuickItem *> children = contentItem->childItems();
    for (QQuickItem *child : children) {
        if (child->isVisible() && child->property("credentialId").isValid())
            rows.append(child);
    }
    return rows;
}

QStringList CredentialRowsTest::flashingRows() const
{
    QStringList flashing;
    const QList<QQuickItem *> rows = visibleRows();
    for (QQuickItem *row : rows) {
        auto *overlay = row->findChild<QQuickItem *>(u"flashOverlay"_s);
        if (overlay && overlay->opacity() > 0)
            flashing.append(row->property("name").toString());
    }
    return flashing;
}

void CredentialRowsTest::reusedRowsDoNotFlash()
{
    const int shownRows = int(visibleRows().size());
    QVERIFY2(shownRows >= 8, qPrintable(u"only %1 rows shown"_s.arg(shownRows)));
    QVERIFY(flashingRows().isEmpty());

    // Rows inserted at the top push the shown ones out of the view, into the
    // pool. The view creates the rows of the first insert before it pools
    // the old ones, and takes rows from the pool for the later inserts.
    int createdBefore = 0;
    for (int round = 0; round < 3; ++round) {
        if (round == 1)
            createdBefore = m_root->property("created").toInt();
        for (int i = 0; i < 25; ++i)
            m_model->insertRow(0, makeRow(m_made++));
        // The flash reaches its full opacity after 120 ms.
        QTest::qWait(200);
        const QStringList flashing = flashingRows();
        QVERIFY2(flashing.isEmpty(),
                 qPrintable(
                     u"round %1: reused rows flash: %2"_s.arg(round).arg(flashing.join(u", "_s))));
    }
    const int created = m_root->property("created").toInt() - createdBefore;
    QVERIFY2(created < shownRows / 2,
             qPrintable(u"%1 rows created in two inserts with %2 rows shown: the view did not "
                        "reuse them"_s.arg(created)
                            .arg(shownRows)));

    // Row 0 shows the newest credential.
    QQuickItem *top = nullptr;
    for (QQuickItem *row : visibleRows()) {
        if (row->property("index").toInt() == 0)
            top = row;
    }
    QVERIFY(top);
    QCOMPARE(top->property("name").toString(), u"credential-%1"_s.arg(m_made - 1));

    const QImage image = m_window->grabWindow();
    QVERIFY(!image.isNull());
    QVERIFY(image.save(kScreenshotDir + u"/credential-rows-reused.png"_s));
}

void CredentialRowsTest::resortedRowsDoNotFlash()
{
    QVERIFY(flashingRows().isEmpty());

    // CredentialsModel reports re-sorted rows as changed data: rows 3 and 4
    // swap their credentials, which differ in chip, badges and stalled. A
    // QStandardItemModel emits dataChanged for each role it sets.
    const QList<QStandardItem *> third = makeRow(3);
    const QList<QStandardItem *> fourth = makeRow(4);
    QStandardItem *row3 = m_model->item(3);
    QStandardItem *row4 = m_model->item(4);
    for (int role = CredentialIdRole; role <= BadgesRole; ++role) {
        row3->setData(fourth.constFirst()->data(role), role);
        row4->setData(third.constFirst()->data(role), role);
    }
    qDeleteAll(third);
    qDeleteAll(fourth);

    QTest::qWait(200);
    const QStringList flashing = flashingRows();
    QVERIFY2(flashing.isEmpty(),
             qPrintable(u"rows that show another credential flash: "_s + flashing.join(u", "_s)));

    // A later change of a swapped row's own credential flashes it.
    row3->setData(u"⚠ 1/3 synced"_s, ChipTextRole);
    QTRY_COMPARE_WITH_TIMEOUT(flashingRows(), QStringList { u"credential-4"_s }, 1000);
}

void CredentialRowsTest::changedRowFlashes()
{
    QVERIFY(flashingRows().isEmpty());
    QStandardItem *item = m_model->item(2);
    const QString name = item->data(NameRole).toString();
    item->setData(item->data(ChipRole).toInt() == 0 ? u"⚠ 2/3 synced"_s : u"✓ 3/3 synced"_s,
                  ChipTextRole);
    QTRY_COMPARE_WITH_TIMEOUT(flashingRows(), QStringList { name }, 1000);
}

void CredentialRowsTest::changedRowsFlashTogether()
{
    QVERIFY(flashingRows().isEmpty());
    m_model->item(1)->setData(5, VersionRole);
    m_model->item(6)->setData(5, VersionRole);
    QStringList expected { u"credential-1"_s, u"credential-6"_s };
    QTRY_VERIFY_WITH_TIMEOUT(flashingRows().size() == 2, 1000);
    QStringList flashing = flashingRows();
    flashing.sort();
    QCOMPARE(flashing, expected);
}

QTEST_MAIN(CredentialRowsTest)
#include "tst_credentialrows.moc"
