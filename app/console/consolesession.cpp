// The console session: the profile and sign-in, the operator key, the event
// feed into the models, and what the views derive from the models (counts,
// banner, selection, holdings). The actions are in consolesessionactions.cpp.
#include "consolesession.h"

#include "backendclient.h"
#include "cafile.h"
#include "clientfiles.h"
#include "clientprofile.h"
#include "consoleworkspace.h"
#include "eventfeed.h"
#include "logging.h"
#include "operatorkeystore.h"

#include <QFutureWatcher>
#include <QJsonArray>
#include <QPointer>

#include <algorithm>
#include <cstdlib>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::console {

namespace {

// Returns the short display form of an operator key: its first 16 hex digits
// in groups of four.
QString shortOperatorFingerprint(const QByteArray &rawKey)
{
    Result<Ed25519PublicKey> key = Ed25519PublicKey::fromRaw(rawKey);
    if (!key)
        return {};
    return client::displayOperatorFingerprint(key.value()).left(19);
}

QString severityName(int rank)
{
    switch (rank) {
    case 3:
        return u"critical"_s;
    case 2:
        return u"high"_s;
    case 1:
        return u"medium"_s;
    default:
        return {};
    }
}

} // namespace

ConsoleSession::ConsoleSession(QObject *parent)
    : QObject(parent)
{
    m_workspace = ConsoleWorkspace::empty(QString(), this);
    connectWorkspace();

    m_feed = std::make_unique<EventFeed>();
    connect(m_feed.get(), &EventFeed::snapshotReceived, this, &ConsoleSession::onFeedSnapshot);
    connect(m_feed.get(), &EventFeed::eventReceived, this, &ConsoleSession::onFeedEvent);
    connect(m_feed.get(), &EventFeed::stateChanged, this, &ConsoleSession::onFeedStateChanged);
    connect(m_feed.get(), &EventFeed::reconnectSecondsChanged, this, [this] {
        m_reconnectSeconds = m_feed->reconnectSeconds();
        Q_EMIT reconnectSecondsChanged();
        updateBanner();
    });
    connect(m_feed.get(), &EventFeed::tokenRejected, this, &ConsoleSession::onFeedTokenRejected);

    m_cooldownTimer.setInterval(std::chrono::seconds(1));
    connect(&m_cooldownTimer, &QTimer::timeout, this, &ConsoleSession::tickRetryCooldowns);
    m_refreshTimer.setSingleShot(true);
    m_refreshTimer.setInterval(std::chrono::milliseconds(30));
    connect(&m_refreshTimer, &QTimer::timeout, this, &ConsoleSession::refreshDerived);
    m_systemTimer.setInterval(std::chrono::seconds(60));
    connect(&m_systemTimer, &QTimer::timeout, this, [this] { fetchSystem(false); });
    m_signInRetryTimer.setSingleShot(true);

    m_network = new QNetworkAccessManager(this);
}

ConsoleSession::~ConsoleSession()
{
    // Workers post their results to this object, so they must end first.
    m_workers.waitForDone();
    m_feed.reset();
}

// ---- Profile and sign-in ------------------------------------------------------

Result<void> ConsoleSession::start(const QString &profileName, const QString &backendOverride)
{
    m_profileName = profileName.isEmpty() ? u"default"_s : profileName;
    Q_EMIT profileChanged();

    Result<client::Profile> profile = client::Profile::load(m_profileName);
    if (!profile) {
        setSignInError(tr("The profile \"%1\" cannot be read: %2.")
                           .arg(m_profileName, profile.error().message));
        return profile.error();
    }
    m_tokenFile = profile->tokenFile;
    m_operatorKeyFile = profile->operatorKeyFile;
    m_orgId = profile->orgId;
    Result<void> replaced = replaceWorkspace(m_orgId);
    if (!replaced) {
        setSignInError(tr("The files of profile \"%1\" cannot be read: %2.")
                           .arg(m_profileName, replaced.error().message));
        return replaced;
    }
    setBackendUrl(backendOverride.isEmpty() ? profile->backendUrl : backendOverride);

    // Keychain reads wait up to 5 s in a local event loop, so they run after
    // the caller has shown the window.
    QMetaObject::invokeMethod(
        this,
        [this, profile = profile.value()] {
            loadOperatorKey();
            signInWithStoredToken(profile);
        },
        Qt::QueuedConnection);
    return {};
}

void ConsoleSession::signInWithStoredToken(const client::Profile &profile)
{
    if (m_backendUrl.isEmpty() || m_state != u"signedOut"_s)
        return;
    Result<SecureBuffer> token = client::readStoredToken(profile);
    if (!token) {
        // No stored token is the normal first start, and the sign-in page requests one.
        if (token.error().reason != Reason::NotFound)
            setSignInError(tr("The stored token of profile \"%1\" cannot be read: %2.")
                               .arg(m_profileName, token.error().message));
        return;
    }
    // The token is stored already, so there is nothing to remember again.
    signIn(m_backendUrl, QString::fromUtf8(token->view()), false);
}

void ConsoleSession::signIn(const QString &backendUrl, const QString &token, bool remember)
{
    const quint64 attempt = ++m_signInAttempt;
    const QUrl url = QUrl::fromUserInput(backendUrl.trimmed());
    if (!url.isValid() || (url.scheme() != u"https"_s && url.scheme() != u"http"_s)
        || url.host().isEmpty()) {
        setSignInError(u"\"%1\" is not a backend URL: type it as https://HOST:PORT."_s.arg(
            backendUrl.trimmed()));
        setState(u"signedOut"_s);
        return;
    }
    const QString trimmedToken = token.trimmed();
    if (trimmedToken.isEmpty()) {
        setSignInError(tr("The token is empty: paste an API token, or create one with "
                          "`sealrelayctl token create` or ask an admin."));
        setState(u"signedOut"_s);
        return;
    }

    // A profile made with 'sealrelayctl login --ca-file' trusts that CA too.
    QList<QSslCertificate> caCertificates;
    Result<client::Profile> profile = m_profileName.isEmpty()
        ? Result<client::Profile>(client::Profile {})
        : client::Profile::load(m_profileName);
    if (profile) {
        Result<QList<QSslCertificate>> read =
            readCaCertificates(profile->caFile, u"ca_file of the profile");
        if (!read) {
            setSignInError(read.error().message);
            setState(u"signedOut"_s);
            return;
        }
        caCertificates = std::move(read).value();
    }

    m_feed->close();
    m_systemTimer.stop();
    m_signInRetryTimer.stop();
    m_signInRetryTimer.disconnect();
    abandonActions();
    const QString normalized = url.toString(QUrl::StripTrailingSlash);
    setBackendUrl(normalized);
    setSignInError(QString());
    setState(u"signingIn"_s);

    m_backend = std::make_unique<client::BackendClient>(url, trimmedToken);
    m_backend->setCaCertificates(caCertificates);
    m_feed->setCaCertificates(caCertificates);
    m_backend->setTimeout(std::chrono::seconds(15));
    // GET /api/audit/verify is the one route every role may call that names
    // the token's org, as sealrelayctl login uses it.
    m_backend->getAsync(
        u"/api/audit/verify"_s, {}, this,
        [this, attempt, url, trimmedToken, remember](const client::ApiResult &reply) {
            if (attempt != m_signInAttempt)
                return;
            if (!reply) {
                m_backend.reset();
                QString sentence = describeSignInFailure(m_backendUrl, reply.error());
                const bool unreachable = reply.error().code == u"network_error"_s
                    || reply.error().code == u"timeout"_s;
                if (unreachable) {
                    // A console started before its backend, for example after
                    // a reboot, signs in once the backend responds.
                    m_signInRetryDelay = std::clamp(m_signInRetryDelay * 2,
                                                    std::chrono::seconds(5),
                                                    std::chrono::seconds(60));
                    sentence = tr("The backend at %1 cannot be reached (%2): check the URL and "
                                  "that the backend runs. The console tries again in %3 s.")
                                   .arg(m_backendUrl, reply.error().message)
                                   .arg(m_signInRetryDelay.count());
                    m_signInRetryTimer.disconnect();
                    connect(&m_signInRetryTimer, &QTimer::timeout, this,
                            [this, url, trimmedToken, remember] {
                                if (m_state == u"signedOut"_s)
                                    signIn(url.toString(), trimmedToken, remember);
                            });
                    m_signInRetryTimer.start(m_signInRetryDelay);
                }
                logger("console")->warn("sign-in to {} failed: {}", m_backendUrl.toStdString(),
                                        sentence.toStdString());
                setSignInError(sentence);
                setState(u"signedOut"_s);
                Q_EMIT actionFinished(u"signIn"_s, false, m_signInError, QString());
                return;
            }
            m_signInRetryDelay = std::chrono::seconds(0);
            const QString orgId = reply->json.value(u"org_id"_s).toString();
            if (orgId.isEmpty()) {
                m_backend.reset();
                setSignInError(tr("The server at %1 returned no org id, so it is not a sealrelay "
                                  "backend: check the URL.")
                                   .arg(m_backendUrl));
                setState(u"signedOut"_s);
                Q_EMIT actionFinished(u"signIn"_s, false, m_signInError, QString());
                return;
            }
            finishSignIn(url, trimmedToken, orgId, remember);
        });
}

QString ConsoleSession::describeSignInFailure(const QString &url,
                                              const client::ApiError &error) const
{
    if (error.status == 401 || error.code == u"unauthenticated"_s)
        return tr("The backend at %1 refused the token: create a new one with `sealrelayctl token "
                  "create` or ask an admin.")
            .arg(url);
    if (error.status == 403 || error.code == u"forbidden"_s)
        return tr("The backend at %1 accepted the token but does not allow it to read: ask an "
                  "admin for an operator or auditor token.")
            .arg(url);
    if (error.code == u"insecure_url"_s)
        return tr("The console sends tokens over plain http only to this machine: use "
                  "https:// for %1.")
            .arg(url);
    if (error.code == u"network_error"_s || error.code == u"timeout"_s)
        return tr("The backend at %1 cannot be reached (%2): check the URL and that the backend "
                  "runs, then sign in again.")
            .arg(url, error.message);
    return tr("Signing in to %1 failed: %2").arg(url, error.toError().message);
}

void ConsoleSession::finishSignIn(const QUrl &url, const QString &token, const QString &orgId,
                                  bool remember)
{
    const bool orgChanged = orgId != m_workspace->orgId();
    if (orgChanged) {
        Result<void> replaced = replaceWorkspace(orgId);
        if (!replaced) {
            m_backend.reset();
            setSignInError(tr("The files of profile \"%1\" cannot be read: %2.")
                               .arg(m_profileName, replaced.error().message));
            setState(u"signedOut"_s);
            return;
        }
    }
    m_orgId = orgId;

    QString storeWarning;
    if (remember) {
        Result<client::Profile> profile = client::Profile::load(m_profileName);
        Result<void> stored = profile ? Result<void>() : Result<void>(profile.error());
        if (profile) {
            profile->backendUrl = m_backendUrl;
            profile->orgId = orgId;
            QByteArray bytes = token.toUtf8();
            stored = client::storeToken(profile.value(), bytes);
            client::wipe(bytes);
            if (stored)
                stored = profile->save();
        }
        if (!stored)
            storeWarning = tr(" The token is kept for this session only, because storing it "
                              "failed: %1")
                               .arg(stored.error().message);
    }

    setState(u"signedIn"_s);
    // The key is checked against the pinned operators of the workspace.
    if (orgChanged || !m_operatorKey)
        loadOperatorKey();
    m_feed->open(url, token);
    fetchAuditPage(true, false);
    fetchSystem(false);
    m_systemTimer.start();
    logger("console")->info("signed in to {} (org {})", m_backendUrl.toStdString(),
                            orgId.toStdString());
    Q_EMIT actionFinished(u"signIn"_s, true,
                          tr("Signed in to %1.").arg(m_backendUrl) + storeWarning, QString());
}

void ConsoleSession::signOut()
{
    ++m_signInAttempt;
    m_feed->close();
    m_systemTimer.stop();
    m_signInRetryTimer.stop();
    m_backend.reset();
    abandonActions();
    setState(u"signedOut"_s);
    updateBanner();
}

void ConsoleSession::forgetToken()
{
    Result<client::Profile> profile = client::Profile::load(m_profileName);
    Result<void> removed =
        profile ? client::removeStoredToken(profile.value()) : Result<void>(profile.error());
    if (!removed) {
        Q_EMIT actionFinished(
            u"forgetToken"_s, false,
            tr("The stored token could not be removed: %1").arg(removed.error().message),
            QString());
        return;
    }
    Q_EMIT actionFinished(u"forgetToken"_s, true,
                          tr("The stored token of profile \"%1\" was removed from the %2.")
                              .arg(m_profileName, client::tokenLocation(profile.value())),
                          QString());
}

Result<void> ConsoleSession::replaceWorkspace(const QString &orgId)
{
    Result<ConsoleWorkspace *> opened = ConsoleWorkspace::open(m_profileName, orgId, this);
    if (!opened)
        return opened.error();
    // Views may still hold the old models until they see modelsChanged, so
    // the old workspace goes with the next turn of the event loop.
    if (m_workspace)
        m_workspace->deleteLater();
    m_workspace = opened.value();
    // A certificate check still running was for the old workspace.
    ++m_agentsSnapshot;
    m_agentsSnapshotPending = false;
    m_heldAgentEvents.clear();
    connectWorkspace();
    m_workspace->selectCredential(m_selectedCredentialId);
    Q_EMIT modelsChanged();
    Q_EMIT auditHasMoreChanged();
    Q_EMIT auditVerificationChanged();
    scheduleRefresh();
    return {};
}

void ConsoleSession::connectWorkspace()
{
    ConsoleWorkspace *workspace = m_workspace;
    connect(&workspace->credentials(), &models::CredentialsModel::batchApplied, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->credentials(), &models::CredentialsModel::verified, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->credentials(), &QAbstractItemModel::modelReset, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->credentials(), &QAbstractItemModel::rowsInserted, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->credentials(), &QAbstractItemModel::rowsRemoved, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->credentials(), &models::CredentialsModel::snapshotRejected, this,
            [](const QString &message) {
                logger("console")->warn("snapshot: the credentials were not loaded: {}",
                                        message.toStdString());
            });
    connect(&workspace->agents(), &models::AgentsModel::batchApplied, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->agents(), &QAbstractItemModel::modelReset, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->alerts(), &models::AlertsModel::batchApplied, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->alerts(), &QAbstractItemModel::modelReset, this,
            &ConsoleSession::scheduleRefresh);
    connect(&workspace->audit(), &models::AuditModel::pagingChanged, this,
            &ConsoleSession::auditHasMoreChanged);
    connect(&workspace->audit(), &models::AuditModel::verificationChanged, this,
            &ConsoleSession::auditVerificationChanged);
}

void ConsoleSession::loadOperatorKey()
{
    // A newer load makes the result of a key file still opening stale.
    ++m_keyLoadAttempt;
    const QString profileName = m_profileName;

    if (m_operatorKeyFile.isEmpty()) {
        // QtKeychain jobs wait in a local event loop, so the views keep
        // painting meanwhile.
        const client::OperatorKeyStore store = client::OperatorKeyStore::keychain(profileName);
        Result<client::OperatorKey> key = store.load();
        if (!key) {
            if (key.error().reason == Reason::NotFound)
                setOperatorKey(nullptr,
                               tr("No operator key in the %1: create one with `sealrelayctl "
                                  "operator init --profile %2`.")
                                   .arg(store.location(), profileName));
            else
                setOperatorKey(nullptr,
                               tr("The operator key in the %1 cannot be loaded: %2. Without it "
                                  "the console cannot create credentials or approve agents.")
                                   .arg(store.location(), key.error().message));
            return;
        }
        setOperatorKey(std::make_unique<client::OperatorKey>(std::move(key).value()), QString());
        return;
    }

    const QByteArray passphrase = qgetenv("SEALRELAY_OPERATOR_PASSPHRASE");
    if (passphrase.isEmpty()) {
        setOperatorKey(nullptr,
                       tr("The operator key file %1 needs its passphrase: type it, or start the "
                          "console with SEALRELAY_OPERATOR_PASSPHRASE set.")
                           .arg(m_operatorKeyFile));
        return;
    }
    openOperatorKeyFile(passphrase, false);
}

void ConsoleSession::unlockOperatorKey(const QString &passphrase)
{
    const QString action = u"unlockOperatorKey"_s;
    if (m_operatorKeyFile.isEmpty()) {
        Q_EMIT actionFinished(action, false,
                              tr("The operator key of this profile is in the OS keychain, which "
                                 "needs no passphrase."),
                              QString());
        return;
    }
    if (passphrase.isEmpty()) {
        Q_EMIT actionFinished(action, false, tr("Type the passphrase of the key file."), QString());
        return;
    }
    // NOTE: the QString from QML cannot be wiped; only this UTF-8 copy is.
    openOperatorKeyFile(passphrase.toUtf8(), true);
}

void ConsoleSession::openOperatorKeyFile(QByteArray passphrase, bool typed)
{
    const quint64 attempt = ++m_keyLoadAttempt;
    // Opening the file runs scrypt at a cost chosen to be slow, so it runs on
    // a worker thread.
    const QString path = m_operatorKeyFile;
    m_workers.start([this, attempt, path, passphrase = std::move(passphrase), typed]() mutable {
        const client::OperatorKeyStore store = client::OperatorKeyStore::keyFile(path, passphrase);
        client::wipe(passphrase);
        auto key = std::make_shared<Result<client::OperatorKey>>(store.load());
        QMetaObject::invokeMethod(
            this,
            [this, attempt, path, key, typed] {
                if (attempt != m_keyLoadAttempt)
                    return;
                if (key->ok()) {
                    setOperatorKey(std::make_unique<client::OperatorKey>(key->value()), QString());
                } else if (key->error().reason == Reason::DecryptFailed) {
                    setOperatorKey(nullptr,
                                   typed ? tr("The operator key file %1 did not open with the "
                                              "passphrase typed: type it again.")
                                               .arg(path)
                                         : tr("The operator key file %1 did not open with the "
                                              "passphrase in SEALRELAY_OPERATOR_PASSPHRASE: type "
                                              "the right one.")
                                               .arg(path));
                } else if (key->error().reason == Reason::NotFound) {
                    setOperatorKey(nullptr,
                                   tr("The operator key file %1 does not exist: create it with "
                                      "`sealrelayctl operator init --key-file %1 --profile %2`.")
                                       .arg(path, m_profileName));
                } else {
                    setOperatorKey(nullptr,
                                   tr("The operator key file %1 cannot be loaded: %2")
                                       .arg(path, key->error().message));
                }
                if (typed)
                    Q_EMIT actionFinished(
                        u"unlockOperatorKey"_s, operatorKeyReady(),
                        operatorKeyReady()
                            ? tr("The operator key %1 is ready.").arg(m_operatorFingerprint)
                            : m_operatorKeyError,
                        QString());
            },
            Qt::QueuedConnection);
    });
}

void ConsoleSession::setOperatorKey(std::unique_ptr<client::OperatorKey> key, const QString &error)
{
    QString message = error;
    if (key && !m_workspace->trusted().contains(key->publicKey())) {
        // The agents reject statements signed by a key they do not pin, and
        // so does this console's own check of each statement.
        message = tr("The operator key %1 is not in the trusted operators %2: pin it with "
                     "`sealrelayctl operator trust %3 --profile %4`.")
                      .arg(key->displayFingerprint(), m_workspace->trusted().path(),
                           key->trustedOperatorsLine(), m_profileName);
        key.reset();
    }
    m_operatorFingerprint = key ? key->displayFingerprint() : QString();
    m_operatorKey = std::move(key);
    m_operatorKeyError = message;
    Q_EMIT operatorKeyChanged();
}

void ConsoleSession::setState(const QString &state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged();
    updateBanner();
}

void ConsoleSession::setSignInError(const QString &error)
{
    if (m_signInError == error)
        return;
    m_signInError = error;
    Q_EMIT signInErrorChanged();
}

void ConsoleSession::setBackendUrl(const QString &url)
{
    if (m_backendUrl == url)
        return;
    m_backendUrl = url;
    Q_EMIT backendUrlChanged();
}

// ---- Event feed -----------------------------------------------------------------

void ConsoleSession::onFeedSnapshot(const QJsonObject &frame)
{
    noteFrameTime(frame);
    ConsoleWorkspace &workspace = *m_workspace;
    const QJsonObject data = frame.value(u"data"_s).toObject();

    // The agents' certificates are checked on a worker thread first, and the
    // agents model is loaded when that check is done, so this thread checks
    // no signature. Agent events wait in m_heldAgentEvents meanwhile, and
    // those queued before the snapshot are superseded by it.
    const quint64 snapshot = ++m_agentsSnapshot;
    const QJsonArray agentRows = data.value(u"agents"_s).toArray();
    m_heldAgentEvents.clear();
    m_agentsSnapshotPending = true;
    Result<QList<client::AgentRow>> rows = client::parseAgentList(data);
    if (!rows) {
        // The model reports the malformed row.
        loadAgentsSnapshot(agentRows);
    } else {
        using Prechecks = QList<models::CertificatePrecheck>;
        auto *watcher = new QFutureWatcher<Prechecks>(this);
        const QPointer<ConsoleWorkspace> checkedFor = m_workspace;
        connect(watcher, &QFutureWatcherBase::finished, this,
                [this, watcher, snapshot, checkedFor, agentRows] {
                    watcher->deleteLater();
                    if (snapshot != m_agentsSnapshot || checkedFor != m_workspace || !m_workspace)
                        return;
                    m_workspace->verifier().setPrechecks(watcher->result());
                    loadAgentsSnapshot(agentRows);
                });
        watcher->setFuture(workspace.verifier().startPrecheck(rows.value()));
    }

    // The model reads the credentials on a worker thread and inserts them in
    // steps, so a snapshot of thousands of credentials does not block the
    // views. Events that follow the snapshot wait in the model's queue until
    // the last step.
    workspace.credentials().loadSnapshotInSteps(frame);
    workspace.alerts().loadSnapshot(data.value(u"alerts"_s).toArray());

    // Audit rows written while the feed was away come with a fresh first page.
    if (m_feed->snapshotCount() > 1)
        fetchAuditPage(true, false);
    scheduleRefresh();
}

// Replaces the agents model's rows, then queues the agent events that
// arrived after the snapshot.
void ConsoleSession::loadAgentsSnapshot(const QJsonArray &agents)
{
    models::AgentsModel &model = m_workspace->agents();
    Result<void> loaded = model.loadSnapshot(agents);
    if (!loaded)
        logger("console")->warn("snapshot: the agents were not loaded: {}",
                                loaded.error().message.toStdString());
    m_agentsSnapshotPending = false;
    for (const QJsonObject &event : std::as_const(m_heldAgentEvents))
        model.enqueue(event);
    m_heldAgentEvents.clear();
    scheduleRefresh();
}

void ConsoleSession::onFeedEvent(const QJsonObject &frame)
{
    noteFrameTime(frame);
    ConsoleWorkspace &workspace = *m_workspace;
    workspace.credentials().enqueue(frame);
    if (m_agentsSnapshotPending)
        m_heldAgentEvents.append(frame);
    else
        workspace.agents().enqueue(frame);
    workspace.alerts().enqueue(frame);
    workspace.audit().enqueue(frame);
}

void ConsoleSession::onFeedStateChanged()
{
    QString connection;
    switch (m_feed->state()) {
    case EventFeed::State::Live:
        connection = u"live"_s;
        break;
    case EventFeed::State::Connecting:
    case EventFeed::State::Reconnecting:
        connection = u"reconnecting"_s;
        break;
    case EventFeed::State::Offline:
        connection = u"offline"_s;
        break;
    }
    if (connection != m_connection) {
        m_connection = connection;
        Q_EMIT connectionChanged();
    }
    updateBanner();
}

void ConsoleSession::onFeedTokenRejected()
{
    ++m_signInAttempt;
    m_systemTimer.stop();
    m_backend.reset();
    abandonActions();
    setSignInError(tr("The backend at %1 refused the token: create a new one with `sealrelayctl "
                      "token create` or ask an admin, then sign in again.")
                       .arg(m_backendUrl));
    setState(u"signedOut"_s);
}

void ConsoleSession::noteFrameTime(const QJsonObject &frame)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    // Views show the time to the second, so a burst of frames within one
    // second notifies them once.
    const bool newSecond =
        !m_lastEventAt.isValid() || m_lastEventAt.toSecsSinceEpoch() != now.toSecsSinceEpoch();
    m_lastEventAt = now;
    if (newSecond)
        Q_EMIT lastEventAtChanged();

    const QDateTime at = QDateTime::fromString(frame.value(u"at"_s).toString(), Qt::ISODateWithMs);
    if (!at.isValid())
        return;
    const qint64 skew = now.secsTo(at);
    const bool wasOff = m_clockSkewSeconds && std::abs(*m_clockSkewSeconds) > kMaxClockSkewSeconds;
    m_clockSkewSeconds = skew;
    if (wasOff != (std::abs(skew) > kMaxClockSkewSeconds))
        updateBanner();
}

// ---- Derived values -------------------------------------------------------------

void ConsoleSession::scheduleRefresh()
{
    if (!m_refreshTimer.isActive())
        m_refreshTimer.start();
}

void ConsoleSession::refreshDerived()
{
    refreshCounts();
    refreshAgentChoices();
    refreshHoldings();
    refreshSelection();
}

void ConsoleSession::refreshCounts()
{
    using models::AlertsModel;
    using models::CredentialsModel;
    const CredentialsModel &credentials = m_workspace->credentials();
    const int stalled = credentials.stalledCount();
    const int problems = credentials.problemCount();

    const AlertsModel &alerts = m_workspace->alerts();
    int highestRank = 0;
    for (int row = 0; row < alerts.rowCount(); ++row) {
        const QModelIndex index = alerts.index(row);
        if (!index.data(AlertsModel::AcknowledgedRole).toBool())
            highestRank = std::max(highestRank, index.data(AlertsModel::SeverityRankRole).toInt());
    }
    const int pending = m_workspace->agents().pendingApprovalCount();
    const int unacknowledged = alerts.unacknowledgedCount();
    const QString highest = severityName(highestRank);

    if (stalled == m_stalledCount && problems == m_problemCount && pending == m_pendingApprovalCount
        && unacknowledged == m_unacknowledgedAlerts && highest == m_highestAlertSeverity)
        return;
    m_stalledCount = stalled;
    m_problemCount = problems;
    m_pendingApprovalCount = pending;
    m_unacknowledgedAlerts = unacknowledged;
    m_highestAlertSeverity = highest;
    Q_EMIT countsChanged();
}

void ConsoleSession::refreshAgentChoices()
{
    using models::AgentsModel;
    const AgentsModel &agents = m_workspace->agents();
    QHash<QString, QString> names;
    QVariantList choices;
    for (int row = 0; row < agents.rowCount(); ++row) {
        const QModelIndex index = agents.index(row);
        const QString id = index.data(AgentsModel::AgentIdRole).toString();
        const QString name = index.data(AgentsModel::NameRole).toString();
        names.insert(id, name);
        const auto status = models::AgentStatus(index.data(AgentsModel::StatusRole).toInt());
        if (status == models::AgentStatus::PendingApproval
            || status == models::AgentStatus::Revoked)
            continue;
        choices.append(
            QVariantMap { { u"agentId"_s, id },
                          { u"name"_s, name },
                          { u"status"_s, index.data(AgentsModel::StatusTextRole).toString() } });
    }
    m_agentNames = std::move(names);
    if (choices != m_agentChoices) {
        m_agentChoices = std::move(choices);
        Q_EMIT agentChoicesChanged();
    }
}

void ConsoleSession::refreshHoldings()
{
    m_workspace->agents().setHoldings(m_workspace->credentials().holdings());
}

void ConsoleSession::refreshSelection()
{
    QVariantMap selected;
    const models::CredentialSyncState *state = m_selectedCredentialId.isEmpty()
        ? nullptr
        : m_workspace->credentials().syncState(m_selectedCredentialId);
    if (state != nullptr) {
        selected.insert(u"credentialId"_s, state->credentialId);
        selected.insert(u"name"_s, state->name);
        selected.insert(u"kind"_s, state->kind);
        selected.insert(u"version"_s, state->version);
        selected.insert(u"revision"_s, state->revision);
        selected.insert(u"scope"_s, state->scope);
        selected.insert(u"chipText"_s, state->chipText());
        selected.insert(u"badges"_s, state->badges());
        selected.insert(u"agentCount"_s, state->agentCount);

        QStringList scopeAgents;
        QString signedBy;
        bool signedByTrusted = false;
        QDateTime signedAt;
        const models::VerifiedCredential *verified =
            m_workspace->credentials().verifiedCredential(m_selectedCredentialId);
        if (verified != nullptr) {
            const models::CredentialVerification &verification = verified->verification;
            if (verification.statement) {
                scopeAgents = verification.statement->agents;
                signedBy = shortOperatorFingerprint(verification.statement->operatorKey);
                signedAt = verification.statement->issuedAt;
            }
            signedByTrusted = verification.statementTrusted;
        }
        selected.insert(u"scopeAgents"_s, scopeAgents);
        selected.insert(u"signedBy"_s, signedBy);
        selected.insert(u"signedByTrusted"_s, signedByTrusted);
        selected.insert(u"signedAt"_s, signedAt);
    }
    if (selected != m_selectedCredential) {
        m_selectedCredential = std::move(selected);
        Q_EMIT selectedCredentialChanged();
    }
}

void ConsoleSession::updateBanner()
{
    QString banner;
    QString severity;
    if (m_state == u"signedIn"_s && m_connection == u"reconnecting"_s) {
        const QString since = m_lastEventAt.isValid()
            ? tr(" The views show the state of %1.")
                  .arg(m_lastEventAt.toLocalTime().toString(u"HH:mm:ss"_s))
            : QString();
        banner = m_reconnectSeconds > 0
            ? tr("The backend at %1 cannot be reached; the console tries again in %2 s.%3")
                  .arg(m_backendUrl)
                  .arg(m_reconnectSeconds)
                  .arg(since)
            : tr("Connecting to the backend at %1.%2").arg(m_backendUrl, since);
        severity = u"critical"_s;
    } else if (m_state == u"signedIn"_s && m_coordinationDegraded) {
        banner = tr("Rewrap coordination between the backend replicas is degraded (%1): syncs may "
                    "be repeated or delayed. Check the coordination store.")
                     .arg(m_coordinationName);
        severity = u"warning"_s;
    } else if (m_state == u"signedIn"_s && m_clockSkewSeconds
               && std::abs(*m_clockSkewSeconds) > kMaxClockSkewSeconds) {
        const qint64 skew = *m_clockSkewSeconds;
        banner = tr("This computer's clock is %1 s %2 the backend's, so the times shown may be "
                    "off: correct the clock.")
                     .arg(std::abs(skew))
                     .arg(skew > 0 ? u"behind"_s : u"ahead of"_s);
        severity = u"warning"_s;
    }
    if (banner == m_banner && severity == m_bannerSeverity)
        return;
    m_banner = banner;
    m_bannerSeverity = severity;
    Q_EMIT bannerChanged();
}

// ---- Property accessors ---------------------------------------------------------

QAbstractItemModel *ConsoleSession::credentials() const
{
    return &m_workspace->credentialFilter();
}

QObject *ConsoleSession::credentialFilter() const
{
    return &m_workspace->credentialFilter();
}

QAbstractItemModel *ConsoleSession::credentialAgents() const
{
    return &m_workspace->credentialAgents();
}

void ConsoleSession::setSelectedCredentialId(const QString &credentialId)
{
    if (m_selectedCredentialId == credentialId)
        return;
    m_selectedCredentialId = credentialId;
    m_workspace->selectCredential(credentialId);
    Q_EMIT selectedCredentialIdChanged();
    refreshSelection();
}

QAbstractItemModel *ConsoleSession::agents() const
{
    return &m_workspace->agentFilter();
}

QObject *ConsoleSession::agentFilter() const
{
    return &m_workspace->agentFilter();
}

QAbstractItemModel *ConsoleSession::alerts() const
{
    return &m_workspace->alertFilter();
}

QObject *ConsoleSession::alertFilter() const
{
    return &m_workspace->alertFilter();
}

QAbstractItemModel *ConsoleSession::audit() const
{
    return &m_workspace->audit();
}

QVariantMap ConsoleSession::auditVerification() const
{
    const models::AuditVerification verification = m_workspace->audit().verification();
    return { { u"checked"_s, verification.checked },
             { u"intact"_s, verification.intact },
             { u"rowsVerified"_s, verification.rowsVerified },
             { u"headRowId"_s, verification.headRowId },
             { u"verifiedAt"_s, verification.verifiedAt },
             { u"firstBreakRowId"_s, verification.firstBreakRowId },
             { u"firstBreakMessage"_s, verification.firstBreakMessage } };
}

bool ConsoleSession::auditHasMore() const
{
    return m_workspace->audit().hasMore();
}

models::CredentialsModel &ConsoleSession::credentialsModel() const
{
    return m_workspace->credentials();
}

models::AgentsModel &ConsoleSession::agentsModel() const
{
    return m_workspace->agents();
}

models::AlertsModel &ConsoleSession::alertsModel() const
{
    return m_workspace->alerts();
}

models::AuditModel &ConsoleSession::auditModel() const
{
    return m_workspace->audit();
}

int ConsoleSession::snapshotCount() const
{
    return m_feed->snapshotCount();
}

QString ConsoleSession::agentName(const QString &agentId) const
{
    const QString name = m_agentNames.value(agentId);
    return name.isEmpty() ? agentId.left(8) : name;
}

} // namespace sealrelay::console
