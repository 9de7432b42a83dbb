// Creates an enrolment token for a new agent and shows it once, with Copy.
// The token is dropped from the dialog when it closes.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Dialog {
    id: dialog

    property string token: ""
    property bool waiting: false

    title: qsTr("Enrol an agent")
    parent: Overlay.overlay
    anchors.centerIn: parent
    width: 560
    modal: true
    focus: true
    closePolicy: Popup.CloseOnEscape
    padding: 16
    background: DialogBackground {}
    header: DialogTitle { text: dialog.title }

    onOpened: {
        token = ""
        waiting = false
        nameField.clear()
        nameField.forceActiveFocus()
    }
    onClosed: {
        token = ""
        tokenField.clear()
    }

    function request() {
        if (nameField.text.trim().length === 0 || waiting)
            return
        waiting = true
        Session.createEnrolmentToken(nameField.text.trim())
    }

    Connections {
        target: Session
        enabled: dialog.visible && dialog.waiting
        function onActionFinished(action, ok, message, detail) {
            if (action !== "createEnrolmentToken")
                return
            dialog.waiting = false
            if (ok) {
                dialog.token = detail
                tokenField.forceActiveFocus()
            } else {
                errorLabel.text = message
            }
        }
    }

    contentItem: ColumnLayout {
        spacing: 8

        Label {
            Layout.fillWidth: true
            visible: dialog.token.length === 0
            text: qsTr("Name the agent as it will appear here, e.g. dc1-agent-a.")
            wrapMode: Text.Wrap
            color: Theme.text
        }
        TextField {
            id: nameField
            Layout.fillWidth: true
            visible: dialog.token.length === 0
            placeholderText: qsTr("Agent name")
            selectByMouse: true
            Accessible.name: qsTr("Agent name")
            onAccepted: dialog.request()
            onTextChanged: errorLabel.text = ""
        }

        Label {
            Layout.fillWidth: true
            visible: dialog.token.length > 0
            text: qsTr("This token is shown once. On the agent host run “sealrelay-agent init --enrolment-token TOKEN”, then approve the agent here with the fingerprint the host prints.")
            wrapMode: Text.Wrap
            color: Theme.text
        }
        RowLayout {
            Layout.fillWidth: true
            visible: dialog.token.length > 0
            TextField {
                id: tokenField
                Layout.fillWidth: true
                readOnly: true
                text: dialog.token
                font.family: "monospace"
                selectByMouse: true
                Accessible.name: qsTr("Enrolment token")
            }
            Button {
                text: copiedTimer.running ? qsTr("Copied") : qsTr("Copy")
                onClicked: {
                    tokenField.selectAll()
                    tokenField.copy()
                    tokenField.deselect()
                    copiedTimer.restart()
                }
                Timer { id: copiedTimer; interval: 2000 }
            }
        }
        Label {
            id: errorLabel
            Layout.fillWidth: true
            visible: text.length > 0
            color: Theme.critical
            wrapMode: Text.Wrap
        }
    }

    footer: DialogButtonBox {
        background: null
        Button {
            text: dialog.token.length > 0 ? qsTr("Done") : qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
        }
        Button {
            visible: dialog.token.length === 0
            text: dialog.waiting ? qsTr("Creating…") : qsTr("Create token")
            highlighted: true
            enabled: nameField.text.trim().length > 0 && !dialog.waiting
            onClicked: dialog.request()
        }
    }
}
