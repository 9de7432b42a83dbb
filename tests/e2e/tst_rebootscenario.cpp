// A night-time reboot of one agent under load: agent c is killed with SIGKILL
// and restarted while credentials are rotated and created and agent a serves
// `sealrelay-agent get` for them. c then converges and its audit chain verifies.
#include "synccluster.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QRandomGenerator>
#include <QtTest>

#include <map>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::synctest;

namespace {

constexpr int kInitialCredentials = 20;
constexpr int kLoadMs = 10000;
constexpr int kKillAtMs = 2500;
constexpr int kRestartAtMs = 5500;
// A credential is rotated again only after this long, so that a get on a
// returns either its current or its previous version.
constexpr int kRotationSpacingMs = 2000;
constexpr int kOperationIntervalMs = 300;
constexpr int kConvergeMs = 30000;

QJsonObject secretOf(const QString &password)
{
    return QJsonObject { { u"password"_s, password }, { u"username"_s, u"admin"_s } };
}

// What the test uploaded for one credential.
struct Expected {
    QString id;
    qint64 version = 0;
    QString password;
    QString previousPassword; // empty before the first rotation
    QElapsedTimer sinceUpload;
};

} // namespace

class RebootScenarioTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void cleanup();

    void rebootUnderLoad();

private:
    std::unique_ptr<SyncCluster> m_cluster;
};

void RebootScenarioTest::cleanup()
{
    if (m_cluster) {
        m_cluster->stop();
        m_cluster.reset();
    }
}

void RebootScenarioTest::rebootUnderLoad()
{
    const QStringList agentNames { u"a"_s, u"b"_s, u"c"_s };
    m_cluster = std::make_unique<SyncCluster>();
    SyncCluster &cluster = *m_cluster;
    const QString started = cluster.start();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    for (const QString &name : agentNames)
        QVERIFY2(!cluster.addAgent(name).isEmpty(), qPrintable(cluster.lastError()));

    // By name, in creation order.
    std::map<QString, Expected> expected;
    QStringList names;
    auto create = [&](const QString &name) {
        const QString password = name + u"-v1"_s;
        const Upload created = cluster.createCredential(name, secretOf(password));
        if (created.status != 201)
            return u"creating %1 returned %2: %3"_s.arg(name, QString::number(created.status),
                                                        cluster.lastError());
        Expected &entry = expected[name];
        entry.id = created.credentialId;
        entry.version = created.version;
        entry.password = password;
        entry.sinceUpload.start();
        names.append(name);
        return QString();
    };

    for (int i = 0; i < kInitialCredentials; ++i) {
        const QString failure = create(u"night-%1"_s.arg(i, 2, 10, QChar(u'0')));
        QVERIFY2(failure.isEmpty(), qPrintable(failure));
    }
    for (const QString &agentName : agentNames) {
        for (const QString &name : names) {
            const QString id = expected[name].id;
            QTRY_VERIFY2_WITH_TIMEOUT(
                cluster.vaultHolds(agentName, id).has_value(),
                qPrintable(u"agent %1 did not store %2 (%3) version 1"_s.arg(agentName, name, id)),
                kConvergeMs);
        }
    }

    // The load: every kOperationIntervalMs at most one upload (every fourth a
    // new credential, the others a rotation) and one get on a. c is killed at
    // kKillAtMs and started again at kRestartAtMs. startAgent() blocks until c
    // registered, so the load pauses for that wait.
    QRandomGenerator random(20260205);
    QElapsedTimer load;
    load.start();
    int operations = 0;
    int created = 0;
    int rotated = 0;
    int gets = 0;
    qint64 slowestGetMs = 0;
    bool killed = false;
    bool restarted = false;
    while (load.elapsed() < kLoadMs) {
        if (!killed && load.elapsed() >= kKillAtMs) {
            QVERIFY2(cluster.killAgent(u"c"_s), qPrintable(cluster.lastError()));
            killed = true;
        }
        if (killed && !restarted && load.elapsed() >= kRestartAtMs) {
            QElapsedTimer restart;
            restart.start();
            QVERIFY2(cluster.startAgent(u"c"_s), qPrintable(cluster.lastError()));
            qInfo("agent c registered %lld ms after its restart", restart.elapsed());
            restarted = true;
        }

        if (operations % 4 == 3) {
            const QString failure = create(u"new-%1"_s.arg(created, 2, 10, QChar(u'0')));
            QVERIFY2(failure.isEmpty(), qPrintable(failure));
            ++created;
        } else {
            QStringList ready;
            for (const QString &name : names) {
                if (expected[name].sinceUpload.elapsed() >= kRotationSpacingMs)
                    ready.append(name);
            }
            if (!ready.isEmpty()) {
                const QString name = ready.at(random.bounded(qsizetype(ready.size())));
                Expected &entry = expected[name];
                const QString password = u"%1-v%2"_s.arg(name).arg(entry.version + 1);
                const Upload upload = cluster.rotateCredential(entry.id, secretOf(password));
                QVERIFY2(upload.status == 200,
                         qPrintable(u"rotating %1 returned %2: %3"_s.arg(
                             name, QString::number(upload.status), cluster.lastError())));
                QCOMPARE(upload.version, entry.version + 1);
                entry.previousPassword = entry.password;
                entry.password = password;
                entry.version = upload.version;
                entry.sinceUpload.restart();
                ++rotated;
            }
        }
        ++operations;

        const QString name = names.at(random.bounded(qsizetype(names.size())));
        const Expected &entry = expected[name];
        const ProcessResult result = cluster.get(u"a"_s, name, { u"--field"_s, u"password"_s });
        ++gets;
        slowestGetMs = std::max(slowestGetMs, result.elapsedMs);
        QVERIFY2(result.exitCode == 0,
                 qPrintable(u"get %1 on agent a exited with %2 after %3 ms: %4"_s.arg(
                     name, QString::number(result.exitCode), QString::number(result.elapsedMs),
                     result.err.trimmed())));
        const QString returned = result.out.trimmed();
        QVERIFY2(returned == entry.password
                     || (!entry.previousPassword.isEmpty() && returned == entry.previousPassword),
                 qPrintable(
                     u"get %1 on agent a returned a secret of neither version %2 nor %3"_s.arg(name)
                         .arg(entry.version)
                         .arg(entry.version - 1)));

        QTest::qWait(kOperationIntervalMs);
    }
    QVERIFY2(restarted, "the load ended before agent c was restarted");
    qInfo("load: %d created, %d rotated, %d gets on a (slowest %lld ms)", created, rotated, gets,
          slowestGetMs);

    // c converges: every credential at its current version.
    QDeadlineTimer deadline(kConvergeMs);
    QElapsedTimer convergence;
    convergence.start();
    for (const QString &name : names) {
        const Expected &entry = expected[name];
        auto heldVersion = [&] {
            const auto held = cluster.vaultHolds(u"c"_s, entry.id);
            return held ? held->first : 0;
        };
        while (heldVersion() != entry.version && !deadline.hasExpired())
            QTest::qWait(200);
        QVERIFY2(heldVersion() == entry.version,
                 qPrintable(u"agent c holds %1 (%2) at version %3, expected %4 within %5 ms"_s
                                .arg(name, entry.id)
                                .arg(heldVersion())
                                .arg(entry.version)
                                .arg(kConvergeMs)));
    }
    qInfo("agent c converged on %lld credentials %lld ms after the load", qint64(names.size()),
          convergence.elapsed());

    const ProcessResult audit =
        cluster.runAgentCommand(u"c"_s, { u"audit"_s, u"--data-dir"_s, cluster.dataDir(u"c"_s) });
    QVERIFY2(audit.exitCode == 0,
             qPrintable(u"sealrelay-agent audit on agent c exited with %1: %2"_s.arg(
                 QString::number(audit.exitCode), audit.err.trimmed())));
}

QTEST_GUILESS_MAIN(RebootScenarioTest)
#include "tst_rebootscenario.moc"
