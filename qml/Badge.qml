// A badge of one credential: "Integrity failure" (red) or "Unprotected"
// (amber), each with its symbol.
import QtQuick

Rectangle {
    id: badge

    // The badge's words as CredentialsModel's badges role gives them.
    property string text: ""
    property bool severe: true

    readonly property color tone: severe ? Theme.critical : Theme.warning

    implicitHeight: label.implicitHeight + 6
    implicitWidth: label.implicitWidth + 12
    radius: Theme.radius
    color: severe ? Theme.critical : Qt.rgba(tone.r, tone.g, tone.b, Theme.dark ? 0.25 : 0.14)
    border.color: tone

    Text {
        id: label
        anchors.centerIn: parent
        text: (badge.severe ? "✖ " : "⚠ ") + badge.text
        color: badge.severe ? "#ffffff" : badge.tone
        font.bold: true
        font.pixelSize: Theme.smallFont + 1
    }
}
