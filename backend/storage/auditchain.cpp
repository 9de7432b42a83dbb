// Hashing and verification of the per-org audit hash chain.
#include "auditchain.h"

#include "base64.h"
#include "canonicaljson.h"
#include "digest.h"
#include "ids.h"

#include <QJsonObject>
#include <QJsonValue>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

constexpr qsizetype kHashLength = 32;

QJsonValue nullable(const std::optional<QString> &value)
{
    return value ? QJsonValue(*value) : QJsonValue(QJsonValue::Null);
}

} // namespace

QString auditGenesisHash()
{
    return encodeBase64(QByteArray(kHashLength, '\0'));
}

Result<QByteArray> auditRowCanonicalJson(const AuditRecord &record)
{
    const QJsonObject row {
        { u"id"_s, record.id },
        { u"org_id"_s, record.orgId },
        { u"at"_s, formatTimestamp(record.at) },
        { u"event"_s, record.event },
        { u"actor"_s, record.actor },
        { u"credential_id"_s, nullable(record.credentialId) },
        { u"agent_id"_s, nullable(record.agentId) },
        { u"dispatch_audit_id"_s, nullable(record.dispatchAuditId) },
        { u"outcome"_s, nullable(record.outcome) },
        { u"reason"_s, nullable(record.reason) },
        { u"details"_s, nullable(record.details) },
        { u"prev_hash"_s, record.prevHash },
    };
    return canonicalJson(row);
}

Result<QString> computeAuditRowHash(const AuditRecord &record)
{
    auto prevHash = decodeBase64(record.prevHash, u"prev_hash", kHashLength);
    if (!prevHash) {
        return prevHash.error();
    }
    auto canonical = auditRowCanonicalJson(record);
    if (!canonical) {
        return canonical.error();
    }
    QByteArray hashInput = prevHash.value();
    hashInput.append(canonical.value());
    return sha256Base64(hashInput);
}

AuditChainVerifier::AuditChainVerifier(std::optional<AuditHead> knownHead)
    : m_knownHead(std::move(knownHead))
    , m_expectedPrevHash(auditGenesisHash())
{
    if (m_knownHead && m_knownHead->rowId == 0) {
        m_knownHead.reset(); // the head of an empty chain constrains nothing
    }
}

void AuditChainVerifier::fail(qint64 rowId, AuditBreakKind kind, const QString &message)
{
    m_result.firstBreak = AuditBreak { rowId, kind, message };
}

bool AuditChainVerifier::check(const AuditRecord &record)
{
    if (m_result.firstBreak) {
        return false;
    }

    // A known head that the walk passed without meeting was deleted.
    if (m_knownHead && !m_knownHeadSeen && record.id > m_knownHead->rowId) {
        fail(m_knownHead->rowId, AuditBreakKind::KnownHeadMissing,
             u"audit row %1, the head of an earlier verification, is missing"_s.arg(
                 m_knownHead->rowId));
        return false;
    }

    if (record.prevHash != m_expectedPrevHash) {
        fail(record.id, AuditBreakKind::PrevHashMismatch,
             u"audit row %1: prev_hash %2 differs from the previous row's row_hash %3"_s.arg(
                 QString::number(record.id), record.prevHash, m_expectedPrevHash));
        return false;
    }

    auto computed = computeAuditRowHash(record);
    if (!computed) {
        fail(record.id, AuditBreakKind::Malformed,
             u"audit row %1 cannot be hashed: %2"_s.arg(QString::number(record.id),
                                                        computed.error().message));
        return false;
    }
    if (computed.value() != record.rowHash) {
        fail(record.id, AuditBreakKind::RowHashMismatch,
             u"audit row %1: row_hash %2 differs from the hash of its contents %3"_s.arg(
                 QString::number(record.id), record.rowHash, computed.value()));
        return false;
    }

    if (m_knownHead && record.id == m_knownHead->rowId) {
        m_knownHeadSeen = true;
        if (record.rowHash != m_knownHead->rowHash) {
            fail(record.id, AuditBreakKind::KnownHeadChanged,
                 u"audit row %1: row_hash %2 differs from %3 recorded by an earlier "
                 "verification; history before this row was rewritten"_s.arg(
                     QString::number(record.id), record.rowHash, m_knownHead->rowHash));
            return false;
        }
    }

    m_expectedPrevHash = record.rowHash;
    m_result.rowsVerified += 1;
    m_result.head = AuditHead { record.id, record.rowHash };
    return true;
}

AuditVerification AuditChainVerifier::finish() const
{
    AuditVerification result = m_result;
    if (!result.firstBreak && m_knownHead && !m_knownHeadSeen) {
        result.firstBreak =
            AuditBreak { m_knownHead->rowId, AuditBreakKind::KnownHeadMissing,
                         u"audit row %1, the head of an earlier verification, is missing"_s.arg(
                             m_knownHead->rowId) };
    }
    return result;
}

} // namespace sealrelay::backend
