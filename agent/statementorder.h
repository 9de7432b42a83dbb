// The order of credential statements for one credential, as every agent
// applies it: a statement is accepted only if its (version, revision) is
// higher than the one held, or equal with byte-identical statement bytes.
#pragma once

#include <QByteArrayView>
#include <QtGlobal>

namespace sealrelay::agent {

enum class StatementOrder {
    Newer, // higher (version, revision) than the one held, or none held
    Identical, // the same (version, revision) and the same bytes
    Older, // lower (version, revision): SUPERSEDED, or STALE_STATEMENT for a peer
    Conflicting, // the same (version, revision) with other bytes: EQUIVOCATION
};

struct StatementPosition {
    qint64 version = 0;
    qint64 revision = 0;
    QByteArrayView bytes;
};

inline StatementOrder compareStatements(const StatementPosition &held,
                                        const StatementPosition &incoming)
{
    if (incoming.version != held.version)
        return incoming.version > held.version ? StatementOrder::Newer : StatementOrder::Older;
    if (incoming.revision != held.revision)
        return incoming.revision > held.revision ? StatementOrder::Newer : StatementOrder::Older;
    return incoming.bytes == held.bytes ? StatementOrder::Identical : StatementOrder::Conflicting;
}

} // namespace sealrelay::agent
