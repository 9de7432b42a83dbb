// Loading and rewriting the pinned trusted-operators file.
#include "trustedoperators.h"

#include "clientfiles.h"
#include "operatorkeystore.h"
#include "statement.h"

#include <QDir>
#include <QStandardPaths>

#include <algorithm>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

constexpr qsizetype kMaxTrustedOperatorsBytes = 1024 * 1024;

} // namespace

QString TrustedOperators::defaultPath(const QString &profile)
{
    const QString config = QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation);
    return QDir(config).filePath(u"sealrelay/trusted-operators-"_s + profile);
}

Result<TrustedOperators> TrustedOperators::load(const QString &path)
{
    TrustedOperators trusted(path);
    Result<QByteArray> content =
        readPrivateFile(path, kMaxTrustedOperatorsBytes, u"trusted-operators file");
    if (!content && content.error().reason == Reason::NotFound)
        return trusted;
    if (!content)
        return content.error();

    // The content was read under the permission check above; core's reader
    // parses the same bytes again from the path.
    Result<QList<Ed25519PublicKey>> keys = readTrustedKeysFile(path);
    if (!keys)
        return keys.error();
    for (const Ed25519PublicKey &key : keys.value()) {
        if (!trusted.contains(key))
            trusted.m_keys.append(key);
    }
    return trusted;
}

QList<TrustedOperator> TrustedOperators::list() const
{
    QList<TrustedOperator> entries;
    for (const Ed25519PublicKey &key : m_keys)
        entries.append(TrustedOperator { key, operatorFingerprint(key) });
    return entries;
}

bool TrustedOperators::contains(const Ed25519PublicKey &key) const
{
    return std::any_of(m_keys.cbegin(), m_keys.cend(),
                       [&](const Ed25519PublicKey &listed) { return listed == key; });
}

bool TrustedOperators::contains(QByteArrayView raw) const
{
    return std::any_of(m_keys.cbegin(), m_keys.cend(),
                       [&](const Ed25519PublicKey &listed) { return listed.raw() == raw; });
}

Result<bool> TrustedOperators::add(const Ed25519PublicKey &key)
{
    if (contains(key))
        return false;
    m_keys.append(key);
    if (Result<void> saved = save(); !saved) {
        m_keys.removeLast();
        return saved.error();
    }
    return true;
}

Result<bool> TrustedOperators::remove(const Ed25519PublicKey &key)
{
    const auto found = std::find(m_keys.cbegin(), m_keys.cend(), key);
    if (found == m_keys.cend())
        return false;
    const qsizetype index = found - m_keys.cbegin();
    const Ed25519PublicKey removed = m_keys.takeAt(index);
    if (Result<void> saved = save(); !saved) {
        m_keys.insert(index, removed);
        return saved.error();
    }
    return true;
}

Result<void> TrustedOperators::save() const
{
    QByteArray content("# Operator keys trusted by this sealrelay console or CLI, one base64 raw\n"
                       "# Ed25519 public key per line. Never filled from the backend.\n");
    for (const Ed25519PublicKey &key : m_keys) {
        content += "# fingerprint " + operatorFingerprint(key).toLatin1() + '\n';
        content += key.rawBase64().toLatin1() + '\n';
    }
    return writePrivateFile(m_path, content, WriteMode::Replace);
}

} // namespace sealrelay::client
