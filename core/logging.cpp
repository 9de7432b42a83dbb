#include "logging.h"

#include <QtGlobal>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <vector>

namespace sealrelay {

namespace {

struct LoggingState {
    std::mutex mutex;
    std::vector<spdlog::sink_ptr> sinks;
    spdlog::level::level_enum level = spdlog::level::info;
};

LoggingState &state()
{
    static LoggingState instance;
    return instance;
}

std::vector<spdlog::sink_ptr> defaultSinks()
{
    return {std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
}

void routeQtMessage(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    static const auto qtLogger = logger("qt");
    const std::string text = message.toStdString();
    const char *category = context.category ? context.category : "default";
    switch (type) {
    case QtDebugMsg:
        qtLogger->debug("[{}] {}", category, text);
        break;
    case QtInfoMsg:
        qtLogger->info("[{}] {}", category, text);
        break;
    case QtWarningMsg:
        qtLogger->warn("[{}] {}", category, text);
        break;
    case QtCriticalMsg:
        qtLogger->error("[{}] {}", category, text);
        break;
    case QtFatalMsg:
        qtLogger->critical("[{}] {}", category, text);
        qtLogger->flush();
        break;
    }
}

} // namespace

std::optional<spdlog::level::level_enum> parseLogLevel(QStringView name)
{
    const QString lowered = name.toString().toLower();
    if (lowered == u"trace")
        return spdlog::level::trace;
    if (lowered == u"debug")
        return spdlog::level::debug;
    if (lowered == u"info")
        return spdlog::level::info;
    if (lowered == u"warn" || lowered == u"warning")
        return spdlog::level::warn;
    if (lowered == u"error")
        return spdlog::level::err;
    if (lowered == u"critical")
        return spdlog::level::critical;
    if (lowered == u"off")
        return spdlog::level::off;
    return std::nullopt;
}

void setupLogging(const LoggingOptions &options)
{
    QString levelName = options.level;
    if (levelName.isEmpty())
        levelName = qEnvironmentVariable("SEALRELAY_LOG_LEVEL");

    std::vector<spdlog::sink_ptr> sinks = defaultSinks();
    if (!options.filePath.isEmpty()) {
        sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
            options.filePath.toStdString(), static_cast<std::size_t>(options.maxFileBytes),
            static_cast<std::size_t>(options.maxFiles)));
    }

    const auto parsedLevel = levelName.isEmpty() ? std::optional(spdlog::level::info)
                                                 : parseLogLevel(levelName);
    {
        std::lock_guard lock(state().mutex);
        state().sinks = sinks;
        state().level = parsedLevel.value_or(spdlog::level::info);
    }

    // Loggers created before this call get the new sinks and level too.
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger> &existing) {
        existing->sinks() = sinks;
        existing->set_level(parsedLevel.value_or(spdlog::level::info));
    });
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-8l%$ %n: %v", spdlog::pattern_time_type::utc);
    spdlog::flush_on(spdlog::level::warn);
    qInstallMessageHandler(routeQtMessage);

    if (!parsedLevel)
        logger("logging")->warn("unknown log level '{}'; using info (valid: trace, debug, info, "
                                "warn, error, critical, off)",
                                levelName.toStdString());
}

std::shared_ptr<spdlog::logger> logger(const char *component)
{
    if (auto existing = spdlog::get(component))
        return existing;

    std::lock_guard lock(state().mutex);
    if (state().sinks.empty())
        state().sinks = defaultSinks();
    auto created = std::make_shared<spdlog::logger>(component, state().sinks.begin(),
                                                    state().sinks.end());
    created->set_level(state().level);
    created->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-8l%$ %n: %v", spdlog::pattern_time_type::utc);
    // Another thread may have registered the same name meanwhile.
    if (auto raced = spdlog::get(component))
        return raced;
    spdlog::register_logger(created);
    return created;
}

} // namespace sealrelay
