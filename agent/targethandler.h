// The target role: what the agent does with a credential_store (an envelope
// for it from a peer or the creator) and a statement_update (a scope change or
// delete). A delivery is stored only after ten checks pass in a fixed order,
// and the first failure is the reason of the refusal:
//   1. BAD_STATEMENT        statement signature or strict parse
//   2. UNTRUSTED_OPERATOR   signer not in the trusted-operators file
//   3. ID_MISMATCH          org, credential or target ids differ from the delivery
//   4. SUPERSEDED           a newer (version, revision) is already stored
//   5. EQUIVOCATION         same (version, revision), different statement bytes
//   6. OUT_OF_SCOPE         this agent is not in the statement's scope
//   7. BAD_ATTESTATION      source certificate, attestation signature or bindings
//   8. DECRYPT_FAILED       RSA unwrap or GCM tag
//   9. PAYLOAD_MISMATCH     payload not canonical, or other ids
//  10. COMMITMENT_MISMATCH  HMAC(salt, secret_bytes) differs from the commitment
// Every refusal is written to the local audit log and logged, SUPERSEDED at
// info and every other reason at critical, with ids only.
#pragma once

#include "agentidentity.h"
#include "clock.h"
#include "credentiallocks.h"
#include "error.h"
#include "localaudit.h"
#include "messages.h"
#include "securebuffer.h"
#include "statement.h"

#include <memory>
#include <variant>

namespace sealrelay::agent {

class TrustStore;
class Vault;

using CredentialStoreReply = std::variant<CredentialStored, CredentialIntegrityFailure>;

// A credential_store that passed all ten checks, ready for storeDelivery().
// It holds the credential's lock until it is stored or destroyed, and its
// payload only in a wiped buffer.
struct CheckedDelivery {
    CredentialStore message;
    CredentialStatement statement;
    SecureBuffer payload; // the envelope's plaintext, exactly as received
    QByteArray commitment; // recomputed from the payload
    CredentialLock lock;
};

// The results of the costly parts of a delivery's checks that read neither
// the vault nor state that changes: the statement's strict parse and
// signature (checks 1 and 2) and the RSA unwrap with the GCM tag (check 8).
// TargetHandler::precompute() fills it on any thread, and checkDelivery()
// uses each result at its place among the ten checks.
struct PrecomputedChecks {
    std::optional<Result<CredentialStatement>> statement;
    std::optional<Result<SecureBuffer>> payload;
};

class TargetHandler {
public:
    // `vault` and `trust` must outlive the handler. Handlers that share
    // `locks` process one credential's deliveries one at a time; by default
    // the handler has a table of its own.
    TargetHandler(Vault &vault, TrustStore &trust, AgentIdentity identity,
                  Clock clock = systemClock(), std::shared_ptr<CredentialLocks> locks = {});

    // Runs checkDelivery() and storeDelivery(), or refuseDelivery() on the
    // first failed check. An error is a local failure (the vault cannot be
    // read or written, signing fails), never a refusal.
    Result<CredentialStoreReply> handleCredentialStore(const CredentialStore &message,
                                                       PrecomputedChecks *precomputed = nullptr);

    // Computes the checks PrecomputedChecks holds. It reads only what does
    // not change after construction, so several threads may run it at once.
    PrecomputedChecks precompute(const CredentialStore &message) const;

    // Runs the ten checks, taking from `precomputed` the results it holds.
    // An error with one of the ten reasons is a refusal for
    // refuseDelivery(); any other reason is a local failure.
    Result<CheckedDelivery> checkDelivery(const CredentialStore &message,
                                          PrecomputedChecks *precomputed = nullptr);

    // Stores a checked delivery. The (version, revision) comparison runs
    // again as a compare-and-set in the vault's write transaction. A newer
    // statement stored since the checks wins, and this delivery then ends as
    // SUPERSEDED (EQUIVOCATION for another statement of the same revision),
    // never as a downgrade.
    Result<CredentialStoreReply> storeDelivery(CheckedDelivery delivery);

    // Records and logs the refusal and returns credential_integrity_failure
    // with the attestation as delivered and a signed `refused` receipt.
    Result<CredentialStoreReply> refuseDelivery(const CredentialStore &message,
                                                const Error &refusal);

    // Applies a scope change or delete after checks 1 to 5. Check 6 decides
    // what happens instead of refusing. A statement that no longer covers
    // this agent (deleted, or removed from scope) purges the secret and keeps
    // a tombstone, with receipt `deleted`. One that still covers it replaces
    // the stored statement, with receipt `stored`. When that statement is of
    // a version whose payload this agent does not store, the statement is
    // kept and the receipt is `refused` with reason NOT_HELD.
    Result<StatementApplied> handleStatementUpdate(const StatementUpdate &message);

private:
    // `attestation` is the delivery's attestation parsed without its
    // signature, or nullptr when it does not parse, which check 7 reports.
    Result<void> checkIds(const CredentialStore &message, const CredentialStatement &statement,
                          const Attestation *attestation) const;
    Result<void> checkOrder(const SignedStatement &signedStatement,
                            const CredentialStatement &statement) const;
    // `attestation` is the result of parsing the delivery's attestation.
    Result<void> checkAttestation(const CredentialStore &message,
                                  const CredentialStatement &statement,
                                  const Result<Attestation> &attestation);
    // Records a refused statement_update and returns statement_applied with a
    // `refused` receipt. A reason outside the ten is returned as the error.
    Result<StatementApplied> refuseStatementUpdate(const StatementUpdate &message,
                                                   const Error &refusal);
    Result<SignedStatement> signReceipt(const QString &credentialId,
                                        const SignedStatement &statement, qint64 version,
                                        qint64 revision, ReceiptState state,
                                        const QString &reason) const;
    // Writes the local audit row and the log line of a refusal.
    void recordRefusal(const LocalAuditEntry &entry, const Error &refusal);

    Vault &m_vault;
    TrustStore &m_trust;
    AgentIdentity m_identity;
    // The fingerprint of this agent's encryption key, computed once because
    // check 7 compares it on every delivery and computing it DER-encodes the
    // public key.
    QString m_encryptionKeyFingerprint;
    Clock m_clock;
    std::shared_ptr<CredentialLocks> m_locks;
};

} // namespace sealrelay::agent
