// Chip, badges and counts of one credential's sync state.
#include "credentialsyncstate.h"

#include "ids.h"

#include <QCoreApplication>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

CredentialSyncState CredentialSyncState::awaitingVerification(const QJsonObject &credential)
{
    CredentialSyncState state;
    state.credentialId = credential.value(u"credential_id"_s).toString();
    state.name = credential.value(u"name"_s).toString();
    state.kind = credential.value(u"kind"_s).toString();
    state.version = credential.value(u"version"_s).toInteger();
    state.revision = credential.value(u"revision"_s).toInteger();
    state.scope = credential.value(u"scope"_s).toString();
    if (Result<QDateTime> updated =
            parseTimestamp(credential.value(u"updated_at"_s).toString(), u"updated_at"))
        state.lastChange = updated.value();
    return state;
}

CredentialSyncState
CredentialSyncState::fromVerification(const QJsonObject &credential,
                                      const CredentialVerification &verification)
{
    CredentialSyncState state = awaitingVerification(credential);
    state.verified = true;
    state.credentialId = verification.credentialId;

    // Display fields come from the signed statement when it is trusted, so a
    // backend cannot show a version other than the one receipts are checked
    // against.
    if (verification.statementTrusted && verification.statement) {
        state.name = verification.statement->name;
        state.kind = verification.statement->kind;
        state.version = verification.statement->version;
        state.revision = verification.statement->revision;
        state.scope = verification.statement->scope == CredentialScope::Explicit ? u"explicit"_s
                                                                                 : u"auto_all"_s;
    }
    state.unprotected = !verification.statementTrusted;

    state.agentCount = static_cast<int>(verification.agents.size());
    for (const AgentSyncResult &agent : verification.agents) {
        if (agent.integrityFailure)
            state.integrityFailure = true;
        switch (agent.status) {
        case AgentSyncStatus::Synced:
            ++state.syncedCount;
            break;
        case AgentSyncStatus::PendingUnverified:
            ++state.unverifiedCount;
            ++state.pendingCount;
            break;
        case AgentSyncStatus::Pending:
        case AgentSyncStatus::Refused: // retried by the backend like any failed delivery
            ++state.pendingCount;
            break;
        case AgentSyncStatus::Stalled:
            state.stalled = true;
            break;
        case AgentSyncStatus::IntegrityFailure:
            break;
        }
    }

    if (state.agentCount > 0 && state.syncedCount == state.agentCount)
        state.chip = SyncChip::Synced;
    else if (state.syncedCount > 0)
        state.chip = SyncChip::Partial;
    else
        state.chip = SyncChip::Pending;
    return state;
}

QString CredentialSyncState::chipText() const
{
    if (!verified) {
        //: Sync chip: receipts of a newly listed credential are being checked.
        return QCoreApplication::translate("CredentialSyncState", "⏳ Verifying");
    }
    switch (chip) {
    case SyncChip::Synced:
    case SyncChip::Partial: {
        const QString symbol = chip == SyncChip::Synced ? u"✓"_s : u"⚠"_s;
        //: Sync chip: a symbol, then verified agents out of agents in scope.
        return QCoreApplication::translate("CredentialSyncState", "%1 %2/%3 synced")
            .arg(symbol, QString::number(syncedCount), QString::number(agentCount));
    }
    case SyncChip::Pending:
        //: Sync chip: agents still waiting for the credential.
        return QCoreApplication::translate("CredentialSyncState", "⏳ Pending (%1)")
            .arg(pendingCount);
    }
    return {};
}

QStringList CredentialSyncState::badges() const
{
    QStringList result;
    if (integrityFailure)
        result.append(QCoreApplication::translate("CredentialSyncState", "Integrity failure"));
    if (unprotected)
        result.append(QCoreApplication::translate("CredentialSyncState", "Unprotected"));
    return result;
}

int CredentialSyncState::problemRank() const
{
    if (!verified)
        return 4;
    if (integrityFailure)
        return 0;
    if (stalled)
        return 1;
    if (chip != SyncChip::Synced)
        return 2;
    return 3;
}

} // namespace sealrelay::models
