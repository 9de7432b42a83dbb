// The credentials view: the table with problems first, the "Problems only"
// filter, New credential, and the detail pane of the selected row.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Item {
    id: view

    property string searchText: ""
    property bool active: false
    readonly property bool detailOpen: Session.selectedCredentialId.length > 0
    readonly property var filter: Session.credentialFilter
    // Column widths shared by the header and CredentialRow. With the detail
    // pane open, kind, version, scope and last change move under the name.
    readonly property var columnWidths: ({
        kind: 110, version: 60, scope: 110, chip: 180,
        badges: detailOpen ? 150 : 200, lastChange: 100
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
                text: qsTr("Credentials")
                font.pixelSize: 20
                font.bold: true
                color: Theme.text
            }
            Label {
                text: qsTr("%n shown", "", list.count)
                color: Theme.textMuted
            }
            Item { Layout.fillWidth: true }
            CheckBox {
                id: problemsOnly
                text: qsTr("Problems only")
                checked: view.filter ? view.filter.problemsOnly : false
                onToggled: {
                    if (view.filter)
                        view.filter.problemsOnly = checked
                }
            }
            Button {
                text: qsTr("New credential…")
                highlighted: true
                enabled: Session.operatorKeyReady
                onClicked: newDialog.open()
                ToolTip.visible: hovered && !Session.operatorKeyReady
                ToolTip.text: Session.operatorKeyError
            }
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 12

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

                        HeaderCell { text: qsTr("Name"); Layout.fillWidth: true; Layout.minimumWidth: 160 }
                        HeaderCell { text: qsTr("Kind"); visible: !view.detailOpen; Layout.preferredWidth: view.columnWidths.kind }
                        HeaderCell { text: qsTr("Version"); visible: !view.detailOpen; Layout.preferredWidth: view.columnWidths.version }
                        HeaderCell { text: qsTr("Scope"); visible: !view.detailOpen; Layout.preferredWidth: view.columnWidths.scope }
                        HeaderCell { text: qsTr("Sync"); Layout.preferredWidth: view.columnWidths.chip }
                        HeaderCell { text: qsTr("Integrity"); Layout.preferredWidth: view.columnWidths.badges }
                        HeaderCell { text: qsTr("Last change"); visible: !view.detailOpen; Layout.preferredWidth: view.columnWidths.lastChange }
                    }
                    Rectangle {
                        Layout.fillWidth: true
                        Layout.preferredHeight: 1
                        color: Theme.border
                    }

                    ListView {
                        id: list
                        objectName: "credentialList"
                        Layout.fillWidth: true
                        Layout.fillHeight: true
                        clip: true
                        model: Session.credentials
                        // Rows pushed out of view by rows inserted above
                        // them wait in a pool and show the new rows. In
                        // bench_console_rows a frame after 25 rows inserted
                        // at the top cost about 6 ms of CPU with reuse and
                        // 15 to 18 ms without it.
                        reuseItems: true
                        activeFocusOnTab: true
                        keyNavigationEnabled: true
                        highlightMoveDuration: 0
                        boundsBehavior: Flickable.StopAtBounds
                        ScrollBar.vertical: ScrollBar {}
                        Accessible.name: qsTr("Credentials")
                        Accessible.role: Accessible.Table

                        delegate: CredentialRow {
                            width: ListView.view.width
                            compact: view.detailOpen
                            columnWidths: view.columnWidths
                            isCurrent: ListView.isCurrentItem && list.activeFocus
                            onActivated: {
                                list.currentIndex = index
                                Session.selectedCredentialId = credentialId
                            }
                        }

                        Keys.onReturnPressed: selectCurrent()
                        Keys.onEnterPressed: selectCurrent()
                        Keys.onSpacePressed: selectCurrent()
                        Keys.onEscapePressed: Session.selectedCredentialId = ""

                        function selectCurrent() {
                            if (currentItem)
                                Session.selectedCredentialId = currentItem.credentialId
                        }
                    }
                }

                EmptyState {
                    anchors.centerIn: parent
                    visible: list.count === 0
                    text: view.searchText.length > 0 || problemsOnly.checked
                          ? qsTr("No credential matches the search or filter.")
                          : qsTr("No credentials yet: create one with New credential")
                    actionText: view.searchText.length > 0 || problemsOnly.checked
                                || !Session.operatorKeyReady ? "" : qsTr("New credential…")
                    onActionTriggered: newDialog.open()
                }
            }

            CredentialDetail {
                Layout.preferredWidth: 470
                Layout.fillHeight: true
                visible: view.detailOpen
                onCloseRequested: {
                    Session.selectedCredentialId = ""
                    list.forceActiveFocus()
                }
            }
        }
    }

    NewCredentialDialog {
        id: newDialog
    }
}
