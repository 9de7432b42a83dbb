// The frame of every dialog: the surface colour with a border.
import QtQuick

Rectangle {
    color: Theme.surface
    border.color: Theme.border
    radius: 6
}
