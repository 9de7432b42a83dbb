// Heap buffer for key material and plaintext that is wiped with
// OPENSSL_cleanse when it is destroyed, cleared or moved from.
#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <cstddef>

namespace sealrelay {

class SecureBuffer {
public:
    SecureBuffer() = default;
    explicit SecureBuffer(qsizetype size);           // zero-filled
    explicit SecureBuffer(QByteArrayView bytes);     // copies
    ~SecureBuffer();

    SecureBuffer(SecureBuffer &&other) noexcept;
    SecureBuffer &operator=(SecureBuffer &&other) noexcept;
    SecureBuffer(const SecureBuffer &) = delete;
    SecureBuffer &operator=(const SecureBuffer &) = delete;

    unsigned char *data() { return m_data; }
    const unsigned char *data() const { return m_data; }
    qsizetype size() const { return m_size; }
    bool isEmpty() const { return m_size == 0; }

    // Shrinks the visible size without reallocating; wipes the cut-off tail.
    void truncate(qsizetype size);
    // Wipes and frees the buffer.
    void clear();

    QByteArrayView view() const
    {
        return QByteArrayView(reinterpret_cast<const char *>(m_data), m_size);
    }

private:
    unsigned char *m_data = nullptr;
    qsizetype m_size = 0;
};

} // namespace sealrelay
