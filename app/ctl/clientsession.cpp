// Profiles, token storage, prompts and the operator key selection of
// sealrelayctl's operator commands.
#include "clientsession.h"

#include "cafile.h"
#include "canonicaljson.h"
#include "commandline.h"
#include "ids.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

#include <cerrno>
#include <cstdio>
#include <termios.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::ctl {

namespace {

constexpr qsizetype kMaxLineBytes = 64 * 1024;

// Reads one line from `file`, without its newline.
Result<QByteArray> readLine(std::FILE *file)
{
    QByteArray line;
    while (true) {
        const int character = std::fgetc(file);
        if (character == EOF || character == '\n')
            break;
        line.append(char(character));
        if (line.size() > kMaxLineBytes) {
            client::wipe(line);
            return makeError(Reason::TooLarge,
                             u"the line typed is longer than %1 bytes"_s.arg(kMaxLineBytes));
        }
    }
    if (line.endsWith('\r'))
        line.chop(1);
    return line;
}

} // namespace

std::optional<int> parseExactly(QCommandLineParser &parser, const QStringList &arguments,
                                const CommandHelp &help, qsizetype positional)
{
    if (auto done = parseCommandOptions(parser, arguments, help, positional))
        return done;
    if (parser.positionalArguments().size() != positional)
        return fail(ExitUsageError,
                    u"missing argument: %1 %2"_s.arg(arguments.value(0), help.synopsis));
    return std::nullopt;
}

void SessionOptions::addTo(QCommandLineParser &parser) const
{
    parser.addOptions({ profile, keyFile, passphraseFile, json });
}

QString SessionOptions::profileName(const QCommandLineParser &parser) const
{
    if (parser.isSet(profile))
        return parser.value(profile);
    return qEnvironmentVariable("SEALRELAY_PROFILE", u"default"_s);
}

bool standardInputIsTerminal()
{
    return ::isatty(STDIN_FILENO) == 1;
}

Result<QByteArray> promptHidden(const QString &prompt)
{
    std::FILE *terminal = std::fopen("/dev/tty", "r+");
    if (!terminal)
        return makeError(Reason::IoError,
                         u"cannot prompt for %1: no terminal; pipe the value into standard "
                         "input or use the option for a file"_s.arg(prompt));
    std::fputs(prompt.toUtf8().constData(), terminal);
    std::fputs(": ", terminal);
    std::fflush(terminal);

    termios saved {};
    const int descriptor = ::fileno(terminal);
    const bool hasTerminalMode = ::tcgetattr(descriptor, &saved) == 0;
    if (hasTerminalMode) {
        termios silent = saved;
        silent.c_lflag &= ~tcflag_t(ECHO);
        ::tcsetattr(descriptor, TCSAFLUSH, &silent);
    }
    Result<QByteArray> line = readLine(terminal);
    if (hasTerminalMode)
        ::tcsetattr(descriptor, TCSAFLUSH, &saved);
    std::fputs("\n", terminal);
    std::fclose(terminal);
    return line;
}

Result<QString> promptVisible(const QString &prompt)
{
    std::FILE *terminal = std::fopen("/dev/tty", "r+");
    if (!terminal)
        return makeError(Reason::IoError,
                         u"cannot prompt for %1: no terminal; pass it as an option"_s.arg(prompt));
    std::fputs((prompt + u": "_s).toUtf8().constData(), terminal);
    std::fflush(terminal);
    Result<QByteArray> line = readLine(terminal);
    std::fclose(terminal);
    if (!line)
        return line.error();
    return QString::fromUtf8(line.value()).trimmed();
}

Result<QByteArray> readPassphrase(const SessionOptions &options, const QCommandLineParser &parser,
                                  bool confirm)
{
    if (parser.isSet(options.passphraseFile)) {
        const QString path = parser.value(options.passphraseFile);
        Result<QByteArray> content = readFile(path, kMaxLineBytes);
        if (!content)
            return content.error();
        QByteArray passphrase = content->left(content->indexOf('\n'));
        client::wipe(content.value());
        if (passphrase.endsWith('\r'))
            passphrase.chop(1);
        if (passphrase.isEmpty())
            return makeError(Reason::Malformed,
                             u"--passphrase-file %1: the first line is empty; write the "
                             "passphrase on it"_s.arg(path));
        return passphrase;
    }

    QByteArray fromEnvironment = qgetenv("SEALRELAY_OPERATOR_PASSPHRASE");
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;

    Result<QByteArray> typed = promptHidden(u"Operator key passphrase"_s);
    if (!typed)
        return makeError(Reason::IoError,
                         u"no passphrase: pass --passphrase-file PATH, set "
                         "SEALRELAY_OPERATOR_PASSPHRASE, or run on a terminal"_s);
    if (typed->isEmpty())
        return makeError(Reason::Malformed, u"the passphrase is empty; type one"_s);
    if (confirm) {
        Result<QByteArray> again = promptHidden(u"Repeat the passphrase"_s);
        const bool same = again && again.value() == typed.value();
        if (again)
            client::wipe(again.value());
        if (!same) {
            client::wipe(typed.value());
            return makeError(Reason::Malformed, u"the passphrases differ; run the command again"_s);
        }
    }
    return typed;
}

Result<client::OperatorKeyStore> operatorKeyStore(const SessionOptions &options,
                                                  const QCommandLineParser &parser,
                                                  const Profile &profile, bool confirmNew)
{
    const QString keyFile =
        parser.isSet(options.keyFile) ? parser.value(options.keyFile) : profile.operatorKeyFile;
    if (keyFile.isEmpty())
        return client::OperatorKeyStore::keychain(profile.name);

    Result<QByteArray> passphrase = readPassphrase(options, parser, confirmNew);
    if (!passphrase)
        return passphrase.error();
    client::OperatorKeyStore store = client::OperatorKeyStore::keyFile(
        QFileInfo(keyFile).absoluteFilePath(), passphrase.value());
    client::wipe(passphrase.value());
    return store;
}

Result<std::unique_ptr<ClientSession>> ClientSession::open(const SessionOptions &options,
                                                           const QCommandLineParser &parser)
{
    const QString name = options.profileName(parser);
    Result<Profile> profile = Profile::load(name);
    if (!profile)
        return profile.error();
    if (profile->backendUrl.isEmpty() || profile->orgId.isEmpty())
        return makeError(Reason::NotFound,
                         u"profile \"%1\" has no backend; run 'sealrelayctl login --backend URL "
                         "--profile %1' first"_s.arg(name));

    Result<SecureBuffer> token = client::readStoredToken(profile.value());
    if (!token)
        return token.error();

    Result<client::TrustedOperators> trusted =
        client::TrustedOperators::load(client::TrustedOperators::defaultPath(name));
    if (!trusted)
        return trusted.error();
    Result<client::GenerationRecord> generations =
        client::GenerationRecord::load(client::GenerationRecord::defaultPath(name));
    if (!generations)
        return generations.error();

    std::unique_ptr<ClientSession> session(new ClientSession);
    session->m_options = &options;
    session->m_parser = &parser;
    session->m_profile = profile.value();
    // NOTE: the QString copy inside BackendClient cannot be wiped.
    session->m_backend = std::make_unique<client::BackendClient>(QUrl(profile->backendUrl),
                                                                 QString::fromUtf8(token->view()));
    Result<QList<QSslCertificate>> caCertificates =
        readCaCertificates(profile->caFile, u"ca_file of the profile, set by 'login --ca-file'");
    if (!caCertificates)
        return caCertificates.error();
    session->m_backend->setCaCertificates(caCertificates.value());
    session->m_trusted.emplace(std::move(trusted).value());
    session->m_generations.emplace(std::move(generations).value());
    session->m_certificates = std::make_unique<client::AgentCertificates>(
        *session->m_trusted, profile->orgId, *session->m_generations);
    return session;
}

Result<client::OperatorKey> ClientSession::loadOperatorKey()
{
    Result<client::OperatorKeyStore> store =
        operatorKeyStore(*m_options, *m_parser, m_profile, false);
    if (!store)
        return store.error();
    Result<client::OperatorKey> key = store->load();
    if (!key) {
        if (key.error().reason == Reason::NotFound)
            return makeError(Reason::NotFound,
                             u"no operator key in %1; run 'sealrelayctl operator init' first"_s.arg(
                                 store->location()));
        return key.error();
    }
    if (!m_trusted->contains(key->publicKey()))
        return makeError(Reason::UntrustedOperator,
                         u"the operator key %1 is not in the trusted operators %2; run "
                         "'sealrelayctl operator trust %3'"_s.arg(key->displayFingerprint(),
                                                                  m_trusted->path(),
                                                                  key->trustedOperatorsLine()));
    return key;
}

void printJson(const QJsonObject &object)
{
    QByteArray line = QJsonDocument(object).toJson(QJsonDocument::Compact);
    line.append('\n');
    printOut(line);
}

int failRequest(const client::ApiError &error)
{
    Error failure = error.toError();
    // Qt's message for a certificate that no trusted CA issued names only
    // the handshake.
    if (error.code == u"network_error" && error.message.contains(u"SSL"))
        failure.message += u". If an internal CA issued the backend's certificate, give its CA "
                           "certificate (PEM) with 'sealrelayctl login --ca-file PATH'; the "
                           "profile keeps it."_s;
    return failWith(ExitBackendError, failure);
}

Result<client::AgentRow> findAgent(const QList<client::AgentRow> &rows, const QString &agent)
{
    QList<const client::AgentRow *> byName;
    for (const client::AgentRow &row : rows) {
        if (row.agentId == agent)
            return row;
        if (row.name == agent)
            byName.append(&row);
    }
    if (byName.size() == 1)
        return *byName.constFirst();
    if (byName.isEmpty())
        return makeError(
            Reason::NotFound,
            u"no agent with id or name \"%1\"; see 'sealrelayctl agent list'"_s.arg(agent));
    QStringList ids;
    for (const client::AgentRow *row : std::as_const(byName))
        ids.append(row->agentId);
    return makeError(Reason::Malformed,
                     u"several agents are named \"%1\" (%2); give the agent "
                     "id"_s.arg(agent, ids.join(u", "_s)));
}

Result<QString> resolveCredentialId(client::BackendClient &backend, const QString &credential)
{
    if (isCanonicalUuid(credential))
        return credential;
    const client::ApiResult reply = backend.get(u"/api/credentials"_s);
    if (!reply)
        return reply.error().toError();
    QStringList matches;
    for (const QJsonValue &value : reply->json.value(u"credentials"_s).toArray()) {
        if (value.toObject().value(u"name"_s).toString() == credential)
            matches.append(value.toObject().value(u"credential_id"_s).toString());
    }
    if (matches.isEmpty())
        return makeError(Reason::NotFound,
                         u"no credential with id or name \"%1\"; see "
                         "'sealrelayctl credential list'"_s.arg(credential));
    if (matches.size() > 1)
        return makeError(Reason::Malformed,
                         u"several credentials are named \"%1\" (%2); give the "
                         "id"_s.arg(credential, matches.join(u", "_s)));
    return matches.constFirst();
}

} // namespace sealrelay::ctl
