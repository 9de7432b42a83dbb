// Tests of the export parsers behind 'sealrelayctl import': the sample
// exports under tests/data/import, every skip reason, name normalisation and
// malformed files whose errors name the line or the field.
#include "credentialimport.h"
#include "testdata.h"

#include <QTest>

using namespace Qt::Literals::StringLiterals;
using sealrelay::client::ImportedExport;
using sealrelay::client::ImportEntry;

namespace {

const QByteArray kHeader = "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\"\n";

const ImportEntry *findByLocation(const ImportedExport &imported, const QString &location)
{
    for (const ImportEntry &entry : imported.entries) {
        if (entry.location == location)
            return &entry;
    }
    return nullptr;
}

} // namespace

class TestCredentialImport : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void formatNames();
    void keepassxcEntries_data();
    void keepassxcEntries();
    void keepassxcQuotedFields();
    void keepassxcSkipReasons_data();
    void keepassxcSkipReasons();
    void keepassxcLegacyHeader();
    void keepassxcCrlfAndBom();
    void keepassxcEmptyLastField();
    void keepassxcMalformed_data();
    void keepassxcMalformed();
    void bitwardenEntries_data();
    void bitwardenEntries();
    void bitwardenSecretFields();
    void bitwardenSkipReasons_data();
    void bitwardenSkipReasons();
    void bitwardenEncryptedRejected();
    void bitwardenMalformed_data();
    void bitwardenMalformed();
    void nameFromPath_data();
    void nameFromPath();
    void nameTooLong();
    void secretFieldsOmitEmptyNotes();
    void wipeSecretsClears();
};

void TestCredentialImport::formatNames()
{
    QCOMPARE(sealrelay::client::importFormatFromName(u"keepassxc-csv"),
             sealrelay::client::ImportFormat::KeePassXcCsv);
    QCOMPARE(sealrelay::client::importFormatFromName(u"bitwarden-json"),
             sealrelay::client::ImportFormat::BitwardenJson);
    QVERIFY(!sealrelay::client::importFormatFromName(u"csv").has_value());
}

void TestCredentialImport::keepassxcEntries_data()
{
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("username");
    QTest::addColumn<QByteArray>("password");
    QTest::addColumn<QByteArray>("url");

    QTest::newRow("core switch") << u"line 2"_s << u"Network/Core/core-sw-01 admin"_s
                                 << QByteArray("admin") << QByteArray("Fake-Core-01!")
                                 << QByteArray("ssh://10.0.0.1");
    QTest::newRow("no username") << u"line 5"_s << u"Network/Edge/edge-rtr-01 enable"_s
                                 << QByteArray() << QByteArray("Enable-Fake-11") << QByteArray();
    QTest::newRow("unicode") << u"line 7"_s << u"Netzwerk/Zürich/Übergang fw-zrh-01"_s
                             << QByteArray("verwalter") << QByteArray("Fake-Zürich-ß-01")
                             << QByteArray("https://fw-zrh-01.example.test");
    QTest::newRow("root group, spaces") << u"line 8"_s << u"radius shared secret"_s << QByteArray()
                                        << QByteArray("Radius-Fake-99") << QByteArray();
}

void TestCredentialImport::keepassxcEntries()
{
    QFETCH(QString, location);
    QFETCH(QString, name);
    QFETCH(QByteArray, username);
    QFETCH(QByteArray, password);
    QFETCH(QByteArray, url);

    auto parsed = sealrelay::client::parseKeePassXcCsv(
        sealrelay::test::readDataFile(u"import/keepassxc-network.csv"_s));
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->entries.size(), 10);
    const ImportEntry *entry = findByLocation(parsed.value(), location);
    QVERIFY(entry);
    QCOMPARE(entry->skipReason, QString());
    QCOMPARE(entry->name, name);
    QCOMPARE(entry->username, username);
    QCOMPARE(entry->password, password);
    QCOMPARE(entry->url, url);
}

void TestCredentialImport::keepassxcQuotedFields()
{
    auto parsed = sealrelay::client::parseKeePassXcCsv(
        sealrelay::test::readDataFile(u"import/keepassxc-network.csv"_s));
    QVERIFY(parsed.ok());

    const ImportEntry *multiline = findByLocation(parsed.value(), u"line 2"_s);
    QVERIFY(multiline);
    QCOMPARE(multiline->notes, QByteArray("Console: Slot 1\nOOB via cons-srv-01 port 7"));

    const ImportEntry *quoted = findByLocation(parsed.value(), u"line 4"_s);
    QVERIFY(quoted);
    QCOMPARE(quoted->password, QByteArray("pa\"ss,wo\"\"rd"));

    const ImportEntry *crlfNotes = findByLocation(parsed.value(), u"line 5"_s);
    QVERIFY(crlfNotes);
    QCOMPARE(crlfNotes->notes, QByteArray("Notes with \"quotes\", commas, and a\r\nCRLF line"));
    QCOMPARE(crlfNotes->totp, QByteArray("otpauth://totp/edge?secret=FAKEFAKEFAKEFAKE"));
}

void TestCredentialImport::keepassxcSkipReasons_data()
{
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("reasonPart");

    QTest::newRow("no password") << u"line 9"_s << u"no password"_s;
    QTest::newRow("no title") << u"line 10"_s << u"no title"_s;
    QTest::newRow("recycle bin") << u"line 11"_s << u"Recycle Bin"_s;
    QTest::newRow("duplicate") << u"line 12"_s << u"another entry of this file (line 2)"_s;
    QTest::newRow("name too long") << u"line 13"_s << u"the limit is 200"_s;
}

void TestCredentialImport::keepassxcSkipReasons()
{
    QFETCH(QString, location);
    QFETCH(QString, reasonPart);

    auto parsed = sealrelay::client::parseKeePassXcCsv(
        sealrelay::test::readDataFile(u"import/keepassxc-network.csv"_s));
    QVERIFY(parsed.ok());
    const ImportEntry *entry = findByLocation(parsed.value(), location);
    QVERIFY(entry);
    QVERIFY2(entry->skipReason.contains(reasonPart), qPrintable(entry->skipReason));
    QVERIFY(entry->password.isEmpty());
}

void TestCredentialImport::keepassxcLegacyHeader()
{
    auto parsed = sealrelay::client::parseKeePassXcCsv(
        sealrelay::test::readDataFile(u"import/keepassxc-legacy.csv"_s));
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->entries.size(), 2);
    QCOMPARE(parsed->entries.at(0).name, u"Network/Wireless/wlc-01 admin"_s);
    QCOMPARE(parsed->entries.at(1).notes, QByteArray("standby"));
    QVERIFY(parsed->entries.at(1).totp.isEmpty());
}

void TestCredentialImport::keepassxcCrlfAndBom()
{
    const QByteArray csv = "\xEF\xBB\xBF\"Title\",\"Password\",\"Group\",\"Username\",\"URL\","
                           "\"Notes\"\r\n\r\n\"fw-01\",\"Fw-Fake-1\",\"Root/Sec\",\"\",\"\","
                           "\"a\r\nb\"\r\n\"fw-02\",\"Fw-Fake-2\",\"Root/Sec\",\"\",\"\",\"\"";
    auto parsed = sealrelay::client::parseKeePassXcCsv(csv);
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->entries.size(), 2);
    QCOMPARE(parsed->entries.at(0).location, u"line 3"_s);
    QCOMPARE(parsed->entries.at(0).name, u"Sec/fw-01"_s);
    QCOMPARE(parsed->entries.at(0).notes, QByteArray("a\r\nb"));
    QCOMPARE(parsed->entries.at(1).location, u"line 5"_s);
    QCOMPARE(parsed->entries.at(1).password, QByteArray("Fw-Fake-2"));
}

void TestCredentialImport::keepassxcEmptyLastField()
{
    // The file ends right after the comma that opens the empty Notes field.
    auto parsed = sealrelay::client::parseKeePassXcCsv(kHeader + "G,t,u,Fake-3,,");
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->entries.size(), 1);
    QCOMPARE(parsed->entries.at(0).password, QByteArray("Fake-3"));
    QVERIFY(parsed->entries.at(0).notes.isEmpty());
}

void TestCredentialImport::keepassxcMalformed_data()
{
    QTest::addColumn<QByteArray>("csv");
    QTest::addColumn<QString>("messagePart");

    QTest::newRow("empty file") << QByteArray() << u"empty"_s;
    QTest::newRow("missing column")
        << QByteArray("\"Group\",\"Title\",\"Username\",\"URL\",\"Notes\"\n") << u"\"Password\""_s;
    QTest::newRow("unclosed quote")
        << kHeader + "\"G\",\"t1\",\"u\",\"p\",\"\",\"\"\n\"G\",\"t2\",\"u\",\"p,\"\",\"\"\n"
        << u"line 3: field 4 opens a double quote"_s;
    QTest::newRow("text after quote") << kHeader + "\"G\",\"t\",\"u\",\"p\"x,\"\",\"\"\n"
                                      << u"line 2: field 4 has text"_s;
    QTest::newRow("bare quote") << kHeader + "G,t,u,p\"w,,\n"
                                << u"line 2: field 4 contains a double quote"_s;
    QTest::newRow("field count") << kHeader + "\"G\",\"t\",\"u\",\"p\",\"\"\n"
                                 << u"line 2: the row has 5 fields"_s;
    QTest::newRow("field count after newline")
        << kHeader + "\"G\",\"t\",\"u\",\"p\",\"\",\"a\nb\"\n\"G\",\"t2\"\n"
        << u"line 4: the row has 2 fields"_s;
    QTest::newRow("invalid utf-8") << kHeader + "\"G\",\"t\",\"u\",\"p\xC3\x28\",\"\",\"\"\n"
                                   << u"line 2: field 4 is not valid UTF-8"_s;
    QTest::newRow("utf-8 surrogate") << kHeader + "\"G\",\"t\",\"u\",\"\xED\xA0\x80\",\"\",\"\"\n"
                                     << u"line 2: field 4 is not valid UTF-8"_s;
}

void TestCredentialImport::keepassxcMalformed()
{
    QFETCH(QByteArray, csv);
    QFETCH(QString, messagePart);

    auto parsed = sealrelay::client::parseKeePassXcCsv(csv);
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, sealrelay::Reason::Malformed);
    QVERIFY2(parsed.error().message.contains(messagePart), qPrintable(parsed.error().message));
}

void TestCredentialImport::bitwardenEntries_data()
{
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("username");
    QTest::addColumn<QByteArray>("password");

    QTest::newRow("folder") << u"items[0]"_s << u"Network/Core/core-sw-01 admin"_s
                            << QByteArray("admin") << QByteArray("Fake-Bw-Core-01");
    QTest::newRow("null username") << u"items[1]"_s << u"Network/TACACS/tacacs key"_s
                                   << QByteArray() << QByteArray("Tacacs-Fake-Key-7");
    QTest::newRow("unicode folder") << u"items[2]"_s << u"Réseau/Genève/pare-feu gva-fw-01"_s
                                    << QByteArray("opérateur") << QByteArray("Fake-Genève-01");
    QTest::newRow("no folder") << u"items[3]"_s << u"snmp community ro"_s << QByteArray()
                               << QByteArray("Fake-Community-RO");
}

void TestCredentialImport::bitwardenEntries()
{
    QFETCH(QString, location);
    QFETCH(QString, name);
    QFETCH(QByteArray, username);
    QFETCH(QByteArray, password);

    auto parsed = sealrelay::client::parseBitwardenJson(
        sealrelay::test::readDataFile(u"import/bitwarden-network.json"_s));
    QVERIFY2(parsed.ok(), qPrintable(parsed.ok() ? QString() : parsed.error().message));
    QCOMPARE(parsed->entries.size(), 10);
    const ImportEntry *entry = findByLocation(parsed.value(), location);
    QVERIFY(entry);
    QCOMPARE(entry->skipReason, QString());
    QCOMPARE(entry->name, name);
    QCOMPARE(entry->username, username);
    QCOMPARE(entry->password, password);
}

void TestCredentialImport::bitwardenSecretFields()
{
    auto parsed = sealrelay::client::parseBitwardenJson(
        sealrelay::test::readDataFile(u"import/bitwarden-network.json"_s));
    QVERIFY(parsed.ok());
    const ImportEntry *first = findByLocation(parsed.value(), u"items[0]"_s);
    QVERIFY(first);
    QCOMPARE(first->url, QByteArray("ssh://10.0.0.1"));
    QCOMPARE(first->notes, QByteArray("Line one\nLine two with \"quotes\""));

    const ImportEntry *tacacs = findByLocation(parsed.value(), u"items[1]"_s);
    QVERIFY(tacacs);
    QCOMPARE(tacacs->totp, QByteArray("JBSWY3DPEHPK3PXP"));
    QVERIFY(tacacs->notes.isEmpty());
    QVERIFY(tacacs->url.isEmpty());
}

void TestCredentialImport::bitwardenSkipReasons_data()
{
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("reasonPart");

    QTest::newRow("no password") << u"items[4]"_s << u"no password"_s;
    QTest::newRow("secure note") << u"items[5]"_s << u"a secure note, not a login"_s;
    QTest::newRow("card") << u"items[6]"_s << u"a card, not a login"_s;
    QTest::newRow("identity") << u"items[7]"_s << u"an identity, not a login"_s;
    QTest::newRow("duplicate") << u"items[8]"_s << u"another entry of this file (items[0])"_s;
    QTest::newRow("blank title") << u"items[9]"_s << u"no title"_s;
}

void TestCredentialImport::bitwardenSkipReasons()
{
    QFETCH(QString, location);
    QFETCH(QString, reasonPart);

    auto parsed = sealrelay::client::parseBitwardenJson(
        sealrelay::test::readDataFile(u"import/bitwarden-network.json"_s));
    QVERIFY(parsed.ok());
    const ImportEntry *entry = findByLocation(parsed.value(), location);
    QVERIFY(entry);
    QVERIFY2(entry->skipReason.contains(reasonPart), qPrintable(entry->skipReason));
    QVERIFY(entry->password.isEmpty());
}

void TestCredentialImport::bitwardenEncryptedRejected()
{
    auto parsed = sealrelay::client::parseBitwardenJson(
        sealrelay::test::readDataFile(u"import/bitwarden-encrypted.json"_s));
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, sealrelay::Reason::Malformed);
    QVERIFY(parsed.error().message.contains(u"encrypted"_s));
    QVERIFY(parsed.error().message.contains(u"export the vault again"_s));
}

void TestCredentialImport::bitwardenMalformed_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("messagePart");

    QTest::newRow("invalid json") << QByteArray("{\n  \"encrypted\": false,\n  \"items\": [,]\n}")
                                  << u"invalid JSON at line 3"_s;
    QTest::newRow("not an object") << QByteArray("[]") << u"not an object"_s;
    QTest::newRow("no items") << QByteArray("{\"encrypted\": false}") << u"field \"items\""_s;
    QTest::newRow("item not object")
        << QByteArray("{\"items\": [1]}") << u"field \"items[0]\" is not an object"_s;
    QTest::newRow("no type") << QByteArray("{\"items\": [{\"name\": \"a\"}]}")
                             << u"field \"items[0].type\""_s;
    QTest::newRow("login not object")
        << QByteArray("{\"items\": [{\"type\": 1, \"name\": \"a\", \"login\": []}]}")
        << u"field \"items[0].login\" is not an object"_s;
    QTest::newRow("password not string")
        << QByteArray("{\"items\": [{\"type\": 1, \"name\": \"a\", \"login\": {\"password\": 5}}]}")
        << u"field \"items[0].login.password\" is not a string"_s;
    QTest::newRow("unknown folder")
        << QByteArray("{\"folders\": [], \"items\": [{\"type\": 1, \"name\": \"a\", "
                      "\"folderId\": \"f-9\", \"login\": {\"password\": \"p\"}}]}")
        << u"field \"items[0].folderId\" is \"f-9\""_s;
    QTest::newRow("folder without name")
        << QByteArray("{\"folders\": [{\"id\": \"f-1\"}], \"items\": []}")
        << u"field \"folders[0].name\""_s;
    QTest::newRow("uris not array")
        << QByteArray("{\"items\": [{\"type\": 1, \"name\": \"a\", \"login\": {\"password\": "
                      "\"p\", \"uris\": \"x\"}}]}")
        << u"field \"items[0].login.uris\" is not an array"_s;
}

void TestCredentialImport::bitwardenMalformed()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, messagePart);

    auto parsed = sealrelay::client::parseBitwardenJson(json);
    QVERIFY(!parsed.ok());
    QCOMPARE(parsed.error().reason, sealrelay::Reason::Malformed);
    QVERIFY2(parsed.error().message.contains(messagePart), qPrintable(parsed.error().message));
}

void TestCredentialImport::nameFromPath_data()
{
    QTest::addColumn<QStringList>("folders");
    QTest::addColumn<QString>("title");
    QTest::addColumn<QString>("name");

    QTest::newRow("plain") << QStringList { u"Network"_s, u"Core"_s } << u"core-sw-01 admin"_s
                           << u"Network/Core/core-sw-01 admin"_s;
    QTest::newRow("no folders") << QStringList() << u"bgp key"_s << u"bgp key"_s;
    QTest::newRow("empty folder dropped")
        << QStringList { u"Network"_s, u" "_s, u"Edge"_s } << u"r1"_s << u"Network/Edge/r1"_s;
    QTest::newRow("newline in title")
        << QStringList { u"Network"_s } << u"line\none\r\n two"_s << u"Network/line one two"_s;
    QTest::newRow("control character") << QStringList() << u"a\u0007b"_s << u"a b"_s;
    QTest::newRow("nfc") << QStringList { u"Zu\u0308rich"_s } << u"fw"_s << u"Zürich/fw"_s;
}

void TestCredentialImport::nameFromPath()
{
    QFETCH(QStringList, folders);
    QFETCH(QString, title);
    QFETCH(QString, name);

    auto built = sealrelay::client::credentialNameFromPath(folders, title);
    QVERIFY2(built.ok(), qPrintable(built.ok() ? QString() : built.error().message));
    QCOMPARE(built.value(), name);
}

void TestCredentialImport::nameTooLong()
{
    // 66 three-byte characters and "/x" are 200 bytes; one more is 203.
    const QString folder(66, QChar(0x20AC));
    auto fits = sealrelay::client::credentialNameFromPath({ folder }, u"x"_s);
    QVERIFY(fits.ok());
    QCOMPARE(fits->toUtf8().size(), 200);

    auto tooLong = sealrelay::client::credentialNameFromPath({ folder + QChar(0x20AC) }, u"x"_s);
    QVERIFY(!tooLong.ok());
    QVERIFY(tooLong.error().message.contains(u"203 bytes"_s));
}

void TestCredentialImport::secretFieldsOmitEmptyNotes()
{
    ImportEntry entry;
    entry.password = "Fake-1";
    const QJsonObject fields = sealrelay::client::importSecretFields(entry);
    QCOMPARE(fields.keys(), (QStringList { u"password"_s, u"url"_s, u"username"_s }));
    QCOMPARE(fields.value(u"password"_s).toString(), u"Fake-1"_s);

    entry.notes = "rack 4";
    entry.totp = "JBSWY3DP";
    const QJsonObject withNotes = sealrelay::client::importSecretFields(entry);
    QCOMPARE(withNotes.value(u"notes"_s).toString(), u"rack 4"_s);
    QCOMPARE(withNotes.value(u"totp"_s).toString(), u"JBSWY3DP"_s);
}

void TestCredentialImport::wipeSecretsClears()
{
    ImportEntry entry;
    entry.username = "admin";
    entry.password = "Fake-2";
    entry.notes = "n";
    entry.wipeSecrets();
    QVERIFY(entry.username.isEmpty());
    QVERIFY(entry.password.isEmpty());
    QVERIFY(entry.notes.isEmpty());
}

QTEST_GUILESS_MAIN(TestCredentialImport)
#include "tst_credentialimport.moc"
