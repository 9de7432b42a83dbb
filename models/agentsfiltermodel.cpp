// Search filter over AgentsModel.
#include "agentsfiltermodel.h"

#include "agentsmodel.h"

namespace sealrelay::models {

AgentsFilterModel::AgentsFilterModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
}

void AgentsFilterModel::setSearch(const QString &search)
{
    const QString trimmed = search.trimmed();
    if (trimmed == m_search)
        return;
    m_search = trimmed;
    m_hexSearch = trimmed;
    m_hexSearch.remove(QLatin1Char(' '));
    m_hexSearch.remove(QLatin1Char(':'));
    invalidateRowsFilter();
    Q_EMIT searchChanged();
}

bool AgentsFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (m_search.isEmpty())
        return true;
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    if (index.data(AgentsModel::NameRole).toString().contains(m_search, Qt::CaseInsensitive))
        return true;
    if (index.data(AgentsModel::AgentIdRole).toString().contains(m_search, Qt::CaseInsensitive))
        return true;
    return !m_hexSearch.isEmpty()
        && index.data(AgentsModel::FingerprintRole)
               .toString()
               .contains(m_hexSearch, Qt::CaseInsensitive);
}

} // namespace sealrelay::models
