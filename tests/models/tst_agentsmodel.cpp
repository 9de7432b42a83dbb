// AgentsModel: status derivation, fingerprints computed locally, certificates
// signed by a pinned operator key and one forged, pending-first ordering,
// holdings counts, and a burst of 4,000 agent events applied in batches.
#include "agentsmodel.h"
#include "ids.h"
#include "syncverifier.h"

#include <QAbstractItemModelTester>
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

QJsonObject statusEvent(const QJsonObject &agent, bool connected)
{
    return QJsonObject {
        { u"type"_s, u"agent_status_changed"_s },
        { u"data"_s,
          QJsonObject { { u"agent_id"_s, agent.value(u"agent_id"_s) },
                        { u"status"_s, agent.value(u"status"_s) },
                        { u"agent"_s, agent },
                        { u"connected"_s, connected } } },
    };
}

QJsonObject progressEvent(const QString &agentId, const QString &state, int done, int total)
{
    return QJsonObject {
        { u"type"_s, u"agent_backfill_progress"_s },
        { u"data"_s,
          QJsonObject { { u"agent_id"_s, agentId },
                        { u"state"_s, state },
                        { u"done"_s, done },
                        { u"failed"_s, 0 },
                        { u"total"_s, total } } },
    };
}

int sumOfBatches(const QSignalSpy &batches)
{
    return std::accumulate(batches.cbegin(), batches.cend(), 0,
                           [](int sum, const QList<QVariant> &args) {
                               return sum + args.at(0).toInt();
                           });
}

} // namespace

Q_DECLARE_METATYPE(AgentStatus)

class TestAgentsModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void statusDerived_data();
    void statusDerived();
    void pinnedCertificateValid();
    void forgedCertificateInvalid();
    void pendingHasNoCertificate();
    void fingerprintComputedLocally();
    void malformedSnapshotRejected();
    void pendingSortedFirst();
    void approvalMovesRow();
    void newAgentInserted();
    void holdingsCounted();
    void burstAppliedInBatches();
    void prechecksMatchVerify();

private:
    // One agent row as GET /api/agents returns it. `signer` null: no
    // certificate, as for a pending agent.
    QJsonObject agentJson(const QString &name, const QString &status, const QString &connection,
                          const Ed25519PrivateKey *signer);
    QModelIndex rowOf(const QString &agentId) const;

    std::optional<Ed25519PrivateKey> m_operator;
    std::optional<Ed25519PrivateKey> m_forger;
    QByteArray m_encryptionKey;

    std::unique_ptr<QTemporaryDir> m_dir;
    std::optional<TrustedOperators> m_trusted;
    std::optional<GenerationRecord> m_generations;
    std::unique_ptr<AgentCertificates> m_certificates;
    std::unique_ptr<AgentsModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

void TestAgentsModel::initTestCase()
{
    m_operator = require(Ed25519PrivateKey::generate());
    m_forger = require(Ed25519PrivateKey::generate());
    // One RSA key serves every agent: only the certificates' signatures matter here.
    m_encryptionKey = require(RsaPrivateKey::generate()).publicKey().spkiDer();
}

void TestAgentsModel::init()
{
    m_tester.reset();
    m_model.reset();
    m_certificates.reset();
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_trusted = require(TrustedOperators::load(m_dir->filePath(u"trusted-operators"_s)));
    QVERIFY(require(m_trusted->add(m_operator->publicKey())));
    m_generations = GenerationRecord::inMemory();
    m_certificates = std::make_unique<AgentCertificates>(*m_trusted, kOrgId, *m_generations,
                                                         [] { return testNow(); });
    m_model = std::make_unique<AgentsModel>(*m_certificates);
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

QJsonObject TestAgentsModel::agentJson(const QString &name, const QString &status,
                                       const QString &connection, const Ed25519PrivateKey *signer)
{
    const QString agentId = newUuid();
    const Ed25519PrivateKey identity = require(Ed25519PrivateKey::generate());
    QJsonObject agent {
        { u"agent_id"_s, agentId },
        { u"name"_s, name },
        { u"status"_s, status },
        { u"encryption_key"_s, QString::fromLatin1(m_encryptionKey.toBase64()) },
        { u"identity_key"_s, QString::fromLatin1(identity.publicKey().raw().toBase64()) },
        { u"certificate"_s, QJsonValue::Null },
        { u"generation"_s, 0 },
        { u"expires_at"_s, QJsonValue::Null },
        { u"last_seen"_s, u"2026-12-10T11:58:00.000Z"_s },
        { u"quarantined"_s, false },
        { u"sync"_s,
          QJsonObject { { u"connection"_s, connection },
                        { u"eligible_for_work"_s, connection == u"online" },
                        { u"backfill_done"_s, 412 },
                        { u"backfill_total"_s, 1000 } } },
    };
    if (signer == nullptr)
        return agent;

    AgentCertificate certificate;
    certificate.orgId = kOrgId;
    certificate.agentId = agentId;
    certificate.agentName = name;
    certificate.generation = 2;
    certificate.encryptionKey = m_encryptionKey;
    certificate.identityKey = identity.publicKey().raw();
    certificate.issuedAt = testNow().addDays(-1);
    certificate.expiresAt = testNow().addDays(300);
    certificate.operatorKey = signer->publicKey().raw();
    agent.insert(u"certificate"_s,
                 require(signStatement(StatementContext::AgentCertificate,
                                       certificate.toFields(), *signer))
                     .toJson());
    agent.insert(u"generation"_s, 2);
    agent.insert(u"expires_at"_s, certificate.expiresAt.toString(Qt::ISODateWithMs));
    return agent;
}

QModelIndex TestAgentsModel::rowOf(const QString &agentId) const
{
    for (int row = 0; row < m_model->rowCount(); ++row) {
        if (m_model->index(row).data(AgentsModel::AgentIdRole).toString() == agentId)
            return m_model->index(row);
    }
    return {};
}

void TestAgentsModel::statusDerived_data()
{
    QTest::addColumn<QString>("status");
    QTest::addColumn<QString>("connection");
    QTest::addColumn<AgentStatus>("expected");
    QTest::addColumn<QString>("text");

    QTest::newRow("online") << u"approved"_s << u"online"_s << AgentStatus::Online << u"Online"_s;
    QTest::newRow("backfilling") << u"approved"_s << u"backfilling"_s << AgentStatus::Backfilling
                                 << u"Backfilling 412/1000"_s;
    QTest::newRow("offline") << u"approved"_s << u"offline"_s << AgentStatus::Offline
                             << u"Offline since %1"_s;
    QTest::newRow("pending approval") << u"pending_approval"_s << u"offline"_s
                                      << AgentStatus::PendingApproval << u"Pending approval"_s;
    QTest::newRow("revoked while online")
        << u"revoked"_s << u"online"_s << AgentStatus::Revoked << u"Revoked"_s;
}

void TestAgentsModel::statusDerived()
{
    QFETCH(QString, status);
    QFETCH(QString, connection);
    QFETCH(AgentStatus, expected);
    QFETCH(QString, text);

    const QJsonObject agent = agentJson(u"edge-1"_s, status, connection,
                                        status == u"pending_approval" ? nullptr : &*m_operator);
    QCOMPARE(deriveAgentStatus(agent), expected);
    QVERIFY(m_model->loadSnapshot(QJsonArray { agent }).ok());
    QCOMPARE(m_model->rowCount(), 1);
    QCOMPARE(m_model->index(0).data(AgentsModel::StatusRole).toInt(), static_cast<int>(expected));
    if (text.contains(u"%1"))
        text = text.arg(QDateTime(QDate(2026, 12, 10), QTime(11, 58), Qt::UTC)
                            .toLocalTime()
                            .toString(u"yyyy-MM-dd HH:mm"_s));
    QCOMPARE(m_model->index(0).data(AgentsModel::StatusTextRole).toString(), text);
}

void TestAgentsModel::pinnedCertificateValid()
{
    QJsonObject agent = agentJson(u"edge-1"_s, u"approved"_s, u"online"_s, &*m_operator);
    // The backend's claims differ from the certificate; the certificate wins.
    agent.insert(u"generation"_s, 9);
    agent.insert(u"expires_at"_s, u"2030-01-01T00:00:00.000Z"_s);
    QVERIFY(m_model->loadSnapshot(QJsonArray { agent }).ok());

    const QModelIndex row = m_model->index(0);
    QVERIFY(row.data(AgentsModel::CertificateValidRole).toBool());
    QCOMPARE(row.data(AgentsModel::CertificateErrorRole).toString(), QString());
    QCOMPARE(row.data(AgentsModel::GenerationRole).toLongLong(), 2);
    QCOMPARE(row.data(AgentsModel::ExpiresAtRole).toDateTime(), testNow().addDays(300));
}

void TestAgentsModel::forgedCertificateInvalid()
{
    const QJsonObject agent = agentJson(u"edge-x"_s, u"approved"_s, u"online"_s, &*m_forger);
    QVERIFY(m_model->loadSnapshot(QJsonArray { agent }).ok());

    const QModelIndex row = m_model->index(0);
    QVERIFY(!row.data(AgentsModel::CertificateValidRole).toBool());
    QVERIFY(!row.data(AgentsModel::CertificateErrorRole).toString().isEmpty());
    // Without a verified certificate the row shows the backend's generation.
    QCOMPARE(row.data(AgentsModel::GenerationRole).toLongLong(), 2);
}

void TestAgentsModel::pendingHasNoCertificate()
{
    const QJsonObject agent = agentJson(u"edge-new"_s, u"pending_approval"_s, u"offline"_s, nullptr);
    QVERIFY(m_model->loadSnapshot(QJsonArray { agent }).ok());

    const QModelIndex row = m_model->index(0);
    QVERIFY(!row.data(AgentsModel::CertificateValidRole).toBool());
    QCOMPARE(row.data(AgentsModel::GenerationRole).toLongLong(), 0);
    QVERIFY(!row.data(AgentsModel::ExpiresAtRole).toDateTime().isValid());
    QCOMPARE(m_model->pendingApprovalCount(), 1);
}

void TestAgentsModel::fingerprintComputedLocally()
{
    QJsonObject agent = agentJson(u"edge-1"_s, u"pending_approval"_s, u"offline"_s, nullptr);
    const QString claimed = QString(64, u'0');
    agent.insert(u"agent_fingerprint"_s, claimed);
    QVERIFY(m_model->loadSnapshot(QJsonArray { agent }).ok());

    const QString expected = agentFingerprint(
        agent.value(u"agent_id"_s).toString(),
        QByteArray::fromBase64(agent.value(u"encryption_key"_s).toString().toLatin1()),
        QByteArray::fromBase64(agent.value(u"identity_key"_s).toString().toLatin1()));
    const QString fingerprint = m_model->index(0).data(AgentsModel::FingerprintRole).toString();
    QCOMPARE(fingerprint, expected);
    QCOMPARE(fingerprint.size(), 64);
    QVERIFY(fingerprint != claimed);
}

void TestAgentsModel::malformedSnapshotRejected()
{
    const QJsonObject good = agentJson(u"edge-1"_s, u"approved"_s, u"online"_s, &*m_operator);
    QVERIFY(m_model->loadSnapshot(QJsonArray { good }).ok());

    QJsonObject bad = agentJson(u"edge-2"_s, u"approved"_s, u"online"_s, &*m_operator);
    bad.insert(u"identity_key"_s, u"not base64!"_s);
    const Result<void> result = m_model->loadSnapshot(QJsonArray { good, bad });
    QVERIFY(!result.ok());
    QCOMPARE(result.error().reason, Reason::Malformed);
    QCOMPARE(m_model->rowCount(), 1);
    QVERIFY(!m_model->loadSnapshot(QJsonArray { u"edge-3"_s }).ok());
    QCOMPARE(m_model->rowCount(), 1);
}

void TestAgentsModel::pendingSortedFirst()
{
    const QJsonArray agents {
        agentJson(u"alpha"_s, u"approved"_s, u"online"_s, &*m_operator),
        agentJson(u"zulu"_s, u"pending_approval"_s, u"offline"_s, nullptr),
        agentJson(u"bravo"_s, u"revoked"_s, u"offline"_s, &*m_operator),
    };
    QVERIFY(m_model->loadSnapshot(agents).ok());
    QCOMPARE(m_model->index(0).data(AgentsModel::NameRole).toString(), u"zulu"_s);
    QCOMPARE(m_model->index(1).data(AgentsModel::NameRole).toString(), u"alpha"_s);
    QCOMPARE(m_model->index(2).data(AgentsModel::NameRole).toString(), u"bravo"_s);
}

void TestAgentsModel::approvalMovesRow()
{
    const QJsonObject pending = agentJson(u"zulu"_s, u"pending_approval"_s, u"offline"_s, nullptr);
    QVERIFY(m_model->loadSnapshot(QJsonArray {
                                      agentJson(u"alpha"_s, u"approved"_s, u"online"_s, &*m_operator),
                                      pending,
                                  })
                .ok());
    QCOMPARE(m_model->index(0).data(AgentsModel::NameRole).toString(), u"zulu"_s);

    // Approval: the same agent with a certificate over the same keys, then it connects.
    QJsonObject approved = agentJson(u"zulu"_s, u"approved"_s, u"online"_s, &*m_operator);
    approved.insert(u"agent_id"_s, pending.value(u"agent_id"_s));
    approved.insert(u"identity_key"_s, pending.value(u"identity_key"_s));
    AgentCertificate certificate = require(AgentCertificate::fromFields(require(parseStatement(
        StatementContext::AgentCertificate,
        require(SignedStatement::fromJson(approved.value(u"certificate"_s), u"certificate"))
            .bytes))));
    certificate.agentId = pending.value(u"agent_id"_s).toString();
    certificate.identityKey =
        QByteArray::fromBase64(pending.value(u"identity_key"_s).toString().toLatin1());
    approved.insert(u"certificate"_s,
                    require(signStatement(StatementContext::AgentCertificate,
                                          certificate.toFields(), *m_operator))
                        .toJson());

    QSignalSpy layouts(m_model.get(), &QAbstractItemModel::layoutChanged);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    m_model->enqueue(statusEvent(approved, true));
    m_model->flush();
    QCOMPARE(layouts.size(), 1);
    QCOMPARE(changes.size(), 1);

    const QModelIndex row = rowOf(pending.value(u"agent_id"_s).toString());
    QCOMPARE(row.row(), 1);
    QCOMPARE(row.data(AgentsModel::StatusRole).toInt(), static_cast<int>(AgentStatus::Online));
    QVERIFY(row.data(AgentsModel::CertificateValidRole).toBool());
    QCOMPARE(m_model->pendingApprovalCount(), 0);
}

void TestAgentsModel::newAgentInserted()
{
    QVERIFY(m_model->loadSnapshot(QJsonArray {
                                      agentJson(u"alpha"_s, u"approved"_s, u"online"_s, &*m_operator),
                                  })
                .ok());
    QSignalSpy inserted(m_model.get(), &QAbstractItemModel::rowsInserted);
    const QJsonObject enrolled = agentJson(u"omega"_s, u"pending_approval"_s, u"online"_s, nullptr);
    m_model->enqueue(statusEvent(enrolled, true));
    // Progress for an agent the model does not list is ignored.
    m_model->enqueue(progressEvent(newUuid(), u"backfilling"_s, 1, 2));
    m_model->flush();
    QCOMPARE(inserted.size(), 1);
    QCOMPARE(m_model->rowCount(), 2);
    QCOMPARE(m_model->index(0).data(AgentsModel::NameRole).toString(), u"omega"_s);
}

void TestAgentsModel::holdingsCounted()
{
    const QJsonObject first = agentJson(u"alpha"_s, u"approved"_s, u"online"_s, &*m_operator);
    const QJsonObject second = agentJson(u"bravo"_s, u"approved"_s, u"online"_s, &*m_operator);
    const QString firstId = first.value(u"agent_id"_s).toString();
    const QString secondId = second.value(u"agent_id"_s).toString();
    QVERIFY(m_model->loadSnapshot(QJsonArray { first, second }).ok());
    QCOMPARE(m_model->index(0).data(AgentsModel::HeldCountRole).toInt(), 0);
    QCOMPARE(m_model->index(0).data(AgentsModel::InScopeCountRole).toInt(), 0);

    // Two credentials: the first agent has stored both, the second only one.
    const auto result = [](const QString &agentId, AgentSyncStatus status) {
        AgentSyncResult agent;
        agent.agentId = agentId;
        agent.status = status;
        return agent;
    };
    CredentialVerification a;
    a.agents = { result(firstId, AgentSyncStatus::Synced), result(secondId, AgentSyncStatus::Synced) };
    CredentialVerification b;
    b.agents = { result(firstId, AgentSyncStatus::Synced),
                 result(secondId, AgentSyncStatus::Stalled) };
    const QHash<QString, AgentHoldings> counts = countHoldings({ a, b });
    QCOMPARE(counts.value(firstId), (AgentHoldings { 2, 2 }));
    QCOMPARE(counts.value(secondId), (AgentHoldings { 1, 2 }));

    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    m_model->setHoldings(counts);
    QCOMPARE(changes.size(), 1);
    QCOMPARE(rowOf(firstId).data(AgentsModel::HeldCountRole).toInt(), 2);
    QCOMPARE(rowOf(firstId).data(AgentsModel::InScopeCountRole).toInt(), 2);
    QCOMPARE(rowOf(secondId).data(AgentsModel::HeldCountRole).toInt(), 1);
    QCOMPARE(rowOf(secondId).data(AgentsModel::InScopeCountRole).toInt(), 2);

    m_model->setHoldings(counts);
    QCOMPARE(changes.size(), 1);
}

void TestAgentsModel::burstAppliedInBatches()
{
    constexpr int kAgents = 20;
    constexpr int kEvents = 4000;
    constexpr int kTotal = 1000;
    QJsonArray agents;
    for (int i = 0; i < kAgents; ++i)
        agents.append(agentJson(u"edge-%1"_s.arg(i, 2, 10, QLatin1Char('0')), u"approved"_s,
                                u"offline"_s, &*m_operator));
    QVERIFY(m_model->loadSnapshot(agents).ok());
    m_model->setBatchInterval(std::chrono::milliseconds(0));

    QSignalSpy resets(m_model.get(), &QAbstractItemModel::modelReset);
    QSignalSpy inserts(m_model.get(), &QAbstractItemModel::rowsInserted);
    QSignalSpy layouts(m_model.get(), &QAbstractItemModel::layoutChanged);
    QSignalSpy changes(m_model.get(), &QAbstractItemModel::dataChanged);
    QSignalSpy batches(m_model.get(), &AgentsModel::batchApplied);

    // Every agent connects, then backfills in steps. Every tenth agent
    // disconnects at the end, which leaves its backfill paused.
    for (int i = 0; i < kAgents; ++i)
        m_model->enqueue(statusEvent(agents.at(i).toObject(), true));
    const int steps = (kEvents - 2 * kAgents) / kAgents;
    for (int step = 1; step <= steps; ++step) {
        for (int i = 0; i < kAgents; ++i) {
            const QString id = agents.at(i).toObject().value(u"agent_id"_s).toString();
            const bool last = step == steps;
            m_model->enqueue(progressEvent(id, last ? u"online"_s : u"backfilling"_s,
                                           last ? kTotal : step * kTotal / steps, kTotal));
        }
        if (step % 20 == 0)
            QCoreApplication::processEvents();
    }
    for (int i = 0; i < kAgents; ++i) {
        const QString id = agents.at(i).toObject().value(u"agent_id"_s).toString();
        if (i % 10 == 0)
            m_model->enqueue(progressEvent(id, u"paused"_s, kTotal, kTotal));
        else
            m_model->enqueue(progressEvent(id, u"online"_s, kTotal, kTotal));
    }
    const int enqueued = 2 * kAgents + steps * kAgents;
    QVERIFY(enqueued >= 3900);

    QTRY_COMPARE_WITH_TIMEOUT(sumOfBatches(batches), enqueued, 10000);
    QCOMPARE(resets.size(), 0);
    QCOMPARE(inserts.size(), 0);
    QVERIFY2(layouts.size() <= batches.size(), "at most one layout change per batch");
    QVERIFY2(changes.size() <= batches.size(), "at most one dataChanged per batch");
    QVERIFY2(batches.size() > 1, "the burst was applied in more than one batch");
    QVERIFY2(batches.size() <= 40, qPrintable(u"%1 batches"_s.arg(batches.size())));

    for (int i = 0; i < kAgents; ++i) {
        const QModelIndex row = rowOf(agents.at(i).toObject().value(u"agent_id"_s).toString());
        const AgentStatus expected = i % 10 == 0 ? AgentStatus::Offline : AgentStatus::Online;
        QCOMPARE(row.data(AgentsModel::StatusRole).toInt(), static_cast<int>(expected));
        QCOMPARE(row.data(AgentsModel::BackfillDoneRole).toLongLong(), kTotal);
        QCOMPARE(row.data(AgentsModel::BackfillTotalRole).toLongLong(), kTotal);
        QVERIFY(row.data(AgentsModel::CertificateValidRole).toBool());
    }
}

QTEST_GUILESS_MAIN(TestAgentsModel)
// Certificate checks made on a worker thread give what
// AgentCertificates::verify() gives, also when the pinned keys, the recorded
// generation or the time changed after the check.
void TestAgentsModel::prechecksMatchVerify()
{
    QDateTime now = testNow();
    GenerationRecord generations = GenerationRecord::inMemory();
    AgentCertificates certificates(*m_trusted, kOrgId, generations, [&now] { return now; });
    SyncVerifier verifier(*m_trusted, certificates, nullptr, &generations);
    const QJsonArray agents {
        agentJson(u"edge-1"_s, u"approved"_s, u"online"_s, &*m_operator),
        agentJson(u"edge-x"_s, u"approved"_s, u"online"_s, &*m_forger),
        agentJson(u"edge-new"_s, u"pending_approval"_s, u"offline"_s, nullptr),
    };
    const QList<AgentRow> rows = require(parseAgentList(QJsonObject { { u"agents"_s, agents } }));
    const QList<CertificatePrecheck> prechecks = verifier.startPrecheck(rows).result();
    QCOMPARE(prechecks.size(), 3);
    QVERIFY(prechecks.at(0).certified.has_value());
    QVERIFY(!prechecks.at(1).certified.has_value());
    QVERIFY(!prechecks.at(2).certified.has_value());
    // The check on the worker records no generation.
    QCOMPARE(generations.highest(rows.at(0).agentId), std::nullopt);

    // What verify() returns for `row` now, with a copy of the record so
    // that the comparison raises no generation.
    const auto expected = [&](const AgentRow &row) {
        GenerationRecord copy = generations;
        AgentCertificates reference(*m_trusted, kOrgId, copy, [&now] { return now; });
        return reference.verify(row);
    };
    const auto errorOf = [](const Result<CertifiedAgent> &result) {
        return result ? QString() : result.error().message;
    };

    verifier.setPrechecks(prechecks);
    for (const AgentRow &row : rows) {
        const Result<CertifiedAgent> want = expected(row);
        const Result<CertifiedAgent> got = verifier.verifyCertificate(row);
        QCOMPARE(got.ok(), want.ok());
        QCOMPARE(errorOf(got), errorOf(want));
        if (got) {
            QCOMPARE(got->certificate.generation, want->certificate.generation);
            QCOMPARE(got->certificate.expiresAt, want->certificate.expiresAt);
            QCOMPARE(got->certificate.identityKey, want->certificate.identityKey);
            QCOMPARE(got->encryptionKeyFingerprint, want->encryptionKeyFingerprint);
        }
    }
    // As verify() does, the use of a precheck records the generation. The
    // two rows without a valid certificate were checked on this thread.
    QCOMPARE(generations.highest(rows.at(0).agentId), std::optional<qint64>(2));
    QCOMPARE(verifier.certificateChecks(), 2);

    // A second use, as the credentials model makes after the agents model,
    // takes the precheck although the record now has its generation.
    const Result<CertifiedAgent> again = verifier.verifyCertificate(rows.at(0));
    QVERIFY(again.ok());
    QCOMPARE(again->certificate.generation, 2);
    QCOMPARE(verifier.certificateChecks(), 2);

    // A higher generation recorded after the check: the row is a rollback.
    QVERIFY(generations.raise(rows.at(0).agentId, 3).ok());
    QCOMPARE(errorOf(verifier.verifyCertificate(rows.at(0))), errorOf(expected(rows.at(0))));
    QVERIFY(!errorOf(verifier.verifyCertificate(rows.at(0))).isEmpty());
    QCOMPARE(verifier.certificateChecks(), 4);

    // The certificate expired after the check.
    GenerationRecord fresh = GenerationRecord::inMemory();
    AgentCertificates later(*m_trusted, kOrgId, fresh, [&now] { return now; });
    SyncVerifier laterVerifier(*m_trusted, later, nullptr, &fresh);
    laterVerifier.setPrechecks(laterVerifier.startPrecheck(rows).result());
    now = testNow().addDays(301);
    QVERIFY(!laterVerifier.verifyCertificate(rows.at(0)));
    now = testNow();

    // The operator key was unpinned after the check.
    SyncVerifier unpinnedVerifier(*m_trusted, later, nullptr, &fresh);
    unpinnedVerifier.setPrechecks(unpinnedVerifier.startPrecheck(rows).result());
    QVERIFY(require(m_trusted->remove(m_operator->publicKey())));
    const Result<CertifiedAgent> unpinned = unpinnedVerifier.verifyCertificate(rows.at(0));
    QVERIFY(!unpinned);
    QCOMPARE(errorOf(unpinned), errorOf(expected(rows.at(0))));
}

#include "tst_agentsmodel.moc"
