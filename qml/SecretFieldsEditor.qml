// Key/value rows for the fields of a secret (e.g. username, password). Values
// are typed with password echo; `fields()` returns them as a map of strings,
// and `clear()` drops every typed value.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ColumnLayout {
    id: editor

    // Whether every row has a key, no key repeats and at least one value exists.
    readonly property bool valid: {
        const keys = []
        let anyValue = false
        for (let i = 0; i < rows.count; ++i) {
            const row = rows.itemAt(i)
            if (!row)
                continue
            const key = row.keyText.trim()
            if (key.length === 0 || keys.indexOf(key) >= 0)
                return false
            keys.push(key)
            if (row.valueText.length > 0)
                anyValue = true
        }
        return keys.length > 0 && anyValue
    }

    function fields() {
        const result = {}
        for (let i = 0; i < rows.count; ++i) {
            const row = rows.itemAt(i)
            if (row && row.keyText.trim().length > 0)
                result[row.keyText.trim()] = row.valueText
        }
        return result
    }

    // Resets to the two default rows with empty values. The rows are reset in
    // place, because clearing the model while the dialog opens left the
    // layout with a missing row.
    function clear() {
        while (keysModel.count > 2)
            keysModel.remove(keysModel.count - 1)
        while (keysModel.count < 2)
            keysModel.append({ "initialKey": "" })
        const defaults = ["username", "password"]
        for (let i = 0; i < rows.count; ++i) {
            const row = rows.itemAt(i)
            if (row) {
                row.keyText = defaults[i]
                row.valueText = ""
            }
        }
    }

    spacing: 4

    ListModel {
        id: keysModel
        ListElement { initialKey: "username" }
        ListElement { initialKey: "password" }
    }

    Repeater {
        id: rows
        model: keysModel

        RowLayout {
            id: fieldRow
            required property int index
            required property string initialKey
            property alias keyText: keyField.text
            property alias valueText: valueField.text

            Layout.fillWidth: true
            spacing: 6

            TextField {
                id: keyField
                Layout.preferredWidth: 140
                text: fieldRow.initialKey
                placeholderText: qsTr("Field name")
                selectByMouse: true
                Accessible.name: qsTr("Name of secret field %1").arg(fieldRow.index + 1)
            }
            TextField {
                id: valueField
                Layout.fillWidth: true
                echoMode: showBox.checked ? TextInput.Normal : TextInput.Password
                placeholderText: qsTr("Value")
                inputMethodHints: Qt.ImhSensitiveData | Qt.ImhNoPredictiveText
                Accessible.name: qsTr("Value of secret field %1").arg(keyField.text)
            }
            ToolButton {
                text: "−"
                enabled: rows.count > 1
                onClicked: keysModel.remove(fieldRow.index)
                Accessible.name: qsTr("Remove field %1").arg(keyField.text)
            }
        }
    }

    RowLayout {
        Button {
            text: qsTr("Add field")
            flat: true
            onClicked: keysModel.append({ "initialKey": "" })
        }
        Item { Layout.fillWidth: true }
        CheckBox {
            id: showBox
            text: qsTr("Show values")
        }
    }
}
