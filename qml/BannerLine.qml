// One line of the banner: a symbol, the severity word and the sentence.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: bannerLine

    // critical, warning or info.
    property string severity: "info"
    property string text: ""

    readonly property color tone: severity === "critical" ? Theme.critical
                                : severity === "warning" ? Theme.warning : Theme.info

    implicitHeight: row.implicitHeight + 14
    color: Qt.rgba(tone.r, tone.g, tone.b, Theme.dark ? 0.25 : 0.13)

    Rectangle {
        width: 4
        height: parent.height
        color: bannerLine.tone
    }

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.leftMargin: 16
        anchors.rightMargin: 16
        spacing: Theme.spacing

        Label {
            text: bannerLine.severity === "critical" ? qsTr("⛔ Critical")
                : bannerLine.severity === "warning" ? qsTr("⚠ Warning") : qsTr("ℹ Note")
            color: bannerLine.tone
            font.bold: true
        }
        Label {
            text: bannerLine.text
            color: Theme.text
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
    }
}
