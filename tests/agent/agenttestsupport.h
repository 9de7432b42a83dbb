// Shared set-up of the agent suites: a fixed clock, and an org with a trusted
// operator (the interop vectors' operator key) and an untrusted one. The
// builders make the certificates, statements, payloads, envelopes and
// attestations an honest creator or peer would send.
#pragma once

#include "agentidentity.h"
#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "messages.h"
#include "statement.h"

#include <QByteArray>
#include <QDateTime>
#include <QString>
#include <QStringList>

namespace sealrelay::agent::test {

// 2026-12-10T12:00:00.000Z, inside the validity of every test certificate.
QDateTime testNow();
Clock testClock();

// 32 bytes derived from `seed`, so two seeds give two different keys.
QByteArray testMasterKey(char seed = 'a');

Ed25519PrivateKey vectorOperatorKey();
Ed25519PrivateKey vectorPeerIdentityKey();
RsaPrivateKey vectorRsaKey();

// A new identity with freshly generated keys in `orgId`; stops the test
// binary when OpenSSL cannot generate them.
AgentIdentity generatedIdentity(const QString &orgId);

// The peer of the suites: the vectors' peer identity key and RSA key, so no
// key has to be generated for it.
AgentIdentity vectorPeerIdentity(const QString &orgId);

struct TestSecret {
    QByteArray salt;
    QByteArray secretBytes; // canonical JSON of the secret's fields
    QByteArray commitment;
};

TestSecret makeSecret(const QByteArray &secretJson = R"({"password":"pw-1","username":"admin"})");

// The padded canonical payload, copied out of its SecureBuffer for tests.
QByteArray makePayload(const QString &credentialId, qint64 version, const TestSecret &secret);

class TestOrg {
public:
    TestOrg();

    QString orgId;
    Ed25519PrivateKey operatorKey; // listed in the trusted-operators file
    Ed25519PrivateKey rogueKey; // never trusted, as a compromised backend's own key

    QList<Ed25519PublicKey> trustedKeys() const;
    // Writes a trusted-operators file listing operatorKey and returns its path.
    QString writeTrustedOperatorsFile(const QString &directory) const;

    AgentCertificate certificateFields(const AgentIdentity &agent, qint64 generation = 1) const;
    SignedStatement certify(const AgentCertificate &fields, const Ed25519PrivateKey &signer) const;
    SignedStatement certify(const AgentIdentity &agent, qint64 generation = 1) const;

    // A statement under auto_all when `agents` is empty, else explicit.
    CredentialStatement statementFields(const QString &credentialId, qint64 version,
                                        qint64 revision, const QByteArray &commitment,
                                        QStringList agents = {}) const;
    SignedStatement sign(const CredentialStatement &fields) const;
    SignedStatement sign(const CredentialStatement &fields, const Ed25519PrivateKey &signer) const;
};

// The attestation an honest source makes for `envelope` sealed to `target`.
Attestation attestationFor(const AgentIdentity &target, const CredentialStatement &fields,
                           const SignedStatement &statement, const Envelope &envelope,
                           AttestationSource kind, const QString &sourceId);
SignedStatement signAttestation(const Attestation &fields, const Ed25519PrivateKey &signer);

Envelope sealTo(const AgentIdentity &target, const QByteArray &payload);

// A credential_store as an honest peer relays it, passed through the wire
// serialiser and parser so that every field is in its checked form.
CredentialStore peerDelivery(const AgentIdentity &peer, const SignedStatement &peerCertificate,
                             const AgentIdentity &target, const SignedStatement &statement,
                             const CredentialStatement &fields, const QByteArray &payload);

// The same for an envelope the creator sealed.
CredentialStore creatorDelivery(const Ed25519PrivateKey &creator, const AgentIdentity &target,
                                const SignedStatement &statement, const CredentialStatement &fields,
                                const QByteArray &payload);

// Serialises a message and parses it back; fails the running test when the
// frame does not parse.
CredentialStore roundTrip(const CredentialStore &message);

// SHA-256 over every column of every credentials row, read through a
// connection of its own.
QByteArray credentialRowsDigest(const QString &vaultPath);

// SHA-256 over a file's bytes; empty when the file does not exist.
QByteArray fileDigest(const QString &path);

} // namespace sealrelay::agent::test
