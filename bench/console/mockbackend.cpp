// The console benchmark's stand-in backend: sign-in routes and the event feed.
#include "mockbackend.h"

#include "ids.h"

#include <QDateTime>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTcpSocket>

#include <cstdio>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::bench {

namespace {

const QString kEventsPath = u"/api/events"_s;

void writeJson(QHttpServerResponder &responder, QHttpServerResponder::StatusCode status,
               const QJsonObject &body)
{
    const QByteArray bytes = QJsonDocument(body).toJson(QJsonDocument::Compact);
    responder.writeStatusLine(status);
    responder.writeHeader("Content-Type", "application/json");
    responder.writeHeader("Content-Length", QByteArray::number(bytes.size()));
    responder.writeBody(bytes);
}

} // namespace

MockBackend::MockBackend(QString orgId, QString token, QObject *parent)
    : QAbstractHttpServer(parent)
    , m_orgId(std::move(orgId))
    , m_authorization("Bearer " + token.toUtf8())
{
    connect(this, &QAbstractHttpServer::newWebSocketConnection, this,
            &MockBackend::acceptWebSockets);
    m_liveTimer.setTimerType(Qt::PreciseTimer);
    m_liveTimer.setInterval(std::chrono::milliseconds(5));
    connect(&m_liveTimer, &QTimer::timeout, this, &MockBackend::sendDueEvents);
}

qint64 MockBackend::setSnapshot(const QJsonObject &data)
{
    m_snapshotText = frame(u"snapshot"_s, data);
    return m_snapshotText.toUtf8().size();
}

void MockBackend::setLiveEvents(QList<QJsonObject> events)
{
    m_liveEvents = std::move(events);
}

QString MockBackend::frame(const QString &type, const QJsonObject &data) const
{
    const QJsonObject event {
        { u"type"_s, type },      { u"id"_s, newUuid() },
        { u"org_id"_s, m_orgId }, { u"at"_s, formatTimestamp(QDateTime::currentDateTimeUtc()) },
        { u"data"_s, data },
    };
    return QString::fromUtf8(QJsonDocument(event).toJson(QJsonDocument::Compact));
}

bool MockBackend::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    const QString path = request.url().path();
    // An upgrade on the feed's path is left unanswered, so
    // QAbstractHttpServer hands the socket to newWebSocketConnection.
    if (path == kEventsPath
        && request.value("upgrade").compare("websocket", Qt::CaseInsensitive) == 0)
        return true;

    QHttpServerResponder responder = makeResponder(request, socket);
    if (path == u"/metrics"_s) {
        const QByteArray body = "# no metrics in the benchmark's mock backend\n";
        responder.writeStatusLine(QHttpServerResponder::StatusCode::Ok);
        responder.writeHeader("Content-Type", "text/plain; version=0.0.4");
        responder.writeHeader("Content-Length", QByteArray::number(body.size()));
        responder.writeBody(body);
        return true;
    }
    if (request.value("authorization") != m_authorization) {
        writeJson(responder, QHttpServerResponder::StatusCode::Unauthorized,
                  { { u"error"_s, u"unauthenticated"_s },
                    { u"message"_s, u"missing or unknown bearer token"_s } });
        return true;
    }
    if (path == u"/api/audit/verify"_s) {
        writeJson(responder, QHttpServerResponder::StatusCode::Ok,
                  { { u"org_id"_s, m_orgId },
                    { u"intact"_s, true },
                    { u"rows_verified"_s, 0 },
                    { u"head_row_id"_s, 0 } });
        return true;
    }
    if (path == u"/api/audit"_s) {
        writeJson(responder, QHttpServerResponder::StatusCode::Ok,
                  { { u"records"_s, QJsonArray() }, { u"next_after_id"_s, QJsonValue() } });
        return true;
    }
    if (path == u"/api/system/rewrap-coordination-status"_s) {
        writeJson(responder, QHttpServerResponder::StatusCode::Ok,
                  { { u"coordination"_s, u"memory"_s },
                    { u"degraded"_s, false },
                    { u"replica_id"_s, u"bench"_s } });
        return true;
    }
    missingHandler(request, socket);
    return true;
}

void MockBackend::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    QHttpServerResponder responder = makeResponder(request, socket);
    writeJson(responder, QHttpServerResponder::StatusCode::NotFound,
              { { u"error"_s, u"not_found"_s },
                { u"message"_s,
                  u"the benchmark's mock backend has no route %1"_s.arg(request.url().path()) } });
}

void MockBackend::acceptWebSockets()
{
    while (hasPendingWebSocketConnections()) {
        std::unique_ptr<QWebSocket> socket = nextPendingWebSocketConnection();
        if (!socket)
            continue;
        if (socket->requestUrl().path() != kEventsPath
            || socket->request().rawHeader("Authorization") != m_authorization) {
            socket->close(QWebSocketProtocol::CloseCode(4401), u"unauthenticated"_s);
            continue;
        }
        QWebSocket *feed = socket.get();
        connect(feed, &QWebSocket::disconnected, this, [feed] {
            std::fprintf(stderr, "mock backend: feed connection closed (code %d: %s)\n",
                         int(feed->closeCode()), qPrintable(feed->closeReason()));
        });
        m_sockets.push_back(std::move(socket));
        m_feed = feed;
        feed->sendTextMessage(m_snapshotText);
        ++m_snapshotsSent;
    }
}

void MockBackend::startLive(int eventsPerSecond)
{
    m_eventsPerSecond = std::max(1, eventsPerSecond);
    m_liveSent = 0;
    m_liveClock.start();
    m_liveTimer.start();
}

void MockBackend::sendDueEvents()
{
    const qint64 elapsedMs = m_liveClock.elapsed();
    const qsizetype due = std::min<qsizetype>(m_liveEvents.size(),
                                              qsizetype(elapsedMs * m_eventsPerSecond / 1000) + 1);
    while (m_liveSent < due) {
        if (m_feed)
            m_feed->sendTextMessage(
                frame(u"credential_sync_changed"_s, m_liveEvents.at(m_liveSent)));
        ++m_liveSent;
    }
    if (m_liveSent == m_liveEvents.size()) {
        m_liveTimer.stop();
        Q_EMIT liveFinished(m_liveSent, elapsedMs);
    }
}

} // namespace sealrelay::bench
