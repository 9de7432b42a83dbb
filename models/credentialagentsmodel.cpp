// Credential detail rows: per-agent status from the verification, delivery
// fields from the backend's rows, names and connection state from the agents.
#include "credentialagentsmodel.h"

#include "agentsmodel.h"
#include "credentialsmodel.h"
#include "ids.h"

#include <QCoreApplication>
#include <QJsonArray>

#include <algorithm>
#include <array>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

const QString kAgentOffline = u"AGENT_OFFLINE"_s;

struct ErrorPhrase {
    QLatin1StringView code;
    const char *phrase; // untranslated, in the "SyncError" context
};

// The codes the backend's sync engine writes to last_error, the reasons a
// target agent puts in a `refused` receipt, and the reasons a peer gives
// when it refuses a rewrap.
constexpr std::array kErrorPhrases {
    ErrorPhrase { "AGENT_OFFLINE"_L1, QT_TRANSLATE_NOOP("SyncError", "agent offline") },
    ErrorPhrase { "PEER_TIMEOUT"_L1, QT_TRANSLATE_NOOP("SyncError", "no peer responded in time") },
    ErrorPhrase { "NO_ELIGIBLE_PEER"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "no online agent holds the current version to copy it from") },
    ErrorPhrase { "PEERS_FAILED"_L1, QT_TRANSLATE_NOOP("SyncError", "every peer tried failed") },
    ErrorPhrase { "PEER_UNREACHABLE"_L1, QT_TRANSLATE_NOOP("SyncError", "peer unreachable") },
    ErrorPhrase { "PEER_DISCONNECTED"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "peer disconnected during the copy") },
    ErrorPhrase { "PEER_CERTIFICATE_MISSING"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "peer has no certificate") },
    ErrorPhrase { "TARGET_TIMEOUT"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "agent did not respond in time") },
    ErrorPhrase { "STATEMENT_UPDATE_TIMEOUT"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "agent did not confirm the statement update in time") },
    ErrorPhrase { "TARGET_CERTIFICATE_EXPIRED"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "agent certificate expired") },
    ErrorPhrase { "AWAITING_CREATOR_DELIVERY"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "waiting for the creator's delivery to another agent") },
    ErrorPhrase { "MAX_RETRIES_EXCEEDED"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "stopped after the maximum number of attempts") },
    ErrorPhrase { "COMMITMENT_MISMATCH"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "integrity failure: the secret does not match the "
                                   "operator's commitment") },
    ErrorPhrase { "COMMITMENT_MISMATCH_SOURCE"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "integrity failure: this agent's copy does not match the "
                                   "operator's commitment") },
    ErrorPhrase { "REPORTED_COMMITMENT_DIFFERS"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "integrity failure: the agent reported a different commitment") },
    ErrorPhrase { "DECRYPT_FAILED"_L1, QT_TRANSLATE_NOOP("SyncError", "agent rejected it: decryption failed") },
    ErrorPhrase { "PAYLOAD_MISMATCH"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "agent rejected it: the payload does not match the statement") },
    ErrorPhrase { "OUT_OF_SCOPE"_L1, QT_TRANSLATE_NOOP("SyncError", "agent rejected it: out of scope") },
    ErrorPhrase { "BAD_STATEMENT"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "rejected: the statement does not verify") },
    ErrorPhrase { "UNTRUSTED_OPERATOR"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "agent rejected it: the statement is signed by an operator "
                                   "key it does not trust") },
    ErrorPhrase { "ID_MISMATCH"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "agent rejected it: ids differ from the delivery") },
    ErrorPhrase { "SUPERSEDED"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "agent already stores a newer version") },
    ErrorPhrase { "EQUIVOCATION"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "agent rejected it: it stores a different statement for the same "
                                   "version") },
    ErrorPhrase { "BAD_ATTESTATION"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "agent rejected it: the source's attestation does not verify") },
    ErrorPhrase { "UNTRUSTED_TARGET_KEY"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "peer rejected the request: this agent's certificate is not trusted") },
    ErrorPhrase { "STALE_STATEMENT"_L1,
                 QT_TRANSLATE_NOOP("SyncError",
                                   "peer rejected the request: the statement is older than the one it stores") },
    ErrorPhrase { "NOT_HELD"_L1, QT_TRANSLATE_NOOP("SyncError", "peer does not store this version") },
    ErrorPhrase { "BAD_RECEIPT"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "agent sent a receipt that does not verify") },
    ErrorPhrase { "WRONG_CREDENTIAL"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "peer sent a rewrap for another credential") },
    ErrorPhrase { "WRONG_TARGET"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "peer sent a rewrap for another agent") },
    ErrorPhrase { "MALFORMED_ENVELOPE"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "peer sent a malformed envelope") },
    ErrorPhrase { "UNKNOWN_CREDENTIAL"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "the backend does not know this credential") },
    ErrorPhrase { "LOCK_WAIT_TIMEOUT"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "another backend replica held the delivery") },
    ErrorPhrase { "LOCK_LOST"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "the backend lost its claim on the delivery") },
    ErrorPhrase { "COORDINATION_FAILED"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "backend coordination failed") },
    ErrorPhrase { "BACKEND_STOPPING"_L1,
                 QT_TRANSLATE_NOOP("SyncError", "the backend was stopping") },
    ErrorPhrase { "BACKEND_BUSY"_L1, QT_TRANSLATE_NOOP("SyncError", "the backend was busy") },
    ErrorPhrase { "STORAGE_ERROR"_L1, QT_TRANSLATE_NOOP("SyncError", "backend storage error") },
    ErrorPhrase { "RATE_LIMITED"_L1, QT_TRANSLATE_NOOP("SyncError", "rate limited") },
};

QDateTime parseTime(const QJsonValue &value)
{
    Result<QDateTime> parsed = parseTimestamp(value.toString(), u"time");
    return parsed ? parsed.value() : QDateTime();
}

} // namespace

QString syncErrorText(const QString &code)
{
    for (const ErrorPhrase &entry : kErrorPhrases) {
        if (code == entry.code)
            return QCoreApplication::translate("SyncError", entry.phrase);
    }
    //: An error code the console has no words for, shown as sent.
    return QCoreApplication::translate("SyncError", "failed: %1").arg(code);
}

CredentialAgentsModel::CredentialAgentsModel(const CredentialsModel &credentials,
                                             const AgentsModel *agents, QObject *parent)
    : QAbstractListModel(parent)
    , m_credentials(credentials)
    , m_agents(agents)
    , m_clock(client::systemClock())
{
    connect(&credentials, &CredentialsModel::verified, this, [this](const QStringList &ids) {
        if (!m_credentialId.isEmpty() && ids.contains(m_credentialId))
            refresh();
    });
    connect(&credentials, &CredentialsModel::credentialRemoved, this, [this](const QString &id) {
        if (id == m_credentialId)
            refresh();
    });
    connect(&credentials, &QAbstractItemModel::modelReset, this, &CredentialAgentsModel::refresh);

    if (agents != nullptr) {
        // Names and connection states come from the agents table.
        connect(agents, &QAbstractItemModel::dataChanged, this, &CredentialAgentsModel::refresh);
        connect(agents, &QAbstractItemModel::modelReset, this, &CredentialAgentsModel::refresh);
        connect(agents, &QAbstractItemModel::rowsInserted, this, &CredentialAgentsModel::refresh);
        connect(agents, &QAbstractItemModel::rowsRemoved, this, &CredentialAgentsModel::refresh);
    }
}

int CredentialAgentsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

QVariant CredentialAgentsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &row = m_rows.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
    case AgentNameRole:
        return row.agentName;
    case AgentIdRole:
        return row.agentId;
    case StatusRole:
        return static_cast<int>(row.status);
    case StatusTextRole:
        return row.statusText;
    case StoredVersionRole:
        return row.storedVersion;
    case StoredRevisionRole:
        return row.storedRevision;
    case ReceiptVerifiedRole:
        return row.receiptVerified;
    case ReceiptTextRole:
        return row.receiptText;
    case AttemptsRole:
        return row.attempts;
    case NextRetryAtRole:
        return row.nextRetryAt;
    case LastErrorRole:
        return row.lastError;
    case IntegrityFailureRole:
        return row.integrityFailure;
    case ErrorCodeRole:
        return row.errorCode;
    default:
        return {};
    }
}

QHash<int, QByteArray> CredentialAgentsModel::roleNames() const
{
    return {
        { AgentIdRole, "agentId" },
        { AgentNameRole, "agentName" },
        { StatusRole, "status" },
        { StatusTextRole, "statusText" },
        { StoredVersionRole, "storedVersion" },
        { StoredRevisionRole, "storedRevision" },
        { ReceiptVerifiedRole, "receiptVerified" },
        { ReceiptTextRole, "receiptText" },
        { AttemptsRole, "attempts" },
        { NextRetryAtRole, "nextRetryAt" },
        { LastErrorRole, "lastError" },
        { IntegrityFailureRole, "integrityFailure" },
        { ErrorCodeRole, "errorCode" },
    };
}

void CredentialAgentsModel::setCredential(const QString &credentialId)
{
    if (credentialId == m_credentialId)
        return;
    beginResetModel();
    m_credentialId = credentialId;
    m_rows = buildRows();
    endResetModel();
    Q_EMIT credentialIdChanged();
}

void CredentialAgentsModel::setClock(client::Clock clock)
{
    m_clock = std::move(clock);
    refresh();
}

QString CredentialAgentsModel::formatTime(const QDateTime &time) const
{
    const QDateTime local = time.toLocalTime();
    if (local.date() == m_clock().toLocalTime().date())
        return local.toString(u"HH:mm"_s);
    return local.toString(u"yyyy-MM-dd HH:mm"_s);
}

QList<CredentialAgentsModel::Row> CredentialAgentsModel::buildRows() const
{
    if (m_credentialId.isEmpty())
        return {};
    const VerifiedCredential *verified = m_credentials.verifiedCredential(m_credentialId);
    if (verified == nullptr)
        return {};

    QHash<QString, QJsonObject> backendRows;
    for (const QJsonValue &value : verified->credential.value(u"agents"_s).toArray()) {
        const QJsonObject object = value.toObject();
        backendRows.insert(object.value(u"agent_id"_s).toString(), object);
    }

    QList<Row> rows;
    for (const AgentSyncResult &result : verified->verification.agents)
        rows.append(buildRow(result, backendRows.value(result.agentId)));
    std::sort(rows.begin(), rows.end(), [](const Row &a, const Row &b) {
        if (const int byName = a.agentName.compare(b.agentName, Qt::CaseInsensitive); byName != 0)
            return byName < 0;
        return a.agentId < b.agentId;
    });
    return rows;
}

CredentialAgentsModel::Row CredentialAgentsModel::buildRow(const AgentSyncResult &result,
                                                           const QJsonObject &backendRow) const
{
    Row row;
    row.agentId = result.agentId;
    const QModelIndex agent = m_agents ? m_agents->indexOf(result.agentId) : QModelIndex();
    if (agent.isValid())
        row.agentName = agent.data(AgentsModel::NameRole).toString();
    if (row.agentName.isEmpty())
        row.agentName = result.knownName;
    if (row.agentName.isEmpty())
        row.agentName = result.agentId.left(8);

    row.status = result.status;
    switch (result.status) {
    case AgentSyncStatus::Synced:
        row.statusText = tr("✓ Stored");
        break;
    case AgentSyncStatus::Pending:
        row.statusText = tr("⏳ Pending");
        break;
    case AgentSyncStatus::PendingUnverified:
        row.statusText = tr("⚠ Unverified claim");
        break;
    case AgentSyncStatus::Refused:
        row.statusText = tr("⚠ Refused");
        break;
    case AgentSyncStatus::IntegrityFailure:
        row.statusText = tr("✗ Integrity failure");
        break;
    case AgentSyncStatus::Stalled:
        row.statusText = tr("⚠ Stalled");
        break;
    }

    // A verified `stored` receipt decides the stored version; otherwise the
    // backend's claim is shown, and the status shows that it does not count.
    if (result.receipt && result.receipt->state == ReceiptState::Stored) {
        row.storedVersion = result.receipt->version;
        row.storedRevision = result.receipt->revision;
    } else {
        const QJsonValue version = backendRow.value(u"stored_version"_s);
        const QJsonValue revision = backendRow.value(u"stored_revision"_s);
        row.storedVersion = version.isDouble() ? version.toInteger() : -1;
        row.storedRevision = revision.isDouble() ? revision.toInteger() : -1;
    }

    row.receiptVerified = result.receiptVerified;
    row.receiptText = receiptText(result);
    row.attempts = backendRow.value(u"attempts"_s).toInt();
    if (result.status != AgentSyncStatus::Synced && result.status != AgentSyncStatus::Stalled)
        row.nextRetryAt = parseTime(backendRow.value(u"next_attempt_at"_s));
    row.errorCode = backendRow.value(u"last_error"_s).toString();
    row.lastError = lastErrorText(result, row.errorCode, agent);
    row.integrityFailure = result.integrityFailure;
    return row;
}

QString CredentialAgentsModel::receiptText(const AgentSyncResult &result) const
{
    if (!result.receiptPresent)
        return tr("none");
    if (!result.receiptVerified || !result.receipt)
        return tr("not verified: %1").arg(result.detail);

    const QString time = formatTime(result.receipt->at);
    switch (result.receipt->state) {
    case ReceiptState::Refused:
        return tr("verified %1, a refusal").arg(time);
    case ReceiptState::Deleted:
        return tr("verified %1, a deletion").arg(time);
    case ReceiptState::Stored:
        break;
    }
    if (result.status == AgentSyncStatus::Synced)
        return tr("verified %1").arg(time);
    return tr("verified %1, does not count: %2").arg(time, result.detail);
}

QString CredentialAgentsModel::lastErrorText(const AgentSyncResult &result, const QString &code,
                                             const QModelIndex &agent) const
{
    const bool offline = agent.isValid()
        && agent.data(AgentsModel::StatusRole).toInt() == static_cast<int>(AgentStatus::Offline);
    const QDateTime lastSeen =
        agent.isValid() ? agent.data(AgentsModel::LastSeenRole).toDateTime() : QDateTime();
    const QString offlineText = lastSeen.isValid()
        ? tr("agent offline since %1").arg(formatTime(lastSeen))
        : tr("agent offline");

    // The omission comes first: without the agent's entry no receipt of it
    // can be checked, whatever error code the backend's row carries.
    if (result.missingFromAgentList)
        return tr("missing from the backend's agent list");
    if (code == kAgentOffline)
        return offline ? offlineText : tr("agent was offline at the last attempt");
    if (!code.isEmpty())
        return syncErrorText(code);
    if (result.status == AgentSyncStatus::Synced)
        return {};
    if (result.receipt && result.receipt->state == ReceiptState::Refused)
        return syncErrorText(result.receipt->reason);
    if (offline)
        return offlineText;
    return {};
}

void CredentialAgentsModel::refresh()
{
    QList<Row> rows = buildRows();
    const bool sameAgents = rows.size() == m_rows.size()
        && std::equal(rows.cbegin(), rows.cend(), m_rows.cbegin(),
                      [](const Row &a, const Row &b) { return a.agentId == b.agentId; });
    if (!sameAgents) {
        beginResetModel();
        m_rows = std::move(rows);
        endResetModel();
        return;
    }

    int first = -1;
    int last = -1;
    for (qsizetype i = 0; i < rows.size(); ++i) {
        if (rows.at(i) == m_rows.at(i))
            continue;
        if (first < 0)
            first = static_cast<int>(i);
        last = static_cast<int>(i);
    }
    m_rows = std::move(rows);
    if (first >= 0)
        Q_EMIT dataChanged(index(first), index(last));
}

} // namespace sealrelay::models
