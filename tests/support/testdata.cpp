#include "testdata.h"

#include <QFile>
#include <QJsonDocument>
#include <QTest>

namespace sealrelay::test {

QString dataPath(const QString &name)
{
    return QStringLiteral(SEALRELAY_TEST_DATA_DIR "/") + name;
}

QByteArray readDataFile(const QString &name)
{
    QFile file(dataPath(name));
    if (!file.open(QIODevice::ReadOnly)) {
        QTest::qFail(qPrintable(QStringLiteral("cannot open test data file %1: %2")
                                    .arg(file.fileName(), file.errorString())),
                     __FILE__, __LINE__);
        return {};
    }
    return file.readAll();
}

QJsonObject interopVectors()
{
    static const QJsonObject vectors =
        QJsonDocument::fromJson(readDataFile(QStringLiteral("interop-vectors.json"))).object();
    return vectors;
}

} // namespace sealrelay::test
