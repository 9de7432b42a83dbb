// Replies of the target role: storing a checked delivery, refusing one, and
// applying statement updates, each with a signed receipt and a local audit
// row.
#include "targethandler.h"

#include "base64.h"
#include "ids.h"
#include "logging.h"
#include "statementorder.h"
#include "truststore.h"
#include "vault.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

struct StatementPositionRead {
    qint64 version = 1;
    qint64 revision = 1;
    bool known = false;
};

// The (version, revision) a refusal's receipt names. It comes from the
// statement's fields even when its signature failed, else from the
// attestation's, so the backend can match the receipt to its delivery.
StatementPositionRead readPosition(const SignedStatement &statement,
                                   const SignedStatement *attestation)
{
    if (Result<QJsonObject> fields =
            parseStatement(StatementContext::Credential, statement.bytes)) {
        if (Result<CredentialStatement> parsed = CredentialStatement::fromFields(fields.value()))
            return { parsed->version, parsed->revision, true };
    }
    if (attestation) {
        if (Result<QJsonObject> fields =
                parseStatement(StatementContext::Attestation, attestation->bytes)) {
            if (Result<Attestation> parsed = Attestation::fromFields(fields.value()))
                return { parsed->version, parsed->revision, true };
        }
    }
    // NOTE: a receipt needs a version and revision of at least 1, and a
    // statement and attestation that both fail to parse name none, so such a
    // receipt names version 1 revision 1.
    return {};
}

QString sourceIdOf(const DeliverySource &source)
{
    if (source.kind == AttestationSource::Peer)
        return source.agentId;
    return encodeBase64(source.operatorKey);
}

} // namespace

TargetHandler::TargetHandler(Vault &vault, TrustStore &trust, AgentIdentity identity, Clock clock,
                             std::shared_ptr<CredentialLocks> locks)
    : m_vault(vault)
    , m_trust(trust)
    , m_identity(std::move(identity))
    , m_encryptionKeyFingerprint(m_identity.encryptionKeyFingerprint())
    , m_clock(std::move(clock))
    , m_locks(locks ? std::move(locks) : std::make_shared<CredentialLocks>())
{
}

Result<CredentialStoreReply> TargetHandler::handleCredentialStore(const CredentialStore &message,
                                                                  PrecomputedChecks *precomputed)
{
    Result<CheckedDelivery> checked = checkDelivery(message, precomputed);
    if (!checked) {
        if (!isTargetRefusalReason(checked.error().reason))
            return checked.error();
        return refuseDelivery(message, checked.error());
    }
    return storeDelivery(std::move(checked).value());
}

Result<CredentialStoreReply> TargetHandler::storeDelivery(CheckedDelivery delivery)
{
    const CredentialStore &message = delivery.message;
    const CredentialStatement &statement = delivery.statement;

    LocalAuditEntry entry;
    entry.event = u"credential_stored"_s;
    entry.severity = AuditSeverity::Info;
    entry.credentialId = statement.credentialId;
    entry.version = statement.version;
    entry.revision = statement.revision;
    entry.referenceId = message.deliveryId;
    entry.counterpartId = sourceIdOf(message.source);
    entry.detail = u"stored from %1 %2"_s.arg(
        message.source.kind == AttestationSource::Peer ? u"peer"_s : u"creator"_s,
        entry.counterpartId);

    Result<StatementWriteResult> written =
        m_vault.storeCredential(message.statement, statement, delivery.payload.view(), entry);
    delivery.payload.clear();
    if (!written)
        return written.error();

    // The compare-and-set lost against a statement stored since the checks.
    if (written->outcome == VaultWrite::Superseded) {
        return refuseDelivery(
            message,
            makeError(Reason::Superseded,
                      u"credential %1 version %2 revision %3 lost to a newer statement "
                      u"stored while it was checked"_s.arg(statement.credentialId,
                                                           QString::number(statement.version),
                                                           QString::number(statement.revision))));
    }
    if (written->outcome == VaultWrite::Equivocation) {
        return refuseDelivery(
            message,
            makeError(Reason::Equivocation,
                      u"credential %1 version %2 revision %3: another statement of the "
                      u"same version and revision was stored while it was checked"_s.arg(
                          statement.credentialId, QString::number(statement.version),
                          QString::number(statement.revision))));
    }

    Result<SignedStatement> receipt =
        signReceipt(statement.credentialId, message.statement, statement.version,
                    statement.revision, ReceiptState::Stored, QString());
    if (!receipt)
        return receipt.error();

    logger("agent.target")
        ->info("stored credential {} version {} revision {} (delivery {}, source {})",
               statement.credentialId.toStdString(), statement.version, statement.revision,
               message.deliveryId.toStdString(), entry.counterpartId.toStdString());

    CredentialStored reply;
    reply.id = newUuid();
    reply.deliveryId = message.deliveryId;
    reply.credentialId = statement.credentialId;
    reply.version = statement.version;
    reply.revision = statement.revision;
    reply.commitment = delivery.commitment;
    reply.receipt = std::move(receipt).value();
    return CredentialStoreReply(std::move(reply));
}

Result<CredentialStoreReply> TargetHandler::refuseDelivery(const CredentialStore &message,
                                                           const Error &refusal)
{
    const StatementPositionRead position = readPosition(message.statement, &message.attestation);

    LocalAuditEntry entry;
    entry.event = u"credential_refused"_s;
    entry.credentialId = message.credentialId;
    if (position.known) {
        entry.version = position.version;
        entry.revision = position.revision;
    }
    entry.referenceId = message.deliveryId;
    entry.counterpartId = sourceIdOf(message.source);
    recordRefusal(entry, refusal);

    Result<SignedStatement> receipt =
        signReceipt(message.credentialId, message.statement, position.version, position.revision,
                    ReceiptState::Refused, reasonName(refusal.reason));
    if (!receipt)
        return receipt.error();

    CredentialIntegrityFailure reply;
    reply.id = newUuid();
    reply.deliveryId = message.deliveryId;
    reply.credentialId = message.credentialId;
    reply.reason = refusal.reason;
    reply.attestation = message.attestation;
    reply.receipt = std::move(receipt).value();
    return CredentialStoreReply(std::move(reply));
}

Result<StatementApplied> TargetHandler::handleStatementUpdate(const StatementUpdate &message)
{
    const CredentialLock lock = m_locks->lock(message.credentialId);

    const auto refuse = [&](const Error &refusal) {
        return refuseStatementUpdate(message, refusal);
    };

    // Checks 1 to 5 as for a delivery.
    Result<CredentialStatement> statement = m_trust.verifyCredentialStatement(message.statement);
    if (!statement)
        return refuse(statement.error());
    if (statement->orgId != m_identity.orgId) {
        return refuse(makeError(Reason::IdMismatch,
                                u"the statement is for org %1, but this agent is in org %2"_s.arg(
                                    statement->orgId, m_identity.orgId)));
    }
    if (statement->credentialId != message.credentialId) {
        return refuse(
            makeError(Reason::IdMismatch,
                      u"the statement is for credential %1, but the update names "
                      u"credential %2"_s.arg(statement->credentialId, message.credentialId)));
    }
    if (Result<void> order = checkOrder(message.statement, statement.value()); !order)
        return refuse(order.error());

    // Check 6 chooses between purging and keeping the secret.
    const bool purge = !statement->covers(m_identity.agentId);
    LocalAuditEntry entry;
    entry.event = purge ? u"credential_purged"_s : u"statement_applied"_s;
    entry.severity = AuditSeverity::Info;
    entry.credentialId = statement->credentialId;
    entry.version = statement->version;
    entry.revision = statement->revision;
    entry.referenceId = message.deliveryId;
    if (!purge)
        entry.detail = u"statement stored"_s;
    else if (statement->deleted)
        entry.detail = u"deleted: secret purged, tombstone kept"_s;
    else
        entry.detail = u"removed from scope: secret purged, tombstone kept"_s;

    Result<StatementWriteResult> written =
        m_vault.storeStatement(message.statement, statement.value(), purge, entry);
    if (!written)
        return written.error();
    if (written->outcome == VaultWrite::Superseded) {
        return refuse(makeError(Reason::Superseded,
                                u"credential %1 version %2 revision %3 lost to a newer statement "
                                u"stored while it was checked"_s.arg(
                                    statement->credentialId, QString::number(statement->version),
                                    QString::number(statement->revision))));
    }
    if (written->outcome == VaultWrite::Equivocation) {
        return refuse(makeError(Reason::Equivocation,
                                u"credential %1 version %2 revision %3: another statement of the "
                                u"same version and revision was stored while it was checked"_s.arg(
                                    statement->credentialId, QString::number(statement->version),
                                    QString::number(statement->revision))));
    }

    ReceiptState state = ReceiptState::Stored;
    QString reason;
    switch (written->state) {
    case HeldState::Tombstone:
        state = ReceiptState::Deleted;
        break;
    case HeldState::Stored:
        state = ReceiptState::Stored;
        break;
    case HeldState::Pending:
        // The statement is newer than the payload held (or none is held), so
        // a `stored` receipt would claim a secret this agent lacks. The
        // statement is kept, which still stops older deliveries.
        state = ReceiptState::Refused;
        reason = reasonName(Reason::NotHeld);
        break;
    }

    Result<SignedStatement> receipt =
        signReceipt(statement->credentialId, message.statement, statement->version,
                    statement->revision, state, reason);
    if (!receipt)
        return receipt.error();

    logger("agent.target")
        ->info("applied statement update for credential {} version {} revision {} (delivery {}): "
               "{}",
               statement->credentialId.toStdString(), statement->version, statement->revision,
               message.deliveryId.toStdString(), heldStateName(written->state).toStdString());
    return StatementApplied { newUuid(), message.deliveryId, message.credentialId,
                              std::move(receipt).value() };
}

Result<StatementApplied> TargetHandler::refuseStatementUpdate(const StatementUpdate &message,
                                                              const Error &refusal)
{
    if (!isTargetRefusalReason(refusal.reason))
        return refusal;

    const StatementPositionRead position = readPosition(message.statement, nullptr);
    LocalAuditEntry entry;
    entry.event = u"statement_refused"_s;
    entry.credentialId = message.credentialId;
    if (position.known) {
        entry.version = position.version;
        entry.revision = position.revision;
    }
    entry.referenceId = message.deliveryId;
    recordRefusal(entry, refusal);

    Result<SignedStatement> receipt =
        signReceipt(message.credentialId, message.statement, position.version, position.revision,
                    ReceiptState::Refused, reasonName(refusal.reason));
    if (!receipt)
        return receipt.error();
    return StatementApplied { newUuid(), message.deliveryId, message.credentialId,
                              std::move(receipt).value() };
}

Result<SignedStatement> TargetHandler::signReceipt(const QString &credentialId,
                                                   const SignedStatement &statement, qint64 version,
                                                   qint64 revision, ReceiptState state,
                                                   const QString &reason) const
{
    Receipt receipt;
    receipt.orgId = m_identity.orgId;
    receipt.agentId = m_identity.agentId;
    receipt.credentialId = credentialId;
    receipt.version = version;
    receipt.revision = revision;
    receipt.statementSha256 = statement.sha256();
    receipt.state = state;
    receipt.reason = reason.isNull() ? u""_s : reason;
    receipt.at = m_clock();
    return m_identity.sign(StatementContext::Receipt, receipt.toFields());
}

void TargetHandler::recordRefusal(const LocalAuditEntry &entry, const Error &refusal)
{
    LocalAuditEntry row = entry;
    // SUPERSEDED is a harmless race. Every other refusal may mean a
    // compromised backend or peer, so it is logged and audited at critical.
    const bool harmless = refusal.reason == Reason::Superseded;
    row.severity = harmless ? AuditSeverity::Info : AuditSeverity::Critical;
    row.reason = reasonName(refusal.reason);
    row.detail = refusal.message;

    const auto log = logger("agent.target");
    const spdlog::level::level_enum level =
        harmless ? spdlog::level::info : spdlog::level::critical;
    log->log(level, "{}: credential {} (reference {}, counterpart {}): {}: {}",
             row.event.toStdString(), row.credentialId.toStdString(), row.referenceId.toStdString(),
             row.counterpartId.toStdString(), row.reason.toStdString(),
             refusal.message.toStdString());

    if (Result<qint64> audited = m_vault.audit().append(row); !audited) {
        log->critical("could not write the refusal of credential {} to the local audit log: {}",
                      row.credentialId.toStdString(), audited.error().message.toStdString());
    }
}

} // namespace sealrelay::agent
