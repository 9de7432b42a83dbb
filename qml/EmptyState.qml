// The text a list shows when it has no rows: what is missing and what to do.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ColumnLayout {
    id: emptyState

    property string text: ""
    property string actionText: ""
    signal actionTriggered()

    spacing: 12

    Label {
        text: emptyState.text
        color: Theme.textMuted
        font.pixelSize: 15
        horizontalAlignment: Text.AlignHCenter
        wrapMode: Text.Wrap
        Layout.alignment: Qt.AlignHCenter
        Layout.maximumWidth: 520
    }
    Button {
        visible: emptyState.actionText.length > 0
        text: emptyState.actionText
        highlighted: true
        Layout.alignment: Qt.AlignHCenter
        onClicked: emptyState.actionTriggered()
    }
}
