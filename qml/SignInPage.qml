// The sign-in page: backend URL, API token, whether to keep the token in the
// system keychain, and the session's error sentence.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: signInPage

    readonly property bool signingIn: Session.state === "signingIn"

    function submit() {
        if (!signInButton.enabled)
            return
        Session.signIn(urlField.text.trim(), tokenField.text, rememberBox.checked)
    }

    color: Theme.window

    onVisibleChanged: {
        if (visible) {
            tokenField.clear()
            if (urlField.text.length === 0)
                urlField.forceActiveFocus()
            else
                tokenField.forceActiveFocus()
        }
    }

    Rectangle {
        anchors.centerIn: parent
        width: 460
        height: form.implicitHeight + 48
        color: Theme.surface
        border.color: Theme.border
        radius: 6

        ColumnLayout {
            id: form
            anchors.fill: parent
            anchors.margins: 24
            spacing: 10

            Label {
                text: qsTr("Sign in to sealrelay")
                font.pixelSize: 20
                font.bold: true
                color: Theme.text
            }
            Label {
                text: qsTr("Profile %1. The token is an operator API token from the backend.")
                          .arg(Session.profile)
                color: Theme.textMuted
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }

            Label {
                text: qsTr("Backend URL")
                color: Theme.text
            }
            TextField {
                id: urlField
                Layout.fillWidth: true
                text: Session.backendUrl
                placeholderText: "https://sealrelay.example.net:8443"
                selectByMouse: true
                inputMethodHints: Qt.ImhUrlCharactersOnly | Qt.ImhNoAutoUppercase
                Accessible.name: qsTr("Backend URL")
                onAccepted: tokenField.forceActiveFocus()
            }

            Label {
                text: qsTr("API token")
                color: Theme.text
            }
            TextField {
                id: tokenField
                Layout.fillWidth: true
                echoMode: TextInput.Password
                placeholderText: qsTr("Paste the token")
                inputMethodHints: Qt.ImhSensitiveData | Qt.ImhNoPredictiveText
                Accessible.name: qsTr("API token")
                onAccepted: signInPage.submit()
            }

            CheckBox {
                id: rememberBox
                text: qsTr("Remember token in the system keychain")
                checked: true
            }

            Label {
                Layout.fillWidth: true
                visible: Session.signInError.length > 0
                text: "✖ " + Session.signInError
                color: Theme.critical
                wrapMode: Text.Wrap
            }

            RowLayout {
                Layout.fillWidth: true
                BusyIndicator {
                    running: signInPage.signingIn
                    visible: running
                    Layout.preferredHeight: 28
                    Layout.preferredWidth: 28
                }
                Label {
                    visible: signInPage.signingIn
                    text: qsTr("Signing in…")
                    color: Theme.textMuted
                }
                Item { Layout.fillWidth: true }
                Button {
                    id: signInButton
                    text: qsTr("Sign in")
                    highlighted: true
                    enabled: !signInPage.signingIn && urlField.text.trim().length > 0
                             && tokenField.text.length > 0
                    onClicked: signInPage.submit()
                }
            }
        }
    }
}
