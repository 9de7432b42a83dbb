// Verification and approval of agent certificates on the operator's side.
#include "agentcertificates.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"
#include "logging.h"

#include <QDir>
#include <QJsonArray>
#include <QStandardPaths>

#include <utility>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

constexpr qsizetype kMaxGenerationRecordBytes = 16 * 1024 * 1024;

Result<QString> stringField(const QJsonObject &row, const QString &name)
{
    const QJsonValue value = row.value(name);
    if (!value.isString())
        return makeError(Reason::Malformed,
                         u"an agent row of GET /api/agents has no string \"%1\""_s.arg(name));
    return value.toString();
}

bool isHexDigit(QChar c)
{
    return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f');
}

} // namespace

Result<AgentRow> AgentRow::fromJson(const QJsonObject &row)
{
    AgentRow parsed;
    Result<QString> agentId = stringField(row, u"agent_id"_s);
    if (!agentId)
        return agentId.error();
    if (!isCanonicalUuid(agentId.value()))
        return makeError(
            Reason::Malformed,
            u"agent_id \"%1\" of GET /api/agents is not a lowercase UUID"_s.arg(agentId.value()));
    parsed.agentId = agentId.value();

    Result<QString> name = stringField(row, u"name"_s);
    Result<QString> status = stringField(row, u"status"_s);
    Result<QString> encryptionKey = stringField(row, u"encryption_key"_s);
    Result<QString> identityKey = stringField(row, u"identity_key"_s);
    for (const Result<QString> *field : { &name, &status, &encryptionKey, &identityKey }) {
        if (!*field)
            return field->error();
    }
    parsed.name = name.value();
    parsed.status = status.value();

    Result<QByteArray> encryptionDer = decodeBase64(
        encryptionKey.value(), QString(u"encryption_key of agent "_s + parsed.agentId));
    if (!encryptionDer)
        return encryptionDer.error();
    parsed.encryptionKey = encryptionDer.value();
    Result<QByteArray> identityRaw =
        decodeBase64(identityKey.value(), QString(u"identity_key of agent "_s + parsed.agentId),
                     kEd25519PublicKeyBytes);
    if (!identityRaw)
        return identityRaw.error();
    parsed.identityKey = identityRaw.value();

    const QJsonValue certificate = row.value(u"certificate"_s);
    if (!certificate.isNull() && !certificate.isUndefined()) {
        Result<SignedStatement> signedCertificate = SignedStatement::fromJson(
            certificate, QString(u"certificate of agent "_s + parsed.agentId));
        if (!signedCertificate)
            return signedCertificate.error();
        parsed.certificate = signedCertificate.value();
    }
    parsed.generation = row.value(u"generation"_s).toInteger(0);
    return parsed;
}

Result<QList<AgentRow>> parseAgentList(const QJsonObject &reply)
{
    const QJsonValue agents = reply.value(u"agents"_s);
    if (!agents.isArray())
        return makeError(Reason::Malformed, u"GET /api/agents returned no \"agents\" array"_s);
    QList<AgentRow> rows;
    for (const QJsonValue &value : agents.toArray()) {
        if (!value.isObject())
            return makeError(Reason::Malformed,
                             u"an entry of \"agents\" in GET /api/agents is not an object"_s);
        Result<AgentRow> row = AgentRow::fromJson(value.toObject());
        if (!row)
            return row.error();
        rows.append(std::move(row).value());
    }
    return rows;
}

// ---- GenerationRecord -------------------------------------------------------

QString GenerationRecord::defaultPath(const QString &profile)
{
    const QString config = QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation);
    return QDir(config).filePath(u"sealrelay/agent-generations-%1.json"_s.arg(profile));
}

Result<GenerationRecord> GenerationRecord::load(const QString &path)
{
    GenerationRecord record(path);
    Result<QByteArray> content =
        readPrivateFile(path, kMaxGenerationRecordBytes, u"agent generation record");
    if (!content && content.error().reason == Reason::NotFound)
        return record;
    if (!content)
        return content.error();

    Result<QJsonValue> json = parseJsonStrict(content.value());
    const QJsonObject agents =
        json && json->isObject() ? json->toObject().value(u"agents"_s).toObject() : QJsonObject();
    if (!json || !json->isObject() || !json->toObject().value(u"agents"_s).isObject()) {
        return makeError(Reason::Malformed,
                         u"the agent generation record %1 is not {\"agents\": {...}}; restore it "
                         u"from a backup or remove it to start a new record"_s.arg(path));
    }
    for (auto it = agents.constBegin(); it != agents.constEnd(); ++it) {
        const qint64 generation = it.value().toInteger(-1);
        if (!isCanonicalUuid(it.key()) || generation < 1) {
            return makeError(
                Reason::Malformed,
                u"the agent generation record %1 has an invalid entry for \"%2\""_s.arg(path,
                                                                                        it.key()));
        }
        record.m_generations.insert(it.key(), generation);
    }
    return record;
}

GenerationRecord GenerationRecord::inMemory()
{
    return GenerationRecord(QString());
}

std::optional<qint64> GenerationRecord::highest(const QString &agentId) const
{
    const auto found = m_generations.constFind(agentId);
    if (found == m_generations.constEnd())
        return std::nullopt;
    return found.value();
}

Result<void> GenerationRecord::raise(const QString &agentId, qint64 generation)
{
    const std::optional<qint64> current = highest(agentId);
    if (current && *current >= generation)
        return {};
    m_generations.insert(agentId, generation);
    if (m_path.isEmpty())
        return {};
    if (m_batchDepth > 0) {
        m_unwritten = true;
        return {};
    }

    Result<void> written = write();
    if (!written) {
        if (current)
            m_generations.insert(agentId, *current);
        else
            m_generations.remove(agentId);
        return written;
    }
    m_unwritten = false;
    return {};
}

Result<void> GenerationRecord::write() const
{
    QJsonObject agents;
    for (auto it = m_generations.constBegin(); it != m_generations.constEnd(); ++it)
        agents.insert(it.key(), it.value());
    Result<QByteArray> content = canonicalJson(QJsonObject { { u"agents"_s, agents } });
    if (!content)
        return content.error();
    return writePrivateFile(m_path, QByteArray(content.value() + "\n"), WriteMode::Replace);
}

GenerationRecord::Batch::Batch(GenerationRecord &record)
    : m_record(&record)
{
    ++m_record->m_batchDepth;
}

GenerationRecord::Batch::~Batch()
{
    if (Result<void> finished = finish(); !finished)
        logger("client.generations")->error("{}", finished.error().message.toStdString());
}

Result<void> GenerationRecord::Batch::finish()
{
    if (m_record == nullptr)
        return {};
    GenerationRecord &record = *std::exchange(m_record, nullptr);
    if (--record.m_batchDepth > 0 || !record.m_unwritten)
        return {};
    Result<void> written = record.write();
    if (!written)
        return makeError(written.error().reason,
                         u"could not record the agents' certificate generations: %1"_s.arg(
                             written.error().message));
    record.m_unwritten = false;
    return {};
}

// ---- AgentCertificates ------------------------------------------------------

AgentCertificates::AgentCertificates(const TrustedOperators &trusted, QString orgId,
                                     GenerationRecord &generations, Clock clock)
    : m_trusted(trusted)
    , m_orgId(std::move(orgId))
    , m_generations(generations)
    , m_clock(std::move(clock))
{
}

Result<CertifiedAgent> AgentCertificates::verify(const AgentRow &row)
{
    const auto fail = [&](const QString &detail) {
        return makeError(Reason::UntrustedTargetKey,
                         u"the certificate of agent %1 (%2) was rejected: %3"_s.arg(
                             row.agentId, row.name, detail));
    };
    if (!row.certificate)
        return fail(u"the agent has no certificate; approve it first"_s);
    const SignedStatement &signedCertificate = *row.certificate;

    Result<QJsonObject> fields =
        parseStatement(StatementContext::AgentCertificate, signedCertificate.bytes);
    if (!fields)
        return fail(fields.error().message);
    Result<AgentCertificate> certificate = AgentCertificate::fromFields(fields.value());
    if (!certificate)
        return fail(certificate.error().message);
    const AgentCertificate &read = certificate.value();

    Result<Ed25519PublicKey> signer = Ed25519PublicKey::fromRaw(read.operatorKey);
    if (!signer)
        return fail(signer.error().message);
    if (Result<QJsonObject> verified =
            verifyStatement(StatementContext::AgentCertificate, signedCertificate, signer.value());
        !verified) {
        return fail(verified.error().message);
    }
    if (!m_trusted.contains(signer.value())) {
        return fail(u"it is signed by operator key %1 (fingerprint %2), which is not in the "
                    u"trusted operators of %3"_s.arg(signer->rawBase64(), signer->fingerprint(),
                                                     m_trusted.path()));
    }
    if (read.orgId != m_orgId)
        return fail(u"it is for org %1, not this operator's org %2"_s.arg(read.orgId, m_orgId));
    if (read.agentId != row.agentId || read.encryptionKey != row.encryptionKey
        || read.identityKey != row.identityKey) {
        return fail(u"it names agent %1 or keys other than the listed row"_s.arg(read.agentId));
    }
    const QDateTime now = m_clock();
    if (read.expiresAt <= now) {
        return fail(u"generation %1 expired at %2; certify the agent again"_s.arg(
            QString::number(read.generation), formatTimestamp(read.expiresAt)));
    }
    const std::optional<qint64> highest = m_generations.highest(read.agentId);
    if (highest && read.generation < *highest) {
        return fail(u"it has generation %1, lower than generation %2 seen before"_s.arg(
            QString::number(read.generation), QString::number(*highest)));
    }

    Result<RsaPublicKey> encryptionKey = RsaPublicKey::fromSpkiDer(read.encryptionKey);
    if (!encryptionKey)
        return fail(encryptionKey.error().message);
    if (Result<void> raised = m_generations.raise(read.agentId, read.generation); !raised)
        return raised.error();

    CertifiedAgent agent { read, signedCertificate, encryptionKey.value(),
                           encryptionKey->fingerprint() };
    return agent;
}

Result<void> matchTypedFingerprint(QStringView typed, QStringView expected)
{
    const QString digits = normaliseTypedFingerprint(typed);
    for (const QChar c : digits) {
        if (!isHexDigit(c)) {
            return makeError(Reason::Malformed,
                             u"the typed agent fingerprint contains \"%1\", which is not a hex "
                             u"digit; type the fingerprint that sealrelay-agent fingerprint "
                             u"prints on the agent host"_s.arg(c));
        }
    }
    if (digits.size() < kMinTypedFingerprintDigits) {
        return makeError(Reason::Malformed,
                         u"the typed agent fingerprint has %1 hex digits; type at least the "
                         u"first %2"_s.arg(QString::number(digits.size()),
                                           QString::number(kMinTypedFingerprintDigits)));
    }
    if (!expected.startsWith(digits)) {
        return makeError(Reason::IdMismatch,
                         u"the typed agent fingerprint does not match this agent's keys; do not "
                         u"approve it, and compare with sealrelay-agent fingerprint on the "
                         u"agent host"_s);
    }
    return {};
}

Result<SignedStatement> AgentCertificates::certify(const AgentRow &row,
                                                   QStringView typedFingerprint, qint64 generation,
                                                   const Ed25519PrivateKey &signer,
                                                   std::chrono::seconds validity)
{
    const QString expected = agentFingerprint(row.agentId, row.encryptionKey, row.identityKey);
    if (Result<void> matched = matchTypedFingerprint(typedFingerprint, expected); !matched)
        return matched.error();

    const std::optional<qint64> highest = m_generations.highest(row.agentId);
    if (generation < 1 || (highest && generation < *highest)) {
        return makeError(
            Reason::Malformed,
            u"generation %1 for agent %2 is invalid; it must be at least 1 and not "
            u"below generation %3 seen before"_s.arg(QString::number(generation), row.agentId,
                                                     QString::number(highest.value_or(1))));
    }
    if (validity < std::chrono::seconds(1) || validity > kMaxCertificateValidity) {
        return makeError(Reason::Malformed,
                         u"a certificate validity of %1 s is invalid; choose 1 s to 365 days"_s.arg(
                             QString::number(validity.count())));
    }
    const Ed25519PublicKey signerKey = signer.publicKey();
    if (!m_trusted.contains(signerKey)) {
        return makeError(
            Reason::UntrustedOperator,
            u"the signing operator key (fingerprint %1) is not in the trusted "
            u"operators of %2; add it first"_s.arg(signerKey.fingerprint(), m_trusted.path()));
    }
    if (Result<RsaPublicKey> encryptionKey = RsaPublicKey::fromSpkiDer(row.encryptionKey);
        !encryptionKey) {
        return makeError(Reason::InvalidKey,
                         u"agent %1 lists an unusable encryption key: %2"_s.arg(
                             row.agentId, encryptionKey.error().message));
    }

    AgentCertificate certificate;
    certificate.orgId = m_orgId;
    certificate.agentId = row.agentId;
    certificate.agentName = row.name;
    certificate.generation = generation;
    certificate.encryptionKey = row.encryptionKey;
    certificate.identityKey = row.identityKey;
    // Whole milliseconds, because the wire form of a time has no finer unit.
    const QDateTime now = m_clock().toUTC();
    certificate.issuedAt = QDateTime::fromMSecsSinceEpoch(now.toMSecsSinceEpoch(), Qt::UTC);
    certificate.expiresAt = certificate.issuedAt.addSecs(validity.count());
    certificate.operatorKey = signerKey.raw();

    Result<SignedStatement> signedCertificate =
        signStatement(StatementContext::AgentCertificate, certificate.toFields(), signer);
    if (!signedCertificate)
        return signedCertificate.error();
    // The generation is recorded only once the backend accepted the
    // certificate: the caller raises the record after a 2xx.
    return signedCertificate;
}

} // namespace sealrelay::client
