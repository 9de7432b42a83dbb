// Vault master key sources: their order (systemd credential, key file, OS
// keychain), the key file's mode check and new key files. QtKeychain runs
// against a real Secret Service (gnome-keyring in its own D-Bus session),
// without any D-Bus, and against a bus that never replies.
//
// The keychain cases run in child processes of this binary
// (`tst_masterkey --keychain-case MODE DATA_DIR`), so each gets the
// environment it needs and a fresh D-Bus connection state.
#include "agenttestsupport.h"
#include "digest.h"
#include "keychainsession.h"
#include "keychainstore.h"
#include "masterkey.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;
using sealrelay::test::KeychainCase;
using sealrelay::test::KeychainCaseOutput;
using sealrelay::test::KeychainCaseReporter;
using sealrelay::test::KeychainSession;

namespace {

const QString kKeyHex = u"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"_s;

// The default of MasterKeyLocations::keychainTimeout.
constexpr std::chrono::milliseconds kKeychainDeadline { 5000 };

void writeFile(const QString &path, const QByteArray &content, mode_t mode)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    file.write(content);
    file.close();
    ::chmod(QFile::encodeName(path).constData(), mode);
}

mode_t modeOf(const QString &path)
{
    struct stat status { };
    ::stat(QFile::encodeName(path).constData(), &status);
    return status.st_mode & 07777;
}

MasterKeyLocations locationsIn(const QString &dataDirectory)
{
    MasterKeyLocations locations;
    locations.dataDirectory = dataDirectory;
    locations.keyFilePath = QDir(dataDirectory).filePath(u"vault.key"_s);
    locations.useKeychain = false;
    return locations;
}

// Child side of the keychain cases; the argument is the data directory.
int runKeychainCase(const KeychainCase &keychainCase)
{
    MasterKeyLocations locations = locationsIn(keychainCase.argument);
    locations.useKeychain = true;
    const KeychainCaseReporter reporter;

    if (keychainCase.mode == "store-load"_L1) {
        Result<MasterKey> created = createMasterKey(locations, MasterKeySource::Keychain);
        if (!created)
            return reporter.failed(u"create: "_s + created.error().message);
        Result<MasterKey> loaded = loadMasterKey(locations);
        if (!loaded)
            return reporter.failed(u"load: "_s + loaded.error().message);
        if (loaded->source != MasterKeySource::Keychain)
            return reporter.failed(u"loaded from "_s + masterKeySourceName(loaded->source));
        if (loaded->key.view() != created->key.view())
            return reporter.failed(u"loaded key differs from the stored one"_s);
        Result<MasterKey> again = createMasterKey(locations, MasterKeySource::Keychain);
        if (again)
            return reporter.failed(u"a second key replaced the first"_s);
        const KeychainStore keychain(kKeychainService, u"use a key file instead"_s);
        if (!keychain.remove(locations.keychainKey()))
            return reporter.failed(u"remove failed"_s);
        Result<std::optional<SecureBuffer>> removed = keychain.read(locations.keychainKey());
        if (!removed || removed->has_value())
            return reporter.failed(u"the entry is still there after remove"_s);
        return reporter.succeeded(u"stored, loaded and removed "_s + loaded->location);
    }

    // "no-bus" and "silent-bus": loading must fail within the deadline.
    Result<MasterKey> loaded = loadMasterKey(locations);
    if (loaded)
        return reporter.succeeded(u"loaded from "_s + loaded->location);
    return reporter.failed(loaded.error().message);
}

} // namespace

class TestMasterKey : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void loadsKeyFile();
    void refusesKeyFileMode_data();
    void refusesKeyFileMode();
    void systemdCredentialWins();
    void keyFileBeforeKeychain();
    void refusesMalformedKey_data();
    void refusesMalformedKey();
    void missingKeyNamesAllSources();
    void createsPrivateKeyFile();
    void createNeverReplacesKeyFile();
    void keychainStoresAndLoads();
    void keychainWithoutDbus();
    void keychainSilentBusTimesOut();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
};

void TestMasterKey::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestMasterKey::cleanup()
{
    m_dir.reset();
}

void TestMasterKey::loadsKeyFile()
{
    const MasterKeyLocations locations = locationsIn(m_dir->path());
    writeFile(locations.keyFilePath, kKeyHex.toLatin1() + '\n', 0600);

    Result<MasterKey> key = loadMasterKey(locations);
    QVERIFY2(key.ok(), key.ok() ? "" : qPrintable(key.error().message));
    QCOMPARE(key->source, MasterKeySource::KeyFile);
    QCOMPARE(key->location, locations.keyFilePath);
    QCOMPARE(key->key.view().toByteArray(), QByteArray::fromHex(kKeyHex.toLatin1()));
}

void TestMasterKey::refusesKeyFileMode_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("0644") << 0644;
    QTest::newRow("0640") << 0640;
    QTest::newRow("0604") << 0604;
    QTest::newRow("0400") << 0400;
    QTest::newRow("0700") << 0700;
}

void TestMasterKey::refusesKeyFileMode()
{
    QFETCH(int, mode);
    const MasterKeyLocations locations = locationsIn(m_dir->path());
    writeFile(locations.keyFilePath, kKeyHex.toLatin1(), mode_t(mode));

    Result<MasterKey> key = loadMasterKey(locations);
    QVERIFY(!key.ok());
    QCOMPARE(key.error().reason, Reason::Forbidden);
    const QString message = key.error().message;
    QVERIFY2(message.contains(locations.keyFilePath), qPrintable(message));
    QVERIFY2(message.contains(QString::fromLatin1(QTest::currentDataTag())), qPrintable(message));
    QVERIFY2(message.contains(u"chmod 600"_s), qPrintable(message));
}

void TestMasterKey::systemdCredentialWins()
{
    MasterKeyLocations locations = locationsIn(m_dir->path());
    locations.credentialsDirectory = m_dir->filePath(u"credentials"_s);
    QVERIFY(QDir().mkpath(locations.credentialsDirectory));
    const QByteArray credentialKey(64, 'c');
    writeFile(locations.systemdCredentialPath(), credentialKey, 0400);
    writeFile(locations.keyFilePath, kKeyHex.toLatin1(), 0600);

    QCOMPARE(locations.systemdCredentialPath(),
             locations.credentialsDirectory + u"/sealrelay-vault-key"_s);
    Result<MasterKey> key = loadMasterKey(locations);
    QVERIFY(key.ok());
    QCOMPARE(key->source, MasterKeySource::SystemdCredential);
    QCOMPARE(key->key.view().toByteArray(), QByteArray::fromHex(credentialKey));

    // Without the credential, the key file is next.
    QVERIFY(QFile::remove(locations.systemdCredentialPath()));
    QCOMPARE(loadMasterKey(locations)->source, MasterKeySource::KeyFile);
}

// With a key file present the keychain is never asked, so a host without
// D-Bus does not wait for it.
void TestMasterKey::keyFileBeforeKeychain()
{
    MasterKeyLocations locations = locationsIn(m_dir->path());
    locations.useKeychain = true;
    writeFile(locations.keyFilePath, kKeyHex.toLatin1(), 0600);
    QElapsedTimer timer;
    timer.start();
    Result<MasterKey> key = loadMasterKey(locations);
    QVERIFY(key.ok());
    QCOMPARE(key->source, MasterKeySource::KeyFile);
    QVERIFY(timer.elapsed() < 1000);
}

void TestMasterKey::refusesMalformedKey_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("too short") << kKeyHex.left(62).toLatin1();
    QTest::newRow("too long") << (kKeyHex + u"00"_s).toLatin1();
    QTest::newRow("not hex") << (kKeyHex.left(63) + u"g"_s).toLatin1();
    QTest::newRow("two newlines") << (kKeyHex + u"\n\n"_s).toLatin1();
    QTest::newRow("raw bytes") << QByteArray(32, 'k');
}

void TestMasterKey::refusesMalformedKey()
{
    QFETCH(QByteArray, content);
    const MasterKeyLocations locations = locationsIn(m_dir->path());
    writeFile(locations.keyFilePath, content, 0600);
    Result<MasterKey> key = loadMasterKey(locations);
    QVERIFY(!key.ok());
    QCOMPARE(key.error().reason, Reason::InvalidKey);
    QVERIFY(key.error().message.contains(locations.keyFilePath));
    QVERIFY(key.error().message.contains(u"64 hexadecimal digits"_s));
}

void TestMasterKey::missingKeyNamesAllSources()
{
    MasterKeyLocations locations = locationsIn(m_dir->path());
    locations.credentialsDirectory = m_dir->filePath(u"credentials"_s);
    Result<MasterKey> key = loadMasterKey(locations);
    QVERIFY(!key.ok());
    QCOMPARE(key.error().reason, Reason::NotFound);
    const QString message = key.error().message;
    QVERIFY2(message.contains(u"systemd credential named sealrelay-vault-key"_s),
             qPrintable(message));
    QVERIFY2(message.contains(locations.systemdCredentialPath()), qPrintable(message));
    QVERIFY2(message.contains(locations.keyFilePath), qPrintable(message));
    QVERIFY2(message.contains(u"keychain service \"sealrelay\""_s), qPrintable(message));
    QVERIFY2(message.contains(locations.keychainKey()), qPrintable(message));
}

void TestMasterKey::createsPrivateKeyFile()
{
    const MasterKeyLocations locations = locationsIn(m_dir->path());
    const mode_t previousUmask = ::umask(022);
    Result<MasterKey> created = createMasterKey(locations, MasterKeySource::KeyFile);
    ::umask(previousUmask);
    QVERIFY(created.ok());
    QCOMPARE(created->key.size(), 32);
    QCOMPARE(modeOf(locations.keyFilePath), mode_t(0600));

    QFile file(locations.keyFilePath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray content = file.readAll();
    QCOMPARE(content.size(), 65);
    QVERIFY(content.endsWith('\n'));
    QCOMPARE(QByteArray::fromHex(content.trimmed()), created->key.view().toByteArray());

    Result<MasterKey> loaded = loadMasterKey(locations);
    QVERIFY(loaded.ok());
    QCOMPARE(loaded->key.view(), created->key.view());
}

void TestMasterKey::createNeverReplacesKeyFile()
{
    const MasterKeyLocations locations = locationsIn(m_dir->path());
    writeFile(locations.keyFilePath, kKeyHex.toLatin1(), 0600);
    const QByteArray before = fileDigest(locations.keyFilePath);
    Result<MasterKey> created = createMasterKey(locations, MasterKeySource::KeyFile);
    QVERIFY(!created.ok());
    QVERIFY(created.error().message.contains(u"already exists"_s));
    QCOMPARE(fileDigest(locations.keyFilePath), before);
}

// A real Secret Service: gnome-keyring in a D-Bus session of its own, with
// HOME and the XDG folders in a temporary directory.
void TestMasterKey::keychainStoresAndLoads()
{
    const QString dataDirectory = m_dir->filePath(u"data"_s);
    QVERIFY(QDir().mkpath(dataDirectory));

    const KeychainSession session(m_dir->filePath(u"home"_s));
    const KeychainCaseOutput output =
        session.runWithSecretService({ u"store-load"_s, dataDirectory });
    sealrelay::test::verifyCaseSucceeded(output);
}

// No D-Bus session at all: loading fails within the 5 s deadline and reports
// why.
void TestMasterKey::keychainWithoutDbus()
{
    const KeychainSession session(m_dir->filePath(u"home"_s));
    const KeychainCaseOutput output =
        session.runWithoutBus({ u"no-bus"_s, m_dir->filePath(u"data"_s) });
    sealrelay::test::verifyCaseFailedWithin(output, kKeychainDeadline);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(output.message.contains(u"OS keychain entry"_s), qPrintable(output.message));
    QVERIFY2(output.message.contains(u"no vault master key found"_s), qPrintable(output.message));
}

// A session bus that accepts the connection and never replies, as a hung
// D-Bus would, so only the job deadline ends the wait.
void TestMasterKey::keychainSilentBusTimesOut()
{
    const KeychainSession session(m_dir->filePath(u"home"_s));
    const KeychainCaseOutput output =
        session.runOnSilentBus({ u"silent-bus"_s, m_dir->filePath(u"data"_s) });
    sealrelay::test::verifyCaseFailedWithin(output, kKeychainDeadline);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(output.elapsedMs >= kKeychainDeadline.count(),
             qPrintable(u"took %1 ms"_s.arg(output.elapsedMs)));
    QVERIFY2(output.message.contains(u"did not answer within 5000 ms"_s),
             qPrintable(output.message));
}

SEALRELAY_KEYCHAIN_TEST_MAIN(TestMasterKey, runKeychainCase)

#include "tst_masterkey.moc"
