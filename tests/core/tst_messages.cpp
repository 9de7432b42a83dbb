// Tests of the /agent message parser and serialiser: a valid message of every
// type built from the interop vectors, its typed fields and round trip, and
// the rejection of malformed, oversized and unknown frames.
#include "base64.h"
#include "canonicaljson.h"
#include "ids.h"
#include "keys.h"
#include "messages.h"
#include "statement.h"
#include "testdata.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;

namespace {

const QString kOrgId = u"6f1c0c3e-2d7a-4b8e-9a51-0d7e3f2b9c10"_s;
const QString kAgentId = u"0b7f5f0e-8c1d-4e2a-b3c4-5d6e7f809a1b"_s;
const QString kPeerId = u"1c2d3e4f-5061-4728-8394-a5b6c7d8e9f0"_s;
const QString kCredentialId = u"f3a1d2c4-5b6e-4f70-8a91-b2c3d4e5f607"_s;
const QString kRequestId = u"9d8c7b6a-5f4e-4d3c-8b2a-190817263544"_s;
const QString kDeliveryId = u"4a5b6c7d-8e9f-4a0b-9c1d-2e3f40516273"_s;
const QString kMessageId = u"e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9"_s;
const QString kBackendOrigin = u"https://127.0.0.1:8443"_s;

QByteArray frameOf(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QJsonObject with(QJsonObject object, const QString &key, const QJsonValue &value)
{
    object.insert(key, value);
    return object;
}

QJsonObject without(QJsonObject object, const QString &key)
{
    object.remove(key);
    return object;
}

// Sets `key` inside the nested object `outer`.
QJsonObject withNested(QJsonObject object, const QString &outer, const QString &key,
                       const QJsonValue &value)
{
    object.insert(outer, with(object.value(outer).toObject(), key, value));
    return object;
}

QJsonObject withoutNested(QJsonObject object, const QString &outer, const QString &key)
{
    object.insert(outer, without(object.value(outer).toObject(), key));
    return object;
}

// A lowercase UUID numbered `index`, distinct for every index.
QString numberedUuid(qsizetype index)
{
    return u"00000000-0000-4000-8000-%1"_s.arg(index, 12, 16, QLatin1Char('0'));
}

QJsonArray knownEntries(qsizetype count)
{
    QJsonArray entries;
    for (qsizetype index = 0; index < count; ++index) {
        entries.append(QJsonObject {
            { u"credential_id"_s, numberedUuid(index) },
            { u"version"_s, 1 },
            { u"revision"_s, 1 },
        });
    }
    return entries;
}

QString errorText(const Result<AgentMessage> &result)
{
    return result.ok() ? u"(no error)"_s
                       : reasonName(result.error().reason) + u": "_s + result.error().message;
}

} // namespace

class TestMessages : public QObject {
    Q_OBJECT

private:
    QJsonObject vectorCase(const QString &kind, const QString &signer) const;
    QJsonObject signedPair(const QJsonObject &vectorCase) const;
    QJsonObject validMessage(const QString &type) const;
    void addValidRows();

    QJsonObject m_certificate;
    QJsonObject m_credentialStatement;
    QJsonObject m_peerAttestation;
    QJsonObject m_creatorAttestation;
    QJsonObject m_receipt;
    QJsonObject m_envelope;
    QJsonObject m_auth;

private Q_SLOTS:
    void initTestCase();

    void parseValid_data();
    void parseValid();
    void roundTrip_data();
    void roundTrip();

    void hello();
    void enrol();
    void authenticate();
    void welcome();
    void certificateUpdate();
    void registerWarm();
    void registerFirst();
    void registered();
    void rewrapRequest();
    void rewrapResponse();
    void rewrapRefused();
    void credentialStorePeer();
    void credentialStoreCreator();
    void credentialStored();
    void credentialIntegrityFailure();
    void statementUpdate();
    void statementApplied();
    void credentialMissing();
    void credentialUnavailable();
    void errorMessage();

    void rejects_data();
    void rejects();

    void unknownFieldsIgnored();
    void longValueCutInMessage();
    void knownListAtLimit();
    void nameAtLimit();
    void limitsAreSettings();
    void serializeIsCompact();
    void errorReply();
    void errorReplyNormalises();
    void readMessageIdOfFrames();
    void reasonSets();
};

QJsonObject TestMessages::vectorCase(const QString &kind, const QString &signer) const
{
    const QJsonArray cases = test::interopVectors().value(u"cases"_s).toArray();
    for (const QJsonValue &entry : cases) {
        const QJsonObject object = entry.toObject();
        if (object.value(u"kind"_s).toString() == kind && object.value(u"valid"_s).toBool()
            && (signer.isEmpty() || object.value(u"signer"_s).toString() == signer)) {
            return object;
        }
    }
    return {};
}

QJsonObject TestMessages::signedPair(const QJsonObject &vectorCase) const
{
    return {
        { u"statement_b64"_s, vectorCase.value(u"statement_b64"_s) },
        { u"signature"_s, vectorCase.value(u"signature"_s) },
    };
}

void TestMessages::initTestCase()
{
    m_certificate = signedPair(vectorCase(u"agent_certificate"_s, u"operator"_s));
    m_credentialStatement = signedPair(vectorCase(u"credential_statement"_s, u"operator"_s));
    m_peerAttestation = signedPair(vectorCase(u"attestation"_s, u"peer"_s));
    m_creatorAttestation = signedPair(vectorCase(u"attestation"_s, u"operator"_s));
    m_receipt = signedPair(vectorCase(u"receipt"_s, u"agent"_s));
    m_envelope = vectorCase(u"envelope"_s, {}).value(u"envelope"_s).toObject();
    QVERIFY(!m_certificate.value(u"statement_b64"_s).toString().isEmpty());
    QVERIFY(!m_credentialStatement.value(u"statement_b64"_s).toString().isEmpty());
    QVERIFY(!m_peerAttestation.value(u"statement_b64"_s).toString().isEmpty());
    QVERIFY(!m_creatorAttestation.value(u"statement_b64"_s).toString().isEmpty());
    QVERIFY(!m_receipt.value(u"statement_b64"_s).toString().isEmpty());
    QCOMPARE(m_envelope.size(), qsizetype(4));

    // No vector contains an auth statement, so one is signed here with the
    // vectors' agent identity key.
    const QByteArray agentKeyPem =
        test::interopVectors().value(u"agent_identity_private_key_pkcs8_pem"_s).toString().toUtf8();
    const Result<Ed25519PrivateKey> agentKey = Ed25519PrivateKey::fromPkcs8Pem(agentKeyPem);
    QVERIFY2(agentKey.ok(), qPrintable(agentKey.ok() ? QString() : agentKey.error().message));
    const QJsonObject authFields {
        { u"org_id"_s, kOrgId },
        { u"agent_id"_s, kAgentId },
        { u"backend_origin"_s, kBackendOrigin },
        { u"nonce"_s, encodeBase64(QByteArray(16, '\x5a')) },
        { u"issued_at"_s, u"2026-12-04T02:05:00.000Z"_s },
    };
    const Result<SignedStatement> auth =
        signStatement(StatementContext::Auth, authFields, agentKey.value());
    QVERIFY2(auth.ok(), qPrintable(auth.ok() ? QString() : auth.error().message));
    m_auth = auth->toJson();
}

// A valid message of `type` with every field, or every field of its most
// complete form, set from the vectors.
QJsonObject TestMessages::validMessage(const QString &type) const
{
    QJsonObject message { { u"type"_s, type }, { u"id"_s, kMessageId } };
    const QJsonObject vectors = test::interopVectors();

    if (type == "hello"_L1) {
        message.insert(u"backend_origin"_s, kBackendOrigin);
        message.insert(u"nonce"_s, encodeBase64(QByteArray(16, '\x5a')));
        message.insert(u"server_time"_s, u"2026-12-04T02:05:00.000Z"_s);
    } else if (type == "enrol"_L1) {
        message.insert(u"enrolment_token"_s, u"tok-3f9a1c7e"_s);
        message.insert(u"agent_id"_s, kAgentId);
        message.insert(u"agent_name"_s, u"agent-2"_s);
        message.insert(u"encryption_key"_s, vectors.value(u"rsa_public_key_spki_b64"_s));
        message.insert(u"identity_key"_s, vectors.value(u"agent_identity_public_key_b64"_s));
    } else if (type == "authenticate"_L1) {
        message.insert(u"auth"_s, m_auth);
    } else if (type == "welcome"_L1) {
        message.insert(u"org_id"_s, kOrgId);
        message.insert(u"agent_id"_s, kAgentId);
        message.insert(u"status"_s, u"approved"_s);
        message.insert(u"certificate"_s, m_certificate);
    } else if (type == "certificate_update"_L1) {
        message.insert(u"certificate"_s, m_certificate);
    } else if (type == "register"_L1) {
        message.insert(u"mode"_s, u"warm_reconnect"_s);
        message.insert(u"known"_s,
                       QJsonArray {
                           QJsonObject { { u"credential_id"_s, kCredentialId },
                                         { u"version"_s, 3 },
                                         { u"revision"_s, 2 } },
                           QJsonObject { { u"credential_id"_s, kRequestId },
                                         { u"version"_s, 1 },
                                         { u"revision"_s, 1 } },
                       });
    } else if (type == "registered"_L1) {
        message.insert(u"backfill_total"_s, 42);
    } else if (type == "rewrap_request"_L1) {
        message.insert(u"request_id"_s, kRequestId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"version"_s, 1);
        message.insert(u"target_agent_id"_s, kAgentId);
        message.insert(u"target_certificate"_s, m_certificate);
        message.insert(u"statement"_s, m_credentialStatement);
    } else if (type == "rewrap_response"_L1) {
        message.insert(u"request_id"_s, kRequestId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"target_agent_id"_s, kAgentId);
        message.insert(u"envelope"_s, m_envelope);
        message.insert(u"attestation"_s, m_peerAttestation);
    } else if (type == "rewrap_refused"_L1) {
        message.insert(u"request_id"_s, kRequestId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"target_agent_id"_s, kAgentId);
        message.insert(u"reason"_s, u"UNTRUSTED_TARGET_KEY"_s);
    } else if (type == "credential_store"_L1) {
        message.insert(u"delivery_id"_s, kDeliveryId);
        message.insert(u"request_id"_s, kRequestId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"statement"_s, m_credentialStatement);
        message.insert(u"envelope"_s, m_envelope);
        message.insert(u"attestation"_s, m_peerAttestation);
        message.insert(u"source"_s,
                       QJsonObject {
                           { u"kind"_s, u"peer"_s },
                           { u"agent_id"_s, kPeerId },
                           { u"certificate"_s, m_certificate },
                       });
    } else if (type == "credential_stored"_L1) {
        message.insert(u"delivery_id"_s, kDeliveryId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"version"_s, 1);
        message.insert(u"revision"_s, 1);
        message.insert(u"commitment"_s, vectorCase(u"envelope"_s, {}).value(u"commitment_b64"_s));
        message.insert(u"receipt"_s, m_receipt);
    } else if (type == "credential_integrity_failure"_L1) {
        message.insert(u"delivery_id"_s, kDeliveryId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"reason"_s, u"COMMITMENT_MISMATCH"_s);
        message.insert(u"attestation"_s, m_peerAttestation);
        message.insert(u"receipt"_s, m_receipt);
    } else if (type == "statement_update"_L1) {
        message.insert(u"delivery_id"_s, kDeliveryId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"statement"_s, m_credentialStatement);
    } else if (type == "statement_applied"_L1) {
        message.insert(u"delivery_id"_s, kDeliveryId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"receipt"_s, m_receipt);
    } else if (type == "credential_missing"_L1) {
        message.insert(u"request_id"_s, kRequestId);
        message.insert(u"credential_id"_s, kCredentialId);
    } else if (type == "credential_unavailable"_L1) {
        message.insert(u"request_id"_s, kRequestId);
        message.insert(u"credential_id"_s, kCredentialId);
        message.insert(u"reason"_s, u"NO_ELIGIBLE_PEER"_s);
    } else if (type == "error"_L1) {
        message.insert(u"in_reply_to"_s, kRequestId);
        message.insert(u"code"_s, u"UNKNOWN_TYPE"_s);
        message.insert(u"message"_s, u"unknown message type \"workflow_run\""_s);
    }
    return message;
}

// Rows: name, JSON object, expected type, whether serialising the parsed
// message gives back exactly the input object.
void TestMessages::addValidRows()
{
    QTest::addColumn<QJsonObject>("message");
    QTest::addColumn<QString>("type");
    QTest::addColumn<bool>("exact");

    const QStringList types {
        u"hello"_s,
        u"enrol"_s,
        u"authenticate"_s,
        u"welcome"_s,
        u"certificate_update"_s,
        u"register"_s,
        u"registered"_s,
        u"rewrap_request"_s,
        u"rewrap_response"_s,
        u"rewrap_refused"_s,
        u"credential_store"_s,
        u"credential_stored"_s,
        u"credential_integrity_failure"_s,
        u"statement_update"_s,
        u"statement_applied"_s,
        u"credential_missing"_s,
        u"credential_unavailable"_s,
        u"error"_s,
    };
    for (const QString &type : types) {
        QTest::addRow("%s", qPrintable(type)) << validMessage(type) << type << true;
    }

    QTest::newRow("welcome pending without certificate") << with(
        without(validMessage(u"welcome"_s), u"certificate"_s), u"status"_s, u"pending_approval"_s)
                                                         << u"welcome"_s << true;
    QTest::newRow("welcome revoked")
        << with(validMessage(u"welcome"_s), u"status"_s, u"revoked"_s) << u"welcome"_s << true;
    QTest::newRow("register first_registration") << with(
        without(validMessage(u"register"_s), u"known"_s), u"mode"_s, u"first_registration"_s)
                                                 << u"register"_s << true;
    QTest::newRow("register key_regenerated")
        << with(without(validMessage(u"register"_s), u"known"_s), u"mode"_s, u"key_regenerated"_s)
        << u"register"_s << true;
    QTest::newRow("register warm without known")
        << without(validMessage(u"register"_s), u"known"_s) << u"register"_s << false;
    QTest::newRow("register warm with empty known")
        << with(validMessage(u"register"_s), u"known"_s, QJsonArray()) << u"register"_s << true;
    QTest::newRow("registered zero")
        << with(validMessage(u"registered"_s), u"backfill_total"_s, 0) << u"registered"_s << true;
    QTest::newRow("credential_store from creator") << with(
        validMessage(u"credential_store"_s), u"source"_s,
        QJsonObject {
            { u"kind"_s, u"creator"_s },
            { u"operator_key"_s, test::interopVectors().value(u"operator_public_key_b64"_s) },
        }) << u"credential_store"_s << true;
    QTest::newRow("credential_store without request_id")
        << without(validMessage(u"credential_store"_s), u"request_id"_s) << u"credential_store"_s
        << true;
    QTest::newRow("credential_missing by name")
        << with(without(validMessage(u"credential_missing"_s), u"credential_id"_s), u"name"_s,
                u"core-switch-1"_s)
        << u"credential_missing"_s << true;
    QTest::newRow("credential_unavailable without credential_id")
        << without(validMessage(u"credential_unavailable"_s), u"credential_id"_s)
        << u"credential_unavailable"_s << true;
    QTest::newRow("error without in_reply_to id")
        << with(validMessage(u"error"_s), u"in_reply_to"_s, u""_s) << u"error"_s << true;
    QTest::newRow("version as large as allowed")
        << with(validMessage(u"rewrap_request"_s), u"version"_s, kMaxStatementInteger)
        << u"rewrap_request"_s << true;
}

void TestMessages::parseValid_data()
{
    addValidRows();
}

void TestMessages::parseValid()
{
    QFETCH(QJsonObject, message);
    QFETCH(QString, type);

    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(message));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QCOMPARE(QString(messageType(parsed.value())), type);
    QCOMPARE(messageId(parsed.value()), kMessageId);
}

void TestMessages::roundTrip_data()
{
    addValidRows();
}

void TestMessages::roundTrip()
{
    QFETCH(QJsonObject, message);
    QFETCH(bool, exact);

    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(message));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    const QByteArray serialized = serializeMessage(parsed.value());

    const Result<AgentMessage> reparsed = parseAgentMessage(serialized);
    QVERIFY2(reparsed.ok(), qPrintable(errorText(reparsed)));
    QCOMPARE(messageType(reparsed.value()), messageType(parsed.value()));
    QCOMPARE(messageId(reparsed.value()), messageId(parsed.value()));
    QCOMPARE(serializeMessage(reparsed.value()), serialized);
    if (exact) {
        QCOMPARE(QJsonDocument::fromJson(serialized).object(), message);
    }
}

void TestMessages::hello()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"hello"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Hello>(parsed.value()));
    const Hello &hello = std::get<Hello>(parsed.value());
    QCOMPARE(hello.id, kMessageId);
    QCOMPARE(hello.backendOrigin, kBackendOrigin);
    QCOMPARE(hello.nonce, QByteArray(16, '\x5a'));
    QCOMPARE(hello.serverTime, QDateTime(QDate(2026, 12, 4), QTime(2, 5), Qt::UTC));
}

void TestMessages::enrol()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"enrol"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Enrol>(parsed.value()));
    const Enrol &enrol = std::get<Enrol>(parsed.value());
    const QJsonObject vectors = test::interopVectors();
    QCOMPARE(enrol.enrolmentToken, u"tok-3f9a1c7e"_s);
    QCOMPARE(enrol.agentId, kAgentId);
    QCOMPARE(enrol.agentName, u"agent-2"_s);
    QCOMPARE(
        enrol.encryptionKey,
        QByteArray::fromBase64(vectors.value(u"rsa_public_key_spki_b64"_s).toString().toLatin1()));
    QCOMPARE(enrol.identityKey,
             QByteArray::fromBase64(
                 vectors.value(u"agent_identity_public_key_b64"_s).toString().toLatin1()));
}

void TestMessages::authenticate()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"authenticate"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Authenticate>(parsed.value()));
    const Authenticate &authenticate = std::get<Authenticate>(parsed.value());
    QCOMPARE(authenticate.auth.toJson(), m_auth);
    QCOMPARE(authenticate.auth.signature.size(), kEd25519SignatureBytes);
}

void TestMessages::welcome()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"welcome"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Welcome>(parsed.value()));
    const Welcome &welcome = std::get<Welcome>(parsed.value());
    QCOMPARE(welcome.orgId, kOrgId);
    QCOMPARE(welcome.agentId, kAgentId);
    QCOMPARE(welcome.status, WelcomeStatus::Approved);
    QVERIFY(welcome.certificate.has_value());
    QCOMPARE(welcome.certificate->bytes,
             QByteArray::fromBase64(m_certificate.value(u"statement_b64"_s).toString().toLatin1()));
    QCOMPARE(welcome.certificate->signature,
             QByteArray::fromBase64(m_certificate.value(u"signature"_s).toString().toLatin1()));
}

void TestMessages::certificateUpdate()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"certificate_update"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<CertificateUpdate>(parsed.value()));
    const CertificateUpdate &update = std::get<CertificateUpdate>(parsed.value());
    QCOMPARE(update.certificate.toJson(), m_certificate);
}

void TestMessages::registerWarm()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"register"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Register>(parsed.value()));
    const Register &registration = std::get<Register>(parsed.value());
    QCOMPARE(registration.mode, RegisterMode::WarmReconnect);
    QCOMPARE(registration.known.size(), qsizetype(2));
    QCOMPARE(registration.known.at(0), (KnownCredential { kCredentialId, 3, 2 }));
    QCOMPARE(registration.known.at(1), (KnownCredential { kRequestId, 1, 1 }));
}

void TestMessages::registerFirst()
{
    const QJsonObject message =
        with(without(validMessage(u"register"_s), u"known"_s), u"mode"_s, u"first_registration"_s);
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(message));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Register>(parsed.value()));
    const Register &registration = std::get<Register>(parsed.value());
    QCOMPARE(registration.mode, RegisterMode::FirstRegistration);
    QVERIFY(registration.known.isEmpty());
    QVERIFY(!QJsonDocument::fromJson(serializeMessage(registration)).object().contains(u"known"_s));
}

void TestMessages::registered()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"registered"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<Registered>(parsed.value()));
    QCOMPARE(std::get<Registered>(parsed.value()).backfillTotal, qint64(42));
}

void TestMessages::rewrapRequest()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"rewrap_request"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<RewrapRequest>(parsed.value()));
    const RewrapRequest &request = std::get<RewrapRequest>(parsed.value());
    QCOMPARE(request.requestId, kRequestId);
    QCOMPARE(request.credentialId, kCredentialId);
    QCOMPARE(request.version, qint64(1));
    QCOMPARE(request.targetAgentId, kAgentId);
    QCOMPARE(request.targetCertificate.toJson(), m_certificate);
    QCOMPARE(request.statement.toJson(), m_credentialStatement);
}

void TestMessages::rewrapResponse()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"rewrap_response"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<RewrapResponse>(parsed.value()));
    const RewrapResponse &response = std::get<RewrapResponse>(parsed.value());
    QCOMPARE(response.requestId, kRequestId);
    QCOMPARE(response.credentialId, kCredentialId);
    QCOMPARE(response.targetAgentId, kAgentId);
    QCOMPARE(response.envelope.encryptedKey.size(), kEncryptedKeyBytes);
    QCOMPARE(response.envelope.iv,
             QByteArray::fromBase64(m_envelope.value(u"iv"_s).toString().toLatin1()));
    QCOMPARE(response.envelope.ciphertext,
             QByteArray::fromBase64(m_envelope.value(u"ciphertext"_s).toString().toLatin1()));
    QCOMPARE(response.envelope.tag,
             QByteArray::fromBase64(m_envelope.value(u"tag"_s).toString().toLatin1()));
    QCOMPARE(response.attestation.toJson(), m_peerAttestation);
}

void TestMessages::rewrapRefused()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"rewrap_refused"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<RewrapRefused>(parsed.value()));
    const RewrapRefused &refused = std::get<RewrapRefused>(parsed.value());
    QCOMPARE(refused.requestId, kRequestId);
    QCOMPARE(refused.credentialId, kCredentialId);
    QCOMPARE(refused.targetAgentId, kAgentId);
    QCOMPARE(reasonName(refused.reason), u"UNTRUSTED_TARGET_KEY"_s);
}

void TestMessages::credentialStorePeer()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"credential_store"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<CredentialStore>(parsed.value()));
    const CredentialStore &store = std::get<CredentialStore>(parsed.value());
    QCOMPARE(store.deliveryId, kDeliveryId);
    QCOMPARE(store.requestId, std::optional<QString>(kRequestId));
    QCOMPARE(store.credentialId, kCredentialId);
    QCOMPARE(store.statement.toJson(), m_credentialStatement);
    QCOMPARE(store.envelope.toJson(), m_envelope);
    QCOMPARE(store.attestation.toJson(), m_peerAttestation);
    QCOMPARE(store.source.kind, AttestationSource::Peer);
    QCOMPARE(store.source.agentId, kPeerId);
    QCOMPARE(store.source.certificate.toJson(), m_certificate);
    QVERIFY(store.source.operatorKey.isEmpty());
}

void TestMessages::credentialStoreCreator()
{
    const QString operatorKey =
        test::interopVectors().value(u"operator_public_key_b64"_s).toString();
    const QJsonObject message =
        with(without(validMessage(u"credential_store"_s), u"request_id"_s), u"source"_s,
             QJsonObject { { u"kind"_s, u"creator"_s }, { u"operator_key"_s, operatorKey } });
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(message));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<CredentialStore>(parsed.value()));
    const CredentialStore &store = std::get<CredentialStore>(parsed.value());
    QVERIFY(!store.requestId.has_value());
    QCOMPARE(store.source.kind, AttestationSource::Creator);
    QCOMPARE(store.source.operatorKey, QByteArray::fromBase64(operatorKey.toLatin1()));
    QVERIFY(store.source.agentId.isEmpty());
}

void TestMessages::credentialStored()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"credential_stored"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<CredentialStored>(parsed.value()));
    const CredentialStored &stored = std::get<CredentialStored>(parsed.value());
    QCOMPARE(stored.deliveryId, kDeliveryId);
    QCOMPARE(stored.credentialId, kCredentialId);
    QCOMPARE(stored.version, qint64(1));
    QCOMPARE(stored.revision, qint64(1));
    QCOMPARE(stored.commitment,
             QByteArray::fromBase64("8ShN2qG18nMOyW2Jn1x21eDVRc3Pr6yKH80cZuE1M68="));
    QCOMPARE(stored.receipt.toJson(), m_receipt);
}

void TestMessages::credentialIntegrityFailure()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"credential_integrity_failure"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<CredentialIntegrityFailure>(parsed.value()));
    const CredentialIntegrityFailure &failure =
        std::get<CredentialIntegrityFailure>(parsed.value());
    QCOMPARE(failure.deliveryId, kDeliveryId);
    QCOMPARE(failure.credentialId, kCredentialId);
    QCOMPARE(reasonName(failure.reason), u"COMMITMENT_MISMATCH"_s);
    QCOMPARE(failure.attestation.toJson(), m_peerAttestation);
    QCOMPARE(failure.receipt.toJson(), m_receipt);
}

void TestMessages::statementUpdate()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"statement_update"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<StatementUpdate>(parsed.value()));
    const StatementUpdate &update = std::get<StatementUpdate>(parsed.value());
    QCOMPARE(update.deliveryId, kDeliveryId);
    QCOMPARE(update.credentialId, kCredentialId);
    QCOMPARE(update.statement.toJson(), m_credentialStatement);
}

void TestMessages::statementApplied()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"statement_applied"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<StatementApplied>(parsed.value()));
    const StatementApplied &applied = std::get<StatementApplied>(parsed.value());
    QCOMPARE(applied.deliveryId, kDeliveryId);
    QCOMPARE(applied.credentialId, kCredentialId);
    QCOMPARE(applied.receipt.toJson(), m_receipt);
}

void TestMessages::credentialMissing()
{
    const Result<AgentMessage> byId =
        parseAgentMessage(frameOf(validMessage(u"credential_missing"_s)));
    QVERIFY2(byId.ok(), qPrintable(errorText(byId)));
    QVERIFY(std::holds_alternative<CredentialMissing>(byId.value()));
    const CredentialMissing &missingById = std::get<CredentialMissing>(byId.value());
    QCOMPARE(missingById.requestId, kRequestId);
    QCOMPARE(missingById.credentialId, std::optional<QString>(kCredentialId));
    QVERIFY(!missingById.name.has_value());

    const QJsonObject message =
        with(without(validMessage(u"credential_missing"_s), u"credential_id"_s), u"name"_s,
             u"core-switch-1"_s);
    const Result<AgentMessage> byName = parseAgentMessage(frameOf(message));
    QVERIFY2(byName.ok(), qPrintable(errorText(byName)));
    const CredentialMissing &missingByName = std::get<CredentialMissing>(byName.value());
    QVERIFY(!missingByName.credentialId.has_value());
    QCOMPARE(missingByName.name, std::optional<QString>(u"core-switch-1"_s));
}

void TestMessages::credentialUnavailable()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"credential_unavailable"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<CredentialUnavailable>(parsed.value()));
    const CredentialUnavailable &unavailable = std::get<CredentialUnavailable>(parsed.value());
    QCOMPARE(unavailable.requestId, kRequestId);
    QCOMPARE(unavailable.credentialId, std::optional<QString>(kCredentialId));
    QCOMPARE(reasonName(unavailable.reason), u"NO_ELIGIBLE_PEER"_s);
}

void TestMessages::errorMessage()
{
    const Result<AgentMessage> parsed = parseAgentMessage(frameOf(validMessage(u"error"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<ErrorMessage>(parsed.value()));
    const ErrorMessage &error = std::get<ErrorMessage>(parsed.value());
    QCOMPARE(error.inReplyTo, kRequestId);
    QCOMPARE(reasonName(error.code), u"UNKNOWN_TYPE"_s);
    QCOMPARE(error.message, u"unknown message type \"workflow_run\""_s);
}

void TestMessages::rejects_data()
{
    QTest::addColumn<QByteArray>("frame");
    QTest::addColumn<Reason>("reason");
    QTest::addColumn<QString>("field"); // expected in the error message

    const QJsonObject hello = validMessage(u"hello"_s);
    const QJsonObject enrol = validMessage(u"enrol"_s);
    const QJsonObject welcome = validMessage(u"welcome"_s);
    const QJsonObject registration = validMessage(u"register"_s);
    const QJsonObject rewrapRequest = validMessage(u"rewrap_request"_s);
    const QJsonObject rewrapResponse = validMessage(u"rewrap_response"_s);
    const QJsonObject rewrapRefused = validMessage(u"rewrap_refused"_s);
    const QJsonObject store = validMessage(u"credential_store"_s);
    const QJsonObject stored = validMessage(u"credential_stored"_s);
    const QJsonObject failure = validMessage(u"credential_integrity_failure"_s);
    const QJsonObject missing = validMessage(u"credential_missing"_s);
    const QJsonObject unavailable = validMessage(u"credential_unavailable"_s);
    const QJsonObject error = validMessage(u"error"_s);

    // Frame level
    QTest::newRow("over 1 MiB") << frameOf(with(hello, u"padding"_s, QString(1024 * 1024, u'x')))
                                << Reason::TooLarge << u"maximum"_s;
    QTest::newRow("duplicate top-level key")
        << frameOf(hello).replace("{", "{\"nonce\":\"WlpaWlpaWlpaWlpaWlpaWg==\",")
        << Reason::InvalidMessage << u"invalid message"_s;
    QTest::newRow("duplicate id") << frameOf(hello).replace(
        "{", QByteArray("{\"id\":\"" + kRequestId.toLatin1() + "\","))
                                  << Reason::InvalidMessage << u"invalid message"_s;
    QTest::newRow("duplicate key in envelope")
        << frameOf(rewrapResponse)
               .replace("\"tag\":", "\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"tag\":")
        << Reason::InvalidMessage << u"invalid message"_s;
    QTest::newRow("duplicate key in signed statement")
        << frameOf(rewrapRequest).replace("\"signature\":", "\"signature\":\"AAAA\",\"signature\":")
        << Reason::InvalidMessage << u"invalid message"_s;
    QTest::newRow("duplicate key in source")
        << frameOf(store).replace("\"kind\":", "\"kind\":\"creator\",\"kind\":")
        << Reason::InvalidMessage << u"invalid message"_s;
    QTest::newRow("array") << QByteArray("[1,2]") << Reason::InvalidMessage << u"object"_s;
    QTest::newRow("string") << QByteArray("\"hello\"") << Reason::InvalidMessage << u"object"_s;
    QTest::newRow("number") << QByteArray("42") << Reason::InvalidMessage << u"object"_s;
    QTest::newRow("null") << QByteArray("null") << Reason::InvalidMessage << u"object"_s;
    QTest::newRow("empty frame") << QByteArray() << Reason::InvalidMessage << u"JSON"_s;
    QTest::newRow("truncated object")
        << frameOf(hello).chopped(1) << Reason::InvalidMessage << u"JSON"_s;
    QTest::newRow("trailing bytes")
        << QByteArray(frameOf(hello) + "{}") << Reason::InvalidMessage << u"JSON"_s;
    QTest::newRow("deep nesting") << frameOf(hello).replace(
        "{", QByteArray("{\"deep\":" + QByteArray(100000, '[') + QByteArray(100000, ']') + ","))
                                  << Reason::InvalidMessage << u"JSON"_s;
    QTest::newRow("invalid UTF-8")
        << frameOf(with(hello, u"backend_origin"_s, u"ORIGIN"_s)).replace("ORIGIN", "\xff\xfe")
        << Reason::InvalidMessage << u"JSON"_s;

    // type and id
    QTest::newRow("missing type") << frameOf(without(hello, u"type"_s)) << Reason::InvalidMessage
                                  << u"\"type\""_s;
    QTest::newRow("type not a string")
        << frameOf(with(hello, u"type"_s, 5)) << Reason::InvalidMessage << u"\"type\""_s;
    QTest::newRow("missing id") << frameOf(without(hello, u"id"_s)) << Reason::InvalidMessage
                                << u"\"id\""_s;
    QTest::newRow("id uppercase") << frameOf(with(hello, u"id"_s, kMessageId.toUpper()))
                                  << Reason::InvalidMessage << u"\"id\""_s;
    QTest::newRow("id without dashes")
        << frameOf(with(hello, u"id"_s, QString(kMessageId).remove(u'-'))) << Reason::InvalidMessage
        << u"\"id\""_s;
    QTest::newRow("id a number") << frameOf(with(hello, u"id"_s, 7)) << Reason::InvalidMessage
                                 << u"\"id\""_s;
    QTest::newRow("unknown type") << frameOf(with(hello, u"type"_s, u"workflow_run"_s))
                                  << Reason::UnknownType << u"workflow_run"_s;
    QTest::newRow("type empty") << frameOf(with(hello, u"type"_s, u""_s)) << Reason::UnknownType
                                << u"type"_s;
    QTest::newRow("type in another case")
        << frameOf(with(hello, u"type"_s, u"Hello"_s)) << Reason::UnknownType << u"Hello"_s;

    // Required fields missing
    QTest::newRow("hello without nonce")
        << frameOf(without(hello, u"nonce"_s)) << Reason::InvalidMessage << u"\"nonce\""_s;
    QTest::newRow("hello without server_time") << frameOf(without(hello, u"server_time"_s))
                                               << Reason::InvalidMessage << u"\"server_time\""_s;
    QTest::newRow("hello without backend_origin")
        << frameOf(without(hello, u"backend_origin"_s)) << Reason::InvalidMessage
        << u"\"backend_origin\""_s;
    QTest::newRow("enrol without agent_name") << frameOf(without(enrol, u"agent_name"_s))
                                              << Reason::InvalidMessage << u"\"agent_name\""_s;
    QTest::newRow("enrol without enrolment_token")
        << frameOf(without(enrol, u"enrolment_token"_s)) << Reason::InvalidMessage
        << u"\"enrolment_token\""_s;
    QTest::newRow("authenticate without auth")
        << frameOf(without(validMessage(u"authenticate"_s), u"auth"_s)) << Reason::InvalidMessage
        << u"\"auth\""_s;
    QTest::newRow("welcome without status")
        << frameOf(without(welcome, u"status"_s)) << Reason::InvalidMessage << u"\"status\""_s;
    QTest::newRow("register without mode")
        << frameOf(without(registration, u"mode"_s)) << Reason::InvalidMessage << u"\"mode\""_s;
    QTest::newRow("registered without backfill_total")
        << frameOf(without(validMessage(u"registered"_s), u"backfill_total"_s))
        << Reason::InvalidMessage << u"\"backfill_total\""_s;
    QTest::newRow("rewrap_request without statement")
        << frameOf(without(rewrapRequest, u"statement"_s)) << Reason::InvalidMessage
        << u"\"statement\""_s;
    QTest::newRow("rewrap_request without version") << frameOf(without(rewrapRequest, u"version"_s))
                                                    << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("rewrap_response without attestation")
        << frameOf(without(rewrapResponse, u"attestation"_s)) << Reason::InvalidMessage
        << u"\"attestation\""_s;
    QTest::newRow("rewrap_refused without reason") << frameOf(without(rewrapRefused, u"reason"_s))
                                                   << Reason::InvalidMessage << u"\"reason\""_s;
    QTest::newRow("credential_store without envelope")
        << frameOf(without(store, u"envelope"_s)) << Reason::InvalidMessage << u"\"envelope\""_s;
    QTest::newRow("credential_store without source")
        << frameOf(without(store, u"source"_s)) << Reason::InvalidMessage << u"\"source\""_s;
    QTest::newRow("credential_store without delivery_id")
        << frameOf(without(store, u"delivery_id"_s)) << Reason::InvalidMessage
        << u"\"delivery_id\""_s;
    QTest::newRow("credential_stored without receipt")
        << frameOf(without(stored, u"receipt"_s)) << Reason::InvalidMessage << u"\"receipt\""_s;
    QTest::newRow("credential_stored without commitment")
        << frameOf(without(stored, u"commitment"_s)) << Reason::InvalidMessage
        << u"\"commitment\""_s;
    QTest::newRow("integrity failure without receipt")
        << frameOf(without(failure, u"receipt"_s)) << Reason::InvalidMessage << u"\"receipt\""_s;
    QTest::newRow("statement_applied without receipt")
        << frameOf(without(validMessage(u"statement_applied"_s), u"receipt"_s))
        << Reason::InvalidMessage << u"\"receipt\""_s;
    QTest::newRow("statement_update without delivery_id")
        << frameOf(without(validMessage(u"statement_update"_s), u"delivery_id"_s))
        << Reason::InvalidMessage << u"\"delivery_id\""_s;
    QTest::newRow("credential_missing without request_id")
        << frameOf(without(missing, u"request_id"_s)) << Reason::InvalidMessage
        << u"\"request_id\""_s;
    QTest::newRow("error without code")
        << frameOf(without(error, u"code"_s)) << Reason::InvalidMessage << u"\"code\""_s;
    QTest::newRow("error without message")
        << frameOf(without(error, u"message"_s)) << Reason::InvalidMessage << u"\"message\""_s;

    // Wrong JSON type or format
    QTest::newRow("nonce a number")
        << frameOf(with(hello, u"nonce"_s, 16)) << Reason::InvalidMessage << u"\"nonce\""_s;
    QTest::newRow("nonce 15 bytes")
        << frameOf(with(hello, u"nonce"_s, encodeBase64(QByteArray(15, 'n'))))
        << Reason::InvalidMessage << u"nonce"_s;
    QTest::newRow("nonce 17 bytes")
        << frameOf(with(hello, u"nonce"_s, encodeBase64(QByteArray(17, 'n'))))
        << Reason::InvalidMessage << u"nonce"_s;
    QTest::newRow("nonce without padding")
        << frameOf(with(hello, u"nonce"_s, u"WlpaWlpaWlpaWlpaWlpaWg"_s)) << Reason::InvalidMessage
        << u"nonce"_s;
    QTest::newRow("nonce with whitespace")
        << frameOf(with(hello, u"nonce"_s, u"WlpaWlpa WlpaWlpaWlpaWg=="_s))
        << Reason::InvalidMessage << u"nonce"_s;
    QTest::newRow("nonce non-zero padding bits")
        << frameOf(with(hello, u"nonce"_s, u"WlpaWlpaWlpaWlpaWlpaWh=="_s)) << Reason::InvalidMessage
        << u"nonce"_s;
    QTest::newRow("server_time without milliseconds")
        << frameOf(with(hello, u"server_time"_s, u"2026-12-04T02:05:00Z"_s))
        << Reason::InvalidMessage << u"\"server_time\""_s;
    QTest::newRow("server_time with offset")
        << frameOf(with(hello, u"server_time"_s, u"2026-12-04T02:05:00.000+01:00"_s))
        << Reason::InvalidMessage << u"\"server_time\""_s;
    QTest::newRow("backend_origin empty") << frameOf(with(hello, u"backend_origin"_s, u""_s))
                                          << Reason::InvalidMessage << u"\"backend_origin\""_s;
    QTest::newRow("agent_id uppercase") << frameOf(with(enrol, u"agent_id"_s, kAgentId.toUpper()))
                                        << Reason::InvalidMessage << u"\"agent_id\""_s;
    QTest::newRow("agent_name empty") << frameOf(with(enrol, u"agent_name"_s, u""_s))
                                      << Reason::InvalidMessage << u"\"agent_name\""_s;
    QTest::newRow("agent_name 201 bytes")
        << frameOf(with(enrol, u"agent_name"_s, QString(201, u'a'))) << Reason::InvalidMessage
        << u"\"agent_name\""_s;
    QTest::newRow("agent_name 202 bytes in 101 characters")
        << frameOf(with(enrol, u"agent_name"_s, QString(101, QChar(0x00e9))))
        << Reason::InvalidMessage << u"\"agent_name\""_s;
    QTest::newRow("agent_name a number") << frameOf(with(enrol, u"agent_name"_s, 2))
                                         << Reason::InvalidMessage << u"\"agent_name\""_s;
    QTest::newRow("identity_key 33 bytes")
        << frameOf(with(enrol, u"identity_key"_s, encodeBase64(QByteArray(33, 'k'))))
        << Reason::InvalidMessage << u"identity_key"_s;
    QTest::newRow("encryption_key an Ed25519 key")
        << frameOf(with(enrol, u"encryption_key"_s,
                        test::interopVectors().value(u"operator_public_key_b64"_s)))
        << Reason::InvalidMessage << u"\"encryption_key\""_s;
    QTest::newRow("encryption_key truncated DER") << frameOf(with(
        enrol, u"encryption_key"_s,
        encodeBase64(
            QByteArray::fromBase64(
                test::interopVectors().value(u"rsa_public_key_spki_b64"_s).toString().toLatin1())
                .chopped(10)))) << Reason::InvalidMessage
                                                  << u"\"encryption_key\""_s;
    QTest::newRow("encryption_key URL-safe base64")
        << frameOf(with(enrol, u"encryption_key"_s,
                        test::interopVectors()
                            .value(u"rsa_public_key_spki_b64"_s)
                            .toString()
                            .replace(u'+', u'-')
                            .replace(u'/', u'_')))
        << Reason::InvalidMessage << u"encryption_key"_s;
    QTest::newRow("auth a string")
        << frameOf(with(validMessage(u"authenticate"_s), u"auth"_s, u"signed"_s))
        << Reason::InvalidMessage << u"\"auth\""_s;
    QTest::newRow("auth without signature")
        << frameOf(withoutNested(validMessage(u"authenticate"_s), u"auth"_s, u"signature"_s))
        << Reason::InvalidMessage << u"auth"_s;
    QTest::newRow("auth with an extra field") << frameOf(withNested(
        validMessage(u"authenticate"_s), u"auth"_s, u"context"_s, u"sealrelay/auth/v1"_s))
                                              << Reason::InvalidMessage << u"auth"_s;
    QTest::newRow("auth signature 63 bytes")
        << frameOf(withNested(validMessage(u"authenticate"_s), u"auth"_s, u"signature"_s,
                              encodeBase64(QByteArray(63, 's'))))
        << Reason::InvalidMessage << u"auth"_s;
    QTest::newRow("welcome status unknown") << frameOf(with(welcome, u"status"_s, u"suspended"_s))
                                            << Reason::InvalidMessage << u"\"status\""_s;
    QTest::newRow("welcome certificate a string")
        << frameOf(with(welcome, u"certificate"_s, u"cert"_s)) << Reason::InvalidMessage
        << u"\"certificate\""_s;
    QTest::newRow("welcome certificate null")
        << frameOf(with(welcome, u"certificate"_s, QJsonValue::Null)) << Reason::InvalidMessage
        << u"\"certificate\""_s;
    QTest::newRow("register mode unknown")
        << frameOf(with(registration, u"mode"_s, u"cold_start"_s)) << Reason::InvalidMessage
        << u"\"mode\""_s;
    QTest::newRow("known with first_registration")
        << frameOf(with(registration, u"mode"_s, u"first_registration"_s)) << Reason::InvalidMessage
        << u"\"known\""_s;
    QTest::newRow("known with key_regenerated")
        << frameOf(with(registration, u"mode"_s, u"key_regenerated"_s)) << Reason::InvalidMessage
        << u"\"known\""_s;
    QTest::newRow("known not an array") << frameOf(with(registration, u"known"_s, QJsonObject()))
                                        << Reason::InvalidMessage << u"\"known\""_s;
    QTest::newRow("known of 10001 entries")
        << frameOf(with(registration, u"known"_s, knownEntries(10001))) << Reason::InvalidMessage
        << u"\"known\""_s;
    QTest::newRow("known entry a string")
        << frameOf(with(registration, u"known"_s, QJsonArray { kCredentialId }))
        << Reason::InvalidMessage << u"\"known[0]\""_s;
    QTest::newRow("known entry version 0") << frameOf(with(
        registration, u"known"_s,
        QJsonArray { QJsonObject {
            { u"credential_id"_s, kCredentialId }, { u"version"_s, 0 }, { u"revision"_s, 1 } } }))
                                           << Reason::InvalidMessage << u"\"known[0].version\""_s;
    QTest::newRow("known entry without revision") << frameOf(with(
        registration, u"known"_s,
        QJsonArray { QJsonObject { { u"credential_id"_s, kCredentialId }, { u"version"_s, 1 } } }))
                                                  << Reason::InvalidMessage
                                                  << u"\"known[0].revision\""_s;
    QTest::newRow("known entry id not a UUID")
        << frameOf(with(registration, u"known"_s,
                        QJsonArray { QJsonObject { { u"credential_id"_s, u"core-switch-1"_s },
                                                   { u"version"_s, 1 },
                                                   { u"revision"_s, 1 } } }))
        << Reason::InvalidMessage << u"\"known[0].credential_id\""_s;
    QTest::newRow("known credential listed twice")
        << frameOf(with(registration, u"known"_s,
                        QJsonArray { QJsonObject { { u"credential_id"_s, kCredentialId },
                                                   { u"version"_s, 1 },
                                                   { u"revision"_s, 1 } },
                                     QJsonObject { { u"credential_id"_s, kCredentialId },
                                                   { u"version"_s, 2 },
                                                   { u"revision"_s, 1 } } }))
        << Reason::InvalidMessage << u"\"known[1]\""_s;
    QTest::newRow("backfill_total negative")
        << frameOf(with(validMessage(u"registered"_s), u"backfill_total"_s, -1))
        << Reason::InvalidMessage << u"\"backfill_total\""_s;
    QTest::newRow("version a string") << frameOf(with(rewrapRequest, u"version"_s, u"1"_s))
                                      << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("version 0") << frameOf(with(rewrapRequest, u"version"_s, 0))
                               << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("version fractional")
        << frameOf(rewrapRequest).replace("\"version\":1", "\"version\":1.5")
        << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("version 2^53")
        << frameOf(rewrapRequest).replace("\"version\":1", "\"version\":9007199254740992")
        << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("version beyond 64 bits")
        << frameOf(rewrapRequest).replace("\"version\":1", "\"version\":1e300")
        << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("version a boolean") << frameOf(with(rewrapRequest, u"version"_s, true))
                                       << Reason::InvalidMessage << u"\"version\""_s;
    QTest::newRow("revision 0") << frameOf(with(stored, u"revision"_s, 0)) << Reason::InvalidMessage
                                << u"\"revision\""_s;
    QTest::newRow("commitment 31 bytes")
        << frameOf(with(stored, u"commitment"_s, encodeBase64(QByteArray(31, 'c'))))
        << Reason::InvalidMessage << u"commitment"_s;
    QTest::newRow("request_id not a UUID")
        << frameOf(with(rewrapRequest, u"request_id"_s, u"dispatch-17"_s)) << Reason::InvalidMessage
        << u"\"request_id\""_s;
    QTest::newRow("target_certificate an array")
        << frameOf(with(rewrapRequest, u"target_certificate"_s, QJsonArray()))
        << Reason::InvalidMessage << u"\"target_certificate\""_s;

    // Envelopes
    QTest::newRow("envelope a string") << frameOf(with(rewrapResponse, u"envelope"_s, u"sealed"_s))
                                       << Reason::InvalidMessage << u"\"envelope\""_s;
    QTest::newRow("envelope with an extra field")
        << frameOf(withNested(rewrapResponse, u"envelope"_s, u"aad"_s, u""_s))
        << Reason::InvalidMessage << u"envelope"_s;
    QTest::newRow("envelope without tag") << frameOf(withoutNested(store, u"envelope"_s, u"tag"_s))
                                          << Reason::InvalidMessage << u"envelope"_s;
    QTest::newRow("envelope iv 16 bytes")
        << frameOf(withNested(store, u"envelope"_s, u"iv"_s, encodeBase64(QByteArray(16, 'i'))))
        << Reason::InvalidMessage << u"envelope"_s;
    QTest::newRow("envelope ciphertext over 128 KiB")
        << frameOf(withNested(rewrapResponse, u"envelope"_s, u"ciphertext"_s,
                              encodeBase64(QByteArray(128 * 1024 + 1, 'c'))))
        << Reason::TooLarge << u"envelope"_s;
    QTest::newRow("credential_store ciphertext over 128 KiB") << frameOf(withNested(
        store, u"envelope"_s, u"ciphertext"_s, encodeBase64(QByteArray(200 * 1024, 'c'))))
                                                              << Reason::TooLarge << u"envelope"_s;

    // credential_store source
    QTest::newRow("source a string") << frameOf(with(store, u"source"_s, u"peer"_s))
                                     << Reason::InvalidMessage << u"\"source\""_s;
    QTest::newRow("source kind unknown")
        << frameOf(withNested(store, u"source"_s, u"kind"_s, u"backend"_s))
        << Reason::InvalidMessage << u"\"source.kind\""_s;
    QTest::newRow("source without kind") << frameOf(withoutNested(store, u"source"_s, u"kind"_s))
                                         << Reason::InvalidMessage << u"\"source.kind\""_s;
    QTest::newRow("peer source without certificate")
        << frameOf(withoutNested(store, u"source"_s, u"certificate"_s)) << Reason::InvalidMessage
        << u"\"source.certificate\""_s;
    QTest::newRow("peer source agent_id uppercase")
        << frameOf(withNested(store, u"source"_s, u"agent_id"_s, kPeerId.toUpper()))
        << Reason::InvalidMessage << u"\"source.agent_id\""_s;
    QTest::newRow("creator source without operator_key")
        << frameOf(with(store, u"source"_s, QJsonObject { { u"kind"_s, u"creator"_s } }))
        << Reason::InvalidMessage << u"\"source.operator_key\""_s;
    QTest::newRow("creator source operator_key 31 bytes")
        << frameOf(with(store, u"source"_s,
                        QJsonObject { { u"kind"_s, u"creator"_s },
                                      { u"operator_key"_s, encodeBase64(QByteArray(31, 'o')) } }))
        << Reason::InvalidMessage << u"source.operator_key"_s;
    QTest::newRow("credential_store request_id not a UUID")
        << frameOf(with(store, u"request_id"_s, u""_s)) << Reason::InvalidMessage
        << u"\"request_id\""_s;

    // credential_missing and reasons
    QTest::newRow("credential_missing with both")
        << frameOf(with(missing, u"name"_s, u"core-switch-1"_s)) << Reason::InvalidMessage
        << u"\"credential_id\""_s;
    QTest::newRow("credential_missing with neither")
        << frameOf(without(missing, u"credential_id"_s)) << Reason::InvalidMessage
        << u"\"credential_id\""_s;
    QTest::newRow("credential_missing name empty")
        << frameOf(with(without(missing, u"credential_id"_s), u"name"_s, u""_s))
        << Reason::InvalidMessage << u"\"name\""_s;
    QTest::newRow("credential_missing name 201 bytes")
        << frameOf(with(without(missing, u"credential_id"_s), u"name"_s, QString(201, u'n')))
        << Reason::InvalidMessage << u"\"name\""_s;
    QTest::newRow("credential_missing credential_id null")
        << frameOf(with(missing, u"credential_id"_s, QJsonValue::Null)) << Reason::InvalidMessage
        << u"\"credential_id\""_s;
    QTest::newRow("unavailable reason unknown")
        << frameOf(with(unavailable, u"reason"_s, u"PEER_ON_FIRE"_s)) << Reason::InvalidMessage
        << u"\"reason\""_s;
    QTest::newRow("unavailable reason internal")
        << frameOf(with(unavailable, u"reason"_s, u"INTERNAL"_s)) << Reason::InvalidMessage
        << u"\"reason\""_s;
    QTest::newRow("unavailable reason lowercase")
        << frameOf(with(unavailable, u"reason"_s, u"no_eligible_peer"_s)) << Reason::InvalidMessage
        << u"\"reason\""_s;
    QTest::newRow("unavailable credential_id not a UUID")
        << frameOf(with(unavailable, u"credential_id"_s, u"x"_s)) << Reason::InvalidMessage
        << u"\"credential_id\""_s;
    QTest::newRow("rewrap_refused target reason")
        << frameOf(with(rewrapRefused, u"reason"_s, u"DECRYPT_FAILED"_s)) << Reason::InvalidMessage
        << u"\"reason\""_s;
    QTest::newRow("integrity failure public reason")
        << frameOf(with(failure, u"reason"_s, u"RATE_LIMITED"_s)) << Reason::InvalidMessage
        << u"\"reason\""_s;
    QTest::newRow("integrity failure reason a number")
        << frameOf(with(failure, u"reason"_s, 8)) << Reason::InvalidMessage << u"\"reason\""_s;
    QTest::newRow("error code a target reason")
        << frameOf(with(error, u"code"_s, u"BAD_STATEMENT"_s)) << Reason::InvalidMessage
        << u"\"code\""_s;
    QTest::newRow("error in_reply_to uppercase")
        << frameOf(with(error, u"in_reply_to"_s, kRequestId.toUpper())) << Reason::InvalidMessage
        << u"\"in_reply_to\""_s;
    QTest::newRow("error message a number")
        << frameOf(with(error, u"message"_s, 1)) << Reason::InvalidMessage << u"\"message\""_s;
}

void TestMessages::rejects()
{
    QFETCH(QByteArray, frame);
    QFETCH(Reason, reason);
    QFETCH(QString, field);

    const Result<AgentMessage> parsed = parseAgentMessage(frame);
    QVERIFY(!parsed.ok());
    QCOMPARE(reasonName(parsed.error().reason), reasonName(reason));
    QVERIFY2(parsed.error().message.contains(field), qPrintable(parsed.error().message));
}

void TestMessages::unknownFieldsIgnored()
{
    QJsonObject message = validMessage(u"credential_store"_s);
    message.insert(u"trace"_s, QJsonObject { { u"hops"_s, 3 } });
    message = withNested(message, u"source"_s, u"region"_s, u"eu-1"_s);
    const Result<AgentMessage> store = parseAgentMessage(frameOf(message));
    QVERIFY2(store.ok(), qPrintable(errorText(store)));
    const QJsonObject serialized =
        QJsonDocument::fromJson(serializeMessage(store.value())).object();
    QVERIFY(!serialized.contains(u"trace"_s));
    QVERIFY(!serialized.value(u"source"_s).toObject().contains(u"region"_s));

    QJsonObject registration = validMessage(u"register"_s);
    registration.insert(u"known"_s,
                        QJsonArray { QJsonObject { { u"credential_id"_s, kCredentialId },
                                                   { u"version"_s, 1 },
                                                   { u"revision"_s, 1 },
                                                   { u"name"_s, u"core-switch-1"_s } } });
    const Result<AgentMessage> warm = parseAgentMessage(frameOf(registration));
    QVERIFY2(warm.ok(), qPrintable(errorText(warm)));

    const Result<AgentMessage> hello =
        parseAgentMessage(frameOf(with(validMessage(u"hello"_s), u"server_version"_s, u"0.2"_s)));
    QVERIFY2(hello.ok(), qPrintable(errorText(hello)));
}

void TestMessages::longValueCutInMessage()
{
    const QString longType(1000, u't');
    const Result<AgentMessage> unknown =
        parseAgentMessage(frameOf(with(validMessage(u"hello"_s), u"type"_s, longType)));
    QVERIFY(!unknown.ok());
    QCOMPARE(reasonName(unknown.error().reason), u"UNKNOWN_TYPE"_s);
    QVERIFY(unknown.error().message.contains(QString(64, u't') + u"…\""_s));
    QVERIFY(!unknown.error().message.contains(QString(65, u't')));

    // U+1F600 is a surrogate pair at UTF-16 positions 63 and 64.
    const QString emojiType = QString(63, u't') + u"\U0001F600tail"_s;
    const Result<AgentMessage> emoji =
        parseAgentMessage(frameOf(with(validMessage(u"hello"_s), u"type"_s, emojiType)));
    QVERIFY(!emoji.ok());
    QVERIFY(!emoji.error().message.contains(QChar(0xd83d)));
    QVERIFY(emoji.error().message.contains(QString(63, u't') + u"…\""_s));
}

void TestMessages::knownListAtLimit()
{
    const QJsonObject message = with(validMessage(u"register"_s), u"known"_s, knownEntries(10000));
    const QByteArray frame = frameOf(message);
    QVERIFY(frame.size() <= 1024 * 1024);
    const Result<AgentMessage> parsed = parseAgentMessage(frame);
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QCOMPARE(std::get<Register>(parsed.value()).known.size(), qsizetype(10000));
}

void TestMessages::nameAtLimit()
{
    const QJsonObject ascii = with(validMessage(u"enrol"_s), u"agent_name"_s, QString(200, u'a'));
    const Result<AgentMessage> asciiParsed = parseAgentMessage(frameOf(ascii));
    QVERIFY2(asciiParsed.ok(), qPrintable(errorText(asciiParsed)));

    // 100 two-byte characters are 200 UTF-8 bytes.
    const QJsonObject accented =
        with(validMessage(u"enrol"_s), u"agent_name"_s, QString(100, QChar(0x00e9)));
    const Result<AgentMessage> accentedParsed = parseAgentMessage(frameOf(accented));
    QVERIFY2(accentedParsed.ok(), qPrintable(errorText(accentedParsed)));
    QCOMPARE(std::get<Enrol>(accentedParsed.value()).agentName, QString(100, QChar(0x00e9)));
}

void TestMessages::limitsAreSettings()
{
    const QByteArray hello = frameOf(validMessage(u"hello"_s));
    MessageLimits tight;
    tight.maxMessageBytes = hello.size() - 1;
    const Result<AgentMessage> tooLarge = parseAgentMessage(hello, tight);
    QVERIFY(!tooLarge.ok());
    QCOMPARE(reasonName(tooLarge.error().reason), u"TOO_LARGE"_s);

    tight.maxMessageBytes = hello.size();
    QVERIFY(parseAgentMessage(hello, tight).ok());

    MessageLimits fewEntries;
    fewEntries.maxWarmReconnectEntries = 1;
    const QByteArray registration = frameOf(validMessage(u"register"_s)); // two entries
    const Result<AgentMessage> tooMany = parseAgentMessage(registration, fewEntries);
    QVERIFY(!tooMany.ok());
    QCOMPARE(reasonName(tooMany.error().reason), u"INVALID_MESSAGE"_s);
    QVERIFY(tooMany.error().message.contains(u"\"known\""_s));
    fewEntries.maxWarmReconnectEntries = 2;
    QVERIFY(parseAgentMessage(registration, fewEntries).ok());

    MessageLimits shortNames;
    shortNames.maxNameBytes = 6;
    const Result<AgentMessage> longName =
        parseAgentMessage(frameOf(validMessage(u"enrol"_s)), shortNames); // "agent-2"
    QVERIFY(!longName.ok());
    QVERIFY(longName.error().message.contains(u"\"agent_name\""_s));
}

void TestMessages::serializeIsCompact()
{
    const Result<AgentMessage> parsed =
        parseAgentMessage(frameOf(validMessage(u"credential_store"_s)));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    const QByteArray serialized = serializeMessage(parsed.value());
    QVERIFY(!serialized.contains('\n'));
    QVERIFY(!serialized.contains(": "));
    QVERIFY(serialized.startsWith('{'));
    QVERIFY(serialized.endsWith('}'));
}

void TestMessages::errorReply()
{
    const ErrorMessage reply =
        makeErrorReply(kRequestId, Reason::UnknownType, u"unknown message type \"x\""_s);
    QVERIFY(isCanonicalUuid(reply.id));
    QVERIFY(reply.id != kRequestId);
    QCOMPARE(reply.inReplyTo, kRequestId);
    QCOMPARE(reasonName(reply.code), u"UNKNOWN_TYPE"_s);
    QCOMPARE(reply.message, u"unknown message type \"x\""_s);
    QVERIFY(makeErrorReply(kRequestId, Reason::Internal, {}).id != reply.id);

    const Result<AgentMessage> parsed = parseAgentMessage(serializeMessage(reply));
    QVERIFY2(parsed.ok(), qPrintable(errorText(parsed)));
    QVERIFY(std::holds_alternative<ErrorMessage>(parsed.value()));
    const ErrorMessage &received = std::get<ErrorMessage>(parsed.value());
    QCOMPARE(received.id, reply.id);
    QCOMPARE(received.inReplyTo, kRequestId);
    QCOMPARE(received.code, Reason::UnknownType);
    QCOMPARE(received.message, reply.message);
}

void TestMessages::errorReplyNormalises()
{
    const ErrorMessage notACode = makeErrorReply(kRequestId, Reason::DecryptFailed, u"x"_s);
    QCOMPARE(reasonName(notACode.code), u"INTERNAL"_s);

    const ErrorMessage badId = makeErrorReply(kRequestId.toUpper(), Reason::InvalidMessage, {});
    QVERIFY(badId.inReplyTo.isEmpty());
    QVERIFY(parseAgentMessage(serializeMessage(badId)).ok());

    const QByteArray tooLarge(2 * 1024 * 1024, ' ');
    const Result<AgentMessage> rejected = parseAgentMessage(tooLarge);
    QVERIFY(!rejected.ok());
    const ErrorMessage fromParse =
        makeErrorReply(readMessageId(tooLarge), rejected.error().reason, rejected.error().message);
    QCOMPARE(reasonName(fromParse.code), u"TOO_LARGE"_s);
    QVERIFY(fromParse.inReplyTo.isEmpty());
}

void TestMessages::readMessageIdOfFrames()
{
    QCOMPARE(readMessageId(frameOf(validMessage(u"hello"_s))), kMessageId);
    QCOMPARE(readMessageId(frameOf(with(validMessage(u"hello"_s), u"type"_s, u"nope"_s))),
             kMessageId);
    QCOMPARE(readMessageId(frameOf(without(validMessage(u"hello"_s), u"nonce"_s))), kMessageId);
    QCOMPARE(readMessageId(frameOf(with(validMessage(u"hello"_s), u"id"_s, kMessageId.toUpper()))),
             QString());
    QCOMPARE(readMessageId("{\"id\":"), QString());
    QCOMPARE(readMessageId("[]"), QString());

    MessageLimits tight;
    tight.maxMessageBytes = 10;
    QCOMPARE(readMessageId(frameOf(validMessage(u"hello"_s)), tight), QString());
}

void TestMessages::reasonSets()
{
    QCOMPARE(isPeerRefusalReason(Reason::NotHeld), true);
    QCOMPARE(isPeerRefusalReason(Reason::DecryptFailed), false);
    QCOMPARE(isTargetRefusalReason(Reason::Superseded), true);
    QCOMPARE(isTargetRefusalReason(Reason::StaleStatement), false);
    QCOMPARE(isPublicUnavailableReason(Reason::BackendBusy), true);
    QCOMPARE(isPublicUnavailableReason(Reason::Internal), false);
    QCOMPARE(isErrorCode(Reason::Forbidden), true);
    QCOMPARE(isErrorCode(Reason::Malformed), false);

    int targetReasons = 0;
    for (int value = int(Reason::Malformed); value <= int(Reason::NotFound); ++value) {
        targetReasons += isTargetRefusalReason(Reason(value)) ? 1 : 0;
    }
    QCOMPARE(targetReasons, 10);

    QCOMPARE(registerModeFromName(u"warm_reconnect"), std::optional(RegisterMode::WarmReconnect));
    QCOMPARE(registerModeName(RegisterMode::KeyRegenerated), u"key_regenerated"_s);
    QCOMPARE(welcomeStatusFromName(u"pending_approval"),
             std::optional(WelcomeStatus::PendingApproval));
    QVERIFY(!welcomeStatusFromName(u"Approved").has_value());
}

QTEST_GUILESS_MAIN(TestMessages)
#include "tst_messages.moc"
