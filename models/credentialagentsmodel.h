// The console's credential detail rows: one row per in-scope agent of one
// credential with its verified sync status, receipt, attempts, next retry and
// last error in plain words.
#pragma once

#include "clientfiles.h"
#include "syncverifier.h"

#include <QAbstractListModel>
#include <QDateTime>
#include <QList>
#include <QPointer>
#include <QString>

namespace sealrelay::models {

class AgentsModel;
class CredentialsModel;

// Returns a backend sync error code (a `credential_agents` row's last_error)
// or the refusal reason of a receipt in translated plain words, e.g. "agent
// refused: out of scope", and "failed: CODE" for an unknown code.
// CredentialAgentsModel words AGENT_OFFLINE itself, because it needs the
// agent's connection state.
QString syncErrorText(const QString &code);

class CredentialAgentsModel : public QAbstractListModel {
    Q_OBJECT
    // The credential whose agents are listed; empty lists none.
    Q_PROPERTY(QString credentialId READ credentialId WRITE setCredential NOTIFY
                   credentialIdChanged)

public:
    enum Role {
        AgentIdRole = Qt::UserRole + 1,
        // From the AgentsModel, else from the known-agent list, else the first
        // 8 characters of the id.
        AgentNameRole,
        StatusRole, // AgentSyncStatus as int
        StatusTextRole, // translated with a symbol, e.g. "✓ Stored"
        StoredVersionRole, // from the verified `stored` receipt, else the backend's claim; -1 none
        StoredRevisionRole, // as StoredVersionRole
        ReceiptVerifiedRole,
        ReceiptTextRole, // "verified 02:07", "none" or "not verified: ..."
        AttemptsRole,
        NextRetryAtRole, // QDateTime of next_attempt_at; invalid when synced, stalled or none
        // Plain words, e.g. "agent offline since 01:58" or "missing from the
        // backend's agent list"; empty when none.
        LastErrorRole,
        IntegrityFailureRole,
        ErrorCodeRole, // the backend's last_error code as sent, empty when none
    };
    Q_ENUM(Role)

    // `credentials` must outlive the model. `agents` supplies names and the
    // connection state; without it names are short ids.
    explicit CredentialAgentsModel(const CredentialsModel &credentials,
                                   const AgentsModel *agents = nullptr, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    QString credentialId() const { return m_credentialId; }
    // Lists the agents of `credentialId` with one model reset. Later
    // verification results of that credential update the rows in place:
    // dataChanged when the same agents stay in the same order, a reset when
    // agents join or leave the scope.
    void setCredential(const QString &credentialId);

    // The clock that decides whether a time is shown as "HH:mm" (today) or
    // with its date. Defaults to the system clock.
    void setClock(client::Clock clock);

Q_SIGNALS:
    void credentialIdChanged();

private:
    struct Row {
        QString agentId;
        QString agentName;
        AgentSyncStatus status = AgentSyncStatus::Pending;
        QString statusText;
        qint64 storedVersion = -1;
        qint64 storedRevision = -1;
        bool receiptVerified = false;
        QString receiptText;
        int attempts = 0;
        QDateTime nextRetryAt;
        QString lastError;
        bool integrityFailure = false;
        QString errorCode;

        bool operator==(const Row &other) const = default;
    };

    QList<Row> buildRows() const;
    Row buildRow(const AgentSyncResult &result, const QJsonObject &backendRow) const;
    QString formatTime(const QDateTime &time) const;
    QString receiptText(const AgentSyncResult &result) const;
    QString lastErrorText(const AgentSyncResult &result, const QString &code,
                          const QModelIndex &agent) const;
    void refresh();

    const CredentialsModel &m_credentials;
    QPointer<const AgentsModel> m_agents;
    client::Clock m_clock;
    QString m_credentialId;
    QList<Row> m_rows; // ordered by agent name, then agent id
};

} // namespace sealrelay::models
