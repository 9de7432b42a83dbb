// One row of the agents table. Pending agents show Approve; approved ones
// show Revoke. A status change flashes the row briefly.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: row

    required property int index
    required property string agentId
    required property string name
    // AgentStatus: 0 pending approval, 1 revoked, 2 online, 3 backfilling, 4 offline.
    required property int status
    required property string statusText
    required property string fingerprint
    required property bool certificateValid
    required property string certificateError
    required property var generation
    required property var expiresAt
    required property bool quarantined
    required property var backfillDone
    required property var backfillTotal
    required property int heldCount
    required property int inScopeCount

    property var columnWidths: ({})
    property bool isCurrent: false
    property bool ready: false

    readonly property color tone: {
        switch (status) {
        case 0: return Theme.info
        case 1: return Theme.neutral
        case 2: return Theme.ok
        case 3: return Theme.info
        default: return Theme.warning
        }
    }
    readonly property string symbol: ["◔", "⊘", "●", "⟳", "○"][status] || ""

    signal approveRequested()
    signal revokeRequested()
    signal clicked()

    // Groups the first 16 hex digits in fours: "ab12 cd34 ef56 7890".
    function shortFingerprint(value) {
        const head = value.substring(0, 16)
        return head.match(/.{1,4}/g) ? head.match(/.{1,4}/g).join(" ") : head
    }

    implicitHeight: status === 3 ? 52 : 44
    color: status === 0 ? Qt.rgba(Theme.info.r, Theme.info.g, Theme.info.b, Theme.dark ? 0.14 : 0.07)
                        : hover.hovered ? Theme.surfaceAlt : "transparent"
    border.color: isCurrent ? Theme.highlight : "transparent"
    Accessible.role: Accessible.Row
    Accessible.name: name + ", " + statusText

    onStatusTextChanged: {
        if (ready)
            flashAnimation.restart()
    }
    Component.onCompleted: ready = true

    Rectangle {
        id: flashOverlay
        anchors.fill: parent
        color: Theme.flash
        opacity: 0
        SequentialAnimation {
            id: flashAnimation
            NumberAnimation { target: flashOverlay; property: "opacity"; to: 0.9; duration: 120 }
            PauseAnimation { duration: 500 }
            NumberAnimation { target: flashOverlay; property: "opacity"; to: 0; duration: 900 }
        }
    }
    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
        opacity: 0.6
    }

    HoverHandler { id: hover }
    TapHandler { onTapped: row.clicked() }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 12
        spacing: 10

        Cell {
            Layout.fillWidth: true
            text: row.name
            font.bold: true
        }
        // Nested layouts fill by default; these columns keep their width.
        ColumnLayout {
            Layout.fillWidth: false
            Layout.preferredWidth: row.columnWidths.status
            spacing: 2
            Cell {
                Layout.fillWidth: true
                text: row.symbol + " " + row.statusText
                      + (row.quarantined ? "  " + qsTr("⚠ quarantined") : "")
                color: row.quarantined ? Theme.warning : row.tone
                font.bold: row.status === 0
            }
            ProgressBar {
                visible: row.status === 3
                Layout.fillWidth: true
                from: 0
                to: Math.max(1, row.backfillTotal)
                value: row.backfillDone
            }
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.fingerprint
            text: row.shortFingerprint(row.fingerprint)
            font.family: "monospace"
            color: Theme.textMuted
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.certificate
            text: row.certificateValid
                  ? qsTr("gen %1 · until %2").arg(row.generation).arg(Qt.formatDate(row.expiresAt, "yyyy-MM-dd"))
                  : row.status === 0 ? qsTr("none yet") : qsTr("⚠ does not verify")
            color: row.certificateValid || row.status === 0 ? Theme.text : Theme.warning
            ToolTip.visible: certHover.hovered && !row.certificateValid && row.certificateError.length > 0
            ToolTip.text: row.certificateError
            HoverHandler { id: certHover }
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.held
            text: row.status === 0 ? "—" : qsTr("%1 of %2").arg(row.heldCount).arg(row.inScopeCount)
            color: row.heldCount < row.inScopeCount ? Theme.warning : Theme.text
        }
        RowLayout {
            Layout.fillWidth: false
            Layout.preferredWidth: row.columnWidths.actions
            Item { Layout.fillWidth: true }
            Button {
                visible: row.status === 0
                text: qsTr("Approve…")
                highlighted: true
                enabled: Session.operatorKeyReady
                onClicked: row.approveRequested()
            }
            Button {
                visible: row.status !== 0 && row.status !== 1
                text: qsTr("Revoke…")
                flat: true
                palette.buttonText: Theme.critical
                onClicked: row.revokeRequested()
            }
        }
    }
}
