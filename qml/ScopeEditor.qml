// The scope of a credential: every approved agent (auto_all, including agents
// approved later) or the chosen ones. `agentIds()` returns the chosen ids, or
// an empty list for all agents, as the session's actions take them.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

ColumnLayout {
    id: scopeEditor

    property bool allAgents: true
    property var chosen: []

    readonly property bool valid: allAgents || chosen.length > 0

    function agentIds() {
        return allAgents ? [] : chosen.slice()
    }

    // Sets the editor to `ids`; an empty list means all agents.
    function reset(ids) {
        allAgents = ids.length === 0
        chosen = ids.slice()
    }

    function toggle(agentId, on) {
        const next = chosen.filter(id => id !== agentId)
        if (on)
            next.push(agentId)
        chosen = next
    }

    spacing: 2

    RadioButton {
        text: qsTr("All agents, including agents approved later")
        checked: scopeEditor.allAgents
        onToggled: scopeEditor.allAgents = true
    }
    RadioButton {
        text: qsTr("Chosen agents only")
        checked: !scopeEditor.allAgents
        onToggled: scopeEditor.allAgents = false
    }

    Frame {
        id: choicesFrame
        Layout.fillWidth: true
        Layout.leftMargin: 28
        visible: !scopeEditor.allAgents

        ColumnLayout {
            anchors.fill: parent
            spacing: 0

            Label {
                visible: Session.agentChoices.length === 0
                text: qsTr("No approved agent yet.")
                color: Theme.textMuted
            }
            Repeater {
                // The check boxes exist only while shown, because the editor
                // sits in closed dialogs, and every change of the agent list
                // would otherwise create a check box per agent in each one.
                model: choicesFrame.visible ? Session.agentChoices : []
                CheckBox {
                    required property var modelData
                    text: modelData.status ? qsTr("%1 (%2)").arg(modelData.name).arg(modelData.status)
                                           : modelData.name
                    checked: scopeEditor.chosen.indexOf(modelData.agentId) >= 0
                    onToggled: scopeEditor.toggle(modelData.agentId, checked)
                }
            }
        }
    }
}
