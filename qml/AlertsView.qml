// The alerts view: severity, type in words, subject, first and last seen,
// count; critical unacknowledged alerts stay pinned at the top. Alerts are
// acknowledged one at a time or several at once (checkboxes, Space, Ctrl+A).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Item {
    id: view

    property string searchText: ""
    property bool active: false
    readonly property var filter: Session.alertFilter
    // Alert ids ticked for acknowledgement.
    property var checkedIds: []
    readonly property var columnWidths: ({
        check: 28, severity: 100, subject: 210, firstSeen: 80, lastSeen: 80, count: 50, actions: 120
    })

    function applySearch() {
        if (filter && filter.search !== undefined)
            filter.search = active ? searchText : ""
    }

    function setChecked(alertId, on) {
        const next = checkedIds.filter(id => id !== alertId)
        if (on)
            next.push(alertId)
        checkedIds = next
    }

    function checkAllShown() {
        const next = []
        for (let i = 0; i < list.count; ++i) {
            const item = list.itemAtIndex(i)
            if (item && !item.acknowledged)
                next.push(item.alertId)
        }
        checkedIds = next
    }

    function acknowledgeChecked() {
        if (checkedIds.length === 0)
            return
        Session.acknowledgeAlerts(checkedIds)
        checkedIds = []
    }

    onSearchTextChanged: applySearch()
    onActiveChanged: {
        applySearch()
        if (active)
            list.forceActiveFocus()
    }
    Component.onCompleted: applySearch()

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 10

        RowLayout {
            Layout.fillWidth: true
            spacing: 12

            Label {
                text: qsTr("Alerts")
                font.pixelSize: 20
                font.bold: true
                color: Theme.text
            }
            Label {
                text: qsTr("%n unacknowledged", "", Session.unacknowledgedAlerts)
                color: Session.unacknowledgedAlerts > 0 ? Theme.severityColor(Session.highestAlertSeverity)
                                                        : Theme.textMuted
                font.bold: Session.unacknowledgedAlerts > 0
            }
            Item { Layout.fillWidth: true }
            Label {
                text: qsTr("Severity")
                color: Theme.textMuted
            }
            ComboBox {
                id: severityBox
                textRole: "text"
                valueRole: "value"
                model: [
                    { text: qsTr("Any"), value: "" },
                    { text: qsTr("Critical"), value: "critical" },
                    { text: qsTr("High"), value: "high" },
                    { text: qsTr("Medium"), value: "medium" }
                ]
                onActivated: {
                    if (view.filter)
                        view.filter.severity = currentValue
                }
                Accessible.name: qsTr("Severity filter")
            }
            CheckBox {
                id: unacknowledgedOnly
                text: qsTr("Unacknowledged only")
                // AlertsFilterModel::Acknowledged: 0 any, 1 unacknowledged, 2 acknowledged.
                checked: view.filter ? view.filter.acknowledged === 1 : false
                onToggled: {
                    if (view.filter)
                        view.filter.acknowledged = checked ? 1 : 0
                }
            }
            Button {
                text: view.checkedIds.length > 0
                      ? qsTr("Acknowledge %n selected", "", view.checkedIds.length)
                      : qsTr("Acknowledge selected")
                enabled: view.checkedIds.length > 0 && !Session.busy
                highlighted: view.checkedIds.length > 0
                onClicked: view.acknowledgeChecked()
            }
        }

        Rectangle {
            Layout.fillWidth: true
            Layout.fillHeight: true
            color: Theme.surface
            border.color: Theme.border
            radius: Theme.radius

            ColumnLayout {
                anchors.fill: parent
                anchors.margins: 1
                spacing: 0

                RowLayout {
                    Layout.fillWidth: true
                    Layout.preferredHeight: 30
                    Layout.leftMargin: 12
                    Layout.rightMargin: 12
                    spacing: 10

                    Item { Layout.preferredWidth: view.columnWidths.check }
                    HeaderCell { text: qsTr("Severity"); Layout.preferredWidth: view.columnWidths.severity }
                    HeaderCell { text: qsTr("Alert"); Layout.fillWidth: true }
                    HeaderCell { text: qsTr("Subject"); Layout.preferredWidth: view.columnWidths.subject }
                    HeaderCell { text: qsTr("First seen"); Layout.preferredWidth: view.columnWidths.firstSeen }
                    HeaderCell { text: qsTr("Last seen"); Layout.preferredWidth: view.columnWidths.lastSeen }
                    HeaderCell { text: qsTr("Count"); Layout.preferredWidth: view.columnWidths.count }
                    HeaderCell { text: ""; Layout.preferredWidth: view.columnWidths.actions }
                }
                Rectangle {
                    Layout.fillWidth: true
                    Layout.preferredHeight: 1
                    color: Theme.border
                }

                ListView {
                    id: list
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    clip: true
                    model: Session.alerts
                    activeFocusOnTab: true
                    keyNavigationEnabled: true
                    highlightMoveDuration: 0
                    boundsBehavior: Flickable.StopAtBounds
                    ScrollBar.vertical: ScrollBar {}
                    Accessible.name: qsTr("Alerts")
                    Accessible.role: Accessible.Table

                    delegate: AlertRow {
                        width: ListView.view.width
                        columnWidths: view.columnWidths
                        isCurrent: ListView.isCurrentItem && list.activeFocus
                        checked: view.checkedIds.indexOf(alertId) >= 0
                        onCheckToggled: on => view.setChecked(alertId, on)
                        onAcknowledgeRequested: Session.acknowledgeAlerts([alertId])
                        onClicked: list.currentIndex = index
                    }

                    // Space ticks the current alert, Enter acknowledges the
                    // ticked ones (or the current one when none is ticked),
                    // Ctrl+A ticks every shown unacknowledged alert.
                    Keys.onSpacePressed: {
                        if (currentItem && !currentItem.acknowledged)
                            view.setChecked(currentItem.alertId, !currentItem.checked)
                    }
                    Keys.onReturnPressed: acknowledgeFromKeyboard()
                    Keys.onEnterPressed: acknowledgeFromKeyboard()
                    Keys.onPressed: event => {
                        if (event.matches(StandardKey.SelectAll)) {
                            view.checkAllShown()
                            event.accepted = true
                        }
                    }

                    function acknowledgeFromKeyboard() {
                        if (view.checkedIds.length > 0)
                            view.acknowledgeChecked()
                        else if (currentItem && !currentItem.acknowledged)
                            Session.acknowledgeAlerts([currentItem.alertId])
                    }
                }
            }

            EmptyState {
                anchors.centerIn: parent
                visible: list.count === 0
                text: view.searchText.length > 0 || unacknowledgedOnly.checked || severityBox.currentIndex > 0
                      ? qsTr("No alert matches the search or filters.")
                      : qsTr("No alerts: nothing has gone wrong that the backend noticed.")
            }
        }
    }
}
