// CredentialAgentsModel: one row per in-scope agent of the selected
// credential with status, receipt, attempts and last error in plain words,
// built from real signed receipts and certificates. The rows follow the
// credentials and agents models without resets when only values change.
#include "agentsmodel.h"
#include "credentialagentsmodel.h"
#include "credentialsmodel.h"
#include "ids.h"
#include "syncfixture.h"

#include <QAbstractItemModelTester>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;
using namespace sealrelay::models;
using namespace sealrelay::models::testing;

namespace {

// The console's rule for times: "HH:mm" on the clock's local day, else with the date.
QString expectedTime(const QDateTime &time)
{
    const QDateTime local = time.toLocalTime();
    if (local.date() == testNow().toLocalTime().date())
        return local.toString(u"HH:mm"_s);
    return local.toString(u"yyyy-MM-dd HH:mm"_s);
}

} // namespace

class TestCredentialAgentsModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void rowsForInScopeAgents();
    void syncedRowFields();
    void pendingRowFields();
    void errorWords_data();
    void errorWords();
    void agentOfflineSince();
    void offlineAgentWithoutError();
    void agentBackOnline();
    void unverifiedClaim();
    void forgedReceiptNotVerified();
    void refusedReceipt();
    void receiptOnEarlierDay();
    void liveChangeWithoutReset();
    void scopeChangeResets();
    void omittedKnownAgentRow();
    void deletedCredentialEmpties();
    void selectionChange();

private:
    // Loads the agents and `credential` into both models, selects it and
    // waits for its verification.
    void load(const QJsonObject &credential, const QJsonArray &agents);
    QModelIndex rowOf(int agentIndex) const;

    SyncFixture m_fx;
    std::unique_ptr<CredentialsModel> m_credentials;
    std::unique_ptr<AgentsModel> m_agents;
    std::unique_ptr<CredentialAgentsModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestCredentialAgentsModel::init()
{
    QVERIFY(m_fx.reset());
    m_credentials = std::make_unique<CredentialsModel>(*m_fx.verifier);
    m_agents = std::make_unique<AgentsModel>(*m_fx.certificates);
    m_model = std::make_unique<CredentialAgentsModel>(*m_credentials, m_agents.get());
    m_model->setClock([] { return testNow(); });
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

void TestCredentialAgentsModel::cleanup()
{
    m_tester.reset();
    m_model.reset();
    m_agents.reset();
    m_credentials.reset();
}

void TestCredentialAgentsModel::load(const QJsonObject &credential, const QJsonArray &agents)
{
    QVERIFY(m_agents->loadSnapshot(agents).ok());
    QVERIFY(m_credentials->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_credentials->flush();
    m_model->setCredential(credential.value(u"credential_id"_s).toString());
}

QModelIndex TestCredentialAgentsModel::rowOf(int agentIndex) const
{
    for (int row = 0; row < m_model->rowCount(); ++row) {
        const QModelIndex index = m_model->index(row);
        if (index.data(CredentialAgentsModel::AgentIdRole).toString() == kAgentIds.at(agentIndex))
            return index;
    }
    return {};
}

void TestCredentialAgentsModel::rowsForInScopeAgents()
{
    load(m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 }), m_fx.pinnedAgents());

    QCOMPARE(m_model->rowCount(), 3);
    QCOMPARE(m_model->index(0).data(CredentialAgentsModel::AgentNameRole).toString(), u"edge-1"_s);
    QCOMPARE(m_model->index(1).data(CredentialAgentsModel::AgentNameRole).toString(), u"edge-2"_s);
    QCOMPARE(m_model->index(2).data(CredentialAgentsModel::AgentNameRole).toString(), u"edge-3"_s);
    QCOMPARE(m_model->roleNames().value(CredentialAgentsModel::LastErrorRole), "lastError");
    QCOMPARE(m_model->roleNames().value(CredentialAgentsModel::NextRetryAtRole), "nextRetryAt");
}

void TestCredentialAgentsModel::syncedRowFields()
{
    load(m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 }), m_fx.pinnedAgents());

    const QModelIndex row = rowOf(0);
    QVERIFY(row.isValid());
    QCOMPARE(row.data(CredentialAgentsModel::StatusRole).toInt(),
             static_cast<int>(AgentSyncStatus::Synced));
    QCOMPARE(row.data(CredentialAgentsModel::StatusTextRole).toString(), u"✓ Stored"_s);
    QCOMPARE(row.data(CredentialAgentsModel::StoredVersionRole).toLongLong(), 1);
    QCOMPARE(row.data(CredentialAgentsModel::StoredRevisionRole).toLongLong(), 1);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptVerifiedRole).toBool(), true);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptTextRole).toString(),
             u"verified "_s + expectedTime(testNow()));
    QCOMPARE(row.data(CredentialAgentsModel::LastErrorRole).toString(), QString());
    QCOMPARE(row.data(CredentialAgentsModel::NextRetryAtRole).toDateTime(), QDateTime());
    QCOMPARE(row.data(CredentialAgentsModel::IntegrityFailureRole).toBool(), false);
}

void TestCredentialAgentsModel::pendingRowFields()
{
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    QJsonObject third = rows.at(2).toObject();
    third.insert(u"attempts"_s, 3);
    third.insert(u"next_attempt_at"_s, formatTimestamp(testNow().addSecs(480)));
    third.insert(u"last_error"_s, u"PEER_TIMEOUT"_s);
    rows.replace(2, third);
    credential.insert(u"agents"_s, rows);
    load(credential, m_fx.pinnedAgents());

    const QModelIndex row = rowOf(2);
    QVERIFY(row.isValid());
    QCOMPARE(row.data(CredentialAgentsModel::StatusRole).toInt(),
             static_cast<int>(AgentSyncStatus::Pending));
    QCOMPARE(row.data(CredentialAgentsModel::StatusTextRole).toString(), u"⏳ Pending"_s);
    QCOMPARE(row.data(CredentialAgentsModel::StoredVersionRole).toLongLong(), -1);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptVerifiedRole).toBool(), false);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptTextRole).toString(), u"none"_s);
    QCOMPARE(row.data(CredentialAgentsModel::AttemptsRole).toInt(), 3);
    QCOMPARE(row.data(CredentialAgentsModel::NextRetryAtRole).toDateTime(), testNow().addSecs(480));
    QCOMPARE(row.data(CredentialAgentsModel::ErrorCodeRole).toString(), u"PEER_TIMEOUT"_s);
    QCOMPARE(row.data(CredentialAgentsModel::LastErrorRole).toString(),
             u"no peer responded in time"_s);
}

void TestCredentialAgentsModel::errorWords_data()
{
    QTest::addColumn<QString>("code");
    QTest::addColumn<QString>("words");

    QTest::newRow("peer timeout") << u"PEER_TIMEOUT"_s << u"no peer responded in time"_s;
    QTest::newRow("no eligible peer")
        << u"NO_ELIGIBLE_PEER"_s << u"no online agent holds the current version to copy it from"_s;
    QTest::newRow("agent offline") << u"AGENT_OFFLINE"_s << u"agent offline"_s;
    QTest::newRow("commitment mismatch")
        << u"COMMITMENT_MISMATCH"_s
        << u"integrity failure: the secret does not match the operator's commitment"_s;
    QTest::newRow("commitment mismatch source")
        << u"COMMITMENT_MISMATCH_SOURCE"_s
        << u"integrity failure: this agent's copy does not match the operator's commitment"_s;
    QTest::newRow("out of scope") << u"OUT_OF_SCOPE"_s << u"agent rejected it: out of scope"_s;
    QTest::newRow("awaiting creator delivery")
        << u"AWAITING_CREATOR_DELIVERY"_s
        << u"waiting for the creator's delivery to another agent"_s;
    QTest::newRow("target certificate expired")
        << u"TARGET_CERTIFICATE_EXPIRED"_s << u"agent certificate expired"_s;
    QTest::newRow("stale statement")
        << u"STALE_STATEMENT"_s << u"peer rejected the request: the statement is older than the one it stores"_s;
    QTest::newRow("maximum attempts")
        << u"MAX_RETRIES_EXCEEDED"_s << u"stopped after the maximum number of attempts"_s;
    QTest::newRow("unknown code") << u"SOMETHING_NEW"_s << u"failed: SOMETHING_NEW"_s;
}

void TestCredentialAgentsModel::errorWords()
{
    QFETCH(QString, code);
    QFETCH(QString, words);

    QCOMPARE(syncErrorText(code), words);
}

void TestCredentialAgentsModel::agentOfflineSince()
{
    const QDateTime lastSeen = testNow().addSecs(-(10 * 3600 + 2 * 60)); // 01:58 UTC
    QJsonArray agents = m_fx.pinnedAgents();
    agents.replace(2, m_fx.agentJson(2, *m_fx.operatorKey, u"offline"_s, lastSeen));
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    QJsonObject third = rows.at(2).toObject();
    third.insert(u"last_error"_s, u"AGENT_OFFLINE"_s);
    rows.replace(2, third);
    credential.insert(u"agents"_s, rows);
    load(credential, agents);

    QCOMPARE(rowOf(2).data(CredentialAgentsModel::LastErrorRole).toString(),
             u"agent offline since "_s + expectedTime(lastSeen));
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::ErrorCodeRole).toString(), u"AGENT_OFFLINE"_s);
}

void TestCredentialAgentsModel::offlineAgentWithoutError()
{
    const QDateTime lastSeen = testNow().addSecs(-600);
    QJsonArray agents = m_fx.pinnedAgents();
    agents.replace(2, m_fx.agentJson(2, *m_fx.operatorKey, u"offline"_s, lastSeen));
    load(m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 }), agents);

    QCOMPARE(rowOf(2).data(CredentialAgentsModel::LastErrorRole).toString(),
             u"agent offline since "_s + expectedTime(lastSeen));
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::ErrorCodeRole).toString(), QString());
}

void TestCredentialAgentsModel::agentBackOnline()
{
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    QJsonObject third = rows.at(2).toObject();
    third.insert(u"last_error"_s, u"AGENT_OFFLINE"_s);
    rows.replace(2, third);
    credential.insert(u"agents"_s, rows);
    load(credential, m_fx.pinnedAgents());

    QCOMPARE(rowOf(2).data(CredentialAgentsModel::LastErrorRole).toString(),
             u"agent was offline at the last attempt"_s);
}

void TestCredentialAgentsModel::unverifiedClaim()
{
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    QJsonObject third = rows.at(2).toObject();
    third.insert(u"secret_stored"_s, true);
    third.insert(u"stored_version"_s, 1);
    third.insert(u"stored_revision"_s, 1);
    rows.replace(2, third);
    credential.insert(u"agents"_s, rows);
    load(credential, m_fx.pinnedAgents());

    const QModelIndex row = rowOf(2);
    QCOMPARE(row.data(CredentialAgentsModel::StatusRole).toInt(),
             static_cast<int>(AgentSyncStatus::PendingUnverified));
    QCOMPARE(row.data(CredentialAgentsModel::StatusTextRole).toString(), u"⚠ Unverified claim"_s);
    // The backend's claim is shown, and the status shows that it does not count.
    QCOMPARE(row.data(CredentialAgentsModel::StoredVersionRole).toLongLong(), 1);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptVerifiedRole).toBool(), false);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptTextRole).toString(), u"none"_s);
}

void TestCredentialAgentsModel::forgedReceiptNotVerified()
{
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    // A receipt of agent 2 signed with agent 0's identity key.
    Receipt forged = require(Receipt::fromFields(require(parseStatement(
        StatementContext::Receipt,
        m_fx.receipt(2, kCredentialId, 1, 1, credential.value(u"statement_sha256"_s).toString())
            .bytes))));
    QJsonObject third = rows.at(2).toObject();
    third.insert(u"secret_stored"_s, true);
    third.insert(u"receipt"_s,
                 require(signStatement(StatementContext::Receipt, forged.toFields(),
                                       m_fx.identities.at(0)))
                     .toJson());
    rows.replace(2, third);
    credential.insert(u"agents"_s, rows);
    load(credential, m_fx.pinnedAgents());

    const QModelIndex row = rowOf(2);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptVerifiedRole).toBool(), false);
    QVERIFY2(row.data(CredentialAgentsModel::ReceiptTextRole)
                 .toString()
                 .startsWith(u"not verified: "_s),
             qPrintable(row.data(CredentialAgentsModel::ReceiptTextRole).toString()));
    QCOMPARE(row.data(CredentialAgentsModel::StatusTextRole).toString(), u"⚠ Unverified claim"_s);
}

void TestCredentialAgentsModel::refusedReceipt()
{
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    QJsonObject third = rows.at(2).toObject();
    third.insert(u"receipt"_s,
                 m_fx.receipt(2, kCredentialId, 1, 1,
                              credential.value(u"statement_sha256"_s).toString(),
                              ReceiptState::Refused, u"OUT_OF_SCOPE"_s)
                     .toJson());
    rows.replace(2, third);
    credential.insert(u"agents"_s, rows);
    load(credential, m_fx.pinnedAgents());

    const QModelIndex row = rowOf(2);
    QCOMPARE(row.data(CredentialAgentsModel::StatusTextRole).toString(), u"⚠ Refused"_s);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptVerifiedRole).toBool(), true);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptTextRole).toString(),
             u"verified "_s + expectedTime(testNow()) + u", a refusal"_s);
    QCOMPARE(row.data(CredentialAgentsModel::LastErrorRole).toString(),
             u"agent rejected it: out of scope"_s);
    QCOMPARE(row.data(CredentialAgentsModel::StoredVersionRole).toLongLong(), -1);
}

void TestCredentialAgentsModel::receiptOnEarlierDay()
{
    load(m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1, 2 }),
         m_fx.pinnedAgents());
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    m_model->setClock([] { return testNow().addDays(2); });

    QCOMPARE(changes.size(), 1);
    static const QRegularExpression withDate(u"^verified \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}$"_s);
    const QString text = rowOf(0).data(CredentialAgentsModel::ReceiptTextRole).toString();
    QVERIFY2(withDate.match(text).hasMatch(), qPrintable(text));
}

void TestCredentialAgentsModel::liveChangeWithoutReset()
{
    const QJsonObject credential =
        m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    load(credential, m_fx.pinnedAgents());
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::StatusRole).toInt(),
             static_cast<int>(AgentSyncStatus::Pending));

    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    QJsonObject body = credential;
    body.remove(u"agents"_s);
    const QString sha = credential.value(u"statement_sha256"_s).toString();
    m_credentials->enqueue(m_fx.syncEvent(
        body, u"attempt_failed"_s, 2,
        QJsonObject { { u"error"_s, u"NO_ELIGIBLE_PEER"_s }, { u"attempts"_s, 1 } }));
    m_credentials->flush();
    QCOMPARE(resets.size(), 0);
    QCOMPARE(changes.size(), 1);
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::AttemptsRole).toInt(), 1);
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::LastErrorRole).toString(),
             u"no online agent holds the current version to copy it from"_s);

    m_credentials->enqueue(m_fx.syncEvent(
        body, u"delivered"_s, 2,
        QJsonObject { { u"receipt"_s, m_fx.receipt(2, kCredentialId, 1, 1, sha).toJson() } }));
    m_credentials->flush();
    QCOMPARE(resets.size(), 0);
    QCOMPARE(changes.size(), 2);
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::StatusTextRole).toString(), u"✓ Stored"_s);
    QCOMPARE(rowOf(2).data(CredentialAgentsModel::LastErrorRole).toString(), QString());
}

void TestCredentialAgentsModel::scopeChangeResets()
{
    const QJsonArray agents = m_fx.pinnedAgents();
    load(m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 }), agents);
    QCOMPARE(m_model->rowCount(), 3);

    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QJsonObject revoked = agents.at(2).toObject();
    revoked.insert(u"status"_s, u"revoked"_s);
    m_credentials->enqueue(QJsonObject {
        { u"type"_s, u"agent_status_changed"_s },
        { u"data"_s,
          QJsonObject { { u"agent_id"_s, kAgentIds.at(2) },
                        { u"status"_s, u"revoked"_s },
                        { u"agent"_s, revoked } } },
    });
    m_credentials->flush();
    QCOMPARE(resets.size(), 1);
    QCOMPARE(m_model->rowCount(), 2);
    QVERIFY(!rowOf(2).isValid());
}

// The backend first lists all three agents, then leaves the third out of the
// agent list and the credential's rows. The known-agent list keeps its row.
void TestCredentialAgentsModel::omittedKnownAgentRow()
{
    const QJsonObject credential =
        m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    load(credential, m_fx.pinnedAgents());
    QCOMPARE(m_model->rowCount(), 3);

    QJsonArray rows = credential.value(u"agents"_s).toArray();
    rows.removeAt(2);
    QJsonObject withoutThird = credential;
    withoutThird.insert(u"agents"_s, rows);
    QJsonArray agents = m_fx.pinnedAgents();
    agents.removeAt(2);
    QVERIFY(m_agents->loadSnapshot(agents).ok());
    QVERIFY(m_credentials->loadSnapshot(m_fx.snapshot(QJsonArray { withoutThird }, agents)).ok());
    m_credentials->flush();

    QCOMPARE(m_model->rowCount(), 3);
    const QModelIndex row = rowOf(2);
    QVERIFY(row.isValid());
    QCOMPARE(row.data(CredentialAgentsModel::AgentNameRole).toString(), u"edge-3"_s);
    QCOMPARE(row.data(CredentialAgentsModel::StatusRole).toInt(),
             static_cast<int>(AgentSyncStatus::Pending));
    QCOMPARE(row.data(CredentialAgentsModel::StatusTextRole).toString(), u"⏳ Pending"_s);
    QCOMPARE(row.data(CredentialAgentsModel::ReceiptTextRole).toString(), u"none"_s);
    QCOMPARE(row.data(CredentialAgentsModel::LastErrorRole).toString(),
             u"missing from the backend's agent list"_s);
    QCOMPARE(rowOf(0).data(CredentialAgentsModel::LastErrorRole).toString(), QString());
}

void TestCredentialAgentsModel::deletedCredentialEmpties()
{
    const QJsonObject credential =
        m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    load(credential, m_fx.pinnedAgents());
    QCOMPARE(m_model->rowCount(), 3);

    QJsonObject deleted = credential;
    deleted.insert(u"state"_s, u"deleted"_s);
    m_credentials->enqueue(m_fx.syncEvent(deleted, u"credential_deleted"_s));
    m_credentials->flush();
    QCOMPARE(m_model->rowCount(), 0);
    QCOMPARE(m_model->credentialId(), kCredentialId);
}

void TestCredentialAgentsModel::selectionChange()
{
    load(m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0 }), m_fx.pinnedAgents());
    QSignalSpy changed(m_model.get(), &CredentialAgentsModel::credentialIdChanged);

    m_model->setCredential(kCredentialId);
    QCOMPARE(changed.size(), 0);
    m_model->setCredential(QString());
    QCOMPARE(changed.size(), 1);
    QCOMPARE(m_model->rowCount(), 0);
    m_model->setCredential(newUuid());
    QCOMPARE(changed.size(), 2);
    QCOMPARE(m_model->rowCount(), 0);
}

QTEST_GUILESS_MAIN(TestCredentialAgentsModel)
#include "tst_credentialagentsmodel.moc"
