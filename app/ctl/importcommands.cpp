// sealrelayctl import: uploads the logins of a KeePassXC CSV or Bitwarden
// JSON export as credentials. The whole file is parsed and checked before the
// first upload, and every upload goes through CredentialCreator like
// 'credential create' and 'credential rotate'.
#include "clientsession.h"
#include "commandline.h"
#include "credentialcreator.h"
#include "credentialimport.h"

#include <QCommandLineParser>
#include <QHash>
#include <QJsonArray>
#include <QSet>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::ctl {

namespace {

// Largest export read. A vault of 10,000 entries with long notes stays far
// below it.
constexpr qsizetype kMaxImportFileBytes = 64 * 1024 * 1024;

// The outcome of one entry of the export.
struct EntryOutcome {
    QString action; // created, rotated, skipped, failed, would_create, would_rotate
    QString location;
    QString label; // the credential name, or the title when no name could be made
    QString reason; // for skipped and failed
    QString credentialId;
    qint64 version = 0;
    qsizetype envelopeCount = 0;

    QJsonObject toJson() const
    {
        QJsonObject object { { u"action"_s, action },
                             { u"location"_s, location },
                             { u"name"_s, label } };
        if (!reason.isEmpty())
            object.insert(u"reason"_s, reason);
        if (!credentialId.isEmpty()) {
            object.insert(u"credential_id"_s, credentialId);
            object.insert(u"version"_s, version);
            object.insert(u"envelope_count"_s, envelopeCount);
        }
        return object;
    }

    QString toText() const
    {
        QString text = u"%1 %2 \"%3\""_s.arg(QString(action).replace(u'_', u' '), location, label);
        if (!reason.isEmpty())
            text += u": "_s + reason;
        if (!credentialId.isEmpty())
            text += u": credential %1 version %2, sealed to %3"_s.arg(credentialId)
                        .arg(version)
                        .arg(agentCountText(envelopeCount));
        return text;
    }
};

// Counts of the outcomes, in the order the summary prints them.
struct ImportSummary {
    qsizetype created = 0;
    qsizetype rotated = 0;
    qsizetype skipped = 0;
    qsizetype failed = 0;
    qsizetype notAttempted = 0;

    void count(const QString &action)
    {
        if (action == u"created"_s || action == u"would_create"_s)
            ++created;
        else if (action == u"rotated"_s || action == u"would_rotate"_s)
            ++rotated;
        else if (action == u"skipped"_s)
            ++skipped;
        else if (action == u"failed"_s)
            ++failed;
    }
};

QStringList splitList(const QString &text)
{
    QStringList items;
    for (const QString &item : text.split(u',', Qt::SkipEmptyParts))
        items.append(item.trimmed());
    items.removeAll(QString());
    return items;
}

// Resolves agent ids or names from --scope to ids.
Result<QStringList> resolveScope(const QStringList &agents, const QList<client::AgentRow> &rows)
{
    QStringList ids;
    for (const QString &agent : agents) {
        QString found;
        for (const client::AgentRow &row : rows) {
            if (row.agentId != agent && row.name != agent)
                continue;
            if (!found.isEmpty() && found != row.agentId)
                return makeError(Reason::Malformed,
                                 u"--scope: several agents are named \"%1\"; give agent "
                                 "ids"_s.arg(agent));
            found = row.agentId;
        }
        if (found.isEmpty())
            return makeError(Reason::NotFound,
                             u"--scope: no agent with id or name \"%1\"; see 'sealrelayctl agent "
                             "list'"_s.arg(agent));
        ids.append(found);
    }
    ids.sort();
    ids.removeDuplicates();
    return ids;
}

// Maps each active credential's name to its id, from GET /api/credentials.
Result<QHash<QString, QString>> fetchExistingNames(client::BackendClient &backend)
{
    const client::ApiResult reply = backend.get(u"/api/credentials"_s);
    if (!reply)
        return reply.error().toError();
    QHash<QString, QString> names;
    for (const QJsonValue &value : reply->json.value(u"credentials"_s).toArray()) {
        const QJsonObject credential = value.toObject();
        names.insert(credential.value(u"name"_s).toString(),
                     credential.value(u"credential_id"_s).toString());
    }
    return names;
}

// Everything the uploads share: the session, the signer, the agents and the
// names that exist on the backend.
struct ImportContext {
    ClientSession *session = nullptr;
    client::CredentialCreator *creator = nullptr;
    QList<client::AgentRow> agents;
    QStringList scopeAgentIds; // empty: auto_all
    QHash<QString, QString> existing; // name -> credential id
    bool rotateExisting = false;
    QSet<QString> warnings; // printed once each at the end
};

// Uploads one entry and returns its outcome with the exit code of a failure
// (ExitSuccess otherwise). The entry's secret fields are wiped on return.
std::pair<EntryOutcome, int> uploadEntry(ImportContext &context, client::ImportEntry &entry,
                                         const QString &existingId)
{
    EntryOutcome outcome;
    outcome.location = entry.location;
    outcome.label = entry.name;

    QJsonObject secret = client::importSecretFields(entry);
    entry.wipeSecrets();
    Result<client::PreparedUpload> prepared = makeError(Reason::Internal, QString());
    if (existingId.isEmpty()) {
        client::NewCredential credential;
        credential.name = entry.name;
        credential.kind = QString(client::kImportedKind);
        credential.scopeAgentIds = context.scopeAgentIds;
        prepared = context.creator->create(credential, secret, context.agents);
    } else {
        Result<SignedStatement> current =
            client::fetchCurrentStatement(context.session->backend(), existingId);
        if (!current) {
            secret = QJsonObject();
            outcome.action = u"failed"_s;
            outcome.reason = current.error().message;
            return { outcome, ExitBackendError };
        }
        Result<CredentialStatement> verified = context.creator->verifyCurrent(current.value());
        if (!verified) {
            secret = QJsonObject();
            outcome.action = u"failed"_s;
            outcome.reason = verified.error().message;
            return { outcome, ExitVerificationFailed };
        }
        prepared = context.creator->rotate(current.value(), secret, context.agents);
    }
    secret = QJsonObject();
    if (!prepared) {
        outcome.action = u"failed"_s;
        outcome.reason = prepared.error().message;
        return { outcome, ExitUsageError };
    }

    const client::PreparedUpload &upload = prepared.value();
    const client::ApiResult reply = client::sendUpload(context.session->backend(), upload);
    if (!reply) {
        outcome.action = u"failed"_s;
        outcome.reason = reply.error().toError().message;
        return { outcome, ExitBackendError };
    }
    for (const QString &warning : upload.warnings)
        context.warnings.insert(warning);
    outcome.action = existingId.isEmpty() ? u"created"_s : u"rotated"_s;
    outcome.credentialId = upload.statement.credentialId;
    outcome.version = upload.statement.version;
    outcome.envelopeCount = upload.envelopeAgentIds.size();
    context.existing.insert(entry.name, outcome.credentialId);
    return { outcome, ExitSuccess };
}

QString summaryText(const ImportSummary &summary, qsizetype total, bool dryRun)
{
    if (dryRun)
        return u"Dry run, nothing was uploaded: %1 to create, %2 to rotate, %3 skipped, of %4 "
               "entries."_s.arg(summary.created)
                   .arg(summary.rotated)
                   .arg(summary.skipped)
                   .arg(total);
    return u"Imported %1 of %2 entries: %3 created, %4 rotated, %5 skipped, %6 failed, %7 not "
           "attempted."_s.arg(summary.created + summary.rotated)
               .arg(total)
               .arg(summary.created)
               .arg(summary.rotated)
               .arg(summary.skipped)
               .arg(summary.failed)
               .arg(summary.notAttempted);
}

int importCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption format(
        u"format"_s, u"Format of FILE: keepassxc-csv or bitwarden-json."_s, u"FORMAT"_s);
    const QCommandLineOption rotateExisting(
        u"rotate-existing"_s,
        u"Rotate a credential whose name already exists to the value in FILE, keeping its "
        "scope. Default: skip it."_s);
    const QCommandLineOption scope(u"scope"_s,
                                   u"Comma-separated agent ids or names in scope of the "
                                   "credentials created. Default: every agent (auto_all)."_s,
                                   u"AGENT,..."_s);
    const QCommandLineOption dryRun(u"dry-run"_s,
                                    u"Check FILE and the names on the backend, print what would "
                                    "be done, and upload nothing."_s);
    parser.addOptions({ format, rotateExisting, scope, dryRun });
    options.addTo(parser);
    parser.addPositionalArgument(u"FILE"_s, u"The export to import."_s);
    const CommandHelp help {
        u"--format keepassxc-csv|bitwarden-json FILE [--rotate-existing] [--scope AGENT,...] "
        "[--dry-run] [--key-file PATH] [--profile NAME] [--json]"_s,
        u"Imports the logins of a password manager export as credentials of kind \"password\" "
        "with the secret fields username, password, url, and notes and totp when not empty. "
        "A KeePassXC CSV export and an unencrypted Bitwarden JSON export are read. The name "
        "is the group or folder path and the title joined with \"/\", without KeePassXC's "
        "\"Root\". Entries without a password or a valid name, items that are not logins and "
        "names that repeat in the file are skipped with the reason. The whole file is checked "
        "before the first upload, so a malformed file uploads nothing. The first failed "
        "upload stops the import. Running it again skips the names uploaded before."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    if (auto done = requireOption(parser, u"format"_s))
        return *done;
    const std::optional<client::ImportFormat> importFormat =
        client::importFormatFromName(parser.value(format));
    if (!importFormat)
        return fail(ExitUsageError,
                    u"--format: \"%1\" is not a known format; give keepassxc-csv or "
                    "bitwarden-json"_s.arg(parser.value(format)));

    // Parse and check the whole file before anything else.
    const QString path = parser.positionalArguments().constFirst();
    Result<QByteArray> read = readFile(path, kMaxImportFileBytes);
    if (!read)
        return failWith(ExitUsageError, read.error());
    QByteArray bytes = std::move(read).value();
    Result<client::ImportedExport> parsed = client::parseExport(*importFormat, bytes);
    client::wipe(bytes);
    if (!parsed)
        return failWith(ExitUsageError,
                        Error { parsed.error().reason, path + u": "_s + parsed.error().message });
    client::ImportedExport &imported = parsed.value();

    auto opened = ClientSession::open(options, parser);
    if (!opened)
        return failWith(ExitUsageError, opened.error());
    ClientSession &session = *opened.value();
    std::optional<client::OperatorKey> key;
    if (!parser.isSet(dryRun)) {
        Result<client::OperatorKey> loaded = session.loadOperatorKey();
        if (!loaded)
            return failWith(loaded.error().reason == Reason::DecryptFailed ? ExitVerificationFailed
                                                                           : ExitUsageError,
                            loaded.error());
        key = std::move(loaded).value();
    }

    ImportContext context;
    context.session = &session;
    context.rotateExisting = parser.isSet(rotateExisting);
    Result<QList<client::AgentRow>> rows = client::fetchAgents(session.backend());
    if (!rows)
        return failWith(ExitBackendError, rows.error());
    context.agents = rows.value();
    if (parser.isSet(scope)) {
        Result<QStringList> ids = resolveScope(splitList(parser.value(scope)), context.agents);
        if (!ids)
            return failWith(ExitUsageError, ids.error());
        if (ids->isEmpty())
            return fail(ExitUsageError, u"--scope is empty; omit it for every agent"_s);
        context.scopeAgentIds = ids.value();
    }
    Result<QHash<QString, QString>> existing = fetchExistingNames(session.backend());
    if (!existing)
        return failWith(ExitBackendError, existing.error());
    context.existing = existing.value();

    std::optional<client::CredentialCreator> creator;
    if (key) {
        creator.emplace(key->privateKey(), session.certificates(), session.trusted());
        context.creator = &*creator;
    }

    const bool json = parser.isSet(options.json);
    QJsonArray outcomes;
    ImportSummary summary;
    int exitCode = ExitSuccess;
    for (client::ImportEntry &entry : imported.entries) {
        if (exitCode != ExitSuccess) {
            ++summary.notAttempted;
            entry.wipeSecrets();
            continue;
        }

        EntryOutcome outcome;
        outcome.location = entry.location;
        outcome.label = entry.name.isEmpty() ? entry.title : entry.name;
        const QString existingId = context.existing.value(entry.name);
        if (entry.skipped()) {
            outcome.action = u"skipped"_s;
            outcome.reason = entry.skipReason;
        } else if (!existingId.isEmpty() && !context.rotateExisting) {
            outcome.action = u"skipped"_s;
            outcome.reason = u"a credential with this name exists on the backend; give "
                             "--rotate-existing to rotate it to the value in the file"_s;
        } else if (!creator) {
            outcome.action = existingId.isEmpty() ? u"would_create"_s : u"would_rotate"_s;
        } else {
            int code = ExitSuccess;
            std::tie(outcome, code) = uploadEntry(context, entry, existingId);
            exitCode = code;
        }
        entry.wipeSecrets();

        summary.count(outcome.action);
        outcomes.append(outcome.toJson());
        if (!json)
            printOut((outcome.toText() + u'\n').toUtf8());
    }

    for (const QString &warning : std::as_const(context.warnings))
        printError(u"warning: "_s + warning);
    const qsizetype total = imported.entries.size();
    if (json) {
        printJson({ { u"dry_run"_s, !creator.has_value() },
                    { u"format"_s, parser.value(format) },
                    { u"entries"_s, outcomes },
                    { u"summary"_s,
                      QJsonObject { { u"entries"_s, total },
                                    { u"created"_s, summary.created },
                                    { u"rotated"_s, summary.rotated },
                                    { u"skipped"_s, summary.skipped },
                                    { u"failed"_s, summary.failed },
                                    { u"not_attempted"_s, summary.notAttempted } } },
                    { u"warnings"_s, QJsonArray::fromStringList(context.warnings.values()) } });
    } else {
        printOut((summaryText(summary, total, !creator.has_value()) + u'\n').toUtf8());
    }
    if (exitCode != ExitSuccess)
        printError(u"error: the import stopped at the failed entry; %1 entries after it were "
                   "not attempted. Fix the cause and run the import again: names uploaded "
                   "before are then skipped, unless --rotate-existing is given."_s.arg(
                       summary.notAttempted));
    return exitCode;
}

} // namespace

QList<Command> importCommands()
{
    return {
        { { u"import"_s }, u"Import a KeePassXC CSV or Bitwarden JSON export."_s, importCommand },
    };
}

} // namespace sealrelay::ctl
