// Key generation and signing for the agent's own identity.
#include "agentidentity.h"

#include "ids.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

Result<AgentIdentity> AgentIdentity::generate(const QString &agentId)
{
    const QString id = agentId.isEmpty() ? newUuid() : agentId;
    if (!isCanonicalUuid(id)) {
        return makeError(Reason::Malformed,
                         u"agent_id \"%1\" is not a lowercase 8-4-4-4-12 UUID"_s.arg(id.left(64)));
    }
    Result<RsaPrivateKey> encryptionKey = RsaPrivateKey::generate();
    if (!encryptionKey)
        return encryptionKey.error();
    Result<Ed25519PrivateKey> identityKey = Ed25519PrivateKey::generate();
    if (!identityKey)
        return identityKey.error();
    return AgentIdentity { id, QString(), std::move(encryptionKey).value(),
                           std::move(identityKey).value() };
}

QString AgentIdentity::encryptionKeyFingerprint() const
{
    return encryptionKey.publicKey().fingerprint();
}

QString AgentIdentity::fingerprint() const
{
    return agentFingerprint(agentId, encryptionKey.publicKey().spkiDer(),
                            identityKey.publicKey().raw());
}

Result<SignedStatement> AgentIdentity::sign(StatementContext context,
                                            const QJsonObject &fields) const
{
    return signStatement(context, fields, identityKey);
}

} // namespace sealrelay::agent
