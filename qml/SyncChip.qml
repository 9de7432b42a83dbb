// The sync chip of one credential: "✓ n/n synced" (green), "⚠ k/n synced"
// (amber) or "⏳ Pending (k)" (blue), and a grey "unverified" mark when the
// backend claims deliveries that no verified receipt backs.
import QtQuick

// A Flow, so the unverified mark moves under the chip in a narrow column.
Flow {
    id: chip

    // CredentialsModel's chip role: 0 synced, 1 partly synced, 2 pending.
    property int chipState: 2
    property string text: ""
    property int unverifiedCount: 0

    readonly property color tone: chipState === 0 ? Theme.ok : chipState === 1 ? Theme.warning : Theme.info

    spacing: 4

    Rectangle {
        height: label.implicitHeight + 6
        width: label.implicitWidth + 14
        radius: height / 2
        color: Qt.rgba(chip.tone.r, chip.tone.g, chip.tone.b, Theme.dark ? 0.22 : 0.12)
        border.color: chip.tone

        Text {
            id: label
            anchors.centerIn: parent
            text: chip.text
            color: chip.tone
            font.bold: true
            font.pixelSize: Theme.smallFont + 1
        }
    }

    Rectangle {
        visible: chip.unverifiedCount > 0
        height: unverifiedLabel.implicitHeight + 4
        width: unverifiedLabel.implicitWidth + 10
        radius: Theme.radius
        color: "transparent"
        border.color: Theme.neutral

        Text {
            id: unverifiedLabel
            anchors.centerIn: parent
            //: Grey mark beside the sync chip: the backend claims deliveries without a verifiable receipt.
            text: qsTr("? %n unverified", "", chip.unverifiedCount)
            color: Theme.neutral
            font.pixelSize: Theme.smallFont
        }
    }
}
