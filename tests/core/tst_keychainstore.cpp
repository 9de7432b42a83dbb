// KeychainStore against a real Secret Service (gnome-keyring in its own D-Bus
// session), without any D-Bus, and on a session bus that never replies.
//
// Every case runs in a child process of this binary
// (`tst_keychainstore --keychain-case MODE ARGUMENT`), so each gets the
// environment it needs and a fresh D-Bus connection state.
#include "keychainsession.h"
#include "keychainstore.h"

#include <QCoreApplication>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::test;

namespace {

const QString kService = u"sealrelay-test"_s;
const QString kKey = u"entry"_s;
const QString kAlternative = u"use the test key file instead"_s;

// Binary secrets with a NUL byte and bytes that are not UTF-8, so a store
// that treats them as text changes them.
const QByteArray kSecret = QByteArray::fromHex("00ff10fe7f80c3280061");
const QByteArray kOtherSecret = QByteArray::fromHex("5a5a00a5a5ffff");

// The deadline a Secret Service case gives every job.
constexpr std::chrono::milliseconds kServiceDeadline { 5000 };

// The deadline of the silent-bus case: short, because only the deadline
// ends its jobs.
constexpr std::chrono::milliseconds kSilentBusDeadline { 1500 };

// The deadline of the no-bus case: long, so a failure within
// kKeychainStartupSlack shows that the error came from QtKeychain at once
// and not from the deadline.
constexpr std::chrono::milliseconds kNoBusDeadline { 30000 };

// Returns an empty string when the entry under `key` contains `expected`,
// else a description of what differs.
QString compareEntry(const KeychainStore &store, const QString &key, const QByteArray &expected)
{
    Result<std::optional<SecureBuffer>> read = store.read(key);
    if (!read)
        return u"read of \"%1\": %2"_s.arg(key, read.error().message);
    if (!read->has_value())
        return u"read of \"%1\" found no entry"_s.arg(key);
    if (read->value().view().toByteArray() != expected)
        return u"read of \"%1\" returned other bytes than were written"_s.arg(key);
    return {};
}

// Writes, reads, replaces and removes one entry.
int runRoundTrip(const KeychainCaseReporter &reporter)
{
    const KeychainStore store(kService, kAlternative, kServiceDeadline);
    if (Result<void> written = store.write(kKey, kSecret); !written)
        return reporter.failed(u"write: "_s + written.error().message);
    if (const QString difference = compareEntry(store, kKey, kSecret); !difference.isEmpty())
        return reporter.failed(difference);

    if (Result<void> replaced = store.write(kKey, kOtherSecret); !replaced)
        return reporter.failed(u"second write: "_s + replaced.error().message);
    if (const QString difference = compareEntry(store, kKey, kOtherSecret); !difference.isEmpty())
        return reporter.failed(u"after the second write, "_s + difference);

    if (Result<void> removed = store.remove(kKey); !removed)
        return reporter.failed(u"remove: "_s + removed.error().message);
    Result<std::optional<SecureBuffer>> afterRemove = store.read(kKey);
    if (!afterRemove)
        return reporter.failed(u"read after remove: "_s + afterRemove.error().message);
    if (afterRemove->has_value())
        return reporter.failed(u"the entry is still there after remove"_s);
    return reporter.succeeded(u"wrote, read, replaced and removed \"%1\""_s.arg(kKey));
}

// Stores entries under two keys of one service and one key of two
// services, and checks that each read returns its own secret.
int runSeparateEntries(const KeychainCaseReporter &reporter)
{
    const KeychainStore store(kService, kAlternative, kServiceDeadline);
    const KeychainStore otherService(kService + u"-other"_s, kAlternative, kServiceDeadline);
    const QString otherKey = kKey + u"-other"_s;
    if (Result<void> written = store.write(kKey, kSecret); !written)
        return reporter.failed(u"write: "_s + written.error().message);
    if (Result<void> written = store.write(otherKey, kOtherSecret); !written)
        return reporter.failed(u"write of the other key: "_s + written.error().message);
    if (Result<void> written = otherService.write(kKey, kOtherSecret); !written)
        return reporter.failed(u"write in the other service: "_s + written.error().message);

    if (const QString difference = compareEntry(store, kKey, kSecret); !difference.isEmpty())
        return reporter.failed(difference);
    if (const QString difference = compareEntry(store, otherKey, kOtherSecret);
        !difference.isEmpty())
        return reporter.failed(difference);
    if (const QString difference = compareEntry(otherService, kKey, kOtherSecret);
        !difference.isEmpty())
        return reporter.failed(u"in the other service, "_s + difference);

    if (Result<void> removed = store.remove(kKey); !removed)
        return reporter.failed(u"remove: "_s + removed.error().message);
    if (const QString difference = compareEntry(store, otherKey, kOtherSecret);
        !difference.isEmpty())
        return reporter.failed(u"after removing \"%1\", "_s.arg(kKey) + difference);
    if (const QString difference = compareEntry(otherService, kKey, kOtherSecret);
        !difference.isEmpty())
        return reporter.failed(u"after removing \"%1\", in the other service, "_s.arg(kKey)
                               + difference);
    return reporter.succeeded(u"kept three entries apart"_s);
}

// Runs one operation on kKey with a deadline of `timeoutMs` and reports its
// error, if any, with the reason.
int runOperation(const KeychainCaseReporter &reporter, const QString &operation,
                 const QString &timeoutMs)
{
    const KeychainStore store(kService, kAlternative,
                              std::chrono::milliseconds(timeoutMs.toLongLong()));
    if (operation == "read"_L1) {
        Result<std::optional<SecureBuffer>> read = store.read(kKey);
        if (!read)
            return reporter.failed(read.error());
        return reporter.succeeded(read->has_value() ? u"read an entry"_s : u"read no entry"_s);
    }
    if (operation == "write"_L1) {
        Result<void> written = store.write(kKey, kSecret);
        return written ? reporter.succeeded(u"wrote the entry"_s)
                       : reporter.failed(written.error());
    }
    if (operation == "remove"_L1) {
        Result<void> removed = store.remove(kKey);
        return removed ? reporter.succeeded(u"remove succeeded"_s)
                       : reporter.failed(removed.error());
    }
    return reporter.failed(u"unknown operation \"%1\""_s.arg(operation));
}

int runKeychainCase(const KeychainCase &keychainCase)
{
    const KeychainCaseReporter reporter;
    if (keychainCase.mode == "round-trip"_L1)
        return runRoundTrip(reporter);
    if (keychainCase.mode == "separate-entries"_L1)
        return runSeparateEntries(reporter);
    return runOperation(reporter, keychainCase.mode, keychainCase.argument);
}

QString milliseconds(std::chrono::milliseconds duration)
{
    return QString::number(duration.count());
}

} // namespace

class TestKeychainStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void serviceAccessor();
    void roundTrip();
    void separateEntries();
    void readMissingIsEmpty();
    void removeMissingSucceeds();
    void withoutDbusFailsFast_data();
    void withoutDbusFailsFast();
    void silentBusTimesOut_data();
    void silentBusTimesOut();

private:
    KeychainSession session() const { return KeychainSession(m_dir->filePath(u"home"_s)); }

    std::unique_ptr<QTemporaryDir> m_dir;
};

void TestKeychainStore::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestKeychainStore::cleanup()
{
    m_dir.reset();
}

void TestKeychainStore::serviceAccessor()
{
    const KeychainStore store(kService, kAlternative);
    QCOMPARE(store.service(), kService);
}

void TestKeychainStore::roundTrip()
{
    verifyCaseSucceeded(session().runWithSecretService({ u"round-trip"_s, QString() }));
}

void TestKeychainStore::separateEntries()
{
    verifyCaseSucceeded(session().runWithSecretService({ u"separate-entries"_s, QString() }));
}

// A fresh keyring has no entry, so the read succeeds and returns none.
void TestKeychainStore::readMissingIsEmpty()
{
    const KeychainCaseOutput output =
        session().runWithSecretService({ u"read"_s, milliseconds(kServiceDeadline) });
    verifyCaseSucceeded(output);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(output.message, u"read no entry"_s);
}

void TestKeychainStore::removeMissingSucceeds()
{
    const KeychainCaseOutput output =
        session().runWithSecretService({ u"remove"_s, milliseconds(kServiceDeadline) });
    verifyCaseSucceeded(output);
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(output.message, u"remove succeeded"_s);
}

void TestKeychainStore::withoutDbusFailsFast_data()
{
    QTest::addColumn<QString>("operation");
    QTest::newRow("read") << u"read"_s;
    QTest::newRow("write") << u"write"_s;
    QTest::newRow("remove") << u"remove"_s;
}

// No D-Bus session at all: QtKeychain fails at once, long before the job
// deadline, and the message names the entry and the alternative.
void TestKeychainStore::withoutDbusFailsFast()
{
    QFETCH(QString, operation);
    const KeychainCaseOutput output =
        session().runWithoutBus({ operation, milliseconds(kNoBusDeadline) });
    verifyCaseFailedWithin(output, std::chrono::milliseconds(0));
    if (QTest::currentTestFailed())
        return;
    QCOMPARE(output.reason, reasonName(Reason::IoError));
    QVERIFY2(output.message.contains(u"service \"%1\""_s.arg(kService)),
             qPrintable(output.message));
    QVERIFY2(output.message.contains(u"key \"%1\""_s.arg(kKey)), qPrintable(output.message));
    QVERIFY2(output.message.contains(kAlternative), qPrintable(output.message));
    QVERIFY2(output.message.contains(u"D-Bus session"_s), qPrintable(output.message));
}

void TestKeychainStore::silentBusTimesOut_data()
{
    withoutDbusFailsFast_data();
}

// A session bus that accepts the connection and never replies: only the job
// deadline ends the wait.
void TestKeychainStore::silentBusTimesOut()
{
    QFETCH(QString, operation);
    const KeychainCaseOutput output =
        session().runOnSilentBus({ operation, milliseconds(kSilentBusDeadline) });
    verifyCaseFailedWithin(output, kSilentBusDeadline);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(output.elapsedMs >= kSilentBusDeadline.count(),
             qPrintable(u"took %1 ms"_s.arg(output.elapsedMs)));
    QCOMPARE(output.reason, reasonName(Reason::IoError));
    QVERIFY2(output.message.contains(
                 u"did not answer within %1 ms"_s.arg(milliseconds(kSilentBusDeadline))),
             qPrintable(output.message));
    QVERIFY2(output.message.contains(u"service \"%1\""_s.arg(kService)),
             qPrintable(output.message));
    QVERIFY2(output.message.contains(kAlternative), qPrintable(output.message));
}

SEALRELAY_KEYCHAIN_TEST_MAIN(TestKeychainStore, runKeychainCase)

#include "tst_keychainstore.moc"
