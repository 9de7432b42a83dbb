// Parsing of postgresql:// URLs into the parts QSqlDatabase takes.
#include "databaseurl.h"

#include <QStringList>
#include <QUrl>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::backend {

namespace {

const QString kUrlForm = u"postgresql://user:password@host:port/dbname"_s;

Error urlError(const QString &problem)
{
    return makeError(Reason::Malformed,
                     u"invalid PostgreSQL URL: %1; expected the form %2"_s.arg(problem, kUrlForm));
}

QString percentDecoded(QStringView text)
{
    return QUrl::fromPercentEncoding(text.toUtf8());
}

bool isAllowedOption(QStringView key)
{
    static const QStringList allowed = {
        u"sslmode"_s, u"sslrootcert"_s,     u"sslcert"_s,
        u"sslkey"_s,  u"connect_timeout"_s, u"application_name"_s,
    };
    return allowed.contains(key);
}

} // namespace

QString PostgresUrl::redacted() const
{
    return u"postgresql://%1:***@%2:%3/%4"_s.arg(user, host, QString::number(port), database);
}

Result<PostgresUrl> parsePostgresUrl(QStringView url)
{
    PostgresUrl parsed;

    QStringView rest;
    if (url.startsWith(u"postgresql://")) {
        rest = url.mid(13);
    } else if (url.startsWith(u"postgres://")) {
        rest = url.mid(11);
    } else {
        return urlError(u"the scheme must be postgresql://"_s);
    }

    // The user info ends at the last '@', so a password may contain '@'
    // even when the client did not percent-encode it.
    const qsizetype slash = rest.indexOf(u'/', rest.lastIndexOf(u'@') + 1);
    if (slash < 0) {
        return urlError(u"the database name is missing (…/dbname)"_s);
    }
    const QStringView authority = rest.left(slash);
    QStringView pathAndQuery = rest.mid(slash + 1);

    const qsizetype at = authority.lastIndexOf(u'@');
    if (at < 0) {
        return urlError(u"the user is missing (user:password@ before the host)"_s);
    }
    const QStringView userInfo = authority.left(at);
    const QStringView hostPort = authority.mid(at + 1);

    const qsizetype colon = userInfo.indexOf(u':');
    parsed.user = percentDecoded(colon < 0 ? userInfo : userInfo.left(colon));
    if (colon >= 0) {
        parsed.password = percentDecoded(userInfo.mid(colon + 1));
    }
    if (parsed.user.isEmpty()) {
        return urlError(u"the user is empty"_s);
    }

    QStringView portText;
    if (hostPort.startsWith(u'[')) {
        // IPv6 literal: [::1]:5432
        const qsizetype close = hostPort.indexOf(u']');
        if (close < 0) {
            return urlError(u"the IPv6 host has no closing ']'"_s);
        }
        parsed.host = hostPort.mid(1, close - 1).toString();
        const QStringView afterHost = hostPort.mid(close + 1);
        if (!afterHost.isEmpty()) {
            if (!afterHost.startsWith(u':')) {
                return urlError(u"unexpected text after the IPv6 host"_s);
            }
            portText = afterHost.mid(1);
        }
    } else {
        const qsizetype portColon = hostPort.lastIndexOf(u':');
        parsed.host = (portColon < 0 ? hostPort : hostPort.left(portColon)).toString();
        if (portColon >= 0) {
            portText = hostPort.mid(portColon + 1);
        }
    }
    if (parsed.host.isEmpty()) {
        return urlError(u"the host is empty"_s);
    }
    if (!portText.isNull()) {
        bool isNumber = false;
        const int port = portText.toInt(&isNumber);
        if (!isNumber || port < 1 || port > 65535) {
            return urlError(u"the port \"%1\" is not a number from 1 to 65535"_s.arg(portText));
        }
        parsed.port = port;
    }

    const qsizetype question = pathAndQuery.indexOf(u'?');
    const QStringView query = question < 0 ? QStringView() : pathAndQuery.mid(question + 1);
    if (question >= 0) {
        pathAndQuery = pathAndQuery.left(question);
    }
    if (pathAndQuery.isEmpty()) {
        return urlError(u"the database name is empty"_s);
    }
    if (pathAndQuery.contains(u'/')) {
        return urlError(u"the database name \"%1\" contains '/'"_s.arg(pathAndQuery));
    }
    parsed.database = percentDecoded(pathAndQuery);

    QStringList options;
    for (const QStringView pair : query.split(u'&', Qt::SkipEmptyParts)) {
        const qsizetype equals = pair.indexOf(u'=');
        if (equals <= 0) {
            return urlError(u"the query parameter \"%1\" is not key=value"_s.arg(pair));
        }
        const QStringView key = pair.left(equals);
        if (!isAllowedOption(key)) {
            return urlError(u"the query parameter \"%1\" is not supported"_s.arg(key));
        }
        const QString value = percentDecoded(pair.mid(equals + 1));
        if (value.contains(u';')) {
            return urlError(u"the value of \"%1\" contains ';'"_s.arg(key));
        }
        options.append(key.toString() + u'=' + value);
    }
    parsed.connectOptions = options.join(u';');

    return parsed;
}

} // namespace sealrelay::backend
