// UUID and timestamp formats of the wire protocol.
#include "ids.h"

#include <QSet>
#include <QTest>
#include <QTimeZone>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

class TestIds : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void newUuidIsCanonical();
    void newUuidIsRandom();
    void canonicalUuid_data();
    void canonicalUuid();
    void formatUtc();
    void formatConvertsToUtc();
    void parseRoundTrip();
    void parseRejects_data();
    void parseRejects();
};

void TestIds::newUuidIsCanonical()
{
    const QString uuid = newUuid();
    QVERIFY2(isCanonicalUuid(uuid), qPrintable(uuid));
}

void TestIds::newUuidIsRandom()
{
    QSet<QString> seen;
    for (int i = 0; i < 100; ++i)
        seen.insert(newUuid());
    QCOMPARE(seen.size(), 100);
}

void TestIds::canonicalUuid_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("canonical");

    QTest::newRow("lowercase") << u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s << true;
    QTest::newRow("nil") << u"00000000-0000-0000-0000-000000000000"_s << true;
    QTest::newRow("uppercase") << u"0B7F5F0E-8C1D-4E2A-B3C4-5D6E7F809A1B"_s << false;
    QTest::newRow("braces") << u"{0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b}"_s << false;
    QTest::newRow("no dashes") << u"0b7f5f0e8c1d4e2ab3c45d6e7f809a1b"_s << false;
    QTest::newRow("dash moved") << u"0b7f5f0e8-c1d-4e2a-b3c4-5d6e7f809a1b"_s << false;
    QTest::newRow("too short") << u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1"_s << false;
    QTest::newRow("too long") << u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1bb"_s << false;
    QTest::newRow("non-hex") << u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1g"_s << false;
    QTest::newRow("empty") << QString() << false;
}

void TestIds::canonicalUuid()
{
    QFETCH(QString, text);
    QFETCH(bool, canonical);

    QCOMPARE(isCanonicalUuid(text), canonical);
}

void TestIds::formatUtc()
{
    const QDateTime time(QDate(2026, 12, 4), QTime(2, 5, 0, 0), QTimeZone::utc());
    QCOMPARE(formatTimestamp(time), u"2026-12-04T02:05:00.000Z"_s);

    const QDateTime withMillis(QDate(2026, 12, 4), QTime(2, 5, 1, 250), QTimeZone::utc());
    QCOMPARE(formatTimestamp(withMillis), u"2026-12-04T02:05:01.250Z"_s);
}

void TestIds::formatConvertsToUtc()
{
    const QDateTime plusTwo(QDate(2026, 12, 4), QTime(4, 5, 0, 7), QTimeZone(2 * 3600));
    QCOMPARE(formatTimestamp(plusTwo), u"2026-12-04T02:05:00.007Z"_s);
}

void TestIds::parseRoundTrip()
{
    const Result<QDateTime> parsed = parseTimestamp(u"2026-12-04T02:05:01.250Z", u"issued_at");
    QVERIFY(parsed.ok());
    QCOMPARE(parsed.value(), QDateTime(QDate(2026, 12, 4), QTime(2, 5, 1, 250), QTimeZone::utc()));
    QCOMPARE(parsed->timeSpec(), Qt::UTC);
    QCOMPARE(formatTimestamp(parsed.value()), u"2026-12-04T02:05:01.250Z"_s);
}

void TestIds::parseRejects_data()
{
    QTest::addColumn<QString>("text");

    QTest::newRow("no milliseconds") << u"2026-12-04T02:05:00Z"_s;
    QTest::newRow("microseconds") << u"2026-12-04T02:05:00.000000Z"_s;
    QTest::newRow("offset") << u"2026-12-04T02:05:00.000+00:00"_s;
    QTest::newRow("lowercase z") << u"2026-12-04T02:05:00.000z"_s;
    QTest::newRow("lowercase t") << u"2026-12-04t02:05:00.000Z"_s;
    QTest::newRow("space separator") << u"2026-12-04 02:05:00.000Z"_s;
    QTest::newRow("no zone") << u"2026-12-04T02:05:00.000"_s;
    QTest::newRow("month 13") << u"2026-13-04T02:05:00.000Z"_s;
    QTest::newRow("february 30") << u"2026-02-30T02:05:00.000Z"_s;
    QTest::newRow("hour 24") << u"2026-12-04T24:00:00.000Z"_s;
    QTest::newRow("leap second") << u"2026-12-31T23:59:60.000Z"_s;
    QTest::newRow("sign in digits") << u"2026-12-04T02:05:+0.000Z"_s;
    QTest::newRow("arabic-indic digit") << u"2026-12-04T02:05:0\u0660.000Z"_s;
    QTest::newRow("trailing space") << u"2026-12-04T02:05:00.000Z "_s;
    QTest::newRow("empty") << QString();
}

void TestIds::parseRejects()
{
    QFETCH(QString, text);

    const Result<QDateTime> parsed = parseTimestamp(text, u"expires_at");
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, Reason::Malformed);
    QVERIFY2(parsed.error().message.contains(u"expires_at"_s), qPrintable(parsed.error().message));
}

QTEST_GUILESS_MAIN(TestIds)
#include "tst_ids.moc"
