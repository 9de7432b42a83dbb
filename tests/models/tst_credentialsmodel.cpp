// CredentialsModel and SyncVerifier: sync chips computed from real signed
// certificates, statements and receipts, including forged, misdirected and
// refused receipts and unpinned statements, and agents that the backend
// omits although the known-agent list contains them. Also covers problems-first
// ordering, batched application of live events with a burst of 5,000,
// verification on the model's worker thread, results dropped by sequence,
// snapshots loaded in steps with the events that follow them, and the totals
// the model keeps as rows change.
#include "credentialsmodel.h"
#include "digest.h"
#include "ids.h"
#include "syncfixture.h"

#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QMap>
#include <QMutex>
#include <QRandomGenerator>
#include <QScopeGuard>
#include <QSemaphore>
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <memory>
#include <numeric>
#include <tuple>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;
using namespace sealrelay::models;
using namespace sealrelay::models::testing;

namespace {

// The ways a scenario alters the third agent (or the whole credential).
enum class Scenario {
    AllSynced,
    Partial,
    Pending,
    ClaimedWithoutReceipts,
    ReceiptOtherKey,
    EarlierRevision,
    OtherStatementBytes,
    OtherAgentsReceipt,
    RefusedCommitmentMismatch,
    RefusedOutOfScope,
    SourceMismatch,
    ForgedCertificate,
    UnpinnedStatement,
    Stalled,
};

// What the backend's second snapshot does with the third agent in
// knownAgentScope(), after a first snapshot listed all three.
enum class Omission {
    Omitted, // left out of the agent list and the credential's rows
    ListedRevoked, // listed as revoked, without a row
    ListedWithoutRow, // listed as approved, without a row
    OmittedAfterExpiry, // left out after its certificate expired
    NeverSeen, // left out, and the first snapshot did not list it either
};

// CPU time of the calling thread in ms. Unlike wall time it does not grow
// while the thread waits for a core on a busy machine.
double threadCpuMs()
{
    timespec now {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return double(now.tv_sec) * 1e3 + double(now.tv_nsec) / 1e6;
}

// Returns an empty string when the model's totals equal those of a walk over
// every row and countHoldings() over every verification, else the difference.
QString totalsDifference(const CredentialsModel &model)
{
    int stalled = 0;
    int problems = 0;
    for (int row = 0; row < model.rowCount(); ++row) {
        const QModelIndex index = model.index(row);
        const bool isStalled = index.data(CredentialsModel::StalledRole).toBool();
        const bool synced =
            index.data(CredentialsModel::ChipRole).toInt() == static_cast<int>(SyncChip::Synced);
        const bool badged = !index.data(CredentialsModel::BadgesRole).toStringList().isEmpty();
        stalled += isStalled ? 1 : 0;
        problems += (isStalled || !synced || badged) ? 1 : 0;
    }
    QStringList differences;
    if (model.stalledCount() != stalled)
        differences.append(u"stalled %1, walk %2"_s.arg(model.stalledCount()).arg(stalled));
    if (model.problemCount() != problems)
        differences.append(u"problems %1, walk %2"_s.arg(model.problemCount()).arg(problems));
    const QHash<QString, AgentHoldings> holdings = countHoldings(model.verifications());
    if (model.holdings() != holdings) {
        QStringList agents;
        for (auto it = holdings.cbegin(); it != holdings.cend(); ++it) {
            const AgentHoldings modelHoldings = model.holdings().value(it.key());
            agents.append(u"%1: %2/%3, walk %4/%5"_s.arg(it.key().left(8))
                              .arg(modelHoldings.held)
                              .arg(modelHoldings.inScope)
                              .arg(it->held)
                              .arg(it->inScope));
        }
        differences.append(u"holdings of %1 agents, walk %2 (%3)"_s.arg(model.holdings().size())
                               .arg(holdings.size())
                               .arg(agents.join(u"; "_s)));
    }
    return differences.join(u", "_s);
}

// Expected values of one chips() row.
struct Expected {
    SyncChip chip;
    int synced;
    int pending;
    int unverified;
    bool integrityFailure;
    bool unprotected;
    bool stalled;
    QString chipText;
};

} // namespace

Q_DECLARE_METATYPE(Scenario)
Q_DECLARE_METATYPE(Omission)
Q_DECLARE_METATYPE(Expected)
Q_DECLARE_METATYPE(AgentSyncStatus)

class TestCredentialsModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();

    void chips_data();
    void chips();
    void agentStatus_data();
    void agentStatus();
    void badgesTranslatedText();
    void problemsSortedFirst();
    void deliveredEventsTurnChipGreen();
    void createdAndDeletedEvents();
    void revokedAgentLeavesScope();
    void knownAgentScope_data();
    void knownAgentScope();
    void burstAppliedInBatches();
    void newRowShowsVerifying();
    void verifyingRowsSortLast();
    void verifiedOffModelThread();
    void largeSnapshotLoadsInSteps();
    void eventsWaitForSnapshotSteps();
    void snapshotStepsReplaceRows();
    void malformedSnapshotInSteps();
    void totalsFollowRowChanges();
    void resultsKeepRowsSorted();
    void staleResultDropped();
    void pinningKeyReverifies();
    void verificationsForHoldings();
    void rotationByTrustedKeyClearsUnprotected();

private:
    QJsonObject scenarioCredential(Scenario scenario, QJsonArray &agents) const;
    void createModel();

    SyncFixture m_fx;
    std::unique_ptr<CredentialsModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestCredentialsModel::init()
{
    m_tester.reset();
    m_model.reset();
    QVERIFY(m_fx.reset());
    createModel();
}

void TestCredentialsModel::createModel()
{
    m_model = std::make_unique<CredentialsModel>(*m_fx.verifier);
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

// Builds the credential of `scenario` at version 2 revision 2: agents 0 and 1
// hold verified receipts (unless the scenario removes them) and agent 2
// carries the scenario's defect. `agents` receives the agent list.
QJsonObject TestCredentialsModel::scenarioCredential(Scenario scenario, QJsonArray &agents) const
{
    const qint64 version = 2;
    const qint64 revision = 2;
    agents = m_fx.pinnedAgents();
    const Ed25519PrivateKey &statementSigner =
        scenario == Scenario::UnpinnedStatement ? *m_fx.unpinnedKey : *m_fx.operatorKey;
    const SignedStatement statement =
        m_fx.credentialStatement(kCredentialId, version, revision, statementSigner);
    const QString sha = statement.sha256();

    QJsonArray rows;
    for (int i = 0; i < 2; ++i) {
        if (scenario == Scenario::Pending || scenario == Scenario::ClaimedWithoutReceipts) {
            QJsonObject row = m_fx.emptyRow(i, kCredentialId);
            row.insert(u"secret_stored"_s, scenario == Scenario::ClaimedWithoutReceipts);
            rows.append(row);
        } else {
            rows.append(
                m_fx.storedRow(i, kCredentialId, m_fx.receipt(i, kCredentialId, version, revision, sha)));
        }
    }

    QJsonObject third =
        m_fx.storedRow(2, kCredentialId, m_fx.receipt(2, kCredentialId, version, revision, sha));
    switch (scenario) {
    case Scenario::AllSynced:
    case Scenario::UnpinnedStatement:
        break;
    case Scenario::Partial:
    case Scenario::Pending:
        third = m_fx.emptyRow(2, kCredentialId);
        break;
    case Scenario::ClaimedWithoutReceipts:
        third = m_fx.emptyRow(2, kCredentialId);
        third.insert(u"secret_stored"_s, true);
        break;
    case Scenario::ReceiptOtherKey: {
        Receipt forged = require(Receipt::fromFields(require(parseStatement(
            StatementContext::Receipt, m_fx.receipt(2, kCredentialId, version, revision, sha).bytes))));
        third.insert(
            u"receipt"_s,
            require(signStatement(StatementContext::Receipt, forged.toFields(), *m_fx.unpinnedKey))
                .toJson());
        break;
    }
    case Scenario::EarlierRevision:
        third.insert(
            u"receipt"_s,
            m_fx.receipt(2, kCredentialId, version, revision - 1,
                    m_fx.credentialStatement(kCredentialId, version, revision - 1, *m_fx.operatorKey).sha256())
                .toJson());
        break;
    case Scenario::OtherStatementBytes:
        // Same version and revision, but a different statement (equivocation).
        third.insert(
            u"receipt"_s,
            m_fx.receipt(2, kCredentialId, version, revision,
                    m_fx.credentialStatement(kCredentialId, version, revision, *m_fx.unpinnedKey).sha256())
                .toJson());
        break;
    case Scenario::OtherAgentsReceipt:
        third.insert(u"receipt"_s, m_fx.receipt(0, kCredentialId, version, revision, sha).toJson());
        break;
    case Scenario::RefusedCommitmentMismatch:
        third.insert(u"secret_stored"_s, false);
        third.insert(u"receipt"_s,
                     m_fx.receipt(2, kCredentialId, version, revision, sha, ReceiptState::Refused,
                             u"COMMITMENT_MISMATCH"_s)
                         .toJson());
        break;
    case Scenario::RefusedOutOfScope:
        third.insert(u"secret_stored"_s, true);
        third.insert(u"receipt"_s,
                     m_fx.receipt(2, kCredentialId, version, revision, sha, ReceiptState::Refused,
                             u"OUT_OF_SCOPE"_s)
                         .toJson());
        break;
    case Scenario::SourceMismatch:
        third = m_fx.emptyRow(2, kCredentialId);
        third.insert(u"last_error"_s, u"COMMITMENT_MISMATCH_SOURCE"_s);
        break;
    case Scenario::ForgedCertificate:
        agents.replace(2, m_fx.agentJson(2, *m_fx.unpinnedKey));
        break;
    case Scenario::Stalled:
        third = m_fx.emptyRow(2, kCredentialId);
        third.insert(u"stalled"_s, true);
        third.insert(u"attempts"_s, 10);
        third.insert(u"last_error"_s, u"MAX_RETRIES_EXCEEDED"_s);
        break;
    }
    rows.append(third);
    return m_fx.credentialJson(kCredentialId, u"core-switch"_s, statement, version, revision, rows);
}

void TestCredentialsModel::chips_data()
{
    QTest::addColumn<Scenario>("scenario");
    QTest::addColumn<Expected>("expected");

    QTest::newRow("all synced") << Scenario::AllSynced
                                << Expected { SyncChip::Synced, 3, 0, 0, false, false, false,
                                              u"✓ 3/3 synced"_s };
    QTest::newRow("partial") << Scenario::Partial
                             << Expected { SyncChip::Partial, 2, 1, 0, false, false, false,
                                           u"⚠ 2/3 synced"_s };
    QTest::newRow("pending") << Scenario::Pending
                             << Expected { SyncChip::Pending, 0, 3, 0, false, false, false,
                                           u"⏳ Pending (3)"_s };
    QTest::newRow("claimed without receipts")
        << Scenario::ClaimedWithoutReceipts
        << Expected { SyncChip::Pending, 0, 3, 3, false, false, false, u"⏳ Pending (3)"_s };
    QTest::newRow("receipt signed by other key")
        << Scenario::ReceiptOtherKey
        << Expected { SyncChip::Partial, 2, 1, 1, false, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("receipt of earlier revision")
        << Scenario::EarlierRevision
        << Expected { SyncChip::Partial, 2, 1, 1, false, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("receipt of other statement")
        << Scenario::OtherStatementBytes
        << Expected { SyncChip::Partial, 2, 1, 1, false, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("another agent's receipt")
        << Scenario::OtherAgentsReceipt
        << Expected { SyncChip::Partial, 2, 1, 1, false, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("refused commitment mismatch")
        << Scenario::RefusedCommitmentMismatch
        << Expected { SyncChip::Partial, 2, 0, 0, true, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("refused out of scope")
        << Scenario::RefusedOutOfScope
        << Expected { SyncChip::Partial, 2, 1, 0, false, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("source mismatch")
        << Scenario::SourceMismatch
        << Expected { SyncChip::Partial, 2, 0, 0, true, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("forged certificate")
        << Scenario::ForgedCertificate
        << Expected { SyncChip::Partial, 2, 1, 1, false, false, false, u"⚠ 2/3 synced"_s };
    QTest::newRow("unpinned statement")
        << Scenario::UnpinnedStatement
        << Expected { SyncChip::Pending, 0, 3, 3, false, true, false, u"⏳ Pending (3)"_s };
    QTest::newRow("stalled") << Scenario::Stalled
                             << Expected { SyncChip::Partial, 2, 0, 0, false, false, true,
                                           u"⚠ 2/3 synced"_s };
}

void TestCredentialsModel::chips()
{
    QFETCH(Scenario, scenario);
    QFETCH(Expected, expected);

    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(scenario, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 1);

    const QModelIndex row = m_model->index(0);
    QCOMPARE(row.data(CredentialsModel::CredentialIdRole).toString(), kCredentialId);
    QCOMPARE(row.data(CredentialsModel::ChipRole).toInt(), static_cast<int>(expected.chip));
    QCOMPARE(row.data(CredentialsModel::AgentCountRole).toInt(), 3);
    QCOMPARE(row.data(CredentialsModel::SyncedCountRole).toInt(), expected.synced);
    QCOMPARE(row.data(CredentialsModel::PendingCountRole).toInt(), expected.pending);
    QCOMPARE(row.data(CredentialsModel::UnverifiedCountRole).toInt(), expected.unverified);
    QCOMPARE(row.data(CredentialsModel::IntegrityFailureRole).toBool(), expected.integrityFailure);
    QCOMPARE(row.data(CredentialsModel::UnprotectedRole).toBool(), expected.unprotected);
    QCOMPARE(row.data(CredentialsModel::StalledRole).toBool(), expected.stalled);
    QCOMPARE(row.data(CredentialsModel::ChipTextRole).toString(), expected.chipText);
    QCOMPARE(row.data(CredentialsModel::VersionRole).toLongLong(), 2);
    QCOMPARE(row.data(CredentialsModel::RevisionRole).toLongLong(), 2);
    QCOMPARE(row.data(CredentialsModel::LastChangeRole).toDateTime(), testNow());
}

void TestCredentialsModel::agentStatus_data()
{
    QTest::addColumn<Scenario>("scenario");
    QTest::addColumn<AgentSyncStatus>("status");
    QTest::addColumn<bool>("certificateVerified");
    QTest::addColumn<bool>("receiptVerified");

    QTest::newRow("synced") << Scenario::AllSynced << AgentSyncStatus::Synced << true << true;
    QTest::newRow("no row") << Scenario::Partial << AgentSyncStatus::Pending << true << false;
    QTest::newRow("claimed without receipt")
        << Scenario::ClaimedWithoutReceipts << AgentSyncStatus::PendingUnverified << true << false;
    QTest::newRow("receipt signed by other key")
        << Scenario::ReceiptOtherKey << AgentSyncStatus::PendingUnverified << true << false;
    QTest::newRow("receipt of earlier revision")
        << Scenario::EarlierRevision << AgentSyncStatus::PendingUnverified << true << true;
    QTest::newRow("receipt of other statement")
        << Scenario::OtherStatementBytes << AgentSyncStatus::PendingUnverified << true << true;
    QTest::newRow("another agent's receipt")
        << Scenario::OtherAgentsReceipt << AgentSyncStatus::PendingUnverified << true << false;
    QTest::newRow("refused commitment mismatch")
        << Scenario::RefusedCommitmentMismatch << AgentSyncStatus::IntegrityFailure << true << true;
    QTest::newRow("refused out of scope")
        << Scenario::RefusedOutOfScope << AgentSyncStatus::Refused << true << true;
    QTest::newRow("source mismatch")
        << Scenario::SourceMismatch << AgentSyncStatus::IntegrityFailure << true << false;
    QTest::newRow("forged certificate")
        << Scenario::ForgedCertificate << AgentSyncStatus::PendingUnverified << false << false;
    QTest::newRow("unpinned statement")
        << Scenario::UnpinnedStatement << AgentSyncStatus::PendingUnverified << true << true;
    QTest::newRow("stalled") << Scenario::Stalled << AgentSyncStatus::Stalled << true << false;
}

// SyncVerifier's verdict on the third agent, which carries each scenario's defect.
void TestCredentialsModel::agentStatus()
{
    QFETCH(Scenario, scenario);
    QFETCH(AgentSyncStatus, status);
    QFETCH(bool, certificateVerified);
    QFETCH(bool, receiptVerified);

    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(scenario, agents);
    m_fx.verifier->setAgents(require(parseAgentList(QJsonObject { { u"agents"_s, agents } })));
    const CredentialVerification verification = m_fx.verifier->verify(credential);

    QCOMPARE(verification.agents.size(), 3);
    const AgentSyncResult &third = verification.agents.at(2);
    QCOMPARE(third.agentId, kAgentIds.at(2));
    QCOMPARE(third.status, status);
    QCOMPARE(third.certificateVerified, certificateVerified);
    QCOMPARE(third.receiptVerified, receiptVerified);
    QCOMPARE(third.detail.isEmpty(), status == AgentSyncStatus::Synced);
}

void TestCredentialsModel::badgesTranslatedText()
{
    QJsonArray agents;
    const QJsonObject failed = scenarioCredential(Scenario::RefusedCommitmentMismatch, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { failed }, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::BadgesRole).toStringList(),
             QStringList { u"Integrity failure"_s });

    const QJsonObject unprotected = scenarioCredential(Scenario::UnpinnedStatement, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { unprotected }, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::BadgesRole).toStringList(),
             QStringList { u"Unprotected"_s });
}

void TestCredentialsModel::problemsSortedFirst()
{
    QJsonArray agents;
    QJsonArray credentials;
    // Each scenario under its own credential id, listed synced first.
    const QList<std::pair<Scenario, QString>> scenarios = {
        { Scenario::AllSynced, u"a-synced"_s },
        { Scenario::Pending, u"b-pending"_s },
        { Scenario::Stalled, u"c-stalled"_s },
        { Scenario::RefusedCommitmentMismatch, u"d-integrity"_s },
    };
    QStringList ids;
    for (const auto &[scenario, name] : scenarios) {
        QJsonObject credential = scenarioCredential(scenario, agents);
        const QString id = newUuid();
        ids.append(id);
        // Re-sign the statement and receipts for the new id.
        const SignedStatement statement = m_fx.credentialStatement(id, 2, 2, *m_fx.operatorKey);
        QJsonArray rows = credential.value(u"agents"_s).toArray();
        for (qsizetype i = 0; i < rows.size(); ++i) {
            QJsonObject row = rows.at(i).toObject();
            row.insert(u"credential_id"_s, id);
            if (row.value(u"receipt"_s).isObject()) {
                const Receipt old = require(Receipt::fromFields(require(parseStatement(
                    StatementContext::Receipt,
                    require(SignedStatement::fromJson(row.value(u"receipt"_s), u"receipt"))
                        .bytes))));
                row.insert(u"receipt"_s,
                           m_fx.receipt(static_cast<int>(i), id, 2, 2, statement.sha256(), old.state,
                                   old.reason)
                               .toJson());
            }
            rows.replace(i, row);
        }
        credentials.append(m_fx.credentialJson(id, name, statement, 2, 2, rows));
    }
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(credentials, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 4);

    QCOMPARE(m_model->index(0).data(CredentialsModel::CredentialIdRole).toString(), ids.at(3));
    QCOMPARE(m_model->index(1).data(CredentialsModel::CredentialIdRole).toString(), ids.at(2));
    QCOMPARE(m_model->index(2).data(CredentialsModel::CredentialIdRole).toString(), ids.at(1));
    QCOMPARE(m_model->index(3).data(CredentialsModel::CredentialIdRole).toString(), ids.at(0));
}

void TestCredentialsModel::deliveredEventsTurnChipGreen()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::Pending, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Pending));

    QSignalSpy batches(m_model.get(), &CredentialsModel::batchApplied);
    QSignalSpy verified(m_model.get(), &CredentialsModel::verified);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    QJsonObject withoutRows = credential;
    withoutRows.remove(u"agents"_s);
    const QString sha = credential.value(u"statement_sha256"_s).toString();
    for (int i = 0; i < 3; ++i) {
        m_model->enqueue(QJsonObject {
            { u"type"_s, u"credential_sync_changed"_s },
            { u"id"_s, newUuid() },
            { u"data"_s,
              QJsonObject { { u"credential_id"_s, kCredentialId },
                            { u"change"_s, u"delivered"_s },
                            { u"agent_id"_s, kAgentIds.at(i) },
                            { u"credential"_s, withoutRows },
                            { u"receipt"_s, m_fx.receipt(i, kCredentialId, 2, 2, sha).toJson() } } },
        });
    }
    // The event loop alone applies the batch and then its result.
    QTRY_COMPARE(verified.size(), 1);
    QCOMPARE(batches.size(), 1);
    QCOMPARE(batches.at(0).at(0).toInt(), 3);
    QCOMPARE(verified.at(0).at(0).toStringList(), QStringList { kCredentialId });
    QCOMPARE(changes.size(), 1);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Synced));
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"✓ 3/3 synced"_s);
}

void TestCredentialsModel::createdAndDeletedEvents()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::AllSynced, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray(), agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 0);

    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(m_model.get(), &QAbstractItemModel::rowsRemoved);
    const auto event = [](const QJsonObject &body, const QString &change) {
        return QJsonObject {
            { u"type"_s, u"credential_sync_changed"_s },
            { u"data"_s,
              QJsonObject { { u"credential_id"_s, kCredentialId },
                            { u"change"_s, change },
                            { u"credential"_s, body } } },
        };
    };
    m_model->enqueue(event(credential, u"credential_created"_s));
    m_model->flush();
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(m_model->rowCount(), 1);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Synced));

    QJsonObject deleted = credential;
    deleted.insert(u"state"_s, u"deleted"_s);
    m_model->enqueue(event(deleted, u"credential_deleted"_s));
    m_model->flush();
    QCOMPARE(removed.size(), 1);
    QCOMPARE(m_model->rowCount(), 0);
    QCOMPARE(m_model->syncState(kCredentialId), nullptr);
}

void TestCredentialsModel::revokedAgentLeavesScope()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::Partial, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Partial));

    QJsonObject revoked = agents.at(2).toObject();
    revoked.insert(u"status"_s, u"revoked"_s);
    m_model->enqueue(QJsonObject {
        { u"type"_s, u"agent_status_changed"_s },
        { u"data"_s,
          QJsonObject { { u"agent_id"_s, kAgentIds.at(2) },
                        { u"status"_s, u"revoked"_s },
                        { u"agent"_s, revoked } } },
    });
    m_model->flush();
    QCOMPARE(int(m_fx.verifier->knownAgents().size()), 3);
    QCOMPARE(m_model->index(0).data(CredentialsModel::AgentCountRole).toInt(), 2);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"✓ 2/2 synced"_s);
}

void TestCredentialsModel::knownAgentScope_data()
{
    QTest::addColumn<Omission>("omission");
    QTest::addColumn<int>("known");
    QTest::addColumn<int>("chip");
    QTest::addColumn<QString>("chipText");
    QTest::addColumn<int>("agentCount");
    QTest::addColumn<bool>("thirdMissing");

    QTest::newRow("omitted") << Omission::Omitted << 3 << int(SyncChip::Partial)
                             << u"⚠ 2/3 synced"_s << 3 << true;
    QTest::newRow("listed revoked") << Omission::ListedRevoked << 3 << int(SyncChip::Synced)
                                    << u"✓ 2/2 synced"_s << 2 << false;
    QTest::newRow("listed without row") << Omission::ListedWithoutRow << 3
                                        << int(SyncChip::Partial) << u"⚠ 2/3 synced"_s << 3
                                        << false;
    QTest::newRow("omitted after expiry") << Omission::OmittedAfterExpiry << 3
                                          << int(SyncChip::Synced) << u"✓ 2/2 synced"_s << 2
                                          << false;
    QTest::newRow("never seen") << Omission::NeverSeen << 2 << int(SyncChip::Synced)
                                << u"✓ 2/2 synced"_s << 2 << false;
}

// An auto_all credential stored on the first two agents. The first snapshot
// lists the third agent with a certificate that expires in two days, unless
// the console never saw it. The second one drops its row and lists it, or
// not, as `omission` describes.
void TestCredentialsModel::knownAgentScope()
{
    QFETCH(Omission, omission);
    QFETCH(int, known);
    QFETCH(int, chip);
    QFETCH(QString, chipText);
    QFETCH(int, agentCount);
    QFETCH(bool, thirdMissing);

    const QJsonObject first = m_fx.agentJson(0, *m_fx.operatorKey);
    const QJsonObject second = m_fx.agentJson(1, *m_fx.operatorKey);
    const QJsonObject third = m_fx.certifiedAgentJson(2, 1, testNow().addDays(2));
    const QJsonObject credential =
        m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });

    QJsonArray seenAgents { first, second };
    if (omission != Omission::NeverSeen)
        seenAgents.append(third);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, seenAgents)).ok());
    m_model->flush();
    QCOMPARE(int(m_fx.verifier->knownAgents().size()), known);

    if (omission == Omission::OmittedAfterExpiry)
        m_fx.now = testNow().addDays(3);
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    rows.removeAt(2);
    QJsonObject withoutThird = credential;
    withoutThird.insert(u"agents"_s, rows);
    QJsonArray listedAgents { first, second };
    if (omission == Omission::ListedRevoked) {
        QJsonObject revoked = third;
        revoked.insert(u"status"_s, u"revoked"_s);
        listedAgents.append(revoked);
    } else if (omission == Omission::ListedWithoutRow) {
        listedAgents.append(third);
    }
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { withoutThird }, listedAgents)).ok());
    m_model->flush();

    const QModelIndex row = m_model->index(0);
    QCOMPARE(row.data(CredentialsModel::ChipRole).toInt(), chip);
    QCOMPARE(row.data(CredentialsModel::ChipTextRole).toString(), chipText);
    QCOMPARE(row.data(CredentialsModel::AgentCountRole).toInt(), agentCount);
    QCOMPARE(row.data(CredentialsModel::SyncedCountRole).toInt(), 2);

    const VerifiedCredential *verified = m_model->verifiedCredential(kCredentialId);
    QVERIFY(verified != nullptr);
    const QList<AgentSyncResult> &results = verified->verification.agents;
    const auto resultOfThird = std::find_if(results.cbegin(), results.cend(), [](const auto &r) {
        return r.agentId == kAgentIds.at(2);
    });
    QCOMPARE(resultOfThird != results.cend(), agentCount == 3);
    if (resultOfThird == results.cend())
        return;
    QCOMPARE(resultOfThird->status, AgentSyncStatus::Pending);
    QCOMPARE(resultOfThird->missingFromAgentList, thirdMissing);
    QCOMPARE(resultOfThird->knownName, u"edge-3"_s);
}

void TestCredentialsModel::burstAppliedInBatches()
{
    constexpr int kCredentials = 50;
    constexpr int kEvents = 5000;
    const QJsonArray agents = m_fx.pinnedAgents();

    // Every credential starts pending on all three agents.
    QJsonArray credentials;
    QList<QJsonObject> bodies;
    QList<QList<QJsonObject>> receipts;
    for (int c = 0; c < kCredentials; ++c) {
        const QString id = newUuid();
        const SignedStatement statement = m_fx.credentialStatement(id, 1, 1, *m_fx.operatorKey);
        QJsonArray rows;
        QList<QJsonObject> signedReceipts;
        for (int a = 0; a < 3; ++a) {
            rows.append(m_fx.emptyRow(a, id));
            signedReceipts.append(m_fx.receipt(a, id, 1, 1, statement.sha256()).toJson());
        }
        const QJsonObject credential =
            m_fx.credentialJson(id, u"cred-%1"_s.arg(c, 3, 10, QLatin1Char('0')), statement, 1, 1, rows);
        credentials.append(credential);
        QJsonObject body = credential;
        body.remove(u"agents"_s);
        bodies.append(body);
        receipts.append(signedReceipts);
    }
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(credentials, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->rowCount(), kCredentials);
    // A zero interval applies a batch at each return to the event loop, so
    // the burst below arrives in about 20 batches.
    m_model->setBatchInterval(std::chrono::milliseconds(0));

    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy inserts(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy layouts(m_model.get(), &QAbstractItemModel::layoutChanged);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    QSignalSpy batches(m_model.get(), &CredentialsModel::batchApplied);
    QSignalSpy verified(m_model.get(), &CredentialsModel::verified);
    const qint64 checksBefore = m_model->signatureChecks();

    // Failed attempts and repeated deliveries, ending with a delivery of every
    // (credential, agent) pair.
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < kEvents; ++i) {
        const int c = i % kCredentials;
        const int a = (i / kCredentials) % 3;
        const bool failed = i < kEvents / 2 && i % 2 == 0;
        QJsonObject data { { u"credential_id"_s, bodies.at(c).value(u"credential_id"_s) },
                           { u"agent_id"_s, kAgentIds.at(a) },
                           { u"credential"_s, bodies.at(c) } };
        if (failed) {
            data.insert(u"change"_s, u"attempt_failed"_s);
            data.insert(u"error"_s, u"TIMEOUT"_s);
            data.insert(u"attempts"_s, 1);
        } else {
            data.insert(u"change"_s, u"delivered"_s);
            data.insert(u"receipt"_s, receipts.at(c).at(a));
        }
        m_model->enqueue(
            QJsonObject { { u"type"_s, u"credential_sync_changed"_s }, { u"data"_s, data } });
        if (i % 250 == 0)
            QCoreApplication::processEvents();
    }
    for (int c = 0; c < kCredentials; ++c) {
        for (int a = 0; a < 3; ++a) {
            m_model->enqueue(QJsonObject {
                { u"type"_s, u"credential_sync_changed"_s },
                { u"data"_s,
                  QJsonObject { { u"credential_id"_s, bodies.at(c).value(u"credential_id"_s) },
                                { u"agent_id"_s, kAgentIds.at(a) },
                                { u"credential"_s, bodies.at(c) },
                                { u"change"_s, u"delivered"_s },
                                { u"receipt"_s, receipts.at(c).at(a) } } },
            });
        }
    }
    int applied = 0;
    QTRY_VERIFY_WITH_TIMEOUT((applied = std::accumulate(batches.cbegin(), batches.cend(), 0,
                                                        [](int sum, const QList<QVariant> &args) {
                                                            return sum + args.at(0).toInt();
                                                        }))
                                 == kEvents + kCredentials * 3,
                             10000);
    m_model->flush();
    const qint64 elapsedMs = timer.elapsed();
    qInfo("applied %d events in %d batches and %d result sets in %lld ms", applied,
          int(batches.size()), int(verified.size()), elapsedMs);

    QCOMPARE(resets.size(), 0);
    QCOMPARE(inserts.size(), 0);
    QVERIFY2(verified.size() <= batches.size(), "at most one result set per batch");
    QVERIFY2(layouts.size() <= verified.size(), "at most one layout change per result set");
    QVERIFY2(changes.size() <= verified.size(), "at most one dataChanged per result set");
    QVERIFY2(batches.size() > 1, "the burst was applied in more than one batch");
    QVERIFY2(batches.size() <= 40, qPrintable(u"%1 batches"_s.arg(batches.size())));
    // Each distinct receipt is verified once however often it is repeated.
    QVERIFY(m_model->signatureChecks() - checksBefore <= kCredentials * 3);

    for (int row = 0; row < m_model->rowCount(); ++row) {
        QCOMPARE(m_model->index(row).data(CredentialsModel::ChipRole).toInt(),
                 static_cast<int>(SyncChip::Synced));
        QCOMPARE(m_model->index(row).data(CredentialsModel::SyncedCountRole).toInt(), 3);
    }
}

// A row without its first verification result sorts after every verified
// row, whatever its name, and takes its place once the result arrives.
void TestCredentialsModel::verifyingRowsSortLast()
{
    const QString laterId = newUuid();
    const QString earlierId = newUuid();
    const QJsonObject later = m_fx.credentialStoredOn(laterId, u"zz-later"_s, { 0, 1, 2 });
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { later }, m_fx.pinnedAgents())).ok());
    m_model->flush();

    const QJsonObject earlier = m_fx.credentialStoredOn(earlierId, u"aa-earlier"_s, { 0, 1, 2 });
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { earlier, later }, m_fx.pinnedAgents()))
                .ok());
    QCOMPARE(m_model->rowCount(), 2);
    QCOMPARE(m_model->index(0).data(CredentialsModel::CredentialIdRole).toString(), laterId);
    QCOMPARE(m_model->index(1).data(CredentialsModel::CredentialIdRole).toString(), earlierId);
    QCOMPARE(m_model->index(1).data(CredentialsModel::VerifyingRole).toBool(), true);

    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::CredentialIdRole).toString(), earlierId);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Synced));
    QCOMPARE(m_model->index(1).data(CredentialsModel::CredentialIdRole).toString(), laterId);
}

void TestCredentialsModel::newRowShowsVerifying()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::RefusedCommitmentMismatch, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());

    // Results are applied on the model's thread only, so until the event
    // loop runs the row shows the awaiting-verification state.
    const QModelIndex row = m_model->index(0);
    QCOMPARE(row.data(CredentialsModel::VerifyingRole).toBool(), true);
    QCOMPARE(row.data(CredentialsModel::ChipTextRole).toString(), u"⏳ Verifying"_s);
    QCOMPARE(row.data(CredentialsModel::SyncedCountRole).toInt(), 0);
    QCOMPARE(row.data(CredentialsModel::BadgesRole).toStringList(), QStringList());
    QCOMPARE(row.data(CredentialsModel::NameRole).toString(), u"core-switch"_s);
    QVERIFY(m_model->syncState(kCredentialId) != nullptr);
    QCOMPARE(m_model->syncState(kCredentialId)->verified, false);
    QCOMPARE(m_model->verifiedCredential(kCredentialId), nullptr);

    m_model->flush();
    QCOMPARE(m_model->isVerifying(), false);
    QCOMPARE(row.data(CredentialsModel::VerifyingRole).toBool(), false);
    QCOMPARE(row.data(CredentialsModel::ChipTextRole).toString(), u"⚠ 2/3 synced"_s);
    QCOMPARE(row.data(CredentialsModel::BadgesRole).toStringList(),
             QStringList { u"Integrity failure"_s });
    QVERIFY(m_model->verifiedCredential(kCredentialId) != nullptr);
    QCOMPARE(m_model->verifiedCredential(kCredentialId)->verification.agents.size(), 3);
}

void TestCredentialsModel::verifiedOffModelThread()
{
    QMutex mutex;
    QSet<QThread *> threads;
    QStringList verifiedIds;
    m_model->setVerificationObserver([&](const QString &credentialId) {
        const QMutexLocker locker(&mutex);
        threads.insert(QThread::currentThread());
        verifiedIds.append(credentialId);
    });
    // The worker must be done with the locals above before they go away.
    const auto detach = qScopeGuard([this] {
        m_model->flush();
        m_model->setVerificationObserver({});
    });

    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::AllSynced, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();

    QCOMPARE(verifiedIds, QStringList { kCredentialId });
    QCOMPARE(threads.size(), 1);
    QThread *verifier = *threads.cbegin();
    QVERIFY(verifier != QThread::currentThread());
    QVERIFY(verifier != m_model->thread());
    QCOMPARE(verifier, m_model->verificationThread());
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"✓ 3/3 synced"_s);
}

// 700 credentials with a receipt from each of the three agents: 2,100 new
// receipts and 700 statements. Checking them inline would cost the model's
// thread an estimated 175 ms of CPU (2,800 checks at about 16,000 Ed25519
// verifications per second on one core), and inserting all rows at once
// would show as one insert of 700 rows. The limits are on the rows per
// insert, on event-loop turns between inserts and on the thread's CPU time
// per turn, not on wall time, which a busy machine stretches.
void TestCredentialsModel::largeSnapshotLoadsInSteps()
{
    constexpr int kCredentials = 700;
    constexpr int kMaxRowsPerInsert = int(CredentialsModel::kSnapshotRowsPerChunk);
    constexpr double kMaxCpuPerTurnMs = 50;
    QJsonArray credentials;
    for (int c = 0; c < kCredentials; ++c) {
        credentials.append(m_fx.credentialStoredOn(
            newUuid(), u"cred-%1"_s.arg(c, 3, 10, QLatin1Char('0')), { 0, 1, 2 }));
    }
    const QJsonObject snapshot = m_fx.snapshot(credentials, m_fx.pinnedAgents());

    // A timer that fires at every return to the event loop counts the turns
    // and measures the maximum CPU time the thread spent between two of them.
    int turns = 0;
    double lastTickCpuMs = threadCpuMs();
    double maxCpuPerTurnMs = 0;
    QTimer ticker;
    ticker.setInterval(0);
    connect(&ticker, &QTimer::timeout, this, [&] {
        const double now = threadCpuMs();
        maxCpuPerTurnMs = std::max(maxCpuPerTurnMs, now - lastTickCpuMs);
        lastTickCpuMs = now;
        ++turns;
    });
    QList<int> turnOfInsert;
    QList<int> insertSizes;
    connect(m_model.get(), &QAbstractItemModel::rowsInserted, this,
            [&](const QModelIndex &, int first, int last) {
                turnOfInsert.append(turns);
                insertSizes.append(last - first + 1);
            });
    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy loaded(m_model.get(), &CredentialsModel::snapshotLoaded);

    const double callCpuMs = threadCpuMs();
    m_model->loadSnapshotInSteps(snapshot);
    const double loadCallCpuMs = threadCpuMs() - callCpuMs;
    QCOMPARE(m_model->isLoadingSnapshot(), true);
    QCOMPARE(m_model->rowCount(), 0);
    lastTickCpuMs = threadCpuMs();
    ticker.start();
    QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 1, 20000);
    QTRY_VERIFY_WITH_TIMEOUT(!m_model->isVerifying(), 20000);
    ticker.stop();
    QStringList sizes;
    for (const int size : std::as_const(insertSizes))
        sizes.append(QString::number(size));
    qInfo("inserts of %s rows; most CPU between two event-loop turns %.1f ms",
          qPrintable(sizes.join(u' ')), maxCpuPerTurnMs);

    QCOMPARE(resets.size(), 0);
    QCOMPARE(m_model->isLoadingSnapshot(), false);
    QCOMPARE(std::accumulate(insertSizes.cbegin(), insertSizes.cend(), 0), kCredentials);
    for (const int size : std::as_const(insertSizes))
        QVERIFY2(size <= kMaxRowsPerInsert, qPrintable(u"one insert of %1 rows"_s.arg(size)));
    QMap<int, int> rowsPerTurn;
    for (qsizetype i = 0; i < turnOfInsert.size(); ++i)
        rowsPerTurn[turnOfInsert.at(i)] += insertSizes.at(i);
    const int minSteps = int((kCredentials + CredentialsModel::kSnapshotRowsPerStep - 1)
                             / CredentialsModel::kSnapshotRowsPerStep);
    QVERIFY2(rowsPerTurn.size() >= minSteps,
             qPrintable(u"%1 rows inserted in %2 event-loop turns"_s.arg(kCredentials)
                            .arg(rowsPerTurn.size())));
    for (auto it = rowsPerTurn.cbegin(); it != rowsPerTurn.cend(); ++it)
        QVERIFY2(it.value() <= CredentialsModel::kSnapshotRowsPerStep,
                 qPrintable(u"%1 rows inserted in event-loop turn %2"_s.arg(it.value())
                                .arg(it.key())));
    // The top rows of the table, which a view shows, go in smaller steps.
    int pacedRows = 0;
    for (auto it = rowsPerTurn.cbegin();
         it != rowsPerTurn.cend() && pacedRows < CredentialsModel::kSnapshotPacedRows; ++it) {
        QVERIFY2(it.value() <= CredentialsModel::kSnapshotPacedStepRows,
                 qPrintable(u"%1 of the first %2 rows inserted in one event-loop turn"_s
                                .arg(it.value())
                                .arg(CredentialsModel::kSnapshotPacedRows)));
        pacedRows += it.value();
    }
    QVERIFY2(loadCallCpuMs <= kMaxCpuPerTurnMs,
             qPrintable(u"loadSnapshotInSteps() used %1 ms of CPU"_s.arg(loadCallCpuMs)));
    QVERIFY2(maxCpuPerTurnMs <= kMaxCpuPerTurnMs,
             qPrintable(u"the model's thread used %1 ms of CPU in one event-loop turn"_s.arg(
                 maxCpuPerTurnMs)));

    QVERIFY(m_model->signatureChecks() >= kCredentials * 4);
    QCOMPARE(m_model->rowCount(), kCredentials);
    for (int row = 0; row < m_model->rowCount(); ++row) {
        QCOMPARE(m_model->index(row).data(CredentialsModel::ChipRole).toInt(),
                 static_cast<int>(SyncChip::Synced));
        QCOMPARE(m_model->index(row).data(CredentialsModel::SyncedCountRole).toInt(), 3);
        QCOMPARE(m_model->index(row).data(CredentialsModel::NameRole).toString(),
                 u"cred-%1"_s.arg(row, 3, 10, QLatin1Char('0')));
    }
    QCOMPARE(totalsDifference(*m_model), QString());
}

// Events queued before a snapshot are dropped, and those queued while it
// loads in steps are applied after its last step, in order.
void TestCredentialsModel::eventsWaitForSnapshotSteps()
{
    constexpr int kCredentials = 600;
    m_model->setBatchInterval(std::chrono::milliseconds(0));
    QJsonArray credentials;
    QStringList ids;
    for (int c = 0; c < kCredentials; ++c) {
        ids.append(newUuid());
        credentials.append(
            m_fx.credentialStoredOn(ids.last(), u"cred-%1"_s.arg(c, 3, 10, QLatin1Char('0')), {}));
    }
    const QJsonObject snapshot = m_fx.snapshot(credentials, m_fx.pinnedAgents());

    // Created before the snapshot, which does not list it.
    const QString superseded = newUuid();
    m_model->enqueue(m_fx.syncEvent(m_fx.credentialStoredOn(superseded, u"superseded"_s, {}),
                                    u"credential_created"_s));

    QStringList order;
    connect(m_model.get(), &CredentialsModel::snapshotLoaded, this,
            [&] { order.append(u"snapshot"_s); });
    connect(m_model.get(), &CredentialsModel::batchApplied, this,
            [&](int events) { order.append(u"batch of %1"_s.arg(events)); });
    m_model->loadSnapshotInSteps(snapshot);

    // The first credential is deleted, the last one is delivered to every
    // agent, and a new one is created and then delivered to agent 0.
    QJsonObject deleted = credentials.at(0).toObject();
    deleted.insert(u"state"_s, u"deleted"_s);
    m_model->enqueue(m_fx.syncEvent(deleted, u"credential_deleted"_s));
    const QString lastId = ids.last();
    m_model->enqueue(m_fx.syncEvent(
        m_fx.credentialStoredOn(lastId, u"cred-%1"_s.arg(kCredentials - 1, 3, 10,
                                                         QLatin1Char('0')),
                                { 0, 1, 2 }),
        u"delivered"_s));
    const QString created = newUuid();
    m_model->enqueue(
        m_fx.syncEvent(m_fx.credentialStoredOn(created, u"created"_s, {}), u"credential_created"_s));
    m_model->enqueue(m_fx.syncEvent(m_fx.credentialStoredOn(created, u"created"_s, { 0 }),
                                    u"delivered"_s));
    QCOMPARE(m_model->isLoadingSnapshot(), true);
    // The zero batch interval would apply these at once without the snapshot.
    QCoreApplication::processEvents();

    QTRY_VERIFY_WITH_TIMEOUT(order.size() >= 2, 20000);
    m_model->flush();
    QCOMPARE(order, (QStringList { u"snapshot"_s, u"batch of 4"_s }));
    QCOMPARE(m_model->rowCount(), kCredentials);
    QCOMPARE(m_model->syncState(superseded), nullptr);
    QCOMPARE(m_model->syncState(ids.first()), nullptr);
    QVERIFY(m_model->syncState(lastId) != nullptr);
    QCOMPARE(m_model->syncState(lastId)->chip, SyncChip::Synced);
    QVERIFY(m_model->syncState(created) != nullptr);
    QCOMPARE(m_model->syncState(created)->chip, SyncChip::Partial);
    QCOMPARE(m_model->syncState(created)->syncedCount, 1);
    QCOMPARE(totalsDifference(*m_model), QString());
}

// A second snapshot in steps removes the rows it no longer lists, adds new
// ones and keeps the verified state of the others until their new results.
void TestCredentialsModel::snapshotStepsReplaceRows()
{
    constexpr int kCredentials = 300;
    QJsonArray first;
    QStringList ids;
    for (int c = 0; c < kCredentials; ++c) {
        ids.append(newUuid());
        first.append(m_fx.credentialStoredOn(ids.last(),
                                             u"cred-%1"_s.arg(c, 3, 10, QLatin1Char('0')),
                                             c % 2 == 0 ? QList<int> { 0, 1, 2 } : QList<int> {}));
    }
    m_model->loadSnapshotInSteps(m_fx.snapshot(first, m_fx.pinnedAgents()));
    m_model->flush();
    QCOMPARE(m_model->rowCount(), kCredentials);
    QCOMPARE(totalsDifference(*m_model), QString());

    // Every tenth credential is left out, 30 rows apart from each other,
    // which the model removes in 30 removals, and 100 new ones come in.
    QJsonArray second;
    QSet<QString> keptIds;
    for (int c = 0; c < kCredentials; ++c) {
        if (c % 10 == 0)
            continue;
        second.append(first.at(c));
        keptIds.insert(ids.at(c));
    }
    QStringList added;
    for (int c = 0; c < 100; ++c) {
        added.append(newUuid());
        second.append(m_fx.credentialStoredOn(added.last(),
                                              u"new-%1"_s.arg(c, 3, 10, QLatin1Char('0')), {}));
    }

    QSignalSpy removed(m_model.get(), &CredentialsModel::credentialRemoved);
    QSignalSpy removals(m_model.get(), &QAbstractItemModel::rowsRemoved);
    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy loaded(m_model.get(), &CredentialsModel::snapshotLoaded);
    m_model->loadSnapshotInSteps(m_fx.snapshot(second, m_fx.pinnedAgents()));
    QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 1, 20000);

    // Until the new results arrive the kept rows show their verified state.
    for (const QString &id : std::as_const(keptIds))
        QCOMPARE(m_model->syncState(id)->verified, true);
    QCOMPARE(m_model->rowCount(), int(keptIds.size() + added.size()));
    QCOMPARE(int(removed.size()), kCredentials - int(keptIds.size()));
    QCOMPARE(removals.size(), 30);
    QCOMPARE(resets.size(), 0);
    QCOMPARE(totalsDifference(*m_model), QString());

    m_model->flush();
    for (int row = 0; row < m_model->rowCount(); ++row) {
        const QString id = m_model->index(row).data(CredentialsModel::CredentialIdRole).toString();
        QVERIFY(keptIds.contains(id) || added.contains(id));
    }
    // Problems first: pending rows, then the synced ones.
    const int synced = int(std::count_if(keptIds.cbegin(), keptIds.cend(), [&](const QString &id) {
        return ids.indexOf(id) % 2 == 0;
    }));
    const int firstSynced = m_model->rowCount() - synced;
    for (int row = 0; row < m_model->rowCount(); ++row)
        QCOMPARE(m_model->index(row).data(CredentialsModel::ChipRole).toInt() == int(SyncChip::Synced),
                 row >= firstSynced);
    QCOMPARE(totalsDifference(*m_model), QString());
}

void TestCredentialsModel::malformedSnapshotInSteps()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::AllSynced, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();

    QJsonObject malformed = m_fx.snapshot(QJsonArray(), agents);
    QJsonObject data = malformed.value(u"data"_s).toObject();
    data.insert(u"agents"_s, QJsonArray { u"not an agent"_s });
    malformed.insert(u"data"_s, data);

    QSignalSpy rejected(m_model.get(), &CredentialsModel::snapshotRejected);
    QSignalSpy loaded(m_model.get(), &CredentialsModel::snapshotLoaded);
    QSignalSpy batches(m_model.get(), &CredentialsModel::batchApplied);
    m_model->loadSnapshotInSteps(malformed);
    QJsonObject deleted = credential;
    deleted.insert(u"state"_s, u"deleted"_s);
    m_model->enqueue(m_fx.syncEvent(deleted, u"credential_deleted"_s));
    QTRY_COMPARE_WITH_TIMEOUT(rejected.size(), 1, 20000);
    QVERIFY(!rejected.at(0).at(0).toString().isEmpty());
    QCOMPARE(loaded.size(), 0);
    QCOMPARE(m_model->isLoadingSnapshot(), false);

    // The event that followed the rejected snapshot is applied.
    QTRY_COMPARE(batches.size(), 1);
    QCOMPARE(m_model->rowCount(), 0);
}

// The totals change with every result, event and snapshot, and always
// equal a walk over the rows.
void TestCredentialsModel::totalsFollowRowChanges()
{
    QJsonArray agents;
    const QJsonObject stalled = scenarioCredential(Scenario::Stalled, agents);
    const QString syncedId = newUuid();
    const QString partialId = newUuid();
    const QString pendingId = newUuid();
    const QJsonArray credentials {
        stalled,
        m_fx.credentialStoredOn(syncedId, u"synced"_s, { 0, 1, 2 }),
        m_fx.credentialStoredOn(partialId, u"partial"_s, { 0, 1 }),
        m_fx.credentialStoredOn(pendingId, u"pending"_s, {}),
    };
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(credentials, agents)).ok());
    QCOMPARE(m_model->isVerifying(), true);
    // Rows still being verified count as problems and hold nothing.
    QCOMPARE(m_model->problemCount(), 4);
    QCOMPARE(m_model->stalledCount(), 0);
    QVERIFY(m_model->holdings().isEmpty());
    QCOMPARE(totalsDifference(*m_model), QString());

    m_model->flush();
    QCOMPARE(m_model->isVerifying(), false);
    QCOMPARE(m_model->stalledCount(), 1);
    QCOMPARE(m_model->problemCount(), 3);
    QCOMPARE(m_model->holdings().value(kAgentIds.at(0)), (AgentHoldings { 3, 4 }));
    QCOMPARE(m_model->holdings().value(kAgentIds.at(2)), (AgentHoldings { 1, 4 }));
    QCOMPARE(totalsDifference(*m_model), QString());

    // The pending credential is delivered everywhere, the synced one is
    // deleted and a new one is created.
    m_model->enqueue(m_fx.syncEvent(m_fx.credentialStoredOn(pendingId, u"pending"_s, { 0, 1, 2 }),
                                    u"delivered"_s));
    QJsonObject deleted = credentials.at(1).toObject();
    deleted.insert(u"state"_s, u"deleted"_s);
    m_model->enqueue(m_fx.syncEvent(deleted, u"credential_deleted"_s));
    const QString createdId = newUuid();
    m_model->enqueue(m_fx.syncEvent(m_fx.credentialStoredOn(createdId, u"created"_s, { 1 }),
                                    u"credential_created"_s));
    m_model->flush();
    QCOMPARE(m_model->isVerifying(), false);
    QCOMPARE(m_model->rowCount(), 4);
    QCOMPARE(m_model->problemCount(), 3);
    QCOMPARE(totalsDifference(*m_model), QString());

    // Agent 2 is revoked, which re-verifies every credential without it.
    QJsonObject revoked = agents.at(2).toObject();
    revoked.insert(u"status"_s, u"revoked"_s);
    m_model->enqueue(QJsonObject {
        { u"type"_s, u"agent_status_changed"_s },
        { u"data"_s,
          QJsonObject { { u"agent_id"_s, kAgentIds.at(2) },
                        { u"status"_s, u"revoked"_s },
                        { u"agent"_s, revoked } } },
    });
    m_model->flush();
    QVERIFY(!m_model->holdings().contains(kAgentIds.at(2)));
    QCOMPARE(totalsDifference(*m_model), QString());

    // A snapshot in steps that lists only the stalled credential.
    m_model->loadSnapshotInSteps(m_fx.snapshot(QJsonArray { stalled }, agents));
    m_model->flush();
    QCOMPARE(m_model->isVerifying(), false);
    QCOMPARE(m_model->rowCount(), 1);
    QCOMPARE(m_model->stalledCount(), 1);
    QCOMPARE(m_model->problemCount(), 1);
    QCOMPARE(totalsDifference(*m_model), QString());
}

// Rounds of deliveries to random credentials move rows between the pending,
// partial and synced groups. After each round every credential is listed
// once, and the rows are sorted problems first, then by name and id.
void TestCredentialsModel::resultsKeepRowsSorted()
{
    constexpr int kCredentials = 200;
    constexpr int kRounds = 6;
    QJsonArray credentials;
    QStringList ids;
    QStringList names;
    for (int c = 0; c < kCredentials; ++c) {
        ids.append(newUuid());
        // Every fifth name repeats, so the credential id decides their order.
        names.append(u"cred-%1"_s.arg(c - c % 5 * (c % 2), 3, 10, QLatin1Char('0')));
        credentials.append(m_fx.credentialStoredOn(ids.last(), names.last(), {}));
    }
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(credentials, m_fx.pinnedAgents())).ok());
    m_model->flush();

    // What a row shows, to find the rows a round changed.
    const auto shownRows = [this] {
        QStringList rows;
        for (int row = 0; row < m_model->rowCount(); ++row) {
            const QModelIndex index = m_model->index(row);
            rows.append(index.data(CredentialsModel::CredentialIdRole).toString() + u'|'
                        + index.data(CredentialsModel::ChipTextRole).toString());
        }
        return rows;
    };
    QList<std::pair<int, int>> changedRanges;
    connect(m_model.get(), &QAbstractItemModel::dataChanged, this,
            [&](const QModelIndex &first, const QModelIndex &last) {
                changedRanges.append({ first.row(), last.row() });
            });

    QRandomGenerator random(20261205);
    QList<QList<int>> stored(kCredentials);
    for (int round = 0; round < kRounds; ++round) {
        const QStringList before = shownRows();
        changedRanges.clear();
        for (int c = 0; c < kCredentials; ++c) {
            if (random.bounded(3) != 0)
                continue;
            const int agent = random.bounded(3);
            if (!stored[c].contains(agent))
                stored[c].append(agent);
            m_model->enqueue(m_fx.syncEvent(
                m_fx.credentialStoredOn(ids.at(c), names.at(c), stored.at(c)), u"delivered"_s));
        }
        m_model->flush();

        QCOMPARE(m_model->rowCount(), kCredentials);
        QSet<QString> listed;
        std::tuple<int, QString, QString> previous { -1, QString(), QString() };
        for (int row = 0; row < m_model->rowCount(); ++row) {
            const QModelIndex index = m_model->index(row);
            const QString id = index.data(CredentialsModel::CredentialIdRole).toString();
            QVERIFY2(!listed.contains(id), qPrintable(u"%1 is listed twice"_s.arg(id)));
            listed.insert(id);
            const int rank = index.data(CredentialsModel::ChipRole).toInt()
                    == static_cast<int>(SyncChip::Synced)
                ? 3
                : 2;
            const std::tuple<int, QString, QString> key {
                rank, index.data(CredentialsModel::NameRole).toString().toLower(), id
            };
            QVERIFY2(previous < key,
                     qPrintable(u"round %1: row %2 (%3) is out of order"_s.arg(round).arg(row).arg(
                         std::get<1>(key))));
            previous = key;
        }
        QCOMPARE(totalsDifference(*m_model), QString());

        // Every row that shows something else lies in a dataChanged range.
        const QStringList after = shownRows();
        for (int row = 0; row < kCredentials; ++row) {
            if (before.at(row) == after.at(row))
                continue;
            const bool reported =
                std::any_of(changedRanges.cbegin(), changedRanges.cend(), [row](const auto &range) {
                    return range.first <= row && row <= range.second;
                });
            QVERIFY2(reported,
                     qPrintable(u"round %1: row %2 changed without dataChanged"_s.arg(round).arg(
                         row)));
        }
    }
}

// A credential deleted and created again under the same id while the worker
// still verifies the old JSON: the old, green result must not reach the new row.
void TestCredentialsModel::staleResultDropped()
{
    std::atomic<int> calls = 0;
    QSemaphore entered;
    QSemaphore release;
    m_model->setVerificationObserver([&](const QString &) {
        const int call = ++calls;
        entered.release();
        if (call <= 2)
            release.acquire();
    });
    // On every exit the worker is let go and finishes with the locals above.
    const auto detach = qScopeGuard([&] {
        release.release(2);
        m_model->flush();
        m_model->setVerificationObserver({});
    });

    QJsonArray agents;
    const QJsonObject synced = scenarioCredential(Scenario::AllSynced, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { synced }, agents)).ok());
    QVERIFY(entered.tryAcquire(1, 5000)); // the worker is verifying the synced JSON

    QSignalSpy batches(m_model.get(), &CredentialsModel::batchApplied);
    QJsonObject deleted = synced;
    deleted.insert(u"state"_s, u"deleted"_s);
    m_model->enqueue(m_fx.syncEvent(deleted, u"credential_deleted"_s));
    QTRY_COMPARE(batches.size(), 1);
    QCOMPARE(m_model->rowCount(), 0);
    // The result the worker still computes is for a credential that is gone.
    QCOMPARE(m_model->isVerifying(), false);

    QJsonObject pending = scenarioCredential(Scenario::Pending, agents);
    m_model->enqueue(m_fx.syncEvent(pending, u"credential_created"_s));
    QTRY_COMPARE(batches.size(), 2);
    QCOMPARE(m_model->rowCount(), 1);
    QCOMPARE(m_model->isVerifying(), true);

    release.release(); // the old result is handed back
    QVERIFY(entered.tryAcquire(1, 5000)); // the worker is verifying the new JSON
    QCoreApplication::processEvents(); // applies whatever was handed back
    QCOMPARE(m_model->syncState(kCredentialId)->verified, false);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"⏳ Verifying"_s);
    QCOMPARE(m_model->verifiedCredential(kCredentialId), nullptr);
    QCOMPARE(m_model->isVerifying(), true);

    release.release();
    m_model->flush();
    QCOMPARE(m_model->isVerifying(), false);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(),
             u"⏳ Pending (3)"_s);
}

void TestCredentialsModel::pinningKeyReverifies()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::UnpinnedStatement, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::UnprotectedRole).toBool(), true);

    QVERIFY(require(m_fx.trusted->add(m_fx.unpinnedKey->publicKey())));
    m_model->reloadTrustedOperators();
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::UnprotectedRole).toBool(), false);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"✓ 3/3 synced"_s);
}

void TestCredentialsModel::verificationsForHoldings()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::Partial, agents);
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { credential }, agents)).ok());
    m_model->flush();

    const QList<CredentialVerification> verifications = m_model->verifications();
    QCOMPARE(verifications.size(), 1);
    QCOMPARE(verifications.at(0).credentialId, kCredentialId);
    QCOMPARE(verifications.at(0).agents.size(), 3);
    QCOMPARE(verifications.at(0).agents.at(0).status, AgentSyncStatus::Synced);
    QCOMPARE(verifications.at(0).agents.at(2).status, AgentSyncStatus::Pending);
}

void TestCredentialsModel::rotationByTrustedKeyClearsUnprotected()
{
    const SignedStatement untrusted =
        m_fx.credentialStatement(kCredentialId, 1, 1, *m_fx.unpinnedKey);
    const QJsonObject before = m_fx.credentialJson(
        kCredentialId, u"core-switch"_s, untrusted, 1, 1,
        QJsonArray { m_fx.emptyRow(0, kCredentialId), m_fx.emptyRow(1, kCredentialId),
                     m_fx.emptyRow(2, kCredentialId) });
    QVERIFY(m_model->loadSnapshot(m_fx.snapshot(QJsonArray { before }, m_fx.pinnedAgents())).ok());
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::UnprotectedRole).toBool(), true);

    // The operator rotates it with a key this console pins.
    const SignedStatement rotated =
        m_fx.credentialStatement(kCredentialId, 2, 1, *m_fx.operatorKey);
    const QJsonObject after = m_fx.credentialJson(
        kCredentialId, u"core-switch"_s, rotated, 2, 1,
        QJsonArray { m_fx.emptyRow(0, kCredentialId), m_fx.emptyRow(1, kCredentialId),
                     m_fx.emptyRow(2, kCredentialId) });
    m_model->enqueue(m_fx.syncEvent(after, u"credential_rotated"_s));
    m_model->flush();
    QCOMPARE(m_model->index(0).data(CredentialsModel::UnprotectedRole).toBool(), false);
    QCOMPARE(m_model->index(0).data(CredentialsModel::VersionRole).toLongLong(), 2);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Pending));
}

QTEST_GUILESS_MAIN(TestCredentialsModel)
#include "tst_credentialsmodel.moc"
