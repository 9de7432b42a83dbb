// Parsing of KeePassXC CSV and Bitwarden JSON exports into ImportEntry rows.
// Secret fields stay in QByteArray from the file to the entry where the
// format allows it, so they can be wiped.
#include "credentialimport.h"

#include "clientfiles.h"
#include "credentialcreator.h"

#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay::client {

namespace {

// KeePassXC's CSV export starts every group path with the root group's name,
// "Root" unless renamed, and also exports the recycle bin's entries
// (src/format/CsvExporter.cpp). NOTE: a renamed root group stays in the names.
constexpr QLatin1StringView kKeePassXcRootGroup { "Root" };
constexpr QLatin1StringView kKeePassXcRecycleBin { "Recycle Bin" };

// One CSV record with the line on which it starts (1-based).
struct CsvRecord {
    qsizetype line = 0;
    QList<QByteArray> fields;
};

// Wipes every field of every record when the scope ends.
class CsvRecordsWiper {
public:
    explicit CsvRecordsWiper(QList<CsvRecord> &records)
        : m_records(records)
    {
    }
    ~CsvRecordsWiper()
    {
        for (CsvRecord &record : m_records) {
            for (QByteArray &field : record.fields)
                wipe(field);
        }
    }
    CsvRecordsWiper(const CsvRecordsWiper &) = delete;
    CsvRecordsWiper &operator=(const CsvRecordsWiper &) = delete;

private:
    QList<CsvRecord> &m_records;
};

Error malformedAt(qsizetype line, const QString &message)
{
    return makeError(Reason::Malformed, u"line %1: %2"_s.arg(line).arg(message));
}

// Reads the fields of RFC 4180 CSV one at a time, counting lines. Line
// breaks are LF or CRLF, and inside double quotes they belong to the field.
class CsvReader {
public:
    explicit CsvReader(const QByteArray &bytes)
        : m_bytes(bytes)
        , m_pos(bytes.startsWith("\xEF\xBB\xBF") ? 3 : 0) // UTF-8 byte order mark
    {
    }

    bool atEnd() const { return m_pos >= m_bytes.size(); }
    qsizetype line() const { return m_line; }

    // Reads field number `fieldNumber` (1-based, for messages) into `out`.
    std::optional<Error> readField(qsizetype fieldNumber, QByteArray &out)
    {
        if (!atEnd() && m_bytes.at(m_pos) == '"')
            return readQuotedField(fieldNumber, out);
        return readUnquotedField(fieldNumber, out);
    }

    // Consumes the separator after a field. Returns true when another field
    // of the same record follows, false at the end of the record.
    bool nextField()
    {
        if (!atEnd() && m_bytes.at(m_pos) == ',') {
            ++m_pos;
            return true;
        }
        if (!atEnd())
            m_pos += m_bytes.at(m_pos) == '\r' ? 2 : 1;
        ++m_line;
        return false;
    }

private:
    bool atLineBreak() const
    {
        const char c = m_bytes.at(m_pos);
        return c == '\n'
            || (c == '\r' && m_pos + 1 < m_bytes.size() && m_bytes.at(m_pos + 1) == '\n');
    }

    bool atFieldEnd() const { return atEnd() || m_bytes.at(m_pos) == ',' || atLineBreak(); }

    std::optional<Error> readQuotedField(qsizetype fieldNumber, QByteArray &out)
    {
        const qsizetype openingLine = m_line;
        ++m_pos;
        while (!atEnd()) {
            const char c = m_bytes.at(m_pos);
            if (c == '"' && m_pos + 1 < m_bytes.size() && m_bytes.at(m_pos + 1) == '"') {
                out.append('"');
                m_pos += 2;
                continue;
            }
            if (c == '"') {
                ++m_pos;
                if (atFieldEnd())
                    return std::nullopt;
                return malformedAt(m_line,
                                   u"field %1 has text after its closing double quote; a double "
                                   "quote inside a field is written as \"\""_s.arg(fieldNumber));
            }
            if (c == '\n')
                ++m_line;
            out.append(c);
            ++m_pos;
        }
        return malformedAt(openingLine,
                           u"field %1 opens a double quote that is never closed; a double quote "
                           "inside a field is written as \"\""_s.arg(fieldNumber));
    }

    std::optional<Error> readUnquotedField(qsizetype fieldNumber, QByteArray &out)
    {
        while (!atFieldEnd()) {
            const char c = m_bytes.at(m_pos);
            if (c == '"')
                return malformedAt(m_line,
                                   u"field %1 contains a double quote but does not start with "
                                   "one; quote the whole field and write the quote as "
                                   "\"\""_s.arg(fieldNumber));
            out.append(c);
            ++m_pos;
        }
        return std::nullopt;
    }

    const QByteArray &m_bytes;
    qsizetype m_pos = 0;
    qsizetype m_line = 1;
};

// Splits CSV into records. Blank lines between records are ignored.
Result<QList<CsvRecord>> parseCsvRecords(const QByteArray &bytes)
{
    QList<CsvRecord> records;
    CsvRecordsWiper wiper(records);
    CsvReader reader(bytes);

    while (!reader.atEnd()) {
        // The record goes into `records` first, so the wiper also clears a
        // record that a malformed field ends half read.
        records.append(CsvRecord { reader.line(), {} });
        CsvRecord &record = records.last();
        bool moreFields = true;
        while (moreFields) {
            QByteArray field;
            std::optional<Error> error = reader.readField(record.fields.size() + 1, field);
            record.fields.append(std::move(field));
            if (error)
                return *error;
            moreFields = reader.nextField();
        }
        const bool blankLine = record.fields.size() == 1 && record.fields.constFirst().isEmpty();
        if (blankLine)
            records.removeLast();
    }

    QList<CsvRecord> result = std::move(records);
    records.clear();
    return result;
}

// Checks UTF-8 without decoding it into a QString, so that no copy of a
// secret is made. Rejects overlong forms, surrogates and code points above
// U+10FFFF, as RFC 3629 requires.
bool isValidUtf8(QByteArrayView bytes)
{
    qsizetype i = 0;
    const qsizetype size = bytes.size();
    while (i < size) {
        const auto lead = static_cast<unsigned char>(bytes[i]);
        qsizetype continuation = 0;
        unsigned char secondMin = 0x80;
        unsigned char secondMax = 0xBF;
        if (lead < 0x80) {
            ++i;
            continue;
        }
        if (lead >= 0xC2 && lead <= 0xDF) {
            continuation = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            continuation = 2;
            if (lead == 0xE0)
                secondMin = 0xA0;
            if (lead == 0xED)
                secondMax = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            continuation = 3;
            if (lead == 0xF0)
                secondMin = 0x90;
            if (lead == 0xF4)
                secondMax = 0x8F;
        } else {
            return false;
        }
        if (i + continuation >= size)
            return false;
        for (qsizetype k = 1; k <= continuation; ++k) {
            const auto next = static_cast<unsigned char>(bytes[i + k]);
            const unsigned char low = k == 1 ? secondMin : 0x80;
            const unsigned char high = k == 1 ? secondMax : 0xBF;
            if (next < low || next > high)
                return false;
        }
        i += continuation + 1;
    }
    return true;
}

// Makes one part of a name: NFC, control characters and white space runs
// become one space, trimmed.
QString cleanNamePart(const QString &part)
{
    const QString normalized = part.normalized(QString::NormalizationForm_C);
    QString cleaned;
    bool pendingSpace = false;
    for (const QChar c : normalized) {
        if (c.isSpace() || c.category() == QChar::Other_Control) {
            pendingSpace = true;
            continue;
        }
        if (pendingSpace && !cleaned.isEmpty())
            cleaned.append(u' ');
        pendingSpace = false;
        cleaned.append(c);
    }
    return cleaned;
}

// Marks every entry whose name an earlier entry already has as skipped.
void skipDuplicateNames(QList<ImportEntry> &entries)
{
    QHash<QString, QString> firstLocation;
    for (ImportEntry &entry : entries) {
        if (entry.skipped())
            continue;
        const auto found = firstLocation.constFind(entry.name);
        if (found != firstLocation.constEnd()) {
            entry.skipReason =
                u"another entry of this file (%1) has the same name"_s.arg(found.value());
            entry.wipeSecrets();
            continue;
        }
        firstLocation.insert(entry.name, entry.location);
    }
}

// Sets the name of `entry`, or its skip reason when no valid name can be made.
void assignName(ImportEntry &entry, const QStringList &folders)
{
    Result<QString> name = credentialNameFromPath(folders, entry.title);
    if (!name) {
        entry.skipReason = name.error().message;
        return;
    }
    entry.name = name.value();
}

// Column indexes of a KeePassXC header; -1 for an absent optional column.
struct KeePassXcColumns {
    qsizetype group = -1;
    qsizetype title = -1;
    qsizetype username = -1;
    qsizetype password = -1;
    qsizetype url = -1;
    qsizetype notes = -1;
    qsizetype totp = -1;
};

Result<KeePassXcColumns> findKeePassXcColumns(const CsvRecord &header)
{
    QHash<QString, qsizetype> indexes;
    for (qsizetype i = 0; i < header.fields.size(); ++i)
        indexes.insert(QString::fromUtf8(header.fields.at(i)).trimmed().toLower(), i);

    KeePassXcColumns columns;
    const struct {
        QLatin1StringView name;
        qsizetype *index;
    } required[] = {
        { "Group"_L1, &columns.group },       { "Title"_L1, &columns.title },
        { "Username"_L1, &columns.username }, { "Password"_L1, &columns.password },
        { "URL"_L1, &columns.url },           { "Notes"_L1, &columns.notes },
    };
    for (const auto &column : required) {
        const auto found = indexes.constFind(QString(column.name).toLower());
        if (found == indexes.constEnd())
            return malformedAt(header.line,
                               u"the header has no \"%1\" column; a KeePassXC CSV export starts "
                               "with \"Group\",\"Title\",\"Username\",\"Password\",\"URL\","
                               "\"Notes\""_s.arg(column.name));
        *column.index = found.value();
    }
    columns.totp = indexes.value(u"totp"_s, -1);
    return columns;
}

// Parses folder and title of one KeePassXC record into `entry`.
void readKeePassXcPath(ImportEntry &entry, const QString &group)
{
    QStringList folders = group.split(u'/');
    if (!folders.isEmpty() && folders.constFirst() == kKeePassXcRootGroup)
        folders.removeFirst();
    // NOTE: an entry counts as deleted when its top group below Root is
    // "Recycle Bin", the default English name of that group. A renamed or
    // translated recycle bin is imported like any other group.
    if (!folders.isEmpty() && folders.constFirst() == kKeePassXcRecycleBin) {
        entry.skipReason = u"the entry is in KeePassXC's Recycle Bin"_s;
        return;
    }
    assignName(entry, folders);
}

// Bitwarden item types other than login, named for skip reasons.
QString bitwardenTypeName(qint64 type)
{
    switch (type) {
    case 2:
        return u"a secure note"_s;
    case 3:
        return u"a card"_s;
    case 4:
        return u"an identity"_s;
    case 5:
        return u"an SSH key"_s;
    default:
        return u"of unknown type %1"_s.arg(type);
    }
}

Error malformedField(const QString &field, const QString &problem)
{
    return makeError(Reason::Malformed, u"field \"%1\" %2"_s.arg(field, problem));
}

// Reads an optional string field of `object`: absent and null are empty,
// any other non-string is Reason::Malformed.
Result<QString> optionalString(const QJsonObject &object, QLatin1StringView key,
                               const QString &path)
{
    const QJsonValue value = object.value(key);
    if (value.isUndefined() || value.isNull())
        return QString();
    if (!value.isString())
        return malformedField(path + u'.' + key, u"is not a string"_s);
    return value.toString();
}

// Copies a secret field into bytes, or returns why it cannot be stored.
std::optional<QString> secretBytes(const QString &text, const QString &field, QByteArray &out)
{
    if (!text.isValidUtf16())
        return u"field \"%1\" contains an unpaired UTF-16 surrogate, which cannot be encoded "
               "as UTF-8"_s.arg(field);
    out = text.toUtf8();
    return std::nullopt;
}

Result<QHash<QString, QString>> readBitwardenFolders(const QJsonObject &root)
{
    QHash<QString, QString> folders;
    const QJsonValue value = root.value(u"folders"_s);
    if (value.isUndefined() || value.isNull())
        return folders;
    if (!value.isArray())
        return malformedField(u"folders"_s, u"is not an array"_s);
    const QJsonArray array = value.toArray();
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString path = u"folders[%1]"_s.arg(i);
        if (!array.at(i).isObject())
            return malformedField(path, u"is not an object"_s);
        const QJsonObject folder = array.at(i).toObject();
        if (!folder.value(u"id"_s).isString())
            return malformedField(path + u".id"_s, u"is missing or not a string"_s);
        if (!folder.value(u"name"_s).isString())
            return malformedField(path + u".name"_s, u"is missing or not a string"_s);
        folders.insert(folder.value(u"id"_s).toString(), folder.value(u"name"_s).toString());
    }
    return folders;
}

// Reads the login fields of a type 1 item into `entry`.
Result<void> readBitwardenLogin(const QJsonObject &item, const QString &path, ImportEntry &entry)
{
    const QJsonValue loginValue = item.value(u"login"_s);
    if (loginValue.isUndefined() || loginValue.isNull()) {
        entry.skipReason = u"the login has no password"_s;
        return {};
    }
    if (!loginValue.isObject())
        return malformedField(path + u".login"_s, u"is not an object"_s);
    const QJsonObject login = loginValue.toObject();
    const QString loginPath = path + u".login"_s;

    Result<QString> username = optionalString(login, "username"_L1, loginPath);
    if (!username)
        return username.error();
    Result<QString> password = optionalString(login, "password"_L1, loginPath);
    if (!password)
        return password.error();
    Result<QString> totp = optionalString(login, "totp"_L1, loginPath);
    if (!totp)
        return totp.error();

    QString url;
    const QJsonValue uris = login.value(u"uris"_s);
    if (!uris.isUndefined() && !uris.isNull()) {
        if (!uris.isArray())
            return malformedField(loginPath + u".uris"_s, u"is not an array"_s);
        const QJsonArray array = uris.toArray();
        for (qsizetype i = 0; i < array.size(); ++i) {
            if (!array.at(i).isObject())
                return malformedField(loginPath + u".uris[%1]"_s.arg(i), u"is not an object"_s);
            Result<QString> uri =
                optionalString(array.at(i).toObject(), "uri"_L1, loginPath + u".uris[%1]"_s.arg(i));
            if (!uri)
                return uri.error();
            // Only the first URI is kept: the secret has one url field.
            if (url.isEmpty())
                url = uri.value();
        }
    }

    if (password->isEmpty()) {
        entry.skipReason = u"the login has no password"_s;
        return {};
    }
    const std::pair<const QString *, QByteArray *> fields[] = {
        { &username.value(), &entry.username },
        { &password.value(), &entry.password },
        { &url, &entry.url },
        { &totp.value(), &entry.totp },
    };
    const QLatin1StringView names[] = { "username"_L1, "password"_L1, "uris"_L1, "totp"_L1 };
    for (qsizetype i = 0; i < 4; ++i) {
        if (auto problem =
                secretBytes(*fields[i].first, loginPath + u'.' + names[i], *fields[i].second)) {
            entry.skipReason = *problem;
            return {};
        }
    }
    return {};
}

Result<ImportEntry> readBitwardenItem(const QJsonValue &value, qsizetype index,
                                      const QHash<QString, QString> &folders)
{
    const QString path = u"items[%1]"_s.arg(index);
    if (!value.isObject())
        return malformedField(path, u"is not an object"_s);
    const QJsonObject item = value.toObject();

    ImportEntry entry;
    entry.location = path;
    Result<QString> title = optionalString(item, "name"_L1, path);
    if (!title)
        return title.error();
    entry.title = title.value();
    if (!item.value(u"type"_s).isDouble())
        return malformedField(path + u".type"_s, u"is missing or not a number"_s);
    const qint64 type = item.value(u"type"_s).toInteger(-1);

    QStringList folderPath;
    const QJsonValue folderId = item.value(u"folderId"_s);
    if (folderId.isString()) {
        const auto found = folders.constFind(folderId.toString());
        if (found == folders.constEnd())
            return malformedField(path + u".folderId"_s,
                                  u"is \"%1\", which no entry of \"folders\" has as its "
                                  "id"_s.arg(folderId.toString()));
        // Bitwarden writes nested folders as one name with "/" between levels.
        folderPath = found.value().split(u'/');
    } else if (!folderId.isUndefined() && !folderId.isNull()) {
        return malformedField(path + u".folderId"_s, u"is not a string"_s);
    }

    Result<QString> notes = optionalString(item, "notes"_L1, path);
    if (!notes)
        return notes.error();

    if (type != 1) {
        entry.skipReason = u"the item is %1, not a login"_s.arg(bitwardenTypeName(type));
        return entry;
    }
    Result<void> login = readBitwardenLogin(item, path, entry);
    if (!login)
        return login.error();
    if (entry.skipped())
        return entry;
    if (auto problem = secretBytes(notes.value(), path + u".notes"_s, entry.notes)) {
        entry.skipReason = *problem;
        return entry;
    }
    assignName(entry, folderPath);
    return entry;
}

// Returns "line L, column C" of byte `offset` in `bytes`.
QString lineAndColumn(const QByteArray &bytes, qsizetype offset)
{
    qsizetype line = 1;
    qsizetype lineStart = 0;
    for (qsizetype i = 0; i < offset && i < bytes.size(); ++i) {
        if (bytes.at(i) == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    return u"line %1, column %2"_s.arg(line).arg(offset - lineStart + 1);
}

} // namespace

std::optional<ImportFormat> importFormatFromName(QStringView name)
{
    if (name == u"keepassxc-csv")
        return ImportFormat::KeePassXcCsv;
    if (name == u"bitwarden-json")
        return ImportFormat::BitwardenJson;
    return std::nullopt;
}

void ImportEntry::wipeSecrets()
{
    wipe(username);
    wipe(password);
    wipe(url);
    wipe(notes);
    wipe(totp);
}

ImportedExport::~ImportedExport()
{
    for (ImportEntry &entry : entries)
        entry.wipeSecrets();
}

ImportedExport::ImportedExport(ImportedExport &&other) noexcept
    : entries(std::move(other.entries))
{
    other.entries.clear();
}

ImportedExport &ImportedExport::operator=(ImportedExport &&other) noexcept
{
    if (this != &other) {
        for (ImportEntry &entry : entries)
            entry.wipeSecrets();
        entries = std::move(other.entries);
        other.entries.clear();
    }
    return *this;
}

Result<QString> credentialNameFromPath(const QStringList &folders, const QString &title)
{
    const QString cleanTitle = cleanNamePart(title);
    if (cleanTitle.isEmpty())
        return makeError(Reason::Malformed, u"the entry has no title to name the credential"_s);

    QStringList parts;
    for (const QString &folder : folders) {
        const QString part = cleanNamePart(folder);
        if (!part.isEmpty())
            parts.append(part);
    }
    parts.append(cleanTitle);
    const QString name = parts.join(u'/');
    if (!name.isValidUtf16())
        return makeError(Reason::Malformed,
                         u"the name contains an unpaired UTF-16 surrogate, which cannot be "
                         "encoded as UTF-8"_s);
    const qsizetype bytes = name.toUtf8().size();
    if (bytes > kMaxNameBytes)
        return makeError(Reason::Malformed,
                         u"the name \"%1...\" is %2 bytes of UTF-8 and the limit is %3; shorten "
                         "the title or the folder names"_s.arg(name.left(40))
                             .arg(bytes)
                             .arg(kMaxNameBytes));
    return name;
}

Result<ImportedExport> parseKeePassXcCsv(const QByteArray &bytes)
{
    Result<QList<CsvRecord>> parsed = parseCsvRecords(bytes);
    if (!parsed)
        return parsed.error();
    QList<CsvRecord> records = std::move(parsed).value();
    CsvRecordsWiper wiper(records);
    if (records.isEmpty())
        return makeError(Reason::Malformed,
                         u"the file is empty; a KeePassXC CSV export starts with a header line"_s);

    Result<KeePassXcColumns> found = findKeePassXcColumns(records.constFirst());
    if (!found)
        return found.error();
    const KeePassXcColumns columns = found.value();
    const qsizetype fieldCount = records.constFirst().fields.size();

    ImportedExport result;
    for (qsizetype r = 1; r < records.size(); ++r) {
        CsvRecord &record = records[r];
        if (record.fields.size() != fieldCount)
            return malformedAt(
                record.line,
                u"the row has %1 fields but the header has %2"_s.arg(record.fields.size())
                    .arg(fieldCount));
        for (qsizetype i = 0; i < record.fields.size(); ++i) {
            if (!isValidUtf8(record.fields.at(i)))
                return malformedAt(record.line,
                                   u"field %1 is not valid UTF-8; export the database again "
                                   "(KeePassXC writes UTF-8)"_s.arg(i + 1));
        }

        ImportEntry entry;
        entry.location = u"line %1"_s.arg(record.line);
        entry.title = QString::fromUtf8(record.fields.at(columns.title));
        entry.username = std::move(record.fields[columns.username]);
        entry.password = std::move(record.fields[columns.password]);
        entry.url = std::move(record.fields[columns.url]);
        entry.notes = std::move(record.fields[columns.notes]);
        if (columns.totp >= 0)
            entry.totp = std::move(record.fields[columns.totp]);

        readKeePassXcPath(entry, QString::fromUtf8(record.fields.at(columns.group)));
        if (!entry.skipped() && entry.password.isEmpty())
            entry.skipReason = u"the entry has no password"_s;
        if (entry.skipped())
            entry.wipeSecrets();
        result.entries.append(std::move(entry));
    }
    skipDuplicateNames(result.entries);
    return result;
}

Result<ImportedExport> parseBitwardenJson(const QByteArray &bytes)
{
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(bytes, &error);
    if (error.error != QJsonParseError::NoError)
        return makeError(Reason::Malformed,
                         u"invalid JSON at %1: %2"_s.arg(lineAndColumn(bytes, error.offset),
                                                         error.errorString()));
    if (!document.isObject())
        return makeError(Reason::Malformed,
                         u"the file is JSON but not an object; a Bitwarden export is an object "
                         "with \"encrypted\" and \"items\""_s);
    const QJsonObject root = document.object();

    if (root.value(u"encrypted"_s).toBool(false))
        return makeError(Reason::Malformed,
                         u"the Bitwarden export is encrypted; export the vault again with the "
                         "file format \"JSON\" (not \"JSON (Encrypted)\") and import that "
                         "file"_s);
    if (!root.value(u"items"_s).isArray())
        return malformedField(u"items"_s, u"is missing or not an array"_s);

    Result<QHash<QString, QString>> folders = readBitwardenFolders(root);
    if (!folders)
        return folders.error();

    ImportedExport result;
    const QJsonArray items = root.value(u"items"_s).toArray();
    for (qsizetype i = 0; i < items.size(); ++i) {
        Result<ImportEntry> entry = readBitwardenItem(items.at(i), i, folders.value());
        if (!entry)
            return entry.error();
        if (entry->skipped())
            entry->wipeSecrets();
        result.entries.append(std::move(entry).value());
    }
    skipDuplicateNames(result.entries);
    return result;
}

Result<ImportedExport> parseExport(ImportFormat format, const QByteArray &bytes)
{
    switch (format) {
    case ImportFormat::KeePassXcCsv:
        return parseKeePassXcCsv(bytes);
    case ImportFormat::BitwardenJson:
        return parseBitwardenJson(bytes);
    }
    return makeError(Reason::Malformed, u"unknown import format"_s);
}

QJsonObject importSecretFields(const ImportEntry &entry)
{
    QJsonObject fields { { u"username"_s, QString::fromUtf8(entry.username) },
                         { u"password"_s, QString::fromUtf8(entry.password) },
                         { u"url"_s, QString::fromUtf8(entry.url) } };
    if (!entry.notes.isEmpty())
        fields.insert(u"notes"_s, QString::fromUtf8(entry.notes));
    if (!entry.totp.isEmpty())
        fields.insert(u"totp"_s, QString::fromUtf8(entry.totp));
    return fields;
}

} // namespace sealrelay::client
