// Building and sending credential uploads with several POST requests in
// flight on one QNetworkAccessManager.
#include "bulkuploader.h"

#include "canonicaljson.h"
#include "envelope.h"
#include "ids.h"
#include "payload.h"
#include "securebuffer.h"
#include "synccluster.h"

#include <QEventLoop>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>
#include <QUrl>

#include <openssl/crypto.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::bench {

namespace {

// An upload that gets no reply within this time fails the run.
constexpr int kUploadTimeoutMs = 60000;

void wipe(QByteArray &bytes)
{
    if (!bytes.isEmpty())
        OPENSSL_cleanse(bytes.data(), size_t(bytes.size()));
    bytes.clear();
}

} // namespace

BulkUploader::BulkUploader(synctest::SyncCluster &cluster, int uploadsInFlight)
    : m_cluster(cluster)
    , m_uploadsInFlight(qMax(1, uploadsInFlight))
{
}

bool BulkUploader::fail(const QString &message)
{
    m_lastError = message;
    return false;
}

std::optional<QList<BulkUploader::Recipient>>
BulkUploader::recipients(const std::optional<QStringList> &names)
{
    QStringList requestedIds;
    if (names) {
        for (const QString &name : *names) {
            const QString id = m_cluster.agentId(name);
            if (id.isEmpty()) {
                fail(u"the cluster has no agent named %1"_s.arg(name));
                return std::nullopt;
            }
            requestedIds.append(id);
        }
    }

    const BackendReply listed = m_cluster.request("GET", u"/api/agents?status=approved"_s);
    if (listed.status != 200) {
        fail(u"GET /api/agents returned %1: %2"_s.arg(QString::number(listed.status),
                                                      QString::fromUtf8(listed.body)));
        return std::nullopt;
    }
    QList<Recipient> found;
    for (const QJsonValue &value : listed.json.value(u"agents"_s).toArray()) {
        Result<SignedStatement> certificate =
            SignedStatement::fromJson(value.toObject().value(u"certificate"_s), u"certificate");
        if (!certificate)
            continue;
        // An honest creator seals only to keys its own operator key certified.
        Result<QJsonObject> verified =
            verifyStatement(StatementContext::AgentCertificate, certificate.value(),
                            m_cluster.operatorKey().publicKey());
        if (!verified)
            continue;
        Result<AgentCertificate> fields = AgentCertificate::fromFields(verified.value());
        if (!fields || fields->orgId != m_cluster.orgId())
            continue;
        if (names && !requestedIds.contains(fields->agentId))
            continue;
        Result<RsaPublicKey> key = RsaPublicKey::fromSpkiDer(fields->encryptionKey);
        if (!key)
            continue;
        found.append(Recipient { fields->agentId, key.value(), key->fingerprint() });
    }
    if (found.isEmpty() || (names && found.size() != requestedIds.size())) {
        fail(u"found %1 approved agents with a certificate that verifies under the operator "
             "key, expected %2"_s.arg(found.size())
                 .arg(names ? requestedIds.size() : 1));
        return std::nullopt;
    }
    return found;
}

std::optional<QByteArray> BulkUploader::uploadBody(const QString &credentialId, const QString &name,
                                                   const QJsonObject &secret,
                                                   const QList<Recipient> &recipients)
{
    const Ed25519PrivateKey &operatorKey = m_cluster.operatorKey();
    Result<QByteArray> canonical = canonicalJson(secret);
    if (!canonical) {
        fail(u"the secret of %1 is no canonical JSON object: "_s.arg(name)
             + canonical.error().message);
        return std::nullopt;
    }
    SecureBuffer secretBytes(canonical.value());
    wipe(canonical.value());
    QByteArray salt = generateSalt();
    Result<QByteArray> commitment = computeCommitment(salt, secretBytes.view());
    if (!commitment) {
        wipe(salt);
        fail(u"could not compute the commitment of %1: "_s.arg(name) + commitment.error().message);
        return std::nullopt;
    }

    CredentialStatement fields;
    fields.orgId = m_cluster.orgId();
    fields.credentialId = credentialId;
    fields.version = 1;
    fields.revision = 1;
    fields.name = name.normalized(QString::NormalizationForm_C);
    fields.kind = u"password"_s;
    fields.scope = CredentialScope::AutoAll;
    fields.deleted = false;
    fields.prevStatementSha256 = QString(u""_s);
    fields.issuedAt = QDateTime::currentDateTimeUtc();
    fields.operatorKey = operatorKey.publicKey().raw();
    fields.commitment = commitment.value();
    Result<SignedStatement> statement =
        signStatement(StatementContext::Credential, fields.toFields(), operatorKey);
    Result<SecureBuffer> payload =
        buildPayload(fields.credentialId, fields.version, salt, secretBytes.view());
    wipe(salt);
    secretBytes.clear();
    if (!statement || !payload) {
        fail(u"could not sign or build the payload of %1: "_s.arg(name)
             + (statement ? payload.error().message : statement.error().message));
        return std::nullopt;
    }

    const QString uploadId = newUuid();
    QJsonObject envelopes;
    for (const Recipient &recipient : recipients) {
        Result<Envelope> envelope = sealEnvelope(recipient.encryptionKey, payload->view());
        if (!envelope) {
            fail(u"could not seal %1 to agent %2: "_s.arg(name, recipient.agentId)
                 + envelope.error().message);
            return std::nullopt;
        }
        Attestation attestation;
        attestation.orgId = fields.orgId;
        attestation.requestId = uploadId;
        attestation.credentialId = fields.credentialId;
        attestation.version = fields.version;
        attestation.revision = fields.revision;
        attestation.statementSha256 = statement->sha256();
        attestation.targetAgentId = recipient.agentId;
        attestation.targetKeyFingerprint = recipient.encryptionKeyFingerprint;
        attestation.sourceKind = AttestationSource::Creator;
        attestation.sourceId = operatorKey.publicKey().rawBase64();
        attestation.envelopeSha256 = envelope->sha256();
        Result<SignedStatement> signedAttestation =
            signStatement(StatementContext::Attestation, attestation.toFields(), operatorKey);
        if (!signedAttestation) {
            fail(u"could not sign the attestation of %1 for agent %2: "_s.arg(name,
                                                                              recipient.agentId)
                 + signedAttestation.error().message);
            return std::nullopt;
        }
        envelopes.insert(recipient.agentId,
                         QJsonObject { { u"envelope"_s, envelope->toJson() },
                                       { u"attestation"_s, signedAttestation->toJson() } });
    }
    const QJsonObject body { { u"statement"_s, statement->toJson() },
                             { u"envelopes"_s, envelopes } };
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

std::optional<QStringList>
BulkUploader::createCredentials(const QString &namePrefix, int count,
                                const SecretForIndex &secretForIndex,
                                const std::optional<QStringList> &envelopeAgentNames)
{
    m_lastError.clear();
    const std::optional<QList<Recipient>> targets = recipients(envelopeAgentNames);
    if (!targets)
        return std::nullopt;

    QStringList ids;
    for (int i = 0; i < count; ++i)
        ids.append(newUuid());

    QEventLoop loop;
    int next = 0;
    int open = 0;
    bool failed = false;
    const QUrl url(m_cluster.backendUrl() + u"/api/credentials"_s);
    const QByteArray authorization = "Bearer " + m_cluster.adminToken().toLatin1();

    // Sends upload `next` while fewer than m_uploadsInFlight are open, and
    // ends the loop once every reply arrived or one upload failed.
    std::function<void()> sendMore = [&] {
        while (!failed && open < m_uploadsInFlight && next < count) {
            const int index = next++;
            const std::optional<QByteArray> body =
                uploadBody(ids.at(index), namePrefix + QString::number(index),
                           secretForIndex(index), *targets);
            if (!body) {
                failed = true;
                break;
            }
            QNetworkRequest request(url);
            request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
            request.setRawHeader("Authorization", authorization);
            request.setTransferTimeout(kUploadTimeoutMs);
            QNetworkReply *reply = m_network.post(request, *body);
            ++open;
            QObject::connect(reply, &QNetworkReply::finished, &loop, [&, reply, index] {
                --open;
                const int status =
                    reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
                if (status != 201 && !failed) {
                    fail(u"POST /api/credentials of %1%2 returned %3: %4"_s.arg(
                        namePrefix, QString::number(index), QString::number(status),
                        QString::fromUtf8(reply->readAll())));
                    failed = true;
                }
                reply->deleteLater();
                sendMore();
            });
        }
        if (open == 0 && (failed || next == count))
            loop.quit();
    };
    QTimer::singleShot(0, &loop, sendMore);
    loop.exec();

    if (failed)
        return std::nullopt;
    return ids;
}

} // namespace sealrelay::bench
