// Approves a pending agent: the operator types the fingerprint read on the
// agent host (`sealrelay-agent fingerprint`), at least its first 16 hex
// digits, and the session certifies the agent only when it matches the keys
// the backend lists.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Dialog {
    id: dialog

    property string agentId: ""
    property string agentName: ""
    // The typed digits without spaces or colons.
    readonly property string digits: fingerprintField.text.replace(/[\s:]/g, "")
    readonly property bool valid: /^[0-9a-fA-F]{16,64}$/.test(digits)

    function openFor(id, name) {
        agentId = id
        agentName = name
        open()
    }

    title: qsTr("Approve %1").arg(agentName)
    parent: Overlay.overlay
    anchors.centerIn: parent
    width: 540
    modal: true
    focus: true
    closePolicy: Popup.CloseOnEscape
    padding: 16
    background: DialogBackground {}
    header: DialogTitle { text: dialog.title }

    onOpened: {
        fingerprintField.clear()
        fingerprintField.forceActiveFocus()
    }
    onAccepted: Session.approveAgent(agentId, digits)

    contentItem: ColumnLayout {
        spacing: 8

        Label {
            Layout.fillWidth: true
            text: qsTr("On the host of %1, run “sealrelay-agent fingerprint” and type what it prints, at least the first 16 hex digits. The console signs a certificate only if it matches the keys this agent enrolled with; a mismatch means the keys the backend lists are not the ones on that host.")
                      .arg(dialog.agentName)
            wrapMode: Text.Wrap
            color: Theme.text
        }
        TextField {
            id: fingerprintField
            Layout.fillWidth: true
            placeholderText: "ab12 cd34 ef56 7890 …"
            font.family: "monospace"
            selectByMouse: true
            inputMethodHints: Qt.ImhNoPredictiveText | Qt.ImhNoAutoUppercase
            Accessible.name: qsTr("Fingerprint read on the agent host")
            onAccepted: {
                if (dialog.valid)
                    dialog.accept()
            }
        }
        Label {
            Layout.fillWidth: true
            text: dialog.digits.length === 0 ? ""
                : dialog.valid ? qsTr("✓ %n hex digits", "", dialog.digits.length)
                : /[^0-9a-fA-F]/.test(dialog.digits) ? qsTr("✖ Only hex digits 0-9 and a-f, with optional spaces.")
                : qsTr("✖ %n hex digits typed: type at least 16.", "", dialog.digits.length)
            color: dialog.valid ? Theme.ok : Theme.critical
        }
    }

    footer: DialogButtonBox {
        background: null
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
        }
        Button {
            text: qsTr("Approve")
            highlighted: true
            enabled: dialog.valid && Session.operatorKeyReady
            DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
        }
    }
}
