// Shared by the fuzz targets: the interop vectors they take keys from, and a
// check that aborts, so libFuzzer keeps the input that broke an invariant.
#pragma once

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>
#include <cstdlib>

namespace sealrelay::fuzz {

// The parsed tests/data/interop-vectors.json; aborts when it cannot be read,
// because every run after that would test nothing.
inline const QJsonObject &interopVectors()
{
    static const QJsonObject vectors = [] {
        QFile file(QStringLiteral(SEALRELAY_FUZZ_VECTORS_FILE));
        if (!file.open(QIODevice::ReadOnly)) {
            std::fprintf(stderr, "fuzz: cannot open %s\n", SEALRELAY_FUZZ_VECTORS_FILE);
            std::abort();
        }
        return QJsonDocument::fromJson(file.readAll()).object();
    }();
    return vectors;
}

// Aborts with `invariant` on stderr when `holds` is false.
inline void check(bool holds, const char *invariant)
{
    if (!holds) {
        std::fprintf(stderr, "fuzz: invariant broken: %s\n", invariant);
        std::abort();
    }
}

} // namespace sealrelay::fuzz
