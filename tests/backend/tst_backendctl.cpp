// Runs `sealrelayctl token create|revoke` and `sealrelayctl audit verify`
// against a real sealrelay-backend process on 127.0.0.1 and, offline,
// against its SQLite file, including a history rewrite that only the
// remembered head reveals.
#include "auditchain.h"
#include "sqlstorage.h"

#include <QDir>
#include <QEventLoop>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

namespace {

const QString kBackendPath = QStringLiteral(SEALRELAY_BINARY_DIR "/backend/sealrelay-backend");
const QString kCtlPath = QStringLiteral(SEALRELAY_BINARY_DIR "/app/sealrelayctl");

struct ProcessResult {
    int exitCode = -1;
    QString out;
    QString err;

    QString lastLine() const { return out.trimmed().split(u'\n').constLast().trimmed(); }
};

} // namespace

class BackendCtlTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void tokenCreateAndRevoke();
    void tokenCreateNeedsBackend();
    void auditVerifyOnline();
    void auditVerifyOfflineDetectsRewrite();

private:
    ProcessResult runCtl(const QStringList &arguments, const QStringList &environment = {},
                         const QByteArray &input = {});
    void rewriteFirstAuditRow();

    QTemporaryDir m_dir;
    QString m_dataDir;
    QString m_adminToken;
    QString m_backendUrl;
    QProcess m_backend;
};

ProcessResult BackendCtlTest::runCtl(const QStringList &arguments,
                                     const QStringList &environment, const QByteArray &input)
{
    QProcess process;
    QProcessEnvironment variables = QProcessEnvironment::systemEnvironment();
    variables.remove(u"SEALRELAY_BACKEND"_s);
    variables.remove(u"SEALRELAY_TOKEN"_s);
    variables.insert(u"XDG_STATE_HOME"_s, m_dir.filePath(u"state"_s));
    // No login profile of the user running the tests fills in a backend.
    variables.insert(u"XDG_CONFIG_HOME"_s, m_dir.filePath(u"config"_s));
    variables.remove(u"SEALRELAY_PROFILE"_s);
    for (const QString &assignment : environment)
        variables.insert(assignment.section(u'=', 0, 0), assignment.section(u'=', 1));
    process.setProcessEnvironment(variables);
    process.start(kCtlPath, arguments);
    if (process.waitForStarted()) {
        process.write(input);
        process.closeWriteChannel();
    }
    if (!process.waitForFinished(30000)) {
        process.kill();
        process.waitForFinished();
        return {};
    }
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()),
            QString::fromUtf8(process.readAllStandardError())};
}

void BackendCtlTest::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_dataDir = m_dir.filePath(u"data"_s);

    QProcess init;
    init.start(kBackendPath, {u"init"_s, u"--data-dir"_s, m_dataDir});
    QVERIFY(init.waitForFinished(30000));
    QCOMPARE(init.exitCode(), 0);
    m_adminToken = QString::fromUtf8(init.readAllStandardOutput()).trimmed().split(u'\n')
                       .constLast();
    QVERIFY(m_adminToken.startsWith(u"srt_"_s));

    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const quint16 port = probe.serverPort();
    probe.close();
    m_backendUrl = u"http://127.0.0.1:%1"_s.arg(port);

    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(u"SEALRELAY_LOG_LEVEL"_s, u"warn"_s);
    m_backend.setProcessEnvironment(environment);
    m_backend.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    m_backend.start(kBackendPath, {u"run"_s, u"--data-dir"_s, m_dataDir, u"--listen"_s,
                                   u"127.0.0.1:%1"_s.arg(port)});
    QVERIFY(m_backend.waitForStarted());
    QTRY_COMPARE_WITH_TIMEOUT(runCtl({u"audit"_s, u"verify"_s, u"--backend"_s, m_backendUrl,
                                      u"--token"_s, m_adminToken, u"--state-file"_s,
                                      m_dir.filePath(u"probe.json"_s)})
                                  .exitCode,
                              0, 10000);
}

void BackendCtlTest::cleanupTestCase()
{
    if (m_backend.state() != QProcess::NotRunning) {
        m_backend.terminate();
        if (!m_backend.waitForFinished(5000))
            m_backend.kill();
    }
}

void BackendCtlTest::tokenCreateAndRevoke()
{
    const ProcessResult created = runCtl({u"token"_s, u"create"_s, u"--role"_s, u"auditor"_s,
                                          u"--label"_s, u"nightly audit"_s, u"--backend"_s,
                                          m_backendUrl, u"--token"_s, m_adminToken});
    QCOMPARE(created.exitCode, 0);
    const QString token = created.lastLine();
    QVERIFY2(token.startsWith(u"srt_"_s), qPrintable(created.out));
    static const QRegularExpression idLine(u"token_id: ([0-9a-f-]{36})"_s);
    const QRegularExpressionMatch match = idLine.match(created.out);
    QVERIFY(match.hasMatch());

    // The new auditor token works through the environment variables.
    const QStringList environment{u"SEALRELAY_BACKEND="_s + m_backendUrl,
                                  u"SEALRELAY_TOKEN="_s + token};
    const QStringList verify{u"audit"_s, u"verify"_s, u"--state-file"_s,
                             m_dir.filePath(u"auditor.json"_s)};
    QCOMPARE(runCtl(verify, environment).exitCode, 0);

    // An auditor may not create tokens.
    const ProcessResult refused = runCtl({u"token"_s, u"create"_s, u"--role"_s, u"operator"_s},
                                         environment);
    QCOMPARE(refused.exitCode, 3);
    QVERIFY2(refused.err.contains(u"403"_s), qPrintable(refused.err));

    const ProcessResult revoked = runCtl({u"token"_s, u"revoke"_s, match.captured(1),
                                          u"--backend"_s, m_backendUrl, u"--token"_s,
                                          m_adminToken});
    QCOMPARE(revoked.exitCode, 0);
    const ProcessResult afterRevoke = runCtl(verify, environment);
    QCOMPARE(afterRevoke.exitCode, 3);
    QVERIFY2(afterRevoke.err.contains(u"401"_s), qPrintable(afterRevoke.err));
}

void BackendCtlTest::tokenCreateNeedsBackend()
{
    const ProcessResult result = runCtl({u"token"_s, u"create"_s, u"--role"_s, u"auditor"_s});
    QCOMPARE(result.exitCode, 2);
    QVERIFY(result.err.contains(u"SEALRELAY_BACKEND"_s));
    QVERIFY(result.err.contains(u"sealrelayctl login"_s));

    // After 'sealrelayctl login' the profile supplies the backend and token.
    const ProcessResult login = runCtl({u"login"_s, u"--backend"_s, m_backendUrl,
                                        u"--token-file"_s, m_dir.filePath(u"login-token"_s)},
                                       {}, m_adminToken.toUtf8());
    QVERIFY2(login.exitCode == 0, qPrintable(login.err));
    const ProcessResult fromProfile =
        runCtl({u"token"_s, u"create"_s, u"--role"_s, u"auditor"_s, u"--label"_s, u"profile"_s});
    QVERIFY2(fromProfile.exitCode == 0, qPrintable(fromProfile.err));

    // A copy of the profile whose backend does not respond: status reports
    // it, in text and in JSON, and exits with 3.
    QFile profileFile(m_dir.filePath(u"config/sealrelay/profile-default.json"_s));
    QVERIFY(profileFile.open(QIODevice::ReadOnly));
    QJsonObject profile = QJsonDocument::fromJson(profileFile.readAll()).object();
    profileFile.close();
    profile.insert(u"backend"_s, u"http://127.0.0.1:1"_s);
    QFile deadProfile(m_dir.filePath(u"config/sealrelay/profile-dead.json"_s));
    QVERIFY(deadProfile.open(QIODevice::WriteOnly));
    deadProfile.write(QJsonDocument(profile).toJson());
    deadProfile.close();
    // sealrelayctl reads only profiles that other users cannot read.
    QVERIFY(deadProfile.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner));
    const ProcessResult status = runCtl({ u"status"_s, u"--profile"_s, u"dead"_s });
    QVERIFY2(status.exitCode == 3, qPrintable(status.err));
    QVERIFY2(status.out.contains(u"health: unreachable"_s), qPrintable(status.out + status.err));
    const ProcessResult statusJson =
        runCtl({ u"status"_s, u"--profile"_s, u"dead"_s, u"--json"_s });
    QCOMPARE(statusJson.exitCode, 3);
    const QJsonObject json = QJsonDocument::fromJson(statusJson.out.toUtf8()).object();
    QCOMPARE(json.value(u"reachable"_s).toBool(true), false);
    QCOMPARE(json.value(u"healthy"_s).toBool(true), false);
    QVERIFY(deadProfile.remove());

    QVERIFY(QFile::remove(m_dir.filePath(u"config/sealrelay/profile-default.json"_s)));

    // An unreachable backend is a backend error (3), not a usage error.
    const ProcessResult unreachable = runCtl({u"audit"_s, u"verify"_s, u"--backend"_s,
                                              u"http://127.0.0.1:1"_s, u"--token"_s, u"x"_s});
    QCOMPARE(unreachable.exitCode, 3);
    const ProcessResult badRole = runCtl({u"token"_s, u"create"_s, u"--role"_s, u"admin"_s,
                                          u"--backend"_s, m_backendUrl, u"--token"_s,
                                          m_adminToken});
    QCOMPARE(badRole.exitCode, 2);
}

void BackendCtlTest::auditVerifyOnline()
{
    const QString stateFile = m_dir.filePath(u"state/sealrelay/audit-heads.json"_s);
    const ProcessResult result = runCtl({u"audit"_s, u"verify"_s, u"--backend"_s, m_backendUrl,
                                         u"--token"_s, m_adminToken});
    QCOMPARE(result.exitCode, 0);
    QVERIFY2(result.out.contains(u"verified"_s), qPrintable(result.out));
    QVERIFY(QFileInfo::exists(stateFile));

    QFile file(stateFile);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QJsonObject state = QJsonDocument::fromJson(file.readAll()).object();
    QCOMPARE(state.size(), 1);
    QVERIFY(state.constBegin().key().startsWith(u"backend:"_s));
    QVERIFY(state.constBegin().value().toObject().value(u"row_id"_s).toInteger() >= 1);

    // A second run checks against the remembered head and still passes.
    QCOMPARE(runCtl({u"audit"_s, u"verify"_s, u"--backend"_s, m_backendUrl, u"--token"_s,
                     m_adminToken})
                 .exitCode,
             0);
}

void BackendCtlTest::rewriteFirstAuditRow()
{
    // A database superuser rewrites row 1 and recomputes every later hash, so
    // the chain is self-consistent again.
    StorageConfig config;
    config.engine = SqlEngine::Sqlite;
    config.sqlitePath = QDir(m_dataDir).filePath(u"backend.db"_s);
    auto storage = SqlStorage::open(config);
    QVERIFY(storage.ok());
    auto orgs = storage.value()->orgs();
    QVERIFY(orgs.ok());
    AuditFilter filter;
    filter.limit = 10000;
    auto records = storage.value()->auditRecords(orgs->constFirst().orgId, filter);
    QVERIFY(records.ok());
    QVERIFY(!records->isEmpty());

    QList<AuditRecord> rewritten = records.value();
    rewritten[0].actor = u"backend-rewritten"_s;
    QString previous = auditGenesisHash();
    for (AuditRecord &record : rewritten) {
        record.prevHash = previous;
        auto hash = computeAuditRowHash(record);
        QVERIFY(hash.ok());
        record.rowHash = hash.value();
        previous = record.rowHash;
    }

    QSqlDatabase database = QSqlDatabase::database(storage.value()->connectionName());
    QSqlQuery query(database);
    QVERIFY2(query.exec(u"DROP TRIGGER audit_log_reject_update"_s),
             qPrintable(query.lastError().text()));
    for (const AuditRecord &record : std::as_const(rewritten)) {
        QVERIFY(query.prepare(u"UPDATE audit_log SET actor = ?, prev_hash = ?, row_hash = ? "
                              "WHERE id = ?"_s));
        query.addBindValue(record.actor);
        query.addBindValue(record.prevHash);
        query.addBindValue(record.rowHash);
        query.addBindValue(record.id);
        QVERIFY2(query.exec(), qPrintable(query.lastError().text()));
    }
}

void BackendCtlTest::auditVerifyOfflineDetectsRewrite()
{
    // Stop the service so the rewrite races nothing.
    m_backend.terminate();
    QVERIFY(m_backend.waitForFinished(5000));

    const QString database = QDir(m_dataDir).filePath(u"backend.db"_s);
    const QString stateFile = m_dir.filePath(u"offline.json"_s);
    const QStringList verify{u"audit"_s, u"verify"_s, u"--database"_s, database,
                             u"--state-file"_s, stateFile};
    const ProcessResult first = runCtl(verify);
    QCOMPARE(first.exitCode, 0);
    QVERIFY2(first.out.contains(u"verified"_s), qPrintable(first.out));

    rewriteFirstAuditRow();
    if (QTest::currentTestFailed())
        return;

    // Without a remembered head the rewritten chain looks intact...
    const ProcessResult fresh = runCtl({u"audit"_s, u"verify"_s, u"--database"_s, database,
                                        u"--state-file"_s, m_dir.filePath(u"fresh.json"_s)});
    QCOMPARE(fresh.exitCode, 0);
    // ...but the head remembered by the first run reveals it.
    const ProcessResult second = runCtl(verify);
    QCOMPARE(second.exitCode, 1);
    QVERIFY2(second.out.contains(u"known_head_changed"_s), qPrintable(second.out));
}

QTEST_GUILESS_MAIN(BackendCtlTest)
#include "tst_backendctl.moc"
