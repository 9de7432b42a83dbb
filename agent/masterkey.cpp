// Finding, reading and creating the vault master key in its three sources.
#include "masterkey.h"

#include "keychainstore.h"
#include "logging.h"
#include "rowcipher.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QScopeGuard>

#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::agent {

namespace {

// How an agent host without a usable keychain keeps its vault master key.
const QString kKeychainAlternative =
    QStringLiteral("use a systemd credential or a key file there instead");

constexpr qsizetype kHexKeyChars = 2 * kMasterKeyBytes;
// Enough for the 64 digits and a newline; anything longer is no key file.
constexpr qsizetype kMaxKeyFileBytes = kHexKeyChars + 1;
constexpr mode_t kRequiredKeyFileMode = 0600;

QString systemError(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

QString octalMode(mode_t mode)
{
    return u"0%1"_s.arg(QString::number(mode & 07777, 8));
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Reads a small secret file. std::nullopt when it does not exist; with
// `requirePrivateMode`, a mode other than 0600 is an error that names the fix.
Result<std::optional<SecureBuffer>> readSecretFile(const QString &path, bool requirePrivateMode)
{
    const QByteArray nativePath = QFile::encodeName(path);
    const int fd = ::open(nativePath.constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int error = errno;
        if (error == ENOENT)
            return std::optional<SecureBuffer>();
        return makeError(Reason::IoError,
                         u"cannot open the vault key file %1: %2"_s.arg(path, systemError(error)));
    }
    const auto closeFile = qScopeGuard([fd] { ::close(fd); });

    // The checks run on the opened file, so a file swapped in after them is
    // never read.
    struct stat status { };
    if (::fstat(fd, &status) != 0) {
        const int error = errno;
        return makeError(Reason::IoError,
                         u"cannot stat the vault key file %1: %2"_s.arg(path, systemError(error)));
    }
    if (!S_ISREG(status.st_mode)) {
        return makeError(Reason::InvalidKey,
                         u"the vault key file %1 is not a regular file"_s.arg(path));
    }
    if (requirePrivateMode && (status.st_mode & 07777) != kRequiredKeyFileMode) {
        return makeError(Reason::Forbidden,
                         u"the vault key file %1 has mode %2, but it must have mode 0600 so that "
                         u"only its owner can read it; fix it with `chmod 600 %1`"_s.arg(
                             path, octalMode(status.st_mode)));
    }

    SecureBuffer content(kMaxKeyFileBytes + 1);
    qsizetype length = 0;
    while (length < content.size()) {
        const ssize_t count =
            ::read(fd, content.data() + length, std::size_t(content.size() - length));
        if (count < 0) {
            const int error = errno;
            if (error == EINTR)
                continue;
            return makeError(
                Reason::IoError,
                u"cannot read the vault key file %1: %2"_s.arg(path, systemError(error)));
        }
        if (count == 0)
            break;
        length += count;
    }
    content.truncate(length);
    return std::optional<SecureBuffer>(std::move(content));
}

// Syncs the directory entry of a new file. Failing here loses no key: the
// file's own fsync has succeeded, so errors are ignored.
void syncDirectory(const QString &directory)
{
    const int fd =
        ::open(QFile::encodeName(directory).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    ::fsync(fd);
    ::close(fd);
}

Result<void> writeKeyFile(const QString &path, const SecureBuffer &key)
{
    const QByteArray nativePath = QFile::encodeName(path);
    const int fd =
        ::open(nativePath.constData(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               kRequiredKeyFileMode);
    if (fd < 0) {
        const int error = errno;
        if (error == EEXIST) {
            return makeError(Reason::IoError,
                             u"the vault key file %1 already exists; it is never replaced. Move it "
                             u"away only if no vault uses it"_s.arg(path));
        }
        return makeError(
            Reason::IoError,
            u"cannot create the vault key file %1: %2"_s.arg(path, systemError(error)));
    }
    const auto closeFile = qScopeGuard([fd] { ::close(fd); });

    // The umask may have removed bits from the mode passed to open(); the
    // file must end up exactly 0600.
    if (::fchmod(fd, kRequiredKeyFileMode) != 0) {
        const int error = errno;
        return makeError(
            Reason::IoError,
            u"cannot set mode 0600 on the vault key file %1: %2"_s.arg(path, systemError(error)));
    }

    static constexpr char kDigits[] = "0123456789abcdef";
    SecureBuffer text(kHexKeyChars + 1);
    for (qsizetype i = 0; i < key.size(); ++i) {
        text.data()[2 * i] = static_cast<unsigned char>(kDigits[key.data()[i] >> 4]);
        text.data()[2 * i + 1] = static_cast<unsigned char>(kDigits[key.data()[i] & 0x0f]);
    }
    text.data()[kHexKeyChars] = '\n';

    qsizetype written = 0;
    while (written < text.size()) {
        const ssize_t count =
            ::write(fd, text.data() + written, std::size_t(text.size() - written));
        if (count < 0) {
            const int error = errno;
            if (error == EINTR)
                continue;
            return makeError(
                Reason::IoError,
                u"cannot write the vault key file %1: %2"_s.arg(path, systemError(error)));
        }
        written += count;
    }
    if (::fsync(fd) != 0) {
        const int error = errno;
        return makeError(Reason::IoError,
                         u"cannot sync the vault key file %1: %2"_s.arg(path, systemError(error)));
    }
    syncDirectory(QFileInfo(path).absolutePath());
    return {};
}

Result<SecureBuffer> generateKey()
{
    SecureBuffer key(kMasterKeyBytes);
    if (RAND_bytes(key.data(), int(key.size())) != 1)
        return makeError(Reason::Internal, u"OpenSSL's RAND_bytes failed to generate a key"_s);
    return key;
}

QString keychainLocation(const MasterKeyLocations &locations)
{
    return u"keychain service \"%1\", key \"%2\""_s.arg(kKeychainService, locations.keychainKey());
}

} // namespace

QString masterKeySourceName(MasterKeySource source)
{
    switch (source) {
    case MasterKeySource::SystemdCredential:
        return u"systemd credential"_s;
    case MasterKeySource::KeyFile:
        return u"key file"_s;
    case MasterKeySource::Keychain:
        return u"OS keychain"_s;
    }
    return {};
}

MasterKeyLocations MasterKeyLocations::forDataDirectory(const QString &dataDirectory)
{
    MasterKeyLocations locations;
    locations.dataDirectory = dataDirectory;
    locations.credentialsDirectory = qEnvironmentVariable("CREDENTIALS_DIRECTORY");
    locations.keyFilePath = QDir(dataDirectory).filePath(u"vault.key"_s);
    return locations;
}

QString MasterKeyLocations::systemdCredentialPath() const
{
    if (credentialsDirectory.isEmpty())
        return {};
    return QDir(credentialsDirectory).filePath(kSystemdCredentialName);
}

QString MasterKeyLocations::keychainKey() const
{
    return u"vault-master-key:"_s + QDir(dataDirectory).absolutePath();
}

Result<SecureBuffer> parseMasterKeyText(QByteArrayView text, const QString &origin)
{
    QByteArrayView digits = text;
    if (digits.endsWith('\n'))
        digits.chop(1);
    if (digits.size() != kHexKeyChars) {
        return makeError(Reason::InvalidKey,
                         u"%1 must hold the vault master key as 64 hexadecimal digits (for example "
                         u"from `openssl rand -hex 32`), but it holds %2 bytes"_s.arg(origin)
                             .arg(text.size()));
    }
    SecureBuffer key(kMasterKeyBytes);
    for (qsizetype i = 0; i < kMasterKeyBytes; ++i) {
        const int high = hexValue(digits.at(2 * i));
        const int low = hexValue(digits.at(2 * i + 1));
        if (high < 0 || low < 0) {
            return makeError(Reason::InvalidKey,
                             u"%1 must hold the vault master key as 64 hexadecimal digits; "
                             u"character %2 is not one"_s.arg(origin)
                                 .arg(2 * i + (high < 0 ? 1 : 2)));
        }
        key.data()[i] = static_cast<unsigned char>((high << 4) | low);
    }
    return key;
}

Result<MasterKey> loadMasterKey(const MasterKeyLocations &locations)
{
    // 1. systemd credential. systemd itself makes the file readable by the
    // service only, so its mode is not checked.
    const QString credentialPath = locations.systemdCredentialPath();
    if (!credentialPath.isEmpty()) {
        Result<std::optional<SecureBuffer>> content = readSecretFile(credentialPath, false);
        if (!content)
            return content.error();
        if (content.value()) {
            Result<SecureBuffer> key = parseMasterKeyText(
                content.value()->view(), u"the systemd credential %1"_s.arg(credentialPath));
            if (!key)
                return key.error();
            return MasterKey { std::move(key).value(), MasterKeySource::SystemdCredential,
                               credentialPath };
        }
    }

    // 2. key file.
    if (!locations.keyFilePath.isEmpty()) {
        Result<std::optional<SecureBuffer>> content = readSecretFile(locations.keyFilePath, true);
        if (!content)
            return content.error();
        if (content.value()) {
            Result<SecureBuffer> key = parseMasterKeyText(
                content.value()->view(), u"the key file %1"_s.arg(locations.keyFilePath));
            if (!key)
                return key.error();
            return MasterKey { std::move(key).value(), MasterKeySource::KeyFile,
                               locations.keyFilePath };
        }
    }

    // 3. OS keychain. An unreachable keychain counts as absent, and its
    // error goes into the final message.
    QString keychainState = u"the %1 (not consulted)"_s.arg(keychainLocation(locations));
    if (locations.useKeychain) {
        const KeychainStore keychain(kKeychainService, kKeychainAlternative,
                                     locations.keychainTimeout);
        Result<std::optional<SecureBuffer>> stored = keychain.read(locations.keychainKey());
        if (stored && stored.value()) {
            if (stored.value()->size() != kMasterKeyBytes) {
                return makeError(Reason::InvalidKey,
                                 u"the %1 holds %2 bytes, not a 32-byte vault master key"_s
                                     .arg(keychainLocation(locations))
                                     .arg(stored.value()->size()));
            }
            return MasterKey { std::move(*stored.value()), MasterKeySource::Keychain,
                               keychainLocation(locations) };
        }
        keychainState = stored ? u"the %1 (no such entry)"_s.arg(keychainLocation(locations))
                               : stored.error().message;
    }

    const QString credentialState = credentialPath.isEmpty()
        ? u"CREDENTIALS_DIRECTORY is not set"_s
        : u"%1 does not exist"_s.arg(credentialPath);
    return makeError(
        Reason::NotFound,
        u"no vault master key found. Provide it in one of three ways: (1) a systemd credential "
        u"named %1 (LoadCredential= or LoadCredentialEncrypted= in the service unit; %2); "
        u"(2) the key file %3 with 64 hex digits and mode 0600 (it does not exist); (3) %4. "
        u"`sealrelay-agent init` creates a key file or a keychain entry."_s.arg(
            kSystemdCredentialName, credentialState, locations.keyFilePath, keychainState));
}

Result<MasterKey> createMasterKey(const MasterKeyLocations &locations, MasterKeySource destination)
{
    Result<SecureBuffer> key = generateKey();
    if (!key)
        return key.error();

    switch (destination) {
    case MasterKeySource::KeyFile: {
        if (Result<void> written = writeKeyFile(locations.keyFilePath, key.value()); !written)
            return written.error();
        logger("agent.vault")
            ->info("created the vault master key file {}", locations.keyFilePath.toStdString());
        return MasterKey { std::move(key).value(), MasterKeySource::KeyFile,
                           locations.keyFilePath };
    }
    case MasterKeySource::Keychain: {
        const KeychainStore keychain(kKeychainService, kKeychainAlternative,
                                     locations.keychainTimeout);
        Result<std::optional<SecureBuffer>> existing = keychain.read(locations.keychainKey());
        if (!existing)
            return existing.error();
        if (existing.value()) {
            return makeError(Reason::IoError,
                             u"the %1 already holds a key; it is never replaced. Remove it only "
                             u"if no vault uses it"_s.arg(keychainLocation(locations)));
        }
        if (Result<void> written = keychain.write(locations.keychainKey(), key->view()); !written) {
            return written.error();
        }
        logger("agent.vault")
            ->info("stored the vault master key in the {}",
                   keychainLocation(locations).toStdString());
        return MasterKey { std::move(key).value(), MasterKeySource::Keychain,
                           keychainLocation(locations) };
    }
    case MasterKeySource::SystemdCredential:
        break;
    }
    return makeError(Reason::Forbidden,
                     u"a systemd credential cannot be created by the agent; create the key with "
                     u"`openssl rand -hex 32` and pass it with LoadCredential="_s);
}

} // namespace sealrelay::agent
