// One row of the credentials table. A change of its credential's sync state,
// version or badges flashes the row briefly. A row that starts to show
// another credential does not flash. That happens when CredentialsModel
// re-sorts rows, which it reports as changed data, and when the ListView
// reuses the row (reuseItems).
import QtQuick
import QtQuick.Layouts
import Sealrelay.Backend

Rectangle {
    id: row

    required property int index
    required property string credentialId
    required property string name
    required property string kind
    required property int version
    required property int revision
    required property string scope
    required property int chip
    required property string chipText
    required property int unverifiedCount
    required property bool integrityFailure
    required property bool unprotected
    required property bool stalled
    required property var lastChange
    required property var badges

    property bool compact: false
    property bool isCurrent: false
    property var columnWidths: ({})
    readonly property bool selected: Session.selectedCredentialId === credentialId
    // Everything whose change the flash points out.
    readonly property string watchedState: [chipText, version, revision, scope,
                                            integrityFailure, unprotected, stalled].join("|")
    // False until the row is created and while it waits in the ListView's
    // pool, so that values assigned then do not flash the row.
    property bool ready: false
    // The credential and the watched state that the row showed last.
    property string shownCredentialId: ""
    property string shownState: ""

    signal activated()

    // A text cell. It is a Text, not the Label of Cell.qml, because a Text is
    // cheaper to create and draws the same pixels with the default font.
    // NOTE: unlike a Label, it does not take a font set on the window.
    component RowText: Text {
        color: Theme.text
        elide: Text.ElideRight
        verticalAlignment: Text.AlignVCenter
    }

    implicitHeight: Math.max(compact ? 50 : 42, chipCell.implicitHeight + 10)
    color: selected ? Theme.selection : hover.hovered ? Theme.surfaceAlt : "transparent"
    border.color: isCurrent ? Theme.highlight : "transparent"

    Accessible.role: Accessible.Row
    Accessible.name: [name, chipText].concat(badges).join(", ")

    // Flashes when the credential shown last has another watched state. It
    // runs from Qt.callLater(), because a model update assigns its roles one
    // at a time, so a row that gets another credential would otherwise see
    // the new state beside the old credential id.
    function compareShown() {
        if (ready && credentialId === shownCredentialId && watchedState !== shownState)
            flashAnimation.restart()
        rememberShown()
    }
    function rememberShown() {
        shownCredentialId = credentialId
        shownState = watchedState
    }

    onWatchedStateChanged: {
        if (ready)
            Qt.callLater(compareShown)
    }
    onCredentialIdChanged: {
        if (ready)
            Qt.callLater(compareShown)
    }
    Component.onCompleted: {
        rememberShown()
        ready = true
    }
    ListView.onPooled: {
        ready = false
        flashAnimation.stop()
        flashOverlay.opacity = 0
    }
    ListView.onReused: {
        rememberShown()
        ready = true
    }

    Rectangle {
        id: flashOverlay
        objectName: "flashOverlay"
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
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
        opacity: 0.6
    }

    HoverHandler { id: hover }
    TapHandler { onTapped: row.activated() }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 12
        spacing: 10

        ColumnLayout {
            Layout.fillWidth: true
            Layout.minimumWidth: 160
            spacing: 1

            RowText {
                Layout.fillWidth: true
                text: row.name
                font.bold: true
            }
            RowText {
                Layout.fillWidth: true
                visible: row.compact
                // Built only while shown, because a row is rebound for every
                // credential it shows.
                text: !row.compact ? ""
                      : [row.kind, qsTr("v%1 r%2").arg(row.version).arg(row.revision),
                         row.scope === "auto_all" ? qsTr("all agents") : qsTr("chosen agents"),
                         Theme.formatTime(row.lastChange)].join(" · ")
                color: Theme.textMuted
                font.pixelSize: Theme.smallFont
            }
        }
        RowText {
            visible: !row.compact
            Layout.preferredWidth: row.columnWidths.kind
            text: row.kind
        }
        RowText {
            visible: !row.compact
            Layout.preferredWidth: row.columnWidths.version
            text: qsTr("v%1 r%2").arg(row.version).arg(row.revision)
        }
        RowText {
            visible: !row.compact
            Layout.preferredWidth: row.columnWidths.scope
            text: row.scope === "auto_all" ? qsTr("All agents") : qsTr("Chosen agents")
        }
        Item {
            id: chipCell
            implicitHeight: syncChip.implicitHeight
            Layout.preferredWidth: row.columnWidths.chip
            Layout.fillHeight: true
            SyncChip {
                id: syncChip
                width: parent.width
                anchors.verticalCenter: parent.verticalCenter
                chipState: row.chip
                text: row.chipText
                unverifiedCount: row.unverifiedCount
            }
        }
        Flow {
            Layout.preferredWidth: row.columnWidths.badges
            Layout.alignment: Qt.AlignVCenter
            spacing: 4
            Repeater {
                model: row.badges
                // CredentialSyncState::badges() lists "Integrity failure"
                // first when it applies, then "Unprotected".
                Badge {
                    required property int index
                    required property string modelData
                    text: modelData
                    severe: index === 0 && row.integrityFailure
                }
            }
            Text {
                visible: row.stalled
                text: qsTr("⏸ Stalled")
                color: Theme.warning
                font.bold: true
                font.pixelSize: Theme.smallFont + 1
            }
        }
        RowText {
            visible: !row.compact
            Layout.preferredWidth: row.columnWidths.lastChange
            text: Theme.formatTime(row.lastChange)
            color: Theme.textMuted
        }
    }
}
