// The console's session: the signed-in backend, the operator key, the live
// event feed that keeps the item models current, and the asynchronous
// actions (create, rotate, approve, acknowledge, audit) that QML calls.
#pragma once

#include "auditevents.h"
#include "error.h"
#include "syncverifier.h"

#include <QAbstractItemModel>
#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QTimer>
#include <QUrl>
#include <QVariantList>
#include <QVariantMap>

#include <functional>
#include <memory>
#include <optional>

namespace sealrelay::client {
class BackendClient;
class CredentialCreator;
class OperatorKey;
struct ApiError;
struct Profile;
struct PreparedUpload;
} // namespace sealrelay::client

namespace sealrelay::models {
class AgentsModel;
class AlertsModel;
class AuditModel;
class CredentialsModel;
} // namespace sealrelay::models

namespace sealrelay::console {

class ConsoleWorkspace;
class EventFeed;
struct UploadInputs;

class ConsoleSession : public QObject {
    Q_OBJECT

    Q_PROPERTY(QString state READ state NOTIFY stateChanged)
    Q_PROPERTY(QString profile READ profile NOTIFY profileChanged)
    Q_PROPERTY(QString backendUrl READ backendUrl NOTIFY backendUrlChanged)
    Q_PROPERTY(QString signInError READ signInError NOTIFY signInErrorChanged)
    Q_PROPERTY(QString connection READ connection NOTIFY connectionChanged)
    Q_PROPERTY(QDateTime lastEventAt READ lastEventAt NOTIFY lastEventAtChanged)
    Q_PROPERTY(int reconnectSeconds READ reconnectSeconds NOTIFY reconnectSecondsChanged)
    Q_PROPERTY(QString operatorFingerprint READ operatorFingerprint NOTIFY operatorKeyChanged)
    Q_PROPERTY(bool operatorKeyReady READ operatorKeyReady NOTIFY operatorKeyChanged)
    Q_PROPERTY(QString operatorKeyError READ operatorKeyError NOTIFY operatorKeyChanged)
    Q_PROPERTY(QString banner READ banner NOTIFY bannerChanged)
    Q_PROPERTY(QString bannerSeverity READ bannerSeverity NOTIFY bannerChanged)
    Q_PROPERTY(QAbstractItemModel *credentials READ credentials NOTIFY modelsChanged)
    Q_PROPERTY(QObject *credentialFilter READ credentialFilter NOTIFY modelsChanged)
    Q_PROPERTY(QAbstractItemModel *credentialAgents READ credentialAgents NOTIFY modelsChanged)
    Q_PROPERTY(QString selectedCredentialId READ selectedCredentialId WRITE setSelectedCredentialId
                   NOTIFY selectedCredentialIdChanged)
    Q_PROPERTY(
        QVariantMap selectedCredential READ selectedCredential NOTIFY selectedCredentialChanged)
    Q_PROPERTY(QAbstractItemModel *agents READ agents NOTIFY modelsChanged)
    Q_PROPERTY(QObject *agentFilter READ agentFilter NOTIFY modelsChanged)
    Q_PROPERTY(QAbstractItemModel *alerts READ alerts NOTIFY modelsChanged)
    Q_PROPERTY(QObject *alertFilter READ alertFilter NOTIFY modelsChanged)
    Q_PROPERTY(QAbstractItemModel *audit READ audit NOTIFY modelsChanged)
    Q_PROPERTY(QVariantMap auditVerification READ auditVerification NOTIFY auditVerificationChanged)
    Q_PROPERTY(bool auditHasMore READ auditHasMore NOTIFY auditHasMoreChanged)
    Q_PROPERTY(int stalledCount READ stalledCount NOTIFY countsChanged)
    Q_PROPERTY(int problemCount READ problemCount NOTIFY countsChanged)
    Q_PROPERTY(int pendingApprovalCount READ pendingApprovalCount NOTIFY countsChanged)
    Q_PROPERTY(int unacknowledgedAlerts READ unacknowledgedAlerts NOTIFY countsChanged)
    Q_PROPERTY(QString highestAlertSeverity READ highestAlertSeverity NOTIFY countsChanged)
    Q_PROPERTY(QVariantMap system READ system NOTIFY systemChanged)
    Q_PROPERTY(QVariantList agentChoices READ agentChoices NOTIFY agentChoicesChanged)
    Q_PROPERTY(QStringList auditEvents READ auditEvents CONSTANT)
    Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)

public:
    // Seconds a credential's retry button stays disabled after a retry.
    static constexpr int kRetryCooldownSeconds = 30;
    // Maximum difference between the console's clock and the backend's event
    // times before the banner warns about it.
    static constexpr qint64 kMaxClockSkewSeconds = 60;

    explicit ConsoleSession(QObject *parent = nullptr);
    ~ConsoleSession() override;

    // Loads the profile `profileName` (the files sealrelayctl writes). From
    // the event loop it then loads the operator key and, when the profile
    // names a backend and a stored token, signs in with them.
    // `backendOverride`, when not empty, replaces the profile's backend URL.
    // Returns the error of an unreadable profile; a missing one is empty.
    Result<void> start(const QString &profileName, const QString &backendOverride = {});

    QString state() const { return m_state; }
    QString profile() const { return m_profileName; }
    QString backendUrl() const { return m_backendUrl; }
    QString signInError() const { return m_signInError; }
    QString connection() const { return m_connection; }
    QDateTime lastEventAt() const { return m_lastEventAt; }
    int reconnectSeconds() const { return m_reconnectSeconds; }
    QString operatorFingerprint() const { return m_operatorFingerprint; }
    bool operatorKeyReady() const { return m_operatorKey != nullptr; }
    QString operatorKeyError() const { return m_operatorKeyError; }
    QString banner() const { return m_banner; }
    QString bannerSeverity() const { return m_bannerSeverity; }

    QAbstractItemModel *credentials() const;
    QObject *credentialFilter() const;
    QAbstractItemModel *credentialAgents() const;
    QString selectedCredentialId() const { return m_selectedCredentialId; }
    void setSelectedCredentialId(const QString &credentialId);
    QVariantMap selectedCredential() const { return m_selectedCredential; }
    QAbstractItemModel *agents() const;
    QObject *agentFilter() const;
    QAbstractItemModel *alerts() const;
    QObject *alertFilter() const;
    QAbstractItemModel *audit() const;
    QVariantMap auditVerification() const;
    bool auditHasMore() const;

    int stalledCount() const { return m_stalledCount; }
    int problemCount() const { return m_problemCount; }
    int pendingApprovalCount() const { return m_pendingApprovalCount; }
    int unacknowledgedAlerts() const { return m_unacknowledgedAlerts; }
    QString highestAlertSeverity() const { return m_highestAlertSeverity; }
    QVariantMap system() const { return m_system; }
    QVariantList agentChoices() const { return m_agentChoices; }
    // Returns the events that the audit trail can be filtered by.
    QStringList auditEvents() const { return auditEventNames(); }
    bool busy() const { return m_runningActions > 0; }

    // Rows per GET /api/audit page; 1 to 500, default 100.
    void setAuditPageSize(int rows);
    // Number of snapshots the event feed received since the last sign-in.
    int snapshotCount() const;

    // The item models behind the QML properties, for C++ callers and tests.
    models::CredentialsModel &credentialsModel() const;
    models::AgentsModel &agentsModel() const;
    models::AlertsModel &alertsModel() const;
    models::AuditModel &auditModel() const;

    Q_INVOKABLE void signIn(const QString &backendUrl, const QString &token, bool remember);
    // Closes the feed and drops the token from memory. Stored tokens stay,
    // and forgetToken() removes them.
    Q_INVOKABLE void signOut();
    Q_INVOKABLE void forgetToken();
    // Opens the profile's operator key file with a passphrase typed in the
    // console, for a start without SEALRELAY_OPERATOR_PASSPHRASE. The result
    // arrives as actionFinished("unlockOperatorKey", ...).
    Q_INVOKABLE void unlockOperatorKey(const QString &passphrase);

    // Asks the backend to sync every agent of the credential now. The
    // console then disables the retry for kRetryCooldownSeconds.
    Q_INVOKABLE void retryCredential(const QString &credentialId);
    // Returns the seconds left of the credential's retry cooldown, 0 to 30.
    Q_INVOKABLE int retrySecondsLeft(const QString &credentialId) const;
    Q_INVOKABLE void createCredential(const QString &name, const QString &kind,
                                      const QVariantMap &secretFields,
                                      const QStringList &scopeAgentIds);
    Q_INVOKABLE void rotateCredential(const QString &credentialId, const QVariantMap &secretFields);
    Q_INVOKABLE void changeScope(const QString &credentialId, const QStringList &scopeAgentIds);
    Q_INVOKABLE void deleteCredential(const QString &credentialId);
    // Returns the number of agents that gain or lose `credentialId` when its
    // scope becomes `scopeAgentIds` (empty: every approved agent). For a
    // credential not listed yet it is the size of the new scope.
    Q_INVOKABLE int agentsAffected(const QString &credentialId,
                                   const QStringList &scopeAgentIds) const;

    Q_INVOKABLE void approveAgent(const QString &agentId, const QString &typedFingerprint);
    Q_INVOKABLE void revokeAgent(const QString &agentId);
    Q_INVOKABLE void createEnrolmentToken(const QString &agentName);

    Q_INVOKABLE void acknowledgeAlerts(const QStringList &alertIds);

    Q_INVOKABLE void setAuditFilter(const QString &credentialId, const QString &agentId,
                                    const QString &event, const QDateTime &from,
                                    const QDateTime &to);
    Q_INVOKABLE void loadMoreAudit();
    Q_INVOKABLE void verifyAudit();

    Q_INVOKABLE void refreshSystem();
    Q_INVOKABLE QString agentName(const QString &agentId) const;

Q_SIGNALS:
    void actionFinished(const QString &action, bool ok, const QString &message,
                        const QString &detail);
    void retryCooldownChanged();

    void stateChanged();
    void profileChanged();
    void backendUrlChanged();
    void signInErrorChanged();
    void connectionChanged();
    void lastEventAtChanged();
    void reconnectSecondsChanged();
    void operatorKeyChanged();
    void bannerChanged();
    void modelsChanged();
    void selectedCredentialIdChanged();
    void selectedCredentialChanged();
    void auditVerificationChanged();
    void auditHasMoreChanged();
    void countsChanged();
    void systemChanged();
    void agentChoicesChanged();
    void busyChanged();

private:
    // Sign-in and local state (consolesession.cpp).
    void setState(const QString &state);
    void setSignInError(const QString &error);
    void setBackendUrl(const QString &url);
    void signInWithStoredToken(const client::Profile &profile);
    void finishSignIn(const QUrl &url, const QString &token, const QString &orgId, bool remember);
    QString describeSignInFailure(const QString &url, const client::ApiError &error) const;
    Result<void> replaceWorkspace(const QString &orgId);
    void connectWorkspace();
    void loadOperatorKey();
    void openOperatorKeyFile(QByteArray passphrase, bool typed);
    void setOperatorKey(std::unique_ptr<client::OperatorKey> key, const QString &error);

    // The event feed and what is derived from the models.
    void onFeedSnapshot(const QJsonObject &frame);
    void loadAgentsSnapshot(const QJsonArray &agents);
    void onFeedEvent(const QJsonObject &frame);
    void onFeedStateChanged();
    void onFeedTokenRejected();
    void noteFrameTime(const QJsonObject &frame);
    void scheduleRefresh();
    void refreshDerived();
    void refreshCounts();
    void refreshAgentChoices();
    void refreshHoldings();
    void refreshSelection();
    void updateBanner();
    void tickRetryCooldowns();

    // Actions (consolesessionactions.cpp).
    bool beginAction(const QString &action, bool needsOperatorKey);
    void endAction(const QString &action, bool ok, const QString &message,
                   const QString &detail = {});
    // Clears `busy` when the BackendClient with the running requests goes.
    void abandonActions();
    QString describeApiError(const client::ApiError &error) const;
    void fetchAuditPage(bool replace, bool reported);
    using PrepareUpload = std::function<Result<client::PreparedUpload>(client::CredentialCreator &,
                                                                       const UploadInputs &)>;
    // Fetches the agents and, for `credentialId` when not empty, the current
    // statement, then builds the upload with `prepare` on a worker thread
    // and sends it.
    void runUpload(const QString &action, const QString &credentialId, PrepareUpload prepare);
    void prepareOnWorker(const QString &action, std::shared_ptr<UploadInputs> inputs,
                         PrepareUpload prepare);
    void sendUpload(const QString &action, quint64 signInAttempt,
                    const Result<client::PreparedUpload> &prepared);
    void fetchSystem(bool report);
    void fetchMetrics();

    QString m_state = QStringLiteral("signedOut");
    QString m_profileName = QStringLiteral("default");
    QString m_backendUrl;
    QString m_signInError;
    QString m_connection = QStringLiteral("offline");
    QDateTime m_lastEventAt;
    int m_reconnectSeconds = 0;
    QString m_operatorFingerprint;
    QString m_operatorKeyError;
    QString m_banner;
    QString m_bannerSeverity;
    QString m_selectedCredentialId;
    QVariantMap m_selectedCredential;
    int m_stalledCount = 0;
    int m_problemCount = 0;
    int m_pendingApprovalCount = 0;
    int m_unacknowledgedAlerts = 0;
    QString m_highestAlertSeverity;
    QVariantMap m_system;
    QVariantList m_agentChoices;
    int m_runningActions = 0;

    QString m_orgId;
    QString m_tokenFile; // the profile's token file; empty: the OS keychain
    QString m_operatorKeyFile; // the profile's key file; empty: the OS keychain
    std::optional<qint64> m_clockSkewSeconds; // backend event time minus local time
    bool m_coordinationDegraded = false;
    QString m_coordinationName;
    QHash<QString, QDateTime> m_retryCooldowns; // credential id -> end of its cooldown
    QTimer m_cooldownTimer;
    QTimer m_refreshTimer; // coalesces model changes into one refreshDerived()
    QTimer m_systemTimer;
    QHash<QString, QString> m_agentNames; // agent id -> name
    quint64 m_keyLoadAttempt = 0; // number of the latest key load; older results are dropped
    QThreadPool m_workers; // key file opening and upload sealing
    QStringList m_auditQuery; // name=value pairs of the current audit filter
    quint64 m_signInAttempt = 0; // number of the latest sign-in; older replies are dropped
    // A sign-in that could not reach the backend is tried again after this
    // delay, which doubles from 5 s up to a minute and starts over once a
    // sign-in reaches the backend.
    QTimer m_signInRetryTimer;
    std::chrono::seconds m_signInRetryDelay { 0 };
    quint64 m_auditRequest = 0; // number of the latest audit request; older replies are dropped
    int m_auditPageSize = 100;

    std::unique_ptr<client::BackendClient> m_backend;
    std::unique_ptr<client::OperatorKey> m_operatorKey;
    // The models and their verification state, replaced when the org changes.
    QPointer<ConsoleWorkspace> m_workspace;
    // While the agents of a snapshot have their certificates checked on a
    // worker thread, events for the agents model wait here, in order.
    quint64 m_agentsSnapshot = 0; // number of the latest snapshot; older checks are dropped
    bool m_agentsSnapshotPending = false;
    QList<QJsonObject> m_heldAgentEvents;
    std::unique_ptr<EventFeed> m_feed;
    QNetworkAccessManager *m_network = nullptr; // for /metrics, which is not JSON
};

} // namespace sealrelay::console
