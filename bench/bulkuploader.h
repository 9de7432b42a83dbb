// Creates many credentials with several uploads in flight, so a benchmark
// can fill the backend as fast as its REST API accepts uploads. Each upload
// is signed and sealed as SyncCluster::createCredential builds one.
#pragma once

#include "keys.h"
#include "statement.h"

#include <QNetworkAccessManager>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace sealrelay::synctest {
class SyncCluster;
}

namespace sealrelay::bench {

class BulkUploader {
public:
    // Returns the secret of credential number `index` as a JSON object.
    using SecretForIndex = std::function<QJsonObject(int index)>;

    // `uploadsInFlight` is the number of POST requests open at once.
    BulkUploader(synctest::SyncCluster &cluster, int uploadsInFlight);

    // Creates version 1 of credentials `namePrefix`0 .. `namePrefix`(count-1)
    // with an auto_all scope. Envelopes go to every approved agent whose
    // certificate verifies under the cluster's operator key, or only to
    // the agents named in `envelopeAgentNames`. Returns the credential ids in
    // index order, or std::nullopt when an upload failed (see lastError()).
    std::optional<QStringList>
    createCredentials(const QString &namePrefix, int count, const SecretForIndex &secretForIndex,
                      const std::optional<QStringList> &envelopeAgentNames = std::nullopt);

    QString lastError() const { return m_lastError; }

private:
    struct Recipient {
        QString agentId;
        RsaPublicKey encryptionKey;
        QString encryptionKeyFingerprint;
    };

    // The approved agents whose certificates verify under the operator key,
    // limited to `names` when given.
    std::optional<QList<Recipient>> recipients(const std::optional<QStringList> &names);
    // The JSON body of POST /api/credentials for one new credential.
    std::optional<QByteArray> uploadBody(const QString &credentialId, const QString &name,
                                         const QJsonObject &secret,
                                         const QList<Recipient> &recipients);
    bool fail(const QString &message);

    synctest::SyncCluster &m_cluster;
    int m_uploadsInFlight;
    QNetworkAccessManager m_network;
    QString m_lastError;
};

} // namespace sealrelay::bench
