// A small count beside a navigation entry; hidden when the count is 0.
import QtQuick

Rectangle {
    id: countBadge

    property int count: 0
    property color tone: Theme.warning

    visible: count > 0
    implicitHeight: label.implicitHeight + 4
    implicitWidth: Math.max(implicitHeight, label.implicitWidth + 10)
    radius: implicitHeight / 2
    color: tone

    Text {
        id: label
        anchors.centerIn: parent
        text: countBadge.count
        color: "#ffffff"
        font.bold: true
        font.pixelSize: Theme.smallFont
    }
}
