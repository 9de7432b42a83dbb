// TargetHandler: a credential_store for each of the ten refusal reasons that
// passes every earlier check and fails exactly that one, stores from a peer
// and from the creator, the checks that still run on a source certificate
// seen before, racing deliveries, and statement updates (scope change,
// removal, delete).
#include "agenttestsupport.h"
#include "base64.h"
#include "digest.h"
#include "ids.h"
#include "targethandler.h"
#include "truststore.h"
#include "vault.h"

#include <QSemaphore>
#include <QTemporaryDir>
#include <QTest>

#include <array>
#include <thread>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;
using namespace sealrelay::agent::test;

namespace {

// Everything a delivery is built from, so a case can change one part and
// keep the others honest.
struct DeliveryPlan {
    CredentialStatement fields;
    SignedStatement statement;
    QByteArray payload;
};

Receipt verifiedReceipt(const SignedStatement &receipt, const AgentIdentity &agent)
{
    Result<QJsonObject> fields =
        verifyStatement(StatementContext::Receipt, receipt, agent.identityKey.publicKey());
    if (!fields) {
        QTest::qFail(qPrintable(u"receipt does not verify: "_s + fields.error().message), __FILE__,
                     __LINE__);
        return {};
    }
    Result<Receipt> parsed = Receipt::fromFields(fields.value());
    if (!parsed) {
        QTest::qFail(qPrintable(parsed.error().message), __FILE__, __LINE__);
        return {};
    }
    return parsed.value();
}

} // namespace

class TestTargetHandler : public QObject {
    Q_OBJECT

public:
    TestTargetHandler()
        : m_target(generatedIdentity(m_org.orgId))
        , m_peer(vectorPeerIdentity(m_org.orgId))
        , m_peerCertificate(m_org.certify(m_peer))
        , m_secret(makeSecret())
    {
    }

private Q_SLOTS:
    void init();
    void cleanup();

    void storesPeerDelivery();
    void storesCreatorDelivery();
    void storesSameDeliveryTwice();
    void storesNewerVersion();
    void refusesDelivery_data();
    void refusesDelivery();
    void refusesPrecomputedDelivery_data();
    void refusesPrecomputedDelivery();
    void seenCertificateStillChecked();
    void raceKeepsNewerVersion();
    void threadedRaceKeepsNewerVersion();
    void updateChangesScope();
    void updateRemovesAgent();
    void updateDeletes();
    void updateRefusesOlder();
    void updateNewerVersionPending();
    void refusesUpdate_data();
    void refusesUpdate();
    void tombstoneRefusesStaleDelivery();

private:
    DeliveryPlan plan(qint64 version, qint64 revision, QStringList agents = {},
                      const TestSecret &secret = {});
    CredentialStore deliver(const DeliveryPlan &plan);
    CredentialStored storeOk(const DeliveryPlan &plan);
    CredentialStore buildCase(const QString &name);
    StatementUpdate buildUpdateCase(const QString &name);

    TestOrg m_org;
    AgentIdentity m_target;
    AgentIdentity m_peer;
    SignedStatement m_peerCertificate;
    TestSecret m_secret;

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Vault> m_vault;
    std::unique_ptr<TrustStore> m_trust;
    std::unique_ptr<TargetHandler> m_handler;
    QString m_credentialId;
};

void TestTargetHandler::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    const QString path = m_dir->filePath(u"vault.db"_s);
    Result<std::unique_ptr<Vault>> vault =
        Vault::create(path, testMasterKey(), VaultOptions { 5000, testClock() });
    QVERIFY2(vault.ok(), vault.ok() ? "" : qPrintable(vault.error().message));
    m_vault = std::move(vault).value();
    QVERIFY(m_vault->storeIdentity(m_target).ok());
    m_trust = std::make_unique<TrustStore>(m_org.trustedKeys(), m_org.orgId, *m_vault, testClock());
    m_handler = std::make_unique<TargetHandler>(*m_vault, *m_trust, m_target, testClock());
    m_credentialId = newUuid();
}

void TestTargetHandler::cleanup()
{
    m_handler.reset();
    m_trust.reset();
    m_vault.reset();
    m_dir.reset();
}

DeliveryPlan TestTargetHandler::plan(qint64 version, qint64 revision, QStringList agents,
                                     const TestSecret &secret)
{
    const TestSecret &used = secret.salt.isEmpty() ? m_secret : secret;
    DeliveryPlan result;
    result.fields =
        m_org.statementFields(m_credentialId, version, revision, used.commitment, agents);
    result.statement = m_org.sign(result.fields);
    result.payload = makePayload(m_credentialId, version, used);
    return result;
}

CredentialStore TestTargetHandler::deliver(const DeliveryPlan &plan)
{
    return peerDelivery(m_peer, m_peerCertificate, m_target, plan.statement, plan.fields,
                        plan.payload);
}

CredentialStored TestTargetHandler::storeOk(const DeliveryPlan &plan)
{
    Result<CredentialStoreReply> reply = m_handler->handleCredentialStore(deliver(plan));
    if (!reply) {
        QTest::qFail(qPrintable(reply.error().message), __FILE__, __LINE__);
        return {};
    }
    if (!std::holds_alternative<CredentialStored>(reply.value())) {
        const auto &failure = std::get<CredentialIntegrityFailure>(reply.value());
        QTest::qFail(qPrintable(u"delivery refused: "_s + reasonName(failure.reason)), __FILE__,
                     __LINE__);
        return {};
    }
    return std::get<CredentialStored>(reply.value());
}

void TestTargetHandler::storesPeerDelivery()
{
    const DeliveryPlan delivery = plan(1, 1);
    const CredentialStore message = deliver(delivery);

    Result<CredentialStoreReply> reply = m_handler->handleCredentialStore(message);
    QVERIFY(reply.ok());
    QVERIFY(std::holds_alternative<CredentialStored>(reply.value()));
    const auto &stored = std::get<CredentialStored>(reply.value());
    QCOMPARE(stored.deliveryId, message.deliveryId);
    QCOMPARE(stored.credentialId, m_credentialId);
    QCOMPARE(stored.version, 1);
    QCOMPARE(stored.revision, 1);
    QCOMPARE(stored.commitment, m_secret.commitment);

    const Receipt receipt = verifiedReceipt(stored.receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Stored);
    QCOMPARE(receipt.reason, QString());
    QCOMPARE(receipt.statementSha256, delivery.statement.sha256());
    QCOMPARE(receipt.agentId, m_target.agentId);
    QCOMPARE(receipt.orgId, m_org.orgId);

    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), delivery.payload);

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), 1);
    QCOMPARE(audit->last().entry.event, u"credential_stored"_s);
    QCOMPARE(audit->last().entry.severity, AuditSeverity::Info);
    QCOMPARE(audit->last().entry.counterpartId, m_peer.agentId);
}

void TestTargetHandler::storesCreatorDelivery()
{
    const DeliveryPlan delivery = plan(1, 1);
    const CredentialStore message = creatorDelivery(m_org.operatorKey, m_target, delivery.statement,
                                                    delivery.fields, delivery.payload);

    Result<CredentialStoreReply> reply = m_handler->handleCredentialStore(message);
    QVERIFY(reply.ok());
    QVERIFY(std::holds_alternative<CredentialStored>(reply.value()));
    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QVERIFY(held->has_value());
    QCOMPARE(held->value().state, HeldState::Stored);
    QCOMPARE(held->value().statement.bytes, delivery.statement.bytes);
}

void TestTargetHandler::storesSameDeliveryTwice()
{
    const DeliveryPlan delivery = plan(1, 1);
    storeOk(delivery);
    const CredentialStored again = storeOk(delivery);
    QCOMPARE(again.version, 1);
    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), delivery.payload);
}

void TestTargetHandler::storesNewerVersion()
{
    storeOk(plan(1, 1));
    const TestSecret rotated = makeSecret(R"({"password":"pw-2","username":"admin"})");
    const DeliveryPlan newer = plan(2, 1, {}, rotated);
    storeOk(newer);

    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().version, 2);
    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), newer.payload);
}

// Builds the delivery of one refusal case. Cases that need a stored
// statement first store it through the handler.
CredentialStore TestTargetHandler::buildCase(const QString &name)
{
    DeliveryPlan delivery = plan(1, 1);

    // 1. BAD_STATEMENT
    if (name == "bad statement signature"_L1) {
        CredentialStore message = deliver(delivery);
        message.statement.signature[10] = char(message.statement.signature[10] ^ 0x01);
        return message;
    }
    if (name == "statement not canonical"_L1) {
        QByteArray bytes = delivery.statement.bytes;
        bytes.insert(1, ' ');
        delivery.statement = SignedStatement {
            bytes, m_org.operatorKey.sign(signingInput(StatementContext::Credential, bytes))
        };
        return deliver(delivery);
    }
    // 2. UNTRUSTED_OPERATOR
    if (name == "statement by untrusted operator"_L1) {
        delivery.statement = m_org.sign(delivery.fields, m_org.rogueKey);
        return deliver(delivery);
    }
    // 3. ID_MISMATCH
    if (name == "statement for another org"_L1) {
        delivery.fields.orgId = newUuid();
        delivery.statement = m_org.sign(delivery.fields);
        return deliver(delivery);
    }
    if (name == "delivery names another credential"_L1) {
        CredentialStore message = deliver(delivery);
        message.credentialId = newUuid();
        return message;
    }
    if (name == "attestation for another target"_L1) {
        CredentialStore message = deliver(delivery);
        Attestation attestation =
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId);
        attestation.targetAgentId = newUuid();
        message.attestation = signAttestation(attestation, m_peer.identityKey);
        return message;
    }
    // 4. SUPERSEDED
    if (name == "older version"_L1) {
        storeOk(plan(2, 1, {}, makeSecret(R"({"password":"pw-2"})")));
        return deliver(delivery);
    }
    if (name == "older revision"_L1) {
        storeOk(plan(1, 2));
        return deliver(delivery);
    }
    // 5. EQUIVOCATION
    if (name == "same revision other bytes"_L1) {
        storeOk(delivery);
        delivery.fields.issuedAt = delivery.fields.issuedAt.addSecs(60);
        delivery.statement = m_org.sign(delivery.fields);
        return deliver(delivery);
    }
    // 6. OUT_OF_SCOPE
    if (name == "target outside scope"_L1) {
        delivery = plan(1, 1, { m_peer.agentId });
        return deliver(delivery);
    }
    if (name == "statement deleted"_L1) {
        delivery = plan(1, 2);
        delivery.fields.deleted = true;
        delivery.statement = m_org.sign(delivery.fields);
        return deliver(delivery);
    }
    // 7. BAD_ATTESTATION
    if (name == "attestation by another key"_L1) {
        CredentialStore message = deliver(delivery);
        const Attestation attestation =
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId);
        message.attestation = signAttestation(attestation, m_org.rogueKey);
        return message;
    }
    if (name == "attestation for another envelope"_L1) {
        CredentialStore message = deliver(delivery);
        message.envelope = sealTo(m_target, delivery.payload);
        return message;
    }
    if (name == "attestation for another statement"_L1) {
        CredentialStore message = deliver(delivery);
        Attestation attestation =
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId);
        attestation.statementSha256 = sha256Base64("another statement");
        message.attestation = signAttestation(attestation, m_peer.identityKey);
        return message;
    }
    if (name == "attestation for another target key"_L1) {
        CredentialStore message = deliver(delivery);
        Attestation attestation =
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId);
        attestation.targetKeyFingerprint = m_peer.encryptionKeyFingerprint();
        message.attestation = signAttestation(attestation, m_peer.identityKey);
        return message;
    }
    if (name == "source certificate untrusted"_L1) {
        CredentialStore message = deliver(delivery);
        message.source.certificate = m_org.certify(m_org.certificateFields(m_peer), m_org.rogueKey);
        return message;
    }
    if (name == "source certificate expired"_L1) {
        AgentCertificate fields = m_org.certificateFields(m_peer);
        fields.issuedAt = QDateTime(QDate(2025, 1, 1), QTime(0, 0), Qt::UTC);
        fields.expiresAt = fields.issuedAt.addDays(300);
        CredentialStore message = deliver(delivery);
        message.source.certificate = m_org.certify(fields, m_org.operatorKey);
        return message;
    }
    if (name == "creator key untrusted"_L1) {
        return creatorDelivery(m_org.rogueKey, m_target, delivery.statement, delivery.fields,
                               delivery.payload);
    }
    // 8. DECRYPT_FAILED: a lying peer attests an envelope that is not sealed
    // to this agent, or one altered after sealing.
    if (name == "envelope for another agent"_L1) {
        CredentialStore message = deliver(delivery);
        message.envelope = sealTo(m_peer, delivery.payload);
        message.attestation = signAttestation(
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId),
            m_peer.identityKey);
        return message;
    }
    if (name == "ciphertext altered"_L1) {
        CredentialStore message = deliver(delivery);
        message.envelope.ciphertext[0] = char(message.envelope.ciphertext[0] ^ 0x01);
        message.attestation = signAttestation(
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId),
            m_peer.identityKey);
        return message;
    }
    // 9. PAYLOAD_MISMATCH
    if (name == "another credential's payload"_L1) {
        delivery.payload = makePayload(newUuid(), 1, m_secret);
        return deliver(delivery);
    }
    if (name == "payload of another version"_L1) {
        delivery.payload = makePayload(m_credentialId, 2, m_secret);
        return deliver(delivery);
    }
    if (name == "payload pad not zeros"_L1) {
        const qsizetype pad = delivery.payload.indexOf(R"("pad":"0)");
        delivery.payload[pad + 8] = '1';
        return deliver(delivery);
    }
    // 10. COMMITMENT_MISMATCH
    if (name == "commitment mismatch"_L1) {
        TestSecret other = makeSecret(R"({"password":"substituted","username":"admin"})");
        other.salt = m_secret.salt;
        delivery.payload = makePayload(m_credentialId, 1, other);
        return deliver(delivery);
    }

    // Two adjacent checks fail at once, so the reason shows which runs first.
    // Checks 4 and 5 exclude each other, so 4 is paired with 6 instead.
    if (name == "1+2: untrusted operator, bad signature"_L1) {
        CredentialStore message = deliver(delivery);
        message.statement = m_org.sign(delivery.fields, m_org.rogueKey);
        message.statement.signature[10] = char(message.statement.signature[10] ^ 0x01);
        return message;
    }
    if (name == "2+3: untrusted operator, another org"_L1) {
        delivery.fields.orgId = newUuid();
        delivery.statement = m_org.sign(delivery.fields, m_org.rogueKey);
        return deliver(delivery);
    }
    if (name == "3+4: another org, older version"_L1) {
        storeOk(plan(2, 1, {}, makeSecret(R"({"password":"pw-2"})")));
        delivery.fields.orgId = newUuid();
        delivery.statement = m_org.sign(delivery.fields);
        return deliver(delivery);
    }
    if (name == "4+6: older revision, deleted"_L1) {
        storeOk(plan(1, 3));
        delivery = plan(1, 2);
        delivery.fields.deleted = true;
        delivery.statement = m_org.sign(delivery.fields);
        return deliver(delivery);
    }
    if (name == "5+6: same revision other bytes, outside scope"_L1) {
        storeOk(delivery);
        return deliver(plan(1, 1, { m_peer.agentId }));
    }
    if (name == "6+7: outside scope, attestation by another key"_L1) {
        delivery = plan(1, 1, { m_peer.agentId });
        CredentialStore message = deliver(delivery);
        message.attestation = signAttestation(
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId),
            m_org.rogueKey);
        return message;
    }
    if (name == "7+8: attestation for another envelope, sealed to another agent"_L1) {
        CredentialStore message = deliver(delivery);
        message.envelope = sealTo(m_peer, delivery.payload);
        return message;
    }
    if (name == "8+9: sealed to another agent, another credential's payload"_L1) {
        CredentialStore message = deliver(delivery);
        message.envelope = sealTo(m_peer, makePayload(newUuid(), 1, m_secret));
        message.attestation = signAttestation(
            attestationFor(m_target, delivery.fields, delivery.statement, message.envelope,
                           AttestationSource::Peer, m_peer.agentId),
            m_peer.identityKey);
        return message;
    }
    if (name == "9+10: another credential's payload, other commitment"_L1) {
        const TestSecret other = makeSecret(R"({"password":"substituted","username":"admin"})");
        delivery.payload = makePayload(newUuid(), 1, other);
        return deliver(delivery);
    }
    QTest::qFail(qPrintable(u"unknown case "_s + name), __FILE__, __LINE__);
    return {};
}

void TestTargetHandler::refusesDelivery_data()
{
    QTest::addColumn<QString>("reason");

    QTest::newRow("bad statement signature") << u"BAD_STATEMENT"_s;
    QTest::newRow("statement not canonical") << u"BAD_STATEMENT"_s;
    QTest::newRow("statement by untrusted operator") << u"UNTRUSTED_OPERATOR"_s;
    QTest::newRow("statement for another org") << u"ID_MISMATCH"_s;
    QTest::newRow("delivery names another credential") << u"ID_MISMATCH"_s;
    QTest::newRow("attestation for another target") << u"ID_MISMATCH"_s;
    QTest::newRow("older version") << u"SUPERSEDED"_s;
    QTest::newRow("older revision") << u"SUPERSEDED"_s;
    QTest::newRow("same revision other bytes") << u"EQUIVOCATION"_s;
    QTest::newRow("target outside scope") << u"OUT_OF_SCOPE"_s;
    QTest::newRow("statement deleted") << u"OUT_OF_SCOPE"_s;
    QTest::newRow("attestation by another key") << u"BAD_ATTESTATION"_s;
    QTest::newRow("attestation for another envelope") << u"BAD_ATTESTATION"_s;
    QTest::newRow("attestation for another statement") << u"BAD_ATTESTATION"_s;
    QTest::newRow("attestation for another target key") << u"BAD_ATTESTATION"_s;
    QTest::newRow("source certificate untrusted") << u"BAD_ATTESTATION"_s;
    QTest::newRow("source certificate expired") << u"BAD_ATTESTATION"_s;
    QTest::newRow("creator key untrusted") << u"BAD_ATTESTATION"_s;
    QTest::newRow("envelope for another agent") << u"DECRYPT_FAILED"_s;
    QTest::newRow("ciphertext altered") << u"DECRYPT_FAILED"_s;
    QTest::newRow("another credential's payload") << u"PAYLOAD_MISMATCH"_s;
    QTest::newRow("payload of another version") << u"PAYLOAD_MISMATCH"_s;
    QTest::newRow("payload pad not zeros") << u"PAYLOAD_MISMATCH"_s;
    QTest::newRow("commitment mismatch") << u"COMMITMENT_MISMATCH"_s;

    QTest::newRow("1+2: untrusted operator, bad signature") << u"BAD_STATEMENT"_s;
    QTest::newRow("2+3: untrusted operator, another org") << u"UNTRUSTED_OPERATOR"_s;
    QTest::newRow("3+4: another org, older version") << u"ID_MISMATCH"_s;
    QTest::newRow("4+6: older revision, deleted") << u"SUPERSEDED"_s;
    QTest::newRow("5+6: same revision other bytes, outside scope") << u"EQUIVOCATION"_s;
    QTest::newRow("6+7: outside scope, attestation by another key") << u"OUT_OF_SCOPE"_s;
    QTest::newRow("7+8: attestation for another envelope, sealed to another agent")
        << u"BAD_ATTESTATION"_s;
    QTest::newRow("8+9: sealed to another agent, another credential's payload")
        << u"DECRYPT_FAILED"_s;
    QTest::newRow("9+10: another credential's payload, other commitment")
        << u"PAYLOAD_MISMATCH"_s;
}

void TestTargetHandler::refusesDelivery()
{
    QFETCH(QString, reason);

    const CredentialStore message = buildCase(QString::fromUtf8(QTest::currentDataTag()));
    const QByteArray rowsBefore = credentialRowsDigest(m_vault->path());
    Result<QList<LocalAuditRecord>> auditBefore = m_vault->audit().records();
    QVERIFY(auditBefore.ok());

    Result<CredentialStoreReply> reply = m_handler->handleCredentialStore(message);
    QVERIFY2(reply.ok(), reply.ok() ? "" : qPrintable(reply.error().message));
    QVERIFY(std::holds_alternative<CredentialIntegrityFailure>(reply.value()));
    const auto &failure = std::get<CredentialIntegrityFailure>(reply.value());
    QCOMPARE(reasonName(failure.reason), reason);
    QCOMPARE(failure.deliveryId, message.deliveryId);
    QCOMPARE(failure.credentialId, message.credentialId);
    QCOMPARE(failure.attestation.bytes, message.attestation.bytes);
    QCOMPARE(failure.attestation.signature, message.attestation.signature);

    const Receipt receipt = verifiedReceipt(failure.receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Refused);
    QCOMPARE(receipt.reason, reason);
    QCOMPARE(receipt.credentialId, message.credentialId);
    QCOMPARE(receipt.statementSha256, message.statement.sha256());

    QCOMPARE(credentialRowsDigest(m_vault->path()), rowsBefore);

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), auditBefore->size() + 1);
    const LocalAuditEntry &row = audit->last().entry;
    QCOMPARE(row.event, u"credential_refused"_s);
    QCOMPARE(row.reason, reason);
    QCOMPARE(row.referenceId, message.deliveryId);
    QCOMPARE(row.severity,
             reason == "SUPERSEDED"_L1 ? AuditSeverity::Info : AuditSeverity::Critical);

    Result<LocalAuditVerification> chain = m_vault->audit().verify();
    QVERIFY(chain.ok());
    QVERIFY(chain->intact);
}

void TestTargetHandler::refusesPrecomputedDelivery_data()
{
    refusesDelivery_data();
}

// Checks computed ahead on another thread give the same first failure.
void TestTargetHandler::refusesPrecomputedDelivery()
{
    QFETCH(QString, reason);

    const CredentialStore message = buildCase(QString::fromUtf8(QTest::currentDataTag()));
    PrecomputedChecks precomputed;
    std::thread worker([&] { precomputed = m_handler->precompute(message); });
    worker.join();

    Result<CredentialStoreReply> reply = m_handler->handleCredentialStore(message, &precomputed);
    QVERIFY2(reply.ok(), reply.ok() ? "" : qPrintable(reply.error().message));
    QVERIFY(std::holds_alternative<CredentialIntegrityFailure>(reply.value()));
    QCOMPARE(reasonName(std::get<CredentialIntegrityFailure>(reply.value()).reason), reason);
}

// v3 passes its checks while the vault stores v2. Then v4 is stored from
// another connection before v3 reaches the vault, so v3 loses the
// compare-and-set.
// The trust store keeps the parse and signature check of a certificate it has
// verified. Deliveries with that certificate must still fail on a changed
// signature, a higher generation seen since, and expiry.
void TestTargetHandler::seenCertificateStillChecked()
{
    QDateTime now = testNow();
    const Clock clock = [&now] {
        return now;
    };
    TrustStore trust(m_org.trustedKeys(), m_org.orgId, *m_vault, clock);
    TargetHandler handler(*m_vault, trust, m_target, clock);
    const auto outcomeOf = [&](const SignedStatement &certificate) -> QString {
        m_credentialId = newUuid();
        const DeliveryPlan delivery = plan(1, 1);
        Result<CredentialStoreReply> reply = handler.handleCredentialStore(peerDelivery(
            m_peer, certificate, m_target, delivery.statement, delivery.fields, delivery.payload));
        if (!reply)
            return u"error: "_s + reply.error().message;
        if (std::holds_alternative<CredentialStored>(reply.value()))
            return u"stored"_s;
        return reasonName(std::get<CredentialIntegrityFailure>(reply.value()).reason);
    };

    const SignedStatement first = m_org.certify(m_peer, 1);
    QCOMPARE(outcomeOf(first), u"stored"_s);
    QCOMPARE(outcomeOf(first), u"stored"_s);

    SignedStatement altered = first;
    altered.signature[0] = char(altered.signature[0] ^ 0x01);
    QCOMPARE(outcomeOf(altered), u"BAD_ATTESTATION"_s);
    QCOMPARE(outcomeOf(first), u"stored"_s);

    const SignedStatement second = m_org.certify(m_peer, 2);
    QCOMPARE(outcomeOf(second), u"stored"_s);
    QCOMPARE(outcomeOf(first), u"BAD_ATTESTATION"_s);

    now = m_org.certificateFields(m_peer, 2).expiresAt.addSecs(1);
    QCOMPARE(outcomeOf(second), u"BAD_ATTESTATION"_s);
    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QVERIFY2(audit->last().entry.detail.contains(u"expired"_s),
             qPrintable(audit->last().entry.detail));
}

void TestTargetHandler::raceKeepsNewerVersion()
{
    storeOk(plan(2, 1));
    const DeliveryPlan v3 = plan(3, 1, {}, makeSecret(R"({"password":"pw-3"})"));
    const DeliveryPlan v4 = plan(4, 1, {}, makeSecret(R"({"password":"pw-4"})"));

    Result<std::unique_ptr<Vault>> other =
        Vault::open(m_vault->path(), testMasterKey(), VaultOptions { 5000, testClock() });
    QVERIFY(other.ok());
    TrustStore otherTrust(m_org.trustedKeys(), m_org.orgId, *other.value(), testClock());
    TargetHandler otherHandler(*other.value(), otherTrust, m_target, testClock());

    Result<CheckedDelivery> checked = m_handler->checkDelivery(deliver(v3));
    QVERIFY2(checked.ok(), checked.ok() ? "" : qPrintable(checked.error().message));

    Result<CredentialStoreReply> newer = otherHandler.handleCredentialStore(deliver(v4));
    QVERIFY(newer.ok());
    QVERIFY(std::holds_alternative<CredentialStored>(newer.value()));

    Result<CredentialStoreReply> late = m_handler->storeDelivery(std::move(checked).value());
    QVERIFY(late.ok());
    QVERIFY(std::holds_alternative<CredentialIntegrityFailure>(late.value()));
    QCOMPARE(std::get<CredentialIntegrityFailure>(late.value()).reason, Reason::Superseded);

    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().version, 4);
    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), v4.payload);

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->last().entry.reason, u"SUPERSEDED"_s);
    QCOMPARE(audit->last().entry.severity, AuditSeverity::Info);
}

// Two threads deliver v3 and v4 at the same moment, each with its own vault
// connection and no shared locks, as two processes would. Which one runs
// first varies from round to round, and v4 always stays.
void TestTargetHandler::threadedRaceKeepsNewerVersion()
{
    const QString path = m_vault->path();
    for (int round = 0; round < 4; ++round) {
        m_credentialId = newUuid();
        storeOk(plan(2, 1));
        const CredentialStore v3 = deliver(plan(3, 1, {}, makeSecret(R"({"password":"pw-3"})")));
        const DeliveryPlan v4Plan = plan(4, 1, {}, makeSecret(R"({"password":"pw-4"})"));
        const CredentialStore v4 = deliver(v4Plan);

        QSemaphore ready;
        QSemaphore go;
        std::array<QString, 2> refusals;
        std::array<QString, 2> failures;
        const auto run = [&](int index, const CredentialStore &message) {
            Result<std::unique_ptr<Vault>> vault =
                Vault::open(path, testMasterKey(), VaultOptions { 10000, testClock() });
            if (!vault) {
                failures[index] = vault.error().message;
                ready.release();
                return;
            }
            TrustStore trust(m_org.trustedKeys(), m_org.orgId, *vault.value(), testClock());
            TargetHandler handler(*vault.value(), trust, m_target, testClock());
            ready.release();
            go.acquire();
            Result<CredentialStoreReply> reply = handler.handleCredentialStore(message);
            if (!reply)
                failures[index] = reply.error().message;
            else if (std::holds_alternative<CredentialIntegrityFailure>(reply.value()))
                refusals[index] =
                    reasonName(std::get<CredentialIntegrityFailure>(reply.value()).reason);
        };
        std::thread first(run, 0, std::cref(v3));
        std::thread second(run, 1, std::cref(v4));
        ready.acquire(2);
        go.release(2);
        first.join();
        second.join();

        QCOMPARE(failures[0], QString());
        QCOMPARE(failures[1], QString());
        // v3 is either stored before v4 or refused; it never replaces v4.
        QVERIFY2(refusals[0].isEmpty() || refusals[0] == "SUPERSEDED"_L1, qPrintable(refusals[0]));
        QCOMPARE(refusals[1], QString());
        Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
        QVERIFY(held.ok());
        QCOMPARE(held->value().version, 4);
        Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
        QVERIFY(payload.ok());
        QCOMPARE(payload->view().toByteArray(), v4Plan.payload);
    }
}

void TestTargetHandler::updateChangesScope()
{
    storeOk(plan(1, 1));
    const DeliveryPlan wider = plan(1, 2, { m_target.agentId, m_peer.agentId });

    Result<StatementApplied> applied = m_handler->handleStatementUpdate(
        StatementUpdate { newUuid(), newUuid(), m_credentialId, wider.statement });
    QVERIFY(applied.ok());
    const Receipt receipt = verifiedReceipt(applied->receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Stored);
    QCOMPARE(receipt.revision, 2);

    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().state, HeldState::Stored);
    QCOMPARE(held->value().statement.bytes, wider.statement.bytes);
    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), wider.payload);
}

void TestTargetHandler::updateRemovesAgent()
{
    storeOk(plan(1, 1));
    const DeliveryPlan narrower = plan(1, 2, { m_peer.agentId });

    Result<StatementApplied> applied = m_handler->handleStatementUpdate(
        StatementUpdate { newUuid(), newUuid(), m_credentialId, narrower.statement });
    QVERIFY(applied.ok());
    const Receipt receipt = verifiedReceipt(applied->receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Deleted);

    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().state, HeldState::Tombstone);
    QCOMPARE(held->value().statement.bytes, narrower.statement.bytes);
    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(!payload.ok());
    QCOMPARE(payload.error().reason, Reason::NotFound);
}

void TestTargetHandler::updateDeletes()
{
    storeOk(plan(1, 1));
    DeliveryPlan deleted = plan(1, 2);
    deleted.fields.deleted = true;
    deleted.statement = m_org.sign(deleted.fields);

    Result<StatementApplied> applied = m_handler->handleStatementUpdate(
        StatementUpdate { newUuid(), newUuid(), m_credentialId, deleted.statement });
    QVERIFY(applied.ok());
    QCOMPARE(verifiedReceipt(applied->receipt, m_target).state, ReceiptState::Deleted);

    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().state, HeldState::Tombstone);
    QVERIFY(!m_vault->loadPayload(m_credentialId).ok());

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->last().entry.event, u"credential_purged"_s);
}

void TestTargetHandler::updateRefusesOlder()
{
    storeOk(plan(1, 2));
    const QByteArray rowsBefore = credentialRowsDigest(m_vault->path());

    Result<StatementApplied> applied = m_handler->handleStatementUpdate(
        StatementUpdate { newUuid(), newUuid(), m_credentialId, plan(1, 1).statement });
    QVERIFY(applied.ok());
    const Receipt receipt = verifiedReceipt(applied->receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Refused);
    QCOMPARE(receipt.reason, u"SUPERSEDED"_s);
    QCOMPARE(credentialRowsDigest(m_vault->path()), rowsBefore);
}

void TestTargetHandler::updateNewerVersionPending()
{
    storeOk(plan(1, 1));
    const DeliveryPlan rotated = plan(2, 2, {}, makeSecret(R"({"password":"pw-2"})"));

    Result<StatementApplied> applied = m_handler->handleStatementUpdate(
        StatementUpdate { newUuid(), newUuid(), m_credentialId, rotated.statement });
    QVERIFY(applied.ok());
    const Receipt receipt = verifiedReceipt(applied->receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Refused);
    QCOMPARE(receipt.reason, u"NOT_HELD"_s);

    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QCOMPARE(held->value().state, HeldState::Pending);
    QCOMPARE(held->value().version, 2);
    QVERIFY(!m_vault->loadPayload(m_credentialId).ok());

    // The payload of that version still arrives and is stored.
    storeOk(rotated);
    QVERIFY(m_vault->loadPayload(m_credentialId).ok());
}

// Builds a forged delete of the stored credential that fails one of checks 1
// to 5. Each would purge the secret if it were applied.
StatementUpdate TestTargetHandler::buildUpdateCase(const QString &name)
{
    DeliveryPlan deleted = plan(1, 2);
    deleted.fields.deleted = true;
    deleted.statement = m_org.sign(deleted.fields);
    StatementUpdate message { newUuid(), newUuid(), m_credentialId, deleted.statement };

    // 1. BAD_STATEMENT
    if (name == "bad signature"_L1) {
        message.statement.signature[10] = char(message.statement.signature[10] ^ 0x01);
        return message;
    }
    // 2. UNTRUSTED_OPERATOR
    if (name == "untrusted operator"_L1) {
        message.statement = m_org.sign(deleted.fields, m_org.rogueKey);
        return message;
    }
    // 3. ID_MISMATCH
    if (name == "statement for another org"_L1) {
        deleted.fields.orgId = newUuid();
        message.statement = m_org.sign(deleted.fields);
        return message;
    }
    if (name == "statement for another credential"_L1) {
        deleted.fields.credentialId = newUuid();
        message.statement = m_org.sign(deleted.fields);
        return message;
    }
    // 5. EQUIVOCATION: the stored revision 1 with other bytes.
    if (name == "same revision other bytes"_L1) {
        deleted = plan(1, 1);
        deleted.fields.deleted = true;
        message.statement = m_org.sign(deleted.fields);
        return message;
    }
    QTest::qFail(qPrintable(u"unknown case "_s + name), __FILE__, __LINE__);
    return message;
}

void TestTargetHandler::refusesUpdate_data()
{
    QTest::addColumn<QString>("reason");

    QTest::newRow("bad signature") << u"BAD_STATEMENT"_s;
    QTest::newRow("untrusted operator") << u"UNTRUSTED_OPERATOR"_s;
    QTest::newRow("statement for another org") << u"ID_MISMATCH"_s;
    QTest::newRow("statement for another credential") << u"ID_MISMATCH"_s;
    QTest::newRow("same revision other bytes") << u"EQUIVOCATION"_s;
}

// A forged delete is refused with a signed receipt and leaves the secret in
// the vault.
void TestTargetHandler::refusesUpdate()
{
    QFETCH(QString, reason);

    const DeliveryPlan stored = plan(1, 1);
    storeOk(stored);
    const StatementUpdate message = buildUpdateCase(QString::fromUtf8(QTest::currentDataTag()));
    const QByteArray rowsBefore = credentialRowsDigest(m_vault->path());
    Result<QList<LocalAuditRecord>> auditBefore = m_vault->audit().records();
    QVERIFY(auditBefore.ok());

    Result<StatementApplied> applied = m_handler->handleStatementUpdate(message);
    QVERIFY2(applied.ok(), applied.ok() ? "" : qPrintable(applied.error().message));
    QCOMPARE(applied->deliveryId, message.deliveryId);
    QCOMPARE(applied->credentialId, m_credentialId);
    const Receipt receipt = verifiedReceipt(applied->receipt, m_target);
    QCOMPARE(receipt.state, ReceiptState::Refused);
    QCOMPARE(receipt.reason, reason);
    QCOMPARE(receipt.credentialId, m_credentialId);
    QCOMPARE(receipt.statementSha256, message.statement.sha256());

    QCOMPARE(credentialRowsDigest(m_vault->path()), rowsBefore);
    Result<std::optional<HeldCredential>> held = m_vault->findCredential(m_credentialId);
    QVERIFY(held.ok());
    QVERIFY(held->has_value());
    QCOMPARE(held->value().state, HeldState::Stored);
    QCOMPARE(held->value().statement.bytes, stored.statement.bytes);
    Result<SecureBuffer> payload = m_vault->loadPayload(m_credentialId);
    QVERIFY(payload.ok());
    QCOMPARE(payload->view().toByteArray(), stored.payload);

    Result<QList<LocalAuditRecord>> audit = m_vault->audit().records();
    QVERIFY(audit.ok());
    QCOMPARE(audit->size(), auditBefore->size() + 1);
    const LocalAuditEntry &row = audit->last().entry;
    QCOMPARE(row.event, u"statement_refused"_s);
    QCOMPARE(row.reason, reason);
    QCOMPARE(row.referenceId, message.deliveryId);
    QCOMPARE(row.credentialId, m_credentialId);
    QCOMPARE(row.severity, AuditSeverity::Critical);

    Result<LocalAuditVerification> chain = m_vault->audit().verify();
    QVERIFY(chain.ok());
    QVERIFY(chain->intact);
}

void TestTargetHandler::tombstoneRefusesStaleDelivery()
{
    storeOk(plan(1, 1));
    DeliveryPlan deleted = plan(1, 2);
    deleted.fields.deleted = true;
    deleted.statement = m_org.sign(deleted.fields);
    QVERIFY(m_handler
                ->handleStatementUpdate(
                    StatementUpdate { newUuid(), newUuid(), m_credentialId, deleted.statement })
                .ok());

    Result<CredentialStoreReply> reply = m_handler->handleCredentialStore(deliver(plan(1, 1)));
    QVERIFY(reply.ok());
    QVERIFY(std::holds_alternative<CredentialIntegrityFailure>(reply.value()));
    QCOMPARE(std::get<CredentialIntegrityFailure>(reply.value()).reason, Reason::Superseded);
    QVERIFY(!m_vault->loadPayload(m_credentialId).ok());
}

QTEST_GUILESS_MAIN(TestTargetHandler)
#include "tst_targethandler.moc"
