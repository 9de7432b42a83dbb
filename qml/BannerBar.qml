// The banner under the top bar for conditions that affect every view: the
// session's banner (backend unreachable, coordination degraded, clock skew)
// and a countdown while the event feed reconnects.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Sealrelay.Backend

ColumnLayout {
    id: bannerBar

    spacing: 0
    // A nested layout fills by default; the banner takes only its lines' height.
    Layout.fillHeight: false

    BannerLine {
        Layout.fillWidth: true
        visible: Session.banner.length > 0
        severity: Session.bannerSeverity
        text: Session.banner
    }
    BannerLine {
        Layout.fillWidth: true
        visible: Session.connection === "reconnecting"
        severity: "warning"
        //: Shown while the live event feed is down; the number counts down.
        text: qsTr("Reconnecting in %n s: the views show the state of the last event.", "",
                   Session.reconnectSeconds)
    }
}
