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
#include "keychainstore.h"
#include "masterkey.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QLocalServer>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <cstdio>
#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

namespace {

const QString kKeyHex = u"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"_s;

// How long a keychain case may take beyond the 5 s job deadline before the
// test calls the deadline broken: process start-up and D-Bus set-up.
constexpr qint64 kDeadlineSlackMs = 3000;

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

// ---------------------------------------------------------------------------
// Child side of the keychain cases. Prints "result: ok" or
// "result: error", then "message: ..." and "elapsed-ms: N".

int runKeychainCase(const QString &mode, const QString &dataDirectory)
{
    MasterKeyLocations locations = locationsIn(dataDirectory);
    locations.useKeychain = true;
    QElapsedTimer timer;
    timer.start();

    const auto report = [&](bool ok, const QString &message) {
        std::printf("result: %s\nmessage: %s\nelapsed-ms: %lld\n", ok ? "ok" : "error",
                    qPrintable(message), static_cast<long long>(timer.elapsed()));
        std::fflush(stdout);
        return 0;
    };

    if (mode == "store-load"_L1) {
        Result<MasterKey> created = createMasterKey(locations, MasterKeySource::Keychain);
        if (!created)
            return report(false, u"create: "_s + created.error().message);
        Result<MasterKey> loaded = loadMasterKey(locations);
        if (!loaded)
            return report(false, u"load: "_s + loaded.error().message);
        if (loaded->source != MasterKeySource::Keychain)
            return report(false, u"loaded from "_s + masterKeySourceName(loaded->source));
        if (loaded->key.view() != created->key.view())
            return report(false, u"loaded key differs from the stored one"_s);
        Result<MasterKey> again = createMasterKey(locations, MasterKeySource::Keychain);
        if (again)
            return report(false, u"a second key replaced the first"_s);
        const KeychainStore keychain(kKeychainService);
        if (!keychain.remove(locations.keychainKey()))
            return report(false, u"remove failed"_s);
        Result<std::optional<SecureBuffer>> removed = keychain.read(locations.keychainKey());
        if (!removed || removed->has_value())
            return report(false, u"the entry is still there after remove"_s);
        return report(true, u"stored, loaded and removed "_s + loaded->location);
    }

    // "no-bus" and "silent-bus": loading must fail within the deadline.
    Result<MasterKey> loaded = loadMasterKey(locations);
    if (loaded)
        return report(true, u"loaded from "_s + loaded->location);
    return report(false, loaded.error().message);
}

struct CaseOutput {
    int exitCode = -1;
    QString result;
    QString message;
    qint64 elapsedMs = -1;
    QString stderrText;
};

CaseOutput parseCaseOutput(QProcess &process)
{
    CaseOutput output;
    output.exitCode = process.exitCode();
    output.stderrText = QString::fromUtf8(process.readAllStandardError());
    const QStringList lines = QString::fromUtf8(process.readAllStandardOutput()).split(u'\n');
    for (const QString &line : lines) {
        if (line.startsWith(u"result: "_s))
            output.result = line.mid(8);
        else if (line.startsWith(u"message: "_s))
            output.message = line.mid(9);
        else if (line.startsWith(u"elapsed-ms: "_s))
            output.elapsedMs = line.mid(12).toLongLong();
    }
    return output;
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
    QProcessEnvironment childEnvironment(const QString &home) const;
    CaseOutput runChild(const QString &program, const QStringList &arguments,
                        const QProcessEnvironment &environment);

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

QProcessEnvironment TestMasterKey::childEnvironment(const QString &home) const
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(u"DBUS_SESSION_BUS_ADDRESS"_s);
    environment.remove(u"DISPLAY"_s);
    environment.remove(u"WAYLAND_DISPLAY"_s);
    environment.insert(u"HOME"_s, home);
    for (const QString &name :
         { u"XDG_RUNTIME_DIR"_s, u"XDG_DATA_HOME"_s, u"XDG_CONFIG_HOME"_s, u"XDG_CACHE_HOME"_s }) {
        const QString directory = QDir(home).filePath(name.toLower());
        QDir().mkpath(directory);
        ::chmod(QFile::encodeName(directory).constData(), 0700);
        environment.insert(name, directory);
    }
    return environment;
}

CaseOutput TestMasterKey::runChild(const QString &program, const QStringList &arguments,
                                   const QProcessEnvironment &environment)
{
    QProcess process;
    process.setProgram(program);
    process.setArguments(arguments);
    process.setProcessEnvironment(environment);
    process.start();
    if (!process.waitForStarted(10000)) {
        QTest::qFail(qPrintable(u"cannot start %1: %2"_s.arg(program, process.errorString())),
                     __FILE__, __LINE__);
        return {};
    }
    if (!process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished(5000);
        QTest::qFail(qPrintable(u"%1 did not finish within 60 s"_s.arg(program)), __FILE__,
                     __LINE__);
        return {};
    }
    return parseCaseOutput(process);
}

// A real Secret Service: gnome-keyring in a D-Bus session of its own, with
// HOME and the XDG folders in a temporary directory.
void TestMasterKey::keychainStoresAndLoads()
{
    const QString dbusRunSession = QStandardPaths::findExecutable(u"dbus-run-session"_s);
    const QString keyringDaemon = QStandardPaths::findExecutable(u"gnome-keyring-daemon"_s);
    if (dbusRunSession.isEmpty() || keyringDaemon.isEmpty()) {
        QFAIL("dbus-run-session or gnome-keyring-daemon is not installed; the keychain test "
              "needs the Debian packages dbus and gnome-keyring");
    }

    const QString home = m_dir->filePath(u"home"_s);
    QVERIFY(QDir().mkpath(home));
    const QString dataDirectory = m_dir->filePath(u"data"_s);
    QVERIFY(QDir().mkpath(dataDirectory));

    const QString script = u"echo -n pw | gnome-keyring-daemon --unlock --components=secrets "
                           u">/dev/null; exec \"$0\" --keychain-case store-load \"$1\""_s;
    const CaseOutput output = runChild(dbusRunSession,
                                       { u"--"_s, u"sh"_s, u"-c"_s, script,
                                         QCoreApplication::applicationFilePath(), dataDirectory },
                                       childEnvironment(home));
    qInfo("keychain case: %s (%lld ms)", qPrintable(output.message), output.elapsedMs);
    QVERIFY2(output.result == "ok"_L1,
             qPrintable(u"exit code %1, message: %2, stderr: %3"_s.arg(output.exitCode)
                            .arg(output.message, output.stderrText)));
    QCOMPARE(output.exitCode, 0);
}

// No D-Bus session at all: loading fails within the 5 s deadline and reports
// why.
void TestMasterKey::keychainWithoutDbus()
{
    const QString home = m_dir->filePath(u"home"_s);
    QVERIFY(QDir().mkpath(home));
    const CaseOutput output = runChild(
        QCoreApplication::applicationFilePath(),
        { u"--keychain-case"_s, u"no-bus"_s, m_dir->filePath(u"data"_s) }, childEnvironment(home));
    qInfo("keychain case: %s (%lld ms)", qPrintable(output.message), output.elapsedMs);
    QCOMPARE(output.exitCode, 0);
    QCOMPARE(output.result, u"error"_s);
    QVERIFY(output.elapsedMs >= 0);
    QVERIFY2(output.elapsedMs < 5000 + kDeadlineSlackMs,
             qPrintable(u"took %1 ms"_s.arg(output.elapsedMs)));
    QVERIFY2(output.message.contains(u"OS keychain entry"_s), qPrintable(output.message));
    QVERIFY2(output.message.contains(u"no vault master key found"_s), qPrintable(output.message));
}

// A session bus that accepts the connection and never replies, as a hung
// D-Bus would, so only the job deadline ends the wait.
void TestMasterKey::keychainSilentBusTimesOut()
{
    const QString home = m_dir->filePath(u"home"_s);
    QVERIFY(QDir().mkpath(home));
    QLocalServer silentBus;
    const QString socketPath = m_dir->filePath(u"silent-bus"_s);
    QVERIFY2(silentBus.listen(socketPath), qPrintable(silentBus.errorString()));

    QProcessEnvironment environment = childEnvironment(home);
    environment.insert(u"DBUS_SESSION_BUS_ADDRESS"_s, u"unix:path="_s + socketPath);
    const CaseOutput output = runChild(
        QCoreApplication::applicationFilePath(),
        { u"--keychain-case"_s, u"silent-bus"_s, m_dir->filePath(u"data"_s) }, environment);
    qInfo("keychain case: %s (%lld ms)", qPrintable(output.message), output.elapsedMs);
    QCOMPARE(output.exitCode, 0);
    QCOMPARE(output.result, u"error"_s);
    QVERIFY2(output.elapsedMs >= 5000, qPrintable(u"took %1 ms"_s.arg(output.elapsedMs)));
    QVERIFY2(output.elapsedMs < 5000 + kDeadlineSlackMs,
             qPrintable(u"took %1 ms"_s.arg(output.elapsedMs)));
    QVERIFY2(output.message.contains(u"did not answer within 5000 ms"_s),
             qPrintable(output.message));
}

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList arguments = app.arguments();
    if (arguments.size() == 4 && arguments.at(1) == "--keychain-case"_L1)
        return runKeychainCase(arguments.at(2), arguments.at(3));

    TestMasterKey test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_masterkey.moc"
