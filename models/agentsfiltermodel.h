// Filters the console's agents table by a search text, keeping the source's
// order (pending approval first, then by name).
#pragma once

#include <QSortFilterProxyModel>

namespace sealrelay::models {

class AgentsFilterModel : public QSortFilterProxyModel {
    Q_OBJECT
    // Case-insensitive substring of the agent name or agent id, or hex digits
    // of the fingerprint, where spaces and colons in the search are ignored
    // so a grouped fingerprint matches. Empty lets every row pass.
    Q_PROPERTY(QString search READ search WRITE setSearch NOTIFY searchChanged)

public:
    // Set an AgentsModel as the source model.
    explicit AgentsFilterModel(QObject *parent = nullptr);

    QString search() const { return m_search; }
    void setSearch(const QString &search);

Q_SIGNALS:
    void searchChanged();

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QString m_search; // trimmed
    QString m_hexSearch; // m_search without spaces and colons
};

} // namespace sealrelay::models
