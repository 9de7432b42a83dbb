// Rotates a credential: new secret fields for the next version, sealed for
// every agent in scope.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Dialog {
    id: dialog

    property string credentialId: ""
    property string credentialName: ""
    property int nextVersion: 1
    property int agentCount: 0

    title: qsTr("Rotate %1").arg(credentialName)
    parent: Overlay.overlay
    anchors.centerIn: parent
    width: 560
    modal: true
    focus: true
    closePolicy: Popup.CloseOnEscape
    padding: 16
    background: DialogBackground {}
    header: DialogTitle { text: dialog.title }

    onOpened: secretEditor.clear()
    onClosed: secretEditor.clear()
    onAccepted: Session.rotateCredential(credentialId, secretEditor.fields())

    contentItem: ColumnLayout {
        spacing: 8

        Label {
            Layout.fillWidth: true
            text: qsTr("Version %1 of %2 replaces the current secret on the %n agents in scope.",
                       "", dialog.agentCount).arg(dialog.nextVersion).arg(dialog.credentialName)
            wrapMode: Text.Wrap
            color: Theme.text
        }
        SecretFieldsEditor {
            id: secretEditor
            Layout.fillWidth: true
        }
    }

    footer: DialogButtonBox {
        background: null
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
        }
        Button {
            text: qsTr("Rotate to version %1").arg(dialog.nextVersion)
            highlighted: true
            enabled: secretEditor.valid && Session.operatorKeyReady
            DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
        }
    }
}
