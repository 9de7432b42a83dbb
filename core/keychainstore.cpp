// QtKeychain jobs run in a local event loop with a timer, so a job that
// never finishes ends as a timeout error instead of a hang.
#include "keychainstore.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QTimer>
#include <qt6keychain/keychain.h>

#include <openssl/crypto.h>

#include <memory>

using namespace Qt::Literals::StringLiterals;

namespace sealrelay {

namespace {

struct JobOutcome {
    bool finished = false;
    QKeychain::Error error = QKeychain::NoError;
    QString errorString;
    SecureBuffer data;
};

// Starts `job` and waits for it at most `timeout`. A finished job is
// deleted here. A job that is still running is left to delete itself when
// it finishes, and its connection to this function's event loop ends with
// the loop, so a late finish touches nothing of ours.
std::shared_ptr<JobOutcome> runJob(QKeychain::Job *job, std::chrono::milliseconds timeout,
                                   bool readsData)
{
    auto outcome = std::make_shared<JobOutcome>();
    job->setAutoDelete(false);
    job->setInsecureFallback(false);

    QEventLoop loop;
    QObject::connect(job, &QKeychain::Job::finished, &loop,
                     [outcome, readsData, &loop](QKeychain::Job *finishedJob) {
                         outcome->finished = true;
                         outcome->error = finishedJob->error();
                         outcome->errorString = finishedJob->errorString();
                         if (readsData && outcome->error == QKeychain::NoError) {
                             auto *readJob = static_cast<QKeychain::ReadPasswordJob *>(finishedJob);
                             outcome->data = SecureBuffer(readJob->binaryData());
                         }
                         loop.quit();
                     });
    QTimer::singleShot(timeout, Qt::PreciseTimer, &loop, &QEventLoop::quit);
    job->start();
    if (!outcome->finished)
        loop.exec();

    if (outcome->finished)
        delete job;
    else
        job->setAutoDelete(true);
    return outcome;
}

Error unavailable(const QString &service, const QString &key, const QString &detail,
                  const QString &alternative)
{
    return makeError(Reason::IoError,
                     u"the OS keychain entry (service \"%1\", key \"%2\") is not usable: %3. A "
                     u"headless host needs a D-Bus session with a Secret Service such as "
                     u"gnome-keyring; %4"_s.arg(service, key, detail, alternative));
}

Error timedOut(const QString &service, const QString &key, std::chrono::milliseconds timeout,
               const QString &alternative)
{
    return unavailable(service, key,
                       u"the keychain did not answer within %1 ms"_s.arg(timeout.count()),
                       alternative);
}

Result<void> requireApplication(const QString &service, const QString &key,
                                const QString &alternative)
{
    if (!QCoreApplication::instance())
        return unavailable(service, key, u"no QCoreApplication is running"_s, alternative);
    return {};
}

} // namespace

KeychainStore::KeychainStore(QString service, QString alternative,
                             std::chrono::milliseconds timeout)
    : m_service(std::move(service))
    , m_alternative(std::move(alternative))
    , m_timeout(timeout)
{
}

Result<std::optional<SecureBuffer>> KeychainStore::read(const QString &key) const
{
    if (Result<void> ready = requireApplication(m_service, key, m_alternative); !ready)
        return ready.error();
    auto *job = new QKeychain::ReadPasswordJob(m_service);
    job->setKey(key);
    // NOTE: QtKeychain keeps its own copy of the secret in a QByteArray that
    // it frees without wiping; only the copy returned here is wiped.
    const std::shared_ptr<JobOutcome> outcome = runJob(job, m_timeout, true);
    if (!outcome->finished)
        return timedOut(m_service, key, m_timeout, m_alternative);
    if (outcome->error == QKeychain::EntryNotFound)
        return std::optional<SecureBuffer>();
    if (outcome->error != QKeychain::NoError)
        return unavailable(m_service, key, outcome->errorString, m_alternative);
    return std::optional<SecureBuffer>(std::move(outcome->data));
}

Result<void> KeychainStore::write(const QString &key, QByteArrayView secret) const
{
    if (Result<void> ready = requireApplication(m_service, key, m_alternative); !ready)
        return ready;
    auto *job = new QKeychain::WritePasswordJob(m_service);
    job->setKey(key);
    QByteArray data(secret.data(), secret.size());
    job->setBinaryData(data);
    const std::shared_ptr<JobOutcome> outcome = runJob(job, m_timeout, false);
    // A finished job has been deleted, so `data` holds the only reference to
    // the buffer and can be wiped. A timed-out job may still read it.
    if (outcome->finished && data.isDetached())
        OPENSSL_cleanse(data.data(), std::size_t(data.size()));
    if (!outcome->finished)
        return timedOut(m_service, key, m_timeout, m_alternative);
    if (outcome->error != QKeychain::NoError)
        return unavailable(m_service, key, outcome->errorString, m_alternative);
    return {};
}

Result<void> KeychainStore::remove(const QString &key) const
{
    if (Result<void> ready = requireApplication(m_service, key, m_alternative); !ready)
        return ready;
    auto *job = new QKeychain::DeletePasswordJob(m_service);
    job->setKey(key);
    const std::shared_ptr<JobOutcome> outcome = runJob(job, m_timeout, false);
    if (!outcome->finished)
        return timedOut(m_service, key, m_timeout, m_alternative);
    if (outcome->error != QKeychain::NoError && outcome->error != QKeychain::EntryNotFound)
        return unavailable(m_service, key, outcome->errorString, m_alternative);
    return {};
}

} // namespace sealrelay
