// /healthz, /readyz and /metrics (no token, no names or ids in them) and
// /api/system/rewrap-coordination-status.
#include "httpapi.h"

#include "logging.h"
#include "metrics.h"

#include <QCoreApplication>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

ApiResponse HttpApi::handleHealth(const ApiRequest &)
{
    return ApiResponse::json(200, QJsonObject{{u"status"_s, u"ok"_s}});
}

ApiResponse HttpApi::handleReady(const ApiRequest &)
{
    auto ping = m_storage.ping();
    if (!ping)
        logger("backend.api")->warn("Readiness: storage ping failed: {}",
                                    ping.error().message.toStdString());
    const bool storageReady = ping.ok();
    const bool coordinationReady = !m_hooks.coordinationReady || m_hooks.coordinationReady();
    const bool ready = storageReady && coordinationReady;
    return ApiResponse::json(ready ? 200 : 503,
                             QJsonObject{{u"status"_s, ready ? u"ready"_s : u"not_ready"_s},
                                         {u"storage"_s, storageReady},
                                         {u"coordination"_s, coordinationReady}});
}

ApiResponse HttpApi::handleMetrics(const ApiRequest &)
{
    ApiResponse response;
    response.body = m_metrics.render();
    response.contentType = QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8");
    return response;
}

ApiResponse HttpApi::handleCoordinationStatus(const ApiRequest &)
{
    QJsonObject status = m_hooks.coordinationStatus ? m_hooks.coordinationStatus() : QJsonObject{};
    if (const QString version = QCoreApplication::applicationVersion(); !version.isEmpty())
        status.insert(u"version"_s, version);
    return ApiResponse::json(200, status);
}

} // namespace sealrelay::backend
