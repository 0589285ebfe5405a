#pragma once
// StartPoint: where a subscription (or a page of /api/history) starts, as a client says it in `since`,
// Last-Event-ID or the Pusher door's `since` (docs/protocol.md). Pure, so every door and the fuzz target
// read the same text the same way.
#include <string>

#include "core/position.h"

namespace kabar {

struct StartPoint {
  // Live: only what comes after the subscription. Earliest: everything retained. Latest: the newest
  // stored event of each channel, then everything after it. After: everything after a position.
  // BadPosition: unreadable text, answered with a reset (bad_position), never an error.
  enum class Kind { Live, Earliest, Latest, After, BadPosition };
  Kind kind = Kind::Live;
  Position after;  // for Kind::After

  static StartPoint parse(const std::string& text);  // "", "earliest", "latest", "<epoch>:<seq>", or garbage
};

}  // namespace kabar
