// Colours, sizes and formatting helpers shared by every view. `dark` starts
// from the system palette and the top bar's toggle flips it.
pragma Singleton
import QtQuick

QtObject {
    id: theme

    property SystemPalette systemPalette: SystemPalette { colorGroup: SystemPalette.Active }
    property bool dark: systemPalette.window.hslLightness < 0.5

    // Surfaces and text.
    readonly property color window: dark ? "#1e2023" : "#f6f7f9"
    readonly property color surface: dark ? "#26292d" : "#ffffff"
    readonly property color surfaceAlt: dark ? "#2d3035" : "#f0f2f5"
    readonly property color border: dark ? "#3b3f45" : "#d9dde3"
    readonly property color text: dark ? "#e6e8eb" : "#1d2126"
    readonly property color textMuted: dark ? "#a0a6ae" : "#5d6570"
    readonly property color selection: dark ? "#2f4a6b" : "#dbe8f7"
    readonly property color highlight: dark ? "#4c8fd6" : "#2f6fb8"
    readonly property color flash: dark ? "#4a4630" : "#fff3c4"

    // Meanings. Each one also comes with a symbol and words wherever it shows.
    readonly property color ok: dark ? "#5cb677" : "#2e7d45"
    readonly property color warning: dark ? "#e0a43a" : "#a86400"
    readonly property color info: dark ? "#6aa7e8" : "#2463a8"
    readonly property color critical: dark ? "#ef6b6b" : "#c02c2c"
    readonly property color neutral: dark ? "#9aa0a8" : "#6b7280"

    readonly property int spacing: 8
    readonly property int rowHeight: 36
    readonly property int radius: 4
    readonly property int smallFont: 11

    // Returns the colour of an alert severity (critical, high, medium).
    function severityColor(severity) {
        if (severity === "critical")
            return critical
        if (severity === "high")
            return warning
        if (severity === "medium")
            return info
        return neutral
    }

    // Returns the symbol shown with an alert severity.
    function severitySymbol(severity) {
        if (severity === "critical")
            return "⛔"
        if (severity === "high")
            return "▲"
        return "●"
    }

    // Returns the translated word of an alert severity.
    function severityText(severity) {
        if (severity === "critical")
            return qsTr("Critical")
        if (severity === "high")
            return qsTr("High")
        if (severity === "medium")
            return qsTr("Medium")
        return severity
    }

    // True for a JavaScript Date with a valid time. An invalid QDateTime
    // arrives as an invalid Date and an absent role as undefined.
    function isValidTime(time) {
        return time !== undefined && time !== null && time instanceof Date && !isNaN(time.getTime())
    }

    // Formats a time as "HH:mm:ss" for today and "yyyy-MM-dd HH:mm" otherwise,
    // or returns `fallback` ("—" by default) for an invalid time.
    function formatTime(time, fallback) {
        if (!isValidTime(time))
            return fallback === undefined ? "—" : fallback
        const now = new Date()
        if (time.toDateString() === now.toDateString())
            return Qt.formatDateTime(time, "HH:mm:ss")
        return Qt.formatDateTime(time, "yyyy-MM-dd HH:mm")
    }

    // Formats a time as "yyyy-MM-dd HH:mm" whatever the day, or returns
    // `fallback` for an invalid time.
    function formatDate(time, fallback) {
        if (!isValidTime(time))
            return fallback === undefined ? "—" : fallback
        return Qt.formatDateTime(time, "yyyy-MM-dd HH:mm")
    }
}
