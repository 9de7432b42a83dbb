// The agent's own identity: its agent_id, the org it joined, and its two
// private keys (RSA-2048 for receiving envelopes, Ed25519 for signing
// attestations and receipts).
#pragma once

#include "error.h"
#include "keys.h"
#include "statement.h"

#include <QString>

namespace sealrelay::agent {

struct AgentIdentity {
    QString agentId;
    QString orgId; // "" until the backend's welcome names it
    RsaPrivateKey encryptionKey;
    Ed25519PrivateKey identityKey;

    // Generates both keys for `agentId` (a new random UUID when empty).
    static Result<AgentIdentity> generate(const QString &agentId = {});

    // SHA-256 over the DER SubjectPublicKeyInfo of the encryption key: the
    // target_key_fingerprint of attestations made for this agent.
    QString encryptionKeyFingerprint() const;

    // The agent fingerprint an operator compares when approving this agent.
    QString fingerprint() const;

    // Signs `fields` in `context` with the identity key.
    Result<SignedStatement> sign(StatementContext context, const QJsonObject &fields) const;
};

} // namespace sealrelay::agent
