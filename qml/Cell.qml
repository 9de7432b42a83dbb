// One text cell of a list row.
import QtQuick
import QtQuick.Controls

Label {
    color: Theme.text
    elide: Text.ElideRight
    verticalAlignment: Text.AlignVCenter
}
