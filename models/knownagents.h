// The agents a console has seen with a certificate that verified under a
// pinned operator key, kept per profile and org, so that a backend which later
// omits an agent from every list cannot shrink the agents in scope unnoticed.
#pragma once

#include "agentcertificates.h"
#include "error.h"

#include <QDateTime>
#include <QHash>
#include <QList>
#include <QString>

#include <optional>

namespace sealrelay::models {

// One agent as last seen with a verified certificate.
struct KnownAgent {
    QString agentId;
    QString name; // agent_name of the certificate
    QString fingerprint; // agent fingerprint of the certificate's keys, 64 hex digits
    qint64 generation = 0;
    QDateTime expiresAt; // expires_at of the certificate
    QDateTime firstSeen; // when this console first verified a certificate of the agent

    bool operator==(const KnownAgent &other) const = default;
};

// The known-agent list of one org. A list made by load() is also kept in a
// JSON file (mode 0600, replaced atomically by save()):
//
//   {"agents": {"<agent_id>": {"expires_at": "...", "fingerprint": "...",
//    "first_seen": "...", "generation": 2, "name": "edge-1"}}, "org_id": "..."}
//
// It is not thread-safe: CredentialsModel uses it on its own thread and
// hands copies of agents() to its verification thread.
class KnownAgents {
public:
    // <config folder>/sealrelay/known-agents-<profile>-<org id>.json, next to
    // the profile file of `profile`.
    static QString defaultPath(const QString &profile, const QString &orgId);

    // Reads the list of `orgId` from `path`. A missing file is an empty list.
    // A file that is too large, is not valid JSON of the form above or names
    // another org is moved to <path>.corrupt with a warning in the log, and
    // the list starts empty. The first save() after a record() writes it
    // again, and replaces the file when it could not be moved.
    // A file that group or others may read or write is Reason::Forbidden,
    // and a file that cannot be read is Reason::IoError.
    static Result<KnownAgents> load(const QString &path, const QString &orgId);
    // A list that is never written to disk, for tests and a console that has
    // no profile or org yet.
    static KnownAgents inMemory(const QString &orgId);

    const QString &orgId() const { return m_orgId; }
    // Empty for an in-memory list.
    const QString &path() const { return m_path; }
    // Every known agent, ordered by agent id.
    QList<KnownAgent> agents() const;
    std::optional<KnownAgent> find(const QString &agentId) const;

    // Records `agent`, whose certificate verified at `seenAt`, in memory.
    // An unknown agent is added with first_seen `seenAt`. For a known one, a
    // certificate of a higher generation, or of the same generation with a
    // later expires_at, replaces name, fingerprint, generation and expiry,
    // and first_seen stays. Returns whether the list changed. A certificate
    // of another org is Reason::IdMismatch and changes nothing.
    Result<bool> record(const client::CertifiedAgent &agent, const QDateTime &seenAt);
    // Writes the whole list to its file when a change has not been written
    // yet. It does nothing for an in-memory list. After a failed write the
    // changes stay in memory and the next save() tries again.
    Result<void> save();

private:
    KnownAgents(QString path, QString orgId)
        : m_path(std::move(path))
        , m_orgId(std::move(orgId))
    {
    }

    QString m_path; // empty: in memory only
    QString m_orgId;
    QHash<QString, KnownAgent> m_agents;
    bool m_unsaved = false; // m_agents has changes that the file lacks
};

} // namespace sealrelay::models
