// One entry of the left navigation: its name, the Ctrl+N shortcut hint and
// a count when something needs attention.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ItemDelegate {
    id: navButton

    property string view: ""
    property bool current: false
    property int count: 0
    property color countTone: Theme.warning
    // Read by screen readers and tooltips, e.g. "2 stalled".
    property string countText: ""
    property string shortcutText: ""

    Layout.fillWidth: true
    highlighted: current
    focusPolicy: Qt.StrongFocus
    Accessible.name: countText.length > 0 ? text + ", " + countText : text

    background: Rectangle {
        color: navButton.current ? Theme.selection
                                 : navButton.hovered ? Theme.surfaceAlt : "transparent"
        border.color: navButton.visualFocus ? Theme.highlight : "transparent"
        radius: Theme.radius

        Rectangle {
            visible: navButton.current
            width: 3
            height: parent.height - 8
            anchors.left: parent.left
            anchors.verticalCenter: parent.verticalCenter
            color: Theme.highlight
        }
    }

    contentItem: RowLayout {
        spacing: Theme.spacing

        Label {
            text: navButton.text
            color: Theme.text
            font.bold: navButton.current
            Layout.fillWidth: true
        }
        CountBadge {
            count: navButton.count
            tone: navButton.countTone
        }
        Label {
            text: navButton.shortcutText
            color: Theme.textMuted
            font.pixelSize: Theme.smallFont
        }
    }

    ToolTip.visible: hovered && countText.length > 0
    ToolTip.text: countText
}
