// /api/tokens (admin only): create operator and auditor tokens, revoke them,
// and list them without their hashes.
#include "httpapi.h"

#include "digest.h"
#include "ids.h"
#include "logging.h"
#include "rowjson.h"

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

ApiResponse HttpApi::handleListTokens(const ApiRequest &request)
{
    auto tokens = m_storage.apiTokens(request.caller().orgId);
    if (!tokens)
        return ApiResponse::internal(tokens.error());
    QJsonArray list;
    for (const ApiTokenRow &token : tokens.value())
        list.append(apiTokenJson(token));
    return ApiResponse::json(200, QJsonObject{{u"tokens"_s, list}});
}

ApiResponse HttpApi::handleCreateToken(const ApiRequest &request)
{
    const QString roleText = request.body.value(u"role"_s).toString();
    const std::optional<ApiRole> role = parseApiRole(roleText);
    if (!role || *role == ApiRole::Admin)
        return ApiResponse::invalid(u"role must be operator or auditor."_s);
    const QJsonValue labelValue = request.body.value(u"label"_s);
    if (!labelValue.isUndefined() && !labelValue.isString())
        return ApiResponse::invalid(u"label must be a string."_s);
    const QString label = labelValue.toString();
    if (label.toUtf8().size() > 200)
        return ApiResponse::invalid(u"label must be at most 200 UTF-8 bytes."_s);

    const QString token = generateToken(u"srt_");
    if (token.isEmpty())
        return ApiResponse::internal(
            makeError(Reason::Internal, u"The random generator failed."_s));
    ApiTokenRow row;
    row.orgId = request.caller().orgId;
    row.tokenId = newUuid();
    row.tokenHash = sha256(token.toUtf8());
    row.role = *role;
    row.label = label;
    auto created = m_storage.createApiToken(row);
    if (!created)
        return ApiResponse::internal(created.error());

    auto audited = audit(request, u"api_token_created"_s, std::nullopt, std::nullopt,
                         QJsonObject{{u"token_id"_s, row.tokenId}, {u"role"_s, roleText}});
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("API token {} ({}) created by token {}", row.tokenId.toStdString(),
                                roleText.toStdString(), request.caller().tokenId.toStdString());
    return ApiResponse::json(201, QJsonObject{{u"token_id"_s, row.tokenId},
                                              {u"token"_s, token},
                                              {u"role"_s, roleText},
                                              {u"label"_s, label}});
}

ApiResponse HttpApi::handleRevokeToken(const ApiRequest &request)
{
    const QString tokenId = request.captures.value(0);

    // Revoking the org's last active admin token would leave no one able to
    // manage tokens through the API.
    // NOTE: two concurrent revocations of the last two admin tokens can both
    // pass this check; `sealrelay-backend token create` recovers from that.
    auto tokens = m_storage.apiTokens(request.caller().orgId);
    if (!tokens)
        return ApiResponse::internal(tokens.error());
    qsizetype activeAdmins = 0;
    bool targetIsActiveAdmin = false;
    for (const ApiTokenRow &token : tokens.value()) {
        if (token.role != ApiRole::Admin || token.revokedAt)
            continue;
        ++activeAdmins;
        targetIsActiveAdmin |= token.tokenId == tokenId;
    }
    if (targetIsActiveAdmin && activeAdmins == 1)
        return ApiResponse::error(409, u"last_admin_token"_s,
                                  u"Token %1 is the org's last active admin token; create "
                                  "another admin token first."_s.arg(tokenId));

    auto revoked = m_storage.revokeApiToken(request.caller().orgId, tokenId);
    if (!revoked)
        return ApiResponse::internal(revoked.error());
    if (!revoked.value())
        return ApiResponse::error(404, u"not_found"_s,
                                  u"Token %1 does not exist in this org or is already revoked; "
                                  "list the tokens to check."_s.arg(tokenId));

    auto audited = audit(request, u"api_token_revoked"_s, std::nullopt, std::nullopt,
                         QJsonObject{{u"token_id"_s, tokenId}});
    if (!audited)
        return ApiResponse::internal(audited.error());
    logger("backend.api")->info("API token {} revoked by token {}", tokenId.toStdString(),
                                request.caller().tokenId.toStdString());
    return ApiResponse::json(200, QJsonObject{{u"token_id"_s, tokenId}, {u"revoked"_s, true}});
}

} // namespace sealrelay::backend
