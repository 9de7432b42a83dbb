// sealrelayctl's agent commands: enrolment tokens, the agent list with each
// certificate checked against the pinned operators, approval after the
// operator typed the agent fingerprint, and revocation.
#include "clientsession.h"
#include "commandline.h"
#include "credentialcreator.h"
#include "digest.h"
#include "ids.h"

#include <QCommandLineParser>
#include <QJsonArray>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::ctl {

namespace {

int enrolmentTokenCreateCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption agentName(u"agent-name"_s, u"The name the agent must enrol with."_s,
                                       u"NAME"_s);
    const QCommandLineOption ttl(u"ttl"_s,
                                 u"Lifetime in seconds (1 to 86400). Default: the backend's, "
                                 "3600 unless its maximum is shorter."_s,
                                 u"SECONDS"_s);
    parser.addOptions({ agentName, ttl, options.profile, options.json });
    const CommandHelp help {
        u"--agent-name NAME [--ttl SECONDS] [--profile NAME] [--json]"_s,
        u"Creates a single-use enrolment token bound to one agent name. Pass it to "
        "'sealrelay-agent init --enrolment-token'. The token is printed once, as the last "
        "line."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    if (auto done = requireOption(parser, u"agent-name"_s))
        return *done;

    QJsonObject body { { u"agent_name"_s, parser.value(agentName) } };
    if (parser.isSet(ttl)) {
        bool valid = false;
        const qint64 seconds = parser.value(ttl).toLongLong(&valid);
        if (!valid || seconds < 1 || seconds > 86400)
            return fail(ExitUsageError,
                        u"invalid --ttl \"%1\": expected whole seconds from 1 to "
                        "86400"_s.arg(parser.value(ttl)));
        body.insert(u"ttl_seconds"_s, seconds);
    }
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());

    const client::ApiResult reply =
        session.value()->backend().post(u"/api/agents/enrolment-tokens"_s, body);
    if (!reply)
        return failRequest(reply.error());
    if (parser.isSet(options.json)) {
        printJson(reply->json);
        return ExitSuccess;
    }
    printOut(u"token_id: %1\nagent_name: %2\nexpires_at: %3\n%4\n"_s
                 .arg(reply->json.value(u"token_id"_s).toString(),
                      reply->json.value(u"agent_name"_s).toString(),
                      reply->json.value(u"expires_at"_s).toString(),
                      reply->json.value(u"token"_s).toString())
                 .toUtf8());
    return ExitSuccess;
}

int agentListCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption status(u"status"_s,
                                    u"Only agents with this status: pending_approval, approved or "
                                    "revoked."_s,
                                    u"STATUS"_s);
    parser.addOptions({ status, options.profile, options.json });
    const CommandHelp help {
        u"[--status STATUS] [--profile NAME] [--json]"_s,
        u"Lists the agents with their status and connection, the agent fingerprint computed "
        "here from the listed keys, and the result of checking the certificate against this "
        "profile's trusted operators, org and recorded generations."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 0))
        return *done;
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());

    QUrlQuery query;
    if (parser.isSet(status))
        query.addQueryItem(u"status"_s, parser.value(status));
    const client::ApiResult reply = session.value()->backend().get(u"/api/agents"_s, query);
    if (!reply)
        return failRequest(reply.error());

    QJsonArray rows;
    for (const QJsonValue &value : reply->json.value(u"agents"_s).toArray()) {
        const QJsonObject object = value.toObject();
        Result<client::AgentRow> row = client::AgentRow::fromJson(object);
        QJsonObject entry { { u"agent_id"_s, object.value(u"agent_id"_s) },
                            { u"name"_s, object.value(u"name"_s) },
                            { u"status"_s, object.value(u"status"_s) },
                            { u"connection"_s,
                              object.value(u"sync"_s).toObject().value(u"connection"_s) },
                            { u"generation"_s, object.value(u"generation"_s) },
                            { u"expires_at"_s, object.value(u"expires_at"_s) } };
        if (!row) {
            entry.insert(u"certificate"_s, u"unreadable"_s);
            entry.insert(u"certificate_error"_s, row.error().message);
            rows.append(entry);
            continue;
        }
        entry.insert(u"fingerprint"_s,
                     agentFingerprint(row->agentId, row->encryptionKey, row->identityKey));
        if (!row->certificate) {
            entry.insert(u"certificate"_s, u"none"_s);
        } else {
            Result<client::CertifiedAgent> certified =
                session.value()->certificates().verify(row.value());
            entry.insert(u"certificate"_s, certified ? u"valid"_s : u"invalid"_s);
            if (!certified)
                entry.insert(u"certificate_error"_s, certified.error().message);
        }
        rows.append(entry);
    }

    if (parser.isSet(options.json)) {
        printJson({ { u"agents"_s, rows } });
        return ExitSuccess;
    }
    if (rows.isEmpty()) {
        printOut("No agents yet: create an enrolment token with 'sealrelayctl enrolment-token "
                 "create --agent-name NAME'.\n");
        return ExitSuccess;
    }
    // The text lists the agents sorted by name.
    QList<QJsonObject> entries;
    for (const QJsonValue &value : std::as_const(rows))
        entries.append(value.toObject());
    std::stable_sort(entries.begin(), entries.end(),
                     [](const QJsonObject &a, const QJsonObject &b) {
                         return a.value(u"name"_s).toString() < b.value(u"name"_s).toString();
                     });

    TextTable table(
        { u"ID"_s, u"NAME"_s, u"STATUS"_s, u"CONNECTION"_s, u"FINGERPRINT"_s, u"CERTIFICATE"_s });
    for (const QJsonObject &entry : std::as_const(entries)) {
        QString certificate = entry.value(u"certificate"_s).toString();
        if (entry.contains(u"certificate_error"_s))
            certificate += u" (%1)"_s.arg(entry.value(u"certificate_error"_s).toString());
        table.addRow({ entry.value(u"agent_id"_s).toString(), entry.value(u"name"_s).toString(),
                       entry.value(u"status"_s).toString(), entry.value(u"connection"_s).toString(),
                       formatFingerprintForDisplay(entry.value(u"fingerprint"_s).toString()),
                       certificate });
    }
    printOut(table.toUtf8());
    return ExitSuccess;
}

int agentApproveCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    const QCommandLineOption fingerprint(
        u"fingerprint"_s,
        u"The agent fingerprint printed by 'sealrelay-agent fingerprint' on the agent host: at "
        "least its first 16 hex digits. Default: a prompt."_s,
        u"HEX"_s);
    const QCommandLineOption generation(
        u"generation"_s,
        u"Certificate generation; a re-keyed agent needs the next one. Default: the next after "
        "the backend's and the highest recorded here."_s,
        u"N"_s);
    const QCommandLineOption validity(
        u"validity-days"_s, u"Certificate lifetime in days (1 to 365, default 365)."_s, u"DAYS"_s);
    parser.addOptions({ fingerprint, generation, validity });
    options.addTo(parser);
    parser.addPositionalArgument(u"AGENT"_s, u"Agent id or name."_s);
    const CommandHelp help {
        u"AGENT [--fingerprint HEX] [--generation N] [--validity-days DAYS] [--key-file PATH] "
        "[--profile NAME] [--json]"_s,
        u"Approves a pending agent: computes its fingerprint from the keys the backend lists, "
        "compares it with the digits typed, and only on a match signs a certificate with the "
        "operator key. A mismatch exits with code 1 and signs nothing."_s
    };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;

    qint64 requestedGeneration = 0;
    if (parser.isSet(generation)) {
        bool valid = false;
        requestedGeneration = parser.value(generation).toLongLong(&valid);
        if (!valid || requestedGeneration < 1)
            return fail(ExitUsageError,
                        u"invalid --generation \"%1\": expected a whole number of "
                        "1 or more"_s.arg(parser.value(generation)));
    }
    qint64 validityDays = 365;
    if (parser.isSet(validity)) {
        bool valid = false;
        validityDays = parser.value(validity).toLongLong(&valid);
        if (!valid || validityDays < 1 || validityDays > 365)
            return fail(
                ExitUsageError,
                u"invalid --validity-days \"%1\": expected 1 to 365"_s.arg(parser.value(validity)));
    }

    auto opened = ClientSession::open(options, parser);
    if (!opened)
        return failWith(ExitUsageError, opened.error());
    ClientSession &session = *opened.value();
    Result<QList<client::AgentRow>> rows = client::fetchAgents(session.backend());
    if (!rows)
        return failWith(ExitBackendError, rows.error());
    Result<client::AgentRow> row =
        findAgent(rows.value(), parser.positionalArguments().constFirst());
    if (!row)
        return failWith(ExitUsageError, row.error());

    if (row->status != u"pending_approval"_s)
        return fail(ExitUsageError,
                    u"agent %1 (%2) is %3, not pending_approval; only a pending agent can be "
                    "approved, and a re-keyed agent is pending again after 'sealrelay-agent "
                    "rekey'"_s.arg(row->name, row->agentId, row->status));

    QString typed = parser.value(fingerprint);
    if (typed.isEmpty()) {
        Result<QString> prompted = promptVisible(
            u"Fingerprint of agent %1 (%2), as 'sealrelay-agent fingerprint' prints it on the "
            "agent host"_s.arg(row->name, row->agentId));
        if (!prompted)
            return fail(ExitUsageError, prompted.error().message + u" (--fingerprint HEX)"_s);
        typed = prompted.value();
    }
    // A typing error is a usage error, but digits that are not the agent's are a
    // failed verification.
    const QString listed = agentFingerprint(row->agentId, row->encryptionKey, row->identityKey);
    Result<void> matched = client::matchTypedFingerprint(typed, listed);
    if (!matched) {
        if (matched.error().reason == Reason::IdMismatch)
            return fail(ExitVerificationFailed,
                        u"the fingerprint typed does not match agent %1 (%2): the backend lists "
                        "keys with another fingerprint. Nothing was signed. Read the fingerprint "
                        "again on the agent host; if it differs there too, the keys were "
                        "replaced on the way."_s.arg(row->name, row->agentId));
        return failWith(ExitUsageError, matched.error());
    }

    Result<client::OperatorKey> key = session.loadOperatorKey();
    if (!key)
        return failWith(key.error().reason == Reason::DecryptFailed ? ExitVerificationFailed
                                                                    : ExitUsageError,
                        key.error());
    if (requestedGeneration == 0) {
        // The local record contains a higher generation than the backend lists
        // when the backend rolled the agent back.
        const qint64 recorded = session.generations().highest(row->agentId).value_or(0);
        requestedGeneration = std::max(row->generation, recorded) + 1;
    }
    client::AgentCertificates signer(session.trusted(), session.profile().orgId,
                                     session.generations());
    Result<SignedStatement> certificate =
        signer.certify(row.value(), typed, requestedGeneration, key->privateKey(),
                       std::chrono::days(validityDays));
    if (!certificate)
        return failWith(certificate.error().reason == Reason::IdMismatch ? ExitVerificationFailed
                                                                         : ExitUsageError,
                        certificate.error());

    const client::ApiResult reply =
        session.backend().post(u"/api/agents/%1/certificate"_s.arg(row->agentId),
                               { { u"certificate"_s, certificate->toJson() } });
    if (!reply)
        return failRequest(reply.error());
    Result<void> raised = session.generations().raise(row->agentId, requestedGeneration);
    if (!raised)
        printError(u"warning: the agent is approved, but recording its generation failed: "_s
                   + raised.error().message);
    if (parser.isSet(options.json)) {
        printJson({ { u"agent_id"_s, row->agentId },
                    { u"name"_s, row->name },
                    { u"status"_s, reply->json.value(u"status"_s) },
                    { u"generation"_s, requestedGeneration },
                    { u"fingerprint"_s, listed } });
        return ExitSuccess;
    }
    printOut(u"approved agent %1 (%2), certificate generation %3, fingerprint %4\n"_s
                 .arg(row->name, row->agentId)
                 .arg(requestedGeneration)
                 .arg(formatFingerprintForDisplay(listed))
                 .toUtf8());
    return ExitSuccess;
}

int agentRevokeCommand(const QStringList &arguments)
{
    const SessionOptions options;
    QCommandLineParser parser;
    parser.addOptions({ options.profile, options.json });
    parser.addPositionalArgument(u"AGENT"_s, u"Agent id or name."_s);
    const CommandHelp help { u"AGENT [--profile NAME] [--json]"_s,
                             u"Revokes an agent: the backend stops sending it credentials and "
                             "rejects its connections."_s };
    if (auto done = parseExactly(parser, arguments, help, 1))
        return *done;
    auto session = ClientSession::open(options, parser);
    if (!session)
        return failWith(ExitUsageError, session.error());

    QString agentId = parser.positionalArguments().constFirst();
    if (!isCanonicalUuid(agentId)) {
        Result<QList<client::AgentRow>> rows = client::fetchAgents(session.value()->backend());
        if (!rows)
            return failWith(ExitBackendError, rows.error());
        Result<client::AgentRow> row = findAgent(rows.value(), agentId);
        if (!row)
            return failWith(ExitUsageError, row.error());
        agentId = row->agentId;
    }
    const client::ApiResult reply =
        session.value()->backend().post(u"/api/agents/%1/revoke"_s.arg(agentId));
    if (!reply)
        return failRequest(reply.error());
    if (parser.isSet(options.json))
        printJson(reply->json);
    else
        printOut(u"revoked agent %1\n"_s.arg(agentId).toUtf8());
    return ExitSuccess;
}

} // namespace

QList<Command> agentCommands()
{
    return {
        { { u"enrolment-token"_s, u"create"_s },
          u"Create a single-use agent enrolment token."_s,
          enrolmentTokenCreateCommand },
        { { u"agent"_s, u"list"_s },
          u"List agents with fingerprints and certificate checks."_s,
          agentListCommand },
        { { u"agent"_s, u"approve"_s },
          u"Certify a pending agent after a fingerprint check."_s,
          agentApproveCommand },
        { { u"agent"_s, u"revoke"_s }, u"Revoke an agent."_s, agentRevokeCommand },
    };
}

} // namespace sealrelay::ctl
