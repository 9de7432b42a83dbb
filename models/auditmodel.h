// The console's audit trail: pages of GET /api/audit appended oldest first,
// live `audit_appended` rows while the newest unfiltered page is shown, and
// the result of GET /api/audit/verify.
#pragma once

#include "eventbatch.h"

#include "error.h"

#include <QAbstractListModel>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QTimer>

#include <chrono>
#include <optional>

namespace sealrelay::models {

// The backend's report on the audit hash chain, from GET /api/audit/verify.
// The backend computes it, so a backend that controls the database can lie.
class AuditVerification {
    Q_GADGET
    Q_PROPERTY(bool checked MEMBER checked)
    Q_PROPERTY(bool intact MEMBER intact)
    Q_PROPERTY(qint64 rowsVerified MEMBER rowsVerified)
    Q_PROPERTY(qint64 headRowId MEMBER headRowId)
    Q_PROPERTY(QDateTime verifiedAt MEMBER verifiedAt)
    Q_PROPERTY(qint64 firstBreakRowId MEMBER firstBreakRowId)
    Q_PROPERTY(QString firstBreakKind MEMBER firstBreakKind)
    Q_PROPERTY(QString firstBreakMessage MEMBER firstBreakMessage)

public:
    bool checked = false; // false until a verification result was set
    bool intact = false;
    qint64 rowsVerified = 0;
    qint64 headRowId = 0; // 0 when the reply has no head
    QDateTime verifiedAt;
    qint64 firstBreakRowId = 0; // 0 when the chain is intact
    QString firstBreakKind; // malformed, prev_hash_mismatch, row_hash_mismatch, ...
    QString firstBreakMessage;

    // Reads a reply of GET /api/audit/verify. A missing or mistyped
    // `intact`, `rows_verified` or `first_break` is Reason::Malformed.
    static Result<AuditVerification> fromJson(const QJsonObject &reply);

    bool operator==(const AuditVerification &other) const = default;
};

class AuditModel : public QAbstractListModel {
    Q_OBJECT
    Q_PROPERTY(bool hasMore READ hasMore NOTIFY pagingChanged)
    Q_PROPERTY(qint64 nextAfterId READ nextAfterId NOTIFY pagingChanged)
    Q_PROPERTY(bool filtered READ isFiltered NOTIFY pagingChanged)
    Q_PROPERTY(sealrelay::models::AuditVerification verification READ verification NOTIFY
                   verificationChanged)

public:
    enum Role {
        IdRole = Qt::UserRole + 1,
        AtRole, // QDateTime
        EventRole,
        ActorRole,
        CredentialIdRole, // empty when null
        AgentIdRole, // empty when null
        OutcomeRole,
        ReasonRole, // empty when null
        DetailsRole, // QVariant of the `details` JSON
    };
    Q_ENUM(Role)

    // Maximum delay between enqueue() and the batch that applies it.
    static constexpr std::chrono::milliseconds kMaxBatchInterval = EventBatch::kMaxInterval;

    explicit AuditModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Removes every row and queued event before a new query. `filtered` is
    // true when the query has any filter (credential, agent, event, from, to).
    void clear(bool filtered);

    // Appends one page of GET /api/audit (`records`, oldest first) and stores
    // its `next_after_id`, std::nullopt when the page was the last. Records
    // whose id is not above the last row's are skipped, so a page that
    // overlaps live rows adds each row once. A record without a positive
    // integer `id` is Reason::Malformed and leaves the model unchanged.
    Result<void> appendPage(const QJsonArray &records, std::optional<qint64> nextAfterId);

    // Queues one event frame; only `audit_appended` is used. Live rows are
    // appended only while the model is unfiltered and has no further page
    // (hasMore() is false), because otherwise a live row would land after
    // rows it does not follow or outside the filter. Rows skipped this way
    // arrive with the next page, or with the next query of a filtered view.
    void enqueue(const QJsonObject &event);
    // Applies the queued events now, with at most one row insert.
    void flush();

    // Clamped to 0-50 ms; the default is 20 ms.
    void setBatchInterval(std::chrono::milliseconds interval);

    bool hasMore() const { return m_nextAfterId.has_value(); }
    // The `after_id` of the next page, 0 when there is none.
    qint64 nextAfterId() const { return m_nextAfterId.value_or(0); }
    bool isFiltered() const { return m_filtered; }
    // The id of the last row, 0 when empty.
    qint64 lastId() const;

    AuditVerification verification() const { return m_verification; }
    // Sets the verification from a reply of GET /api/audit/verify. A
    // malformed reply is Reason::Malformed and leaves the current one in place.
    Result<void> setVerification(const QJsonObject &reply);

Q_SIGNALS:
    void pagingChanged();
    void verificationChanged();
    void batchApplied(int eventCount);

private:
    void appendRows(const QList<QJsonObject> &records);

    QList<QJsonObject> m_rows; // as from GET /api/audit, ascending id
    std::optional<qint64> m_nextAfterId;
    bool m_filtered = false;
    AuditVerification m_verification;
    EventBatch m_batch { this, [this] { flush(); } };
};

} // namespace sealrelay::models
