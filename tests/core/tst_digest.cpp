// SHA-256 helpers, fingerprint display and normalisation, constant-time
// comparison.
#include "digest.h"

#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

class TestDigest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sha256Vectors_data();
    void sha256Vectors();
    void sha256Base64Form();
    void displayGroups();
    void displayShortInput();
    void normaliseTyped_data();
    void normaliseTyped();
    void constantTimeEquals_data();
    void constantTimeEquals();
};

void TestDigest::sha256Vectors_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("hex");

    // FIPS 180-2 appendix B examples and the empty message.
    QTest::newRow("empty") << QByteArray()
                           << u"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"_s;
    QTest::newRow("abc") << "abc"_ba
                         << u"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"_s;
    QTest::newRow("two blocks")
        << "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"_ba
        << u"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"_s;
}

void TestDigest::sha256Vectors()
{
    QFETCH(QByteArray, input);
    QFETCH(QString, hex);

    QCOMPARE(sha256Hex(input), hex);
    QCOMPARE(sha256(input), QByteArray::fromHex(hex.toLatin1()));
}

void TestDigest::sha256Base64Form()
{
    QCOMPARE(sha256Base64("abc"), u"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="_s);
}

void TestDigest::displayGroups()
{
    const QString hex = u"11fd26c6eb226ce72fc55a6e5b7ec488286df16d00c8887e33d1d27cbcddbdc6"_s;
    QCOMPARE(formatFingerprintForDisplay(hex),
             u"11fd 26c6 eb22 6ce7 2fc5 5a6e 5b7e c488 286d f16d 00c8 887e 33d1 d27c bcdd bdc6"_s);
    QCOMPARE(normaliseTypedFingerprint(formatFingerprintForDisplay(hex)), hex);
}

void TestDigest::displayShortInput()
{
    QCOMPARE(formatFingerprintForDisplay(u"9f2c1a"), u"9f2c 1a"_s);
    QCOMPARE(formatFingerprintForDisplay(u""), QString());
}

void TestDigest::normaliseTyped_data()
{
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("expected");

    QTest::newRow("grouped upper") << u"9F2C 1A0B"_s << u"9f2c1a0b"_s;
    QTest::newRow("already plain") << u"9f2c1a0b"_s << u"9f2c1a0b"_s;
    QTest::newRow("extra spaces") << u"  9f2c   1a0b "_s << u"9f2c1a0b"_s;
    QTest::newRow("tab and newline") << u"9f2c\t1a0b\n"_s << u"9f2c1a0b"_s;
    QTest::newRow("empty") << QString() << QString();
}

void TestDigest::normaliseTyped()
{
    QFETCH(QString, typed);
    QFETCH(QString, expected);

    QCOMPARE(normaliseTypedFingerprint(typed), expected);
}

void TestDigest::constantTimeEquals_data()
{
    QTest::addColumn<QByteArray>("a");
    QTest::addColumn<QByteArray>("b");
    QTest::addColumn<bool>("equal");

    QTest::newRow("same") << "commitment"_ba
                          << "commitment"_ba << true;
    QTest::newRow("both empty") << QByteArray() << QByteArray() << true;
    QTest::newRow("last byte differs") << "commitmenT"_ba
                                       << "commitment"_ba << false;
    QTest::newRow("first byte differs") << "Commitment"_ba
                                        << "commitment"_ba << false;
    QTest::newRow("prefix") << "commit"_ba
                            << "commitment"_ba << false;
    QTest::newRow("one empty") << QByteArray() << "x"_ba << false;
}

void TestDigest::constantTimeEquals()
{
    QFETCH(QByteArray, a);
    QFETCH(QByteArray, b);
    QFETCH(bool, equal);

    QCOMPARE(sealrelay::constantTimeEquals(a, b), equal);
    QCOMPARE(sealrelay::constantTimeEquals(b, a), equal);
}

QTEST_GUILESS_MAIN(TestDigest)
#include "tst_digest.moc"
