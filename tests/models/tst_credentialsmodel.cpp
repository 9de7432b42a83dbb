// CredentialsModel and SyncVerifier: sync chips computed from real signed
// certificates, statements and receipts, including forged, misdirected and
// refused receipts and unpinned statements. Also covers problems-first
// ordering and batched application of live events, with a burst of 5,000.
#include "credentialsmodel.h"
#include "digest.h"
#include "ids.h"

#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <numeric>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;
using namespace sealrelay::models;

namespace {

const QString kOrgId = u"6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10"_s;
const QString kCredentialId = u"0d7c3f7e-5a51-4bd4-8f0b-0e0f3d1c2a11"_s;
const QStringList kAgentIds = {
    u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s,
    u"1c8a6a1f-9d2e-4f3b-84d5-6e7f8091a2b3"_s,
    u"2d9b7b2a-ae3f-4a4c-95e6-7f8091a2b3c4"_s,
};

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("test set-up failed: %s", qPrintable(result.error().message));
    return std::move(result).value();
}

QDateTime testNow()
{
    return QDateTime(QDate(2026, 12, 10), QTime(12, 0), Qt::UTC);
}

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
Q_DECLARE_METATYPE(Expected)
Q_DECLARE_METATYPE(AgentSyncStatus)

class TestCredentialsModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
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
    void burstAppliedInBatches();

private:
    QJsonObject agentJson(int index, const Ed25519PrivateKey &certificateSigner) const;
    SignedStatement credentialStatement(const QString &credentialId, qint64 version,
                                        qint64 revision, const Ed25519PrivateKey &signer) const;
    SignedStatement receipt(int agentIndex, const QString &credentialId, qint64 version,
                            qint64 revision, const QString &statementSha256,
                            ReceiptState state = ReceiptState::Stored,
                            const QString &reason = {}) const;
    QJsonObject credentialJson(const QString &credentialId, const QString &name,
                               const SignedStatement &statement, qint64 version, qint64 revision,
                               const QJsonArray &rows) const;
    QJsonObject storedRow(int agentIndex, const QString &credentialId,
                          const SignedStatement &receipt) const;
    QJsonObject emptyRow(int agentIndex, const QString &credentialId) const;
    QJsonObject scenarioCredential(Scenario scenario, QJsonArray &agents) const;
    QJsonObject snapshot(const QJsonArray &credentials, const QJsonArray &agents) const;
    QJsonArray pinnedAgents() const;
    void createModel();

    std::optional<Ed25519PrivateKey> m_operator;
    std::optional<Ed25519PrivateKey> m_unpinned;
    QList<Ed25519PrivateKey> m_identities;
    QByteArray m_encryptionKey;

    std::unique_ptr<QTemporaryDir> m_dir;
    std::optional<TrustedOperators> m_trusted;
    std::optional<GenerationRecord> m_generations;
    std::unique_ptr<AgentCertificates> m_certificates;
    std::unique_ptr<SyncVerifier> m_verifier;
    std::unique_ptr<CredentialsModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestCredentialsModel::initTestCase()
{
    m_operator = require(Ed25519PrivateKey::generate());
    m_unpinned = require(Ed25519PrivateKey::generate());
    for (qsizetype i = 0; i < kAgentIds.size(); ++i)
        m_identities.append(require(Ed25519PrivateKey::generate()));
    // One RSA key serves every agent: only the certificates' signatures matter here.
    m_encryptionKey = require(RsaPrivateKey::generate()).publicKey().spkiDer();
}

void TestCredentialsModel::init()
{
    m_tester.reset();
    m_model.reset();
    m_verifier.reset();
    m_certificates.reset();
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_trusted = require(TrustedOperators::load(m_dir->filePath(u"trusted-operators"_s)));
    QVERIFY(require(m_trusted->add(m_operator->publicKey())));
    m_generations = GenerationRecord::inMemory();
    m_certificates = std::make_unique<AgentCertificates>(*m_trusted, kOrgId, *m_generations,
                                                         [] { return testNow(); });
    m_verifier = std::make_unique<SyncVerifier>(*m_trusted, *m_certificates);
    createModel();
}

void TestCredentialsModel::createModel()
{
    m_model = std::make_unique<CredentialsModel>(*m_verifier);
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

QJsonObject TestCredentialsModel::agentJson(int index,
                                            const Ed25519PrivateKey &certificateSigner) const
{
    AgentCertificate certificate;
    certificate.orgId = kOrgId;
    certificate.agentId = kAgentIds.at(index);
    certificate.agentName = u"edge-%1"_s.arg(index + 1);
    certificate.generation = 1;
    certificate.encryptionKey = m_encryptionKey;
    certificate.identityKey = m_identities.at(index).publicKey().raw();
    certificate.issuedAt = testNow().addDays(-1);
    certificate.expiresAt = testNow().addDays(300);
    certificate.operatorKey = certificateSigner.publicKey().raw();
    const SignedStatement signedCertificate = require(signStatement(
        StatementContext::AgentCertificate, certificate.toFields(), certificateSigner));
    return QJsonObject {
        { u"agent_id"_s, certificate.agentId },
        { u"name"_s, certificate.agentName },
        { u"status"_s, u"approved"_s },
        { u"encryption_key"_s, QString::fromLatin1(m_encryptionKey.toBase64()) },
        { u"identity_key"_s, QString::fromLatin1(certificate.identityKey.toBase64()) },
        { u"certificate"_s, signedCertificate.toJson() },
        { u"generation"_s, 1 },
    };
}

QJsonArray TestCredentialsModel::pinnedAgents() const
{
    QJsonArray agents;
    for (qsizetype i = 0; i < kAgentIds.size(); ++i)
        agents.append(agentJson(static_cast<int>(i), *m_operator));
    return agents;
}

SignedStatement TestCredentialsModel::credentialStatement(const QString &credentialId,
                                                          qint64 version, qint64 revision,
                                                          const Ed25519PrivateKey &signer) const
{
    CredentialStatement statement;
    statement.orgId = kOrgId;
    statement.credentialId = credentialId;
    statement.version = version;
    statement.revision = revision;
    statement.name = u"core-switch"_s;
    statement.kind = u"password"_s;
    statement.commitment = QByteArray(32, '\x5a');
    statement.scope = CredentialScope::AutoAll;
    statement.prevStatementSha256 =
        version == 1 && revision == 1 ? QString() : sha256Base64("previous statement");
    statement.issuedAt = testNow();
    statement.operatorKey = signer.publicKey().raw();
    return require(signStatement(StatementContext::Credential, statement.toFields(), signer));
}

SignedStatement TestCredentialsModel::receipt(int agentIndex, const QString &credentialId,
                                              qint64 version, qint64 revision,
                                              const QString &statementSha256, ReceiptState state,
                                              const QString &reason) const
{
    Receipt fields;
    fields.orgId = kOrgId;
    fields.agentId = kAgentIds.at(agentIndex);
    fields.credentialId = credentialId;
    fields.version = version;
    fields.revision = revision;
    fields.statementSha256 = statementSha256;
    fields.state = state;
    fields.reason = reason;
    fields.at = testNow();
    return require(
        signStatement(StatementContext::Receipt, fields.toFields(), m_identities.at(agentIndex)));
}

QJsonObject TestCredentialsModel::storedRow(int agentIndex, const QString &credentialId,
                                            const SignedStatement &signedReceipt) const
{
    QJsonObject row = emptyRow(agentIndex, credentialId);
    row.insert(u"secret_stored"_s, true);
    row.insert(u"receipt"_s, signedReceipt.toJson());
    return row;
}

QJsonObject TestCredentialsModel::emptyRow(int agentIndex, const QString &credentialId) const
{
    return QJsonObject {
        { u"credential_id"_s, credentialId },  { u"agent_id"_s, kAgentIds.at(agentIndex) },
        { u"secret_stored"_s, false },         { u"attempts"_s, 0 },
        { u"last_error"_s, QJsonValue::Null }, { u"stalled"_s, false },
        { u"receipt"_s, QJsonValue::Null },
    };
}

QJsonObject TestCredentialsModel::credentialJson(const QString &credentialId, const QString &name,
                                                 const SignedStatement &statement, qint64 version,
                                                 qint64 revision, const QJsonArray &rows) const
{
    return QJsonObject {
        { u"credential_id"_s, credentialId },
        { u"name"_s, name },
        { u"kind"_s, u"password"_s },
        { u"version"_s, version },
        { u"revision"_s, revision },
        { u"scope"_s, u"auto_all"_s },
        { u"scope_agent_ids"_s, QJsonArray() },
        { u"state"_s, u"active"_s },
        { u"statement"_s, statement.toJson() },
        { u"statement_sha256"_s, statement.sha256() },
        { u"updated_at"_s, formatTimestamp(testNow()) },
        { u"agents"_s, rows },
    };
}

QJsonObject TestCredentialsModel::snapshot(const QJsonArray &credentials,
                                           const QJsonArray &agents) const
{
    return QJsonObject {
        { u"type"_s, u"snapshot"_s },
        { u"id"_s, newUuid() },
        { u"org_id"_s, kOrgId },
        { u"data"_s,
          QJsonObject { { u"credentials"_s, credentials },
                        { u"agents"_s, agents },
                        { u"alerts"_s, QJsonArray() } } },
    };
}

// Builds the credential of `scenario` at version 2 revision 2: agents 0 and 1
// hold verified receipts (unless the scenario removes them) and agent 2
// carries the scenario's defect. `agents` receives the agent list.
QJsonObject TestCredentialsModel::scenarioCredential(Scenario scenario, QJsonArray &agents) const
{
    const qint64 version = 2;
    const qint64 revision = 2;
    agents = pinnedAgents();
    const Ed25519PrivateKey &statementSigner =
        scenario == Scenario::UnpinnedStatement ? *m_unpinned : *m_operator;
    const SignedStatement statement =
        credentialStatement(kCredentialId, version, revision, statementSigner);
    const QString sha = statement.sha256();

    QJsonArray rows;
    for (int i = 0; i < 2; ++i) {
        if (scenario == Scenario::Pending || scenario == Scenario::ClaimedWithoutReceipts) {
            QJsonObject row = emptyRow(i, kCredentialId);
            row.insert(u"secret_stored"_s, scenario == Scenario::ClaimedWithoutReceipts);
            rows.append(row);
        } else {
            rows.append(
                storedRow(i, kCredentialId, receipt(i, kCredentialId, version, revision, sha)));
        }
    }

    QJsonObject third =
        storedRow(2, kCredentialId, receipt(2, kCredentialId, version, revision, sha));
    switch (scenario) {
    case Scenario::AllSynced:
    case Scenario::UnpinnedStatement:
        break;
    case Scenario::Partial:
    case Scenario::Pending:
        third = emptyRow(2, kCredentialId);
        break;
    case Scenario::ClaimedWithoutReceipts:
        third = emptyRow(2, kCredentialId);
        third.insert(u"secret_stored"_s, true);
        break;
    case Scenario::ReceiptOtherKey: {
        Receipt forged = require(Receipt::fromFields(require(parseStatement(
            StatementContext::Receipt, receipt(2, kCredentialId, version, revision, sha).bytes))));
        third.insert(
            u"receipt"_s,
            require(signStatement(StatementContext::Receipt, forged.toFields(), *m_unpinned))
                .toJson());
        break;
    }
    case Scenario::EarlierRevision:
        third.insert(
            u"receipt"_s,
            receipt(2, kCredentialId, version, revision - 1,
                    credentialStatement(kCredentialId, version, revision - 1, *m_operator).sha256())
                .toJson());
        break;
    case Scenario::OtherStatementBytes:
        // Same version and revision, but a different statement (equivocation).
        third.insert(
            u"receipt"_s,
            receipt(2, kCredentialId, version, revision,
                    credentialStatement(kCredentialId, version, revision, *m_unpinned).sha256())
                .toJson());
        break;
    case Scenario::OtherAgentsReceipt:
        third.insert(u"receipt"_s, receipt(0, kCredentialId, version, revision, sha).toJson());
        break;
    case Scenario::RefusedCommitmentMismatch:
        third.insert(u"secret_stored"_s, false);
        third.insert(u"receipt"_s,
                     receipt(2, kCredentialId, version, revision, sha, ReceiptState::Refused,
                             u"COMMITMENT_MISMATCH"_s)
                         .toJson());
        break;
    case Scenario::RefusedOutOfScope:
        third.insert(u"secret_stored"_s, true);
        third.insert(u"receipt"_s,
                     receipt(2, kCredentialId, version, revision, sha, ReceiptState::Refused,
                             u"OUT_OF_SCOPE"_s)
                         .toJson());
        break;
    case Scenario::SourceMismatch:
        third = emptyRow(2, kCredentialId);
        third.insert(u"last_error"_s, u"COMMITMENT_MISMATCH_SOURCE"_s);
        break;
    case Scenario::ForgedCertificate:
        agents.replace(2, agentJson(2, *m_unpinned));
        break;
    case Scenario::Stalled:
        third = emptyRow(2, kCredentialId);
        third.insert(u"stalled"_s, true);
        third.insert(u"attempts"_s, 10);
        third.insert(u"last_error"_s, u"MAX_RETRIES_EXCEEDED"_s);
        break;
    }
    rows.append(third);
    return credentialJson(kCredentialId, u"core-switch"_s, statement, version, revision, rows);
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
    QVERIFY(m_model->loadSnapshot(snapshot(QJsonArray { credential }, agents)).ok());
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
    m_verifier->setAgents(require(parseAgentList(QJsonObject { { u"agents"_s, agents } })));
    const CredentialVerification verification = m_verifier->verify(credential);

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
    QVERIFY(m_model->loadSnapshot(snapshot(QJsonArray { failed }, agents)).ok());
    QCOMPARE(m_model->index(0).data(CredentialsModel::BadgesRole).toStringList(),
             QStringList { u"Integrity failure"_s });

    const QJsonObject unprotected = scenarioCredential(Scenario::UnpinnedStatement, agents);
    QVERIFY(m_model->loadSnapshot(snapshot(QJsonArray { unprotected }, agents)).ok());
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
        const SignedStatement statement = credentialStatement(id, 2, 2, *m_operator);
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
                           receipt(static_cast<int>(i), id, 2, 2, statement.sha256(), old.state,
                                   old.reason)
                               .toJson());
            }
            rows.replace(i, row);
        }
        credentials.append(credentialJson(id, name, statement, 2, 2, rows));
    }
    QVERIFY(m_model->loadSnapshot(snapshot(credentials, agents)).ok());
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
    QVERIFY(m_model->loadSnapshot(snapshot(QJsonArray { credential }, agents)).ok());
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Pending));

    QSignalSpy batches(m_model.get(), &CredentialsModel::batchApplied);
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
                            { u"receipt"_s, receipt(i, kCredentialId, 2, 2, sha).toJson() } } },
        });
    }
    QTRY_COMPARE(batches.size(), 1);
    QCOMPARE(batches.at(0).at(0).toInt(), 3);
    QCOMPARE(changes.size(), 1);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipRole).toInt(),
             static_cast<int>(SyncChip::Synced));
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"✓ 3/3 synced"_s);
}

void TestCredentialsModel::createdAndDeletedEvents()
{
    QJsonArray agents;
    const QJsonObject credential = scenarioCredential(Scenario::AllSynced, agents);
    QVERIFY(m_model->loadSnapshot(snapshot(QJsonArray(), agents)).ok());
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
    QVERIFY(m_model->loadSnapshot(snapshot(QJsonArray { credential }, agents)).ok());
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
    QCOMPARE(m_model->index(0).data(CredentialsModel::AgentCountRole).toInt(), 2);
    QCOMPARE(m_model->index(0).data(CredentialsModel::ChipTextRole).toString(), u"✓ 2/2 synced"_s);
}

void TestCredentialsModel::burstAppliedInBatches()
{
    constexpr int kCredentials = 50;
    constexpr int kEvents = 5000;
    const QJsonArray agents = pinnedAgents();

    // Every credential starts pending on all three agents.
    QJsonArray credentials;
    QList<QJsonObject> bodies;
    QList<QList<QJsonObject>> receipts;
    for (int c = 0; c < kCredentials; ++c) {
        const QString id = newUuid();
        const SignedStatement statement = credentialStatement(id, 1, 1, *m_operator);
        QJsonArray rows;
        QList<QJsonObject> signedReceipts;
        for (int a = 0; a < 3; ++a) {
            rows.append(emptyRow(a, id));
            signedReceipts.append(receipt(a, id, 1, 1, statement.sha256()).toJson());
        }
        const QJsonObject credential =
            credentialJson(id, u"cred-%1"_s.arg(c, 3, 10, QLatin1Char('0')), statement, 1, 1, rows);
        credentials.append(credential);
        QJsonObject body = credential;
        body.remove(u"agents"_s);
        bodies.append(body);
        receipts.append(signedReceipts);
    }
    QVERIFY(m_model->loadSnapshot(snapshot(credentials, agents)).ok());
    QCOMPARE(m_model->rowCount(), kCredentials);
    // A zero interval applies a batch at each return to the event loop, so
    // the burst below arrives in about 20 batches.
    m_model->setBatchInterval(std::chrono::milliseconds(0));

    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy inserts(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy layouts(m_model.get(), &QAbstractItemModel::layoutChanged);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    QSignalSpy batches(m_model.get(), &CredentialsModel::batchApplied);
    const qint64 checksBefore = m_verifier->signatureChecks();

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
    const qint64 elapsedMs = timer.elapsed();
    qInfo("applied %d events in %d batches in %lld ms", applied, int(batches.size()), elapsedMs);

    QCOMPARE(resets.size(), 0);
    QCOMPARE(inserts.size(), 0);
    QVERIFY2(layouts.size() <= batches.size(), "at most one layout change per batch");
    QVERIFY2(changes.size() <= batches.size(), "at most one dataChanged per batch");
    QVERIFY2(batches.size() > 1, "the burst was applied in more than one batch");
    QVERIFY2(batches.size() <= 40, qPrintable(u"%1 batches"_s.arg(batches.size())));
    // Each distinct receipt is verified once however often it is repeated.
    QVERIFY(m_verifier->signatureChecks() - checksBefore <= kCredentials * 3);

    for (int row = 0; row < m_model->rowCount(); ++row) {
        QCOMPARE(m_model->index(row).data(CredentialsModel::ChipRole).toInt(),
                 static_cast<int>(SyncChip::Synced));
        QCOMPARE(m_model->index(row).data(CredentialsModel::SyncedCountRole).toInt(), 3);
    }
}

QTEST_GUILESS_MAIN(TestCredentialsModel)
#include "tst_credentialsmodel.moc"
