// Per-agent sync verification of a credential from signed receipts.
#include "syncverifier.h"

#include "error.h"
#include "logging.h"

#include <QCryptographicHash>
#include <QtConcurrent/QtConcurrentRun>
#include <QJsonArray>

#include <optional>
#include <tuple>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// Upper bound on cached signature checks; the cache is cleared when it is
// reached, which costs a re-check of the receipts still in use.
constexpr qsizetype kMaxCachedSignatures = 100000;

const QString kCommitmentMismatchSource = u"COMMITMENT_MISMATCH_SOURCE"_s;

std::optional<SignedStatement> signedField(const QJsonObject &object, const QString &field)
{
    const QJsonValue value = object.value(field);
    if (!value.isObject())
        return std::nullopt;
    Result<SignedStatement> parsed = SignedStatement::fromJson(value, field);
    if (!parsed)
        return std::nullopt;
    return std::move(parsed).value();
}

} // namespace

bool isAttributedRefusal(QStringView reason)
{
    return reason == u"DECRYPT_FAILED" || reason == u"PAYLOAD_MISMATCH"
        || reason == u"COMMITMENT_MISMATCH";
}

ReceiptVerifier::ReceiptVerifier(QList<QByteArray> trustedKeys, QString orgId, client::Clock clock)
    : m_trustedKeys(std::move(trustedKeys))
    , m_orgId(std::move(orgId))
    , m_clock(std::move(clock))
{
}

void ReceiptVerifier::setTrustedKeys(QList<QByteArray> trustedKeys)
{
    m_trustedKeys = std::move(trustedKeys);
}

void ReceiptVerifier::setAgents(const QList<CheckedAgent> &agents)
{
    m_agents.clear();
    for (const CheckedAgent &agent : agents)
        m_agents.insert(agent.agentId, agent);
}

void ReceiptVerifier::updateAgent(const CheckedAgent &agent)
{
    m_agents.insert(agent.agentId, agent);
}

void ReceiptVerifier::setKnownAgents(const QList<KnownAgent> &agents)
{
    m_knownAgents.clear();
    for (const KnownAgent &agent : agents)
        m_knownAgents.insert(agent.agentId, agent);
}

namespace {

// True when verify() reads the same fields from both rows. The name only
// appears in its error messages.
bool sameCertificateRow(const client::AgentRow &a, const client::AgentRow &b)
{
    return a.agentId == b.agentId && a.encryptionKey == b.encryptionKey
        && a.identityKey == b.identityKey && a.certificate.has_value() == b.certificate.has_value()
        && (!a.certificate
            || (a.certificate->bytes == b.certificate->bytes
                && a.certificate->signature == b.certificate->signature));
}

// Runs AgentCertificates::verify() for each of `agents` against `trusted`
// and an in-memory copy of the generations recorded in `generations`, at the
// time `now`. It reads only its arguments, so it runs on any thread.
QList<CertificatePrecheck> precheckCertificates(const QList<client::AgentRow> &agents,
                                                const client::TrustedOperators &trusted,
                                                const client::GenerationRecord &generations,
                                                const QString &orgId, const QDateTime &now,
                                                const QList<QByteArray> &trustedKeys)
{
    client::GenerationRecord recorded = client::GenerationRecord::inMemory();
    for (const client::AgentRow &agent : agents) {
        if (const std::optional<qint64> highest = generations.highest(agent.agentId))
            std::ignore = recorded.raise(agent.agentId, *highest);
    }
    client::AgentCertificates certificates(trusted, orgId, recorded, [now] { return now; });

    QList<CertificatePrecheck> prechecks;
    prechecks.reserve(agents.size());
    for (const client::AgentRow &agent : agents) {
        CertificatePrecheck precheck { agent, trustedKeys, generations.highest(agent.agentId), {} };
        if (Result<client::CertifiedAgent> certified = certificates.verify(agent); certified)
            precheck.certified = std::move(certified).value();
        prechecks.append(std::move(precheck));
    }
    return prechecks;
}

} // namespace

SyncVerifier::SyncVerifier(const client::TrustedOperators &trusted,
                           client::AgentCertificates &certificates, KnownAgents *knownAgents,
                           client::GenerationRecord *generations)
    : m_trusted(trusted)
    , m_certificates(certificates)
    , m_generations(generations)
    , m_knownAgents(knownAgents)
    , m_receipts(trustedKeys(), certificates.orgId(), certificates.clock())
{
    if (m_knownAgents == nullptr) {
        m_ownKnownAgents.emplace(KnownAgents::inMemory(certificates.orgId()));
        m_knownAgents = &*m_ownKnownAgents;
    }
}

void SyncVerifier::setAgents(const QList<client::AgentRow> &agents)
{
    const QList<CheckedAgent> checked = checkAgents(agents);
    saveKnownAgents();
    m_receipts.setAgents(checked);
}

QList<CheckedAgent> SyncVerifier::checkAgents(const QList<client::AgentRow> &agents)
{
    std::optional<client::GenerationRecord::Batch> batch;
    if (m_generations != nullptr)
        batch.emplace(*m_generations);
    QList<CheckedAgent> checked;
    checked.reserve(agents.size());
    for (const client::AgentRow &agent : agents)
        checked.append(checkAgent(agent));
    return checked;
}

void SyncVerifier::updateAgent(const client::AgentRow &agent)
{
    m_receipts.updateAgent(checkAgent(agent));
    saveKnownAgents();
}

CheckedAgent SyncVerifier::checkAgent(const client::AgentRow &agent)
{
    Result<client::CertifiedAgent> certified = verifyCertificate(agent);
    if (!certified)
        return CheckedAgent { agent.agentId, agent.status, {}, certified.error().message };

    // record() rejects only a list made for another org than the
    // certificates, which is a wiring error.
    const Result<bool> recorded =
        m_knownAgents->record(certified.value(), m_certificates.clock()());
    if (!recorded)
        logger("console")->error("{}", recorded.error().message.toStdString());
    return CheckedAgent {
        agent.agentId, agent.status, certified.value().certificate.identityKey, {}
    };
}

Result<client::CertifiedAgent> SyncVerifier::verifyCertificate(const client::AgentRow &agent)
{
    // verify() reads the recorded generation only to reject a certificate
    // below it, so a precheck stays valid while the recorded generation is
    // not above its certificate's. The first of the agents model and the
    // credentials model to take a precheck raises the record to exactly that.
    const auto found = m_prechecks.constFind(agent.agentId);
    const std::optional<qint64> recorded =
        m_generations != nullptr ? m_generations->highest(agent.agentId) : std::nullopt;
    if (m_generations == nullptr || found == m_prechecks.constEnd() || !found->certified
        || !sameCertificateRow(found->row, agent) || found->trustedKeys != trustedKeys()
        || (recorded != found->recordedGeneration
            && (!recorded || *recorded > found->certified->certificate.generation))
        || found->certified->certificate.expiresAt <= m_certificates.clock()()) {
        ++m_certificateChecks;
        return m_certificates.verify(agent);
    }

    const client::CertifiedAgent &certified = *found->certified;
    if (Result<void> raised =
            m_generations->raise(agent.agentId, certified.certificate.generation);
        !raised)
        return raised.error();
    return certified;
}

QFuture<QList<CertificatePrecheck>>
SyncVerifier::startPrecheck(const QList<client::AgentRow> &agents) const
{
    if (m_generations == nullptr)
        return QtFuture::makeReadyFuture(QList<CertificatePrecheck>());
    // Copies, because the GUI thread may pin a key or raise a generation
    // while the worker reads them.
    return QtConcurrent::run(&precheckCertificates, agents, m_trusted, *m_generations,
                             m_certificates.orgId(), m_certificates.clock()(), trustedKeys());
}

void SyncVerifier::setPrechecks(const QList<CertificatePrecheck> &prechecks)
{
    m_prechecks.clear();
    for (const CertificatePrecheck &precheck : prechecks)
        m_prechecks.insert(precheck.row.agentId, precheck);
}

void SyncVerifier::saveKnownAgents()
{
    const Result<void> saved = m_knownAgents->save();
    if (!saved && !m_knownAgentsWriteFailing) {
        logger("console")->warn("could not save the known-agent list: {}; it is kept in memory "
                                "and saved again when agents are checked next",
                                saved.error().message.toStdString());
    }
    m_knownAgentsWriteFailing = !saved.ok();
}

QList<QByteArray> SyncVerifier::trustedKeys() const
{
    QList<QByteArray> keys;
    for (const Ed25519PublicKey &key : m_trusted.keys())
        keys.append(key.raw());
    return keys;
}

CredentialVerification SyncVerifier::verify(const QJsonObject &credential)
{
    m_receipts.setTrustedKeys(trustedKeys());
    m_receipts.setKnownAgents(m_knownAgents->agents());
    return m_receipts.verify(credential);
}

const ReceiptVerifier::CachedStatement &ReceiptVerifier::checkSignature(StatementContext context,
                                                                  const SignedStatement &statement,
                                                                  const Ed25519PublicKey &signer)
{
    QByteArray key = QByteArray::number(static_cast<int>(context));
    key += signer.raw();
    key += statement.signature;
    key += statement.bytes;
    const auto found = m_signatureCache.constFind(key);
    if (found != m_signatureCache.constEnd())
        return found.value();

    if (m_signatureCache.size() >= kMaxCachedSignatures)
        m_signatureCache.clear();
    ++m_signatureChecks;
    CachedStatement checked;
    Result<QJsonObject> fields = verifyStatement(context, statement, signer);
    if (fields) {
        checked.verified = true;
        checked.fields = std::move(fields).value();
    }
    return m_signatureCache.insert(key, checked).value();
}

std::optional<CredentialStatement> ReceiptVerifier::readStatement(const QJsonObject &credential,
                                                               CredentialVerification &result)
{
    const std::optional<SignedStatement> signedStatement = signedField(credential, u"statement"_s);
    if (!signedStatement)
        return std::nullopt;
    Result<QJsonObject> fields =
        parseStatement(StatementContext::Credential, signedStatement->bytes);
    if (!fields)
        return std::nullopt;
    Result<CredentialStatement> statement = CredentialStatement::fromFields(fields.value());
    if (!statement)
        return std::nullopt;
    Result<Ed25519PublicKey> signer = Ed25519PublicKey::fromRaw(statement->operatorKey);
    if (!signer)
        return std::nullopt;

    // The statement is trusted only when its signature verifies under a
    // pinned operator key and it names this org and this credential.
    const bool signatureValid =
        checkSignature(StatementContext::Credential, *signedStatement, signer.value()).verified;
    result.statementTrusted = signatureValid && m_trustedKeys.contains(statement->operatorKey)
        && statement->orgId == m_orgId
        && statement->credentialId == result.credentialId;
    result.statementSha256 = signedStatement->sha256();
    return std::move(statement).value();
}

QStringList ReceiptVerifier::inScopeAgents(const QJsonObject &credential,
                                        const std::optional<CredentialStatement> &statement,
                                        const QHash<QString, QJsonObject> &rows) const
{
    // Candidates: every approved agent, every agent the backend lists a row
    // for and every agent of the known-agent list, unless the backend's
    // agent list shows that agent as revoked. A backend that adds rows can
    // only lower the synced count, never raise it, and one that omits an
    // agent this console saw certified shows it as not synced.
    // NOTE: the revoked status is the backend's unsigned claim, so a backend
    // can still take an agent out of scope by listing it as revoked, which
    // the Agents view then shows.
    const auto revoked = [this](const QString &agentId) {
        const auto agent = m_agents.constFind(agentId);
        return agent != m_agents.constEnd() && agent->status == u"revoked";
    };
    QStringList candidates;
    for (auto it = m_agents.constBegin(); it != m_agents.constEnd(); ++it) {
        if (it->status == u"approved")
            candidates.append(it.key());
    }
    for (auto it = rows.constBegin(); it != rows.constEnd(); ++it) {
        if (!revoked(it.key()))
            candidates.append(it.key());
    }
    // A known agent whose certificate has expired is dropped: creators and
    // peers refuse to seal to an expired certificate, so it can never be
    // synced again until it is certified anew, which records the new expiry.
    // The backend's own lists still make it a candidate.
    const QDateTime now = m_clock();
    for (const KnownAgent &known : std::as_const(m_knownAgents)) {
        if (known.expiresAt > now && !revoked(known.agentId))
            candidates.append(known.agentId);
    }

    QStringList inScope;
    if (statement) {
        if (statement->scope == CredentialScope::Explicit) {
            inScope = statement->agents;
        } else {
            for (const QString &agentId : std::as_const(candidates)) {
                if (statement->covers(agentId))
                    inScope.append(agentId);
            }
        }
    } else if (credential.value(u"scope"_s).toString() == u"explicit") {
        for (const QJsonValue &agentId : credential.value(u"scope_agent_ids"_s).toArray())
            inScope.append(agentId.toString());
    } else {
        inScope = candidates;
    }
    inScope.sort();
    inScope.removeDuplicates();
    return inScope;
}

CredentialVerification ReceiptVerifier::verify(const QJsonObject &credential)
{
    CredentialVerification result;
    result.credentialId = credential.value(u"credential_id"_s).toString();
    result.statement = readStatement(credential, result);

    QHash<QString, QJsonObject> rows;
    for (const QJsonValue &row : credential.value(u"agents"_s).toArray()) {
        const QJsonObject object = row.toObject();
        rows.insert(object.value(u"agent_id"_s).toString(), object);
    }

    const QStringList agentIds = inScopeAgents(credential, result.statement, rows);
    for (const QString &agentId : agentIds)
        result.agents.append(verifyAgent(agentId, rows.value(agentId), result));
    return result;
}

AgentSyncResult ReceiptVerifier::verifyAgent(const QString &agentId, const QJsonObject &row,
                                          const CredentialVerification &credential)
{
    AgentSyncResult result;
    result.agentId = agentId;
    if (const auto known = m_knownAgents.constFind(agentId); known != m_knownAgents.constEnd())
        result.knownName = known->name;
    const bool claimedStored = row.value(u"secret_stored"_s).toBool();
    const bool stalled = row.value(u"stalled"_s).toBool();
    const bool sourceMismatch = row.value(u"last_error"_s).toString() == kCommitmentMismatchSource;
    result.integrityFailure = sourceMismatch;

    // The fallback status when no verified receipt decides: the backend's
    // claims may only make an agent pending, stalled or flagged, never synced.
    const auto unverified = [&](const QString &detail) {
        result.detail = detail;
        if (sourceMismatch)
            result.status = AgentSyncStatus::IntegrityFailure;
        else if (stalled)
            result.status = AgentSyncStatus::Stalled;
        else if (claimedStored)
            result.status = AgentSyncStatus::PendingUnverified;
        else
            result.status = AgentSyncStatus::Pending;
        return result;
    };

    const auto agent = m_agents.constFind(agentId);
    if (agent == m_agents.constEnd()) {
        result.missingFromAgentList = true;
        return unverified(u"agent %1 is missing from the backend's agent list"_s.arg(agentId));
    }
    result.receiptPresent = row.value(u"receipt"_s).isObject();
    if (agent->identityKey.isEmpty())
        return unverified(agent->rejection);
    result.certificateVerified = true;

    const std::optional<SignedStatement> signedReceipt = signedField(row, u"receipt"_s);
    if (!signedReceipt)
        return unverified(u"agent %1 has sent no receipt"_s.arg(agentId));
    Result<Ed25519PublicKey> identityKey = Ed25519PublicKey::fromRaw(agent->identityKey);
    if (!identityKey)
        return unverified(identityKey.error().message);
    const CachedStatement &checked =
        checkSignature(StatementContext::Receipt, *signedReceipt, identityKey.value());
    if (!checked.verified) {
        return unverified(
            u"the receipt of agent %1 does not verify under its certified identity key"_s.arg(
                agentId));
    }
    Result<Receipt> receipt = Receipt::fromFields(checked.fields);
    if (!receipt)
        return unverified(receipt.error().message);
    if (receipt->agentId != agentId || receipt->orgId != m_orgId
        || receipt->credentialId != credential.credentialId) {
        return unverified(
            u"the receipt listed for agent %1 names agent %2 of org %3, credential %4"_s.arg(
                agentId, receipt->agentId, receipt->orgId, receipt->credentialId));
    }
    result.receiptVerified = true;
    result.receipt = receipt.value();

    if (receipt->state == ReceiptState::Refused) {
        if (isAttributedRefusal(receipt->reason)) {
            result.integrityFailure = true;
            result.status = AgentSyncStatus::IntegrityFailure;
            result.detail = u"agent %1 refused a delivery: %2"_s.arg(agentId, receipt->reason);
            return result;
        }
        if (!sourceMismatch && !stalled) {
            result.status = AgentSyncStatus::Refused;
            result.detail = u"agent %1 refused a delivery: %2"_s.arg(agentId, receipt->reason);
            return result;
        }
        return unverified(u"agent %1 refused a delivery: %2"_s.arg(agentId, receipt->reason));
    }
    if (!credential.statementTrusted || !credential.statement) {
        return unverified(u"the statement is missing or not signed by a trusted operator key"_s);
    }
    const CredentialStatement &statement = *credential.statement;
    if (receipt->state != ReceiptState::Stored || receipt->version != statement.version
        || receipt->revision != statement.revision
        || receipt->statementSha256 != credential.statementSha256) {
        return unverified(
            u"the receipt of agent %1 is for version %2 revision %3, not the "
            u"current version %4 revision %5"_s.arg(
                agentId, QString::number(receipt->version), QString::number(receipt->revision),
                QString::number(statement.version), QString::number(statement.revision)));
    }
    result.status = AgentSyncStatus::Synced;
    return result;
}

} // namespace sealrelay::models
