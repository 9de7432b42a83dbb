// EventFeed suite: real WebSocket clients on 127.0.0.1 read the console event
// feed, backed by SQLite storage in a temporary folder.
#include "eventfeed.h"
#include "ids.h"
#include "rowjson.h"
#include "sqlstorage.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkRequest>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QWebSocket>
#include <QWebSocketServer>

#include <memory>
#include <optional>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::backend;

namespace {

constexpr int kWaitMs = 5000;

// A console client that records every event and how the connection ended.
class FeedClient {
public:
    FeedClient(quint16 port, const QByteArray &authorization)
    {
        QObject::connect(&socket, &QWebSocket::textMessageReceived, &socket,
                         [this](const QString &message) {
                             events.append(QJsonDocument::fromJson(message.toUtf8()).object());
                         });
        QObject::connect(&socket, &QWebSocket::disconnected, &socket,
                         [this] { disconnected = true; });
        QNetworkRequest request(QUrl(u"ws://127.0.0.1:%1/api/events"_s.arg(port)));
        if (!authorization.isEmpty()) {
            request.setRawHeader("Authorization", authorization);
        }
        socket.open(request);
    }

    // Waits for event number `index` (0 is the snapshot).
    std::optional<QJsonObject> event(qsizetype index)
    {
        if (!QTest::qWaitFor([&] { return events.size() > index || disconnected; }, kWaitMs)
            || events.size() <= index) {
            return std::nullopt;
        }
        return events.at(index);
    }

    bool waitDisconnected()
    {
        return QTest::qWaitFor([this] { return disconnected; }, kWaitMs);
    }

    QWebSocket socket;
    QList<QJsonObject> events;
    bool disconnected = false;
};

QStringList idsOf(const QJsonArray &array, const QString &field)
{
    QStringList ids;
    for (const QJsonValue &value : array) {
        ids.append(value.toObject().value(field).toString());
    }
    return ids;
}

} // namespace

class TestEventFeed : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void unauthenticatedCloses_data();
    void unauthenticatedCloses();
    void snapshotOnConnect();
    void publishSameOrgOnly();
    void slowConsumerClosed();
    void silentConsoleClosed();
    void payloadObjects();

private:
    void startFeed(EventFeedOptions options);
    std::unique_ptr<QTcpSocket> rawWebSocket(const QByteArray &authorization);
    AgentRow agentRow(const QString &orgId, const QString &name);

    QTemporaryDir m_dir;
    int m_databaseCount = 0;
    std::unique_ptr<SqlStorage> m_storage;
    std::unique_ptr<QWebSocketServer> m_server;
    std::unique_ptr<EventFeed> m_feed;
    QString m_orgId;
    QString m_otherOrgId;
};

void TestEventFeed::initTestCase()
{
    QVERIFY2(m_dir.isValid(), qPrintable(m_dir.errorString()));
}

void TestEventFeed::init()
{
    StorageConfig config;
    config.sqlitePath = m_dir.filePath(u"feed-%1.db"_s.arg(++m_databaseCount));
    auto storage = SqlStorage::open(config);
    QVERIFY2(storage.ok(), storage.ok() ? "" : qPrintable(storage.error().message));
    m_storage = std::move(storage).value();
    const auto migrated = m_storage->migrate();
    QVERIFY2(migrated.ok(), migrated.ok() ? "" : qPrintable(migrated.error().message));

    m_orgId = newUuid();
    m_otherOrgId = newUuid();
    QVERIFY(m_storage->createOrg(OrgRow{m_orgId, u"Org A"_s, {}}).ok());
    QVERIFY(m_storage->createOrg(OrgRow{m_otherOrgId, u"Org B"_s, {}}).ok());

    m_server = std::make_unique<QWebSocketServer>(u"tst_eventfeed"_s,
                                                  QWebSocketServer::NonSecureMode);
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
    QObject::connect(m_server.get(), &QWebSocketServer::newConnection, m_server.get(), [this] {
        while (QWebSocket *socket = m_server->nextPendingConnection()) {
            m_feed->acceptConnection(socket);
        }
    });
    startFeed(EventFeedOptions{});
}

void TestEventFeed::cleanup()
{
    m_feed.reset();
    m_server.reset();
    m_storage.reset();
}

void TestEventFeed::startFeed(EventFeedOptions options)
{
    // Two tokens, one per org. Every other token is unknown.
    auto authenticate = [this](QStringView token) -> std::optional<ApiPrincipal> {
        if (token == u"token-a") {
            return ApiPrincipal{m_orgId, u"token-id-a"_s, ApiRole::Auditor};
        }
        if (token == u"token-b") {
            return ApiPrincipal{m_otherOrgId, u"token-id-b"_s, ApiRole::Operator};
        }
        return std::nullopt;
    };
    m_feed = std::make_unique<EventFeed>(*m_storage, options, authenticate);
}

AgentRow TestEventFeed::agentRow(const QString &orgId, const QString &name)
{
    AgentRow agent;
    agent.orgId = orgId;
    agent.agentId = newUuid();
    agent.name = name;
    agent.status = AgentStatus::PendingApproval;
    agent.encryptionKey = QByteArray(294, 'e');
    agent.identityKey = QByteArray(32, 'i');
    return agent;
}

std::unique_ptr<QTcpSocket> TestEventFeed::rawWebSocket(const QByteArray &authorization)
{
    auto socket = std::make_unique<QTcpSocket>();
    socket->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    if (!socket->waitForConnected(kWaitMs)) {
        return nullptr;
    }
    const QByteArray request = "GET /api/events HTTP/1.1\r\n"
                               "Host: 127.0.0.1:" + QByteArray::number(m_server->serverPort())
        + "\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Authorization: " + authorization + "\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n\r\n";
    socket->write(request);
    QByteArray response;
    const bool upgraded = QTest::qWaitFor(
        [&] {
            response += socket->read(4096 - response.size());
            return response.contains("\r\n\r\n");
        },
        kWaitMs);
    if (!upgraded || !response.startsWith("HTTP/1.1 101")) {
        return nullptr;
    }
    return socket;
}

// ---- Tests -----------------------------------------------------------------

void TestEventFeed::unauthenticatedCloses_data()
{
    QTest::addColumn<QByteArray>("authorization");
    QTest::newRow("no header") << QByteArray();
    QTest::newRow("unknown token") << QByteArray("Bearer token-z");
    QTest::newRow("basic scheme") << QByteArray("Basic token-a");
    QTest::newRow("empty bearer") << QByteArray("Bearer ");
}

void TestEventFeed::unauthenticatedCloses()
{
    QFETCH(QByteArray, authorization);
    FeedClient client(m_server->serverPort(), authorization);
    QVERIFY(client.waitDisconnected());
    QCOMPARE(int(client.socket.closeCode()), 4401);
    QVERIFY(client.events.isEmpty());
    QCOMPARE(m_feed->connectedCount(), 0);
}

void TestEventFeed::snapshotOnConnect()
{
    AgentRow agent = agentRow(m_orgId, u"edge-1"_s);
    QVERIFY(m_storage->upsertAgent(agent).ok());
    const AgentRow otherAgent = agentRow(m_otherOrgId, u"edge-b"_s);
    QVERIFY(m_storage->upsertAgent(otherAgent).ok());

    CredentialRow credential;
    credential.orgId = m_orgId;
    credential.credentialId = newUuid();
    credential.name = u"core-switch"_s;
    credential.kind = u"password"_s;
    credential.version = 1;
    credential.revision = 1;
    credential.statement = R"({"x":"statement bytes"})";
    credential.signature = QByteArray(64, 's');
    credential.commitment = QByteArray(32, 'c');
    credential.commitmentVersion = kCommitmentVersion;
    const auto created = m_storage->createCredential(credential, {agent.agentId});
    QVERIFY(created.ok());
    QCOMPARE(created.value(), CredentialWriteOutcome::Written);

    const auto open = m_storage->raiseAlert(AlertRaise{m_orgId, u"credential_sync_stalled"_s,
                                                       AlertSeverity::Medium,
                                                       u"credential:x"_s, u"{\"n\":1}"_s});
    QVERIFY(open.ok());
    const auto acknowledged = m_storage->raiseAlert(AlertRaise{
        m_orgId, u"enrolment_token_reused"_s, AlertSeverity::High, u"token:y"_s, std::nullopt});
    QVERIFY(acknowledged.ok());
    QVERIFY(m_storage->acknowledgeAlert(m_orgId, acknowledged->alert.alertId, u"token-id-a"_s)
                .ok());
    const auto otherAlert = m_storage->raiseAlert(AlertRaise{
        m_otherOrgId, u"credential_sync_stalled"_s, AlertSeverity::Medium, u"credential:z"_s,
        std::nullopt});
    QVERIFY(otherAlert.ok());

    FeedClient client(m_server->serverPort(), "Bearer token-a");
    const auto snapshot = client.event(0);
    QVERIFY(snapshot);
    QCOMPARE(snapshot->value(u"type"_s).toString(), u"snapshot"_s);
    QCOMPARE(snapshot->value(u"org_id"_s).toString(), m_orgId);
    QVERIFY(isCanonicalUuid(snapshot->value(u"id"_s).toString()));
    const QJsonObject data = snapshot->value(u"data"_s).toObject();

    const QJsonArray agents = data.value(u"agents"_s).toArray();
    QCOMPARE(idsOf(agents, u"agent_id"_s), QStringList{agent.agentId});
    QCOMPARE(agents.first().toObject().value(u"status"_s).toString(), u"pending_approval"_s);
    QCOMPARE(agents.first().toObject().value(u"agent_fingerprint"_s).toString().size(), 64);

    const QJsonArray credentials = data.value(u"credentials"_s).toArray();
    QCOMPARE(idsOf(credentials, u"credential_id"_s), QStringList{credential.credentialId});
    const QJsonObject credentialObject = credentials.first().toObject();
    QCOMPARE(credentialObject.value(u"name"_s).toString(), credential.name);
    QCOMPARE(credentialObject.value(u"statement"_s).toObject().value(u"statement_b64"_s).toString(),
             QString::fromLatin1(credential.statement.toBase64()));
    const QJsonArray rows = credentialObject.value(u"agents"_s).toArray();
    QCOMPARE(idsOf(rows, u"agent_id"_s), QStringList{agent.agentId});
    QCOMPARE(rows.first().toObject().value(u"secret_stored"_s).toBool(), false);
    QVERIFY(rows.first().toObject().value(u"receipt"_s).isNull());

    const QJsonArray alerts = data.value(u"alerts"_s).toArray();
    QCOMPARE(idsOf(alerts, u"alert_id"_s), QStringList{open->alert.alertId});
    QCOMPARE(alerts.first().toObject().value(u"details"_s).toObject().value(u"n"_s).toInt(), 1);

    // The snapshot's objects are the REST API's objects of the same rows.
    const auto storedAgent = m_storage->agent(m_orgId, agent.agentId);
    QVERIFY(storedAgent.ok());
    QVERIFY(storedAgent.value().has_value());
    QCOMPARE(agents.first().toObject(), agentJson(*storedAgent.value()));
    const auto storedDetail = m_storage->credentialDetail(m_orgId, credential.credentialId);
    QVERIFY(storedDetail.ok());
    QVERIFY(storedDetail.value().has_value());
    QCOMPARE(credentialObject, credentialDetailJson(*storedDetail.value()));
    QCOMPARE(credentialObject.value(u"sync"_s).toObject().value(u"in_scope"_s).toInt(), 1);
    QCOMPARE(credentialObject.value(u"sync"_s).toObject().value(u"pending"_s).toInt(), 1);
    const auto storedAlert = m_storage->alerts(m_orgId, AlertFilter{});
    QVERIFY(storedAlert.ok());
    bool alertCompared = false;
    for (const AlertRow &row : storedAlert.value()) {
        if (row.alertId == open->alert.alertId) {
            QCOMPARE(alerts.first().toObject(), alertJson(row));
            alertCompared = true;
        }
    }
    QVERIFY(alertCompared);

    const QByteArray frame = QJsonDocument(*snapshot).toJson(QJsonDocument::Compact);
    QVERIFY(!frame.contains(otherAgent.agentId.toUtf8()));
    QVERIFY(!frame.contains(otherAlert->alert.alertId.toUtf8()));
    QCOMPARE(m_feed->connectedCount(), 1);
}

void TestEventFeed::publishSameOrgOnly()
{
    FeedClient first(m_server->serverPort(), "Bearer token-a");
    FeedClient second(m_server->serverPort(), "Bearer token-a");
    FeedClient other(m_server->serverPort(), "Bearer token-b");
    QVERIFY(first.event(0));
    QVERIFY(second.event(0));
    QVERIFY(other.event(0));
    QCOMPARE(m_feed->connectedCount(), 3);

    m_feed->publish(m_orgId, u"alert_raised"_s, QJsonObject{{u"alert_id"_s, u"a-1"_s}});
    m_feed->publish(m_otherOrgId, u"agent_status_changed"_s,
                    QJsonObject{{u"agent_id"_s, u"b-1"_s}, {u"status"_s, u"approved"_s}});

    for (FeedClient *client : {&first, &second}) {
        const auto event = client->event(1);
        QVERIFY(event);
        QCOMPARE(event->value(u"type"_s).toString(), u"alert_raised"_s);
        QCOMPARE(event->value(u"org_id"_s).toString(), m_orgId);
        QCOMPARE(event->value(u"data"_s).toObject().value(u"alert_id"_s).toString(), u"a-1"_s);
    }

    // Events are sent in order, so the other org's first event after its
    // snapshot is its own: org A's event never reached it.
    const auto otherEvent = other.event(1);
    QVERIFY(otherEvent);
    QCOMPARE(otherEvent->value(u"type"_s).toString(), u"agent_status_changed"_s);
    QCOMPARE(otherEvent->value(u"org_id"_s).toString(), m_otherOrgId);
    QTest::qWait(100);
    QCOMPARE(other.events.size(), 2);
    QCOMPARE(first.events.size(), 2);
}

void TestEventFeed::slowConsumerClosed()
{
    EventFeedOptions options;
    options.maxQueuedBytes = 256 * 1024;
    startFeed(options);

    // A client that stops reading after the handshake. Its kernel buffers
    // fill first, then the feed's send buffer grows.
    auto raw = rawWebSocket("Bearer token-a");
    QVERIFY(raw);
    raw->setReadBufferSize(1024);
    QTRY_COMPARE_WITH_TIMEOUT(m_feed->connectedCount(), 1, kWaitMs);

    const QJsonObject data{{u"padding"_s, QString(64 * 1024, u'p')}};
    int published = 0;
    while (m_feed->connectedCount() > 0 && published < 2000) {
        m_feed->publish(m_orgId, u"audit_appended"_s, data);
        ++published;
        QTest::qWait(1);
    }
    QCOMPARE(m_feed->connectedCount(), 0);

    // Reading everything now reaches the close frame: 1008 and its reason.
    raw->setReadBufferSize(0);
    QByteArray received;
    bool closed = false;
    QObject::connect(raw.get(), &QTcpSocket::disconnected, raw.get(), [&] { closed = true; });
    QVERIFY(QTest::qWaitFor(
        [&] {
            received += raw->readAll();
            return closed;
        },
        30000));
    received += raw->readAll();
    const QByteArray reason = "consumer too slow";
    const qsizetype at = received.lastIndexOf(reason);
    QVERIFY(at >= 2);
    QCOMPARE(quint8(received.at(at - 2)), quint8(0x03));
    QCOMPARE(quint8(received.at(at - 1)), quint8(0xF0));
}

void TestEventFeed::silentConsoleClosed()
{
    EventFeedOptions options;
    options.pingInterval = std::chrono::milliseconds(100);
    options.silenceTimeout = std::chrono::milliseconds(300);
    startFeed(options);

    auto raw = rawWebSocket("Bearer token-a");
    QVERIFY(raw);
    QTRY_COMPARE_WITH_TIMEOUT(m_feed->connectedCount(), 1, kWaitMs);
    bool closed = false;
    QObject::connect(raw.get(), &QTcpSocket::disconnected, raw.get(), [&] { closed = true; });
    QVERIFY(QTest::qWaitFor(
        [&] {
            raw->readAll();
            return closed;
        },
        kWaitMs));
    QCOMPARE(m_feed->connectedCount(), 0);

    // A WebSocket client replies to pings with pongs and stays connected for
    // more than three silence timeouts.
    FeedClient client(m_server->serverPort(), "Bearer token-a");
    QVERIFY(client.event(0));
    QTest::qWait(1000);
    QVERIFY(!client.disconnected);
    QCOMPARE(m_feed->connectedCount(), 1);
}

void TestEventFeed::payloadObjects()
{
    AlertRow alert;
    alert.alertId = u"alert-1"_s;
    alert.type = u"enrolment_token_reused"_s;
    alert.severity = AlertSeverity::High;
    alert.subject = u"enrolment_token:t"_s;
    alert.details = u"not json"_s;
    alert.firstSeen = QDateTime::fromString(u"2026-12-04T02:05:00.000Z"_s, Qt::ISODateWithMs);
    alert.lastSeen = alert.firstSeen;
    const QJsonObject alertObject = alertJson(alert);
    QCOMPARE(alertObject.value(u"severity"_s).toString(), u"high"_s);
    QCOMPARE(alertObject.value(u"details"_s).toString(), u"not json"_s);
    QCOMPARE(alertObject.value(u"first_seen"_s).toString(), u"2026-12-04T02:05:00.000Z"_s);
    QVERIFY(alertObject.value(u"acknowledged_at"_s).isNull());
    QVERIFY(alertObject.value(u"acknowledged_by"_s).isNull());

    alert.details = u"[1,2]"_s;
    QCOMPARE(alertJson(alert).value(u"details"_s).toArray().size(), 2);
    alert.details.reset();
    QVERIFY(alertJson(alert).value(u"details"_s).isNull());

    CredentialAgentRow row;
    row.credentialId = u"c"_s;
    row.agentId = u"a"_s;
    row.secretStored = true;
    row.storedVersion = 3;
    row.storedRevision = 2;
    row.nextAttemptAt = alert.firstSeen;
    row.receiptStatement = QByteArray("{}");
    row.receiptSignature = QByteArray(64, 's');
    const QJsonObject rowObject = credentialAgentJson(row);
    QCOMPARE(rowObject.value(u"stored_version"_s).toInteger(), 3);
    QCOMPARE(rowObject.value(u"receipt"_s).toObject().value(u"statement_b64"_s).toString(),
             u"e30="_s);
    QVERIFY(rowObject.value(u"last_error"_s).isNull());
    QVERIFY(rowObject.value(u"receipt_at"_s).isNull());

    row.receiptSignature.reset();
    QVERIFY(credentialAgentJson(row).value(u"receipt"_s).isNull());
}

QTEST_GUILESS_MAIN(TestEventFeed)
#include "tst_eventfeed.moc"
