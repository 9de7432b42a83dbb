// The left navigation: the five views, each with a count when something
// needs attention (stalled credentials, agents pending approval,
// unacknowledged alerts coloured by their highest severity).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: navBar

    property string currentView: ""
    signal viewRequested(string view)

    color: Theme.surface

    Rectangle {
        anchors.right: parent.right
        width: 1
        height: parent.height
        color: Theme.border
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing
        spacing: 2

        NavButton {
            text: qsTr("Credentials")
            shortcutText: "Ctrl+1"
            current: navBar.currentView === "credentials"
            count: Session.stalledCount
            countTone: Theme.warning
            countText: qsTr("%n stalled", "", Session.stalledCount)
            onClicked: navBar.viewRequested("credentials")
        }
        NavButton {
            text: qsTr("Agents")
            shortcutText: "Ctrl+2"
            current: navBar.currentView === "agents"
            count: Session.pendingApprovalCount
            countTone: Theme.info
            countText: qsTr("%n pending approval", "", Session.pendingApprovalCount)
            onClicked: navBar.viewRequested("agents")
        }
        NavButton {
            text: qsTr("Alerts")
            shortcutText: "Ctrl+3"
            current: navBar.currentView === "alerts"
            count: Session.unacknowledgedAlerts
            countTone: Theme.severityColor(Session.highestAlertSeverity)
            countText: qsTr("%n unacknowledged, highest %1", "", Session.unacknowledgedAlerts)
                           .arg(Theme.severityText(Session.highestAlertSeverity))
            onClicked: navBar.viewRequested("alerts")
        }
        NavButton {
            text: qsTr("Audit")
            shortcutText: "Ctrl+4"
            current: navBar.currentView === "audit"
            onClicked: navBar.viewRequested("audit")
        }
        NavButton {
            text: qsTr("System")
            shortcutText: "Ctrl+5"
            current: navBar.currentView === "system"
            onClicked: navBar.viewRequested("system")
        }

        Item { Layout.fillHeight: true }

        Label {
            Layout.fillWidth: true
            visible: Session.problemCount > 0
            text: qsTr("%n credentials need attention", "", Session.problemCount)
            color: Theme.textMuted
            font.pixelSize: Theme.smallFont
            wrapMode: Text.Wrap
        }
        Label {
            Layout.fillWidth: true
            text: qsTr("Profile %1").arg(Session.profile)
            color: Theme.textMuted
            font.pixelSize: Theme.smallFont
        }
    }
}
