// The system view: backend version, coordination backend and whether it is
// degraded, the replicas, and a summary of the backend's metrics.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

Item {
    id: view

    property bool active: false
    readonly property var system: Session.system
    readonly property var replicas: system.replicas !== undefined ? system.replicas : []
    readonly property var metrics: system.metrics !== undefined ? system.metrics : ({})

    // Returns one replica as text, whether the session lists ids or objects.
    function replicaText(replica) {
        if (typeof replica !== "object" || replica === null)
            return String(replica)
        const parts = []
        for (const key in replica)
            parts.push(key.replace(/_/g, " ") + " " + replica[key])
        return parts.join(" · ")
    }

    onActiveChanged: {
        if (active)
            Session.refreshSystem()
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 12

        RowLayout {
            Layout.fillWidth: true
            spacing: 12

            Label {
                text: qsTr("System")
                font.pixelSize: 20
                font.bold: true
                color: Theme.text
            }
            Label {
                text: Theme.isValidTime(view.system.checkedAt)
                      ? qsTr("checked %1").arg(Theme.formatTime(view.system.checkedAt)) : ""
                color: Theme.textMuted
            }
            Item { Layout.fillWidth: true }
            Button {
                text: qsTr("Refresh")
                enabled: !Session.busy
                onClicked: Session.refreshSystem()
            }
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: 12

            // Backend and coordination.
            Rectangle {
                Layout.fillWidth: true
                Layout.preferredWidth: 1
                Layout.alignment: Qt.AlignTop
                implicitHeight: backendGrid.implicitHeight + 32
                color: Theme.surface
                border.color: Theme.border
                radius: Theme.radius

                GridLayout {
                    id: backendGrid
                    anchors.fill: parent
                    anchors.margins: 16
                    columns: 2
                    columnSpacing: 16
                    rowSpacing: 6

                    Label {
                        Layout.columnSpan: 2
                        text: qsTr("Backend")
                        font.bold: true
                        color: Theme.text
                    }
                    FieldLabel { text: qsTr("Address") }
                    FieldValue { text: Session.backendUrl }
                    FieldLabel { text: qsTr("Version") }
                    FieldValue { text: view.system.backendVersion || qsTr("unknown") }
                    FieldLabel { text: qsTr("Replica answering") }
                    FieldValue {
                        text: view.system.replicaId || qsTr("unknown")
                        font.family: "monospace"
                    }
                    FieldLabel { text: qsTr("Coordination") }
                    FieldValue {
                        text: view.system.degraded
                              ? qsTr("⚠ %1, degraded: replicas coordinate through the fallback store").arg(view.system.coordination || qsTr("unknown"))
                              : qsTr("✓ %1").arg(view.system.coordination || qsTr("unknown"))
                        color: view.system.degraded ? Theme.warning : Theme.ok
                        font.bold: true
                    }
                    FieldLabel { text: qsTr("Event feed") }
                    FieldValue {
                        text: Session.connection === "live" ? qsTr("● Live")
                            : Session.connection === "reconnecting" ? qsTr("◐ Reconnecting")
                            : qsTr("○ Offline")
                    }
                }
            }

            // Replicas.
            Rectangle {
                Layout.fillWidth: true
                Layout.preferredWidth: 1
                Layout.alignment: Qt.AlignTop
                implicitHeight: replicaColumn.implicitHeight + 32
                color: Theme.surface
                border.color: Theme.border
                radius: Theme.radius

                ColumnLayout {
                    id: replicaColumn
                    anchors.fill: parent
                    anchors.margins: 16
                    spacing: 6

                    Label {
                        text: qsTr("Replicas (%1)").arg(view.replicas.length)
                        font.bold: true
                        color: Theme.text
                    }
                    Label {
                        visible: view.replicas.length === 0
                        text: qsTr("No replica listed.")
                        color: Theme.textMuted
                    }
                    Repeater {
                        model: view.replicas
                        Label {
                            required property var modelData
                            Layout.fillWidth: true
                            text: "● " + view.replicaText(modelData)
                            color: Theme.text
                            wrapMode: Text.Wrap
                        }
                    }
                }
            }
        }

        // Metrics summary.
        Rectangle {
            Layout.fillWidth: true
            implicitHeight: metricsFlow.implicitHeight + 56
            color: Theme.surface
            border.color: Theme.border
            radius: Theme.radius

            Label {
                id: metricsTitle
                anchors.left: parent.left
                anchors.top: parent.top
                anchors.margins: 16
                text: qsTr("Metrics")
                font.bold: true
                color: Theme.text
            }

            Flow {
                id: metricsFlow
                anchors.left: parent.left
                anchors.right: parent.right
                anchors.top: metricsTitle.bottom
                anchors.margins: 16
                spacing: 12

                Repeater {
                    model: Object.keys(view.metrics).sort()
                    Rectangle {
                        required property string modelData
                        width: 220
                        height: 64
                        radius: Theme.radius
                        color: Theme.surfaceAlt

                        Column {
                            anchors.fill: parent
                            anchors.margins: 10
                            spacing: 2
                            Label {
                                text: String(view.metrics[parent.parent.modelData])
                                font.pixelSize: 20
                                font.bold: true
                                color: Theme.text
                            }
                            Label {
                                width: parent.width
                                // "alertsRaised" and "alerts_raised" both read "alerts raised".
                                text: parent.parent.modelData.replace(/_/g, " ")
                                          .replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase()
                                color: Theme.textMuted
                                font.pixelSize: Theme.smallFont
                                elide: Text.ElideRight
                            }
                        }
                    }
                }
                Label {
                    visible: Object.keys(view.metrics).length === 0
                    text: qsTr("No metrics yet: press Refresh.")
                    color: Theme.textMuted
                }
            }
        }

        Item { Layout.fillHeight: true }
    }
}
