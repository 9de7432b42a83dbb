// The title line of every dialog.
import QtQuick
import QtQuick.Controls

Label {
    padding: 16
    bottomPadding: 4
    font.bold: true
    font.pixelSize: 16
    color: Theme.text
    elide: Text.ElideRight
}
