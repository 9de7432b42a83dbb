// The detail pane of the selected credential: its statement, the actions
// (Retry with its cooldown, Rotate, Change scope, Delete, each confirmed)
// and one row per in-scope agent.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: detail

    readonly property var credential: Session.selectedCredential
    readonly property string credentialId: Session.selectedCredentialId
    readonly property string credentialName: credential.name !== undefined ? credential.name : ""
    readonly property int agentCount: credential.agentCount !== undefined ? credential.agentCount : 0
    property int retrySeconds: 0
    // In-scope agents without a verified stored receipt: what Retry sends to.
    readonly property int unsyncedCount: {
        let count = 0
        for (let i = 0; i < agentRepeater.count; ++i) {
            const item = agentRepeater.itemAt(i)
            if (item && item.status !== 0)
                ++count
        }
        return count
    }

    signal closeRequested()

    function refreshRetry() {
        retrySeconds = credentialId.length > 0 ? Session.retrySecondsLeft(credentialId) : 0
    }

    color: Theme.surface
    border.color: Theme.border
    radius: Theme.radius

    onCredentialIdChanged: refreshRetry()
    Keys.onEscapePressed: closeRequested()

    Connections {
        target: Session
        function onRetryCooldownChanged() { detail.refreshRetry() }
    }
    // Counts down even when the session signals only the start and the end.
    Timer {
        interval: 1000
        repeat: true
        running: detail.retrySeconds > 0 && detail.visible
        onTriggered: detail.refreshRetry()
    }

    ScrollView {
        id: scroll
        anchors.fill: parent
        anchors.margins: 1
        clip: true
        contentWidth: availableWidth

        ColumnLayout {
            width: scroll.availableWidth
            spacing: 10

            RowLayout {
                Layout.fillWidth: true
                Layout.topMargin: 14
                Layout.leftMargin: 16
                Layout.rightMargin: 8

                Label {
                    Layout.fillWidth: true
                    text: detail.credentialName
                    font.pixelSize: 18
                    font.bold: true
                    color: Theme.text
                    elide: Text.ElideRight
                }
                ToolButton {
                    text: "✕"
                    onClicked: detail.closeRequested()
                    Accessible.name: qsTr("Close the detail pane")
                    ToolTip.visible: hovered
                    ToolTip.text: qsTr("Close (Escape)")
                }
            }

            RowLayout {
                Layout.leftMargin: 16
                spacing: 6
                // selectedCredential carries the chip's text only, so its
                // symbol gives the state.
                SyncChip {
                    chipState: detail.credential.chipText !== undefined && detail.credential.chipText.startsWith("✓") ? 0
                             : detail.credential.chipText !== undefined && detail.credential.chipText.startsWith("⚠") ? 1 : 2
                    text: detail.credential.chipText !== undefined ? detail.credential.chipText : ""
                }
                Repeater {
                    model: detail.credential.badges !== undefined ? detail.credential.badges : []
                    Badge {
                        required property int index
                        required property string modelData
                        text: modelData
                        // badges() lists "Integrity failure" first when it
                        // applies; "Unprotected" comes with an untrusted signer.
                        severe: index === 0 && (detail.credential.badges.length === 2
                                                || detail.credential.signedByTrusted === true)
                    }
                }
            }

            // The statement.
            GridLayout {
                Layout.fillWidth: true
                Layout.leftMargin: 16
                Layout.rightMargin: 16
                columns: 2
                columnSpacing: 12
                rowSpacing: 4

                FieldLabel { text: qsTr("Kind") }
                FieldValue { text: detail.credential.kind !== undefined ? detail.credential.kind : "" }
                FieldLabel { text: qsTr("Version") }
                FieldValue {
                    text: qsTr("%1, revision %2").arg(detail.credential.version).arg(detail.credential.revision)
                }
                FieldLabel { text: qsTr("Signed by") }
                FieldValue {
                    text: detail.credential.signedByTrusted
                          ? qsTr("%1 (trusted operator key)").arg(detail.credential.signedBy)
                          : detail.credential.signedBy
                            ? qsTr("⚠ %1: not a key this console trusts").arg(detail.credential.signedBy)
                            : qsTr("⚠ No statement signature")
                    color: detail.credential.signedByTrusted ? Theme.text : Theme.warning
                    font.family: "monospace"
                }
                FieldLabel { text: qsTr("Signed at") }
                FieldValue { text: Theme.formatDate(detail.credential.signedAt) }
                FieldLabel { text: qsTr("Scope") }
                FieldValue {
                    text: detail.credential.scope === "auto_all"
                          ? qsTr("All agents (%n in scope)", "", detail.agentCount)
                          : qsTr("%n chosen agents: %1", "", detail.agentCount).arg(
                                (detail.credential.scopeAgents || []).map(id => Session.agentName(id)).join(", "))
                }
            }

            // The actions.
            Flow {
                Layout.fillWidth: true
                Layout.leftMargin: 16
                Layout.rightMargin: 16
                spacing: 6

                Button {
                    id: retryButton
                    text: detail.retrySeconds > 0 ? qsTr("Retry (%1 s)").arg(detail.retrySeconds)
                                                  : qsTr("Retry")
                    enabled: detail.retrySeconds === 0 && !Session.busy
                    onClicked: retryDialog.open()
                    Accessible.name: detail.retrySeconds > 0
                                     ? qsTr("Retry, available again in %1 seconds").arg(detail.retrySeconds)
                                     : qsTr("Retry")
                }
                Button {
                    text: qsTr("Rotate…")
                    enabled: Session.operatorKeyReady
                    onClicked: rotateDialog.open()
                }
                Button {
                    text: qsTr("Change scope…")
                    enabled: Session.operatorKeyReady
                    onClicked: scopeDialog.open()
                }
                Button {
                    text: qsTr("Delete…")
                    enabled: Session.operatorKeyReady
                    palette.buttonText: Theme.critical
                    onClicked: deleteDialog.open()
                }
            }

            Label {
                Layout.fillWidth: true
                Layout.leftMargin: 16
                Layout.rightMargin: 16
                visible: !Session.operatorKeyReady
                text: qsTr("⚠ Rotate, change scope and delete need the operator key: %1").arg(Session.operatorKeyError)
                color: Theme.warning
                wrapMode: Text.Wrap
            }

            Rectangle {
                Layout.fillWidth: true
                Layout.preferredHeight: 1
                color: Theme.border
            }

            Label {
                Layout.leftMargin: 16
                text: qsTr("Agents in scope")
                font.bold: true
                color: Theme.text
            }

            Label {
                Layout.leftMargin: 16
                visible: agentRepeater.count === 0
                text: qsTr("No agent is in scope: change the scope or approve an agent.")
                color: Theme.textMuted
            }

            Repeater {
                id: agentRepeater
                model: Session.credentialAgents
                delegate: CredentialAgentRow {
                    Layout.fillWidth: true
                    Layout.leftMargin: 8
                    Layout.rightMargin: 8
                }
            }

            Item { Layout.preferredHeight: 8 }
        }
    }

    ConfirmDialog {
        id: retryDialog
        title: qsTr("Retry %1").arg(detail.credentialName)
        confirmText: qsTr("Retry now")
        message: qsTr("The backend starts a new delivery of %1 to the %n agents in scope that have not stored it. Retry is then disabled for 30 seconds.",
                      "", detail.unsyncedCount).arg(detail.credentialName)
        onAccepted: {
            Session.retryCredential(detail.credentialId)
            detail.refreshRetry()
        }
    }

    RotateDialog {
        id: rotateDialog
        credentialId: detail.credentialId
        credentialName: detail.credentialName
        nextVersion: detail.credential.version + 1
        agentCount: detail.agentCount
    }

    ScopeDialog {
        id: scopeDialog
        credentialId: detail.credentialId
        credentialName: detail.credentialName
        currentScope: detail.credential.scope === "auto_all" ? [] : (detail.credential.scopeAgents || [])
    }

    ConfirmDialog {
        id: deleteDialog
        title: qsTr("Delete %1").arg(detail.credentialName)
        confirmText: qsTr("Delete")
        destructive: true
        message: qsTr("A signed deletion of %1 goes to the %n agents in scope, and each removes its copy. This cannot be undone.",
                      "", detail.agentCount).arg(detail.credentialName)
        onAccepted: Session.deleteCredential(detail.credentialId)
    }
}
