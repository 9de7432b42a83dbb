// One in-scope agent of the selected credential: status, stored version,
// receipt and whether it verified, attempts, next retry and the last error
// in plain words.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: agentRow

    required property string agentId
    required property string agentName
    // AgentSyncStatus: 0 synced, 1 claimed without a verified receipt,
    // 2 pending, 3 refused, 4 integrity failure, 5 stalled.
    required property int status
    required property string statusText
    required property int storedVersion
    required property var storedRevision
    required property bool receiptVerified
    required property string receiptText
    required property int attempts
    required property var nextRetryAt
    required property string lastError
    required property bool integrityFailure

    readonly property color tone: {
        if (integrityFailure || status === 4)
            return Theme.critical
        switch (status) {
        case 0: return Theme.ok
        case 1: return Theme.neutral
        case 2: return Theme.info
        default: return Theme.warning
        }
    }
    property bool ready: false

    implicitHeight: content.implicitHeight + 14
    color: Theme.surfaceAlt
    radius: Theme.radius
    border.color: integrityFailure ? Theme.critical : "transparent"

    onStatusTextChanged: {
        if (ready)
            flashAnimation.restart()
    }
    Component.onCompleted: ready = true

    Rectangle {
        id: flashOverlay
        anchors.fill: parent
        radius: parent.radius
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
        width: 4
        height: parent.height
        radius: 2
        color: agentRow.tone
    }

    ColumnLayout {
        id: content
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.verticalCenter: parent.verticalCenter
        anchors.leftMargin: 14
        anchors.rightMargin: 10
        spacing: 2

        RowLayout {
            Layout.fillWidth: true
            Label {
                Layout.fillWidth: true
                text: agentRow.agentName
                font.bold: true
                color: Theme.text
                elide: Text.ElideRight
            }
            Label {
                text: agentRow.statusText
                color: agentRow.tone
                font.bold: true
            }
        }
        Label {
            Layout.fillWidth: true
            text: [agentRow.storedVersion >= 0
                       ? qsTr("stored v%1 r%2").arg(agentRow.storedVersion).arg(agentRow.storedRevision)
                       : qsTr("nothing stored"),
                   qsTr("receipt %1").arg(agentRow.receiptText),
                   qsTr("%n attempts", "", agentRow.attempts)].join(" · ")
            color: Theme.textMuted
            font.pixelSize: Theme.smallFont + 1
            wrapMode: Text.Wrap
        }
        Label {
            Layout.fillWidth: true
            visible: Theme.isValidTime(agentRow.nextRetryAt)
            text: qsTr("next retry %1").arg(Theme.formatTime(agentRow.nextRetryAt))
            color: Theme.textMuted
            font.pixelSize: Theme.smallFont + 1
        }
        Label {
            Layout.fillWidth: true
            visible: agentRow.lastError.length > 0
            text: agentRow.lastError
            color: agentRow.integrityFailure ? Theme.critical : Theme.text
            font.pixelSize: Theme.smallFont + 1
            wrapMode: Text.Wrap
        }
    }
}
