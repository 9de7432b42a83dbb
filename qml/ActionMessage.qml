// The line at the bottom of the frame that shows the sentence of the last
// finished action. A failure stays until it is closed or replaced, and a
// success disappears after 6 s.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: actionMessage

    property bool ok: true
    property string message: ""

    readonly property color tone: ok ? Theme.ok : Theme.critical

    implicitHeight: visible ? row.implicitHeight + 12 : 0
    visible: message.length > 0
    color: Qt.rgba(tone.r, tone.g, tone.b, Theme.dark ? 0.25 : 0.12)

    Connections {
        target: Session
        function onActionFinished(action, ok, message, detail) {
            if (message.length === 0)
                return
            actionMessage.ok = ok
            actionMessage.message = message
            if (ok)
                hideTimer.restart()
            else
                hideTimer.stop()
        }
    }

    Timer {
        id: hideTimer
        interval: 6000
        onTriggered: actionMessage.message = ""
    }

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.leftMargin: 16
        anchors.rightMargin: 8
        spacing: Theme.spacing

        Label {
            text: actionMessage.ok ? qsTr("✓ Done") : qsTr("✖ Failed")
            color: actionMessage.tone
            font.bold: true
        }
        Label {
            text: actionMessage.message
            color: Theme.text
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
        ToolButton {
            text: "✕"
            onClicked: actionMessage.message = ""
            Accessible.name: qsTr("Close the message")
        }
    }
}
