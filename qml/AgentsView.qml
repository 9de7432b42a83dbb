// The agents view: agents pending approval at the top with Approve, then
// status, fingerprint, certificate, credentials held, and Revoke. The empty
// state offers an enrolment token.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Item {
    id: view

    property string searchText: ""
    property bool active: false
    readonly property var filter: Session.agentFilter
    // Column widths shared by the header and AgentRow.
    readonly property var columnWidths: ({
        status: 210, fingerprint: 170, certificate: 190, held: 90, actions: 170
    })

    function applySearch() {
        if (filter)
            filter.search = active ? searchText : ""
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
                text: qsTr("Agents")
                font.pixelSize: 20
                font.bold: true
                color: Theme.text
            }
            Label {
                text: qsTr("%n shown", "", list.count)
                color: Theme.textMuted
            }
            Label {
                visible: Session.pendingApprovalCount > 0
                text: qsTr("● %n pending approval", "", Session.pendingApprovalCount)
                color: Theme.info
                font.bold: true
            }
            Item { Layout.fillWidth: true }
            Button {
                text: qsTr("Create enrolment token…")
                onClicked: enrolmentDialog.open()
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

                    HeaderCell { text: qsTr("Name"); Layout.fillWidth: true }
                    HeaderCell { text: qsTr("Status"); Layout.preferredWidth: view.columnWidths.status }
                    HeaderCell { text: qsTr("Fingerprint"); Layout.preferredWidth: view.columnWidths.fingerprint }
                    HeaderCell { text: qsTr("Certificate"); Layout.preferredWidth: view.columnWidths.certificate }
                    HeaderCell { text: qsTr("Held"); Layout.preferredWidth: view.columnWidths.held }
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
                    model: Session.agents
                    activeFocusOnTab: true
                    keyNavigationEnabled: true
                    highlightMoveDuration: 0
                    boundsBehavior: Flickable.StopAtBounds
                    ScrollBar.vertical: ScrollBar {}
                    Accessible.name: qsTr("Agents")
                    Accessible.role: Accessible.Table

                    delegate: AgentRow {
                        width: ListView.view.width
                        columnWidths: view.columnWidths
                        isCurrent: ListView.isCurrentItem && list.activeFocus
                        onApproveRequested: approveDialog.openFor(agentId, name)
                        onRevokeRequested: revokeDialog.openFor(agentId, name, heldCount)
                        onClicked: list.currentIndex = index
                    }

                    // Enter approves a pending agent; Delete revokes an approved one.
                    Keys.onReturnPressed: activateCurrent()
                    Keys.onEnterPressed: activateCurrent()
                    Keys.onDeletePressed: {
                        if (currentItem && currentItem.status !== 0 && currentItem.status !== 1)
                            currentItem.revokeRequested()
                    }

                    function activateCurrent() {
                        if (currentItem && currentItem.status === 0)
                            currentItem.approveRequested()
                    }
                }
            }

            EmptyState {
                anchors.centerIn: parent
                visible: list.count === 0
                text: view.searchText.length > 0 ? qsTr("No agent matches the search.")
                                                 : qsTr("No agents yet: create an enrolment token")
                actionText: view.searchText.length > 0 ? "" : qsTr("Create enrolment token…")
                onActionTriggered: enrolmentDialog.open()
            }
        }
    }

    ApproveDialog {
        id: approveDialog
    }

    ConfirmDialog {
        id: revokeDialog

        property string agentId: ""
        property string agentName: ""
        property int heldCount: 0

        function openFor(id, name, held) {
            agentId = id
            agentName = name
            heldCount = held
            open()
        }

        title: qsTr("Revoke %1").arg(agentName)
        confirmText: qsTr("Revoke")
        destructive: true
        message: qsTr("%1 is disconnected and receives no credential again. It stores %n credentials now: rotate them if the host may be compromised. This cannot be undone.",
                      "", heldCount).arg(agentName)
        onAccepted: Session.revokeAgent(agentId)
    }

    EnrolmentDialog {
        id: enrolmentDialog
    }
}
