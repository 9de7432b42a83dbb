// EventFeedClient: the feed's WebSocket and the frames it brought.
#include "eventfeedclient.h"

#include <QJsonDocument>
#include <QNetworkRequest>
#include <QTest>
#include <QUrl>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::synctest {

bool EventFeedClient::open(const QString &backendUrl, const QString &token)
{
    QString url = backendUrl;
    url.replace(u"http://"_s, u"ws://"_s);
    QNetworkRequest request(QUrl(url + u"/api/events"_s));
    request.setRawHeader("Authorization", "Bearer " + token.toLatin1());
    QObject::connect(&m_socket, &QWebSocket::textMessageReceived, &m_socket,
                     [this](const QString &frame) {
                         m_events.append(QJsonDocument::fromJson(frame.toUtf8()).object());
                     });
    QObject::connect(&m_socket, &QWebSocket::disconnected, &m_socket, [this] {
        m_closeReason =
            u"closed with %1: %2"_s.arg(int(m_socket.closeCode())).arg(m_socket.closeReason());
    });
    m_socket.open(request);
    if (!QTest::qWaitFor([this] { return !m_events.isEmpty(); }, 5000))
        return false;
    return m_events.first().value(u"type"_s) == u"snapshot"_s;
}

QList<QJsonObject> EventFeedClient::data(const QString &type) const
{
    QList<QJsonObject> found;
    for (const QJsonObject &event : m_events) {
        if (event.value(u"type"_s).toString() == type)
            found.append(event.value(u"data"_s).toObject());
    }
    return found;
}

QList<QJsonObject> EventFeedClient::backfillProgress(const QString &agentId) const
{
    QList<QJsonObject> found;
    for (const QJsonObject &progress : data(u"agent_backfill_progress"_s)) {
        if (progress.value(u"agent_id"_s).toString() == agentId)
            found.append(progress);
    }
    return found;
}

QList<QJsonObject> EventFeedClient::syncChanges(const QString &credentialId,
                                                const QString &agentId,
                                                const QString &change) const
{
    QList<QJsonObject> found;
    for (const QJsonObject &event : data(u"credential_sync_changed"_s)) {
        if (event.value(u"credential_id"_s).toString() == credentialId
            && event.value(u"agent_id"_s).toString() == agentId
            && event.value(u"change"_s).toString() == change)
            found.append(event);
    }
    return found;
}

QString EventFeedClient::state() const
{
    return u"%1 frames, %2"_s.arg(m_events.size())
        .arg(m_closeReason.isEmpty() ? u"open"_s : m_closeReason);
}

} // namespace sealrelay::synctest
