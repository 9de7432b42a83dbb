// The console's window: the sign-in page until the session is signed in,
// then the frame (navigation, top bar, banner) around the current view.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

ApplicationWindow {
    id: window

    // One of "credentials", "agents", "alerts", "audit", "system".
    property string currentView: "credentials"
    readonly property var views: ["credentials", "agents", "alerts", "audit", "system"]
    readonly property bool signedIn: Session.state === "signedIn"

    // Moves the keyboard focus to the search field of the top bar.
    function focusSearch() {
        if (signedIn)
            topBar.focusSearch()
    }

    // Switches between the dark and the light palette, as the top bar's
    // toggle does; tests call it to capture both.
    function setDarkPalette(on) {
        Theme.dark = on
    }

    width: 1280
    height: 800
    visible: true
    title: signedIn ? qsTr("sealrelay console — %1").arg(Session.backendUrl)
                    : qsTr("sealrelay console")
    color: Theme.window

    palette.window: Theme.window
    palette.windowText: Theme.text
    palette.base: Theme.surface
    palette.alternateBase: Theme.surfaceAlt
    palette.text: Theme.text
    palette.button: Theme.surfaceAlt
    palette.buttonText: Theme.text
    palette.highlight: Theme.highlight
    palette.highlightedText: "#ffffff"
    palette.placeholderText: Theme.textMuted
    palette.mid: Theme.border
    palette.dark: Theme.border
    palette.light: Theme.surface
    palette.midlight: Theme.surfaceAlt
    palette.shadow: Theme.dark ? "#000000" : "#9aa0a8"
    palette.toolTipBase: Theme.surface
    palette.toolTipText: Theme.text
    // Assigning a role above sets it for every colour group, so disabled
    // controls get their muted colours back here.
    palette.disabled.buttonText: Theme.textMuted
    palette.disabled.text: Theme.textMuted
    palette.disabled.windowText: Theme.textMuted
    palette.disabled.button: Theme.window

    Repeater {
        model: window.views
        delegate: Item {
            required property int index
            required property string modelData

            Shortcut {
                sequence: "Ctrl+" + (index + 1)
                enabled: window.signedIn
                onActivated: window.currentView = modelData
            }
        }
    }
    Shortcut {
        sequences: [StandardKey.Find]
        enabled: window.signedIn
        onActivated: window.focusSearch()
    }

    SignInPage {
        anchors.fill: parent
        visible: !window.signedIn
    }

    ColumnLayout {
        anchors.fill: parent
        visible: window.signedIn
        spacing: 0

        TopBar {
            id: topBar
            Layout.fillWidth: true
            currentView: window.currentView
        }
        BannerBar {
            Layout.fillWidth: true
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 0

            NavBar {
                Layout.fillHeight: true
                Layout.preferredWidth: 220
                currentView: window.currentView
                onViewRequested: view => window.currentView = view
            }

            StackLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                currentIndex: Math.max(0, window.views.indexOf(window.currentView))

                CredentialsView { searchText: topBar.searchText; active: window.currentView === "credentials" }
                AgentsView { searchText: topBar.searchText; active: window.currentView === "agents" }
                AlertsView { searchText: topBar.searchText; active: window.currentView === "alerts" }
                AuditView { searchText: topBar.searchText; active: window.currentView === "audit" }
                SystemView { active: window.currentView === "system" }
            }
        }

        ActionMessage {
            Layout.fillWidth: true
        }
    }
}
