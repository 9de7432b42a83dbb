// ConsoleSession against a real backend and real agents on 127.0.0.1: sign-in
// from a sealrelayctl profile, refused tokens, approval by typed fingerprint,
// credential creation, retry cooldown, alerts, audit pages and verification,
// and the event feed across a backend restart.
#include "agentsmodel.h"
#include "alertsmodel.h"
#include "auditmodel.h"
#include "backendprocess.h"
#include "clientfiles.h"
#include "clientprofile.h"
#include "consolesession.h"
#include "consoletestsupport.h"
#include "credentialsmodel.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

using namespace Qt::Literals::StringLiterals;
using sealrelay::console::ConsoleSession;
namespace client = sealrelay::client;
using sealrelay::consoletest::ConsoleFixture;

namespace {

struct ActionResult {
    bool ok = false;
    QString message;
    QString detail;
};

// Calls `trigger` and waits for the actionFinished of `action`.
std::optional<ActionResult> runAction(ConsoleSession &session, const QString &action,
                                      const std::function<void()> &trigger, int timeoutMs = 30000)
{
    QSignalSpy spy(&session, &ConsoleSession::actionFinished);
    trigger();
    QDeadlineTimer deadline(timeoutMs);
    qsizetype seen = 0;
    while (!deadline.hasExpired()) {
        for (; seen < spy.size(); ++seen) {
            const QList<QVariant> &arguments = spy.at(seen);
            if (arguments.at(0).toString() == action)
                return ActionResult { arguments.at(1).toBool(), arguments.at(2).toString(),
                                      arguments.at(3).toString() };
        }
        spy.wait(200);
    }
    return std::nullopt;
}

// The row of `credentialId` in the credentials model, or -1.
int credentialRow(const sealrelay::models::CredentialsModel &model, const QString &credentialId)
{
    for (int row = 0; row < model.rowCount(); ++row) {
        if (model.index(row).data(sealrelay::models::CredentialsModel::CredentialIdRole).toString()
            == credentialId)
            return row;
    }
    return -1;
}

QString chipText(const sealrelay::models::CredentialsModel &model, const QString &credentialId)
{
    const int row = credentialRow(model, credentialId);
    return row < 0
        ? QString()
        : model.index(row).data(sealrelay::models::CredentialsModel::ChipTextRole).toString();
}

QString agentStatus(const sealrelay::models::AgentsModel &model, const QString &agentId)
{
    using sealrelay::models::AgentsModel;
    for (int row = 0; row < model.rowCount(); ++row) {
        const QModelIndex index = model.index(row);
        if (index.data(AgentsModel::AgentIdRole).toString() == agentId)
            return index.data(AgentsModel::StatusTextRole).toString();
    }
    return {};
}

} // namespace

class TestConsoleSession : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void signInFromProfile();
    void wrongTokenSignsOut();
    void unreachableBackend();
    void signInTrustsProfileCa();
    void operatorKeyWithoutPassphrase();
    void approveRejectsWrongFingerprint();
    void approveRejectsShortFingerprint();
    void approveWithTypedFingerprint();
    void createCredentialSyncs();
    void selectionShowsStatement();
    void retryCooldown();
    void acknowledgeAlert();
    void auditPages();
    void auditFilter();
    void auditVerify();
    void systemStatus();
    void idleFeedStaysLive();
    void feedReconnectsAfterRestart();
    void revokedTokenSignsOut();

private:
    ConsoleFixture m_fixture;
    std::unique_ptr<ConsoleSession> m_session;
    QString m_credentialId;
};

void TestConsoleSession::initTestCase()
{
    const QString started = m_fixture.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    QVERIFY2(!m_fixture.cluster().addAgent(u"edge-1"_s).isEmpty(),
             qPrintable(m_fixture.cluster().lastError()));
    m_session = std::make_unique<ConsoleSession>();
}

void TestConsoleSession::cleanupTestCase()
{
    m_session.reset();
}

void TestConsoleSession::signInFromProfile()
{
    QSignalSpy connection(m_session.get(), &ConsoleSession::connectionChanged);
    QVERIFY(m_session->start(QString(sealrelay::consoletest::kProfile)).ok());
    QCOMPARE(m_session->profile(), QString(sealrelay::consoletest::kProfile));
    QCOMPARE(m_session->backendUrl(), m_fixture.cluster().backendUrl());
    QTRY_COMPARE_WITH_TIMEOUT(m_session->state(), u"signedIn"_s, 15000);
    QVERIFY(m_session->signInError().isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(m_session->connection(), u"live"_s, 15000);
    QVERIFY(m_session->lastEventAt().isValid());
    QTRY_VERIFY_WITH_TIMEOUT(m_session->operatorKeyReady(), 15000);
    QVERIFY(m_session->operatorKeyError().isEmpty());
    QVERIFY(!m_session->operatorFingerprint().isEmpty());
    // The snapshot lists the cluster's approved agent.
    QTRY_COMPARE_WITH_TIMEOUT(m_session->agentsModel().rowCount(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->agentChoices().size(), 1, 5000);
    QCOMPARE(m_session->agentName(m_fixture.cluster().agentId(u"edge-1"_s)), u"edge-1"_s);
    QVERIFY(m_session->banner().isEmpty());
}

void TestConsoleSession::wrongTokenSignsOut()
{
    ConsoleSession other;
    QSignalSpy state(&other, &ConsoleSession::stateChanged);
    const std::optional<ActionResult> result = runAction(other, u"signIn"_s, [&] {
        other.signIn(m_fixture.cluster().backendUrl(), u"srt_not-a-token"_s, false);
    });
    QVERIFY(result.has_value());
    QVERIFY(!result->ok);
    QCOMPARE(other.state(), u"signedOut"_s);
    QVERIFY2(other.signInError().contains(u"refused the token"_s), qPrintable(other.signInError()));
    QVERIFY(other.signInError().contains(u"sealrelayctl token create"_s));
    QVERIFY(other.signInError().contains(m_fixture.cluster().backendUrl()));
    QCOMPARE(other.connection(), u"offline"_s);
    // It went through signingIn on the way.
    QVERIFY(state.size() >= 2);
}

void TestConsoleSession::unreachableBackend()
{
    ConsoleSession other;
    const QString url = u"http://127.0.0.1:%1"_s.arg(BackendProcess::freePort());
    const std::optional<ActionResult> result =
        runAction(other, u"signIn"_s, [&] { other.signIn(url, u"srt_anything"_s, false); });
    QVERIFY(result.has_value());
    QVERIFY(!result->ok);
    QCOMPARE(other.state(), u"signedOut"_s);
    QVERIFY2(other.signInError().contains(u"cannot be reached"_s), qPrintable(other.signInError()));

    other.signIn(u"ftp://127.0.0.1:1"_s, u"srt_anything"_s, false);
    QCOMPARE(other.state(), u"signedOut"_s);
    QVERIFY(other.signInError().contains(u"https://HOST:PORT"_s));
}

// A backend whose certificate a private CA issued: the console trusts the CA
// that the profile names (sealrelayctl login --ca-file), for the REST calls
// and for the wss event feed.
void TestConsoleSession::signInTrustsProfileCa()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString pki = dir.filePath(u"pki"_s);
    BackendProcess backend;
    const QString started = backend.startWithTestPki(dir.filePath(u"backend"_s), pki);
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const QString caFile = QDir(pki).filePath(u"ca.pem"_s);

    client::Profile profile;
    profile.name = u"tls-console"_s;
    profile.backendUrl = backend.baseUrl();
    profile.orgId =
        backend.request("GET", u"/api/audit/verify"_s).json.value(u"org_id"_s).toString();
    profile.tokenFile = dir.filePath(u"token"_s);
    profile.caFile = dir.filePath(u"not-a-ca.txt"_s);
    const QByteArray tokenLine = backend.adminToken().toLatin1() + '\n';
    QVERIFY(client::writePrivateFile(profile.tokenFile, tokenLine, client::WriteMode::Replace).ok());
    QVERIFY(client::writePrivateFile(profile.caFile, "not a certificate\n",
                                     client::WriteMode::Replace)
                .ok());
    QVERIFY(profile.save().ok());

    // A CA file without a certificate stops the sign-in with its reason.
    {
        ConsoleSession session;
        QVERIFY(session.start(profile.name).ok());
        QTRY_VERIFY_WITH_TIMEOUT(session.signInError().contains(u"contains no PEM certificate"_s),
                                 15000);
        QCOMPARE(session.state(), u"signedOut"_s);
    }

    profile.caFile = caFile;
    QVERIFY(profile.save().ok());
    ConsoleSession session;
    QVERIFY(session.start(profile.name).ok());
    QTRY_COMPARE_WITH_TIMEOUT(session.state(), u"signedIn"_s, 15000);
    QVERIFY2(session.signInError().isEmpty(), qPrintable(session.signInError()));
    QTRY_COMPARE_WITH_TIMEOUT(session.connection(), u"live"_s, 15000);
    backend.stop();
}

void TestConsoleSession::operatorKeyWithoutPassphrase()
{
    const QByteArray passphrase = qgetenv("SEALRELAY_OPERATOR_PASSPHRASE");
    qunsetenv("SEALRELAY_OPERATOR_PASSPHRASE");
    ConsoleSession other;
    QVERIFY(other.start(QString(sealrelay::consoletest::kProfile)).ok());
    QTRY_VERIFY_WITH_TIMEOUT(!other.operatorKeyError().isEmpty(), 5000);
    qputenv("SEALRELAY_OPERATOR_PASSPHRASE", passphrase);
    QVERIFY(!other.operatorKeyReady());
    QVERIFY2(other.operatorKeyError().contains(u"SEALRELAY_OPERATOR_PASSPHRASE"_s),
             qPrintable(other.operatorKeyError()));
    QTRY_COMPARE_WITH_TIMEOUT(other.state(), u"signedIn"_s, 15000);
    const std::optional<ActionResult> result = runAction(other, u"createCredential"_s, [&] {
        other.createCredential(u"never"_s, u"password"_s, { { u"password"_s, u"x"_s } }, {});
    });
    QVERIFY(result.has_value());
    QVERIFY(!result->ok);
    QCOMPARE(result->message, other.operatorKeyError());

    // The passphrase typed in the console opens the key file instead.
    const std::optional<ActionResult> wrong = runAction(
        other, u"unlockOperatorKey"_s, [&] { other.unlockOperatorKey(u"not the passphrase"_s); });
    QVERIFY(wrong.has_value());
    QVERIFY(!wrong->ok);
    QVERIFY2(wrong->message.contains(u"did not open"_s), qPrintable(wrong->message));
    QVERIFY(!other.operatorKeyReady());
    const std::optional<ActionResult> right = runAction(other, u"unlockOperatorKey"_s, [&] {
        other.unlockOperatorKey(QString::fromUtf8(passphrase));
    });
    QVERIFY(right.has_value());
    QVERIFY2(right->ok, qPrintable(right->message));
    QVERIFY(other.operatorKeyReady());
    QVERIFY(other.operatorKeyError().isEmpty());
    QCOMPARE(other.operatorFingerprint(), m_session->operatorFingerprint());
}

void TestConsoleSession::approveRejectsWrongFingerprint()
{
    const std::optional<ActionResult> token = runAction(*m_session, u"createEnrolmentToken"_s, [&] {
        m_session->createEnrolmentToken(u"edge-pending"_s);
    });
    QVERIFY(token.has_value());
    QVERIFY2(token->ok, qPrintable(token->message));
    QVERIFY(!token->detail.isEmpty());
    QVERIFY(token->message.contains(u"sealrelay-agent init"_s));
    const QString enrolled = m_fixture.enrolPendingAgent(u"edge-pending"_s, token->detail);
    QVERIFY2(enrolled.isEmpty(), qPrintable(enrolled));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->pendingApprovalCount(), 1, 10000);

    const sealrelay::consoletest::PendingAgent &agent = m_fixture.pendingAgent(u"edge-pending"_s);
    // 16 hex digits that are not a prefix of the agent's fingerprint.
    QString wrong = agent.fingerprint.left(16);
    wrong[0] = wrong[0] == u'0' ? u'1' : u'0';
    const std::optional<ActionResult> result = runAction(
        *m_session, u"approveAgent"_s, [&] { m_session->approveAgent(agent.agentId, wrong); });
    QVERIFY(result.has_value());
    QVERIFY(!result->ok);
    QVERIFY2(result->message.contains(u"does not match"_s), qPrintable(result->message));
    QVERIFY(result->message.contains(u"Nothing was signed"_s));
    QCOMPARE(m_fixture.cluster().agent(u"edge-pending"_s).value(u"status"_s).toString(),
             u"pending_approval"_s);
    QVERIFY(!m_session->busy());
}

void TestConsoleSession::approveRejectsShortFingerprint()
{
    const sealrelay::consoletest::PendingAgent &agent = m_fixture.pendingAgent(u"edge-pending"_s);
    const std::optional<ActionResult> result = runAction(*m_session, u"approveAgent"_s, [&] {
        m_session->approveAgent(agent.agentId, agent.fingerprint.left(8));
    });
    QVERIFY(result.has_value());
    QVERIFY(!result->ok);
    QVERIFY2(result->message.contains(u"16 hex digits"_s), qPrintable(result->message));
    QCOMPARE(m_fixture.cluster().agent(u"edge-pending"_s).value(u"status"_s).toString(),
             u"pending_approval"_s);
}

void TestConsoleSession::approveWithTypedFingerprint()
{
    const sealrelay::consoletest::PendingAgent &agent = m_fixture.pendingAgent(u"edge-pending"_s);
    // Typed in groups, in upper case, as people copy it.
    QString typed;
    for (qsizetype i = 0; i < 20; i += 4)
        typed += agent.fingerprint.mid(i, 4).toUpper() + u' ';
    const std::optional<ActionResult> result = runAction(
        *m_session, u"approveAgent"_s, [&] { m_session->approveAgent(agent.agentId, typed); });
    QVERIFY(result.has_value());
    QVERIFY2(result->ok, qPrintable(result->message));
    QVERIFY(result->message.contains(u"generation 1"_s));
    QCOMPARE(m_fixture.cluster().agent(u"edge-pending"_s).value(u"status"_s).toString(),
             u"approved"_s);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->pendingApprovalCount(), 0, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->agentChoices().size(), 2, 10000);
    // The certificate the console signed verifies in its own agents model.
    QTRY_VERIFY_WITH_TIMEOUT(
        agentStatus(m_session->agentsModel(), agent.agentId).startsWith(u"Online"_s), 20000);
}

void TestConsoleSession::createCredentialSyncs()
{
    const std::optional<ActionResult> result = runAction(*m_session, u"createCredential"_s, [&] {
        m_session->createCredential(
            u"core-router admin"_s, u"password"_s,
            { { u"username"_s, u"admin"_s }, { u"password"_s, u"correct horse"_s } }, {});
    });
    QVERIFY(result.has_value());
    QVERIFY2(result->ok, qPrintable(result->message));
    QVERIFY2(result->message.contains(u"sealed it to 2 agents"_s), qPrintable(result->message));
    QVERIFY(result->detail.isEmpty());

    const QJsonArray created = m_fixture.cluster().audit(u"credential_created"_s);
    QCOMPARE(created.size(), 1);
    m_credentialId = created.at(0).toObject().value(u"credential_id"_s).toString();
    QVERIFY(!m_credentialId.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(chipText(m_session->credentialsModel(), m_credentialId),
                              u"✓ 2/2 synced"_s, 30000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->problemCount(), 0, 5000);
    QCOMPARE(m_session->stalledCount(), 0);

    // Both agents hold the one credential in scope.
    using sealrelay::models::AgentsModel;
    const AgentsModel &agents = m_session->agentsModel();
    QTRY_VERIFY_WITH_TIMEOUT(agents.rowCount() == 2
                                 && agents.index(0).data(AgentsModel::HeldCountRole).toInt() == 1
                                 && agents.index(1).data(AgentsModel::HeldCountRole).toInt() == 1,
                             10000);
    QCOMPARE(agents.index(0).data(AgentsModel::InScopeCountRole).toInt(), 1);

    // The agent process stores what the console sealed.
    const sealrelay::synctest::ProcessResult got =
        m_fixture.cluster().get(u"edge-1"_s, u"core-router admin"_s);
    QCOMPARE(got.exitCode, 0);
    QVERIFY(got.out.contains(u"correct horse"_s));
}

void TestConsoleSession::selectionShowsStatement()
{
    QVERIFY(!m_credentialId.isEmpty());
    m_session->setSelectedCredentialId(m_credentialId);
    QTRY_VERIFY_WITH_TIMEOUT(!m_session->selectedCredential().isEmpty(), 5000);
    const QVariantMap selected = m_session->selectedCredential();
    QCOMPARE(selected.value(u"name"_s).toString(), u"core-router admin"_s);
    QCOMPARE(selected.value(u"kind"_s).toString(), u"password"_s);
    QCOMPARE(selected.value(u"version"_s).toLongLong(), 1);
    QCOMPARE(selected.value(u"scope"_s).toString(), u"auto_all"_s);
    QCOMPARE(selected.value(u"agentCount"_s).toInt(), 2);
    QVERIFY(selected.value(u"signedByTrusted"_s).toBool());
    QCOMPARE(selected.value(u"signedBy"_s).toString(), m_session->operatorFingerprint().left(19));
    QVERIFY(selected.value(u"signedAt"_s).toDateTime().isValid());
    QCOMPARE(selected.value(u"chipText"_s).toString(), u"✓ 2/2 synced"_s);
    QCOMPARE(m_session->credentialAgents()->rowCount(), 2);

    // Narrowing the scope to one agent affects the other one.
    const QString edge1 = m_fixture.cluster().agentId(u"edge-1"_s);
    QCOMPARE(m_session->agentsAffected(m_credentialId, { edge1 }), 1);
    QCOMPARE(m_session->agentsAffected(m_credentialId, {}), 0);

    m_session->setSelectedCredentialId(QString());
    QVERIFY(m_session->selectedCredential().isEmpty());
}

void TestConsoleSession::retryCooldown()
{
    QVERIFY(!m_credentialId.isEmpty());
    QCOMPARE(m_session->retrySecondsLeft(m_credentialId), 0);
    QSignalSpy cooldown(m_session.get(), &ConsoleSession::retryCooldownChanged);
    const std::optional<ActionResult> first = runAction(
        *m_session, u"retryCredential"_s, [&] { m_session->retryCredential(m_credentialId); });
    QVERIFY(first.has_value());
    QVERIFY2(first->ok, qPrintable(first->message));
    // The message follows the credential's rows as the backend counts them.
    const QJsonObject sync =
        m_fixture.cluster().credential(m_credentialId).value(u"sync"_s).toObject();
    const bool synced = sync.value(u"delivered"_s) == sync.value(u"in_scope"_s);
    QVERIFY2(first->message.startsWith(synced ? u"Nothing to retry"_s : u"Retrying"_s),
             qPrintable(first->message));
    const int left = m_session->retrySecondsLeft(m_credentialId);
    QVERIFY2(left > 25 && left <= ConsoleSession::kRetryCooldownSeconds,
             qPrintable(QString::number(left)));
    QVERIFY(!cooldown.isEmpty());

    // The second retry is refused locally, without a request.
    const std::optional<ActionResult> second = runAction(
        *m_session, u"retryCredential"_s, [&] { m_session->retryCredential(m_credentialId); });
    QVERIFY(second.has_value());
    QVERIFY(!second->ok);
    QVERIFY2(second->message.contains(u"retry again in"_s), qPrintable(second->message));
    QCOMPARE(m_fixture.cluster().audit(u"credential_retry"_s).size(), 1);

    // The countdown ticks once a second.
    const int before = cooldown.size();
    QTRY_VERIFY_WITH_TIMEOUT(cooldown.size() > before, 3000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->retrySecondsLeft(m_credentialId) < left, 3000);
    // Other credentials have no cooldown.
    QCOMPARE(m_session->retrySecondsLeft(u"00000000-0000-4000-8000-000000000000"_s), 0);
}

void TestConsoleSession::acknowledgeAlert()
{
    // Re-using a spent enrolment token is what raises enrolment_token_reused.
    const std::optional<ActionResult> token = runAction(*m_session, u"createEnrolmentToken"_s, [&] {
        m_session->createEnrolmentToken(u"edge-twice"_s);
    });
    QVERIFY(token.has_value());
    QVERIFY(token->ok);
    const QString enrolled = m_fixture.enrolPendingAgent(u"edge-twice"_s, token->detail);
    QVERIFY2(enrolled.isEmpty(), qPrintable(enrolled));
    const QString again = m_fixture.startAgent(u"edge-twice-again"_s, token->detail);
    QVERIFY2(again.isEmpty(), qPrintable(again));

    QTRY_VERIFY_WITH_TIMEOUT(m_session->unacknowledgedAlerts() >= 1, 15000);
    m_fixture.stopAgent(u"edge-twice-again"_s);
    QVERIFY(!m_session->highestAlertSeverity().isEmpty());
    using sealrelay::models::AlertsModel;
    const AlertsModel &alerts = m_session->alertsModel();
    QStringList open;
    for (int row = 0; row < alerts.rowCount(); ++row) {
        const QModelIndex index = alerts.index(row);
        if (!index.data(AlertsModel::AcknowledgedRole).toBool())
            open.append(index.data(AlertsModel::AlertIdRole).toString());
    }
    QVERIFY(!open.isEmpty());

    const std::optional<ActionResult> result =
        runAction(*m_session, u"acknowledgeAlerts"_s, [&] { m_session->acknowledgeAlerts(open); });
    QVERIFY(result.has_value());
    QVERIFY2(result->ok, qPrintable(result->message));
    QVERIFY(result->message.startsWith(u"Acknowledged"_s));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->unacknowledgedAlerts(), 0, 10000);
    QCOMPARE(m_session->highestAlertSeverity(), QString());

    const std::optional<ActionResult> none =
        runAction(*m_session, u"acknowledgeAlerts"_s, [&] { m_session->acknowledgeAlerts({}); });
    QVERIFY(none.has_value());
    QVERIFY(!none->ok);
}

void TestConsoleSession::auditPages()
{
    m_session->setAuditPageSize(3);
    const std::optional<ActionResult> first = runAction(
        *m_session, u"setAuditFilter"_s, [&] { m_session->setAuditFilter({}, {}, {}, {}, {}); });
    QVERIFY(first.has_value());
    QVERIFY2(first->ok, qPrintable(first->message));
    using sealrelay::models::AuditModel;
    const AuditModel &audit = m_session->auditModel();
    QCOMPARE(audit.rowCount(), 3);
    QVERIFY(m_session->auditHasMore());
    const qint64 lastOfFirst = audit.index(2).data(AuditModel::IdRole).toLongLong();

    const std::optional<ActionResult> second =
        runAction(*m_session, u"loadMoreAudit"_s, [&] { m_session->loadMoreAudit(); });
    QVERIFY(second.has_value());
    QVERIFY2(second->ok, qPrintable(second->message));
    QCOMPARE(audit.rowCount(), 6);
    QVERIFY(audit.index(3).data(AuditModel::IdRole).toLongLong() > lastOfFirst);
    m_session->setAuditPageSize(100);
}

void TestConsoleSession::auditFilter()
{
    const std::optional<ActionResult> result = runAction(*m_session, u"setAuditFilter"_s, [&] {
        m_session->setAuditFilter(m_credentialId, {}, u"credential_created"_s, {}, {});
    });
    QVERIFY(result.has_value());
    QVERIFY2(result->ok, qPrintable(result->message));
    using sealrelay::models::AuditModel;
    const AuditModel &audit = m_session->auditModel();
    QCOMPARE(audit.rowCount(), 1);
    QCOMPARE(audit.index(0).data(AuditModel::EventRole).toString(), u"credential_created"_s);
    QCOMPARE(audit.index(0).data(AuditModel::CredentialIdRole).toString(), m_credentialId);
    QVERIFY(audit.isFiltered());
    QVERIFY(!m_session->auditHasMore());

    // A time window after now contains no rows.
    const std::optional<ActionResult> later = runAction(*m_session, u"setAuditFilter"_s, [&] {
        const QDateTime now = QDateTime::currentDateTimeUtc();
        m_session->setAuditFilter({}, {}, {}, now.addSecs(3600), now.addSecs(7200));
    });
    QVERIFY(later.has_value());
    QVERIFY(later->ok);
    QCOMPARE(audit.rowCount(), 0);
}

void TestConsoleSession::auditVerify()
{
    QVERIFY(!m_session->auditVerification().value(u"checked"_s).toBool());
    const std::optional<ActionResult> result =
        runAction(*m_session, u"verifyAudit"_s, [&] { m_session->verifyAudit(); });
    QVERIFY(result.has_value());
    QVERIFY2(result->ok, qPrintable(result->message));
    QVERIFY(result->message.contains(u"intact"_s));
    const QVariantMap verification = m_session->auditVerification();
    QVERIFY(verification.value(u"checked"_s).toBool());
    QVERIFY(verification.value(u"intact"_s).toBool());
    QVERIFY(verification.value(u"rowsVerified"_s).toLongLong() > 5);
    QVERIFY(verification.value(u"headRowId"_s).toLongLong() > 5);
    QCOMPARE(verification.value(u"firstBreakRowId"_s).toLongLong(), 0);
}

void TestConsoleSession::systemStatus()
{
    const std::optional<ActionResult> result =
        runAction(*m_session, u"refreshSystem"_s, [&] { m_session->refreshSystem(); });
    QVERIFY(result.has_value());
    QVERIFY2(result->ok, qPrintable(result->message));
    const QVariantMap system = m_session->system();
    QCOMPARE(system.value(u"coordination"_s).toString(), u"memory"_s);
    QCOMPARE(system.value(u"degraded"_s).toBool(), false);
    QVERIFY(!system.value(u"replicaId"_s).toString().isEmpty());
    QCOMPARE(system.value(u"replicas"_s).toList().size(), 1);
    QVERIFY(system.value(u"checkedAt"_s).toDateTime().isValid());
    // The metrics arrive with a second request.
    QTRY_VERIFY_WITH_TIMEOUT(
        m_session->system().value(u"metrics"_s).toMap().contains(u"connectedAgents"_s), 10000);
    const QVariantMap metrics = m_session->system().value(u"metrics"_s).toMap();
    QVERIFY2(metrics.value(u"connectedAgents"_s).toLongLong() >= 1,
             qPrintable(metrics.value(u"connectedAgents"_s).toString()));
    QVERIFY(metrics.value(u"reconcilerSweeps"_s).toLongLong() >= 1);
}

void TestConsoleSession::idleFeedStaysLive()
{
    // The suite's backend closes a socket after 3 s without a frame or pong.
    const int snapshots = m_session->snapshotCount();
    QTest::qWait(5000);
    QCOMPARE(m_session->connection(), u"live"_s);
    QCOMPARE(m_session->snapshotCount(), snapshots);
}

void TestConsoleSession::feedReconnectsAfterRestart()
{
    QSignalSpy connection(m_session.get(), &ConsoleSession::connectionChanged);
    const int snapshots = m_session->snapshotCount();

    m_fixture.cluster().backend().stop();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->connection(), u"reconnecting"_s, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->reconnectSeconds() > 0, 10000);
    QCOMPARE(m_session->bannerSeverity(), u"critical"_s);
    QVERIFY2(m_session->banner().contains(m_fixture.cluster().backendUrl()),
             qPrintable(m_session->banner()));
    QCOMPARE(m_session->state(), u"signedIn"_s);
    // The views keep what they showed.
    QVERIFY(credentialRow(m_session->credentialsModel(), m_credentialId) >= 0);

    // A console that starts while the backend is down signs in once it is up.
    ConsoleSession late;
    const std::optional<ActionResult> refused = runAction(late, u"signIn"_s, [&] {
        late.signIn(m_fixture.cluster().backendUrl(), m_fixture.cluster().adminToken(), false);
    });
    QVERIFY(refused.has_value());
    QVERIFY(!refused->ok);
    QVERIFY2(late.signInError().contains(u"tries again in 5 s"_s), qPrintable(late.signInError()));

    const QString restarted = m_fixture.restartBackend();
    QVERIFY2(restarted.isEmpty(), qPrintable(restarted));
    QTRY_COMPARE_WITH_TIMEOUT(late.state(), u"signedIn"_s, 30000);
    QTRY_COMPARE_WITH_TIMEOUT(m_session->connection(), u"live"_s, 45000);
    QCOMPARE(m_session->snapshotCount(), snapshots + 1);
    QVERIFY(m_session->banner().isEmpty());
    QVERIFY(credentialRow(m_session->credentialsModel(), m_credentialId) >= 0);
    QTRY_COMPARE_WITH_TIMEOUT(chipText(m_session->credentialsModel(), m_credentialId),
                              u"✓ 2/2 synced"_s, 15000);
}

void TestConsoleSession::revokedTokenSignsOut()
{
    const BackendReply created = m_fixture.cluster().request(
        "POST", u"/api/tokens"_s, { { u"role"_s, u"operator"_s }, { u"label"_s, u"console"_s } });
    QCOMPARE(created.status, 201);
    const QString token = created.json.value(u"token"_s).toString();
    const QString tokenId = created.json.value(u"token_id"_s).toString();

    ConsoleSession other;
    const std::optional<ActionResult> signedIn = runAction(
        other, u"signIn"_s, [&] { other.signIn(m_fixture.cluster().backendUrl(), token, false); });
    QVERIFY(signedIn.has_value());
    QVERIFY2(signedIn->ok, qPrintable(signedIn->message));
    QTRY_COMPARE_WITH_TIMEOUT(other.connection(), u"live"_s, 15000);

    const BackendReply revoked =
        m_fixture.cluster().request("POST", u"/api/tokens/%1/revoke"_s.arg(tokenId));
    QCOMPARE(revoked.status, 200);
    // The open socket may outlive the token; the next connection carries it
    // again and is closed with 4401.
    const QString restarted = m_fixture.restartBackend();
    QVERIFY2(restarted.isEmpty(), qPrintable(restarted));
    QTRY_COMPARE_WITH_TIMEOUT(other.state(), u"signedOut"_s, 45000);
    QCOMPARE(other.connection(), u"offline"_s);
    QVERIFY2(other.signInError().contains(u"refused the token"_s), qPrintable(other.signInError()));
}

QTEST_GUILESS_MAIN(TestConsoleSession)
#include "tst_consolesession.moc"
