// The top bar: backend address, connection state with the time of the last
// event, the operator key fingerprint, the search field (Ctrl+F), the
// light/dark toggle and sign-out.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: topBar

    property string currentView: ""
    readonly property alias searchText: searchField.text

    function focusSearch() {
        searchField.forceActiveFocus()
        searchField.selectAll()
    }

    readonly property color connectionTone: Session.connection === "live" ? Theme.ok
                                          : Session.connection === "reconnecting" ? Theme.warning
                                          : Theme.critical
    readonly property string connectionText: {
        if (Session.connection === "live")
            return qsTr("● Live")
        if (Session.connection === "reconnecting")
            return qsTr("◐ Reconnecting")
        return qsTr("○ Offline")
    }

    implicitHeight: 52
    color: Theme.surface
    onCurrentViewChanged: searchField.clear()

    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
    }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 16
        anchors.rightMargin: 12
        spacing: 14

        Label {
            text: qsTr("sealrelay")
            font.bold: true
            font.pixelSize: 17
            color: Theme.text
        }

        ColumnLayout {
            spacing: 0
            Label {
                text: Session.backendUrl
                color: Theme.text
                elide: Text.ElideMiddle
                Layout.maximumWidth: 260
            }
            Label {
                //: Connection state, then the time of the last event frame.
                text: Theme.isValidTime(Session.lastEventAt)
                      ? qsTr("%1 · last event %2").arg(topBar.connectionText)
                                                    .arg(Theme.formatTime(Session.lastEventAt))
                      : qsTr("%1 · no event yet").arg(topBar.connectionText)
                color: topBar.connectionTone
                font.pixelSize: Theme.smallFont
                Accessible.name: text
            }
        }

        Label {
            // The first four groups of the fingerprint; the tooltip has all of it.
            text: Session.operatorKeyReady
                  ? qsTr("Operator key %1").arg(Session.operatorFingerprint.split(" ").slice(0, 4).join(" "))
                  : qsTr("⚠ No operator key")
            color: Session.operatorKeyReady ? Theme.textMuted : Theme.warning
            font.family: Session.operatorKeyReady ? "monospace" : ""
            font.pixelSize: Theme.smallFont + 1
            ToolTip.visible: keyHover.hovered
            ToolTip.text: Session.operatorKeyReady ? Session.operatorFingerprint : Session.operatorKeyError
            HoverHandler { id: keyHover }
        }

        Item { Layout.fillWidth: true }

        TextField {
            id: searchField
            Layout.preferredWidth: 240
            enabled: topBar.currentView !== "system"
            placeholderText: topBar.currentView === "system" ? qsTr("Nothing to search here")
                                                            : qsTr("Search %1 (Ctrl+F)").arg(topBar.viewTitle(topBar.currentView))
            selectByMouse: true
            Keys.onEscapePressed: clear()
            Accessible.name: qsTr("Search the current view")
        }

        Button {
            text: Theme.dark ? qsTr("☀ Light") : qsTr("☾ Dark")
            flat: true
            onClicked: Theme.dark = !Theme.dark
            Accessible.name: Theme.dark ? qsTr("Switch to the light palette") : qsTr("Switch to the dark palette")
        }

        Button {
            text: qsTr("Sign out")
            flat: true
            onClicked: Session.signOut()
        }
    }

    function viewTitle(view) {
        if (view === "credentials")
            return qsTr("credentials")
        if (view === "agents")
            return qsTr("agents")
        if (view === "alerts")
            return qsTr("alerts")
        if (view === "audit")
            return qsTr("audit")
        return view
    }
}
