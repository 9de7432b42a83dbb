// Reading, updating and writing the console's known-agent list.
#include "knownagents.h"

#include "canonicaljson.h"
#include "clientfiles.h"
#include "clientprofile.h"
#include "ids.h"
#include "logging.h"
#include "statement.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonObject>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::models {

namespace {

// About 70,000 agents: an entry with a 6-character name takes 233 bytes.
constexpr qsizetype kMaxKnownAgentsBytes = 16 * 1024 * 1024;

bool isFingerprint(const QString &text)
{
    return text.size() == 64 && std::all_of(text.cbegin(), text.cend(), [](QChar c) {
               return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f');
           });
}

Error invalidEntry(const QString &agentId, const QString &field)
{
    return makeError(Reason::Malformed,
                     u"the entry of agent \"%1\" has no valid \"%2\""_s.arg(agentId, field));
}

Result<KnownAgent> parseEntry(const QString &agentId, const QJsonValue &value)
{
    if (!isCanonicalUuid(agentId))
        return makeError(Reason::Malformed,
                         u"the key \"%1\" of \"agents\" is not a lowercase UUID"_s.arg(agentId));
    if (!value.isObject())
        return makeError(Reason::Malformed,
                         u"the entry of agent \"%1\" is not an object"_s.arg(agentId));
    const QJsonObject entry = value.toObject();

    KnownAgent agent;
    agent.agentId = agentId;
    const QJsonValue name = entry.value(u"name"_s);
    if (!name.isString())
        return invalidEntry(agentId, u"name"_s);
    agent.name = name.toString();
    agent.fingerprint = entry.value(u"fingerprint"_s).toString();
    if (!isFingerprint(agent.fingerprint))
        return invalidEntry(agentId, u"fingerprint"_s);
    agent.generation = entry.value(u"generation"_s).toInteger(0);
    if (agent.generation < 1)
        return invalidEntry(agentId, u"generation"_s);

    Result<QDateTime> expiresAt =
        parseTimestamp(entry.value(u"expires_at"_s).toString(), u"expires_at");
    if (!expiresAt)
        return invalidEntry(agentId, u"expires_at"_s);
    agent.expiresAt = expiresAt.value();
    Result<QDateTime> firstSeen =
        parseTimestamp(entry.value(u"first_seen"_s).toString(), u"first_seen");
    if (!firstSeen)
        return invalidEntry(agentId, u"first_seen"_s);
    agent.firstSeen = firstSeen.value();
    return agent;
}

// Parses the file's content. Every problem is Reason::Malformed.
Result<QHash<QString, KnownAgent>> parseList(QByteArrayView content, const QString &orgId)
{
    Result<QJsonValue> json = parseJsonStrict(content);
    if (!json)
        return json.error();
    if (!json->isObject())
        return makeError(Reason::Malformed, u"the content is not a JSON object"_s);
    const QJsonObject object = json->toObject();
    const QString fileOrg = object.value(u"org_id"_s).toString();
    if (fileOrg != orgId)
        return makeError(Reason::Malformed,
                         u"it names org \"%1\", not org %2"_s.arg(fileOrg, orgId));
    const QJsonValue agents = object.value(u"agents"_s);
    if (!agents.isObject())
        return makeError(Reason::Malformed, u"it has no \"agents\" object"_s);

    QHash<QString, KnownAgent> parsed;
    const QJsonObject entries = agents.toObject();
    for (auto it = entries.constBegin(); it != entries.constEnd(); ++it) {
        Result<KnownAgent> agent = parseEntry(it.key(), it.value());
        if (!agent)
            return agent.error();
        parsed.insert(it.key(), std::move(agent).value());
    }
    return parsed;
}

// Moves a file that cannot be read as a list aside, so it is not lost when
// the list is written again, and logs what happened.
void setAsideCorrupt(const QString &path, const QString &problem)
{
    const QString corrupt = path + u".corrupt"_s;
    const bool moved =
        std::rename(QFile::encodeName(path).constData(), QFile::encodeName(corrupt).constData())
        == 0;
    const QString where = moved ? u"it was moved to %1"_s.arg(corrupt)
                                : u"it could not be moved to %1 (%2), so it will be replaced"_s.arg(
                                    corrupt, QString::fromLocal8Bit(std::strerror(errno)));
    logger("console")->warn(
        "the known-agent list {} is not valid: {}; {}. The list is rebuilt from the agents "
        "whose certificates verify from now on, and until then an agent that the backend "
        "omits is not counted in scope",
        path.toStdString(), problem.toStdString(), where.toStdString());
}

} // namespace

QString KnownAgents::defaultPath(const QString &profile, const QString &orgId)
{
    return QFileInfo(client::Profile::path(profile))
        .dir()
        .filePath(u"known-agents-%1-%2.json"_s.arg(profile, orgId));
}

Result<KnownAgents> KnownAgents::load(const QString &path, const QString &orgId)
{
    KnownAgents list(path, orgId);
    Result<QByteArray> content =
        client::readPrivateFile(path, kMaxKnownAgentsBytes, u"known-agent list");
    if (!content) {
        switch (content.error().reason) {
        case Reason::NotFound:
            return list;
        case Reason::TooLarge:
            setAsideCorrupt(path, u"it has more than %1 bytes"_s.arg(kMaxKnownAgentsBytes));
            return list;
        default:
            return content.error();
        }
    }

    Result<QHash<QString, KnownAgent>> agents = parseList(content.value(), orgId);
    if (!agents) {
        setAsideCorrupt(path, agents.error().message);
        return list;
    }
    list.m_agents = std::move(agents).value();
    return list;
}

KnownAgents KnownAgents::inMemory(const QString &orgId)
{
    return KnownAgents(QString(), orgId);
}

QList<KnownAgent> KnownAgents::agents() const
{
    QList<KnownAgent> result = m_agents.values();
    std::sort(result.begin(), result.end(),
              [](const KnownAgent &a, const KnownAgent &b) { return a.agentId < b.agentId; });
    return result;
}

std::optional<KnownAgent> KnownAgents::find(const QString &agentId) const
{
    const auto found = m_agents.constFind(agentId);
    if (found == m_agents.constEnd())
        return std::nullopt;
    return found.value();
}

Result<bool> KnownAgents::record(const client::CertifiedAgent &agent, const QDateTime &seenAt)
{
    const AgentCertificate &certificate = agent.certificate;
    if (certificate.orgId != m_orgId) {
        return makeError(
            Reason::IdMismatch,
            u"the certificate of agent %1 is for org %2, not org %3 of the "
            u"known-agent list"_s.arg(certificate.agentId, certificate.orgId, m_orgId));
    }

    KnownAgent seen;
    seen.agentId = certificate.agentId;
    seen.name = certificate.agentName;
    seen.fingerprint =
        agentFingerprint(certificate.agentId, certificate.encryptionKey, certificate.identityKey);
    seen.generation = certificate.generation;
    seen.expiresAt = certificate.expiresAt;
    seen.firstSeen = seenAt;

    const auto found = m_agents.constFind(seen.agentId);
    bool changed = false;
    if (found == m_agents.constEnd()) {
        changed = true;
    } else {
        const KnownAgent &known = found.value();
        seen.firstSeen = known.firstSeen;
        changed = seen.generation > known.generation
            || (seen.generation == known.generation && seen.expiresAt > known.expiresAt);
    }
    if (changed) {
        m_agents.insert(seen.agentId, seen);
        m_unsaved = true;
    }
    return changed;
}

Result<void> KnownAgents::save()
{
    if (m_path.isEmpty() || !m_unsaved)
        return {};

    QJsonObject agents;
    for (const KnownAgent &agent : std::as_const(m_agents)) {
        agents.insert(agent.agentId,
                      QJsonObject {
                          { u"name"_s, agent.name },
                          { u"fingerprint"_s, agent.fingerprint },
                          { u"generation"_s, agent.generation },
                          { u"expires_at"_s, formatTimestamp(agent.expiresAt) },
                          { u"first_seen"_s, formatTimestamp(agent.firstSeen) },
                      });
    }
    Result<QByteArray> content =
        canonicalJson(QJsonObject { { u"org_id"_s, m_orgId }, { u"agents"_s, agents } });
    if (!content)
        return content.error();
    Result<void> written = client::writePrivateFile(m_path, QByteArray(content.value() + "\n"),
                                                    client::WriteMode::Replace);
    if (written)
        m_unsaved = false;
    return written;
}

} // namespace sealrelay::models
