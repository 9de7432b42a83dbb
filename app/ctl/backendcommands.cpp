// sealrelayctl's backend commands: create and revoke API tokens, and verify
// the audit trail's hash chain, either through the backend's REST API or
// offline on a SQLite file or PostgreSQL database. Verification remembers the
// last verified head per org in $XDG_STATE_HOME/sealrelay/audit-heads.json,
// so history rewritten before that head is reported on the next run.
#include "commandline.h"

#include "cafile.h"
#include "canonicaljson.h"
#include "clientprofile.h"
#include "ids.h"
#include "sqlstorage.h"

#include <QCommandLineParser>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSaveFile>
#include <QStandardPaths>
#include <QSslConfiguration>
#include <QTimer>
#include <QUrlQuery>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::ctl {

namespace {

constexpr int kRequestTimeoutMs = 30000;

struct BackendTarget {
    QUrl base;
    QString token;
    QList<QSslCertificate> caCertificates; // the profile's ca_file, trusted besides the system's
};

struct HttpReply {
    int status = 0;
    QJsonObject json;
    QString networkError;
};

const QCommandLineOption kBackendOption(
    u"backend"_s,
    u"Backend base URL, e.g. https://backend.example:8443. Default: $SEALRELAY_BACKEND, else "
    "the login profile's (--profile)."_s,
    u"URL"_s);
const QCommandLineOption kProfileOption(
    u"profile"_s,
    u"Login profile whose backend, token and CA file fill in what is not given. Default: "
    "$SEALRELAY_PROFILE, or \"default\"."_s,
    u"NAME"_s);
const QCommandLineOption kTokenOption(
    u"token"_s,
    u"API bearer token. Default: $SEALRELAY_TOKEN, else the token that 'sealrelayctl login' "
    "stored for the profile."_s,
    u"TOKEN"_s);

// parseCommandOptions() plus an exact count of positional arguments.
std::optional<int> parseOptions(QCommandLineParser &parser, const QStringList &arguments,
                                const CommandHelp &help, qsizetype positional)
{
    if (auto done = parseCommandOptions(parser, arguments, help, positional))
        return done;
    if (parser.positionalArguments().size() != positional)
        return fail(ExitUsageError, u"missing argument: %1 %2"_s.arg(arguments.value(0), help.synopsis));
    return std::nullopt;
}

Result<BackendTarget> backendTarget(const QCommandLineParser &parser)
{
    QString url = parser.value(kBackendOption);
    if (url.isEmpty())
        url = qEnvironmentVariable("SEALRELAY_BACKEND");
    QString token = parser.value(kTokenOption);
    if (token.isEmpty())
        token = qEnvironmentVariable("SEALRELAY_TOKEN");
    // The login profile fills in the backend and token that are not given,
    // and its CA file serves the backend it names.
    QList<QSslCertificate> caCertificates;
    QString name = parser.value(kProfileOption);
    if (name.isEmpty())
        name = qEnvironmentVariable("SEALRELAY_PROFILE", u"default"_s);
    Result<client::Profile> profile = client::Profile::load(name);
    if (profile && !profile->backendUrl.isEmpty()) {
        const bool sameBackend = url.isEmpty() || url == profile->backendUrl;
        if (url.isEmpty())
            url = profile->backendUrl;
        if (token.isEmpty() && sameBackend) {
            Result<SecureBuffer> stored = client::readStoredToken(profile.value());
            if (stored)
                token = QString::fromUtf8(stored->view());
        }
        if (sameBackend) {
            Result<QList<QSslCertificate>> read = readCaCertificates(
                profile->caFile, u"ca_file of the profile, set by 'login --ca-file'");
            if (!read)
                return read.error();
            caCertificates = std::move(read).value();
        }
    }
    if (url.isEmpty())
        return makeError(Reason::Malformed,
                         u"no backend given: run 'sealrelayctl login', pass --backend URL or set "
                         "SEALRELAY_BACKEND"_s);
    if (token.isEmpty())
        return makeError(Reason::Malformed,
                         u"no token given: run 'sealrelayctl login', pass --token TOKEN or set "
                         "SEALRELAY_TOKEN"_s);
    const QUrl base(url);
    if (!base.isValid() || (base.scheme() != u"https"_s && base.scheme() != u"http"_s))
        return makeError(Reason::Malformed,
                         u"invalid --backend \"%1\": expected http(s)://HOST:PORT"_s.arg(url));
    return BackendTarget{base, token, caCertificates};
}

HttpReply call(const BackendTarget &target, const QByteArray &method, const QString &path,
               const QUrlQuery &query = {}, const QJsonObject &body = {})
{
    QUrl url = target.base;
    url.setPath(path);
    url.setQuery(query);
    QNetworkRequest request(url);
    request.setRawHeader("Authorization", "Bearer " + target.token.toUtf8());
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    if (!target.caCertificates.isEmpty()) {
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.addCaCertificates(target.caCertificates);
        request.setSslConfiguration(tls);
    }

    QNetworkAccessManager network;
    const QByteArray payload = method == "GET" ? QByteArray()
                                               : QJsonDocument(body).toJson(QJsonDocument::Compact);
    QNetworkReply *reply = network.sendCustomRequest(request, method, payload);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(kRequestTimeoutMs, &loop, &QEventLoop::quit);
    loop.exec();

    HttpReply result;
    if (!reply->isFinished()) {
        reply->abort();
        result.networkError = u"timed out after %1 s"_s.arg(kRequestTimeoutMs / 1000);
    }
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.json = QJsonDocument::fromJson(reply->readAll()).object();
    if (result.status == 0 && result.networkError.isEmpty())
        result.networkError = reply->errorString();
    reply->deleteLater();
    return result;
}

// Prints the backend's error sentence, or the network failure.
int failReply(const HttpReply &reply)
{
    if (reply.status == 0)
        return fail(ExitBackendError,
                    u"cannot reach the backend (%1): check the URL and that the backend runs"_s.arg(
                        reply.networkError));
    const QJsonObject error = reply.json.value(u"error"_s).toObject();
    return fail(ExitBackendError, u"the backend returned %1 %2: %3"_s.arg(
                                    QString::number(reply.status),
                                    error.value(u"code"_s).toString(),
                                    error.value(u"message"_s).toString()));
}

int tokenCreateCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    const QCommandLineOption role(u"role"_s, u"operator or auditor."_s, u"ROLE"_s);
    const QCommandLineOption label(u"label"_s, u"Label shown in token lists."_s, u"TEXT"_s);
    parser.addOptions({kBackendOption, kTokenOption, kProfileOption, role, label});
    const CommandHelp help{u"--role operator|auditor [--label TEXT] [--backend URL --token TOKEN]"_s,
                           u"Creates an API token (admin token required). The new token is "
                           "printed once, as the last line of output."_s};
    if (auto exit = parseOptions(parser, arguments, help, 0))
        return *exit;
    if (parser.value(role) != u"operator"_s && parser.value(role) != u"auditor"_s)
        return fail(ExitUsageError, u"--role must be operator or auditor"_s);
    auto target = backendTarget(parser);
    if (!target)
        return fail(ExitUsageError, target.error().message);

    const HttpReply reply = call(target.value(), "POST", u"/api/tokens"_s, {},
                                 QJsonObject{{u"role"_s, parser.value(role)},
                                             {u"label"_s, parser.value(label)}});
    if (reply.status != 201)
        return failReply(reply);
    printOut(u"token_id: %1\nrole: %2\n%3\n"_s
                 .arg(reply.json.value(u"token_id"_s).toString(),
                      reply.json.value(u"role"_s).toString(),
                      reply.json.value(u"token"_s).toString())
                 .toUtf8());
    return ExitSuccess;
}

int tokenRevokeCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.addOptions({kBackendOption, kTokenOption, kProfileOption});
    parser.addPositionalArgument(u"TOKEN_ID"_s, u"Id of the token to revoke."_s);
    const CommandHelp help{u"TOKEN_ID [--backend URL --token TOKEN]"_s,
                           u"Revokes an API token by its id (admin token required)."_s};
    if (auto exit = parseOptions(parser, arguments, help, 1))
        return *exit;
    auto target = backendTarget(parser);
    if (!target)
        return fail(ExitUsageError, target.error().message);

    const QString tokenId = parser.positionalArguments().constFirst();
    const HttpReply reply = call(target.value(), "POST",
                                 u"/api/tokens/%1/revoke"_s.arg(tokenId));
    if (reply.status != 200)
        return failReply(reply);
    printOut(u"revoked %1\n"_s.arg(tokenId).toUtf8());
    return ExitSuccess;
}

// ---- audit verify ----------------------------------------------------------

QString defaultStateFile()
{
    QString base = qEnvironmentVariable("XDG_STATE_HOME");
    if (base.isEmpty())
        base = QDir::home().filePath(u".local/state"_s);
    return QDir(base).filePath(u"sealrelay/audit-heads.json"_s);
}

QJsonObject readState(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(file.readAll()).object();
}

Result<void> writeState(const QString &path, const QJsonObject &state)
{
    if (!QDir().mkpath(QFileInfo(path).absolutePath()))
        return makeError(Reason::IoError, u"cannot create the folder of %1"_s.arg(path));
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return makeError(Reason::IoError, u"cannot write %1: %2"_s.arg(path, file.errorString()));
    file.write(QJsonDocument(state).toJson());
    if (!file.commit())
        return makeError(Reason::IoError, u"cannot write %1: %2"_s.arg(path, file.errorString()));
    return {};
}

struct ChainResult {
    QString orgId;
    bool intact = false;
    qint64 rowsVerified = 0;
    backend::AuditHead head;
    qint64 breakRowId = 0;
    QString breakKind;
    QString breakMessage;
};

std::optional<backend::AuditHead> knownHead(const QJsonObject &state, const QString &key)
{
    const QJsonObject entry = state.value(key).toObject();
    if (entry.isEmpty())
        return std::nullopt;
    return backend::AuditHead{entry.value(u"row_id"_s).toInteger(),
                              entry.value(u"row_hash"_s).toString()};
}

Result<ChainResult> verifyOnline(const BackendTarget &target, const QJsonObject &state,
                                 const QString &keyPrefix)
{
    // The org is only known from the first response, so the remembered head
    // is looked up by the org that response names, and a second request
    // checks the chain against it.
    HttpReply reply = call(target, "GET", u"/api/audit/verify"_s);
    if (reply.status == 0)
        return makeError(Reason::IoError,
                         u"cannot reach the backend at %1 (%2): check the URL and that the "
                         "backend runs"_s.arg(target.base.toString(), reply.networkError));
    if (reply.status != 200)
        return makeError(Reason::IoError,
                         u"the backend returned %1: %2"_s.arg(
                             QString::number(reply.status),
                             reply.json.value(u"error"_s).toObject().value(u"message"_s).toString()));
    const QString orgId = reply.json.value(u"org_id"_s).toString();
    if (auto head = knownHead(state, keyPrefix + orgId)) {
        QUrlQuery query;
        query.addQueryItem(u"known_row_id"_s, QString::number(head->rowId));
        query.addQueryItem(u"known_row_hash"_s,
                           QString::fromLatin1(QUrl::toPercentEncoding(head->rowHash)));
        reply = call(target, "GET", u"/api/audit/verify"_s, query);
        if (reply.status != 200)
            return makeError(Reason::IoError,
                             u"the backend returned %1 on the second request"_s.arg(reply.status));
    }

    ChainResult result;
    result.orgId = orgId;
    result.intact = reply.json.value(u"intact"_s).toBool();
    result.rowsVerified = reply.json.value(u"rows_verified"_s).toInteger();
    const QJsonObject head = reply.json.value(u"head"_s).toObject();
    result.head = {head.value(u"row_id"_s).toInteger(), head.value(u"row_hash"_s).toString()};
    const QJsonObject firstBreak = reply.json.value(u"first_break"_s).toObject();
    result.breakRowId = firstBreak.value(u"row_id"_s).toInteger();
    result.breakKind = firstBreak.value(u"kind"_s).toString();
    result.breakMessage = firstBreak.value(u"message"_s).toString();
    return result;
}

Result<QList<ChainResult>> verifyOffline(const QString &database, const QString &onlyOrg,
                                         const QJsonObject &state, const QString &keyPrefix)
{
    backend::StorageConfig config;
    if (database.startsWith(u"postgresql://"_s) || database.startsWith(u"postgres://"_s)) {
        config.engine = backend::SqlEngine::Postgres;
        config.postgresUrl = database;
    } else {
        config.engine = backend::SqlEngine::Sqlite;
        config.sqlitePath = database.startsWith(u"sqlite:"_s) ? database.mid(7) : database;
        if (!QFileInfo::exists(config.sqlitePath))
            return makeError(Reason::NotFound,
                             u"no database file at %1"_s.arg(config.sqlitePath));
    }
    auto storage = backend::SqlStorage::open(config);
    if (!storage)
        return storage.error();
    auto orgs = storage.value()->orgs();
    if (!orgs)
        return orgs.error();

    QList<ChainResult> results;
    for (const backend::OrgRow &org : orgs.value()) {
        if (!onlyOrg.isEmpty() && org.orgId != onlyOrg)
            continue;
        auto verification = storage.value()->verifyAuditChain(org.orgId,
                                                               knownHead(state, keyPrefix + org.orgId));
        if (!verification)
            return verification.error();
        ChainResult result;
        result.orgId = org.orgId;
        result.intact = verification->intact();
        result.rowsVerified = verification->rowsVerified;
        result.head = verification->head;
        if (verification->firstBreak) {
            result.breakRowId = verification->firstBreak->rowId;
            result.breakMessage = verification->firstBreak->message;
            static const QString kinds[] = {u"malformed"_s, u"prev_hash_mismatch"_s,
                                            u"row_hash_mismatch"_s, u"known_head_missing"_s,
                                            u"known_head_changed"_s};
            result.breakKind = kinds[int(verification->firstBreak->kind)];
        }
        results.append(result);
    }
    if (!onlyOrg.isEmpty() && results.isEmpty())
        return makeError(Reason::NotFound, u"no org %1 in the database"_s.arg(onlyOrg));
    return results;
}

int auditVerifyCommand(const QStringList &arguments)
{
    QCommandLineParser parser;
    const QCommandLineOption database(
        u"database"_s,
        u"Verify offline: a SQLite file (or sqlite:PATH) or a postgresql:// URL, read directly "
        "instead of asking a backend."_s,
        u"URL"_s);
    const QCommandLineOption org(u"org"_s, u"Only this org id (offline; default: every org)."_s,
                                 u"ORG_ID"_s);
    const QCommandLineOption stateFile(
        u"state-file"_s,
        u"Where the last verified heads are kept. Default: "
        "$XDG_STATE_HOME/sealrelay/audit-heads.json."_s,
        u"FILE"_s);
    parser.addOptions({kBackendOption, kTokenOption, kProfileOption, database, org, stateFile});
    const CommandHelp help{
        u"[--backend URL --token TOKEN | --database URL [--org ORG_ID]] [--state-file FILE]"_s,
        u"Walks the audit trail's hash chain and reports the first broken row, or the verified "
        "head. The head is remembered, so a later run reports history rewritten before it even "
        "when every later hash was recomputed."_s};
    if (auto exit = parseOptions(parser, arguments, help, 0))
        return *exit;

    const QString statePath = parser.isSet(stateFile) ? parser.value(stateFile)
                                                      : defaultStateFile();
    QJsonObject state = readState(statePath);

    QList<ChainResult> results;
    QString keyPrefix;
    if (parser.isSet(database)) {
        const QString url = parser.value(database);
        keyPrefix = u"database:"_s
            + (url.contains(u"://"_s) ? url.section(u'@', -1) : QFileInfo(url).absoluteFilePath())
            + u'#';
        auto offline = verifyOffline(url, parser.value(org), state, keyPrefix);
        if (!offline)
            return failWith(ExitUsageError, offline.error());
        results = offline.value();
    } else {
        auto target = backendTarget(parser);
        if (!target)
            return fail(ExitUsageError, target.error().message);
        keyPrefix = u"backend:"_s + target->base.toString(QUrl::RemoveUserInfo | QUrl::StripTrailingSlash)
            + u'#';
        auto online = verifyOnline(target.value(), state, keyPrefix);
        if (!online)
            return failWith(ExitBackendError, online.error());
        results.append(online.value());
    }

    bool allIntact = true;
    for (const ChainResult &result : std::as_const(results)) {
        if (result.intact) {
            printOut(u"org %1: verified %2 rows up to row %3 (%4)\n"_s
                         .arg(result.orgId, QString::number(result.rowsVerified),
                              QString::number(result.head.rowId), result.head.rowHash)
                         .toUtf8());
            state.insert(keyPrefix + result.orgId,
                         QJsonObject{{u"row_id"_s, result.head.rowId},
                                     {u"row_hash"_s, result.head.rowHash},
                                     {u"verified_at"_s,
                                      formatTimestamp(QDateTime::currentDateTimeUtc())}});
        } else {
            allIntact = false;
            printOut(u"org %1: BROKEN at row %2 (%3): %4\n"_s
                         .arg(result.orgId, QString::number(result.breakRowId), result.breakKind,
                              result.breakMessage)
                         .toUtf8());
        }
    }
    // A broken chain keeps the old head, so the next run reports it again.
    auto written = writeState(statePath, state);
    if (!written)
        printError(u"warning: "_s + written.error().message);
    return allIntact ? ExitSuccess : ExitVerificationFailed;
}

} // namespace

QList<Command> backendCommands()
{
    return {
        {{u"token"_s, u"create"_s}, u"Create an operator or auditor API token."_s,
         tokenCreateCommand},
        {{u"token"_s, u"revoke"_s}, u"Revoke an API token by id."_s, tokenRevokeCommand},
        {{u"audit"_s, u"verify"_s},
         u"Verify the audit trail's hash chain, online or on a database."_s, auditVerifyCommand},
    };
}

} // namespace sealrelay::ctl
