// sealrelayctl's credential commands. Uploads are built here with the
// operator key (sealrelay_client's CredentialCreator), so the backend only
// relays envelopes it cannot open. Listings check each statement and each
// agent's receipt against the pinned operators and certified identity keys.
#include "canonicaljson.h"
#include "clientsession.h"
#include "commandline.h"
#include "credentialcreator.h"
#include "ids.h"

#include <QCommandLineParser>
#include <QJsonArray>

#include <variant>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::ctl {

namespace {

// Largest secret read from standard input: the largest payload bucket.
constexpr qsizetype kMaxSecretInputBytes = 128 * 1024;

const QString kSecretInputHelp =
    u" The secret is a JSON object of fields, e.g. {\"username\":\"admin\",\"password\":\"...\"}, "
    "read from standard input, or typed at a prompt without echo, where text that is not a JSON "
    "object is taken as {\"password\": TEXT}. It is never taken from an argument."_s;

// Wipes a QByteArray when the scope ends, on every return path.
class WipeOnExit {
public:
    explicit WipeOnExit(QByteArray &bytes)
        : m_bytes(bytes)
    {
    }
    ~WipeOnExit() { client::wipe(m_bytes); }
    WipeOnExit(const WipeOnExit &) = delete;
    WipeOnExit &operator=(const WipeOnExit &) = delete;

private:
    QByteArray &m_bytes;
};

// Reads the secret's fields. The raw bytes are wiped; the QString values of
// the returned object cannot be.
Result<QJsonObject> readSecretFields()
{
    QByteArray raw;
    const bool fromTerminal = standardInputIsTerminal();
    if (fromTerminal) {
        Result<QByteArray> typed = promptHidden(u"Secret (JSON object, or a password)"_s);
        if (!typed)
            return typed.error();
        raw = std::move(typed).value();
    } else {
        Result<QByteArray> input = readStandardInput(kMaxSecretInputBytes);
        if (!input)
            return input.error();
        raw = std::move(input).value();
    }
    WipeOnExit wipeRaw(raw);

    QByteArray trimmed = raw.trimmed();
    WipeOnExit wipeTrimmed(trimmed);
    if (trimmed.isEmpty())
        return makeError(Reason::Malformed,
                         u"the secret is empty; pipe a JSON object into standard input"_s);
    if (fromTerminal && !trimmed.startsWith('{'))
        return QJsonObject { { u"password"_s, QString::fromUtf8(trimmed) } };

    Result<QJsonValue> value = parseJsonStrict(trimmed);
    if (!value || !value->isObject())
        return makeError(Reason::Malformed,
                         u"the secret is not a JSON object of fields; write it like "
                         "{\"password\":\"...\"}"_s);
    return value->toObject();
}

// Resolves agent ids or names to ids.
Result<QStringList> resolveAgentIds(const QStringList &agents, const QList<client::AgentRow> &rows)
{
    QStringList ids;
    for (const QString &agent : agents) {
        QString found;
        for (const client::AgentRow &row : rows) {
            if (row.agentId == agent || row.name == agent) {
                if (!found.isEmpty() && found != row.agentId)
                    return makeError(
                        Reason::Malformed,
                        u"several agents are named \"%1\"; give agent ids"_s.arg(agent));
                found = row.agentId;
            }
        }
        if (found.isEmpty())
            return makeError(Reason::NotFound,
                             u"--agents: no agent with id or name \"%1\"; see "
                             "'sealrelayctl agent list'"_s.arg(agent));
        ids.append(found);
    }
    ids.sort();
    ids.removeDuplicates();
    return ids;
}

QStringList splitList(const QString &text)
{
    QStringList items;
    for (const QString &item : text.split(u',', Qt::SkipEmptyParts))
        items.append(item.trimmed());
    items.removeAll(QString());
    return items;
}

// Checks a credential statement without the operator key: strict parse,
// signer pinned, signature, our org.
Result<CredentialStatement> verifyCredentialStatement(const ClientSession &session,
                                                      const SignedStatement &signedStatement)
{
    Result<QJsonObject> fields =
        parseStatement(StatementContext::Credential, signedStatement.bytes);
    if (!fields)
        return fields.error();
    Result<CredentialStatement> statement = CredentialStatement::fromFields(fields.value());
    if (!statement)
        return statement.error();
    if (!session.trusted().contains(statement->operatorKey))
        return makeError(Reason::UntrustedOperator,
                         u"the statement is signed by an operator key this profile does not "
                         "trust; pin it with 'sealrelayctl operator trust KEY' if it is a "
                         "colleague's"_s);
    Result<Ed25519PublicKey> signer = Ed25519PublicKey::fromRaw(statement->operatorKey);
    if (!signer)
        return signer.error();
    Result<QJsonObject> verified =
        verifyStatement(StatementContext::Credential, signedStatement, signer.value());
    if (!verified)
        return verified.error();
    if (statement->orgId != session.profile().orgId)
        return makeError(Reason::IdMismatch,
                         u"the statement names org %1, not this profile's "
                         "org %2"_s.arg(statement->orgId, session.profile().orgId));
    return statement;
}

int failOpen(const Error &error)
{
    return failWith(error.reason == Reason::DecryptFailed ? ExitVerificationFailed : ExitUsageError,
                    error);
}

// Sends a prepared upload and prints its result; returns the exit code.
int uploadAndReport(const QCommandLineParser &parser, const SessionOptions &options,
                    client::BackendClient &backend, const Result<client::PreparedUpload> &prepared,
                    const QString &action)
{
    if (!prepared)
        return failWith(ExitUsageError, prepared.error());
    const client::PreparedUpload &upload = prepared.value();
    const client::ApiResult reply = client::sendUpload(backend, upload);
    if (!reply)
        return failRequest(reply.error());

    for (const QString &warning : upload.warnings)
        printError(u"warning: "_s + warning);
    if (parser.isSet(options.json)) {
        QJsonObject object = reply.value().json;
        object.insert(u"envelope_agent_ids"_s, QJsonArray::fromStringList(upload.envelopeAgentIds));
        object.insert(u"warnings"_s, QJsonArray::fromStringList(upload.warnings));
        printJson(object);
        return ExitSuccess;
    }
    QString text = u"%1 credential %2 \"%3\": version %4 revision %5"_s
                       .arg(action, upload.statement.credentialId, upload.statement.name)
                       .arg(upload.statement.version)
                       .arg(upload.statement.revision);
    if (!upload.envelopeAgentIds.isEmpty())
        text += u", sealed to "_s + agentCountText(upload.envelopeAgentIds.size());
    printOut((text + u'\n').toUtf8());
    return ExitSuccess;
}

int credentialCreateCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption kind(u"kind"_s, u"Kind of secret, e.g. password or api_key."_s,
                                  u"KIND"_s);
    const QCommandLineOption agents(u"agents"_s,
                                    u"Comma-separated agent ids or names in scope. Default: every "
                                    "agent (auto_all)."_s,
                                    u"AGENT,..."_s);
    parser.addOptions({ kind, agents });
    options.addTo(parser);
    parser.addPositionalArgument(u"NAME"_s, u"Credential name."_s);
    const CommandHelp help {
        u"NAME --kind KIND [--agents AGENT,...] [--key-file PATH] [--profile NAME] [--json] < secret"_s,
        u"Creates a credential: signs its statement with the operator key and seals the secret "
        "to every agent in scope whose certificate verifies here, then uploads them."_s
            + kSecretInputHelp
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    if (auto done = requireOption(parser, u"kind"_s))
        return *done;

    auto opened = ClientSession::open(options, parser);
    if (!opened)
        return failWith(ExitUsageError, opened.error());
    ClientSession &session = *opened.value();
    Result<client::OperatorKey> key = session.loadOperatorKey();
    if (!key)
        return failOpen(key.error());
    Result<QList<client::AgentRow>> rows = client::fetchAgents(session.backend());
    if (!rows)
        return failWith(ExitBackendError, rows.error());

    client::NewCredential credential;
    credential.name = parser.positionalArguments().constFirst();
    credential.kind = parser.value(kind);
    if (parser.isSet(agents)) {
        Result<QStringList> ids = resolveAgentIds(splitList(parser.value(agents)), rows.value());
        if (!ids)
            return failWith(ExitUsageError, ids.error());
        if (ids->isEmpty())
            return fail(ExitUsageError, u"--agents is empty; omit it for every agent"_s);
        credential.scopeAgentIds = ids.value();
    }

    Result<QJsonObject> secret = readSecretFields();
    if (!secret)
        return failWith(ExitUsageError, secret.error());
    client::CredentialCreator creator(key->privateKey(), session.certificates(), session.trusted());
    Result<client::PreparedUpload> upload =
        creator.create(credential, secret.value(), rows.value());
    secret.value() = QJsonObject();
    return uploadAndReport(parser, options, session.backend(), upload, u"created"_s);
}

// Opens the session, loads the key, resolves the credential and fetches its
// current statement; shared by rotate, scope and delete.
struct CurrentCredential {
    std::unique_ptr<ClientSession> session;
    std::optional<client::OperatorKey> key;
    SignedStatement current;
};

std::variant<CurrentCredential, int> openCurrent(const SessionOptions &options,
                                                 const QCommandLineParser &parser)
{
    auto opened = ClientSession::open(options, parser);
    if (!opened)
        return failWith(ExitUsageError, opened.error());
    CurrentCredential result;
    result.session = std::move(opened).value();
    Result<client::OperatorKey> key = result.session->loadOperatorKey();
    if (!key)
        return failOpen(key.error());
    result.key = std::move(key).value();

    Result<QString> id =
        resolveCredentialId(result.session->backend(), parser.positionalArguments().constFirst());
    if (!id)
        return failWith(id.error().reason == Reason::NotFound ? ExitUsageError : ExitBackendError,
                        id.error());
    Result<SignedStatement> current =
        client::fetchCurrentStatement(result.session->backend(), id.value());
    if (!current)
        return failWith(ExitBackendError, current.error());
    result.current = std::move(current).value();
    return result;
}

int credentialRotateCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    options.addTo(parser);
    parser.addPositionalArgument(u"CREDENTIAL"_s, u"Credential id or name."_s);
    const CommandHelp help {
        u"CREDENTIAL [--key-file PATH] [--profile NAME] [--json] < secret"_s,
        u"Uploads a new value: version + 1 with the current scope, sealed to every agent in "
        "scope whose certificate verifies here. A rotation that raced another one is rejected "
        "with 409 version_conflict; run it again."_s
            + kSecretInputHelp
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    auto opened = openCurrent(options, parser);
    if (auto *code = std::get_if<int>(&opened))
        return *code;
    CurrentCredential &current = std::get<CurrentCredential>(opened);

    Result<QList<client::AgentRow>> rows = client::fetchAgents(current.session->backend());
    if (!rows)
        return failWith(ExitBackendError, rows.error());
    client::CredentialCreator creator(current.key->privateKey(), current.session->certificates(),
                                      current.session->trusted());
    Result<CredentialStatement> verified = creator.verifyCurrent(current.current);
    if (!verified)
        return failWith(ExitVerificationFailed, verified.error());

    Result<QJsonObject> secret = readSecretFields();
    if (!secret)
        return failWith(ExitUsageError, secret.error());
    Result<client::PreparedUpload> upload =
        creator.rotate(current.current, secret.value(), rows.value());
    secret.value() = QJsonObject();
    return uploadAndReport(parser, options, current.session->backend(), upload, u"rotated"_s);
}

int credentialScopeCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption agents(u"agents"_s, u"Comma-separated agent ids or names."_s,
                                    u"AGENT,..."_s);
    const QCommandLineOption all(u"all"_s, u"Every agent of the org (auto_all)."_s);
    parser.addOptions({ agents, all });
    options.addTo(parser);
    parser.addPositionalArgument(u"CREDENTIAL"_s, u"Credential id or name."_s);
    const CommandHelp help {
        u"CREDENTIAL --agents AGENT,...|--all [--key-file PATH] [--profile NAME] [--json]"_s,
        u"Changes the scope: revision + 1 with the same value. Agents that leave the scope purge "
        "the secret; agents that join it get it from a peer that holds it."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    if (parser.isSet(agents) == parser.isSet(all))
        return fail(ExitUsageError, u"give exactly one of --agents AGENT,... and --all"_s);
    auto opened = openCurrent(options, parser);
    if (auto *code = std::get_if<int>(&opened))
        return *code;
    CurrentCredential &current = std::get<CurrentCredential>(opened);

    QStringList scope;
    if (parser.isSet(agents)) {
        Result<QList<client::AgentRow>> rows = client::fetchAgents(current.session->backend());
        if (!rows)
            return failWith(ExitBackendError, rows.error());
        Result<QStringList> ids = resolveAgentIds(splitList(parser.value(agents)), rows.value());
        if (!ids)
            return failWith(ExitUsageError, ids.error());
        if (ids->isEmpty())
            return fail(ExitUsageError, u"--agents is empty; use --all for every agent"_s);
        scope = ids.value();
    }
    client::CredentialCreator creator(current.key->privateKey(), current.session->certificates(),
                                      current.session->trusted());
    Result<CredentialStatement> verified = creator.verifyCurrent(current.current);
    if (!verified)
        return failWith(ExitVerificationFailed, verified.error());
    Result<client::PreparedUpload> upload = creator.changeScope(current.current, scope);
    return uploadAndReport(parser, options, current.session->backend(), upload,
                           u"changed the scope of"_s);
}

int credentialDeleteCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    options.addTo(parser);
    parser.addPositionalArgument(u"CREDENTIAL"_s, u"Credential id or name."_s);
    const CommandHelp help { u"CREDENTIAL [--key-file PATH] [--profile NAME] [--json]"_s,
                             u"Deletes a credential: a signed statement with deleted true, after "
                             "which every agent purges the secret and keeps a tombstone."_s };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    auto opened = openCurrent(options, parser);
    if (auto *code = std::get_if<int>(&opened))
        return *code;
    CurrentCredential &current = std::get<CurrentCredential>(opened);

    client::CredentialCreator creator(current.key->privateKey(), current.session->certificates(),
                                      current.session->trusted());
    Result<CredentialStatement> verified = creator.verifyCurrent(current.current);
    if (!verified)
        return failWith(ExitVerificationFailed, verified.error());
    Result<client::PreparedUpload> upload = creator.remove(current.current);
    return uploadAndReport(parser, options, current.session->backend(), upload, u"deleted"_s);
}

QString scopeText(const QJsonObject &credential)
{
    if (credential.value(u"scope"_s).toString() == u"auto_all"_s)
        return u"all agents"_s;
    return agentCountText(credential.value(u"scope_agent_ids"_s).toArray().size());
}

// "trusted", or why the statement does not verify.
QString statementCheck(const ClientSession &session, const QJsonObject &credential)
{
    Result<SignedStatement> signedStatement =
        SignedStatement::fromJson(credential.value(u"statement"_s), u"statement");
    if (!signedStatement)
        return signedStatement.error().message;
    Result<CredentialStatement> verified =
        verifyCredentialStatement(session, signedStatement.value());
    if (!verified)
        return verified.error().message;
    if (verified->version != credential.value(u"version"_s).toInteger()
        || verified->revision != credential.value(u"revision"_s).toInteger()
        || verified->credentialId != credential.value(u"credential_id"_s).toString())
        return u"the signed statement's id, version or revision differ from the listed ones"_s;
    return u"trusted"_s;
}

int credentialListCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption deleted(u"include-deleted"_s, u"Also list deleted credentials."_s);
    parser.addOptions({ deleted, options.profile, options.json });
    const CommandHelp help {
        u"[--include-deleted] [--profile NAME] [--json]"_s,
        u"Lists credentials with version, scope and the backend's sync counts, and whether the "
        "statement is signed by an operator this profile trusts. The counts are the backend's "
        "claim; 'credential show' checks each agent's receipt."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    auto opened = ClientSession::open(options, parser);
    if (!opened)
        return failWith(ExitUsageError, opened.error());
    ClientSession &session = *opened.value();

    QUrlQuery query;
    if (parser.isSet(deleted))
        query.addQueryItem(u"include_deleted"_s, u"true"_s);
    const client::ApiResult reply = session.backend().get(u"/api/credentials"_s, query);
    if (!reply)
        return failRequest(reply.error());

    QJsonArray rows;
    for (const QJsonValue &value : reply->json.value(u"credentials"_s).toArray()) {
        const QJsonObject credential = value.toObject();
        QJsonObject row { { u"credential_id"_s, credential.value(u"credential_id"_s) },
                          { u"name"_s, credential.value(u"name"_s) },
                          { u"kind"_s, credential.value(u"kind"_s) },
                          { u"version"_s, credential.value(u"version"_s) },
                          { u"revision"_s, credential.value(u"revision"_s) },
                          { u"state"_s, credential.value(u"state"_s) },
                          { u"scope"_s, credential.value(u"scope"_s) },
                          { u"scope_agent_ids"_s, credential.value(u"scope_agent_ids"_s) },
                          { u"sync"_s, credential.value(u"sync"_s) },
                          { u"statement_check"_s, statementCheck(session, credential) } };
        rows.append(row);
    }
    if (parser.isSet(options.json)) {
        printJson({ { u"credentials"_s, rows } });
        return ExitSuccess;
    }
    if (rows.isEmpty()) {
        printOut("No credentials yet: create one with 'sealrelayctl credential create NAME "
                 "--kind KIND'.\n");
        return ExitSuccess;
    }
    TextTable table({ u"ID"_s, u"NAME"_s, u"KIND"_s, u"VERSION"_s, u"REVISION"_s, u"STATE"_s,
                      u"SCOPE"_s, u"DELIVERED"_s, u"STATEMENT"_s });
    for (const QJsonValue &value : std::as_const(rows)) {
        const QJsonObject row = value.toObject();
        const QJsonObject sync = row.value(u"sync"_s).toObject();
        table.addRow({ row.value(u"credential_id"_s).toString(), row.value(u"name"_s).toString(),
                       row.value(u"kind"_s).toString(),
                       QString::number(row.value(u"version"_s).toInteger()),
                       QString::number(row.value(u"revision"_s).toInteger()),
                       row.value(u"state"_s).toString(), scopeText(row),
                       u"%1/%2"_s.arg(sync.value(u"delivered"_s).toInt())
                           .arg(sync.value(u"in_scope"_s).toInt()),
                       row.value(u"statement_check"_s).toString() });
    }
    printOut(table.toUtf8());
    printOut("DELIVERED is the backend's count; 'sealrelayctl credential show CREDENTIAL' "
             "checks each agent's signed receipt.\n");
    return ExitSuccess;
}

// "verified", "none", or why the receipt of `row` does not verify under the
// certified identity key of its agent.
QString receiptCheck(ClientSession &session, const QJsonObject &row,
                     const QList<client::AgentRow> &agents, const QString &statementSha256)
{
    if (row.value(u"receipt"_s).isNull() || !row.contains(u"receipt"_s))
        return u"none"_s;
    const QString agentId = row.value(u"agent_id"_s).toString();
    const client::AgentRow *agent = nullptr;
    for (const client::AgentRow &candidate : agents) {
        if (candidate.agentId == agentId)
            agent = &candidate;
    }
    if (!agent)
        return u"unverified: agent %1 is not listed"_s.arg(agentId);
    Result<client::CertifiedAgent> certified = session.certificates().verify(*agent);
    if (!certified)
        return u"unverified: "_s + certified.error().message;
    Result<Ed25519PublicKey> identity =
        Ed25519PublicKey::fromRaw(certified->certificate.identityKey);
    if (!identity)
        return u"unverified: "_s + identity.error().message;

    Result<SignedStatement> receipt =
        SignedStatement::fromJson(row.value(u"receipt"_s), u"receipt");
    if (!receipt)
        return u"invalid: "_s + receipt.error().message;
    Result<QJsonObject> fields =
        verifyStatement(StatementContext::Receipt, receipt.value(), identity.value());
    if (!fields)
        return u"invalid: "_s + fields.error().message;
    Result<Receipt> parsed = Receipt::fromFields(fields.value());
    if (!parsed)
        return u"invalid: "_s + parsed.error().message;
    if (parsed->agentId != agentId || parsed->orgId != session.profile().orgId
        || parsed->credentialId != row.value(u"credential_id"_s).toString())
        return u"invalid: the receipt names another agent, org or credential"_s;
    if (parsed->state == ReceiptState::Refused)
        return u"verified: refused (%1)"_s.arg(parsed->reason);
    const QString state = parsed->state == ReceiptState::Deleted ? u"deleted"_s : u"stored"_s;
    if (parsed->statementSha256 != statementSha256)
        return u"verified: %1 v%2.%3, not the current statement"_s.arg(state)
            .arg(parsed->version)
            .arg(parsed->revision);
    return u"verified: %1 v%2.%3"_s.arg(state).arg(parsed->version).arg(parsed->revision);
}

// Opens the profile's session and resolves the credential named by the one
// positional argument. Returns the exit code to end with when either fails.
std::optional<int> openCredential(const SessionOptions &options, const QCommandLineParser &parser,
                                  std::unique_ptr<ClientSession> &session, QString &credentialId)
{
    auto opened = ClientSession::open(options, parser);
    if (!opened)
        return failWith(ExitUsageError, opened.error());
    Result<QString> id =
        resolveCredentialId(opened.value()->backend(), parser.positionalArguments().constFirst());
    if (!id)
        return failWith(id.error().reason == Reason::NotFound ? ExitUsageError : ExitBackendError,
                        id.error());
    session = std::move(opened.value());
    credentialId = id.value();
    return std::nullopt;
}

int credentialShowCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    parser.addPositionalArgument(u"CREDENTIAL"_s, u"Credential id or name."_s);
    const CommandHelp help {
        u"CREDENTIAL [--profile NAME] [--json]"_s,
        u"Shows a credential's statement and one row per agent: stored version, attempts, last "
        "error, and whether the agent's signed receipt verifies under the identity key of its "
        "certificate, checked here against this profile's trusted operators."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    std::unique_ptr<ClientSession> opened;
    QString credentialId;
    if (auto failed = openCredential(options, parser, opened, credentialId))
        return *failed;
    ClientSession &session = *opened;
    const client::ApiResult reply = session.backend().get(u"/api/credentials/"_s + credentialId);
    if (!reply)
        return failRequest(reply.error());
    Result<QList<client::AgentRow>> agents = client::fetchAgents(session.backend());
    if (!agents)
        return failWith(ExitBackendError, agents.error());

    const QJsonObject credential = reply->json;
    const QString sha256 = credential.value(u"statement_sha256"_s).toString();
    QJsonArray agentRows;
    for (const QJsonValue &value : credential.value(u"agents"_s).toArray()) {
        const QJsonObject row = value.toObject();
        QString name;
        for (const client::AgentRow &agent : agents.value()) {
            if (agent.agentId == row.value(u"agent_id"_s).toString())
                name = agent.name;
        }
        agentRows.append(QJsonObject {
            { u"agent_id"_s, row.value(u"agent_id"_s) },
            { u"name"_s, name },
            { u"secret_stored"_s, row.value(u"secret_stored"_s) },
            { u"stored_version"_s, row.value(u"stored_version"_s) },
            { u"stored_revision"_s, row.value(u"stored_revision"_s) },
            { u"attempts"_s, row.value(u"attempts"_s) },
            { u"last_error"_s, row.value(u"last_error"_s) },
            { u"stalled"_s, row.value(u"stalled"_s) },
            { u"receipt_check"_s, receiptCheck(session, row, agents.value(), sha256) } });
    }
    const QString check = statementCheck(session, credential);

    if (parser.isSet(options.json)) {
        QJsonObject object { { u"credential_id"_s, credential.value(u"credential_id"_s) },
                             { u"name"_s, credential.value(u"name"_s) },
                             { u"kind"_s, credential.value(u"kind"_s) },
                             { u"version"_s, credential.value(u"version"_s) },
                             { u"revision"_s, credential.value(u"revision"_s) },
                             { u"state"_s, credential.value(u"state"_s) },
                             { u"scope"_s, credential.value(u"scope"_s) },
                             { u"scope_agent_ids"_s, credential.value(u"scope_agent_ids"_s) },
                             { u"statement_check"_s, check },
                             { u"agents"_s, agentRows } };
        printJson(object);
        return ExitSuccess;
    }
    printOut(u"credential %1 \"%2\" (%3)\nversion %4 revision %5, %6, scope: %7\nstatement: %8\n"_s
                 .arg(credential.value(u"credential_id"_s).toString(),
                      credential.value(u"name"_s).toString(),
                      credential.value(u"kind"_s).toString())
                 .arg(credential.value(u"version"_s).toInteger())
                 .arg(credential.value(u"revision"_s).toInteger())
                 .arg(credential.value(u"state"_s).toString(), scopeText(credential), check)
                 .toUtf8());
    for (const QJsonValue &value : std::as_const(agentRows)) {
        const QJsonObject row = value.toObject();
        const QString stored = row.value(u"secret_stored"_s).toBool()
            ? u"v%1.%2"_s.arg(row.value(u"stored_version"_s).toInteger())
                  .arg(row.value(u"stored_revision"_s).toInteger())
            : u"not stored"_s;
        const QString lastError = row.value(u"last_error"_s).toString();
        printOut(
            u"  agent %1 %2: %3, attempts %4%5%6, receipt %7\n"_s
                .arg(row.value(u"agent_id"_s).toString(), row.value(u"name"_s).toString(), stored)
                .arg(row.value(u"attempts"_s).toInteger())
                .arg(lastError.isEmpty() ? QString() : u", last error "_s + lastError,
                     row.value(u"stalled"_s).toBool() ? u", stalled"_s : QString(),
                     row.value(u"receipt_check"_s).toString())
                .toUtf8());
    }
    return ExitSuccess;
}

int credentialRetryCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    parser.addPositionalArgument(u"CREDENTIAL"_s, u"Credential id or name."_s);
    const CommandHelp help {
        u"CREDENTIAL [--profile NAME] [--json]"_s,
        u"Makes every agent row of a credential due now, with its attempts and stalled mark "
        "cleared, and the backend syncs the connected agents at once. A second retry of the "
        "same credential within the backend's retry window (10 s unless [api] "
        "retry_window_ms sets another) is refused; wait and run it again."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    std::unique_ptr<ClientSession> opened;
    QString credentialId;
    if (auto failed = openCredential(options, parser, opened, credentialId))
        return *failed;
    ClientSession &session = *opened;
    const client::ApiResult reply =
        session.backend().post(u"/api/credentials/%1/retry"_s.arg(credentialId));
    if (!reply)
        return failRequest(reply.error());
    if (parser.isSet(options.json)) {
        printJson(reply->json);
        return ExitSuccess;
    }
    // An older backend replies without the sync counts, only with rows_reset.
    const QJsonObject sync = reply->json.value(u"sync"_s).toObject();
    const qint64 inScope = sync.value(u"in_scope"_s).toInteger();
    const qint64 delivered = sync.value(u"delivered"_s).toInteger();
    const QString name = reply->json.value(u"name"_s).toString();
    const QString credentialText =
        name.isEmpty() ? credentialId : u"\"%1\" (%2)"_s.arg(name, credentialId);
    QString line;
    if (sync.isEmpty()) {
        line = u"retrying credential %1: %2 agent rows are due now"_s.arg(credentialText)
                   .arg(reply->json.value(u"rows_reset"_s).toInteger());
    } else if (delivered == inScope) {
        line = u"nothing to retry: every agent in the scope of credential %1 holds its current "
               "version (%2 of %3)"_s.arg(credentialText)
                   .arg(delivered)
                   .arg(inScope);
    } else {
        QStringList lacking;
        int online = 0;
        for (const QJsonValue &value : reply->json.value(u"lacking"_s).toArray()) {
            const QJsonObject agent = value.toObject();
            const QString connection = agent.value(u"connection"_s).toString();
            lacking.append(u"%1 (%2)"_s.arg(agent.value(u"name"_s).toString(), connection));
            online += connection == u"online"_s || connection == u"backfilling"_s;
        }
        line = u"retrying credential %1: %2 of %3 agents in its scope lack the current version"_s
                   .arg(credentialText)
                   .arg(inScope - delivered)
                   .arg(inScope);
        if (!lacking.isEmpty())
            line += u": "_s + lacking.join(u", "_s);
        line += u"."_s;
        const int holders = reply->json.value(u"online_holders"_s).toInt();
        if (online > 0 && holders > 0) {
            line += u"\nThe backend sends it to the connected ones now, sealed by one of the %1 "
                    "connected agents that store it."_s.arg(holders);
        } else if (online > 0) {
            line += u"\nNo connected agent stores the current version, so the connected ones get "
                    "it now only from a creator envelope still queued for them. Otherwise the "
                    "reconciler retries once an agent that stores it is online."_s;
        }
        if (lacking.size() - online == 1)
            line += u"\nThe offline agent gets it when it reconnects."_s;
        else if (lacking.size() - online > 1)
            line += u"\nThe offline agents get it when they reconnect."_s;
    }
    printOut((line + u'\n').toUtf8());
    return ExitSuccess;
}

} // namespace

QList<Command> credentialCommands()
{
    return {
        { { u"credential"_s, u"create"_s },
          u"Create a credential; the secret comes from stdin."_s,
          credentialCreateCommand },
        { { u"credential"_s, u"rotate"_s },
          u"Upload a new value of a credential."_s,
          credentialRotateCommand },
        { { u"credential"_s, u"scope"_s },
          u"Change which agents receive a credential."_s,
          credentialScopeCommand },
        { { u"credential"_s, u"delete"_s },
          u"Delete a credential on every agent."_s,
          credentialDeleteCommand },
        { { u"credential"_s, u"list"_s },
          u"List credentials with their statement check."_s,
          credentialListCommand },
        { { u"credential"_s, u"show"_s },
          u"Show per-agent delivery and receipt checks."_s,
          credentialShowCommand },
        { { u"credential"_s, u"retry"_s },
          u"Sync a credential again now to every agent that lacks it."_s,
          credentialRetryCommand },
    };
}

} // namespace sealrelay::ctl
