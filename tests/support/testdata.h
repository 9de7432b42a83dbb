// Access to the files under tests/data for every suite.
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QString>

namespace sealrelay::test {

// Absolute path of `name` under tests/data.
QString dataPath(const QString &name);

// Contents of `name` under tests/data; fails the running test when missing.
QByteArray readDataFile(const QString &name);

// The parsed interop-vectors.json (produced with Web Crypto and Python
// `cryptography`).
QJsonObject interopVectors();

} // namespace sealrelay::test
