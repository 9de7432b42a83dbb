// One column title of a list's header row.
import QtQuick
import QtQuick.Controls

Label {
    color: Theme.textMuted
    font.pixelSize: Theme.smallFont
    font.bold: true
    font.capitalization: Font.AllUppercase
    elide: Text.ElideRight
}
