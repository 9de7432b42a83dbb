// Search and problems-only filter over CredentialsModel.
#include "credentialsfiltermodel.h"

#include "credentialsmodel.h"

namespace sealrelay::models {

CredentialsFilterModel::CredentialsFilterModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
}

void CredentialsFilterModel::setSearch(const QString &search)
{
    const QString trimmed = search.trimmed();
    if (trimmed == m_search)
        return;
    m_search = trimmed;
    invalidateRowsFilter();
    Q_EMIT searchChanged();
}

void CredentialsFilterModel::setProblemsOnly(bool problemsOnly)
{
    if (problemsOnly == m_problemsOnly)
        return;
    m_problemsOnly = problemsOnly;
    invalidateRowsFilter();
    Q_EMIT problemsOnlyChanged();
}

bool CredentialsFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    if (m_problemsOnly) {
        const bool synced = !index.data(CredentialsModel::VerifyingRole).toBool()
            && index.data(CredentialsModel::ChipRole).toInt() == static_cast<int>(SyncChip::Synced);
        const bool badged = !index.data(CredentialsModel::BadgesRole).toStringList().isEmpty();
        if (synced && !badged)
            return false;
    }
    if (m_search.isEmpty())
        return true;
    for (const int role :
         { CredentialsModel::NameRole, CredentialsModel::KindRole, CredentialsModel::CredentialIdRole }) {
        if (index.data(role).toString().contains(m_search, Qt::CaseInsensitive))
            return true;
    }
    return false;
}

} // namespace sealrelay::models
