// The name of a field in a two-column form or detail grid.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Label {
    color: Theme.textMuted
    Layout.alignment: Qt.AlignTop
}
