// A modal confirmation: a title, the sentence saying what will happen and to
// how many agents, and a button named after the action. Escape cancels.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Dialog {
    id: confirmDialog

    property string message: ""
    property string confirmText: qsTr("Confirm")
    property bool destructive: false

    parent: Overlay.overlay
    anchors.centerIn: parent
    width: Math.min(520, parent ? parent.width - 80 : 520)
    modal: true
    focus: true
    closePolicy: Popup.CloseOnEscape
    padding: 16
    background: DialogBackground {}
    header: DialogTitle { text: confirmDialog.title }

    contentItem: Label {
        text: confirmDialog.message
        wrapMode: Text.Wrap
        color: Theme.text
    }

    footer: DialogButtonBox {
        background: null
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
        }
        Button {
            id: confirmButton
            text: confirmDialog.confirmText
            highlighted: true
            palette.highlight: confirmDialog.destructive ? Theme.critical : Theme.highlight
            DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
        }
    }

    onOpened: confirmButton.forceActiveFocus()
}
