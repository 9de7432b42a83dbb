// Profiles of the operator tools and the storage of their API tokens.
#include "clientprofile.h"

#include "clientfiles.h"
#include "keychainstore.h"
#include "operatorkeystore.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QStandardPaths>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

constexpr qsizetype kMaxProfileBytes = 64 * 1024;
constexpr qsizetype kMaxTokenFileBytes = 64 * 1024;

KeychainStore tokenKeychain()
{
    return KeychainStore(kKeychainService,
                         u"keep the token in a file instead: 'sealrelayctl login --token-file "
                         "PATH'"_s);
}

} // namespace

QString Profile::path(const QString &name)
{
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation))
        .filePath(u"sealrelay/profile-%1.json"_s.arg(name));
}

Result<Profile> Profile::load(const QString &name)
{
    Profile profile;
    profile.name = name;
    Result<QByteArray> content = readPrivateFile(path(name), kMaxProfileBytes, u"profile");
    if (!content) {
        if (content.error().reason == Reason::NotFound)
            return profile;
        return content.error();
    }
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(content.value(), &parseError);
    if (!document.isObject())
        return makeError(Reason::Malformed,
                         u"profile %1 is not a JSON object (%2); fix or delete it and run "
                         "'sealrelayctl login' again"_s.arg(path(name), parseError.errorString()));
    const QJsonObject object = document.object();
    profile.backendUrl = object.value(u"backend"_s).toString();
    profile.orgId = object.value(u"org_id"_s).toString();
    profile.tokenFile = object.value(u"token_file"_s).toString();
    profile.operatorKeyFile = object.value(u"operator_key_file"_s).toString();
    profile.caFile = object.value(u"ca_file"_s).toString();
    return profile;
}

QJsonObject Profile::toJson() const
{
    QJsonObject object { { u"profile"_s, name },
                         { u"backend"_s, backendUrl },
                         { u"org_id"_s, orgId } };
    object.insert(u"token_file"_s, tokenFile.isEmpty() ? QJsonValue() : QJsonValue(tokenFile));
    object.insert(u"operator_key_file"_s,
                  operatorKeyFile.isEmpty() ? QJsonValue() : QJsonValue(operatorKeyFile));
    object.insert(u"ca_file"_s, caFile.isEmpty() ? QJsonValue() : QJsonValue(caFile));
    return object;
}

Result<void> Profile::save() const
{
    QJsonObject object = toJson();
    object.remove(u"profile"_s);
    return writePrivateFile(path(name), QJsonDocument(object).toJson(), WriteMode::Replace);
}

QString tokenKeychainKey(const QString &profile)
{
    return u"api-token:"_s + profile;
}

QString tokenLocation(const Profile &profile)
{
    if (!profile.tokenFile.isEmpty())
        return u"token file "_s + profile.tokenFile;
    return u"OS keychain entry "_s + tokenKeychainKey(profile.name);
}

Result<SecureBuffer> readStoredToken(const Profile &profile)
{
    if (!profile.tokenFile.isEmpty()) {
        Result<QByteArray> content =
            readPrivateFile(profile.tokenFile, kMaxTokenFileBytes, u"token file");
        if (!content)
            return content.error();
        SecureBuffer token(QByteArrayView(content.value()).trimmed());
        wipe(content.value());
        if (token.size() == 0)
            return makeError(Reason::NotFound,
                             u"the token file %1 is empty; run 'sealrelayctl login --token-file "
                             "%1' again"_s.arg(profile.tokenFile));
        return token;
    }

    Result<std::optional<SecureBuffer>> stored =
        tokenKeychain().read(tokenKeychainKey(profile.name));
    if (!stored)
        return stored.error();
    if (!stored->has_value())
        return makeError(Reason::NotFound,
                         u"the OS keychain has no token for profile \"%1\"; run "
                         "'sealrelayctl login' again"_s.arg(profile.name));
    return std::move(stored.value()).value();
}

Result<void> storeToken(const Profile &profile, QByteArrayView token)
{
    if (!profile.tokenFile.isEmpty()) {
        QByteArray line(token.data(), token.size());
        line.append('\n');
        Result<void> written = writePrivateFile(profile.tokenFile, line, WriteMode::Replace);
        wipe(line);
        return written;
    }
    return tokenKeychain().write(tokenKeychainKey(profile.name), token);
}

Result<void> removeStoredToken(const Profile &profile)
{
    if (!profile.tokenFile.isEmpty()) {
        QFile file(profile.tokenFile);
        if (file.exists() && !file.remove())
            return makeError(Reason::IoError,
                             u"cannot remove the token file %1: %2; delete it by hand"_s.arg(
                                 profile.tokenFile, file.errorString()));
        return {};
    }
    return tokenKeychain().remove(tokenKeychainKey(profile.name));
}

} // namespace sealrelay::client
