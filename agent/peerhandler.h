// The peer role: the reply to a rewrap_request, the backend's request that
// this agent re-encrypt a credential it holds for another agent. The peer
// refuses with the first failing reason, in this order:
//   UNTRUSTED_TARGET_KEY  the target certificate does not verify under a
//                         trusted operator, is expired, is of a lower
//                         generation than seen, or is for another org
//   BAD_STATEMENT         the statement does not verify or its signer is not
//                         a trusted operator
//   STALE_STATEMENT       the statement is older than the one held, so an old
//                         and wider scope cannot reach a removed agent
//   NOT_HELD              the peer does not hold that exact version and
//                         commitment as current
//   OUT_OF_SCOPE          the target is not in the statement's scope
// Otherwise it seals its stored payload bytes, unchanged, to the
// certificate's encryption key and signs an attestation for the envelope.
#pragma once

#include "agentidentity.h"
#include "clock.h"
#include "credentiallocks.h"
#include "error.h"
#include "keys.h"
#include "messages.h"

#include <QByteArray>
#include <QString>

#include <memory>
#include <optional>
#include <variant>

namespace sealrelay::agent {

class TrustStore;
class Vault;

using RewrapReply = std::variant<RewrapResponse, RewrapRefused>;

class PeerHandler {
public:
    // `vault` and `trust` must outlive the handler.
    PeerHandler(Vault &vault, TrustStore &trust, AgentIdentity identity,
                std::shared_ptr<CredentialLocks> locks = {});

    // Returns rewrap_response or rewrap_refused. An error is a local failure
    // (the vault cannot be read, sealing or signing fails), never a refusal.
    Result<RewrapReply> handleRewrapRequest(const RewrapRequest &request);

private:
    // A target's encryption key decoded from the SPKI DER of its certificate,
    // with its fingerprint.
    struct TargetKey {
        QByteArray spkiDer;
        RsaPublicKey key;
        QString fingerprint;
    };

    // Runs the five checks and returns the statement that passed them.
    Result<CredentialStatement> checkRequest(const RewrapRequest &request,
                                             AgentCertificate &target);
    Result<RewrapReply> refuse(const RewrapRequest &request, const Error &refusal);
    // Decodes `spkiDer`, or returns the key of the previous call when it had
    // the same bytes. A backfill rewraps every credential for one target,
    // and decoding the key and computing its fingerprint cost more than
    // sealing to it.
    Result<const TargetKey *> targetKey(const QByteArray &spkiDer);

    Vault &m_vault;
    TrustStore &m_trust;
    AgentIdentity m_identity;
    std::shared_ptr<CredentialLocks> m_locks;
    std::optional<TargetKey> m_lastTargetKey;
};

} // namespace sealrelay::agent
