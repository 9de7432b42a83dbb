// Logging set-up: one logger per component, Qt messages routed into spdlog,
// the level taken from options or SEALRELAY_LOG_LEVEL.
#include "logging.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace sealrelay;

class TestLogging : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void loggerIsSharedPerComponent();
    void levelFromEnvironment();
    void levelFromOptionsWins();
    void unknownLevelFallsBackToInfo();
    void qtMessagesReachFileSink();
    void parseLogLevelNames_data();
    void parseLogLevelNames();
};

void TestLogging::loggerIsSharedPerComponent()
{
    const auto first = logger("test.component");
    const auto second = logger("test.component");
    const auto other = logger("test.other");
    QCOMPARE(first.get(), second.get());
    QVERIFY(first.get() != other.get());
    QCOMPARE(QString::fromStdString(first->name()), QStringLiteral("test.component"));
}

void TestLogging::levelFromEnvironment()
{
    qputenv("SEALRELAY_LOG_LEVEL", "error");
    setupLogging();
    QCOMPARE(logger("test.environment")->level(), spdlog::level::err);
    // Loggers made before the set-up follow the new level too.
    QCOMPARE(logger("test.component")->level(), spdlog::level::err);
    qunsetenv("SEALRELAY_LOG_LEVEL");
}

void TestLogging::levelFromOptionsWins()
{
    qputenv("SEALRELAY_LOG_LEVEL", "error");
    LoggingOptions options;
    options.level = QStringLiteral("debug");
    setupLogging(options);
    QCOMPARE(logger("test.options")->level(), spdlog::level::debug);
    qunsetenv("SEALRELAY_LOG_LEVEL");
}

void TestLogging::unknownLevelFallsBackToInfo()
{
    LoggingOptions options;
    options.level = QStringLiteral("verbose");
    setupLogging(options);
    QCOMPARE(logger("test.unknown")->level(), spdlog::level::info);
}

void TestLogging::qtMessagesReachFileSink()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    LoggingOptions options;
    options.level = QStringLiteral("info");
    options.filePath = dir.filePath(QStringLiteral("sealrelay.log"));
    setupLogging(options);

    qWarning("routed warning %d", 42);
    logger("test.file")->warn("component line");
    logger("test.file")->flush();
    logger("qt")->flush();

    QFile file(options.filePath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray contents = file.readAll();
    QVERIFY(contents.contains("qt: [default] routed warning 42"));
    QVERIFY(contents.contains("test.file: component line"));

    setupLogging();   // closes the file before the directory is removed
}

void TestLogging::parseLogLevelNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("level");
    QTest::newRow("trace") << QStringLiteral("trace") << int(spdlog::level::trace);
    QTest::newRow("debug") << QStringLiteral("DEBUG") << int(spdlog::level::debug);
    QTest::newRow("warning") << QStringLiteral("warning") << int(spdlog::level::warn);
    QTest::newRow("error") << QStringLiteral("error") << int(spdlog::level::err);
    QTest::newRow("critical") << QStringLiteral("critical") << int(spdlog::level::critical);
    QTest::newRow("off") << QStringLiteral("off") << int(spdlog::level::off);
}

void TestLogging::parseLogLevelNames()
{
    QFETCH(QString, name);
    QFETCH(int, level);
    const auto parsed = parseLogLevel(name);
    QVERIFY(parsed.has_value());
    QCOMPARE(int(*parsed), level);
    QVERIFY(!parseLogLevel(u"loud").has_value());
}

QTEST_GUILESS_MAIN(TestLogging)
#include "tst_logging.moc"
