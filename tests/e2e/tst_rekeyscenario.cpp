// Key regeneration of an agent that stores credentials: b is stopped, runs
// `sealrelay-agent rekey`, is approved at generation 2 and restarted, and then
// receives every credential again under its new keys.
#include "synccluster.h"

#include <QDeadlineTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QtTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::synctest;

namespace {

constexpr int kConvergeMs = 60000;

QJsonObject secretOf(const QString &password)
{
    return QJsonObject { { u"password"_s, password }, { u"username"_s, u"admin"_s } };
}

// The row of GET /api/credentials/{id} for one agent, or an empty object.
QJsonObject credentialRow(SyncCluster &cluster, const QString &credentialId,
                          const QString &agentName)
{
    const QString agentId = cluster.agentId(agentName);
    const QJsonArray rows = cluster.credential(credentialId).value(u"agents"_s).toArray();
    for (const QJsonValue &row : rows) {
        if (row.toObject().value(u"agent_id"_s).toString() == agentId)
            return row.toObject();
    }
    return {};
}

// Waits until `agentName`'s vault contains every credential of `versions` (id
// to version) at that version. Returns a message naming the first credential
// that it lacks, or an empty string.
QString waitForVersions(SyncCluster &cluster, const QString &agentName,
                        const QHash<QString, qint64> &versions, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (auto it = versions.cbegin(); it != versions.cend(); ++it) {
        auto heldVersion = [&] {
            const auto held = cluster.vaultHolds(agentName, it.key());
            return held ? held->first : 0;
        };
        while (heldVersion() != it.value() && !deadline.hasExpired())
            QTest::qWait(200);
        if (heldVersion() != it.value())
            return u"agent %1 holds %2 at version %3, expected %4 within %5 ms"_s
                .arg(agentName, it.key())
                .arg(heldVersion())
                .arg(it.value())
                .arg(timeoutMs);
    }
    return {};
}

} // namespace

class RekeyScenarioTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void cleanup();

    void rekeyRefansOut_data();
    void rekeyRefansOut();

private:
    std::unique_ptr<SyncCluster> m_cluster;
};

void RekeyScenarioTest::cleanup()
{
    if (m_cluster) {
        m_cluster->stop();
        m_cluster.reset();
    }
}

void RekeyScenarioTest::rekeyRefansOut_data()
{
    QTest::addColumn<int>("credentials");
    QTest::addColumn<int>("rotatedWhileStopped");
    QTest::newRow("30 unchanged") << 30 << 0;
    QTest::newRow("30, 5 rotated") << 30 << 5;
}

void RekeyScenarioTest::rekeyRefansOut()
{
    QFETCH(int, credentials);
    QFETCH(int, rotatedWhileStopped);

    m_cluster = std::make_unique<SyncCluster>();
    SyncCluster &cluster = *m_cluster;
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    for (const QString &name : { u"a"_s, u"b"_s })
        QVERIFY2(!cluster.addAgent(name).isEmpty(), qPrintable(cluster.lastError()));
    QCOMPARE(cluster.statusField(u"b"_s, u"certificate_generation"_s), u"1"_s);
    const QString oldIdentityKey = cluster.agent(u"b"_s).value(u"identity_key"_s).toString();
    QVERIFY(!oldIdentityKey.isEmpty());

    // Credential id to its current version.
    QHash<QString, qint64> versions;
    QStringList ids;
    for (int i = 0; i < credentials; ++i) {
        const QString name = u"rekey-%1"_s.arg(i, 2, 10, QChar(u'0'));
        const Upload created = cluster.createCredential(name, secretOf(name + u"-v1"_s));
        QVERIFY2(created.status == 201,
                 qPrintable(u"creating %1 returned %2: %3"_s.arg(
                     name, QString::number(created.status), cluster.lastError())));
        versions.insert(created.credentialId, created.version);
        ids.append(created.credentialId);
    }
    const QString before = waitForVersions(cluster, u"b"_s, versions, kConvergeMs);
    QVERIFY2(before.isEmpty(), qPrintable(before));

    QVERIFY2(cluster.stopAgent(u"b"_s), qPrintable(cluster.lastError()));
    for (int i = 0; i < rotatedWhileStopped; ++i) {
        const QString id = ids.at(i);
        const Upload rotated = cluster.rotateCredential(id, secretOf(id + u"-v2"_s));
        QVERIFY2(rotated.status == 200,
                 qPrintable(u"rotating %1 returned %2: %3"_s.arg(
                     id, QString::number(rotated.status), cluster.lastError())));
        versions[id] = rotated.version;
    }

    QVERIFY2(cluster.rekeyAgent(u"b"_s), qPrintable(cluster.lastError()));
    QCOMPARE(cluster.statusField(u"b"_s, u"certificate_generation"_s), u"2"_s);
    const QJsonObject agentRow = cluster.agent(u"b"_s);
    QCOMPARE(agentRow.value(u"generation"_s).toInteger(), 2);
    QCOMPARE(agentRow.value(u"status"_s).toString(), u"approved"_s);
    const QString newIdentityKey = agentRow.value(u"identity_key"_s).toString();
    QVERIFY2(newIdentityKey != oldIdentityKey, "the backend still lists b's old identity key");
    Result<Ed25519PublicKey> identityKey =
        Ed25519PublicKey::fromBase64(newIdentityKey, u"identity_key");
    QVERIFY2(identityKey, qPrintable(identityKey ? QString() : identityKey.error().message));

    const QString after = waitForVersions(cluster, u"b"_s, versions, kConvergeMs);
    QVERIFY2(after.isEmpty(), qPrintable(after));

    // Every row of b carries a stored receipt at the current version, signed
    // by the new identity key.
    for (const QString &id : ids) {
        const qint64 version = versions.value(id);
        QJsonObject row;
        QTRY_VERIFY2_WITH_TIMEOUT(
            (row = credentialRow(cluster, id, u"b"_s),
             row.value(u"stored_version"_s).toInteger() == version),
            qPrintable(
                u"the backend row of %1 for agent b has stored_version %2, expected %3"_s.arg(id)
                    .arg(row.value(u"stored_version"_s).toInteger())
                    .arg(version)),
            10000);
        QVERIFY2(row.value(u"secret_stored"_s).toBool(),
                 qPrintable(u"the backend row of %1 for agent b is not secret_stored"_s.arg(id)));

        Result<SignedStatement> receipt =
            SignedStatement::fromJson(row.value(u"receipt"_s), u"receipt");
        QVERIFY2(
            receipt,
            qPrintable(u"the backend row of %1 for agent b has no readable "
                       "receipt: %2"_s.arg(id, receipt ? QString() : receipt.error().message)));
        Result<QJsonObject> fields =
            verifyStatement(StatementContext::Receipt, receipt.value(), identityKey.value());
        QVERIFY2(
            fields,
            qPrintable(u"the receipt of %1 from agent b does not verify under its new "
                       "identity key: %2"_s.arg(id, fields ? QString() : fields.error().message)));
        QCOMPARE(fields->value(u"agent_id"_s).toString(), cluster.agentId(u"b"_s));
        QCOMPARE(fields->value(u"credential_id"_s).toString(), id);
        QCOMPARE(fields->value(u"version"_s).toInteger(), version);
        QCOMPARE(fields->value(u"state"_s).toString(), u"stored"_s);
    }

    // Every upload and every peer in this cluster is honest, so the backend
    // raises no integrity alert.
    for (const QString &type :
         { u"credential_commitment_mismatch"_s, u"peer_agent_integrity_failure"_s }) {
        const QJsonArray raised = cluster.alerts(type);
        QVERIFY2(
            raised.isEmpty(),
            qPrintable(u"the backend raised %1 %2 alerts, the first: %3"_s.arg(
                QString::number(raised.size()), type,
                QString::fromUtf8(
                    QJsonDocument(raised.first().toObject()).toJson(QJsonDocument::Compact)))));
    }

    const ProcessResult audit =
        cluster.runAgentCommand(u"b"_s, { u"audit"_s, u"--data-dir"_s, cluster.dataDir(u"b"_s) });
    QVERIFY2(audit.exitCode == 0,
             qPrintable(u"sealrelay-agent audit on agent b exited with %1: %2"_s.arg(
                 QString::number(audit.exitCode), audit.err.trimmed())));
    // Creator envelopes queued for b's old key are dropped at the rekey, so
    // b never has to refuse one.
    QVERIFY2(!audit.out.contains(u"BAD_ATTESTATION"_s), qPrintable(audit.out));
}

QTEST_GUILESS_MAIN(RekeyScenarioTest)
#include "tst_rekeyscenario.moc"
