// SecureBuffer: heap memory for key material and plaintext that is wiped with
// OPENSSL_cleanse before it is freed, cut off or handed to another buffer.
#include "securebuffer.h"

#include <openssl/crypto.h>

#include <cstring>
#include <new>
#include <utility>

namespace sealrelay {

namespace {

unsigned char *allocateZeroed(qsizetype size)
{
    if (size <= 0)
        return nullptr;
    auto *data = new unsigned char[size_t(size)];
    std::memset(data, 0, size_t(size));
    return data;
}

// Wipes the visible `size` bytes and frees the allocation. Bytes past `size`
// were already wiped by truncate().
void wipeAndFree(unsigned char *data, qsizetype size)
{
    if (!data)
        return;
    OPENSSL_cleanse(data, size_t(size));
    delete[] data;
}

} // namespace

SecureBuffer::SecureBuffer(qsizetype size)
    : m_data(allocateZeroed(size))
    , m_size(size > 0 ? size : 0)
{
}

SecureBuffer::SecureBuffer(QByteArrayView bytes)
    : m_data(allocateZeroed(bytes.size()))
    , m_size(bytes.size())
{
    if (m_size > 0)
        std::memcpy(m_data, bytes.data(), size_t(m_size));
}

SecureBuffer::~SecureBuffer()
{
    clear();
}

// Moving hands the allocation over, so the moved-from buffer keeps no copy.
SecureBuffer::SecureBuffer(SecureBuffer &&other) noexcept
    : m_data(std::exchange(other.m_data, nullptr))
    , m_size(std::exchange(other.m_size, 0))
{
}

SecureBuffer &SecureBuffer::operator=(SecureBuffer &&other) noexcept
{
    if (this != &other) {
        clear();
        m_data = std::exchange(other.m_data, nullptr);
        m_size = std::exchange(other.m_size, 0);
    }
    return *this;
}

void SecureBuffer::truncate(qsizetype size)
{
    if (size < 0)
        size = 0;
    if (size >= m_size)
        return;
    OPENSSL_cleanse(m_data + size, size_t(m_size - size));
    m_size = size;
}

void SecureBuffer::clear()
{
    wipeAndFree(m_data, m_size);
    m_data = nullptr;
    m_size = 0;
}

} // namespace sealrelay
