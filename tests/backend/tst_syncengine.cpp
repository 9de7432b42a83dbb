// The sync engine in one process on a manual clock: real SQLite storage and
// MemoryStore, with agents played through its AgentLink. Covers the
// reconciler's backoff schedule and rows per run, the stalled alert and its
// deduplication, a manual retry that clears stalled, the choice of the peer
// with the fewest requests waiting, and the defaults the backend resolves
// from no settings.
#include "backoff.h"
#include "ids.h"
#include "keys.h"
#include "memorystore.h"
#include "metrics.h"
#include "reconciler.h"
#include "settings.h"
#include "sqlstorage.h"
#include "statement.h"
#include "syncengine.h"

#include <QCommandLineParser>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

namespace {

const QDateTime kStart(QDate(2026, 12, 10), QTime(12, 0), Qt::UTC);

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("%s", qPrintable(result.error().message));
    return std::move(result.value());
}

} // namespace

class SyncEngineTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void backoffSchedule();
    void stalledAlertOncePerDay();
    void retryClearsStalled();
    void disconnectedAgentNotSwept();
    void sweepTakesBatchRows();
    void rewrapGoesToIdlePeer();
    void defaultsMatchProtocol();

private:
    // One sweep on the current clock; returns how many syncs it started and
    // waits until they finished.
    int sweepAndSettle();
    // Adds an approved agent with a generation 1 certificate signed by the
    // operator key; returns its id, or empty when storing it failed.
    QString addApprovedAgent(const QString &name);
    // Stores version 1 revision 1 of a new credential whose scope is the
    // fixture's agent. Its (credential, agent) row is due at once.
    QString addCredential(const QString &name);
    CredentialAgentRow row() const;
    QList<AlertRow> stalledAlerts() const;
    void advance(std::chrono::milliseconds by);

    QTemporaryDir m_dir;
    std::unique_ptr<SqlStorage> m_storage;
    std::unique_ptr<MemoryStore> m_store;
    std::unique_ptr<Metrics> m_metrics;
    std::unique_ptr<SyncEngine> m_engine;
    QDateTime m_now;
    qint64 m_monotonic = 0;
    QString m_orgId;
    QString m_agentId;
    QString m_credentialId;
    QStringList m_connected;
    QList<AgentMessage> m_sent;
    QStringList m_sentTo; // the recipient of each message of m_sent
    int m_finished = 0;
    std::optional<Ed25519PrivateKey> m_operatorKey;
};

void SyncEngineTest::init()
{
    QVERIFY(m_dir.isValid());
    m_now = kStart;
    StorageConfig config;
    config.engine = SqlEngine::Sqlite;
    config.sqlitePath = m_dir.filePath(u"backend-%1.db"_s.arg(newUuid()));
    m_storage = require(SqlStorage::open(config));
    QVERIFY(m_storage->migrate().ok());
    m_storage->setClock([this] { return m_now; });
    m_store = std::make_unique<MemoryStore>([this] { return m_monotonic; });
    m_metrics = std::make_unique<Metrics>();

    m_orgId = newUuid();
    QVERIFY(m_storage->createOrg(OrgRow { m_orgId, u"test org"_s, {} }).ok());

    // The target agent: approved with a certificate, connected, and the only
    // agent in the org, so every dispatch ends with NO_ELIGIBLE_PEER.
    m_operatorKey = require(Ed25519PrivateKey::generate());
    const Ed25519PrivateKey &operatorKey = *m_operatorKey;
    m_agentId = addApprovedAgent(u"edge-1"_s);
    QVERIFY(!m_agentId.isEmpty());

    m_credentialId = newUuid();
    CredentialStatement fields;
    fields.orgId = m_orgId;
    fields.credentialId = m_credentialId;
    fields.version = 1;
    fields.revision = 1;
    fields.name = u"core-switch-admin"_s;
    fields.kind = u"ssh_password"_s;
    fields.commitment = QByteArray(32, '\x5a');
    fields.issuedAt = kStart;
    fields.operatorKey = operatorKey.publicKey().raw();
    const SignedStatement statement =
        require(signStatement(StatementContext::Credential, fields.toFields(), operatorKey));
    CredentialRow credential;
    credential.orgId = m_orgId;
    credential.credentialId = m_credentialId;
    credential.name = fields.name;
    credential.kind = fields.kind;
    credential.version = 1;
    credential.revision = 1;
    credential.statement = statement.bytes;
    credential.signature = statement.signature;
    credential.commitment = fields.commitment;
    credential.commitmentVersion = kCommitmentVersion;
    QCOMPARE(require(m_storage->createCredential(credential, { m_agentId })),
             CredentialWriteOutcome::Written);

    m_connected = { m_agentId };
    m_sent.clear();
    m_sentTo.clear();
    AgentLink link;
    link.isConnected = [this](const QString &, const QString &agentId) {
        return m_connected.contains(agentId);
    };
    link.send = [this](const QString &, const QString &agentId, const AgentMessage &message) {
        m_sent.append(message);
        m_sentTo.append(agentId);
        return m_connected.contains(agentId);
    };
    link.connectedAgents = [this](const QString &) {
        return m_connected;
    };

    SyncOptions options;
    options.replicaId = newUuid();
    options.clock = [this] {
        return m_now;
    };
    m_engine =
        std::make_unique<SyncEngine>(*m_storage, *m_store, std::move(link), *m_metrics, options);
}

void SyncEngineTest::cleanup()
{
    m_engine.reset();
    m_store.reset();
    m_storage.reset();
}

void SyncEngineTest::advance(std::chrono::milliseconds by)
{
    m_now = m_now.addMSecs(by.count());
    m_monotonic += by.count();
}

int SyncEngineTest::sweepAndSettle()
{
    QSignalSpy swept(&m_engine->reconciler(), &Reconciler::sweepFinished);
    m_engine->reconciler().sweep();
    if (!swept.wait(5000))
        return -2;
    const int started = swept.first().first().toInt();
    // Each started sync fails at once (no peer); give the event loop the
    // turns its lock and audit steps take.
    const qint64 attemptsBefore = row().attempts;
    if (started > 0) {
        if (!QTest::qWaitFor([&] { return row().attempts > attemptsBefore || row().stalled; },
                             5000))
            return -3;
        // The lock is released after the outcome; let it go before the next
        // sweep.
        QTest::qWait(20);
    }
    return started;
}

CredentialAgentRow SyncEngineTest::row() const
{
    auto found = m_storage->credentialAgent(m_orgId, m_credentialId, m_agentId);
    return found && found.value() ? *found.value() : CredentialAgentRow();
}

QList<AlertRow> SyncEngineTest::stalledAlerts() const
{
    AlertFilter filter;
    filter.type = u"credential_sync_stalled"_s;
    return require(m_storage->alerts(m_orgId, filter));
}

void SyncEngineTest::backoffSchedule()
{
    const BackoffSchedule schedule = BackoffSchedule::reconciler();
    QCOMPARE(sweepAndSettle(), 1);
    for (int attempt = 1; attempt < schedule.retireAtFailure(); ++attempt) {
        const CredentialAgentRow current = row();
        QCOMPARE(current.attempts, attempt);
        QCOMPARE(current.lastError, std::optional<QString>(u"NO_ELIGIBLE_PEER"_s));
        const auto wait = *schedule.delayAfterFailure(attempt - 1);
        QCOMPARE(current.nextAttemptAt, m_now.addMSecs(wait.count()));

        // One millisecond early, the row is not due.
        advance(wait - std::chrono::milliseconds(1));
        QCOMPARE(sweepAndSettle(), 0);
        QCOMPARE(row().attempts, attempt);
        advance(std::chrono::milliseconds(1));
        QCOMPARE(sweepAndSettle(), 1);
    }
    QCOMPARE(row().attempts, schedule.retireAtFailure());
    QVERIFY(row().stalled);
    // A stalled row is never due again by itself.
    advance(std::chrono::hours(3));
    QCOMPARE(sweepAndSettle(), 0);
}

void SyncEngineTest::stalledAlertOncePerDay()
{
    const BackoffSchedule schedule = BackoffSchedule::reconciler();
    const auto stall = [&] {
        for (int attempt = row().attempts; attempt < schedule.retireAtFailure(); ++attempt) {
            QCOMPARE(sweepAndSettle(), 1);
            if (!row().stalled)
                advance(*schedule.delayAfterFailure(attempt));
        }
        QVERIFY(row().stalled);
    };

    stall();
    QList<AlertRow> alerts = stalledAlerts();
    QCOMPARE(alerts.size(), 1);
    QCOMPARE(alerts.first().count, 1);
    QCOMPARE(alerts.first().severity, AlertSeverity::Medium);
    QCOMPARE(alerts.first().subject, u"credential:%1/agent:%2"_s.arg(m_credentialId, m_agentId));
    const QDateTime firstRaised = alerts.first().lastSeen;

    // Stalled again 3 h later: within 24 h of the last alert, none is raised.
    QVERIFY(require(m_storage->retryCredential(m_orgId, m_credentialId)) > 0);
    QVERIFY(!row().stalled);
    stall();
    alerts = stalledAlerts();
    QCOMPARE(alerts.size(), 1);
    QCOMPARE(alerts.first().count, 1);

    // More than 24 h after it, the next stall raises it again.
    advance(std::chrono::hours(24));
    QVERIFY(require(m_storage->retryCredential(m_orgId, m_credentialId)) > 0);
    stall();
    alerts = stalledAlerts();
    QCOMPARE(alerts.size(), 1);
    QCOMPARE(alerts.first().count, 2);
    QVERIFY(alerts.first().lastSeen > firstRaised.addDays(1));
}

void SyncEngineTest::retryClearsStalled()
{
    const BackoffSchedule schedule = BackoffSchedule::reconciler();
    for (int attempt = 0; attempt < schedule.retireAtFailure(); ++attempt) {
        QCOMPARE(sweepAndSettle(), 1);
        if (!row().stalled)
            advance(*schedule.delayAfterFailure(attempt));
    }
    QVERIFY(row().stalled);

    // The API clears stalled, then the engine syncs at once, without a
    // sweep: the new attempt is the first again.
    QVERIFY(require(m_storage->retryCredential(m_orgId, m_credentialId)) > 0);
    m_engine->retryCredential(m_orgId, m_credentialId);
    QTRY_COMPARE_WITH_TIMEOUT(row().attempts, 1, 5000);
    QVERIFY(!row().stalled);
    QCOMPARE(row().nextAttemptAt, m_now.addMSecs(schedule.delayAfterFailure(0)->count()));
}

void SyncEngineTest::disconnectedAgentNotSwept()
{
    // The agent is disconnected: the reconciler only syncs connected agents.
    m_connected.clear();
    QCOMPARE(sweepAndSettle(), 0);
    m_connected = { m_agentId };
    m_sent.clear();
    QCOMPARE(sweepAndSettle(), 1);
    // With no peer, nothing was sent to anybody.
    QVERIFY(m_sent.isEmpty());
}

QString SyncEngineTest::addApprovedAgent(const QString &name)
{
    const Ed25519PrivateKey identity = require(Ed25519PrivateKey::generate());
    const RsaPrivateKey encryption = require(RsaPrivateKey::generate());
    AgentRow agent;
    agent.orgId = m_orgId;
    agent.agentId = newUuid();
    agent.name = name;
    agent.encryptionKey = encryption.publicKey().spkiDer();
    agent.identityKey = identity.publicKey().raw();
    if (!m_storage->upsertAgent(agent).ok())
        return {};
    sealrelay::AgentCertificate fields;
    fields.orgId = m_orgId;
    fields.agentId = agent.agentId;
    fields.agentName = agent.name;
    fields.generation = 1;
    fields.encryptionKey = agent.encryptionKey;
    fields.identityKey = agent.identityKey;
    fields.issuedAt = kStart.addDays(-1);
    fields.expiresAt = kStart.addDays(365);
    fields.operatorKey = m_operatorKey->publicKey().raw();
    const SignedStatement certificate = require(
        signStatement(StatementContext::AgentCertificate, fields.toFields(), *m_operatorKey));
    if (!require(m_storage->setAgentCertificate(m_orgId, agent.agentId,
                                                backend::AgentCertificate { certificate.bytes,
                                                                            certificate.signature,
                                                                            1, fields.expiresAt })))
        return {};
    return agent.agentId;
}

QString SyncEngineTest::addCredential(const QString &name)
{
    const QString credentialId = newUuid();
    CredentialStatement fields;
    fields.orgId = m_orgId;
    fields.credentialId = credentialId;
    fields.version = 1;
    fields.revision = 1;
    fields.name = name;
    fields.kind = u"ssh_password"_s;
    fields.commitment = QByteArray(32, '\x5a');
    fields.issuedAt = m_now;
    fields.operatorKey = m_operatorKey->publicKey().raw();
    const SignedStatement statement =
        require(signStatement(StatementContext::Credential, fields.toFields(), *m_operatorKey));
    CredentialRow credential;
    credential.orgId = m_orgId;
    credential.credentialId = credentialId;
    credential.name = fields.name;
    credential.kind = fields.kind;
    credential.version = 1;
    credential.revision = 1;
    credential.statement = statement.bytes;
    credential.signature = statement.signature;
    credential.commitment = fields.commitment;
    credential.commitmentVersion = kCommitmentVersion;
    if (require(m_storage->createCredential(credential, { m_agentId }))
        != CredentialWriteOutcome::Written)
        return {};
    return credentialId;
}

// Two peers store 20 credentials that the fixture's agent lacks, and neither
// replies. Each rewrap_request goes to the peer with fewer requests waiting,
// so the two never differ by more than one. A random choice would stay that
// balanced over 20 requests once in 1,024 runs.
void SyncEngineTest::rewrapGoesToIdlePeer()
{
    const QString peerA = addApprovedAgent(u"edge-2"_s);
    const QString peerB = addApprovedAgent(u"edge-3"_s);
    QVERIFY(!peerA.isEmpty());
    QVERIFY(!peerB.isEmpty());
    m_connected << peerA << peerB;

    QHash<QString, int> requested;
    for (int i = 0; i < 20; ++i) {
        const QString credentialId = addCredential(u"peer-choice-%1"_s.arg(i));
        QVERIFY(!credentialId.isEmpty());
        for (const QString &peer : { peerA, peerB }) {
            CredentialAgentRow peerRow;
            peerRow.orgId = m_orgId;
            peerRow.credentialId = credentialId;
            peerRow.agentId = peer;
            peerRow.secretStored = true;
            peerRow.storedVersion = 1;
            peerRow.storedRevision = 1;
            peerRow.nextAttemptAt = m_now;
            QVERIFY(m_storage->upsertCredentialAgent(peerRow).ok());
        }

        const qsizetype sentBefore = m_sent.size();
        m_engine->syncRow(m_orgId, credentialId, m_agentId, SyncTrigger::Retry);
        QTRY_COMPARE(m_sent.size(), sentBefore + 1);
        const auto *request = std::get_if<RewrapRequest>(&m_sent.last());
        QVERIFY(request);
        QCOMPARE(request->credentialId, credentialId);
        ++requested[m_sentTo.last()];
        QVERIFY2(qAbs(requested.value(peerA) - requested.value(peerB)) <= 1,
                 qPrintable(u"after %1 requests: %2 to one peer, %3 to the other"_s.arg(i + 1)
                                .arg(requested.value(peerA))
                                .arg(requested.value(peerB))));
    }
    QCOMPARE(requested.value(peerA), 10);
    QCOMPARE(requested.value(peerB), 10);
}

// 151 rows are due (the fixture's and 150 more). With the default of 100 rows
// per run, one sweep starts 100 syncs and the next the other 51.
void SyncEngineTest::sweepTakesBatchRows()
{
    QCOMPARE(SyncOptions().reconcilerBatchRows, 100);
    for (int i = 0; i < 150; ++i)
        QVERIFY(!addCredential(u"batch-%1"_s.arg(i)).isEmpty());
    const auto dueRows = [this] {
        return require(m_storage->dueCredentialAgents(m_orgId, 1000, m_connected)).size();
    };
    QCOMPARE(dueRows(), qsizetype(151));

    QSignalSpy swept(&m_engine->reconciler(), &Reconciler::sweepFinished);
    m_engine->reconciler().sweep();
    QVERIFY(swept.wait(5000));
    QCOMPARE(swept.takeFirst().first().toInt(), 100);
    // Each sync fails at once (no peer) and moves its row 30 s ahead.
    QTRY_COMPARE_WITH_TIMEOUT(dueRows(), qsizetype(51), 10000);

    m_engine->reconciler().sweep();
    QVERIFY(swept.wait(5000));
    QCOMPARE(swept.takeFirst().first().toInt(), 51);
    QTRY_COMPARE_WITH_TIMEOUT(dueRows(), qsizetype(0), 10000);
}

// The numbers of the protocol, as the backend resolves them when no config
// file, environment variable or option sets anything.
void SyncEngineTest::defaultsMatchProtocol()
{
    using namespace std::chrono_literals;
    QCommandLineParser parser;
    addSettingOptions(parser);
    QVERIFY2(parser.parse({ u"sealrelay-backend"_s }), qPrintable(parser.errorText()));
    Result<BackendSettings> settings = resolveSettings(parser, {});
    QVERIFY2(settings.ok(), settings.ok() ? "" : qPrintable(settings.error().message));
    const SyncOptions options = syncOptionsFrom(settings.value(), u"replica"_s);

    QCOMPARE(options.peerTimeout, 30s);
    QCOMPARE(options.dispatchMaxPeers, 3);
    QCOMPARE(options.lockTtl, 60s);
    QCOMPARE(options.lockRenew, 20s);
    QCOMPARE(options.remoteWait(), 150s);
    QCOMPARE(options.reconcilerLockTtl, 55s);
    QCOMPARE(options.reconcilerInterval, 60s);
    QCOMPARE(options.reconcilerBatchRows, 100);
    QCOMPARE(options.stalledDedupe, 24h);
    QCOMPARE(options.blocklistTtl, 24h);
    QCOMPARE(options.jitPerMinute, 30);
    QCOMPARE(options.jitFloodThreshold, 100);
    QCOMPARE(options.jitFloodWindow, 5min);
    QCOMPARE(options.commitmentFloodThreshold, 10);
    QCOMPARE(options.commitmentFloodWindow, 5min);
    QCOMPARE(options.backfillConcurrency, 5);
    QCOMPARE(options.reconnectLimitPerMinute, 5);
    QCOMPARE(options.reconnectMaxWait, 5min);
    QCOMPARE(settings->retryWindowMs, qint64(10'000));
    QCOMPARE(settings->pingIntervalMs, qint64(15'000));
    QCOMPARE(settings->silenceTimeoutMs, qint64(45'000));
    QCOMPARE(settings->maxWarmReconnectEntries, 10'000);

    // Attempt 0 fails: 30 s, then 2 min, 8 min, 30 min and 2 h up to attempt
    // 8; the 10th failure retires the row.
    const QList<std::chrono::milliseconds> delays { 30s, 2min, 8min, 30min, 2h,
                                                    2h,  2h,   2h,   2h };
    for (int attempt = 0; attempt < delays.size(); ++attempt) {
        const std::optional<std::chrono::milliseconds> delay =
            options.backoff.delayAfterFailure(attempt);
        QVERIFY2(delay.has_value(), qPrintable(QString::number(attempt)));
        QCOMPARE(*delay, delays.at(attempt));
    }
    QVERIFY(!options.backoff.delayAfterFailure(9).has_value());
    QCOMPARE(options.backoff.retireAtFailure(), 10);
}

QTEST_GUILESS_MAIN(SyncEngineTest)
#include "tst_syncengine.moc"
