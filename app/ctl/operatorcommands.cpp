// sealrelayctl's operator commands: the operator key and the pinned trusted
// operators, login (token and profile), and the read-mostly backend views:
// status, alerts and the audit list.
#include "auditevents.h"
#include "cafile.h"
#include "clientsession.h"
#include "commandline.h"
#include "credentialcreator.h"
#include "ids.h"
#include "keychainstore.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QFileInfo>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>

#include <limits>
#include <optional>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::ctl {

namespace {

constexpr qsizetype kMaxTokenBytes = 4096;

// Returns the usage error for an option that takes a whole number from
// `minimum` to `maximum`, or nothing when the value is one. Checked here, so
// a typo is a usage error before any request.
std::optional<QString> wholeNumberError(const QString &option, const QString &value, qint64 minimum,
                                        qint64 maximum)
{
    bool ok = false;
    const qint64 number = value.toLongLong(&ok);
    if (ok && number >= minimum && number <= maximum)
        return std::nullopt;
    return u"invalid --%1 \"%2\": expected a whole number from %3 to %4"_s.arg(option, value)
        .arg(minimum)
        .arg(maximum);
}

QJsonObject operatorKeyJson(const client::OperatorKey &key)
{
    return { { u"trusted_operators_line"_s, key.trustedOperatorsLine() },
             { u"fingerprint"_s, key.fingerprint() },
             { u"location"_s, key.location() } };
}

void printOperatorKey(const client::OperatorKey &key)
{
    printOut(u"Trusted-operators line (add it to each agent's trusted-operators file):\n%1\n"
             "Fingerprint: %2\nKept in: %3\n"_s
                 .arg(key.trustedOperatorsLine(), key.displayFingerprint(), key.location())
                 .toUtf8());
}

Result<client::TrustedOperators> loadTrusted(const QString &profile)
{
    return client::TrustedOperators::load(client::TrustedOperators::defaultPath(profile));
}

// ---- operator ---------------------------------------------------------------

int operatorInitCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    options.addTo(parser);
    const CommandHelp help {
        u"[--key-file PATH [--passphrase-file PATH]] [--profile NAME] [--json]"_s,
        u"Generates the operator signing key (Ed25519) unless one exists, and pins it in the "
        "profile's trusted operators. The key is kept in the OS keychain (service \"sealrelay\"), "
        "or with --key-file in a file encrypted under a passphrase (scrypt, AES-256-GCM). The "
        "passphrase comes from --passphrase-file, $SEALRELAY_OPERATOR_PASSPHRASE, or a prompt "
        "without echo, never from an argument. The key file path is recorded in the profile."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;

    Result<Profile> profile = Profile::load(options.profileName(parser));
    if (!profile)
        return failWith(ExitUsageError, profile.error());
    if (parser.isSet(options.keyFile))
        profile->operatorKeyFile = QFileInfo(parser.value(options.keyFile)).absoluteFilePath();

    const bool keyFileExists =
        !profile->operatorKeyFile.isEmpty() && QFileInfo::exists(profile->operatorKeyFile);
    Result<client::OperatorKeyStore> store =
        operatorKeyStore(options, parser, profile.value(), !keyFileExists);
    if (!store)
        return failWith(ExitUsageError, store.error());
    Result<client::OperatorKey> key = store->loadOrCreate();
    if (!key)
        return failWith(key.error().reason == Reason::DecryptFailed ? ExitVerificationFailed
                                                                    : ExitUsageError,
                        key.error());

    Result<client::TrustedOperators> trusted = loadTrusted(profile->name);
    if (!trusted)
        return failWith(ExitUsageError, trusted.error());
    Result<bool> added = trusted->add(key->publicKey());
    if (!added)
        return failWith(ExitUsageError, added.error());
    Result<void> saved = profile->save();
    if (!saved)
        return failWith(ExitUsageError, saved.error());

    if (parser.isSet(options.json)) {
        QJsonObject object = operatorKeyJson(key.value());
        object.insert(u"trusted_operators_file"_s, trusted->path());
        printJson(object);
        return ExitSuccess;
    }
    printOperatorKey(key.value());
    printOut(u"Pinned in: %1\n"_s.arg(trusted->path()).toUtf8());
    return ExitSuccess;
}

int operatorShowCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    options.addTo(parser);
    const CommandHelp help {
        u"[--key-file PATH [--passphrase-file PATH]] [--profile NAME] [--json]"_s,
        u"Prints the operator's public key as a line for an agent's trusted-operators file, "
        "and its fingerprint (SHA-256 of the SubjectPublicKeyInfo)."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;

    Result<Profile> profile = Profile::load(options.profileName(parser));
    if (!profile)
        return failWith(ExitUsageError, profile.error());
    Result<client::OperatorKeyStore> store =
        operatorKeyStore(options, parser, profile.value(), false);
    if (!store)
        return failWith(ExitUsageError, store.error());
    Result<client::OperatorKey> key = store->load();
    if (!key) {
        if (key.error().reason == Reason::NotFound)
            return fail(ExitUsageError,
                        u"no operator key in %1; run 'sealrelayctl operator init' "
                        "first"_s.arg(store->location()));
        return failWith(key.error().reason == Reason::DecryptFailed ? ExitVerificationFailed
                                                                    : ExitUsageError,
                        key.error());
    }
    if (parser.isSet(options.json))
        printJson(operatorKeyJson(key.value()));
    else
        printOperatorKey(key.value());
    return ExitSuccess;
}

// Reads KEY as a trusted-operators line (base64 raw Ed25519).
Result<Ed25519PublicKey> parseOperatorKeyArgument(const QString &text)
{
    Result<Ed25519PublicKey> key = Ed25519PublicKey::fromBase64(text.trimmed(), u"KEY");
    if (!key)
        return makeError(Reason::InvalidKey,
                         u"KEY \"%1\" is not a base64 raw Ed25519 public key; copy the line "
                         "'sealrelayctl operator show' prints"_s.arg(text));
    return key;
}

int operatorTrustChange(const QStringList &arguments, bool trust)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    parser.addPositionalArgument(u"KEY"_s, u"Base64 raw Ed25519 public key."_s);
    const CommandHelp help {
        u"KEY [--profile NAME] [--json]"_s,
        trust ? u"Pins another operator's public key, so credentials and agent certificates it "
                "signed are accepted by this profile."_s
              : u"Removes an operator's public key from this profile's trusted operators."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;

    Result<Ed25519PublicKey> key =
        parseOperatorKeyArgument(parser.positionalArguments().constFirst());
    if (!key)
        return failWith(ExitUsageError, key.error());
    Result<client::TrustedOperators> trusted = loadTrusted(options.profileName(parser));
    if (!trusted)
        return failWith(ExitUsageError, trusted.error());
    Result<bool> changed = trust ? trusted->add(key.value()) : trusted->remove(key.value());
    if (!changed)
        return failWith(ExitUsageError, changed.error());

    const QString fingerprint = client::displayOperatorFingerprint(key.value());
    if (parser.isSet(options.json)) {
        printJson({ { u"fingerprint"_s, client::operatorFingerprint(key.value()) },
                    { u"changed"_s, changed.value() },
                    { u"trusted_operators_file"_s, trusted->path() } });
    } else if (trust) {
        printOut((changed.value() ? u"trusted %1\n"_s : u"already trusted: %1\n"_s)
                     .arg(fingerprint)
                     .toUtf8());
    } else {
        printOut((changed.value() ? u"untrusted %1\n"_s : u"was not trusted: %1\n"_s)
                     .arg(fingerprint)
                     .toUtf8());
    }
    return ExitSuccess;
}

int operatorTrustCommand(const QStringList &arguments)
{
    return operatorTrustChange(arguments, true);
}

int operatorUntrustCommand(const QStringList &arguments)
{
    return operatorTrustChange(arguments, false);
}

int operatorListCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    const CommandHelp help { u"[--profile NAME] [--json]"_s,
                             u"Lists the operator keys this profile trusts: the fingerprint, then "
                             "the trusted-operators line."_s };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;

    Result<client::TrustedOperators> trusted = loadTrusted(options.profileName(parser));
    if (!trusted)
        return failWith(ExitUsageError, trusted.error());
    if (parser.isSet(options.json)) {
        QJsonArray keys;
        for (const client::TrustedOperator &entry : trusted->list())
            keys.append(QJsonObject { { u"fingerprint"_s, entry.fingerprint },
                                      { u"public_key"_s, entry.key.rawBase64() } });
        printJson({ { u"trusted_operators_file"_s, trusted->path() }, { u"operators"_s, keys } });
        return ExitSuccess;
    }
    if (trusted->isEmpty()) {
        printOut(u"No trusted operators in %1; run 'sealrelayctl operator init'.\n"_s
                     .arg(trusted->path())
                     .toUtf8());
        return ExitSuccess;
    }
    for (const client::TrustedOperator &entry : trusted->list())
        printOut(
            u"%1  %2\n"_s.arg(client::displayOperatorFingerprint(entry.key), entry.key.rawBase64())
                .toUtf8());
    return ExitSuccess;
}

// ---- login ------------------------------------------------------------------

Result<QByteArray> readToken()
{
    if (!standardInputIsTerminal()) {
        Result<QByteArray> input = readStandardInput(kMaxTokenBytes);
        if (!input)
            return input.error();
        QByteArray token = input->trimmed();
        client::wipe(input.value());
        return token;
    }
    return promptHidden(u"API token"_s);
}

int loginCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption backend(u"backend"_s,
                                     u"Backend base URL, e.g. https://backend:8443."_s, u"URL"_s);
    const QCommandLineOption tokenFile(
        u"token-file"_s, u"Keep the token in this file (mode 0600) instead of the OS keychain."_s,
        u"PATH"_s);
    const QCommandLineOption caFile(
        u"ca-file"_s,
        u"Also trust the CA certificates (PEM) in this file for the backend's TLS certificate, "
        "for a backend whose certificate an internal CA issued. The profile keeps the path, so "
        "every later command and the console use it."_s,
        u"PATH"_s);
    parser.addOptions({ backend, tokenFile, caFile, options.profile, options.json });
    const CommandHelp help {
        u"--backend URL [--token-file PATH] [--ca-file PATH] [--profile NAME] [--json] < token"_s,
        u"Reads an API token from standard input, or from a prompt without echo, checks it "
        "against the backend, and records the backend URL and the token's org id in the profile "
        "(<config folder>/sealrelay/profile-NAME.json). The token is kept in the OS keychain "
        "(service \"sealrelay\", entry api-token:NAME) or, with --token-file, in a 0600 file."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    if (auto done = requireOption(parser, u"backend"_s))
        return *done;

    const QUrl url(parser.value(backend));
    if (!url.isValid() || (url.scheme() != u"https"_s && url.scheme() != u"http"_s)
        || url.host().isEmpty())
        return fail(
            ExitUsageError,
            u"invalid --backend \"%1\": expected https://HOST:PORT"_s.arg(parser.value(backend)));

    const QString caPath =
        parser.isSet(caFile) ? QFileInfo(parser.value(caFile)).absoluteFilePath() : QString();
    Result<QList<QSslCertificate>> caCertificates = readCaCertificates(caPath, u"--ca-file");
    if (!caCertificates)
        return failWith(ExitUsageError, caCertificates.error());

    Result<QByteArray> token = readToken();
    if (!token)
        return failWith(ExitUsageError, token.error());
    if (token->isEmpty())
        return fail(ExitUsageError, u"the token is empty; pipe it into standard input"_s);

    // GET /api/audit/verify is the one route every role may call that names
    // the token's org.
    client::BackendClient client(url, QString::fromUtf8(token.value()));
    client.setCaCertificates(caCertificates.value());
    const client::ApiResult reply = client.get(u"/api/audit/verify"_s);
    if (!reply) {
        client::wipe(token.value());
        return failRequest(reply.error());
    }
    const QString orgId = reply->json.value(u"org_id"_s).toString();
    if (orgId.isEmpty()) {
        client::wipe(token.value());
        return fail(ExitBackendError,
                    u"GET /api/audit/verify returned no org_id; check that "
                    "--backend is a sealrelay backend"_s);
    }

    const QString profileName = options.profileName(parser);
    Result<Profile> profile = Profile::load(profileName);
    if (!profile) {
        client::wipe(token.value());
        return failWith(ExitUsageError, profile.error());
    }
    profile->backendUrl = url.toString(QUrl::StripTrailingSlash);
    profile->orgId = orgId;
    profile->caFile = caPath;

    Result<void> stored;
    if (parser.isSet(tokenFile)) {
        profile->tokenFile = QFileInfo(parser.value(tokenFile)).absoluteFilePath();
        QByteArray line = token.value() + '\n';
        stored = client::writePrivateFile(profile->tokenFile, line, client::WriteMode::Replace);
        client::wipe(line);
    } else {
        profile->tokenFile.clear();
        const KeychainStore keychain(client::kKeychainService, u"pass --token-file PATH instead"_s);
        stored = keychain.write(tokenKeychainKey(profileName), token.value());
    }
    client::wipe(token.value());
    if (!stored)
        return failWith(ExitUsageError, stored.error());
    Result<void> saved = profile->save();
    if (!saved)
        return failWith(ExitUsageError, saved.error());

    if (parser.isSet(options.json)) {
        printJson(profile->toJson());
        return ExitSuccess;
    }
    printOut(u"logged in to %1, org %2\nprofile: %3\ntoken kept in: %4\n"_s
                 .arg(profile->backendUrl, orgId, Profile::path(profileName),
                      profile->tokenFile.isEmpty()
                          ? u"OS keychain entry "_s + tokenKeychainKey(profileName)
                          : profile->tokenFile)
                 .toUtf8());
    return ExitSuccess;
}

// ---- status, alerts, audit ----------------------------------------------------

// GET on a route that needs no token; status 0 when unreachable.
QPair<int, QJsonObject> getWithoutToken(const client::BackendClient &session,
                                        const QString &path)
{
    client::BackendClient client { session.baseUrl(), QString() };
    client.setCaCertificates(session.caCertificates());
    client.setTimeout(std::chrono::seconds(10));
    const client::ApiResult reply = client.get(path);
    if (reply)
        return { reply->status, reply->json };
    return { reply.error().status, {} };
}

int statusCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    const CommandHelp help {
        u"[--profile NAME] [--json]"_s,
        u"Prints the backend's health and readiness, its rewrap coordination "
        "status, and counts of agents by status (approved ones also by connection: online, "
        "backfilling or offline), credentials and open alerts. Exits with 3 "
        "when the backend cannot be reached, or is not healthy or not ready."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());
    client::BackendClient &backend = session.value()->backend();

    const auto health = getWithoutToken(backend, u"/healthz"_s);
    if (health.first == 0) {
        // Status 0: no HTTP response at all, so the other requests would fail
        // the same way.
        const QString url = backend.baseUrl().toString();
        if (parser.isSet(options.json)) {
            printJson({ { u"backend"_s, url },
                        { u"reachable"_s, false },
                        { u"healthy"_s, false },
                        { u"ready"_s, false } });
        } else {
            printOut(u"backend: %1\nhealth: unreachable: nothing responds at %1; check that the "
                     "backend runs and that the URL is right\n"_s.arg(url)
                         .toUtf8());
        }
        return ExitBackendError;
    }
    const auto ready = getWithoutToken(backend, u"/readyz"_s);
    const client::ApiResult coordination = backend.get(u"/api/system/rewrap-coordination-status"_s);
    if (!coordination)
        return failRequest(coordination.error());
    const client::ApiResult agents = backend.get(u"/api/agents"_s);
    if (!agents)
        return failRequest(agents.error());
    const client::ApiResult credentials = backend.get(u"/api/credentials"_s);
    if (!credentials)
        return failRequest(credentials.error());
    const client::ApiResult alerts =
        backend.get(u"/api/alerts"_s,
                    QUrlQuery { { u"acknowledged"_s, u"false"_s }, { u"limit"_s, u"500"_s } });
    if (!alerts)
        return failRequest(alerts.error());

    QJsonObject agentCounts;
    // Approved agents by connection: online, backfilling or offline.
    QJsonObject connectionCounts;
    for (const QJsonValue &row : agents->json.value(u"agents"_s).toArray()) {
        const QString status = row.toObject().value(u"status"_s).toString();
        agentCounts.insert(status, agentCounts.value(status).toInt() + 1);
        if (status != u"approved"_s)
            continue;
        const QString connection =
            row.toObject().value(u"sync"_s).toObject().value(u"connection"_s).toString();
        connectionCounts.insert(connection, connectionCounts.value(connection).toInt() + 1);
    }
    // The backend's view of delivery; the console verifies each receipt.
    qsizetype stalled = 0;
    qsizetype synced = 0;
    const QJsonArray credentialRows = credentials->json.value(u"credentials"_s).toArray();
    for (const QJsonValue &row : credentialRows) {
        const QJsonObject sync = row.toObject().value(u"sync"_s).toObject();
        stalled += sync.value(u"stalled"_s).toInt() > 0;
        synced += sync.value(u"delivered"_s).toInt() == sync.value(u"in_scope"_s).toInt();
    }
    const qsizetype openAlerts = alerts->json.value(u"alerts"_s).toArray().size();

    const bool healthy = health.first == 200;
    const bool isReady = ready.first == 200;
    if (parser.isSet(options.json)) {
        printJson({ { u"backend"_s, session.value()->profile().backendUrl },
                    { u"org_id"_s, session.value()->profile().orgId },
                    { u"reachable"_s, true },
                    { u"healthy"_s, healthy },
                    { u"ready"_s, isReady },
                    { u"rewrap_coordination"_s, coordination->json },
                    { u"agents"_s, agentCounts },
                    { u"approved_agents_by_connection"_s, connectionCounts },
                    { u"credentials"_s, credentialRows.size() },
                    { u"credentials_synced"_s, synced },
                    { u"credentials_with_stalled_agents"_s, stalled },
                    { u"open_alerts"_s, openAlerts } });
        return healthy && isReady ? ExitSuccess : ExitBackendError;
    }
    QStringList connectionText;
    for (auto it = connectionCounts.begin(); it != connectionCounts.end(); ++it)
        connectionText.append(u"%1 %2"_s.arg(it.value().toInt()).arg(it.key()));
    QStringList agentText;
    for (auto it = agentCounts.begin(); it != agentCounts.end(); ++it) {
        QString count = u"%1 %2"_s.arg(it.value().toInt()).arg(it.key());
        if (it.key() == u"approved"_s && !connectionText.isEmpty())
            count += u" ("_s + connectionText.join(u", "_s) + u')';
        agentText.append(count);
    }
    printOut(
        u"backend: %1 (org %2)\nhealth: %3\nready: %4\ncoordination: %5%6 (replica %7)\n"
        "agents: %8\ncredentials: %9 (%10 stored by every agent in scope, %11 with stalled "
        "agents)\nopen alerts: %12\n"_s
            .arg(session.value()->profile().backendUrl, session.value()->profile().orgId,
                 healthy ? u"ok"_s : u"failed (HTTP %1)"_s.arg(health.first),
                 isReady ? u"ready"_s : u"not ready (HTTP %1)"_s.arg(ready.first),
                 coordination->json.value(u"coordination"_s).toString(),
                 coordination->json.value(u"degraded"_s).toBool() ? u", DEGRADED"_s : QString(),
                 coordination->json.value(u"replica_id"_s).toString(),
                 agentText.isEmpty() ? u"none"_s : agentText.join(u", "_s))
            .arg(credentialRows.size())
            .arg(synced)
            .arg(stalled)
            .arg(openAlerts)
            .toUtf8());
    // A backend that responds but reports itself unhealthy or not ready is a
    // failure for scripts that check the exit code.
    return healthy && isReady ? ExitSuccess : ExitBackendError;
}

int alertsListCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption open(u"open"_s, u"Only alerts not yet acknowledged."_s);
    const QCommandLineOption severity(u"severity"_s, u"medium, high or critical."_s, u"LEVEL"_s);
    const QCommandLineOption limit(u"limit"_s,
                                   u"At most this many alerts (1 to 500, default 100)."_s, u"N"_s);
    parser.addOptions({ open, severity, limit, options.profile, options.json });
    const CommandHelp help { u"[--open] [--severity LEVEL] [--limit N] [--profile NAME] [--json]"_s,
                             u"Lists alerts, the most recently seen first."_s };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    if (parser.isSet(limit)) {
        if (auto invalid = wholeNumberError(u"limit"_s, parser.value(limit), 1, 500))
            return fail(ExitUsageError, *invalid);
    }
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());

    QUrlQuery query;
    if (parser.isSet(open))
        query.addQueryItem(u"acknowledged"_s, u"false"_s);
    if (parser.isSet(severity))
        query.addQueryItem(u"severity"_s, parser.value(severity));
    if (parser.isSet(limit))
        query.addQueryItem(u"limit"_s, parser.value(limit));
    const client::ApiResult reply = session.value()->backend().get(u"/api/alerts"_s, query);
    if (!reply)
        return failRequest(reply.error());
    if (parser.isSet(options.json)) {
        printJson(reply->json);
        return ExitSuccess;
    }
    const QJsonArray alerts = reply->json.value(u"alerts"_s).toArray();
    if (alerts.isEmpty()) {
        printOut(parser.isSet(open) ? "No open alerts.\n" : "No alerts.\n");
        return ExitSuccess;
    }
    TextTable table({ u"ID"_s, u"SEVERITY"_s, u"TYPE"_s, u"SUBJECT"_s, u"COUNT"_s, u"LAST SEEN"_s,
                      u"ACKNOWLEDGED"_s });
    for (const QJsonValue &value : alerts) {
        const QJsonObject alert = value.toObject();
        const QJsonValue acknowledgedAt = alert.value(u"acknowledged_at"_s);
        table.addRow({ alert.value(u"alert_id"_s).toString(), alert.value(u"severity"_s).toString(),
                       alert.value(u"type"_s).toString(), alert.value(u"subject"_s).toString(),
                       QString::number(alert.value(u"count"_s).toInteger()),
                       alert.value(u"last_seen"_s).toString(),
                       acknowledgedAt.isNull() ? u"no"_s : acknowledgedAt.toString() });
    }
    printOut(table.toUtf8());
    return ExitSuccess;
}

int alertsAckCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    parser.addPositionalArgument(u"ID"_s, u"Alert ids (1 to 500)."_s, u"ID..."_s);
    const CommandHelp help { u"ID... [--profile NAME] [--json]"_s,
                             u"Acknowledges alerts by id. Unknown and already acknowledged ids are "
                             "listed as skipped."_s };
    if (auto done = parseCommandOptions(parser, arguments, help, 500))
        return *done;
    if (parser.positionalArguments().isEmpty())
        return fail(ExitUsageError, u"give at least one alert id; see 'alerts list --open'"_s);
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());

    const client::ApiResult reply = session.value()->backend().post(
        u"/api/alerts/acknowledge"_s,
        { { u"ids"_s, QJsonArray::fromStringList(parser.positionalArguments()) } });
    if (!reply)
        return failRequest(reply.error());
    if (parser.isSet(options.json)) {
        printJson(reply->json);
        return ExitSuccess;
    }
    for (const QJsonValue &id : reply->json.value(u"acknowledged"_s).toArray())
        printOut(u"acknowledged %1\n"_s.arg(id.toString()).toUtf8());
    for (const QJsonValue &id : reply->json.value(u"skipped"_s).toArray())
        printOut(u"skipped %1 (unknown or already acknowledged)\n"_s.arg(id.toString()).toUtf8());
    return ExitSuccess;
}

int auditListCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QList<QCommandLineOption> filters {
        { u"credential"_s,
          u"Only rows of this credential: its id, or the name of an active credential."_s,
          u"CREDENTIAL"_s },
        { u"agent"_s, u"Only rows of this agent (id or name)."_s, u"AGENT"_s },
        { u"event"_s, u"Only this event, e.g. credential_created."_s, u"EVENT"_s },
        { u"from"_s,
          u"Rows at or after this RFC 3339 time, e.g. 2026-12-04T02:05:00Z or "
          "2026-12-04T03:05:00+01:00."_s,
          u"TIME"_s },
        { u"to"_s, u"Rows before this RFC 3339 time."_s, u"TIME"_s },
        { u"after-id"_s, u"Rows after this row id (the next_after_id of a page)."_s, u"ROW_ID"_s },
        { u"limit"_s, u"At most this many rows (1 to 500, default 100)."_s, u"N"_s },
    };
    parser.addOptions(filters);
    parser.addOptions({ options.profile, options.json });
    const CommandHelp help {
        u"[--credential CREDENTIAL] [--agent AGENT] [--event EVENT] [--from TIME] [--to TIME] "
        "[--after-id ROW_ID] [--limit N] [--profile NAME] [--json]"_s,
        u"Lists audit trail rows, oldest first. A full page ends with the --after-id to pass "
        "for the next one. 'sealrelayctl audit verify' checks the hash chain.\n\nEVENT is one "
        "of: %1."_s.arg(auditEventNames().join(u", "))
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    if (parser.isSet(u"limit"_s)) {
        if (auto invalid = wholeNumberError(u"limit"_s, parser.value(u"limit"_s), 1, 500))
            return fail(ExitUsageError, *invalid);
    }
    if (parser.isSet(u"after-id"_s)) {
        if (auto invalid = wholeNumberError(u"after-id"_s, parser.value(u"after-id"_s), 0,
                                            std::numeric_limits<qint64>::max()))
            return fail(ExitUsageError, *invalid);
    }
    if (const QString event = parser.value(u"event"_s);
        parser.isSet(u"event"_s) && !isAuditEvent(event)) {
        return fail(ExitUsageError,
                    u"invalid --event \"%1\": expected one of %2"_s.arg(
                        event, auditEventNames().join(u", ")));
    }
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());

    // The agent list is read at most once: to resolve --agent NAME, and to
    // show the rows' agents by name.
    std::optional<Result<QList<client::AgentRow>>> agentList;
    const auto agents = [&]() -> const Result<QList<client::AgentRow>> & {
        if (!agentList)
            agentList = client::fetchAgents(session.value()->backend());
        return *agentList;
    };

    QUrlQuery query;
    for (const QCommandLineOption &filter : filters) {
        if (!parser.isSet(filter))
            continue;
        const QString name = filter.names().constFirst();
        QString value = parser.value(filter);
        if (name == u"from"_s || name == u"to"_s) {
            // The backend takes the one form formatTimestamp() writes.
            const QDateTime time = QDateTime::fromString(value, Qt::ISODateWithMs);
            if (!time.isValid() || time.timeSpec() == Qt::LocalTime)
                return fail(ExitUsageError,
                            u"invalid --%1 \"%2\": expected an RFC 3339 time with its offset, "
                            "e.g. 2026-12-04T02:05:00Z"_s.arg(name, value));
            value = formatTimestamp(time);
        } else if (name == u"credential"_s) {
            Result<QString> id = resolveCredentialId(session.value()->backend(), value);
            if (!id)
                return failWith(ExitUsageError, id.error());
            value = id.value();
        } else if (name == u"agent"_s && !isCanonicalUuid(value)) {
            const Result<QList<client::AgentRow>> &rows = agents();
            if (!rows)
                return failWith(ExitBackendError, rows.error());
            Result<client::AgentRow> row = findAgent(rows.value(), value);
            if (!row)
                return failWith(ExitUsageError, row.error());
            value = row->agentId;
        }
        query.addQueryItem(name == u"after-id"_s ? u"after_id"_s : name,
                           QString::fromLatin1(QUrl::toPercentEncoding(value)));
    }
    const client::ApiResult reply = session.value()->backend().get(u"/api/audit"_s, query);
    if (!reply)
        return failRequest(reply.error());
    if (parser.isSet(options.json)) {
        printJson(reply->json);
        return ExitSuccess;
    }
    const QJsonArray records = reply->json.value(u"records"_s).toArray();
    if (records.isEmpty())
        printOut("No audit rows match.\n");

    // Agents are shown by name, or by id when the agent list cannot be read.
    QHash<QString, QString> agentNames;
    if (!records.isEmpty() && agents()) {
        for (const client::AgentRow &agent : agents().value())
            agentNames.insert(agent.agentId, agent.name);
    }
    const auto agentLabel = [&](const QString &agentId) {
        return agentNames.value(agentId, agentId);
    };

    TextTable table({ u"ID"_s, u"AT"_s, u"EVENT"_s, u"OUTCOME"_s, u"ACTOR"_s, u"SUBJECT"_s,
                      u"REASON"_s, u"DETAIL"_s });
    for (const QJsonValue &value : records) {
        const QJsonObject row = value.toObject();
        QString actor = row.value(u"actor"_s).toString();
        if (actor.startsWith(u"agent:"_s))
            actor = u"agent "_s + agentLabel(actor.mid(6));

        QStringList subjects;
        if (!row.value(u"credential_id"_s).isNull())
            subjects.append(u"credential "_s + row.value(u"credential_id"_s).toString());
        if (!row.value(u"agent_id"_s).isNull())
            subjects.append(u"agent "_s + agentLabel(row.value(u"agent_id"_s).toString()));

        // The trigger, source and version that the row's details name, if any.
        const QJsonObject details = row.value(u"details"_s).toObject();
        QStringList detail;
        if (details.contains(u"trigger"_s))
            detail.append(u"trigger "_s + details.value(u"trigger"_s).toString());
        if (details.contains(u"peer_agent_id"_s))
            detail.append(u"from peer "_s
                          + agentLabel(details.value(u"peer_agent_id"_s).toString()));
        else if (details.contains(u"source"_s))
            detail.append(u"from "_s + details.value(u"source"_s).toString());
        if (details.value(u"version"_s).isDouble())
            detail.append(u"version %1"_s.arg(details.value(u"version"_s).toInteger()));

        table.addRow({ QString::number(row.value(u"id"_s).toInteger()),
                       row.value(u"at"_s).toString(), row.value(u"event"_s).toString(),
                       row.value(u"outcome"_s).toString(), actor, subjects.join(u", "_s),
                       row.value(u"reason"_s).toString(), detail.join(u", "_s) });
    }
    if (!table.isEmpty())
        printOut(table.toUtf8());
    // Only a full page carries a number here; the others carry null or nothing.
    if (reply->json.value(u"next_after_id"_s).isDouble())
        printOut(
            u"more rows: --after-id %1\n"_s.arg(reply->json.value(u"next_after_id"_s).toInteger())
                .toUtf8());
    return ExitSuccess;
}

} // namespace

QList<Command> operatorCommands()
{
    return {
        { { u"operator"_s, u"init"_s },
          u"Create the operator signing key and pin it."_s,
          operatorInitCommand },
        { { u"operator"_s, u"show"_s },
          u"Print the operator key's trusted-operators line."_s,
          operatorShowCommand },
        { { u"operator"_s, u"trust"_s },
          u"Pin another operator's public key."_s,
          operatorTrustCommand },
        { { u"operator"_s, u"untrust"_s },
          u"Remove a pinned operator key."_s,
          operatorUntrustCommand },
        { { u"operator"_s, u"list"_s }, u"List the pinned operator keys."_s, operatorListCommand },
        { { u"login"_s }, u"Store an API token and the backend of a profile."_s, loginCommand },
        { { u"status"_s }, u"Backend health, coordination and counts."_s, statusCommand },
        { { u"alerts"_s, u"list"_s }, u"List alerts."_s, alertsListCommand },
        { { u"alerts"_s, u"ack"_s }, u"Acknowledge alerts by id."_s, alertsAckCommand },
        { { u"audit"_s, u"list"_s }, u"List audit trail rows."_s, auditListCommand },
    };
}

} // namespace sealrelay::ctl
