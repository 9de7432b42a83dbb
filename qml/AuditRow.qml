// One audit row: id, time, event, outcome with its reason, actor and the
// credential and agent it concerns. A row that does not match the top bar's
// search folds to zero height.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: row

    required property int index
    // The row's `id` role; `id` cannot be a QML property name.
    required property var model
    required property var at
    required property string event
    required property string actor
    required property string credentialId
    required property string agentId
    required property string outcome
    required property string reason

    property var columnWidths: ({})
    property bool isCurrent: false
    property string searchText: ""

    // Reading agentChoices makes the names follow the agent list.
    readonly property string subjectText: {
        Session.agentChoices
        return [
            credentialId.length > 0 ? qsTr("credential %1").arg(credentialId.substring(0, 8)) : "",
            agentId.length > 0 ? qsTr("agent %1").arg(Session.agentName(agentId)) : ""
        ].filter(part => part.length > 0).join(" · ")
    }
    readonly property bool matches: {
        if (searchText.length === 0)
            return true
        const needle = searchText.toLowerCase()
        return [event, actor, outcome, reason, subjectText, credentialId, agentId]
            .some(text => String(text).toLowerCase().indexOf(needle) >= 0)
    }
    readonly property color outcomeTone: {
        if (outcome === "success" || outcome === "acted")
            return Theme.ok
        if (outcome === "pending")
            return Theme.info
        if (outcome === "rejected" || outcome === "stalled" || outcome === "exhausted"
                || outcome === "peer_failed" || outcome === "timeout")
            return Theme.warning
        return Theme.textMuted
    }

    visible: matches
    implicitHeight: matches ? 34 : 0
    color: hover.hovered ? Theme.surfaceAlt : "transparent"
    border.color: isCurrent ? Theme.highlight : "transparent"
    Accessible.role: Accessible.Row
    Accessible.name: [row.model.id, event, outcome, subjectText].join(", ")

    HoverHandler { id: hover }

    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
        opacity: 0.6
    }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 12
        spacing: 10

        Cell {
            Layout.preferredWidth: row.columnWidths.id
            text: row.model.id
            color: Theme.textMuted
            font.family: "monospace"
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.at
            text: Theme.formatDate(row.at)
        }
        Cell {
            Layout.fillWidth: true
            text: row.event
            font.family: "monospace"
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.outcome
            text: row.reason.length > 0 ? row.outcome + " · " + row.reason : row.outcome
            color: row.outcomeTone
            ToolTip.visible: outcomeHover.hovered && row.reason.length > 0
            ToolTip.text: row.reason
            HoverHandler { id: outcomeHover }
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.actor
            text: row.actor
            color: Theme.textMuted
        }
        Cell {
            Layout.preferredWidth: row.columnWidths.subject
            text: row.subjectText
        }
    }
}
