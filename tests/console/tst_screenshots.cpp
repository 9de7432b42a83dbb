// Screenshots of every console view against a real cluster on 127.0.0.1 that
// shows every chip, badge and count, checked for pixels and visible texts.
#include "clientprofile.h"
#include "consoleengine.h"
#include "consolesession.h"
#include "credentialsmodel.h"
#include "messages.h"
#include "operatorkeystore.h"
#include "scriptedagent.h"
#include "synccluster.h"
#include "trustedoperators.h"

#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>

#include <functional>
#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::synctest;
using sealrelay::models::CredentialsModel;

namespace {

constexpr int kWaitMs = 30000;
const QByteArray kPassphrase = QByteArrayLiteral("console screenshot passphrase");
const QString kCtlBinary = QStringLiteral(SEALRELAY_BINARY_DIR "/app/sealrelayctl");
const QString kScreenshotDir = QStringLiteral(SEALRELAY_BINARY_DIR "/screenshots");

bool waitUntil(const std::function<bool()> &condition, int timeoutMs = kWaitMs)
{
    return QTest::qWaitFor(condition, timeoutMs);
}

QJsonObject secret(const QString &username, const QString &password)
{
    return { { u"username"_s, username }, { u"password"_s, password } };
}

// The `secret_stored` flag of one (credential, agent) row of the backend.
bool secretStored(SyncCluster &cluster, const QString &credentialId, const QString &agentId)
{
    const QJsonObject detail = cluster.credential(credentialId);
    for (const QJsonValue &value : detail.value(u"agents"_s).toArray()) {
        const QJsonObject row = value.toObject();
        if (row.value(u"agent_id"_s).toString() == agentId)
            return row.value(u"secret_stored"_s).toBool();
    }
    return false;
}

// Texts of every visible item under `item`: the `text` property of labels,
// buttons and fields.
void collectTexts(QQuickItem *item, QStringList &texts)
{
    if (!item->isVisible())
        return;
    const QVariant text = item->property("text");
    if (text.isValid() && !text.toString().isEmpty())
        texts.append(text.toString());
    const QList<QQuickItem *> children = item->childItems();
    for (QQuickItem *child : children)
        collectTexts(child, texts);
}

// The first visible item under `item` whose `text` is `text`.
QQuickItem *findByText(QQuickItem *item, const QString &text)
{
    if (!item->isVisible())
        return nullptr;
    if (item->property("text").toString() == text)
        return item;
    const QList<QQuickItem *> children = item->childItems();
    for (QQuickItem *child : children) {
        if (QQuickItem *found = findByText(child, text))
            return found;
    }
    return nullptr;
}

// The first item under `item`, visible or not, named `name`.
QQuickItem *findByObjectName(QQuickItem *item, const QString &name)
{
    if (item->objectName() == name)
        return item;
    const QList<QQuickItem *> children = item->childItems();
    for (QQuickItem *child : children) {
        if (QQuickItem *found = findByObjectName(child, name))
            return found;
    }
    return nullptr;
}

// The number of distinct colours in a 64x64 sampling grid of `image`.
int distinctColours(const QImage &image)
{
    QSet<QRgb> colours;
    for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x)
            colours.insert(image.pixel(x * image.width() / 64, y * image.height() / 64));
    }
    return int(colours.size());
}

} // namespace

class ScreenshotsTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void credentialsView();
    void credentialDetail();
    void agentsView();
    void alertsView();
    void auditView();
    void systemView();
    void darkPalette();
    void viewShortcuts();
    void credentialKeyboard();
    void approveDialog();
    void newCredentialDialog();
    void signInPage();

private:
    bool setUpCluster();
    bool writeConsoleProfile();
    bool writeProfile(const QString &name, const QString &keyFile,
                      const QList<Ed25519PublicKey> &pinnedBesidesOwn);
    ProcessResult runCtl(const QStringList &arguments, const QByteArray &input = {});
    QString createEnrolmentToken(const QString &agentName);
    bool addRogueAgent();
    bool createUnprotectedCredential();
    bool createIntegrityFailure();
    bool createCredential(const QString &name, const QStringList &scope);
    QQuickWindow *window() const;
    // True when some credential row has a true (or non-zero) `role`.
    bool anyRow(int role) const;
    // Shows `view`, lets the scene settle, saves <name>.png and returns the
    // visible texts. Returns an empty list when the grab failed, and logs why.
    QStringList capture(const QString &view, const QString &name);

    QTemporaryDir m_home;
    std::unique_ptr<SyncCluster> m_cluster;
    ScriptedAgent m_reporter; // refuses every delivery with COMMITMENT_MISMATCH
    ScriptedAgent m_pending; // enrolled and never approved
    ScriptedAgent m_rogue; // certified by the rogue operator key, stores what it receives
    QHash<QString, QString> m_credentialIds; // name -> id
    QHash<QString, QString> m_agentIds; // name -> id
    std::unique_ptr<console::ConsoleSession> m_session;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
};

void ScreenshotsTest::initTestCase()
{
    QVERIFY(m_home.isValid());
    qputenv("HOME", QFile::encodeName(m_home.path()));
    qputenv("XDG_CONFIG_HOME", QFile::encodeName(m_home.filePath(u"config"_s)));
    qputenv("XDG_DATA_HOME", QFile::encodeName(m_home.filePath(u"data"_s)));
    qputenv("XDG_STATE_HOME", QFile::encodeName(m_home.filePath(u"state"_s)));
    qputenv("SEALRELAY_OPERATOR_PASSPHRASE", kPassphrase);
    QVERIFY(QDir().mkpath(kScreenshotDir));

    QVERIFY(setUpCluster());
    QVERIFY(writeConsoleProfile());

    m_session = std::make_unique<console::ConsoleSession>();
    m_engine = std::make_unique<QQmlApplicationEngine>();
    const Result<void> started = m_session->start(u"default"_s);
    QVERIFY2(started.ok(), qPrintable(started.ok() ? QString() : started.error().message));
    const Result<void> loaded = console::loadConsole(*m_engine, *m_session);
    QVERIFY2(loaded.ok(), qPrintable(loaded.ok() ? QString() : loaded.error().message));
    QVERIFY(window() != nullptr);

    QVERIFY2(waitUntil([this] { return m_session->state() == u"signedIn"_s; }),
             qPrintable(m_session->signInError()));
    QVERIFY2(waitUntil([this] { return m_session->operatorKeyReady(); }),
             qPrintable(m_session->operatorKeyError()));
    QVERIFY(waitUntil([this] { return m_session->connection() == u"live"_s; }));
    // The refused receipts of an integrity failure reach the console only as
    // events, so the failure happens while it is signed in.
    // NOTE: a console that signs in later shows no badge for it, because the
    // backend's credential rows list no receipt for the refusing agent.
    QVERIFY(createIntegrityFailure());
    // Every state the screenshots show has reached the models.
    QVERIFY(waitUntil([this] { return m_session->credentials()->rowCount() == 6; }));
    QVERIFY(waitUntil([this] { return m_session->pendingApprovalCount() == 1; }));
    QVERIFY(waitUntil([this] { return m_session->highestAlertSeverity() == u"critical"_s; }));
    QVERIFY(waitUntil([this] { return m_session->problemCount() == 4; }));
    QVERIFY(waitUntil([this] { return anyRow(CredentialsModel::IntegrityFailureRole); }));
    QVERIFY(waitUntil([this] { return anyRow(CredentialsModel::UnverifiedCountRole); }));
}

void ScreenshotsTest::cleanupTestCase()
{
    m_engine.reset();
    m_session.reset();
    if (m_cluster)
        m_cluster->stop();
}

// Agents dc1-agent-a, dc1-agent-b and dc2-agent-c run as real processes.
// dc2-agent-d is scripted and refuses what it receives, lab-agent-f is
// scripted and certified by an operator key the console does not pin, and
// dc3-agent-e waits for approval. Credentials:
//   core-switch-admin   a, b, c          ✓ 3/3 synced
//   bgp-md5-peering     a, b             ✓ 2/2 synced, rotated to version 2
//   edge-router-enable  a, b, c (c off)  ⚠ 2/3 synced
//   tacacs-backup       c (off)          ⏳ Pending (1)
//   snmp-ro-community   a, b, f          Unprotected, 1 unverified (rogue key)
//   radius-shared-key   a, d             Integrity failure, created after sign-in
bool ScreenshotsTest::setUpCluster()
{
    m_cluster = std::make_unique<SyncCluster>();
    const QString started = m_cluster->start();
    if (!started.isEmpty()) {
        qWarning("cluster: %s", qPrintable(started));
        return false;
    }
    for (const QString &name : { u"dc1-agent-a"_s, u"dc1-agent-b"_s, u"dc2-agent-c"_s }) {
        const QString id = m_cluster->addAgent(name);
        if (id.isEmpty()) {
            qWarning("agent %s: %s", qPrintable(name), qPrintable(m_cluster->lastError()));
            return false;
        }
        m_agentIds.insert(name, id);
    }

    m_reporter.setStoreHandler([this](const CredentialStore &delivery) {
        return std::optional<AgentMessage>(
            m_reporter.failureReply(delivery, Reason::CommitmentMismatch));
    });
    const QString reporterId = m_cluster->addScriptedAgent(m_reporter, u"dc2-agent-d"_s);
    if (reporterId.isEmpty() || !m_reporter.waitFor<Registered>(kWaitMs)) {
        qWarning("scripted agent: %s", qPrintable(m_cluster->lastError()));
        return false;
    }
    m_agentIds.insert(u"dc2-agent-d"_s, reporterId);

    const QStringList everyReal { u"dc1-agent-a"_s, u"dc1-agent-b"_s, u"dc2-agent-c"_s };
    if (!createCredential(u"core-switch-admin"_s, everyReal)
        || !createCredential(u"bgp-md5-peering"_s, { u"dc1-agent-a"_s, u"dc1-agent-b"_s }))
        return false;
    for (const QString &agent : everyReal) {
        if (!waitUntil([&] {
                return secretStored(*m_cluster, m_credentialIds.value(u"core-switch-admin"_s),
                                    m_agentIds.value(agent));
            })) {
            qWarning("core-switch-admin did not reach %s", qPrintable(agent));
            return false;
        }
    }
    const Upload rotated = m_cluster->rotateCredential(
        m_credentialIds.value(u"bgp-md5-peering"_s), secret(u"bgp"_s, u"bgp-md5-v2"_s));
    if (rotated.status != 200) {
        qWarning("rotate: %d %s", rotated.status, qPrintable(m_cluster->lastError()));
        return false;
    }

    // dc2-agent-c goes offline: what is created now waits for it.
    if (!m_cluster->stopAgent(u"dc2-agent-c"_s))
        return false;
    if (!createCredential(u"edge-router-enable"_s, everyReal)
        || !createCredential(u"tacacs-backup"_s, { u"dc2-agent-c"_s }))
        return false;

    const QString rogueKeyFile = m_home.filePath(u"rogue-operator.key"_s);
    if (!writeProfile(u"rogue"_s, rogueKeyFile, { m_cluster->operatorKey().publicKey() })
        || !addRogueAgent() || !createUnprotectedCredential())
        return false;

    // An agent that enrolled and waits for an operator's approval.
    const QString token = createEnrolmentToken(u"dc3-agent-e"_s);
    if (token.isEmpty() || !m_pending.enrol(m_cluster->backendUrl(), token, u"dc3-agent-e"_s)) {
        qWarning("pending agent: %s", qPrintable(m_pending.lastError()));
        return false;
    }
    return true;
}

bool ScreenshotsTest::createCredential(const QString &name, const QStringList &scope)
{
    const Upload upload =
        m_cluster->createCredential(name, secret(u"netops"_s, name + u"-v1"_s), scope);
    if (upload.status != 201) {
        qWarning("create %s: %d %s", qPrintable(name), upload.status,
                 qPrintable(m_cluster->lastError()));
        return false;
    }
    m_credentialIds.insert(name, upload.credentialId);
    return true;
}

QString ScreenshotsTest::createEnrolmentToken(const QString &agentName)
{
    const BackendReply reply = m_cluster->request("POST", u"/api/agents/enrolment-tokens"_s,
                                                  { { u"agent_name"_s, agentName } });
    if (reply.status != 201) {
        qWarning("creating an enrolment token for agent %s failed with status %d",
                 qPrintable(agentName), reply.status);
        return {};
    }
    return QJsonDocument::fromJson(reply.body).object().value(u"token"_s).toString();
}

// Writes profile `name`: the cluster's backend and admin token in a token
// file, an operator key file of its own (created here), and a
// trusted-operators file pinning that key and `pinnedBesidesOwn`.
bool ScreenshotsTest::writeProfile(const QString &name, const QString &keyFile,
                                   const QList<Ed25519PublicKey> &pinnedBesidesOwn)
{
    const Result<client::OperatorKey> key =
        client::OperatorKeyStore::keyFile(keyFile, kPassphrase).loadOrCreate();
    if (!key) {
        qWarning("operator key of %s: %s", qPrintable(name), qPrintable(key.error().message));
        return false;
    }
    Result<client::TrustedOperators> trusted =
        client::TrustedOperators::load(client::TrustedOperators::defaultPath(name));
    if (!trusted || !trusted->add(key->publicKey()).ok()) {
        qWarning("trusted operators of %s cannot be written", qPrintable(name));
        return false;
    }
    for (const Ed25519PublicKey &pinned : pinnedBesidesOwn) {
        if (!trusted->add(pinned).ok())
            return false;
    }

    client::Profile profile;
    profile.name = name;
    profile.backendUrl = m_cluster->backendUrl();
    profile.orgId = m_cluster->orgId();
    profile.tokenFile = m_home.filePath(name + u"-token"_s);
    profile.operatorKeyFile = keyFile;
    const Result<void> stored = client::storeToken(profile, m_cluster->adminToken().toUtf8());
    const Result<void> saved = stored ? profile.save() : stored;
    if (!saved) {
        qWarning("profile %s: %s", qPrintable(name), qPrintable(saved.error().message));
        return false;
    }
    return true;
}

// Profile "default" is the console's: it pins its own key and the cluster's
// operator key, and not the rogue key.
bool ScreenshotsTest::writeConsoleProfile()
{
    return writeProfile(u"default"_s, m_home.filePath(u"console-operator.key"_s),
                        { m_cluster->operatorKey().publicKey() });
}

// Runs sealrelayctl with `input` on standard input. exitCode is -1 when it
// crashed or did not finish within 60 s.
ProcessResult ScreenshotsTest::runCtl(const QStringList &arguments, const QByteArray &input)
{
    QProcess ctl;
    ctl.setProcessEnvironment(QProcessEnvironment::systemEnvironment());
    ctl.start(kCtlBinary, arguments);
    ctl.write(input);
    ctl.closeWriteChannel();
    ProcessResult result;
    if (ctl.waitForFinished(60000) && ctl.exitStatus() == QProcess::NormalExit)
        result.exitCode = ctl.exitCode();
    else
        ctl.kill();
    result.out = QString::fromUtf8(ctl.readAllStandardOutput());
    result.err = QString::fromUtf8(ctl.readAllStandardError());
    if (result.exitCode != 0)
        qWarning("sealrelayctl %s: exit %d: %s %s", qPrintable(arguments.join(u' ')),
                 result.exitCode, qPrintable(result.out), qPrintable(result.err));
    return result;
}

// lab-agent-f: enrolled, then approved with `sealrelayctl agent approve`
// under profile "rogue". The backend accepts its certificate and receipts,
// but the console cannot verify them, so what it stores counts as unverified.
bool ScreenshotsTest::addRogueAgent()
{
    m_rogue.setAutoStore(true);
    const QString token = createEnrolmentToken(u"lab-agent-f"_s);
    if (token.isEmpty() || !m_rogue.enrol(m_cluster->backendUrl(), token, u"lab-agent-f"_s)) {
        qWarning("rogue agent enrol: %s", qPrintable(m_rogue.lastError()));
        return false;
    }
    const ProcessResult approved =
        runCtl({ u"agent"_s, u"approve"_s, m_rogue.agentId(), u"--fingerprint"_s,
                 m_rogue.identity().fingerprint(), u"--profile"_s, u"rogue"_s });
    if (approved.exitCode != 0 || !m_rogue.authenticate()) {
        qWarning("rogue agent approval: %s", qPrintable(m_rogue.lastError()));
        return false;
    }
    m_rogue.sendRegister(RegisterMode::FirstRegistration);
    if (!m_rogue.waitFor<Registered>(kWaitMs))
        return false;
    m_agentIds.insert(u"lab-agent-f"_s, m_rogue.agentId());
    return true;
}

// Uploads snmp-ro-community with sealrelayctl under profile "rogue". The real
// agents reject it with UNTRUSTED_OPERATOR, and lab-agent-f stores it.
bool ScreenshotsTest::createUnprotectedCredential()
{
    const QStringList scope { m_agentIds.value(u"dc1-agent-a"_s),
                              m_agentIds.value(u"dc1-agent-b"_s),
                              m_agentIds.value(u"lab-agent-f"_s) };
    const ProcessResult created = runCtl(
        { u"credential"_s, u"create"_s, u"snmp-ro-community"_s, u"--kind"_s, u"snmp_community"_s,
          u"--agents"_s, scope.join(u','), u"--profile"_s, u"rogue"_s, u"--json"_s },
        QJsonDocument(QJsonObject { { u"community"_s, u"public-ro"_s } }).toJson());
    if (created.exitCode != 0)
        return false;
    const QString id = QJsonDocument::fromJson(created.out.toUtf8())
                           .object()
                           .value(u"credential_id"_s)
                           .toString();
    m_credentialIds.insert(u"snmp-ro-community"_s, id);
    return waitUntil([&] { return secretStored(*m_cluster, id, m_rogue.agentId()); });
}

// Creates radius-shared-key for dc1-agent-a and dc2-agent-d, which refuses
// its delivery with COMMITMENT_MISMATCH, and waits for the critical alert.
bool ScreenshotsTest::createIntegrityFailure()
{
    if (!createCredential(u"radius-shared-key"_s, { u"dc1-agent-a"_s, u"dc2-agent-d"_s }))
        return false;
    return waitUntil([this] {
        return !m_cluster->alerts(u"credential_commitment_mismatch"_s).isEmpty();
    });
}

bool ScreenshotsTest::anyRow(int role) const
{
    const CredentialsModel &model = m_session->credentialsModel();
    for (int row = 0; row < model.rowCount(); ++row) {
        if (model.data(model.index(row), role).toInt() > 0)
            return true;
    }
    return false;
}

QQuickWindow *ScreenshotsTest::window() const
{
    const QList<QObject *> roots = m_engine->rootObjects();
    return roots.isEmpty() ? nullptr : qobject_cast<QQuickWindow *>(roots.constFirst());
}

QStringList ScreenshotsTest::capture(const QString &view, const QString &name)
{
    QQuickWindow *root = window();
    if (!view.isEmpty())
        root->setProperty("currentView", view);
    // Rows flash for about 1.5 s after a change; the wait lets them settle.
    QTest::qWait(1800);
    const QImage image = root->grabWindow();
    if (image.isNull()) {
        qWarning("grabWindow returned a null image for %s", qPrintable(name));
        return {};
    }
    if (distinctColours(image) < 8) {
        qWarning("%s is nearly blank: %d colours", qPrintable(name), distinctColours(image));
        return {};
    }
    if (!image.save(kScreenshotDir + u"/"_s + name + u".png"_s)) {
        qWarning("%s could not be saved", qPrintable(name));
        return {};
    }
    QStringList texts;
    collectTexts(root->contentItem(), texts);
    return texts;
}

void ScreenshotsTest::credentialsView()
{
    m_session->setSelectedCredentialId(QString());
    const QStringList texts = capture(u"credentials"_s, u"credentials"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"core-switch-admin"_s), qPrintable(all));
    QVERIFY2(all.contains(u"✓ 3/3 synced"_s), qPrintable(all));
    QVERIFY2(all.contains(u"⚠ 2/3 synced"_s), qPrintable(all));
    QVERIFY2(all.contains(u"⏳ Pending (1)"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Integrity failure"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Unprotected"_s), qPrintable(all));
    QVERIFY2(all.contains(u"1 unverified"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Live"_s), qPrintable(all));
}

void ScreenshotsTest::credentialDetail()
{
    m_session->setSelectedCredentialId(m_credentialIds.value(u"edge-router-enable"_s));
    QVERIFY(waitUntil([this] { return m_session->credentialAgents()->rowCount() == 3; }));
    const QStringList texts = capture(u"credentials"_s, u"credential-detail"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"dc2-agent-c"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Retry"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Rotate…"_s), qPrintable(all));
    QVERIFY2(all.contains(u"trusted operator key"_s), qPrintable(all));
}

void ScreenshotsTest::agentsView()
{
    const QStringList texts = capture(u"agents"_s, u"agents"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"dc3-agent-e"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Approve…"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Pending approval"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Offline"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Online"_s), qPrintable(all));
}

void ScreenshotsTest::alertsView()
{
    const QStringList texts = capture(u"alerts"_s, u"alerts"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"Critical"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Credential integrity failure"_s), qPrintable(all));
    QVERIFY2(all.contains(u"pinned until acknowledged"_s), qPrintable(all));
}

void ScreenshotsTest::auditView()
{
    m_session->verifyAudit();
    QVERIFY(waitUntil([this] {
        return m_session->auditVerification().value(u"checked"_s).toBool();
    }));
    const QStringList texts = capture(u"audit"_s, u"audit"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"Verified up to row"_s), qPrintable(all));
    QVERIFY2(all.contains(u"dispatch"_s), qPrintable(all));

    // The event filter offers "any event" and every event the backend writes.
    QQuickItem *eventFilter = findByObjectName(window()->contentItem(), u"auditEventFilter"_s);
    QVERIFY(eventFilter);
    QCOMPARE(eventFilter->property("count").toInt(), int(auditEventNames().size()) + 1);
    QCOMPARE(eventFilter->property("currentText").toString(), u"Any event"_s);
    int index = -1;
    QVERIFY(QMetaObject::invokeMethod(eventFilter, "find", Q_RETURN_ARG(int, index),
                                      Q_ARG(QString, u"agent_auth_failed"_s)));
    QVERIFY(index > 0);
}

void ScreenshotsTest::systemView()
{
    m_session->refreshSystem();
    QVERIFY(waitUntil([this] { return !m_session->system().isEmpty(); }));
    const QStringList texts = capture(u"system"_s, u"system"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"Coordination"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Replicas"_s), qPrintable(all));
}

void ScreenshotsTest::darkPalette()
{
    QVERIFY(QMetaObject::invokeMethod(window(), "setDarkPalette", Q_ARG(QVariant, true)));
    m_session->setSelectedCredentialId(m_credentialIds.value(u"radius-shared-key"_s));
    const QStringList texts = capture(u"credentials"_s, u"credentials-dark"_s);
    QVERIFY(QMetaObject::invokeMethod(window(), "setDarkPalette", Q_ARG(QVariant, false)));
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"radius-shared-key"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Integrity failure"_s), qPrintable(all));
}

// Ctrl+1 to Ctrl+5 switch the view.
void ScreenshotsTest::viewShortcuts()
{
    QQuickWindow *root = window();
    root->requestActivate();
    const QStringList views { u"credentials"_s, u"agents"_s, u"alerts"_s, u"audit"_s,
                              u"system"_s };
    for (int i = views.size() - 1; i >= 0; --i) {
        QTest::keyClick(root, Qt::Key(Qt::Key_1 + i), Qt::ControlModifier);
        QCOMPARE(root->property("currentView").toString(), views.at(i));
    }
}

// In the credentials list, Down moves to the next row, Enter opens its
// detail pane and Escape closes it.
void ScreenshotsTest::credentialKeyboard()
{
    window()->setProperty("currentView", u"credentials"_s);
    m_session->setSelectedCredentialId(QString());
    QQuickItem *list = findByObjectName(window()->contentItem(), u"credentialList"_s);
    QVERIFY(list != nullptr);
    list->setProperty("currentIndex", 0);
    list->forceActiveFocus();
    QVERIFY(list->hasActiveFocus());

    QTest::keyClick(window(), Qt::Key_Down);
    QTest::keyClick(window(), Qt::Key_Return);
    const QAbstractItemModel *model = m_session->credentials();
    const QString second = model->data(model->index(1, 0), Qt::UserRole + 1).toString();
    QVERIFY(!second.isEmpty());
    QCOMPARE(m_session->selectedCredentialId(), second);

    QTest::keyClick(window(), Qt::Key_Escape);
    QCOMPARE(m_session->selectedCredentialId(), QString());
}

// Approve… on the pending agent opens the dialog; typed digits are checked
// as they are typed, and Escape closes it without approving.
void ScreenshotsTest::approveDialog()
{
    window()->setProperty("currentView", u"agents"_s);
    QQuickItem *approve = findByText(window()->contentItem(), u"Approve…"_s);
    QVERIFY(approve != nullptr);
    QVERIFY(QMetaObject::invokeMethod(approve, "clicked"));
    QVERIFY(waitUntil([this] {
        return findByText(window()->contentItem(), u"Approve dc3-agent-e"_s) != nullptr;
    }));
    for (const char key : QByteArrayLiteral("abcd 1234"))
        QTest::keyClick(window(), key);
    const QStringList texts = capture(QString(), u"approve-dialog"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"sealrelay-agent fingerprint"_s), qPrintable(all));
    QVERIFY2(all.contains(u"8 hex digits typed: type at least 16."_s), qPrintable(all));

    QTest::keyClick(window(), Qt::Key_Escape);
    QVERIFY(waitUntil([this] {
        return findByText(window()->contentItem(), u"Approve dc3-agent-e"_s) == nullptr;
    }));
    QCOMPARE(m_session->pendingApprovalCount(), 1);
}

// New credential… opens the form with secret fields and the scope choice.
void ScreenshotsTest::newCredentialDialog()
{
    window()->setProperty("currentView", u"credentials"_s);
    m_session->setSelectedCredentialId(QString());
    QQuickItem *create = findByText(window()->contentItem(), u"New credential…"_s);
    QVERIFY(create != nullptr);
    QVERIFY(QMetaObject::invokeMethod(create, "clicked"));
    QVERIFY(waitUntil([this] {
        return findByText(window()->contentItem(), u"All agents, including agents approved later"_s)
            != nullptr;
    }));
    const QStringList texts = capture(QString(), u"new-credential-dialog"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"Chosen agents only"_s), qPrintable(all));
    QVERIFY2(all.contains(u"Show values"_s), qPrintable(all));

    // "Chosen agents only" shows one check box per approved agent, which the
    // scope editor creates only while they are shown.
    QQuickItem *chosenOnly = findByText(window()->contentItem(), u"Chosen agents only"_s);
    QVERIFY(chosenOnly != nullptr);
    QVERIFY(QMetaObject::invokeMethod(chosenOnly, "toggled"));
    const auto agentBoxShown = [this] {
        QStringList visibleTexts;
        collectTexts(window()->contentItem(), visibleTexts);
        for (const QString &text : std::as_const(visibleTexts)) {
            if (text.startsWith(u"dc1-agent-a"_s))
                return true;
        }
        return false;
    };
    QVERIFY(waitUntil(agentBoxShown, 5000));

    QTest::keyClick(window(), Qt::Key_Escape);
    QVERIFY(waitUntil([this] {
        return findByText(window()->contentItem(), u"Chosen agents only"_s) == nullptr;
    }));
}

// Signs out, then fails a sign-in with a wrong token so the page shows its
// error sentence.
void ScreenshotsTest::signInPage()
{
    m_session->signOut();
    QVERIFY(waitUntil([this] { return m_session->state() == u"signedOut"_s; }));
    m_session->signIn(m_cluster->backendUrl(), u"sr_wrong-token"_s, false);
    QVERIFY(waitUntil([this] { return !m_session->signInError().isEmpty(); }));
    const QStringList texts = capture(QString(), u"sign-in"_s);
    QVERIFY(!texts.isEmpty());
    const QString all = texts.join(u'\n');
    QVERIFY2(all.contains(u"Remember token in the system keychain"_s), qPrintable(all));
    QVERIFY2(all.contains(m_session->signInError()), qPrintable(all));
}

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    QQuickStyle::setStyle(u"Fusion"_s);
    ScreenshotsTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_screenshots.moc"
