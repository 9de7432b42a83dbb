// The backend's integrity response (PROTOCOL.md §7): a target reported that
// what a source sealed does not match the operator's commitment.
#include "ids.h"
#include "syncengine.h"
#include "syncsupport.h"

#include <QJsonDocument>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay::backend::sync;

namespace sealrelay::backend {

namespace {

QJsonObject reportDetails(const IntegrityReport &report)
{
    return QJsonObject {
        { u"reporter_agent_id"_s, report.reporterId },
        { u"source_kind"_s, report.sourceAgentId ? u"peer"_s : u"creator"_s },
        { u"source_agent_id"_s, report.sourceAgentId.value_or(QString()) },
        { u"delivery_id"_s, report.deliveryId },
        { u"attestation_sha256"_s, report.attestationSha256 },
    };
}

} // namespace

void SyncEngine::runIntegrityResponse(const IntegrityReport &report, std::function<void()> done)
{
    auto reporter = m_storage.agent(report.orgId, report.reporterId);
    if (reporter && reporter.value() && reporter.value()->quarantined) {
        // A quarantined reporter's reports are kept as evidence only.
        log()->warn("agent {} is quarantined: its mismatch report on credential {} is recorded "
                    "and not acted on",
                    text(report.reporterId), text(report.credentialId));
        audit(AuditEntry { report.orgId, u"commitment_mismatch_detected"_s,
                           u"agent:"_s + report.reporterId, report.credentialId,
                           report.sourceAgentId, report.dispatchAuditId, u"ignored"_s,
                           u"REPORTER_QUARANTINED"_s, compactJson(reportDetails(report)) });
        if (done)
            done();
        return;
    }

    // Counting comes first: the report that takes the reporter over the
    // threshold quarantines it and is itself not acted on.
    const QString window = u"commitment_reports:%1:%2"_s.arg(report.orgId, report.reporterId);
    m_store.windowAdd(
        window, newUuid().toUtf8(), m_options.commitmentFloodWindow, this,
        [this, report, done](Result<qint64> count) {
            if (!count) {
                log()->error("cannot count mismatch reports of agent {} ({}); acting on the "
                             "report",
                             text(report.reporterId), text(count.error().message));
            }
            if (count && count.value() > m_options.commitmentFloodThreshold) {
                logIfFailed(m_storage.setAgentQuarantined(report.orgId, report.reporterId, true),
                            "quarantine a flooding reporter");
                raiseAlert(report.orgId, u"agent_commitment_flood"_s, AlertSeverity::High,
                           u"agent:"_s + report.reporterId,
                           QJsonObject { { u"agent_id"_s, report.reporterId },
                                         { u"reports_in_window"_s, count.value() } });
                audit(AuditEntry {
                    report.orgId, u"agent_quarantined"_s, u"backend"_s, std::nullopt,
                    report.reporterId, std::nullopt, u"success"_s, u"COMMITMENT_FLOOD"_s,
                    compactJson(QJsonObject { { u"reports_in_window"_s, count.value() } }) });
                audit(AuditEntry { report.orgId, u"commitment_mismatch_detected"_s,
                                   u"agent:"_s + report.reporterId, report.credentialId,
                                   report.sourceAgentId, report.dispatchAuditId, u"ignored"_s,
                                   u"REPORTER_QUARANTINED"_s, compactJson(reportDetails(report)) });
            } else {
                actOnIntegrityReport(report);
            }
            if (done)
                done();
        });
}

void SyncEngine::actOnIntegrityReport(const IntegrityReport &report)
{
    log()->critical("integrity failure on credential {}: agent {} reported {} for what {} "
                    "sealed",
                    text(report.credentialId), text(report.reporterId), text(report.reason),
                    report.sourceAgentId ? "peer " + text(*report.sourceAgentId)
                                         : std::string("the creator"));
    const QJsonObject details = reportDetails(report);

    if (report.sourceAgentId) {
        const QString &source = *report.sourceAgentId;
        // The source's copy is no longer trusted to be the operator's secret.
        logIfFailed(m_storage.markSecretLost(report.orgId, report.credentialId, source,
                                             kSourceMismatchError),
                    "mark the source's copy invalid");
        const QDateTime expires = now().addMSecs(m_options.blocklistTtl.count());
        if (auto blocked = m_storage.blockPeer(report.orgId, report.credentialId, source,
                                               report.reporterId, expires);
            !blocked)
            log()->error("cannot blocklist peer {} for credential {}: {}", text(source),
                         text(report.credentialId), text(blocked.error().message));
        m_store.setAdd(u"blocklist:%1:%2"_s.arg(report.orgId, report.credentialId), source.toUtf8(),
                       m_options.blocklistTtl, this, [](Result<void>) {});
        publishSyncChange(report.orgId, report.credentialId, source, u"integrity_failure"_s,
                          QJsonObject { { u"error"_s, kSourceMismatchError } });
    }

    raiseAlert(report.orgId, u"credential_commitment_mismatch"_s, AlertSeverity::Critical,
               u"credential:"_s + report.credentialId,
               QJsonObject { { u"credential_id"_s, report.credentialId },
                             { u"reporter_agent_id"_s, report.reporterId },
                             { u"reason"_s, report.reason } });
    if (report.sourceAgentId)
        raiseAlert(report.orgId, u"peer_agent_integrity_failure"_s, AlertSeverity::Critical,
                   u"agent:"_s + *report.sourceAgentId,
                   QJsonObject { { u"agent_id"_s, *report.sourceAgentId },
                                 { u"credential_id"_s, report.credentialId },
                                 { u"reporter_agent_id"_s, report.reporterId },
                                 { u"reason"_s, report.reason } });

    audit(AuditEntry { report.orgId, u"commitment_mismatch_detected"_s,
                       u"agent:"_s + report.reporterId, report.credentialId, report.sourceAgentId,
                       report.dispatchAuditId, u"acted"_s, report.reason, compactJson(details) });
}

} // namespace sealrelay::backend
