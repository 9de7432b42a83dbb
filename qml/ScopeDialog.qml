// Changes the scope of a credential and shows how many agents will store it.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Dialog {
    id: dialog

    property string credentialId: ""
    property string credentialName: ""
    // The current scope's agent ids; empty for all agents.
    property var currentScope: []
    readonly property int holders: Session.agentsAffected(credentialId, scopeEditor.agentIds())

    title: qsTr("Change scope of %1").arg(credentialName)
    parent: Overlay.overlay
    anchors.centerIn: parent
    width: 520
    modal: true
    focus: true
    closePolicy: Popup.CloseOnEscape
    padding: 16
    background: DialogBackground {}
    header: DialogTitle { text: dialog.title }

    onOpened: scopeEditor.reset(currentScope)
    onAccepted: Session.changeScope(credentialId, scopeEditor.agentIds())

    contentItem: ColumnLayout {
        spacing: 8

        ScopeEditor {
            id: scopeEditor
            Layout.fillWidth: true
        }
        Label {
            Layout.fillWidth: true
            text: qsTr("After the change %n agents hold %1. Agents that leave the scope delete their copy; agents that join receive it from a peer.",
                       "", dialog.holders).arg(dialog.credentialName)
            wrapMode: Text.Wrap
            color: Theme.text
        }
    }

    footer: DialogButtonBox {
        background: null
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
        }
        Button {
            text: qsTr("Change scope")
            highlighted: true
            enabled: scopeEditor.valid && Session.operatorKeyReady
            DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
        }
    }
}
