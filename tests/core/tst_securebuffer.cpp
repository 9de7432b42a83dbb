// Tests of SecureBuffer: construction, truncation wiping the cut-off tail,
// clearing, and moves that leave no copy behind.
#include "securebuffer.h"

#include <QTest>

#include <utility>

using namespace sealrelay;

class TestSecureBuffer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void defaultIsEmpty();
    void sizeConstructorZeroFills();
    void negativeSizeIsEmpty();
    void copiesBytes();
    void truncateWipesTail();
    void truncateToLargerKeepsSize();
    void truncateNegativeEmpties();
    void clearFrees();
    void moveConstructTransfers();
    void moveAssignTransfers();
    void selfMoveAssignKeepsBytes();
};

void TestSecureBuffer::defaultIsEmpty()
{
    const SecureBuffer buffer;
    QVERIFY(buffer.isEmpty());
    QCOMPARE(buffer.size(), 0);
    QVERIFY(buffer.data() == nullptr);
    QVERIFY(buffer.view().isEmpty());
}

void TestSecureBuffer::sizeConstructorZeroFills()
{
    const SecureBuffer buffer(64);
    QCOMPARE(buffer.size(), 64);
    QVERIFY(buffer.data() != nullptr);
    QCOMPARE(buffer.view(), QByteArrayView(QByteArray(64, '\0')));
}

void TestSecureBuffer::negativeSizeIsEmpty()
{
    const SecureBuffer buffer(qsizetype(-5));
    QVERIFY(buffer.isEmpty());
    QVERIFY(buffer.data() == nullptr);
}

void TestSecureBuffer::copiesBytes()
{
    QByteArray source("key material");
    const SecureBuffer buffer { QByteArrayView(source) };
    source.fill('x');
    QCOMPARE(buffer.view(), QByteArrayView("key material"));
}

void TestSecureBuffer::truncateWipesTail()
{
    SecureBuffer buffer { QByteArrayView("abcdefgh") };
    const unsigned char *data = buffer.data();
    buffer.truncate(3);
    QCOMPARE(buffer.size(), 3);
    QVERIFY(buffer.data() == data);
    QCOMPARE(buffer.view(), QByteArrayView("abc"));
    // The allocation is still owned by the buffer, so the cut-off bytes are
    // readable here and must be zero.
    for (int i = 3; i < 8; ++i)
        QCOMPARE(int(data[i]), 0);
}

void TestSecureBuffer::truncateToLargerKeepsSize()
{
    SecureBuffer buffer { QByteArrayView("abc") };
    buffer.truncate(10);
    QCOMPARE(buffer.size(), 3);
    QCOMPARE(buffer.view(), QByteArrayView("abc"));
}

void TestSecureBuffer::truncateNegativeEmpties()
{
    SecureBuffer buffer { QByteArrayView("abc") };
    const unsigned char *data = buffer.data();
    buffer.truncate(-1);
    QCOMPARE(buffer.size(), 0);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(int(data[i]), 0);
}

void TestSecureBuffer::clearFrees()
{
    SecureBuffer buffer { QByteArrayView("secret") };
    buffer.clear();
    QVERIFY(buffer.isEmpty());
    QVERIFY(buffer.data() == nullptr);
    buffer.clear();
    QVERIFY(buffer.isEmpty());
}

void TestSecureBuffer::moveConstructTransfers()
{
    SecureBuffer source { QByteArrayView("secret") };
    const unsigned char *data = source.data();
    SecureBuffer target(std::move(source));
    QVERIFY(target.data() == data);
    QCOMPARE(target.view(), QByteArrayView("secret"));
    QVERIFY(source.isEmpty()); // NOLINT(bugprone-use-after-move): the moved-from state is tested
    QVERIFY(source.data() == nullptr);
}

void TestSecureBuffer::moveAssignTransfers()
{
    SecureBuffer source { QByteArrayView("new") };
    SecureBuffer target { QByteArrayView("old contents") };
    const unsigned char *data = source.data();
    target = std::move(source);
    QVERIFY(target.data() == data);
    QCOMPARE(target.view(), QByteArrayView("new"));
    QVERIFY(source.isEmpty()); // NOLINT(bugprone-use-after-move): the moved-from state is tested
    QVERIFY(source.data() == nullptr);
}

void TestSecureBuffer::selfMoveAssignKeepsBytes()
{
    SecureBuffer buffer { QByteArrayView("same") };
    SecureBuffer &alias = buffer;
    buffer = std::move(alias);
    QCOMPARE(buffer.view(), QByteArrayView("same"));
}

QTEST_GUILESS_MAIN(TestSecureBuffer)
#include "tst_securebuffer.moc"
