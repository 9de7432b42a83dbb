// Logging set-up shared by every process: one spdlog logger per component
// ("backend.dispatch", "agent.vault", "console.net", ...), all writing to the
// same sinks, with Qt's own messages routed into a "qt" logger.
#pragma once

#include <QString>

#include <spdlog/logger.h>

#include <memory>
#include <optional>

namespace sealrelay {

struct LoggingOptions {
    // trace, debug, info, warn, error, critical or off. Empty: the value of
    // SEALRELAY_LOG_LEVEL, or info when that is unset too.
    QString level;
    // Rotating file sink in addition to stderr; empty for none.
    QString filePath;
    qsizetype maxFileBytes = 10 * 1024 * 1024;
    int maxFiles = 5;
};

// Installs the sinks, the level and the Qt message handler. Call once from
// main() before any logger is used; later calls replace the sinks.
void setupLogging(const LoggingOptions &options = {});

// Returns the logger of `component`, creating it on first use with the
// shared sinks and level.
std::shared_ptr<spdlog::logger> logger(const char *component);

// Parses a level name; std::nullopt for an unknown name.
std::optional<spdlog::level::level_enum> parseLogLevel(QStringView name);

} // namespace sealrelay
