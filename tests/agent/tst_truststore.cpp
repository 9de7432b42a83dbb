// TrustStore: credential statements and agent certificates against the local
// trusted-operators file, expiry with an injected clock, the org check, and
// the highest generation seen per agent.
#include "agenttestsupport.h"
#include "ids.h"
#include "truststore.h"
#include "vault.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

class TestTrustStore : public QObject {
    Q_OBJECT

public:
    TestTrustStore()
        : m_self(generatedIdentity(m_org.orgId))
        , m_other(vectorPeerIdentity(m_org.orgId))
    {
    }

private Q_SLOTS:
    void init();
    void cleanup();

    void readsTrustedOperatorsFile();
    void refusesEmptyOperatorsFile();
    void refusesMissingOperatorsFile();
    void verifiesCredentialStatement();
    void refusesUntrustedStatementSigner();
    void refusesForgedStatement();
    void verifiesEachTrustedOperator();
    void verifiesCertificate();
    void refusesCertificate_data();
    void refusesCertificate();
    void expiryFollowsClock();
    void recordsHigherGeneration();
    void verifiesOwnCertificate();
    void refusesOwnCertificateWithOtherKeys();

private:
    TrustStore trustStore(Clock clock = testClock());

    TestOrg m_org;
    AgentIdentity m_self;
    AgentIdentity m_other;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Vault> m_vault;
};

void TestTrustStore::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    Result<std::unique_ptr<Vault>> vault = Vault::create(
        m_dir->filePath(u"vault.db"_s), testMasterKey(), VaultOptions { 5000, testClock() });
    QVERIFY(vault.ok());
    m_vault = std::move(vault).value();
    QVERIFY(m_vault->storeIdentity(m_self).ok());
}

void TestTrustStore::cleanup()
{
    m_vault.reset();
    m_dir.reset();
}

TrustStore TestTrustStore::trustStore(Clock clock)
{
    return TrustStore(m_org.trustedKeys(), m_org.orgId, *m_vault, std::move(clock));
}

void TestTrustStore::readsTrustedOperatorsFile()
{
    const QString path = m_org.writeTrustedOperatorsFile(m_dir->path());
    Result<TrustStore> trust = TrustStore::fromFile(path, m_org.orgId, *m_vault, testClock());
    QVERIFY(trust.ok());
    QCOMPARE(trust->trustedOperators().size(), 1);
    QVERIFY(trust->isTrustedOperator(m_org.operatorKey.publicKey()));
    QVERIFY(!trust->isTrustedOperator(m_org.rogueKey.publicKey()));
}

void TestTrustStore::refusesEmptyOperatorsFile()
{
    const QString path = m_dir->filePath(u"empty"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("# nobody yet\n");
    file.close();
    Result<TrustStore> trust = TrustStore::fromFile(path, m_org.orgId, *m_vault);
    QVERIFY(!trust.ok());
    QVERIFY(trust.error().message.contains(path));
}

void TestTrustStore::refusesMissingOperatorsFile()
{
    Result<TrustStore> trust =
        TrustStore::fromFile(m_dir->filePath(u"missing"_s), m_org.orgId, *m_vault);
    QVERIFY(!trust.ok());
    QCOMPARE(trust.error().reason, Reason::IoError);
}

void TestTrustStore::verifiesCredentialStatement()
{
    const QString credentialId = newUuid();
    const CredentialStatement fields =
        m_org.statementFields(credentialId, 1, 1, makeSecret().commitment);
    Result<CredentialStatement> verified =
        trustStore().verifyCredentialStatement(m_org.sign(fields));
    QVERIFY(verified.ok());
    QCOMPARE(verified->credentialId, credentialId);
}

void TestTrustStore::refusesUntrustedStatementSigner()
{
    const CredentialStatement fields =
        m_org.statementFields(newUuid(), 1, 1, makeSecret().commitment);
    Result<CredentialStatement> verified =
        trustStore().verifyCredentialStatement(m_org.sign(fields, m_org.rogueKey));
    QVERIFY(!verified.ok());
    QCOMPARE(verified.error().reason, Reason::UntrustedOperator);
}

void TestTrustStore::refusesForgedStatement()
{
    // The operator_key names the trusted operator, but another key signed it.
    const CredentialStatement fields =
        m_org.statementFields(newUuid(), 1, 1, makeSecret().commitment);
    SignedStatement forged = m_org.sign(fields);
    forged.signature =
        m_org.rogueKey.sign(signingInput(StatementContext::Credential, forged.bytes));
    Result<CredentialStatement> verified = trustStore().verifyCredentialStatement(forged);
    QVERIFY(!verified.ok());
    QCOMPARE(verified.error().reason, Reason::BadStatement);
}

void TestTrustStore::verifiesEachTrustedOperator()
{
    // With two trusted operators, each one's statement verifies under its
    // own key, and a signature by the other one does not.
    Result<Ed25519PrivateKey> second = Ed25519PrivateKey::generate();
    QVERIFY(second.ok());
    TrustStore trust(m_org.trustedKeys() << second->publicKey(), m_org.orgId, *m_vault,
                     testClock());

    for (const Ed25519PrivateKey *signer : { &m_org.operatorKey, &second.value() }) {
        const CredentialStatement fields =
            m_org.statementFields(newUuid(), 1, 1, makeSecret().commitment);
        QVERIFY(trust.verifyCredentialStatement(m_org.sign(fields, *signer)).ok());
    }

    const CredentialStatement fields =
        m_org.statementFields(newUuid(), 1, 1, makeSecret().commitment);
    SignedStatement forged = m_org.sign(fields, second.value());
    forged.signature =
        m_org.operatorKey.sign(signingInput(StatementContext::Credential, forged.bytes));
    Result<CredentialStatement> verified = trust.verifyCredentialStatement(forged);
    QVERIFY(!verified.ok());
    QCOMPARE(verified.error().reason, Reason::BadStatement);
}

void TestTrustStore::verifiesCertificate()
{
    TrustStore trust = trustStore();
    Result<AgentCertificate> certificate =
        trust.verifyCertificate(m_org.certify(m_other), Reason::UntrustedTargetKey);
    QVERIFY2(certificate.ok(), certificate.ok() ? "" : qPrintable(certificate.error().message));
    QCOMPARE(certificate->agentId, m_other.agentId);
    QCOMPARE(m_vault->highestGeneration(m_other.agentId)->value(), 1);
}

void TestTrustStore::refusesCertificate_data()
{
    QTest::addColumn<QString>("problem");
    QTest::newRow("untrusted operator") << u"not in the trusted-operators file"_s;
    QTest::newRow("forged signature") << u"signature does not verify"_s;
    QTest::newRow("other org") << u"not this agent's org"_s;
    QTest::newRow("expired") << u"expired"_s;
    QTest::newRow("lower generation") << u"lower than generation 3"_s;
}

void TestTrustStore::refusesCertificate()
{
    QFETCH(QString, problem);
    const QByteArray tag = QTest::currentDataTag();
    TrustStore trust = trustStore();

    AgentCertificate fields = m_org.certificateFields(m_other, 3);
    SignedStatement certificate = m_org.certify(fields, m_org.operatorKey);
    if (tag == "untrusted operator") {
        certificate = m_org.certify(fields, m_org.rogueKey);
    } else if (tag == "forged signature") {
        certificate.signature = m_org.rogueKey.sign(
            signingInput(StatementContext::AgentCertificate, certificate.bytes));
    } else if (tag == "other org") {
        fields.orgId = newUuid();
        certificate = m_org.certify(fields, m_org.operatorKey);
    } else if (tag == "expired") {
        fields.issuedAt = testNow().addDays(-200);
        fields.expiresAt = testNow().addSecs(-1);
        certificate = m_org.certify(fields, m_org.operatorKey);
    } else if (tag == "lower generation") {
        QVERIFY(trust.verifyCertificate(certificate, Reason::UntrustedTargetKey).ok());
        certificate = m_org.certify(m_other, 2);
    }

    Result<AgentCertificate> verified =
        trust.verifyCertificate(certificate, Reason::BadAttestation);
    QVERIFY(!verified.ok());
    QCOMPARE(verified.error().reason, Reason::BadAttestation);
    QVERIFY2(verified.error().message.contains(problem), qPrintable(verified.error().message));
}

void TestTrustStore::expiryFollowsClock()
{
    const SignedStatement certificate = m_org.certify(m_other);
    const QDateTime expiresAt = m_org.certificateFields(m_other).expiresAt;

    TrustStore before = trustStore([&] { return expiresAt.addMSecs(-1); });
    QVERIFY(before.verifyCertificate(certificate, Reason::UntrustedTargetKey).ok());
    TrustStore at = trustStore([&] { return expiresAt; });
    QVERIFY(!at.verifyCertificate(certificate, Reason::UntrustedTargetKey).ok());
}

void TestTrustStore::recordsHigherGeneration()
{
    TrustStore trust = trustStore();
    QVERIFY(trust.verifyCertificate(m_org.certify(m_other, 1), Reason::UntrustedTargetKey).ok());
    QVERIFY(trust.verifyCertificate(m_org.certify(m_other, 4), Reason::UntrustedTargetKey).ok());
    QCOMPARE(m_vault->highestGeneration(m_other.agentId)->value(), 4);
    QVERIFY(trust.verifyCertificate(m_org.certify(m_other, 4), Reason::UntrustedTargetKey).ok());
    QVERIFY(!trust.verifyCertificate(m_org.certify(m_other, 3), Reason::UntrustedTargetKey).ok());
    QCOMPARE(m_vault->highestGeneration(m_other.agentId)->value(), 4);
}

void TestTrustStore::verifiesOwnCertificate()
{
    TrustStore trust = trustStore();
    Result<AgentCertificate> own = trust.verifyOwnCertificate(m_org.certify(m_self), m_self);
    QVERIFY(own.ok());
    QCOMPARE(own->agentId, m_self.agentId);
}

void TestTrustStore::refusesOwnCertificateWithOtherKeys()
{
    TrustStore trust = trustStore();
    AgentIdentity impostor = m_other;
    impostor.agentId = m_self.agentId;
    Result<AgentCertificate> own = trust.verifyOwnCertificate(m_org.certify(impostor), m_self);
    QVERIFY(!own.ok());
    QCOMPARE(own.error().reason, Reason::Forbidden);
}

QTEST_GUILESS_MAIN(TestTrustStore)
#include "tst_truststore.moc"
