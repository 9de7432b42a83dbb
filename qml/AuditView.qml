// The audit view: the hash-chain verification result with Verify, filters
// (credential, agent, event, time) applied by the backend, the rows, and
// Load more for the next page.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Item {
    id: view

    property string searchText: ""
    property bool active: false
    readonly property var verification: Session.auditVerification
    readonly property var columnWidths: ({
        id: 70, at: 150, outcome: 110, actor: 160, subject: 260
    })
    property var credentialOptions: [{ text: qsTr("Any credential"), value: "" }]

    // Rebuilds the credential filter's choices from the credentials model.
    function refreshCredentialOptions() {
        const options = [{ text: qsTr("Any credential"), value: "" }]
        const model = Session.credentials
        if (model) {
            for (let i = 0; i < model.rowCount(); ++i) {
                const index = model.index(i, 0)
                // CredentialsModel: Qt.UserRole + 1 is credentialId, DisplayRole the name.
                options.push({ text: model.data(index, Qt.DisplayRole),
                               value: model.data(index, Qt.UserRole + 1) })
            }
        }
        credentialOptions = options
    }

    // Parses "yyyy-MM-dd HH:mm" (local time); returns an invalid Date for
    // empty or unreadable text.
    function parseTime(text) {
        const match = /^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?\s*$/.exec(text)
        if (!match)
            return new Date(NaN)
        return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]),
                        Number(match[4] || 0), Number(match[5] || 0))
    }

    function timeFieldValid(text) {
        return text.trim().length === 0 || !isNaN(parseTime(text).getTime())
    }

    function applyFilter() {
        Session.setAuditFilter(credentialBox.currentValue || "", agentBox.currentValue || "",
                               eventBox.currentValue || "", parseTime(fromField.text),
                               parseTime(toField.text))
    }

    function clearFilter() {
        credentialBox.currentIndex = 0
        agentBox.currentIndex = 0
        eventBox.currentIndex = 0
        fromField.clear()
        toField.clear()
        applyFilter()
    }

    onActiveChanged: {
        if (active) {
            refreshCredentialOptions()
            list.forceActiveFocus()
        }
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 10

        RowLayout {
            Layout.fillWidth: true
            spacing: 12

            Label {
                text: qsTr("Audit")
                font.pixelSize: 20
                font.bold: true
                color: Theme.text
            }
            Item { Layout.fillWidth: true }
        }

        // The chain verification result.
        Rectangle {
            readonly property color tone: !view.verification.checked ? Theme.neutral
                                        : view.verification.intact ? Theme.ok : Theme.critical
            Layout.fillWidth: true
            implicitHeight: verificationRow.implicitHeight + 16
            radius: Theme.radius
            color: Qt.rgba(tone.r, tone.g, tone.b, Theme.dark ? 0.2 : 0.09)
            border.color: tone

            RowLayout {
                id: verificationRow
                anchors.fill: parent
                anchors.leftMargin: 12
                anchors.rightMargin: 8
                spacing: 10

                Label {
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    font.bold: true
                    color: parent.parent.tone
                    text: {
                        const v = view.verification
                        if (!v.checked)
                            return qsTr("◌ The hash chain has not been verified in this session: press Verify.")
                        if (v.intact)
                            return qsTr("✓ Verified up to row %1 at %2 (%n rows checked).", "", v.rowsVerified)
                                       .arg(v.headRowId).arg(Theme.formatTime(v.verifiedAt))
                        return qsTr("✖ The hash chain breaks at row %1: %2. Rows from there on cannot be trusted; compare with a database check (sealrelayctl audit verify --database).")
                                   .arg(v.firstBreakRowId).arg(v.firstBreakMessage)
                    }
                }
                Button {
                    text: qsTr("Verify")
                    enabled: !Session.busy
                    onClicked: Session.verifyAudit()
                }
            }
        }

        // Filters, applied by the backend.
        Flow {
            Layout.fillWidth: true
            spacing: 8

            ComboBox {
                id: credentialBox
                width: 180
                model: view.credentialOptions
                textRole: "text"
                valueRole: "value"
                onPressedChanged: {
                    if (pressed)
                        view.refreshCredentialOptions()
                }
                Accessible.name: qsTr("Credential filter")
            }
            ComboBox {
                id: agentBox
                width: 160
                textRole: "text"
                valueRole: "value"
                model: [{ text: qsTr("Any agent"), value: "" }].concat(
                           Session.agentChoices.map(choice => ({ text: choice.name, value: choice.agentId })))
                Accessible.name: qsTr("Agent filter")
            }
            ComboBox {
                id: eventBox
                objectName: "auditEventFilter"
                width: 200
                textRole: "text"
                valueRole: "value"
                model: [{ text: qsTr("Any event"), value: "" }].concat(
                           Session.auditEvents.map(event => ({ text: event, value: event })))
                Accessible.name: qsTr("Event filter")
            }
            TextField {
                id: fromField
                width: 140
                placeholderText: qsTr("From yyyy-MM-dd HH:mm")
                color: view.timeFieldValid(text) ? Theme.text : Theme.critical
                onAccepted: view.applyFilter()
                Accessible.name: qsTr("From time")
            }
            TextField {
                id: toField
                width: 140
                placeholderText: qsTr("To yyyy-MM-dd HH:mm")
                color: view.timeFieldValid(text) ? Theme.text : Theme.critical
                onAccepted: view.applyFilter()
                Accessible.name: qsTr("To time")
            }
            Button {
                text: qsTr("Apply")
                enabled: view.timeFieldValid(fromField.text) && view.timeFieldValid(toField.text)
                onClicked: view.applyFilter()
            }
            Button {
                text: qsTr("Clear")
                flat: true
                onClicked: view.clearFilter()
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

                    HeaderCell { text: qsTr("Row"); Layout.preferredWidth: view.columnWidths.id }
                    HeaderCell { text: qsTr("Time"); Layout.preferredWidth: view.columnWidths.at }
                    HeaderCell { text: qsTr("Event"); Layout.fillWidth: true }
                    HeaderCell { text: qsTr("Outcome"); Layout.preferredWidth: view.columnWidths.outcome }
                    HeaderCell { text: qsTr("Actor"); Layout.preferredWidth: view.columnWidths.actor }
                    HeaderCell { text: qsTr("Subject"); Layout.preferredWidth: view.columnWidths.subject }
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
                    model: Session.audit
                    activeFocusOnTab: true
                    keyNavigationEnabled: true
                    highlightMoveDuration: 0
                    boundsBehavior: Flickable.StopAtBounds
                    ScrollBar.vertical: ScrollBar {}
                    Accessible.name: qsTr("Audit rows")
                    Accessible.role: Accessible.Table

                    delegate: AuditRow {
                        width: ListView.view.width
                        columnWidths: view.columnWidths
                        isCurrent: ListView.isCurrentItem && list.activeFocus
                        searchText: view.searchText
                    }

                    footer: Item {
                        width: ListView.view.width
                        height: Session.auditHasMore ? 52 : 0
                        Button {
                            anchors.centerIn: parent
                            visible: Session.auditHasMore
                            text: qsTr("Load more")
                            enabled: !Session.busy
                            onClicked: Session.loadMoreAudit()
                        }
                    }
                }
            }

            EmptyState {
                anchors.centerIn: parent
                visible: list.count === 0
                text: qsTr("No audit rows match the filters.")
            }
        }
    }
}
