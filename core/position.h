#pragma once
// A position names one event in one store: "<epoch>:<seq>", or "<epoch>:<seq>:<anchor>" where the anchor
// is the id of the event at that seq. The epoch is a random id chosen when the store file is created, so a
// client holding a position from a wiped or replaced store is detected. seq is a store-wide sequence:
// strictly increasing across the whole log and therefore within every channel, which lets one cursor
// cover any set of channels (an SSE stream over several channels carries a single Last-Event-ID).
//
// seq means something only in the store that issued it; the anchor means the same on every node, because
// an event's id is the same on every node (the publisher's, or one derived from the message:
// bridge/event_id.h). A node that gets a position of another epoch resumes after the anchor's event in its
// own store (docs/architecture.md "Positions").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kabar {

struct Position {
  Position() = default;
  Position(std::string epoch_, std::int64_t seq_, std::string anchor_ = {})
      : epoch(std::move(epoch_)), seq(seq_), anchor(std::move(anchor_)) {}

  std::string epoch;
  std::int64_t seq = 0;
  std::string anchor;  // the id of the event at seq; empty when unknown

  std::string to_string() const {
    std::string text = epoch + ":" + std::to_string(seq);
    if (!anchor.empty()) text += ":" + anchor;
    return text;
  }
  bool operator==(const Position&) const = default;
};

// Parses "<epoch>:<seq>" or "<epoch>:<seq>:<anchor>" (the anchor an event id: 1-128 of [A-Za-z0-9._:-]);
// nullopt for anything malformed (empty epoch, non-digits, negative, overflow, a bad anchor).
std::optional<Position> parse_position(std::string_view text);

// Whether text is a valid event id (the envelope's rule, and so an anchor's).
bool is_event_id(std::string_view text);

}  // namespace kabar
