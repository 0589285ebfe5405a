#pragma once
// Frame: one stored event, encoded once per transport and shared (read-only) by every session that
// delivers it. Replayed and live events use the same encoding, so a client cannot tell them apart.
#include <cstdint>
#include <memory>
#include <string>

#include "gateway/store/event_store.h"

namespace kabar {

struct Frame {
  std::int64_t seq = 0;
  std::string channel;
  std::string socket_id;  // publisher's socket to exclude (Pusher toOthers); empty for none
  std::string json;       // the protocol.md "event" object: a /ws text frame
  std::string sse;        // "id: <position>\ndata: <json>\n\n"
};
using FramePtr = std::shared_ptr<const Frame>;

FramePtr encode_frame(const StoredEvent& event, const std::string& epoch);

// JSON string literal (with quotes) for arbitrary text: escapes quotes, backslashes, control characters.
std::string json_quote(const std::string& text);
// Wraps a JSON object as one SSE message, with an optional id line.
std::string sse_message(const std::string& json, const std::string& id = {});

}  // namespace kabar
