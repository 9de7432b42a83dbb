// Lease: acquisition, scheduled renewal and compare-and-delete release of one lock key.
#include "lease.h"

#include "logging.h"

#include <QRandomGenerator>

#include <algorithm>
#include <array>

using namespace Qt::Literals::StringLiterals;
using std::chrono::milliseconds;

namespace sealrelay::backend {

namespace {

// Retry delay after a renewal that failed in the store, while the TTL lasts.
constexpr milliseconds renewRetryDelay{1'000};

// 128 random bits, hex-encoded, so that two owners never share a token.
QByteArray newOwnerToken()
{
    std::array<quint32, 4> words{};
    QRandomGenerator::system()->fillRange(words.data(), words.size());
    return QByteArray(reinterpret_cast<const char *>(words.data()),
                      static_cast<qsizetype>(words.size() * sizeof(quint32)))
            .toHex();
}

} // namespace

Lease::Lease(CoordinationStore &store, QString key, LeaseOptions options, QObject *parent)
    : QObject(parent), m_store(&store), m_key(std::move(key)), m_options(std::move(options))
{
    if (!m_options.clock)
        m_options.clock = steadyClock();
    Q_ASSERT(m_options.renewInterval.count() > 0);
    Q_ASSERT(m_options.renewInterval < m_options.ttl);
    if (m_options.renewInterval.count() <= 0 || m_options.renewInterval >= m_options.ttl) {
        const milliseconds fallback = std::max(m_options.ttl / 3, milliseconds(1));
        logger("backend.coordination")
                ->warn("Lock {}: renew interval {} ms is invalid for TTL {} ms; using {} ms",
                       m_key.toStdString(), m_options.renewInterval.count(),
                       m_options.ttl.count(), fallback.count());
        m_options.renewInterval = fallback;
    }

    m_renewTimer.setSingleShot(true);
    m_renewTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_renewTimer, &QTimer::timeout, this, &Lease::renewIfDue);
}

Lease::~Lease()
{
    // A pending acquisition may still succeed in the store; the delete is
    // queued behind it, so it removes the key in that case too.
    if (m_store && (m_state == State::Held || m_state == State::Acquiring))
        m_store->compareAndDelete(m_key, m_token, nullptr, {});
}

void Lease::acquire()
{
    if (m_state != State::Idle || !m_store)
        return;

    ++m_generation;
    m_token = newOwnerToken();
    m_state = State::Acquiring;
    const quint64 generation = m_generation;
    const qint64 sentAt = m_options.clock();

    m_store->setIfAbsent(m_key, m_token, m_options.ttl, this,
                         [this, generation, sentAt](const Result<bool> &result) {
        if (generation != m_generation || m_state != State::Acquiring)
            return;
        if (!result) {
            logger("backend.coordination")
                    ->warn("Acquiring lock {} failed: {}", m_key.toStdString(),
                           result.error().message.toStdString());
            becomeIdle();
            Q_EMIT acquireFinished(false);
            return;
        }
        if (!result.value()) {
            becomeIdle();
            Q_EMIT acquireFinished(false);
            return;
        }
        // The key's TTL started no earlier than the request, so renewals are
        // timed from then.
        m_renewedAt = sentAt;
        m_state = State::Held;
        scheduleRenewal();
        Q_EMIT acquireFinished(true);
    });
}

void Lease::release()
{
    if (m_state != State::Held || !m_store)
        return;

    m_renewTimer.stop();
    m_state = State::Releasing;
    const quint64 generation = m_generation;
    m_store->compareAndDelete(m_key, m_token, this,
                              [this, generation](const Result<bool> &result) {
        if (generation != m_generation || m_state != State::Releasing)
            return;
        const bool deleted = result && result.value();
        if (!result) {
            logger("backend.coordination")
                    ->warn("Releasing lock {} failed: {}; it expires with its TTL",
                           m_key.toStdString(), result.error().message.toStdString());
        } else if (!deleted) {
            logger("backend.coordination")
                    ->info("Lock {} had expired or passed to another owner before release",
                           m_key.toStdString());
        }
        becomeIdle();
        Q_EMIT released(deleted);
    });
}

void Lease::renewIfDue()
{
    if (m_state != State::Held || m_renewing || !m_store)
        return;

    const qint64 now = m_options.clock();
    if (now - m_renewedAt < m_options.renewInterval.count()) {
        scheduleRenewal();
        return;
    }

    m_renewing = true;
    const quint64 generation = m_generation;
    m_store->compareAndRenew(m_key, m_token, m_options.ttl, this,
                             [this, generation, now](const Result<bool> &result) {
        handleRenewal(result, generation, now);
    });
}

void Lease::handleRenewal(const Result<bool> &result, quint64 generation, qint64 sentAt)
{
    if (generation != m_generation || m_state != State::Held)
        return;
    m_renewing = false;

    if (!result) {
        const qint64 heldFor = m_options.clock() - m_renewedAt;
        logger("backend.coordination")
                ->warn("Renewing lock {} failed: {}", m_key.toStdString(),
                       result.error().message.toStdString());
        if (heldFor >= m_options.ttl.count()) {
            becomeIdle();
            Q_EMIT lost();
            return;
        }
        m_renewTimer.start(renewRetryDelay);
        return;
    }

    if (!result.value()) {
        logger("backend.coordination")
                ->warn("Lock {} was lost: the key expired or another owner holds it",
                       m_key.toStdString());
        becomeIdle();
        Q_EMIT lost();
        return;
    }

    m_renewedAt = sentAt;
    scheduleRenewal();
}

void Lease::scheduleRenewal()
{
    const qint64 elapsed = m_options.clock() - m_renewedAt;
    const qint64 remaining = std::max<qint64>(m_options.renewInterval.count() - elapsed, 0);
    m_renewTimer.start(milliseconds(remaining));
}

void Lease::becomeIdle()
{
    m_renewTimer.stop();
    m_renewing = false;
    m_state = State::Idle;
}

} // namespace sealrelay::backend
