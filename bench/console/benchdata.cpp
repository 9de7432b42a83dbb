// Generation of the console benchmark's signed org data.
#include "benchdata.h"

#include "base64.h"
#include "ids.h"

#include <QRandomGenerator>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::bench {

namespace {

// Credentials whose deliveries interleave in the live phase.
constexpr int kLiveWindow = 100;

template<typename T> T require(Result<T> result, const char *what)
{
    if (!result)
        qFatal("bench_console: %s failed: %s", what, qPrintable(result.error().message));
    return std::move(result).value();
}

QJsonValue timeValue(const QDateTime &time)
{
    return formatTimestamp(time);
}

} // namespace

BenchData::BenchData(const BenchDataOptions &options)
    : m_options(options)
    , m_orgId(newUuid())
    , m_now(QDateTime::currentDateTimeUtc())
{
    m_operatorKey = require(Ed25519PrivateKey::generate(), "operator key generation");
    for (int i = 0; i < m_options.agents; ++i)
        m_agentIds.append(newUuid());
    m_agentIds.sort();
    for (int i = 0; i < m_options.agents; ++i)
        m_identities.append(require(Ed25519PrivateKey::generate(), "identity key generation"));
    m_encryptionKey =
        require(RsaPrivateKey::generate(), "RSA key generation").publicKey().spkiDer();
    m_credentialIds.reserve(m_options.credentials);
    for (int i = 0; i < m_options.credentials; ++i)
        m_credentialIds.append(newUuid());
}

QString BenchData::credentialId(int index) const
{
    return m_credentialIds.at(index);
}

QString BenchData::credentialName(int index) const
{
    // Site, device and account, as network teams name them.
    return u"site-%1/switch-%2/admin"_s.arg(index / 100, 3, 10, QLatin1Char('0'))
        .arg(index % 100, 2, 10, QLatin1Char('0'));
}

SignedStatement BenchData::credentialStatement(int index, qint64 version,
                                               const QString &previousSha256) const
{
    CredentialStatement statement;
    statement.orgId = m_orgId;
    statement.credentialId = credentialId(index);
    statement.version = version;
    statement.revision = 1;
    statement.name = credentialName(index);
    statement.kind = u"password"_s;
    statement.commitment = QByteArray(32, Qt::Uninitialized);
    QRandomGenerator::global()->fillRange(reinterpret_cast<quint32 *>(statement.commitment.data()),
                                          8);
    statement.scope = CredentialScope::AutoAll;
    statement.prevStatementSha256 = previousSha256;
    statement.issuedAt = m_now;
    statement.operatorKey = m_operatorKey->publicKey().raw();
    return require(
        signStatement(StatementContext::Credential, statement.toFields(), *m_operatorKey),
        "credential statement signing");
}

SignedStatement BenchData::receipt(int agent, const QString &credentialId, qint64 version,
                                   const QString &statementSha256) const
{
    Receipt fields;
    fields.orgId = m_orgId;
    fields.agentId = m_agentIds.at(agent);
    fields.credentialId = credentialId;
    fields.version = version;
    fields.revision = 1;
    fields.statementSha256 = statementSha256;
    fields.state = ReceiptState::Stored;
    fields.at = m_now;
    return require(
        signStatement(StatementContext::Receipt, fields.toFields(), m_identities.at(agent)),
        "receipt signing");
}

QJsonObject BenchData::credentialSummary(int index, qint64 version,
                                         const SignedStatement &statement, int delivered) const
{
    return QJsonObject {
        { u"credential_id"_s, credentialId(index) },
        { u"name"_s, credentialName(index) },
        { u"kind"_s, u"password"_s },
        { u"version"_s, version },
        { u"revision"_s, 1 },
        { u"scope"_s, u"auto_all"_s },
        { u"scope_agent_ids"_s, QJsonArray() },
        { u"state"_s, u"active"_s },
        { u"statement"_s, statement.toJson() },
        { u"statement_sha256"_s, statement.sha256() },
        { u"created_at"_s, timeValue(m_now.addDays(-30)) },
        { u"updated_at"_s, timeValue(m_now) },
        { u"sync"_s,
          QJsonObject { { u"in_scope"_s, m_options.agents },
                        { u"delivered"_s, delivered },
                        { u"pending"_s, m_options.agents - delivered },
                        { u"failed"_s, 0 },
                        { u"stalled"_s, 0 } } },
    };
}

QJsonObject BenchData::agentRow(int agent, const QString &credentialId, qint64 version,
                                const std::optional<SignedStatement> &receipt) const
{
    const bool stored = receipt.has_value();
    return QJsonObject {
        { u"credential_id"_s, credentialId },
        { u"agent_id"_s, m_agentIds.at(agent) },
        { u"secret_stored"_s, stored },
        { u"stored_version"_s, stored ? QJsonValue(version) : QJsonValue() },
        { u"stored_revision"_s, stored ? QJsonValue(1) : QJsonValue() },
        { u"attempts"_s, stored ? 0 : 3 },
        { u"next_attempt_at"_s, stored ? QJsonValue() : timeValue(m_now.addSecs(480)) },
        { u"last_error"_s, stored ? QJsonValue() : QJsonValue(u"AGENT_OFFLINE"_s) },
        { u"stalled"_s, false },
        { u"receipt"_s, stored ? QJsonValue(receipt->toJson()) : QJsonValue() },
        { u"receipt_at"_s, stored ? timeValue(m_now) : QJsonValue() },
    };
}

QJsonObject BenchData::agentJson(int agent) const
{
    AgentCertificate certificate;
    certificate.orgId = m_orgId;
    certificate.agentId = m_agentIds.at(agent);
    certificate.agentName = u"edge-%1"_s.arg(agent + 1, 2, 10, QLatin1Char('0'));
    certificate.generation = 1;
    certificate.encryptionKey = m_encryptionKey;
    certificate.identityKey = m_identities.at(agent).publicKey().raw();
    certificate.issuedAt = m_now.addDays(-1);
    certificate.expiresAt = m_now.addDays(300);
    certificate.operatorKey = m_operatorKey->publicKey().raw();
    const SignedStatement signedCertificate = require(
        signStatement(StatementContext::AgentCertificate, certificate.toFields(), *m_operatorKey),
        "certificate signing");
    return QJsonObject {
        { u"agent_id"_s, certificate.agentId },
        { u"name"_s, certificate.agentName },
        { u"status"_s, u"approved"_s },
        { u"encryption_key"_s, encodeBase64(m_encryptionKey) },
        { u"identity_key"_s, encodeBase64(certificate.identityKey) },
        { u"certificate"_s, signedCertificate.toJson() },
        { u"generation"_s, 1 },
        { u"expires_at"_s, timeValue(certificate.expiresAt) },
        { u"last_seen"_s, timeValue(m_now) },
        { u"quarantined"_s, false },
        { u"created_at"_s, timeValue(m_now.addDays(-1)) },
        { u"agent_fingerprint"_s,
          agentFingerprint(certificate.agentId, m_encryptionKey, certificate.identityKey) },
        { u"sync"_s, QJsonObject { { u"connection"_s, u"online"_s } } },
    };
}

QJsonObject BenchData::snapshotData(qint64 &signatures)
{
    signatures = 0;
    m_snapshotSha256.clear();
    QJsonArray agents;
    for (int agent = 0; agent < m_options.agents; ++agent) {
        agents.append(agentJson(agent));
        ++signatures;
    }

    QJsonArray credentials;
    for (int index = 0; index < m_options.credentials; ++index) {
        const SignedStatement statement = credentialStatement(index, 1, QString());
        ++signatures;
        m_snapshotSha256.append(statement.sha256());
        const QString id = credentialId(index);
        const bool pending = m_options.pendingEvery > 0
            && index % m_options.pendingEvery == m_options.pendingEvery - 1;
        const bool stalled = m_options.stalledEvery > 0
            && index % m_options.stalledEvery == m_options.stalledEvery - 2;

        QJsonArray rows;
        int delivered = 0;
        for (int agent = 0; agent < m_options.agents; ++agent) {
            const bool lacking = (pending || stalled) && agent == m_options.agents - 1;
            std::optional<SignedStatement> signedReceipt;
            if (!lacking) {
                signedReceipt = receipt(agent, id, 1, statement.sha256());
                ++signatures;
                ++delivered;
            }
            QJsonObject row = agentRow(agent, id, 1, signedReceipt);
            if (lacking && stalled) {
                row.insert(u"attempts"_s, 10);
                row.insert(u"stalled"_s, true);
                row.insert(u"last_error"_s, u"MAX_RETRIES_EXCEEDED"_s);
                row.insert(u"next_attempt_at"_s, QJsonValue());
            }
            rows.append(row);
        }
        QJsonObject credential = credentialSummary(index, 1, statement, delivered);
        credential.insert(u"agents"_s, rows);
        credentials.append(credential);
    }

    return QJsonObject {
        { u"credentials"_s, credentials },
        { u"agents"_s, agents },
        { u"alerts"_s, QJsonArray() },
    };
}

QList<QJsonObject> BenchData::liveEventData(qint64 &signatures) const
{
    signatures = 0;
    QList<QJsonObject> events;
    events.reserve(m_options.liveEvents);
    const int perWindow = kLiveWindow * m_options.agents;

    // One rotation per credential of a window: its new statement, then one
    // `delivered` event per agent with that agent's receipt. A wave that runs
    // past the last credential starts over with the next version.
    QHash<int, std::pair<qint64, SignedStatement>> current; // index -> (version, statement)
    QHash<int, int> delivered;
    QHash<int, QString> previousSha; // statement_sha256 of each credential's last statement
    for (int event = 0; event < m_options.liveEvents; ++event) {
        const int window = event / perWindow;
        const int inWindow = event % perWindow;
        const int ordinal = window * kLiveWindow + inWindow % kLiveWindow;
        const int index = ordinal % m_options.credentials;
        const qint64 version = 2 + ordinal / m_options.credentials;
        const int agent = inWindow / kLiveWindow;

        auto found = current.find(index);
        if (found == current.end() || found->first != version) {
            const QString previous = previousSha.value(index, m_snapshotSha256.value(index));
            SignedStatement statement = credentialStatement(index, version, previous);
            ++signatures;
            previousSha.insert(index, statement.sha256());
            found = current.insert(index, { version, statement });
            delivered.insert(index, 0);
        }
        const SignedStatement &statement = found->second;
        const int count = ++delivered[index];
        const SignedStatement signedReceipt =
            receipt(agent, credentialId(index), version, statement.sha256());
        ++signatures;

        events.append(QJsonObject {
            { u"credential_id"_s, credentialId(index) },
            { u"agent_id"_s, m_agentIds.at(agent) },
            { u"change"_s, u"delivered"_s },
            { u"receipt"_s, signedReceipt.toJson() },
            { u"credential"_s, credentialSummary(index, version, statement, count) },
        });
    }
    return events;
}

} // namespace sealrelay::bench
