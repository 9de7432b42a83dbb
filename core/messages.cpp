// Parser and serialiser of the /agent messages: one reader and one writer per
// message type, and the dispatch on the `type` field.
#include "messages.h"

#include "base64.h"
#include "canonicaljson.h"
#include "ids.h"
#include "messagefields.h"
#include "payload.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

#include <algorithm>
#include <array>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

constexpr std::array kPeerRefusalReasons {
    Reason::UntrustedTargetKey, Reason::BadStatement, Reason::StaleStatement, Reason::NotHeld,
    Reason::OutOfScope,
};

// In the order a target applies its checks.
constexpr std::array kTargetRefusalReasons {
    Reason::BadStatement,       Reason::UntrustedOperator, Reason::IdMismatch,
    Reason::Superseded,         Reason::Equivocation,      Reason::OutOfScope,
    Reason::BadAttestation,     Reason::DecryptFailed,     Reason::PayloadMismatch,
    Reason::CommitmentMismatch,
};

constexpr std::array kPublicUnavailableReasons {
    Reason::NoEligiblePeer, Reason::RateLimited,       Reason::BackendBusy,
    Reason::NotInScope,     Reason::UnknownCredential, Reason::CommitmentMismatch,
};

constexpr std::array kErrorCodes {
    Reason::InvalidMessage, Reason::UnknownType, Reason::TooLarge, Reason::Unauthenticated,
    Reason::Forbidden,      Reason::RateLimited, Reason::Internal,
};

template<std::size_t N> bool isOneOf(const std::array<Reason, N> &set, Reason reason)
{
    return std::find(set.begin(), set.end(), reason) != set.end();
}

constexpr std::array kWelcomeStatusNames {
    std::pair { WelcomeStatus::PendingApproval, QLatin1StringView("pending_approval") },
    std::pair { WelcomeStatus::Approved, QLatin1StringView("approved") },
    std::pair { WelcomeStatus::Revoked, QLatin1StringView("revoked") },
};

constexpr std::array kRegisterModeNames {
    std::pair { RegisterMode::FirstRegistration, QLatin1StringView("first_registration") },
    std::pair { RegisterMode::KeyRegenerated, QLatin1StringView("key_regenerated") },
    std::pair { RegisterMode::WarmReconnect, QLatin1StringView("warm_reconnect") },
};

template<typename Enum, std::size_t N>
QString nameOf(const std::array<std::pair<Enum, QLatin1StringView>, N> &names, Enum value)
{
    for (const auto &[candidate, name] : names) {
        if (candidate == value) {
            return name;
        }
    }
    return {};
}

template<typename Enum, std::size_t N>
std::optional<Enum> valueOf(const std::array<std::pair<Enum, QLatin1StringView>, N> &names,
                            QStringView name)
{
    for (const auto &[value, candidate] : names) {
        if (name == candidate) {
            return value;
        }
    }
    return std::nullopt;
}

// ---- Readers: one per message type. Each reads every field, and the caller
// checks fields.failed() afterwards and sets the id.

AgentMessage readHello(MessageFieldReader &fields)
{
    Hello hello;
    hello.backendOrigin = fields.nonEmptyString("backend_origin"_L1);
    hello.nonce = fields.base64("nonce"_L1, kNonceBytes);
    hello.serverTime = fields.timestamp("server_time"_L1);
    return hello;
}

AgentMessage readEnrol(MessageFieldReader &fields)
{
    Enrol enrol;
    enrol.enrolmentToken = fields.nonEmptyString("enrolment_token"_L1);
    enrol.agentId = fields.uuid("agent_id"_L1);
    enrol.agentName = fields.name("agent_name"_L1);
    enrol.encryptionKey = fields.rsaPublicKey("encryption_key"_L1);
    enrol.identityKey = fields.base64("identity_key"_L1, kEd25519PublicKeyBytes);
    return enrol;
}

AgentMessage readAuthenticate(MessageFieldReader &fields)
{
    Authenticate authenticate;
    authenticate.auth = fields.signedStatement("auth"_L1);
    return authenticate;
}

AgentMessage readWelcome(MessageFieldReader &fields)
{
    Welcome welcome;
    welcome.orgId = fields.uuid("org_id"_L1);
    welcome.agentId = fields.uuid("agent_id"_L1);
    const QString status = fields.string("status"_L1);
    if (!fields.failed()) {
        if (const std::optional<WelcomeStatus> parsed = welcomeStatusFromName(status)) {
            welcome.status = *parsed;
        } else {
            fields.fail(u"status"_s,
                        u"must be pending_approval, approved or revoked, not %1"_s.arg(
                            quoteForMessage(status)));
        }
    }
    welcome.certificate = fields.optionalSignedStatement("certificate"_L1);
    return welcome;
}

AgentMessage readCertificateUpdate(MessageFieldReader &fields)
{
    CertificateUpdate update;
    update.certificate = fields.signedStatement("certificate"_L1);
    return update;
}

// Reads register.known: at most limits().maxWarmReconnectEntries entries,
// each credential listed once.
QList<KnownCredential> readKnownCredentials(MessageFieldReader &fields)
{
    const QJsonArray entries = fields.array("known"_L1);
    if (fields.failed()) {
        return {};
    }
    const qsizetype maxEntries = fields.limits().maxWarmReconnectEntries;
    if (entries.size() > maxEntries) {
        fields.fail(u"known"_s,
                    u"has %1 entries; the maximum is %2"_s.arg(entries.size()).arg(maxEntries));
        return {};
    }

    QList<KnownCredential> known;
    known.reserve(entries.size());
    QSet<QString> seen;
    for (qsizetype index = 0; index < entries.size(); ++index) {
        const QString entryField = u"known[%1]"_s.arg(index);
        const QJsonValue entryValue = entries.at(index);
        if (!entryValue.isObject()) {
            fields.fail(entryField,
                        u"must be an object with credential_id, version and revision"_s);
            return {};
        }

        const QJsonObject entryObject = entryValue.toObject();
        MessageFieldReader entryFields(entryObject, Register::type, fields.limits(),
                                       entryField + u'.');
        KnownCredential entry;
        entry.credentialId = entryFields.uuid("credential_id"_L1);
        entry.version = entryFields.integer("version"_L1, 1);
        entry.revision = entryFields.integer("revision"_L1, 1);
        fields.adoptFailure(entryFields);
        if (fields.failed()) {
            return {};
        }
        if (seen.contains(entry.credentialId)) {
            fields.fail(entryField, u"lists credential %1 a second time"_s.arg(entry.credentialId));
            return {};
        }
        seen.insert(entry.credentialId);
        known.append(entry);
    }
    return known;
}

AgentMessage readRegister(MessageFieldReader &fields)
{
    Register registration;
    const QString mode = fields.string("mode"_L1);
    if (fields.failed()) {
        return registration;
    }
    const std::optional<RegisterMode> parsed = registerModeFromName(mode);
    if (!parsed) {
        fields.fail(u"mode"_s,
                    u"must be first_registration, key_regenerated or warm_reconnect, not %1"_s.arg(
                        quoteForMessage(mode)));
        return registration;
    }
    registration.mode = *parsed;

    if (!fields.contains("known"_L1)) {
        return registration;
    }
    if (registration.mode != RegisterMode::WarmReconnect) {
        fields.fail(u"known"_s, u"is only allowed with mode warm_reconnect"_s);
        return registration;
    }
    registration.known = readKnownCredentials(fields);
    return registration;
}

AgentMessage readRegistered(MessageFieldReader &fields)
{
    Registered registered;
    registered.backfillTotal = fields.integer("backfill_total"_L1, 0);
    return registered;
}

AgentMessage readRewrapRequest(MessageFieldReader &fields)
{
    RewrapRequest request;
    request.requestId = fields.uuid("request_id"_L1);
    request.credentialId = fields.uuid("credential_id"_L1);
    request.version = fields.integer("version"_L1, 1);
    request.targetAgentId = fields.uuid("target_agent_id"_L1);
    request.targetCertificate = fields.signedStatement("target_certificate"_L1);
    request.statement = fields.signedStatement("statement"_L1);
    return request;
}

AgentMessage readRewrapResponse(MessageFieldReader &fields)
{
    RewrapResponse response;
    response.requestId = fields.uuid("request_id"_L1);
    response.credentialId = fields.uuid("credential_id"_L1);
    response.targetAgentId = fields.uuid("target_agent_id"_L1);
    response.envelope = fields.envelope("envelope"_L1);
    response.attestation = fields.signedStatement("attestation"_L1);
    return response;
}

AgentMessage readRewrapRefused(MessageFieldReader &fields)
{
    RewrapRefused refused;
    refused.requestId = fields.uuid("request_id"_L1);
    refused.credentialId = fields.uuid("credential_id"_L1);
    refused.targetAgentId = fields.uuid("target_agent_id"_L1);
    refused.reason = fields.reason("reason"_L1, kPeerRefusalReasons);
    return refused;
}

// Reads credential_store.source: {kind: "peer", agent_id, certificate} or
// {kind: "creator", operator_key}.
DeliverySource readDeliverySource(MessageFieldReader &fields)
{
    DeliverySource source;
    const QJsonObject object = fields.object("source"_L1);
    if (fields.failed()) {
        return source;
    }

    MessageFieldReader sourceFields(object, CredentialStore::type, fields.limits(), u"source."_s);
    const QString kind = sourceFields.string("kind"_L1);
    if (kind == "peer"_L1) {
        source.kind = AttestationSource::Peer;
        source.agentId = sourceFields.uuid("agent_id"_L1);
        source.certificate = sourceFields.signedStatement("certificate"_L1);
    } else if (kind == "creator"_L1) {
        source.kind = AttestationSource::Creator;
        source.operatorKey = sourceFields.base64("operator_key"_L1, kEd25519PublicKeyBytes);
    } else if (!sourceFields.failed()) {
        sourceFields.fail(u"kind"_s,
                          u"must be peer or creator, not %1"_s.arg(quoteForMessage(kind)));
    }
    fields.adoptFailure(sourceFields);
    return source;
}

AgentMessage readCredentialStore(MessageFieldReader &fields)
{
    CredentialStore store;
    store.deliveryId = fields.uuid("delivery_id"_L1);
    store.requestId = fields.optionalUuid("request_id"_L1);
    store.credentialId = fields.uuid("credential_id"_L1);
    store.statement = fields.signedStatement("statement"_L1);
    store.envelope = fields.envelope("envelope"_L1);
    store.attestation = fields.signedStatement("attestation"_L1);
    store.source = readDeliverySource(fields);
    return store;
}

AgentMessage readCredentialStored(MessageFieldReader &fields)
{
    CredentialStored stored;
    stored.deliveryId = fields.uuid("delivery_id"_L1);
    stored.credentialId = fields.uuid("credential_id"_L1);
    stored.version = fields.integer("version"_L1, 1);
    stored.revision = fields.integer("revision"_L1, 1);
    stored.commitment = fields.base64("commitment"_L1, kCommitmentBytes);
    stored.receipt = fields.signedStatement("receipt"_L1);
    return stored;
}

AgentMessage readCredentialIntegrityFailure(MessageFieldReader &fields)
{
    CredentialIntegrityFailure failure;
    failure.deliveryId = fields.uuid("delivery_id"_L1);
    failure.credentialId = fields.uuid("credential_id"_L1);
    failure.reason = fields.reason("reason"_L1, kTargetRefusalReasons);
    failure.attestation = fields.signedStatement("attestation"_L1);
    failure.receipt = fields.signedStatement("receipt"_L1);
    return failure;
}

AgentMessage readStatementUpdate(MessageFieldReader &fields)
{
    StatementUpdate update;
    update.deliveryId = fields.uuid("delivery_id"_L1);
    update.credentialId = fields.uuid("credential_id"_L1);
    update.statement = fields.signedStatement("statement"_L1);
    return update;
}

AgentMessage readStatementApplied(MessageFieldReader &fields)
{
    StatementApplied applied;
    applied.deliveryId = fields.uuid("delivery_id"_L1);
    applied.credentialId = fields.uuid("credential_id"_L1);
    applied.receipt = fields.signedStatement("receipt"_L1);
    return applied;
}

AgentMessage readCredentialMissing(MessageFieldReader &fields)
{
    CredentialMissing missing;
    missing.requestId = fields.uuid("request_id"_L1);
    missing.credentialId = fields.optionalUuid("credential_id"_L1);
    missing.name = fields.optionalName("name"_L1);
    if (fields.failed()) {
        return missing;
    }
    if (missing.credentialId && missing.name) {
        fields.fail(u"credential_id"_s,
                    u"must not be sent together with \"name\"; send one of them"_s);
    } else if (!missing.credentialId && !missing.name) {
        fields.fail(u"credential_id"_s, u"is missing, and so is \"name\"; send one of them"_s);
    }
    return missing;
}

AgentMessage readCredentialUnavailable(MessageFieldReader &fields)
{
    CredentialUnavailable unavailable;
    unavailable.requestId = fields.uuid("request_id"_L1);
    unavailable.credentialId = fields.optionalUuid("credential_id"_L1);
    unavailable.reason = fields.reason("reason"_L1, kPublicUnavailableReasons);
    return unavailable;
}

AgentMessage readErrorMessage(MessageFieldReader &fields)
{
    ErrorMessage error;
    error.inReplyTo = fields.string("in_reply_to"_L1);
    if (!fields.failed() && !error.inReplyTo.isEmpty() && !isCanonicalUuid(error.inReplyTo)) {
        fields.fail(u"in_reply_to"_s,
                    u"must be empty or a lowercase 8-4-4-4-12 UUID, not %1"_s.arg(
                        quoteForMessage(error.inReplyTo)));
    }
    error.code = fields.reason("code"_L1, kErrorCodes);
    error.message = fields.string("message"_L1);
    return error;
}

using MessageReader = AgentMessage (*)(MessageFieldReader &);

struct MessageKind {
    QLatin1StringView type;
    MessageReader read;
};

constexpr std::array kMessageKinds {
    MessageKind { Hello::type, readHello },
    MessageKind { Enrol::type, readEnrol },
    MessageKind { Authenticate::type, readAuthenticate },
    MessageKind { Welcome::type, readWelcome },
    MessageKind { CertificateUpdate::type, readCertificateUpdate },
    MessageKind { Register::type, readRegister },
    MessageKind { Registered::type, readRegistered },
    MessageKind { RewrapRequest::type, readRewrapRequest },
    MessageKind { RewrapResponse::type, readRewrapResponse },
    MessageKind { RewrapRefused::type, readRewrapRefused },
    MessageKind { CredentialStore::type, readCredentialStore },
    MessageKind { CredentialStored::type, readCredentialStored },
    MessageKind { CredentialIntegrityFailure::type, readCredentialIntegrityFailure },
    MessageKind { StatementUpdate::type, readStatementUpdate },
    MessageKind { StatementApplied::type, readStatementApplied },
    MessageKind { CredentialMissing::type, readCredentialMissing },
    MessageKind { CredentialUnavailable::type, readCredentialUnavailable },
    MessageKind { ErrorMessage::type, readErrorMessage },
};

const MessageKind *findMessageKind(QStringView type)
{
    for (const MessageKind &kind : kMessageKinds) {
        if (type == kind.type) {
            return &kind;
        }
    }
    return nullptr;
}

// The frame as a strict JSON object, or why it is not one.
Result<QJsonObject> parseFrameObject(QByteArrayView frame, const MessageLimits &limits)
{
    if (frame.size() > limits.maxMessageBytes) {
        return makeError(Reason::TooLarge,
                         u"message is %1 bytes; the maximum is %2"_s.arg(frame.size())
                             .arg(limits.maxMessageBytes));
    }
    Result<QJsonValue> json = parseJsonStrict(frame);
    if (!json) {
        return makeError(Reason::InvalidMessage,
                         u"invalid message: not strict JSON: %1"_s.arg(json.error().message));
    }
    if (!json->isObject()) {
        return makeError(Reason::InvalidMessage, u"invalid message: not a JSON object"_s);
    }
    return json->toObject();
}

// ---- Writers: the fields of each message type, without type and id.

QJsonValue toJson(const SignedStatement &statement)
{
    return statement.toJson();
}

QJsonObject fieldsToJson(const Hello &hello)
{
    return {
        { u"backend_origin"_s, hello.backendOrigin },
        { u"nonce"_s, encodeBase64(hello.nonce) },
        { u"server_time"_s, formatTimestamp(hello.serverTime) },
    };
}

QJsonObject fieldsToJson(const Enrol &enrol)
{
    return {
        { u"enrolment_token"_s, enrol.enrolmentToken },
        { u"agent_id"_s, enrol.agentId },
        { u"agent_name"_s, enrol.agentName },
        { u"encryption_key"_s, encodeBase64(enrol.encryptionKey) },
        { u"identity_key"_s, encodeBase64(enrol.identityKey) },
    };
}

QJsonObject fieldsToJson(const Authenticate &authenticate)
{
    return { { u"auth"_s, toJson(authenticate.auth) } };
}

QJsonObject fieldsToJson(const Welcome &welcome)
{
    QJsonObject object {
        { u"org_id"_s, welcome.orgId },
        { u"agent_id"_s, welcome.agentId },
        { u"status"_s, welcomeStatusName(welcome.status) },
    };
    if (welcome.certificate) {
        object.insert(u"certificate"_s, toJson(*welcome.certificate));
    }
    return object;
}

QJsonObject fieldsToJson(const CertificateUpdate &update)
{
    return { { u"certificate"_s, toJson(update.certificate) } };
}

QJsonObject fieldsToJson(const Register &registration)
{
    QJsonObject object { { u"mode"_s, registerModeName(registration.mode) } };
    if (registration.mode == RegisterMode::WarmReconnect) {
        QJsonArray known;
        for (const KnownCredential &entry : registration.known) {
            known.append(QJsonObject {
                { u"credential_id"_s, entry.credentialId },
                { u"version"_s, entry.version },
                { u"revision"_s, entry.revision },
            });
        }
        object.insert(u"known"_s, known);
    }
    return object;
}

QJsonObject fieldsToJson(const Registered &registered)
{
    return { { u"backfill_total"_s, registered.backfillTotal } };
}

QJsonObject fieldsToJson(const RewrapRequest &request)
{
    return {
        { u"request_id"_s, request.requestId },
        { u"credential_id"_s, request.credentialId },
        { u"version"_s, request.version },
        { u"target_agent_id"_s, request.targetAgentId },
        { u"target_certificate"_s, toJson(request.targetCertificate) },
        { u"statement"_s, toJson(request.statement) },
    };
}

QJsonObject fieldsToJson(const RewrapResponse &response)
{
    return {
        { u"request_id"_s, response.requestId },
        { u"credential_id"_s, response.credentialId },
        { u"target_agent_id"_s, response.targetAgentId },
        { u"envelope"_s, response.envelope.toJson() },
        { u"attestation"_s, toJson(response.attestation) },
    };
}

QJsonObject fieldsToJson(const RewrapRefused &refused)
{
    return {
        { u"request_id"_s, refused.requestId },
        { u"credential_id"_s, refused.credentialId },
        { u"target_agent_id"_s, refused.targetAgentId },
        { u"reason"_s, reasonName(refused.reason) },
    };
}

QJsonObject deliverySourceToJson(const DeliverySource &source)
{
    if (source.kind == AttestationSource::Creator) {
        return {
            { u"kind"_s, u"creator"_s },
            { u"operator_key"_s, encodeBase64(source.operatorKey) },
        };
    }
    return {
        { u"kind"_s, u"peer"_s },
        { u"agent_id"_s, source.agentId },
        { u"certificate"_s, toJson(source.certificate) },
    };
}

QJsonObject fieldsToJson(const CredentialStore &store)
{
    QJsonObject object {
        { u"delivery_id"_s, store.deliveryId },
        { u"credential_id"_s, store.credentialId },
        { u"statement"_s, toJson(store.statement) },
        { u"envelope"_s, store.envelope.toJson() },
        { u"attestation"_s, toJson(store.attestation) },
        { u"source"_s, deliverySourceToJson(store.source) },
    };
    if (store.requestId) {
        object.insert(u"request_id"_s, *store.requestId);
    }
    return object;
}

QJsonObject fieldsToJson(const CredentialStored &stored)
{
    return {
        { u"delivery_id"_s, stored.deliveryId },
        { u"credential_id"_s, stored.credentialId },
        { u"version"_s, stored.version },
        { u"revision"_s, stored.revision },
        { u"commitment"_s, encodeBase64(stored.commitment) },
        { u"receipt"_s, toJson(stored.receipt) },
    };
}

QJsonObject fieldsToJson(const CredentialIntegrityFailure &failure)
{
    return {
        { u"delivery_id"_s, failure.deliveryId },
        { u"credential_id"_s, failure.credentialId },
        { u"reason"_s, reasonName(failure.reason) },
        { u"attestation"_s, toJson(failure.attestation) },
        { u"receipt"_s, toJson(failure.receipt) },
    };
}

QJsonObject fieldsToJson(const StatementUpdate &update)
{
    return {
        { u"delivery_id"_s, update.deliveryId },
        { u"credential_id"_s, update.credentialId },
        { u"statement"_s, toJson(update.statement) },
    };
}

QJsonObject fieldsToJson(const StatementApplied &applied)
{
    return {
        { u"delivery_id"_s, applied.deliveryId },
        { u"credential_id"_s, applied.credentialId },
        { u"receipt"_s, toJson(applied.receipt) },
    };
}

QJsonObject fieldsToJson(const CredentialMissing &missing)
{
    QJsonObject object { { u"request_id"_s, missing.requestId } };
    if (missing.credentialId) {
        object.insert(u"credential_id"_s, *missing.credentialId);
    }
    if (missing.name) {
        object.insert(u"name"_s, *missing.name);
    }
    return object;
}

QJsonObject fieldsToJson(const CredentialUnavailable &unavailable)
{
    QJsonObject object {
        { u"request_id"_s, unavailable.requestId },
        { u"reason"_s, reasonName(unavailable.reason) },
    };
    if (unavailable.credentialId) {
        object.insert(u"credential_id"_s, *unavailable.credentialId);
    }
    return object;
}

QJsonObject fieldsToJson(const ErrorMessage &error)
{
    return {
        { u"in_reply_to"_s, error.inReplyTo },
        { u"code"_s, reasonName(error.code) },
        { u"message"_s, error.message },
    };
}

} // namespace

QString welcomeStatusName(WelcomeStatus status)
{
    return nameOf(kWelcomeStatusNames, status);
}

std::optional<WelcomeStatus> welcomeStatusFromName(QStringView name)
{
    return valueOf(kWelcomeStatusNames, name);
}

QString registerModeName(RegisterMode mode)
{
    return nameOf(kRegisterModeNames, mode);
}

std::optional<RegisterMode> registerModeFromName(QStringView name)
{
    return valueOf(kRegisterModeNames, name);
}

bool isPeerRefusalReason(Reason reason)
{
    return isOneOf(kPeerRefusalReasons, reason);
}

bool isTargetRefusalReason(Reason reason)
{
    return isOneOf(kTargetRefusalReasons, reason);
}

bool isPublicUnavailableReason(Reason reason)
{
    return isOneOf(kPublicUnavailableReasons, reason);
}

bool isErrorCode(Reason reason)
{
    return isOneOf(kErrorCodes, reason);
}

Result<AgentMessage> parseAgentMessage(QByteArrayView frame, const MessageLimits &limits)
{
    Result<QJsonObject> parsed = parseFrameObject(frame, limits);
    if (!parsed) {
        return parsed.error();
    }
    const QJsonObject object = std::move(parsed).value();

    const QJsonValue type = object.value("type"_L1);
    if (!type.isString()) {
        return makeError(Reason::InvalidMessage,
                         u"invalid message: field \"type\" is missing or not a string"_s);
    }
    const QJsonValue id = object.value("id"_L1);
    if (!id.isString() || !isCanonicalUuid(id.toString())) {
        return makeError(Reason::InvalidMessage,
                         u"invalid message: field \"id\" must be a lowercase 8-4-4-4-12 UUID"_s);
    }
    const MessageKind *kind = findMessageKind(type.toString());
    if (kind == nullptr) {
        return makeError(Reason::UnknownType,
                         u"unknown message type %1"_s.arg(quoteForMessage(type.toString())));
    }

    MessageFieldReader fields(object, kind->type, limits);
    AgentMessage message = kind->read(fields);
    if (fields.failed()) {
        return fields.error();
    }
    std::visit([&id](auto &typed) { typed.id = id.toString(); }, message);
    return message;
}

QByteArray serializeMessage(const AgentMessage &message)
{
    QJsonObject object = std::visit([](const auto &typed) { return fieldsToJson(typed); }, message);
    object.insert(u"type"_s, messageType(message));
    object.insert(u"id"_s, messageId(message));
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QLatin1StringView messageType(const AgentMessage &message)
{
    return std::visit([](const auto &typed) { return std::decay_t<decltype(typed)>::type; },
                      message);
}

QString messageId(const AgentMessage &message)
{
    return std::visit([](const auto &typed) { return typed.id; }, message);
}

QString readMessageId(QByteArrayView frame, const MessageLimits &limits)
{
    const Result<QJsonObject> parsed = parseFrameObject(frame, limits);
    if (!parsed) {
        return {};
    }
    const QJsonValue id = parsed->value("id"_L1);
    if (!id.isString() || !isCanonicalUuid(id.toString())) {
        return {};
    }
    return id.toString();
}

ErrorMessage makeErrorReply(const QString &inReplyTo, Reason code, const QString &message)
{
    ErrorMessage error;
    error.id = newUuid();
    error.inReplyTo = isCanonicalUuid(inReplyTo) ? inReplyTo : QString();
    error.code = isErrorCode(code) ? code : Reason::Internal;
    error.message = message;
    return error;
}

} // namespace sealrelay
