// PeerHandler: a rewrap that the target accepts end to end, and each refusal
// with its reason. Among the refusals are a target certificate signed by a
// key the backend swapped in, a lower certificate generation, and an old
// statement whose wider scope still names a removed agent.
#include "agenttestsupport.h"
#include "digest.h"
#include "ids.h"
#include "peerhandler.h"
#include "targethandler.h"
#include "truststore.h"
#include "vault.h"

#include <QTemporaryDir>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

class TestPeerHandler : public QObject {
    Q_OBJECT

public:
    TestPeerHandler()
        : m_peer(generatedIdentity(m_org.orgId))
        , m_target(generatedIdentity(m_org.orgId))
        , m_secret(makeSecret())
    {
    }

private Q_SLOTS:
    void init();
    void cleanup();

    void rewrapReachesTarget();
    void refusesRequest_data();
    void refusesRequest();

private:
    // Stores version/revision into the peer's vault as a delivery from the
    // creator would.
    void hold(qint64 version, qint64 revision, QStringList agents = {}, bool deleted = false);
    SignedStatement statement(qint64 version, qint64 revision, QStringList agents = {},
                              bool deleted = false) const;
    RewrapRequest request(const SignedStatement &statement, qint64 version) const;
    RewrapRequest buildCase(const QString &name);

    TestOrg m_org;
    AgentIdentity m_peer;
    AgentIdentity m_target;
    TestSecret m_secret;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Vault> m_vault;
    std::unique_ptr<TrustStore> m_trust;
    std::unique_ptr<PeerHandler> m_handler;
    QString m_credentialId;
};

void TestPeerHandler::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    Result<std::unique_ptr<Vault>> vault = Vault::create(
        m_dir->filePath(u"peer.db"_s), testMasterKey(), VaultOptions { 5000, testClock() });
    QVERIFY(vault.ok());
    m_vault = std::move(vault).value();
    QVERIFY(m_vault->storeIdentity(m_peer).ok());
    m_trust = std::make_unique<TrustStore>(m_org.trustedKeys(), m_org.orgId, *m_vault, testClock());
    m_handler = std::make_unique<PeerHandler>(*m_vault, *m_trust, m_peer);
    m_credentialId = newUuid();
}

void TestPeerHandler::cleanup()
{
    m_handler.reset();
    m_trust.reset();
    m_vault.reset();
    m_dir.reset();
}

SignedStatement TestPeerHandler::statement(qint64 version, qint64 revision, QStringList agents,
                                           bool deleted) const
{
    CredentialStatement fields =
        m_org.statementFields(m_credentialId, version, revision, m_secret.commitment, agents);
    fields.deleted = deleted;
    return m_org.sign(fields);
}

void TestPeerHandler::hold(qint64 version, qint64 revision, QStringList agents, bool deleted)
{
    CredentialStatement fields =
        m_org.statementFields(m_credentialId, version, revision, m_secret.commitment, agents);
    fields.deleted = deleted;
    const SignedStatement signedStatement = m_org.sign(fields);
    LocalAuditEntry entry;
    entry.event = u"credential_stored"_s;
    entry.credentialId = m_credentialId;
    Result<StatementWriteResult> written = deleted
        ? m_vault->storeStatement(signedStatement, fields, true, entry)
        : m_vault->storeCredential(signedStatement, fields,
                                   makePayload(m_credentialId, version, m_secret), entry);
    QVERIFY(written.ok());
    QCOMPARE(written->outcome, VaultWrite::Written);
}

RewrapRequest TestPeerHandler::request(const SignedStatement &signedStatement, qint64 version) const
{
    RewrapRequest message;
    message.id = newUuid();
    message.requestId = newUuid();
    message.credentialId = m_credentialId;
    message.version = version;
    message.targetAgentId = m_target.agentId;
    message.targetCertificate = m_org.certify(m_target);
    message.statement = signedStatement;
    return message;
}

void TestPeerHandler::rewrapReachesTarget()
{
    hold(1, 1);
    const SignedStatement current = statement(1, 1);
    const RewrapRequest message = request(current, 1);

    Result<RewrapReply> reply = m_handler->handleRewrapRequest(message);
    QVERIFY2(reply.ok(), reply.ok() ? "" : qPrintable(reply.error().message));
    QVERIFY(std::holds_alternative<RewrapResponse>(reply.value()));
    const auto &response = std::get<RewrapResponse>(reply.value());
    QCOMPARE(response.requestId, message.requestId);
    QCOMPARE(response.credentialId, m_credentialId);
    QCOMPARE(response.targetAgentId, m_target.agentId);

    // The envelope contains the stored payload bytes, unchanged.
    Result<SecureBuffer> opened = openEnvelope(m_target.encryptionKey, response.envelope);
    QVERIFY(opened.ok());
    QCOMPARE(opened->view().toByteArray(), makePayload(m_credentialId, 1, m_secret));

    Result<QJsonObject> fields = verifyStatement(
        StatementContext::Attestation, response.attestation, m_peer.identityKey.publicKey());
    QVERIFY(fields.ok());
    Result<Attestation> attestation = Attestation::fromFields(fields.value());
    QVERIFY(attestation.ok());
    QCOMPARE(attestation->requestId, message.requestId);
    QCOMPARE(attestation->sourceKind, AttestationSource::Peer);
    QCOMPARE(attestation->sourceId, m_peer.agentId);
    QCOMPARE(attestation->targetAgentId, m_target.agentId);
    QCOMPARE(attestation->targetKeyFingerprint, m_target.encryptionKeyFingerprint());
    QCOMPARE(attestation->statementSha256, current.sha256());
    QCOMPARE(attestation->envelopeSha256, response.envelope.sha256());

    // The target accepts what the backend relays from this response.
    QTemporaryDir targetDir;
    Result<std::unique_ptr<Vault>> targetVault = Vault::create(
        targetDir.filePath(u"target.db"_s), testMasterKey('t'), VaultOptions { 5000, testClock() });
    QVERIFY(targetVault.ok());
    QVERIFY(targetVault.value()->storeIdentity(m_target).ok());
    TrustStore targetTrust(m_org.trustedKeys(), m_org.orgId, *targetVault.value(), testClock());
    TargetHandler target(*targetVault.value(), targetTrust, m_target, testClock());

    CredentialStore delivery;
    delivery.id = newUuid();
    delivery.deliveryId = newUuid();
    delivery.credentialId = m_credentialId;
    delivery.statement = current;
    delivery.envelope = response.envelope;
    delivery.attestation = response.attestation;
    delivery.source.kind = AttestationSource::Peer;
    delivery.source.agentId = m_peer.agentId;
    delivery.source.certificate = m_org.certify(m_peer);
    Result<CredentialStoreReply> stored = target.handleCredentialStore(roundTrip(delivery));
    QVERIFY(stored.ok());
    QVERIFY(std::holds_alternative<CredentialStored>(stored.value()));
    QCOMPARE(std::get<CredentialStored>(stored.value()).commitment, m_secret.commitment);

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->last().entry.event, u"rewrap_sent"_s);
    QCOMPARE(audit->last().entry.counterpartId, m_target.agentId);
}

RewrapRequest TestPeerHandler::buildCase(const QString &name)
{
    // UNTRUSTED_TARGET_KEY
    if (name == "target key swapped by backend"_L1) {
        // The backend's own RSA key under a certificate it signed itself.
        hold(1, 1);
        RewrapRequest message = request(statement(1, 1), 1);
        AgentCertificate fields = m_org.certificateFields(m_target);
        fields.encryptionKey = vectorRsaKey().publicKey().spkiDer();
        message.targetCertificate = m_org.certify(fields, m_org.rogueKey);
        return message;
    }
    if (name == "target certificate lower generation"_L1) {
        hold(1, 1);
        // A generation-2 certificate was seen before.
        if (!m_trust->verifyCertificate(m_org.certify(m_target, 2), Reason::UntrustedTargetKey))
            QTest::qFail("generation 2 certificate does not verify", __FILE__, __LINE__);
        RewrapRequest message = request(statement(1, 1), 1);
        message.targetCertificate = m_org.certify(m_target, 1);
        return message;
    }
    if (name == "target certificate expired"_L1) {
        hold(1, 1);
        AgentCertificate fields = m_org.certificateFields(m_target);
        fields.issuedAt = QDateTime(QDate(2025, 6, 1), QTime(0, 0), Qt::UTC);
        fields.expiresAt = fields.issuedAt.addDays(180);
        RewrapRequest message = request(statement(1, 1), 1);
        message.targetCertificate = m_org.certify(fields, m_org.operatorKey);
        return message;
    }
    if (name == "target certificate other org"_L1) {
        hold(1, 1);
        AgentCertificate fields = m_org.certificateFields(m_target);
        fields.orgId = newUuid();
        RewrapRequest message = request(statement(1, 1), 1);
        message.targetCertificate = m_org.certify(fields, m_org.operatorKey);
        return message;
    }
    if (name == "target certificate other agent"_L1) {
        hold(1, 1);
        RewrapRequest message = request(statement(1, 1), 1);
        message.targetAgentId = newUuid();
        return message;
    }
    // BAD_STATEMENT
    if (name == "statement bad signature"_L1) {
        hold(1, 1);
        RewrapRequest message = request(statement(1, 1), 1);
        message.statement.signature[0] = char(message.statement.signature[0] ^ 0x01);
        return message;
    }
    if (name == "statement untrusted signer"_L1) {
        hold(1, 1);
        const CredentialStatement fields =
            m_org.statementFields(m_credentialId, 1, 1, m_secret.commitment);
        return request(m_org.sign(fields, m_org.rogueKey), 1);
    }
    // STALE_STATEMENT: the target was removed in revision 2; the backend
    // replays revision 1, whose scope still names it.
    if (name == "old statement names removed agent"_L1) {
        hold(1, 2, { m_peer.agentId });
        return request(statement(1, 1, { m_peer.agentId, m_target.agentId }), 1);
    }
    if (name == "old version"_L1) {
        hold(2, 1);
        return request(statement(1, 1), 1);
    }
    // NOT_HELD
    if (name == "nothing held"_L1) {
        return request(statement(1, 1), 1);
    }
    if (name == "newer version not held"_L1) {
        hold(1, 1);
        return request(statement(2, 1), 2);
    }
    if (name == "request names another version"_L1) {
        hold(1, 1);
        return request(statement(1, 1), 2);
    }
    if (name == "tombstone held"_L1) {
        hold(1, 1);
        hold(1, 2, {}, true);
        return request(statement(1, 2, {}, true), 1);
    }
    // OUT_OF_SCOPE
    if (name == "target outside scope"_L1) {
        hold(1, 1, { m_peer.agentId });
        return request(statement(1, 1, { m_peer.agentId }), 1);
    }
    QTest::qFail(qPrintable(u"unknown case "_s + name), __FILE__, __LINE__);
    return {};
}

void TestPeerHandler::refusesRequest_data()
{
    QTest::addColumn<QString>("reason");

    QTest::newRow("target key swapped by backend") << u"UNTRUSTED_TARGET_KEY"_s;
    QTest::newRow("target certificate lower generation") << u"UNTRUSTED_TARGET_KEY"_s;
    QTest::newRow("target certificate expired") << u"UNTRUSTED_TARGET_KEY"_s;
    QTest::newRow("target certificate other org") << u"UNTRUSTED_TARGET_KEY"_s;
    QTest::newRow("target certificate other agent") << u"UNTRUSTED_TARGET_KEY"_s;
    QTest::newRow("statement bad signature") << u"BAD_STATEMENT"_s;
    QTest::newRow("statement untrusted signer") << u"BAD_STATEMENT"_s;
    QTest::newRow("old statement names removed agent") << u"STALE_STATEMENT"_s;
    QTest::newRow("old version") << u"STALE_STATEMENT"_s;
    QTest::newRow("nothing held") << u"NOT_HELD"_s;
    QTest::newRow("newer version not held") << u"NOT_HELD"_s;
    QTest::newRow("request names another version") << u"NOT_HELD"_s;
    QTest::newRow("tombstone held") << u"NOT_HELD"_s;
    QTest::newRow("target outside scope") << u"OUT_OF_SCOPE"_s;
}

void TestPeerHandler::refusesRequest()
{
    QFETCH(QString, reason);

    const RewrapRequest message = buildCase(QString::fromUtf8(QTest::currentDataTag()));
    Result<QList<LocalAuditRecord>> auditBefore = m_vault->audit().records();
    QVERIFY(auditBefore.ok());

    Result<RewrapReply> reply = m_handler->handleRewrapRequest(message);
    QVERIFY2(reply.ok(), reply.ok() ? "" : qPrintable(reply.error().message));
    QVERIFY(std::holds_alternative<RewrapRefused>(reply.value()));
    const auto &refused = std::get<RewrapRefused>(reply.value());
    QCOMPARE(reasonName(refused.reason), reason);
    QCOMPARE(refused.requestId, message.requestId);
    QCOMPARE(refused.credentialId, message.credentialId);
    QCOMPARE(refused.targetAgentId, message.targetAgentId);

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), auditBefore->size() + 1);
    const LocalAuditEntry &row = audit->last().entry;
    QCOMPARE(row.event, u"rewrap_refused"_s);
    QCOMPARE(row.reason, reason);
    QCOMPARE(row.severity, AuditSeverity::Critical);
    QCOMPARE(row.referenceId, message.requestId);
}

QTEST_GUILESS_MAIN(TestPeerHandler)
#include "tst_peerhandler.moc"
