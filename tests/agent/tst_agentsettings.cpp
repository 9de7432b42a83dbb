// AgentSettings as `sealrelay-agent` resolves them when no config file,
// environment variable or option sets anything: the connection, liveness and
// `get` defaults of the protocol.
#include "agentsettings.h"

#include <QCommandLineParser>
#include <QTest>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;

class TestAgentSettings : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void defaultsMatchProtocol();
};

void TestAgentSettings::defaultsMatchProtocol()
{
    QCommandLineParser parser;
    addAgentSettingOptions(parser);
    QVERIFY2(parser.parse({ u"sealrelay-agent"_s }), qPrintable(parser.errorText()));
    Result<AgentSettings> settings = resolveAgentSettings(parser, {});
    QVERIFY2(settings.ok(), settings.ok() ? "" : qPrintable(settings.error().message));

    // Reconnects back off with jitter from 1 s up to 60 s.
    QCOMPARE(settings->reconnectMinMs, qint64(1000));
    QCOMPARE(settings->reconnectMaxMs, qint64(60'000));
    // A path silent for 45 s is dropped; pings every 15 s keep a live one busy.
    QCOMPARE(settings->silenceTimeoutMs, qint64(45'000));
    QCOMPARE(settings->pingIntervalMs, qint64(15'000));
    // `get` waits at most 15 s for a missing credential to be repaired.
    QCOMPARE(settings->missingWaitMs, qint64(15'000));
    QCOMPARE(settings->socketGroup, QString());
}

QTEST_GUILESS_MAIN(TestAgentSettings)
#include "tst_agentsettings.moc"
