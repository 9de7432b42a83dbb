// Filters the console's credentials table by a search text and to the rows
// that need attention, keeping the source's problems-first order.
#pragma once

#include <QSortFilterProxyModel>

namespace sealrelay::models {

class CredentialsFilterModel : public QSortFilterProxyModel {
    Q_OBJECT
    // Case-insensitive substring of the name, kind or credential id; leading
    // and trailing spaces are ignored. Empty lets every row pass.
    Q_PROPERTY(QString search READ search WRITE setSearch NOTIFY searchChanged)
    // When true, only credentials that are not fully synced (including those
    // still being verified) or that carry a badge pass.
    Q_PROPERTY(bool problemsOnly READ problemsOnly WRITE setProblemsOnly NOTIFY
                   problemsOnlyChanged)

public:
    // Set a CredentialsModel as the source model.
    explicit CredentialsFilterModel(QObject *parent = nullptr);

    QString search() const { return m_search; }
    void setSearch(const QString &search);
    bool problemsOnly() const { return m_problemsOnly; }
    void setProblemsOnly(bool problemsOnly);

Q_SIGNALS:
    void searchChanged();
    void problemsOnlyChanged();

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QString m_search; // trimmed
    bool m_problemsOnly = false;
};

} // namespace sealrelay::models
