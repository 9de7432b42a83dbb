// Clean process shutdown on SIGTERM and SIGINT, shared by the backend and
// the agent.
#pragma once

#include <QObject>

class QSocketNotifier;

namespace sealrelay {

// Turns SIGTERM and SIGINT into a Qt signal through a self-pipe, so no work
// runs inside the signal handler. Create at most one.
class TerminationSignals : public QObject {
    Q_OBJECT

public:
    explicit TerminationSignals(QObject *parent = nullptr);
    ~TerminationSignals() override;

    bool isValid() const { return m_notifier != nullptr; }

Q_SIGNALS:
    void terminationRequested(int signalNumber);

private:
    void readSignal();

    QSocketNotifier *m_notifier = nullptr;
};

} // namespace sealrelay
