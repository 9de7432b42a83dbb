// Canonical base64: round trips, every non-canonical form rejected with the
// field named, length checks, and the secret variant.
#include "base64.h"

#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

class TestBase64 : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void roundTrip_data();
    void roundTrip();
    void secretRoundTrip_data();
    void secretRoundTrip();
    void rejectsNonCanonical_data();
    void rejectsNonCanonical();
    void secretRejectsNonCanonical_data();
    void secretRejectsNonCanonical();
    void rejectsNonAscii();
    void expectedLength();
    void expectedLengthMismatch();
};

void TestBase64::roundTrip_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("text");

    // RFC 4648 §10 test vectors.
    QTest::newRow("empty") << QByteArray() << QString();
    QTest::newRow("f") << "f"_ba << u"Zg=="_s;
    QTest::newRow("fo") << "fo"_ba << u"Zm8="_s;
    QTest::newRow("foo") << "foo"_ba << u"Zm9v"_s;
    QTest::newRow("foob") << "foob"_ba << u"Zm9vYg=="_s;
    QTest::newRow("fooba") << "fooba"_ba << u"Zm9vYmE="_s;
    QTest::newRow("foobar") << "foobar"_ba << u"Zm9vYmFy"_s;
    QTest::newRow("high bytes") << QByteArray::fromHex("fbff") << u"+/8="_s;
    QTest::newRow("zeros") << QByteArray(32, '\0')
                           << u"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="_s;
}

void TestBase64::roundTrip()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, text);

    QCOMPARE(encodeBase64(bytes), text);

    const Result<QByteArray> decoded = decodeBase64(text, u"value");
    QVERIFY2(decoded.ok(), qPrintable(decoded.ok() ? QString() : decoded.error().message));
    QCOMPARE(decoded.value(), bytes);
}

void TestBase64::secretRoundTrip_data()
{
    roundTrip_data();
}

void TestBase64::secretRoundTrip()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, text);

    const SecureBuffer encoded = encodeBase64Secret(bytes);
    QCOMPARE(encoded.view().toByteArray(), text.toLatin1());

    const Result<SecureBuffer> decoded = decodeBase64Secret(text.toLatin1(), u"secret");
    QVERIFY2(decoded.ok(), qPrintable(decoded.ok() ? QString() : decoded.error().message));
    QCOMPARE(decoded->view().toByteArray(), bytes);
}

void TestBase64::rejectsNonCanonical_data()
{
    QTest::addColumn<QString>("text");

    QTest::newRow("space inside") << u"Zm9v YmFy"_s;
    QTest::newRow("space at end") << u"Zm9vYmFy "_s;
    QTest::newRow("space at start") << u" Zm9vYmFy"_s;
    QTest::newRow("newline inside") << u"Zm9v\nYmFy"_s;
    QTest::newRow("newline at end") << u"Zm9vYmFy\n"_s;
    QTest::newRow("tab inside") << u"Zm9v\tYmFy"_s;
    QTest::newRow("url-safe minus") << u"-_8="_s;
    QTest::newRow("url-safe underscore") << u"+_8="_s;
    QTest::newRow("url-safe minus only") << u"-/8="_s;
    QTest::newRow("missing padding one") << u"Zm8"_s;
    QTest::newRow("missing padding two") << u"Zg"_s;
    QTest::newRow("too much padding") << u"Zg==="_s;
    QTest::newRow("padding block") << u"Zm9v===="_s;
    QTest::newRow("nonzero padding bits two") << u"QR=="_s;
    QTest::newRow("nonzero padding bits one") << u"Zm9="_s;
    QTest::newRow("trailing junk") << u"Zm9vYmFy!"_s;
    QTest::newRow("trailing block") << u"Zg==Zg=="_s;
    QTest::newRow("equals in the middle") << u"Zg=vYmFy"_s;
    QTest::newRow("only padding") << u"===="_s;
    QTest::newRow("single character") << u"Z"_s;
    QTest::newRow("invalid character") << u"Zm9*"_s;
    QTest::newRow("nul byte") << QString(u"Zm9v" + QString(QChar(0)) + u"YmFy");
}

void TestBase64::rejectsNonCanonical()
{
    QFETCH(QString, text);

    const Result<QByteArray> decoded = decodeBase64(text, u"encrypted_key");
    QVERIFY(!decoded.ok());
    QCOMPARE(decoded.error().reason, Reason::Malformed);
    QVERIFY2(decoded.error().message.contains(u"encrypted_key"_s),
             qPrintable(decoded.error().message));
}

void TestBase64::secretRejectsNonCanonical_data()
{
    rejectsNonCanonical_data();
}

void TestBase64::secretRejectsNonCanonical()
{
    QFETCH(QString, text);

    const Result<SecureBuffer> decoded = decodeBase64Secret(text.toLatin1(), u"salt");
    QVERIFY(!decoded.ok());
    QCOMPARE(decoded.error().reason, Reason::Malformed);
    QVERIFY2(decoded.error().message.contains(u"salt"_s), qPrintable(decoded.error().message));
}

void TestBase64::rejectsNonAscii()
{
    // U+FF3A FULLWIDTH LATIN CAPITAL LETTER Z would turn into a question
    // mark or 'Z' under a lossy conversion.
    const Result<QByteArray> decoded = decodeBase64(u"\uFF3Am9v"_s, u"iv");
    QVERIFY(!decoded.ok());
    QCOMPARE(decoded.error().reason, Reason::Malformed);
    QVERIFY(decoded.error().message.contains(u"iv"_s));
}

void TestBase64::expectedLength()
{
    const Result<QByteArray> decoded = decodeBase64(u"Zm9vYmFy"_s, u"nonce", 6);
    QVERIFY(decoded.ok());
    QCOMPARE(decoded.value(), "foobar"_ba);
}

void TestBase64::expectedLengthMismatch()
{
    const Result<QByteArray> decoded = decodeBase64(u"Zm9vYmFy"_s, u"nonce", 16);
    QVERIFY(!decoded.ok());
    QCOMPARE(decoded.error().reason, Reason::Malformed);
    QVERIFY2(decoded.error().message.contains(u"nonce"_s), qPrintable(decoded.error().message));
    QVERIFY2(decoded.error().message.contains(u"16"_s), qPrintable(decoded.error().message));
    QVERIFY2(decoded.error().message.contains(u"6"_s), qPrintable(decoded.error().message));
}

QTEST_GUILESS_MAIN(TestBase64)
#include "tst_base64.moc"
