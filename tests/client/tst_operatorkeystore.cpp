// OperatorKeyStore and the operator key file: round trip, wrong passphrase,
// loose permissions, no plaintext key in the file, recorded scrypt
// parameters, tampering and fingerprints. The keychain backend runs under a
// real Secret Service (gnome-keyring in its own D-Bus session) and without
// D-Bus.
//
// The keychain cases run in child processes of this binary
// (`tst_operatorkeystore --keychain-case MODE PROFILE`), so each gets the
// environment it needs and a fresh D-Bus connection state.
#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "keychainsession.h"
#include "operatorkeystore.h"
#include "statement.h"
#include "testdata.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::client;
using sealrelay::test::KeychainCase;
using sealrelay::test::KeychainCaseOutput;
using sealrelay::test::KeychainCaseReporter;
using sealrelay::test::KeychainSession;

namespace {

// The default job deadline of OperatorKeyStore::keychain().
constexpr std::chrono::milliseconds kKeychainDeadline { 5000 };

template<typename T> T require(Result<T> result)
{
    if (!result)
        qFatal("test set-up failed: %s", qPrintable(result.error().message));
    return std::move(result).value();
}

QString vectorText(const QString &key)
{
    return sealrelay::test::interopVectors().value(key).toString();
}

mode_t modeOf(const QString &path)
{
    struct stat status { };
    ::stat(QFile::encodeName(path).constData(), &status);
    return status.st_mode & 0777;
}

QByteArray readAll(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}

void writeAll(const QString &path, const QByteArray &content)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    file.write(content);
}

// Child side of the keychain cases; the argument is the profile name.
int runKeychainCase(const KeychainCase &keychainCase)
{
    const KeychainCaseReporter reporter;
    const QString &profile = keychainCase.argument;
    const OperatorKeyStore store = OperatorKeyStore::keychain(profile);
    if (keychainCase.mode == "store-load"_L1) {
        Result<OperatorKey> created = store.loadOrCreate();
        if (!created)
            return reporter.failed(u"create: "_s + created.error().message);
        Result<OperatorKey> loaded = store.load();
        if (!loaded)
            return reporter.failed(u"load: "_s + loaded.error().message);
        if (!(loaded->publicKey() == created->publicKey()))
            return reporter.failed(u"the loaded key differs from the created one"_s);
        Result<OperatorKey> again = store.loadOrCreate();
        if (!again || !(again->publicKey() == created->publicKey()))
            return reporter.failed(u"a second loadOrCreate() replaced the key"_s);
        Result<OperatorKey> other =
            OperatorKeyStore::keychain(profile + u"-other"_s).loadOrCreate();
        if (!other || other->publicKey() == created->publicKey())
            return reporter.failed(u"two profiles share one key"_s);
        if (!store.remove())
            return reporter.failed(u"remove failed"_s);
        Result<OperatorKey> removed = store.load();
        if (removed || removed.error().reason != Reason::NotFound)
            return reporter.failed(u"the entry is still there after remove"_s);
        return reporter.succeeded(u"created, loaded and removed "_s + created->location());
    }

    // "no-bus": loading must fail within the deadline.
    Result<OperatorKey> loaded = store.loadOrCreate();
    if (loaded)
        return reporter.succeeded(u"loaded from "_s + loaded->location());
    return reporter.failed(loaded.error().message);
}

} // namespace

class TestOperatorKeyStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void keyFileRoundTrip();
    void keyFileWrongPassphrase();
    void keyFileLooseModeRejected_data();
    void keyFileLooseModeRejected();
    void keyFileHasNoPlaintextKey();
    void keyFileRecordsParameters();
    void keyFileTampered_data();
    void keyFileTampered();
    void keyFileWeakParametersRejected();
    void keyFileEmptyPassphraseRejected();
    void keyFileNeverReplaced();
    void keyFileMissingIsNotFound();
    void keyFilePublicKeyWithoutPassphrase();
    void fingerprintMatchesVector();
    void trustedOperatorsLineReadable();
    void keychainStoresAndLoads();
    void keychainWithoutDbus();

private:
    QString keyPath() const { return m_dir->filePath(u"operator.key"_s); }

    std::unique_ptr<QTemporaryDir> m_dir;
};

void TestOperatorKeyStore::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestOperatorKeyStore::cleanup()
{
    m_dir.reset();
}

void TestOperatorKeyStore::keyFileRoundTrip()
{
    const OperatorKeyStore store = OperatorKeyStore::keyFile(keyPath(), "correct horse");
    QCOMPARE(store.backend(), OperatorKeyStore::Backend::KeyFile);
    Result<OperatorKey> created = store.loadOrCreate();
    QVERIFY2(created.ok(), created.ok() ? "" : qPrintable(created.error().message));
    QCOMPARE(modeOf(keyPath()), mode_t(0600));

    Result<OperatorKey> loaded = OperatorKeyStore::keyFile(keyPath(), "correct horse").load();
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    QVERIFY(loaded->publicKey() == created->publicKey());
    const QByteArray message("statement bytes");
    QVERIFY(created->publicKey().verify(message, loaded->privateKey().sign(message)));
    QVERIFY(loaded->location().contains(keyPath()));
}

void TestOperatorKeyStore::keyFileWrongPassphrase()
{
    QVERIFY(OperatorKeyStore::keyFile(keyPath(), "correct horse").loadOrCreate().ok());
    Result<OperatorKey> loaded = OperatorKeyStore::keyFile(keyPath(), "wrong horse").load();
    QVERIFY(!loaded.ok());
    QCOMPARE(loaded.error().reason, Reason::DecryptFailed);
    QVERIFY2(loaded.error().message.contains(u"passphrase is wrong"_s),
             qPrintable(loaded.error().message));
    QVERIFY2(loaded.error().message.contains(keyPath()), qPrintable(loaded.error().message));
}

void TestOperatorKeyStore::keyFileLooseModeRejected_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("0644") << 0644;
    QTest::newRow("0640") << 0640;
    QTest::newRow("0604") << 0604;
    QTest::newRow("0660") << 0660;
}

void TestOperatorKeyStore::keyFileLooseModeRejected()
{
    QFETCH(int, mode);
    QVERIFY(OperatorKeyStore::keyFile(keyPath(), "correct horse").loadOrCreate().ok());
    QCOMPARE(::chmod(QFile::encodeName(keyPath()).constData(), mode_t(mode)), 0);

    Result<OperatorKey> loaded = OperatorKeyStore::keyFile(keyPath(), "correct horse").load();
    QVERIFY(!loaded.ok());
    QCOMPARE(loaded.error().reason, Reason::Forbidden);
    QVERIFY2(loaded.error().message.contains(u"chmod 600"_s), qPrintable(loaded.error().message));
    // loadOrCreate() must not replace a file it rejected.
    const QByteArray before = readAll(keyPath());
    QVERIFY(!OperatorKeyStore::keyFile(keyPath(), "correct horse").loadOrCreate().ok());
    QCOMPARE(readAll(keyPath()), before);
}

void TestOperatorKeyStore::keyFileHasNoPlaintextKey()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    QVERIFY(writeOperatorKeyFile(keyPath(), key, "correct horse", WriteMode::CreateNew).ok());
    const QByteArray content = readAll(keyPath());
    QVERIFY(!content.isEmpty());

    const QByteArray der = key.pkcs8Der().view().toByteArray();
    const QByteArray seed = der.right(32);
    const QByteArray pem = key.pkcs8Pem().view().toByteArray();
    QVERIFY(!content.contains(der));
    QVERIFY(!content.contains(seed));
    QVERIFY(!content.contains(der.toBase64()));
    QVERIFY(!content.contains(seed.toBase64()));
    QVERIFY(!content.contains(seed.toHex()));
    QVERIFY(!content.contains("PRIVATE KEY"));
    QVERIFY(!content.contains(pem.mid(28, 40)));
}

void TestOperatorKeyStore::keyFileRecordsParameters()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    ScryptParameters stronger;
    stronger.n = quint64(1) << 16;
    QVERIFY(
        writeOperatorKeyFile(keyPath(), key, "correct horse", WriteMode::CreateNew, stronger).ok());
    const QJsonObject document = require(parseJsonStrict(readAll(keyPath()))).toObject();
    QCOMPARE(document.value(u"format"_s).toString(), u"sealrelay-operator-key"_s);
    QCOMPARE(document.value(u"version"_s).toInteger(), qint64(1));
    QCOMPARE(document.value(u"public_key"_s).toString(), key.publicKey().rawBase64());
    const QJsonObject kdf = document.value(u"kdf"_s).toObject();
    QCOMPARE(kdf.value(u"name"_s).toString(), u"scrypt"_s);
    QCOMPARE(kdf.value(u"n"_s).toInteger(), qint64(65536));
    QCOMPARE(kdf.value(u"r"_s).toInteger(), qint64(8));
    QCOMPARE(kdf.value(u"p"_s).toInteger(), qint64(1));
    QCOMPARE(document.value(u"cipher"_s).toObject().value(u"name"_s).toString(), u"aes-256-gcm"_s);

    Result<Ed25519PrivateKey> opened = readOperatorKeyFile(keyPath(), "correct horse");
    QVERIFY(opened.ok());
    QVERIFY(opened->publicKey() == key.publicKey());
}

void TestOperatorKeyStore::keyFileTampered_data()
{
    QTest::addColumn<QString>("field");
    QTest::newRow("public_key") << u"public_key"_s;
    QTest::newRow("iv") << u"iv"_s;
    QTest::newRow("ciphertext") << u"ciphertext"_s;
    QTest::newRow("tag") << u"tag"_s;
}

// A changed field fails like a wrong passphrase, because the header is the
// GCM seal's additional data.
void TestOperatorKeyStore::keyFileTampered()
{
    QFETCH(QString, field);
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    QVERIFY(writeOperatorKeyFile(keyPath(), key, "correct horse", WriteMode::CreateNew).ok());
    QJsonObject document = require(parseJsonStrict(readAll(keyPath()))).toObject();

    if (field == "public_key"_L1) {
        document.insert(field, require(Ed25519PrivateKey::generate()).publicKey().rawBase64());
    } else if (field == "iv"_L1) {
        QJsonObject cipher = document.value(u"cipher"_s).toObject();
        QByteArray iv = require(decodeBase64(cipher.value(u"iv"_s).toString(), u"iv"));
        iv[0] = char(iv[0] ^ 1);
        cipher.insert(u"iv"_s, encodeBase64(iv));
        document.insert(u"cipher"_s, cipher);
    } else {
        QByteArray bytes = require(decodeBase64(document.value(field).toString(), field));
        bytes[0] = char(bytes[0] ^ 1);
        document.insert(field, encodeBase64(bytes));
    }
    const QByteArray changed = require(canonicalJson(document));

    Result<Ed25519PrivateKey> opened = openOperatorKey(changed, "correct horse", keyPath());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::DecryptFailed);
}

void TestOperatorKeyStore::keyFileWeakParametersRejected()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    ScryptParameters weak;
    weak.n = quint64(1) << 14;
    Result<QByteArray> sealed = sealOperatorKey(key, "correct horse", weak);
    QVERIFY(!sealed.ok());
    QCOMPARE(sealed.error().reason, Reason::Malformed);

    QVERIFY(writeOperatorKeyFile(keyPath(), key, "correct horse", WriteMode::CreateNew).ok());
    QJsonObject document = require(parseJsonStrict(readAll(keyPath()))).toObject();
    QJsonObject kdf = document.value(u"kdf"_s).toObject();
    kdf.insert(u"n"_s, 16384);
    document.insert(u"kdf"_s, kdf);
    Result<Ed25519PrivateKey> opened =
        openOperatorKey(require(canonicalJson(document)), "correct horse", keyPath());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::Malformed);
    QVERIFY2(opened.error().message.contains(u"scrypt n is 16384"_s),
             qPrintable(opened.error().message));
}

void TestOperatorKeyStore::keyFileEmptyPassphraseRejected()
{
    Result<OperatorKey> created = OperatorKeyStore::keyFile(keyPath(), "").loadOrCreate();
    QVERIFY(!created.ok());
    QCOMPARE(created.error().reason, Reason::Malformed);
    QVERIFY(!QFile::exists(keyPath()));
}

void TestOperatorKeyStore::keyFileNeverReplaced()
{
    Result<OperatorKey> first =
        OperatorKeyStore::keyFile(keyPath(), "correct horse").loadOrCreate();
    QVERIFY(first.ok());
    const QByteArray before = readAll(keyPath());

    Result<OperatorKey> wrong = OperatorKeyStore::keyFile(keyPath(), "other").loadOrCreate();
    QVERIFY(!wrong.ok());
    QCOMPARE(wrong.error().reason, Reason::DecryptFailed);
    QCOMPARE(readAll(keyPath()), before);

    Result<void> replaced = writeOperatorKeyFile(keyPath(), require(Ed25519PrivateKey::generate()),
                                                 "other", WriteMode::CreateNew);
    QVERIFY(!replaced.ok());
    QVERIFY2(replaced.error().message.contains(u"already exists"_s),
             qPrintable(replaced.error().message));
    QCOMPARE(readAll(keyPath()), before);
    QCOMPARE(QDir(m_dir->path()).entryList(QDir::Files), QStringList { u"operator.key"_s });
}

void TestOperatorKeyStore::keyFileMissingIsNotFound()
{
    Result<OperatorKey> loaded = OperatorKeyStore::keyFile(keyPath(), "correct horse").load();
    QVERIFY(!loaded.ok());
    QCOMPARE(loaded.error().reason, Reason::NotFound);
}

void TestOperatorKeyStore::keyFilePublicKeyWithoutPassphrase()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    QVERIFY(writeOperatorKeyFile(keyPath(), key, "correct horse", WriteMode::CreateNew).ok());
    Result<Ed25519PublicKey> publicKey = operatorKeyFilePublicKey(readAll(keyPath()), keyPath());
    QVERIFY(publicKey.ok());
    QVERIFY(publicKey.value() == key.publicKey());
}

void TestOperatorKeyStore::fingerprintMatchesVector()
{
    const Ed25519PublicKey key = require(
        Ed25519PublicKey::fromBase64(vectorText(u"operator_public_key_b64"_s), u"operator key"));
    QCOMPARE(operatorFingerprint(key), vectorText(u"operator_key_fingerprint"_s));
    const QString display = displayOperatorFingerprint(key);
    QCOMPARE(display.size(), 64 + 15);
    QCOMPARE(display.left(9),
             vectorText(u"operator_key_fingerprint"_s).left(4) + u" "_s
                 + vectorText(u"operator_key_fingerprint"_s).mid(4, 4));
    QCOMPARE(normaliseTypedFingerprint(display), operatorFingerprint(key));
}

void TestOperatorKeyStore::trustedOperatorsLineReadable()
{
    const Ed25519PrivateKey key = require(Ed25519PrivateKey::generate());
    const OperatorKey operatorKey(key, u"test"_s);
    const QString path = m_dir->filePath(u"trusted-operators"_s);
    writeAll(path,
             "# pasted by the operator\n" + operatorKey.trustedOperatorsLine().toUtf8() + '\n');

    Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path);
    QVERIFY2(keys.ok(), keys.ok() ? "" : qPrintable(keys.error().message));
    QCOMPARE(keys->size(), 1);
    QVERIFY(keys->constFirst() == key.publicKey());
}

// A real Secret Service: gnome-keyring in a D-Bus session of its own, with
// HOME and the XDG folders in the temporary directory.
void TestOperatorKeyStore::keychainStoresAndLoads()
{
    const KeychainSession session(m_dir->filePath(u"home"_s));
    const KeychainCaseOutput output = session.runWithSecretService({ u"store-load"_s, u"test"_s });
    sealrelay::test::verifyCaseSucceeded(output);
}

// No D-Bus session at all: the keychain fails within the 5 s deadline with a
// message that names the entry and the key file alternative.
void TestOperatorKeyStore::keychainWithoutDbus()
{
    const KeychainSession session(m_dir->filePath(u"home"_s));
    const KeychainCaseOutput output = session.runWithoutBus({ u"no-bus"_s, u"test"_s });
    sealrelay::test::verifyCaseFailedWithin(output, kKeychainDeadline);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(output.message.contains(u"operator-key:test"_s), qPrintable(output.message));
    QVERIFY2(output.message.contains(u"key file"_s), qPrintable(output.message));
}

SEALRELAY_KEYCHAIN_TEST_MAIN(TestOperatorKeyStore, runKeychainCase)

#include "tst_operatorkeystore.moc"
