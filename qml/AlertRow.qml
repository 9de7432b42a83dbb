// One row of the alerts table: severity colour, symbol and word, the type in
// words, the subject with agent names, times, count and Acknowledge.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: row

    required property int index
    required property string alertId
    required property string type
    required property string severity
    required property string subject
    required property var firstSeen
    required property var lastSeen
    required property int count
    required property bool acknowledged
    required property string acknowledgedBy

    property var columnWidths: ({})
    property bool isCurrent: false
    property bool checked: false
    property bool ready: false
    readonly property color tone: Theme.severityColor(severity)
    readonly property bool pinned: severity === "critical" && !acknowledged

    signal checkToggled(bool on)
    signal acknowledgeRequested()
    signal clicked()

    // Returns the alert type in words.
    function typeText(alertType) {
        switch (alertType) {
        case "credential_sync_stalled": return qsTr("Credential sync stalled")
        case "agent_credential_flood": return qsTr("Agent requests too many credentials")
        case "credential_commitment_mismatch": return qsTr("Credential integrity failure")
        case "peer_agent_integrity_failure": return qsTr("Mismatch attributed to a peer agent")
        case "agent_commitment_flood": return qsTr("Agent reports too many mismatches")
        case "redis_coordination_degraded": return qsTr("Coordination degraded")
        case "target_certificate_rejected": return qsTr("Agent certificate rejected by a peer")
        case "credential_equivocation_detected": return qsTr("Two statements for one version")
        case "enrolment_token_reused": return qsTr("Enrolment token reused")
        }
        return alertType.replace(/_/g, " ")
    }

    // Returns the subject with names: "credential:<id>/agent:<id>" becomes
    // "credential core-switch-admin · agent dc1-agent-a".
    function subjectText(value) {
        return value.split("/").map(part => {
            const colon = part.indexOf(":")
            if (colon < 0)
                return part
            const kind = part.substring(0, colon)
            const id = part.substring(colon + 1)
            if (kind === "agent" || kind === "source_agent" || kind === "reporter")
                return qsTr("agent %1").arg(Session.agentName(id))
            if (kind === "credential")
                return qsTr("credential %1").arg(credentialName(id))
            return kind + " " + id
        }).join(" · ")
    }

    // Returns the credential's name when the credentials model has it, else
    // the first 8 characters of the id.
    function credentialName(id) {
        const model = Session.credentials
        if (model) {
            for (let i = 0; i < model.rowCount(); ++i) {
                const index = model.index(i, 0)
                if (model.data(index, Qt.UserRole + 1) === id)
                    return model.data(index, Qt.DisplayRole)
            }
        }
        return id.substring(0, 8)
    }

    implicitHeight: 44
    color: pinned ? Qt.rgba(tone.r, tone.g, tone.b, Theme.dark ? 0.16 : 0.07)
                  : hover.hovered ? Theme.surfaceAlt : "transparent"
    border.color: isCurrent ? Theme.highlight : "transparent"
    opacity: acknowledged ? 0.7 : 1
    Accessible.role: Accessible.Row
    Accessible.name: [Theme.severityText(severity), typeText(type), subjectText(subject)].join(", ")

    onCountChanged: {
        if (ready)
            flashAnimation.restart()
    }
    onAcknowledgedChanged: {
        if (ready)
            flashAnimation.restart()
    }
    Component.onCompleted: ready = true

    Rectangle {
        id: flashOverlay
        anchors.fill: parent
        color: Theme.flash
        opacity: 0
        SequentialAnimation {
            id: flashAnimation
            NumberAnimation { target: flashOverlay; property: "opacity"; to: 0.9; duration: 120 }
            PauseAnimation { duration: 500 }
            NumberAnimation { target: flashOverlay; property: "opacity"; to: 0; duration: 900 }
        }
    }
    Rectangle {
        width: 4
        height: parent.height
        color: row.tone
    }
    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
        opacity: 0.6
    }

    HoverHandler { id: hover }
    TapHandler { onTapped: row.clicked() }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 12
        spacing: 10

        CheckBox {
            Layout.preferredWidth: row.columnWidths.check
            enabled: !row.acknowledged
            checked: row.checked
            focusPolicy: Qt.NoFocus
            onToggled: row.checkToggled(checked)
            Accessible.name: qsTr("Select for acknowledgement")
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.severity
            text: Theme.severitySymbol(row.severity) + " " + Theme.severityText(row.severity)
            color: row.tone
            font.bold: true
        }
        ColumnLayout {
            Layout.fillWidth: true
            spacing: 0
            Cell {
                Layout.fillWidth: true
                text: row.typeText(row.type)
                font.bold: !row.acknowledged
            }
            Cell {
                Layout.fillWidth: true
                visible: row.pinned || row.acknowledged
                text: row.acknowledged ? qsTr("acknowledged by %1").arg(row.acknowledgedBy)
                                       : qsTr("pinned until acknowledged")
                color: Theme.textMuted
                font.pixelSize: Theme.smallFont
            }
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.subject
            // agentChoices changes when the agent list does, so names
            // replace short ids once the agents are known.
            text: {
                Session.agentChoices
                return row.subjectText(row.subject)
            }
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.firstSeen
            text: Theme.formatTime(row.firstSeen)
            color: Theme.textMuted
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.lastSeen
            text: Theme.formatTime(row.lastSeen)
            color: Theme.textMuted
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.count
            text: "×" + row.count
        }
        Item {
            Layout.preferredWidth: row.columnWidths.actions
            Layout.fillHeight: true
            Button {
                anchors.right: parent.right
                anchors.verticalCenter: parent.verticalCenter
                visible: !row.acknowledged
                text: qsTr("Acknowledge")
                flat: true
                enabled: !Session.busy
                onClicked: row.acknowledgeRequested()
            }
            Label {
                anchors.right: parent.right
                anchors.verticalCenter: parent.verticalCenter
                visible: row.acknowledged
                text: qsTr("✓ Acknowledged")
                color: Theme.textMuted
            }
        }
    }
}
