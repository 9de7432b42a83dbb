// Fuzz target of the /agent message parser: any frame either parses or fails
// with TOO_LARGE, INVALID_MESSAGE or UNKNOWN_TYPE, and a parsed message
// serialises to a frame that parses to the same message.
#include "fuzzsupport.h"
#include "messages.h"

#include <QByteArrayView>

#include <cstddef>
#include <cstdint>

using namespace sealrelay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView frame(reinterpret_cast<const char *>(data), qsizetype(size));

    const QString id = readMessageId(frame);
    const Result<AgentMessage> parsed = parseAgentMessage(frame);
    if (!parsed) {
        const Reason reason = parsed.error().reason;
        fuzz::check(reason == Reason::TooLarge || reason == Reason::InvalidMessage
                        || reason == Reason::UnknownType,
                    "a rejected frame is TOO_LARGE, INVALID_MESSAGE or UNKNOWN_TYPE");
        fuzz::check(!parsed.error().message.isEmpty(), "a rejection has a message");
        return 0;
    }
    fuzz::check(messageId(parsed.value()) == id, "readMessageId() returns the parsed id");

    const QByteArray serialized = serializeMessage(parsed.value());
    const Result<AgentMessage> reparsed = parseAgentMessage(serialized);
    if (!reparsed) {
        std::fprintf(stderr, "fuzz: reparse failed: %s\nserialized: %s\n",
                     qPrintable(reparsed.error().message), serialized.constData());
    }
    fuzz::check(reparsed.ok(), "a serialised message parses again");
    fuzz::check(messageType(reparsed.value()) == messageType(parsed.value()),
                "the reparsed message has the same type");
    fuzz::check(messageId(reparsed.value()) == messageId(parsed.value()),
                "the reparsed message has the same id");
    fuzz::check(serializeMessage(reparsed.value()) == serialized,
                "serialising the reparsed message gives the same frame");
    return 0;
}
