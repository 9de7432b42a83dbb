// Parsing of password manager exports (KeePassXC CSV, unencrypted Bitwarden
// JSON) into credentials to upload: names, kinds, secret fields and the
// reason an entry is skipped. No network access, so every check runs on the
// whole file before anything is uploaded.
#pragma once

#include "error.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace sealrelay::client {

enum class ImportFormat { KeePassXcCsv, BitwardenJson };

// Returns the format named by "keepassxc-csv" or "bitwarden-json".
std::optional<ImportFormat> importFormatFromName(QStringView name);

// Kind of every imported credential.
inline constexpr QLatin1StringView kImportedKind { "password" };

// One entry of an export. `skipReason` is empty when the entry can be
// uploaded. The secret fields are UTF-8 bytes so that wipeSecrets() can
// overwrite them.
struct ImportEntry {
    QString location; // where the entry starts, e.g. "line 12" or "items[3]"
    QString title; // the entry's title as exported, for messages
    QString name; // credential name; empty when no valid name could be made
    QString skipReason; // one sentence; empty for an entry to upload
    QByteArray username;
    QByteArray password;
    QByteArray url;
    QByteArray notes;
    QByteArray totp;

    bool skipped() const { return !skipReason.isEmpty(); }

    // Overwrites and clears the secret fields.
    void wipeSecrets();
};

// The entries of one export, in file order. The destructor wipes the secret
// fields of every entry.
class ImportedExport {
public:
    ImportedExport() = default;
    ~ImportedExport();
    ImportedExport(ImportedExport &&other) noexcept;
    ImportedExport &operator=(ImportedExport &&other) noexcept;
    ImportedExport(const ImportedExport &) = delete;
    ImportedExport &operator=(const ImportedExport &) = delete;

    QList<ImportEntry> entries;
};

// Parses a KeePassXC CSV export (RFC 4180: fields in double quotes may hold
// commas, line breaks and quotes doubled as ""). Columns are found by their
// header names; Group, Title, Username, Password, URL and Notes are required
// and TOTP is read when present. Bad quoting, a row with another field count
// than the header, invalid UTF-8 and a missing column are Reason::Malformed
// with the line number. `bytes` stays the caller's to wipe.
Result<ImportedExport> parseKeePassXcCsv(const QByteArray &bytes);

// Parses an unencrypted Bitwarden JSON export. Logins (type 1) become
// entries, other item types are skipped with their type named. An encrypted
// export, invalid JSON and a missing or mistyped field are
// Reason::Malformed naming the line or the field. NOTE: QJsonDocument keeps
// the passwords as QString while parsing, and those copies cannot be wiped.
Result<ImportedExport> parseBitwardenJson(const QByteArray &bytes);

Result<ImportedExport> parseExport(ImportFormat format, const QByteArray &bytes);

// Builds a credential name from a folder path and a title: each part NFC
// normalised, control characters and runs of white space made one space,
// trimmed, empty parts dropped, joined with "/". An empty title or a result
// over kMaxNameBytes (200) bytes of UTF-8 is Reason::Malformed with the
// reason.
Result<QString> credentialNameFromPath(const QStringList &folders, const QString &title);

// Returns the secret fields of `entry`: username, password and url always,
// notes and totp only when not empty. NOTE: the returned QString values are
// copies that cannot be wiped.
QJsonObject importSecretFields(const ImportEntry &entry);

} // namespace sealrelay::client
