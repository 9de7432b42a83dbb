// RowCipher: AES-256-GCM sealing of vault values, bound to their row by the
// additional authenticated data.
#include "agenttestsupport.h"
#include "rowcipher.h"

#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

Q_DECLARE_METATYPE(sealrelay::agent::RowBinding)

class TestRowCipher : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sealsAndOpens();
    void sealsEmptyValue();
    void freshIvPerSeal();
    void refusesOtherBinding_data();
    void refusesOtherBinding();
    void refusesOtherKey();
    void refusesAlteredByte();
    void refusesShortKey();
};

namespace {

const RowBinding kBinding { RowPurpose::CredentialPayload,
                            u"5a1f0e2d-3c4b-4a59-8e7f-6d5c4b3a2910"_s, 3 };

RowCipher cipherFor(char seed)
{
    Result<RowCipher> cipher = RowCipher::create(testMasterKey(seed));
    if (!cipher)
        qFatal("%s", qPrintable(cipher.error().message));
    return std::move(cipher).value();
}

} // namespace

void TestRowCipher::sealsAndOpens()
{
    const RowCipher cipher = cipherFor('a');
    Result<QByteArray> sealed = cipher.seal(kBinding, "payload bytes");
    QVERIFY(sealed.ok());
    QCOMPARE(sealed->size(), 12 + 13 + 16);
    QVERIFY(!sealed->contains("payload bytes"));
    Result<SecureBuffer> opened = cipher.open(kBinding, sealed.value());
    QVERIFY(opened.ok());
    QCOMPARE(opened->view(), QByteArrayView("payload bytes"));
}

void TestRowCipher::sealsEmptyValue()
{
    const RowCipher cipher = cipherFor('a');
    Result<QByteArray> sealed = cipher.seal(kBinding, QByteArrayView());
    QVERIFY(sealed.ok());
    Result<SecureBuffer> opened = cipher.open(kBinding, sealed.value());
    QVERIFY(opened.ok());
    QCOMPARE(opened->size(), 0);
}

void TestRowCipher::freshIvPerSeal()
{
    const RowCipher cipher = cipherFor('a');
    QVERIFY(cipher.seal(kBinding, "same").value() != cipher.seal(kBinding, "same").value());
}

void TestRowCipher::refusesOtherBinding_data()
{
    QTest::addColumn<RowBinding>("binding");
    QTest::newRow("other purpose")
        << RowBinding { RowPurpose::IdentityKey, kBinding.id, kBinding.version };
    QTest::newRow("other id") << RowBinding { kBinding.purpose,
                                              u"7b2e1f3a-4d5c-4b6a-9f8e-7d6c5b4a3920"_s,
                                              kBinding.version };
    QTest::newRow("other version") << RowBinding { kBinding.purpose, kBinding.id, 4 };
}

void TestRowCipher::refusesOtherBinding()
{
    QFETCH(RowBinding, binding);
    const RowCipher cipher = cipherFor('a');
    Result<SecureBuffer> opened = cipher.open(binding, cipher.seal(kBinding, "secret").value());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::DecryptFailed);
}

void TestRowCipher::refusesOtherKey()
{
    Result<SecureBuffer> opened =
        cipherFor('b').open(kBinding, cipherFor('a').seal(kBinding, "secret").value());
    QVERIFY(!opened.ok());
    QCOMPARE(opened.error().reason, Reason::DecryptFailed);
}

void TestRowCipher::refusesAlteredByte()
{
    const RowCipher cipher = cipherFor('a');
    const QByteArray sealed = cipher.seal(kBinding, "secret").value();
    for (qsizetype i = 0; i < sealed.size(); ++i) {
        QByteArray altered = sealed;
        altered[i] = char(altered[i] ^ 0x80);
        QVERIFY2(!cipher.open(kBinding, altered).ok(), qPrintable(u"byte %1"_s.arg(i)));
    }
    QVERIFY(!cipher.open(kBinding, sealed.left(27)).ok());
}

void TestRowCipher::refusesShortKey()
{
    Result<RowCipher> cipher = RowCipher::create(QByteArray(31, 'k'));
    QVERIFY(!cipher.ok());
    QCOMPARE(cipher.error().reason, Reason::InvalidKey);
}

QTEST_GUILESS_MAIN(TestRowCipher)
#include "tst_rowcipher.moc"
