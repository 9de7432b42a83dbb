// Creates a credential: name, kind, the secret's fields and the scope. The
// session seals the secret for the agents in scope and signs the statement
// with the operator key.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Dialog {
    id: dialog

    readonly property bool valid: nameField.text.trim().length > 0
                                  && kindBox.editText.trim().length > 0
                                  && secretEditor.valid && scopeEditor.valid
    // Agents that receive the secret: every approved agent for "all agents",
    // else the chosen ones. agentsAffected() needs an existing credential.
    readonly property int receivers: scopeEditor.allAgents ? Session.agentChoices.length
                                                           : scopeEditor.chosen.length

    title: qsTr("New credential")
    parent: Overlay.overlay
    anchors.centerIn: parent
    width: 600
    modal: true
    focus: true
    closePolicy: Popup.CloseOnEscape
    padding: 16
    background: DialogBackground {}
    header: DialogTitle { text: dialog.title }

    onOpened: {
        nameField.clear()
        kindBox.currentIndex = 0
        secretEditor.clear()
        scopeEditor.reset([])
        nameField.forceActiveFocus()
    }
    onClosed: secretEditor.clear()
    onAccepted: Session.createCredential(nameField.text.trim(), kindBox.editText.trim(),
                                         secretEditor.fields(), scopeEditor.agentIds())

    contentItem: ColumnLayout {
        spacing: 8

        GridLayout {
            Layout.fillWidth: true
            columns: 2
            columnSpacing: 12

            FieldLabel { text: qsTr("Name") }
            TextField {
                id: nameField
                Layout.fillWidth: true
                placeholderText: qsTr("e.g. core-switch-admin")
                selectByMouse: true
                Accessible.name: qsTr("Credential name")
            }
            FieldLabel { text: qsTr("Kind") }
            ComboBox {
                id: kindBox
                Layout.fillWidth: true
                editable: true
                model: ["password", "api_key", "ssh_key", "snmp_community", "enable_secret"]
                Accessible.name: qsTr("Credential kind")
            }
        }

        Label {
            text: qsTr("Secret")
            font.bold: true
            color: Theme.text
        }
        SecretFieldsEditor {
            id: secretEditor
            Layout.fillWidth: true
        }

        Label {
            text: qsTr("Scope")
            font.bold: true
            color: Theme.text
        }
        ScopeEditor {
            id: scopeEditor
            Layout.fillWidth: true
        }

        Label {
            Layout.fillWidth: true
            text: qsTr("The secret is sealed on this computer for each of the %n agents in scope and signed with your operator key; the backend never sees it.",
                       "", dialog.receivers)
            color: Theme.textMuted
            wrapMode: Text.Wrap
        }
    }

    footer: DialogButtonBox {
        background: null
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
        }
        Button {
            text: qsTr("Create")
            highlighted: true
            enabled: dialog.valid && Session.operatorKeyReady
            DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
        }
    }
}
