// The value of a field in a two-column detail grid.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Label {
    color: Theme.text
    wrapMode: Text.Wrap
    Layout.fillWidth: true
}
