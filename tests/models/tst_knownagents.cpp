// KnownAgents: recording agents whose certificates verified, the rules that
// replace an entry, the 0600 file that survives a restart, corrupt files set
// aside and rebuilt, and a restarted SyncVerifier that still counts an agent
// the backend omits.
#include "clientfiles.h"
#include "clientprofile.h"
#include "credentialsyncstate.h"
#include "knownagents.h"
#include "syncfixture.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QTest>

#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;
using namespace sealrelay::models;
using namespace sealrelay::models::testing;

class TestKnownAgents : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();

    void recordNewAgent();
    void recordSameCertificate();
    void replaceRules_data();
    void replaceRules();
    void otherOrgRejected();
    void inMemoryWritesNothing();
    void listSurvivesRestart();
    void handWrittenFileLoads();
    void corruptFileRebuilt_data();
    void corruptFileRebuilt();
    void looseModeRejected();
    void failedWriteKeptInMemory();
    void defaultPathBesideProfile();
    void restartedVerifierCountsOmitted();

private:
    // Agent `index` certified at `generation` until `expiresAt`, verified by
    // the fixture's certificates with a fresh generation record, so a lower
    // generation than one verified before still verifies.
    CertifiedAgent certified(int index, qint64 generation, const QDateTime &expiresAt);
    QString listPath() const { return m_fx.dir->filePath(u"known-agents.json"_s); }

    SyncFixture m_fx;
};

void TestKnownAgents::init()
{
    QVERIFY(m_fx.reset());
}

CertifiedAgent TestKnownAgents::certified(int index, qint64 generation, const QDateTime &expiresAt)
{
    m_fx.generations = GenerationRecord::inMemory();
    const AgentRow row =
        require(AgentRow::fromJson(m_fx.certifiedAgentJson(index, generation, expiresAt)));
    return require(m_fx.certificates->verify(row));
}

void TestKnownAgents::recordNewAgent()
{
    KnownAgents list = KnownAgents::inMemory(kOrgId);
    const CertifiedAgent agent = certified(1, 2, testNow().addDays(100));

    const Result<bool> recorded = list.record(agent, testNow());
    QVERIFY(recorded.ok());
    QCOMPARE(recorded.value(), true);
    QCOMPARE(list.agents().size(), 1);
    const KnownAgent known = list.agents().at(0);
    QCOMPARE(known.agentId, kAgentIds.at(1));
    QCOMPARE(known.name, u"edge-2"_s);
    QCOMPARE(known.fingerprint,
             agentFingerprint(kAgentIds.at(1), agent.certificate.encryptionKey,
                              agent.certificate.identityKey));
    QCOMPARE(known.generation, 2);
    QCOMPARE(known.expiresAt, testNow().addDays(100));
    QCOMPARE(known.firstSeen, testNow());
    QVERIFY(list.find(kAgentIds.at(1)).has_value());
    QVERIFY(!list.find(kAgentIds.at(0)).has_value());
}

void TestKnownAgents::recordSameCertificate()
{
    KnownAgents list = KnownAgents::inMemory(kOrgId);
    const CertifiedAgent agent = certified(0, 1, testNow().addDays(100));
    QVERIFY(list.record(agent, testNow()).ok());

    const Result<bool> again = list.record(agent, testNow().addDays(1));
    QVERIFY(again.ok());
    QCOMPARE(again.value(), false);
    QCOMPARE(list.agents().size(), 1);
    QCOMPARE(list.agents().at(0).firstSeen, testNow());
}

void TestKnownAgents::replaceRules_data()
{
    QTest::addColumn<qint64>("firstGeneration");
    QTest::addColumn<int>("firstDays");
    QTest::addColumn<qint64>("secondGeneration");
    QTest::addColumn<int>("secondDays");
    QTest::addColumn<bool>("changed");
    QTest::addColumn<qint64>("generation");
    QTest::addColumn<int>("days");

    QTest::newRow("higher generation")
        << qint64(1) << 100 << qint64(2) << 50 << true << qint64(2) << 50;
    QTest::newRow("later expiry") << qint64(1) << 100 << qint64(1) << 200 << true << qint64(1)
                                  << 200;
    QTest::newRow("earlier expiry")
        << qint64(1) << 200 << qint64(1) << 100 << false << qint64(1) << 200;
    QTest::newRow("lower generation")
        << qint64(2) << 100 << qint64(1) << 200 << false << qint64(2) << 100;
}

void TestKnownAgents::replaceRules()
{
    QFETCH(qint64, firstGeneration);
    QFETCH(int, firstDays);
    QFETCH(qint64, secondGeneration);
    QFETCH(int, secondDays);
    QFETCH(bool, changed);
    QFETCH(qint64, generation);
    QFETCH(int, days);

    KnownAgents list = KnownAgents::inMemory(kOrgId);
    QVERIFY(
        list.record(certified(2, firstGeneration, testNow().addDays(firstDays)), testNow()).ok());
    const Result<bool> second = list.record(
        certified(2, secondGeneration, testNow().addDays(secondDays)), testNow().addDays(1));
    QVERIFY(second.ok());
    QCOMPARE(second.value(), changed);

    const std::optional<KnownAgent> known = list.find(kAgentIds.at(2));
    QVERIFY(known.has_value());
    QCOMPARE(known->generation, generation);
    QCOMPARE(known->expiresAt, testNow().addDays(days));
    QCOMPARE(known->firstSeen, testNow());
}

void TestKnownAgents::otherOrgRejected()
{
    KnownAgents list = KnownAgents::inMemory(u"7a2d1d4f-3e8b-4c9f-8b62-1e8f4a3cad21"_s);
    const Result<bool> recorded = list.record(certified(0, 1, testNow().addDays(100)), testNow());
    QVERIFY(!recorded.ok());
    QCOMPARE(recorded.error().reason, Reason::IdMismatch);
    QVERIFY(recorded.error().message.contains(kOrgId));
    QCOMPARE(list.agents().size(), 0);
}

void TestKnownAgents::inMemoryWritesNothing()
{
    const QStringList before = QDir(m_fx.dir->path()).entryList(QDir::Files);
    KnownAgents list = KnownAgents::inMemory(kOrgId);
    QVERIFY(list.record(certified(0, 1, testNow().addDays(100)), testNow()).ok());
    QVERIFY(list.save().ok());
    QCOMPARE(list.path(), QString());
    QCOMPARE(QDir(m_fx.dir->path()).entryList(QDir::Files), before);
}

void TestKnownAgents::listSurvivesRestart()
{
    QList<KnownAgent> recorded;
    {
        Result<KnownAgents> list = KnownAgents::load(listPath(), kOrgId);
        QVERIFY(list.ok());
        QCOMPARE(list->agents().size(), 0);
        QVERIFY(list->record(certified(0, 1, testNow().addDays(100)), testNow()).ok());
        QVERIFY(list->record(certified(2, 3, testNow().addDays(50)), testNow().addSecs(60)).ok());
        QVERIFY(!QFileInfo::exists(listPath()));
        QVERIFY(list->save().ok());
        recorded = list->agents();
    }
    QCOMPARE(recorded.size(), 2);

    struct stat status { };
    QCOMPARE(::stat(QFile::encodeName(listPath()).constData(), &status), 0);
    QCOMPARE(status.st_mode & 0777, 0600u);

    Result<KnownAgents> restarted = KnownAgents::load(listPath(), kOrgId);
    QVERIFY(restarted.ok());
    QCOMPARE(restarted->path(), listPath());
    QCOMPARE(restarted->agents(), recorded);
    QVERIFY(!QFileInfo::exists(listPath() + u".corrupt"_s));
}

// The valid file that each row of corruptFileRebuilt_data() breaks in one place.
void TestKnownAgents::handWrittenFileLoads()
{
    const QByteArray content = R"({"agents":{")" + kAgentIds.at(0).toLatin1()
        + R"(":{"expires_at":"2027-10-06T12:00:00.000Z","fingerprint":")" + QByteArray(64, 'a')
        + R"(","first_seen":"2026-12-10T12:00:00.000Z","generation":1,"name":"edge-1"}},)"
        + R"("org_id":")" + kOrgId.toLatin1() + R"("})";
    QVERIFY(writePrivateFile(listPath(), content, WriteMode::Replace).ok());

    Result<KnownAgents> list = KnownAgents::load(listPath(), kOrgId);
    QVERIFY(list.ok());
    QCOMPARE(list->agents().size(), 1);
    const KnownAgent known = list->agents().at(0);
    QCOMPARE(known.agentId, kAgentIds.at(0));
    QCOMPARE(known.name, u"edge-1"_s);
    QCOMPARE(known.generation, 1);
    QCOMPARE(known.expiresAt, QDateTime(QDate(2027, 10, 6), QTime(12, 0), Qt::UTC));
    QCOMPARE(known.firstSeen, testNow());
    QVERIFY(!QFileInfo::exists(listPath() + u".corrupt"_s));
}

void TestKnownAgents::corruptFileRebuilt_data()
{
    QTest::addColumn<QByteArray>("content");

    const QByteArray entry =
        R"("expires_at":"2027-10-06T12:00:00.000Z","first_seen":"2026-12-10T12:00:00.000Z",)"
        R"("generation":1,"name":"edge-1")";
    const QByteArray fingerprint = QByteArray(64, 'a');
    const auto file = [&](const QByteArray &org, const QByteArray &agentId,
                          const QByteArray &fields) -> QByteArray {
        return R"({"agents":{")" + agentId + R"(":{)" + fields + R"(}},"org_id":")" + org + R"("})";
    };
    const QByteArray org = kOrgId.toLatin1();
    const QByteArray agentId = kAgentIds.at(0).toLatin1();
    const QByteArray valid = entry + R"(,"fingerprint":")" + fingerprint + '"';

    QTest::newRow("not JSON") << QByteArray("{\"agents\": {");
    QTest::newRow("array") << QByteArray("[]");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("other org") << file("7a2d1d4f-3e8b-4c9f-8b62-1e8f4a3cad21", agentId, valid);
    QTest::newRow("agents not object") << QByteArray(R"({"agents":[],"org_id":")" + org + "\"}");
    QTest::newRow("agent id not UUID") << file(org, "edge-1", valid);
    QTest::newRow("short fingerprint")
        << file(org, agentId, entry + R"(,"fingerprint":")" + QByteArray(63, 'a') + '"');
    QTest::newRow("generation zero")
        << file(org, agentId, QByteArray(valid).replace("\"generation\":1", "\"generation\":0"));
    QTest::newRow("expiry not a time")
        << file(org, agentId, QByteArray(valid).replace("2027-10-06T12:00:00.000Z", "soon"));
    QTest::newRow("duplicate key") << file(org, agentId, valid + R"(,"generation":2)");
    QTest::newRow("too large") << QByteArray(16 * 1024 * 1024 + 1, ' ');
}

void TestKnownAgents::corruptFileRebuilt()
{
    QFETCH(QByteArray, content);
    QVERIFY(writePrivateFile(listPath(), content, WriteMode::Replace).ok());

    Result<KnownAgents> list = KnownAgents::load(listPath(), kOrgId);
    QVERIFY(list.ok());
    QCOMPARE(list->agents().size(), 0);
    QVERIFY(!QFileInfo::exists(listPath()));
    QFile setAside(listPath() + u".corrupt"_s);
    QVERIFY(setAside.open(QIODevice::ReadOnly));
    QCOMPARE(setAside.readAll(), content);

    QVERIFY(list->record(certified(1, 1, testNow().addDays(100)), testNow()).ok());
    QVERIFY(list->save().ok());
    Result<KnownAgents> rebuilt = KnownAgents::load(listPath(), kOrgId);
    QVERIFY(rebuilt.ok());
    QCOMPARE(rebuilt->agents().size(), 1);
    QCOMPARE(rebuilt->agents().at(0).agentId, kAgentIds.at(1));
}

void TestKnownAgents::looseModeRejected()
{
    {
        Result<KnownAgents> list = KnownAgents::load(listPath(), kOrgId);
        QVERIFY(list.ok());
        QVERIFY(list->record(certified(0, 1, testNow().addDays(100)), testNow()).ok());
        QVERIFY(list->save().ok());
    }
    QCOMPARE(::chmod(QFile::encodeName(listPath()).constData(), 0644), 0);

    const Result<KnownAgents> loaded = KnownAgents::load(listPath(), kOrgId);
    QVERIFY(!loaded.ok());
    QCOMPARE(loaded.error().reason, Reason::Forbidden);
    QVERIFY(loaded.error().message.contains(u"chmod 600"_s));
    QVERIFY(QFileInfo::exists(listPath()));
}

// After the list was loaded, a regular file takes the name of its folder, so
// the folder cannot be created.
void TestKnownAgents::failedWriteKeptInMemory()
{
    const QString path = m_fx.dir->filePath(u"profile/known-agents.json"_s);
    Result<KnownAgents> list = KnownAgents::load(path, kOrgId);
    QVERIFY(list.ok());
    QFile blocker(m_fx.dir->filePath(u"profile"_s));
    QVERIFY(blocker.open(QIODevice::WriteOnly));
    blocker.close();

    QVERIFY(list->record(certified(0, 1, testNow().addDays(100)), testNow()).ok());
    const Result<void> saved = list->save();
    QVERIFY(!saved.ok());
    QCOMPARE(saved.error().reason, Reason::IoError);
    QCOMPARE(list->agents().size(), 1);

    // The agent is unchanged, but its entry is still unsaved.
    const Result<bool> again = list->record(certified(0, 1, testNow().addDays(100)), testNow());
    QVERIFY(again.ok());
    QCOMPARE(again.value(), false);
    QVERIFY(!list->save().ok());

    // Once the folder can be created, the next save() writes the list.
    QVERIFY(blocker.remove());
    QVERIFY(list->save().ok());
    Result<KnownAgents> reloaded = KnownAgents::load(path, kOrgId);
    QVERIFY(reloaded.ok());
    QCOMPARE(reloaded->agents().size(), 1);
}

void TestKnownAgents::defaultPathBesideProfile()
{
    const QString path = KnownAgents::defaultPath(u"lab"_s, kOrgId);
    QCOMPARE(QFileInfo(path).absolutePath(), QFileInfo(Profile::path(u"lab"_s)).absolutePath());
    QCOMPARE(QFileInfo(path).fileName(), u"known-agents-lab-%1.json"_s.arg(kOrgId));
}

// A console that saw all three agents restarts, and the backend then lists
// only the first two, which stored the credential.
void TestKnownAgents::restartedVerifierCountsOmitted()
{
    const QJsonArray allAgents = m_fx.pinnedAgents();
    {
        Result<KnownAgents> list = KnownAgents::load(listPath(), kOrgId);
        QVERIFY(list.ok());
        SyncVerifier before(*m_fx.trusted, *m_fx.certificates, &list.value());
        before.setAgents(require(parseAgentList(QJsonObject { { u"agents"_s, allAgents } })));
        QCOMPARE(before.knownAgents().size(), 3);
    }

    Result<KnownAgents> list = KnownAgents::load(listPath(), kOrgId);
    QVERIFY(list.ok());
    SyncVerifier after(*m_fx.trusted, *m_fx.certificates, &list.value());
    QJsonArray listed = allAgents;
    listed.removeAt(2);
    after.setAgents(require(parseAgentList(QJsonObject { { u"agents"_s, listed } })));
    QJsonObject credential = m_fx.credentialStoredOn(kCredentialId, u"core-switch"_s, { 0, 1 });
    QJsonArray rows = credential.value(u"agents"_s).toArray();
    rows.removeAt(2);
    credential.insert(u"agents"_s, rows);

    const CredentialVerification verification = after.verify(credential);
    QCOMPARE(verification.agents.size(), 3);
    const AgentSyncResult &third = verification.agents.at(2);
    QCOMPARE(third.agentId, kAgentIds.at(2));
    QCOMPARE(third.status, AgentSyncStatus::Pending);
    QCOMPARE(third.missingFromAgentList, true);
    QCOMPARE(third.knownName, u"edge-3"_s);

    const CredentialSyncState state =
        CredentialSyncState::fromVerification(credential, verification);
    QCOMPARE(state.chip, SyncChip::Partial);
    QCOMPARE(state.chipText(), u"⚠ 2/3 synced"_s);
}

QTEST_GUILESS_MAIN(TestKnownAgents)
#include "tst_knownagents.moc"
