// TrustedOperators: the pinned list in the user's config folder, its file
// format (the agents' trusted-operators format), add, remove, list with
// locally computed fingerprints, and the permission check.
#include "operatorkeystore.h"
#include "statement.h"
#include "trustedoperators.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;

namespace {

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("test set-up failed: %s", qPrintable(result.error().message));
    return std::move(result).value();
}

mode_t modeOf(const QString &path)
{
    struct stat status { };
    ::stat(QFile::encodeName(path).constData(), &status);
    return status.st_mode & 0777;
}

} // namespace

class TestTrustedOperators : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void defaultPathInConfigFolder();
    void missingFileIsEmpty();
    void addWritesPrivateFile();
    void addTwiceReturnsFalse();
    void removeKey();
    void removeUnknownReturnsFalse();
    void listHasFingerprints();
    void agentReaderAcceptsFile();
    void looseModeRejected_data();
    void looseModeRejected();
    void invalidLineRejected();

private:
    QString path() const { return m_dir->filePath(u"config/sealrelay/trusted-operators-test"_s); }

    std::unique_ptr<QTemporaryDir> m_dir;
    QByteArray m_savedConfigHome;
};

void TestTrustedOperators::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_savedConfigHome = qgetenv("XDG_CONFIG_HOME");
    qputenv("XDG_CONFIG_HOME", QFile::encodeName(m_dir->filePath(u"config"_s)));
}

void TestTrustedOperators::cleanup()
{
    if (m_savedConfigHome.isEmpty())
        qunsetenv("XDG_CONFIG_HOME");
    else
        qputenv("XDG_CONFIG_HOME", m_savedConfigHome);
    m_dir.reset();
}

void TestTrustedOperators::defaultPathInConfigFolder()
{
    QCOMPARE(TrustedOperators::defaultPath(u"test"_s), path());
}

void TestTrustedOperators::missingFileIsEmpty()
{
    Result<TrustedOperators> trusted = TrustedOperators::load(path());
    QVERIFY(trusted.ok());
    QVERIFY(trusted->isEmpty());
    QVERIFY(!QFile::exists(path()));
}

void TestTrustedOperators::addWritesPrivateFile()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    Result<bool> added = trusted.add(key.publicKey());
    QVERIFY2(added.ok(), added.ok() ? "" : qPrintable(added.error().message));
    QVERIFY(added.value());
    QVERIFY(trusted.contains(key.publicKey()));
    QVERIFY(trusted.contains(key.publicKey().raw()));
    QCOMPARE(modeOf(path()), mode_t(0600));

    TrustedOperators reloaded = require(TrustedOperators::load(path()));
    QCOMPARE(reloaded.keys().size(), 1);
    QVERIFY(reloaded.contains(key.publicKey()));
}

void TestTrustedOperators::addTwiceReturnsFalse()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    QVERIFY(require(trusted.add(key.publicKey())));
    Result<bool> again = trusted.add(key.publicKey());
    QVERIFY(again.ok());
    QVERIFY(!again.value());
    QCOMPARE(trusted.keys().size(), 1);
}

void TestTrustedOperators::removeKey()
{
    const Ed25519PrivateKey first = require(Ed25519PrivateKey::generate());
    const Ed25519PrivateKey second = require(Ed25519PrivateKey::generate());
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    QVERIFY(require(trusted.add(first.publicKey())));
    QVERIFY(require(trusted.add(second.publicKey())));

    Result<bool> removed = trusted.remove(first.publicKey());
    QVERIFY(removed.ok());
    QVERIFY(removed.value());
    QVERIFY(!trusted.contains(first.publicKey()));

    TrustedOperators reloaded = require(TrustedOperators::load(path()));
    QVERIFY(!reloaded.contains(first.publicKey()));
    QVERIFY(reloaded.contains(second.publicKey()));
}

void TestTrustedOperators::removeUnknownReturnsFalse()
{
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    Result<bool> removed = trusted.remove(require(Ed25519PrivateKey::generate()).publicKey());
    QVERIFY(removed.ok());
    QVERIFY(!removed.value());
    QVERIFY(!QFile::exists(path()));
}

void TestTrustedOperators::listHasFingerprints()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    QVERIFY(require(trusted.add(key.publicKey())));
    const QList<TrustedOperator> entries = trusted.list();
    QCOMPARE(entries.size(), 1);
    QCOMPARE(entries.constFirst().fingerprint, key.publicKey().fingerprint());
    QCOMPARE(entries.constFirst().fingerprint, operatorFingerprint(key.publicKey()));
    QVERIFY(entries.constFirst().key == key.publicKey());
}

void TestTrustedOperators::agentReaderAcceptsFile()
{
    const Ed25519PrivateKey first = require(Ed25519PrivateKey::generate());
    const Ed25519PrivateKey second = require(Ed25519PrivateKey::generate());
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    QVERIFY(require(trusted.add(first.publicKey())));
    QVERIFY(require(trusted.add(second.publicKey())));

    Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path());
    QVERIFY2(keys.ok(), keys.ok() ? "" : qPrintable(keys.error().message));
    QCOMPARE(keys->size(), 2);
    QVERIFY(keys->at(0) == first.publicKey());
    QVERIFY(keys->at(1) == second.publicKey());
}

void TestTrustedOperators::looseModeRejected_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("0644") << 0644;
    QTest::newRow("0620") << 0620;
    QTest::newRow("0602") << 0602;
}

void TestTrustedOperators::looseModeRejected()
{
    QFETCH(int, mode);
    TrustedOperators trusted = require(TrustedOperators::load(path()));
    QVERIFY(require(trusted.add(require(Ed25519PrivateKey::generate()).publicKey())));
    QCOMPARE(::chmod(QFile::encodeName(path()).constData(), mode_t(mode)), 0);

    Result<TrustedOperators> reloaded = TrustedOperators::load(path());
    QVERIFY(!reloaded.ok());
    QCOMPARE(reloaded.error().reason, Reason::Forbidden);
    QVERIFY2(reloaded.error().message.contains(u"chmod 600"_s),
             qPrintable(reloaded.error().message));
}

void TestTrustedOperators::invalidLineRejected()
{
    QVERIFY(QDir().mkpath(QFileInfo(path()).absolutePath()));
    QFile file(path());
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("# pinned\nnot-a-key\n");
    file.close();
    QVERIFY(file.setPermissions(QFile::ReadOwner | QFile::WriteOwner));

    Result<TrustedOperators> trusted = TrustedOperators::load(path());
    QVERIFY(!trusted.ok());
    QCOMPARE(trusted.error().reason, Reason::InvalidKey);
}

QTEST_GUILESS_MAIN(TestTrustedOperators)
#include "tst_trustedoperators.moc"
