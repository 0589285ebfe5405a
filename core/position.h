#pragma once
// A position names one event in one store: "<epoch>:<seq>". The epoch is a random id chosen when the
// store file is created, so a client holding a position from a wiped or replaced store is detected and
// told to reset instead of silently missing events. seq is a store-wide sequence: strictly increasing
// across the whole log and therefore within every channel, which lets one cursor cover any set of
// channels (an SSE stream over several channels carries a single Last-Event-ID).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kabar {

struct Position {
  std::string epoch;
  std::int64_t seq = 0;

  std::string to_string() const { return epoch + ":" + std::to_string(seq); }
  bool operator==(const Position&) const = default;
};

// Parses "<epoch>:<seq>"; nullopt for anything malformed (empty epoch, non-digits, negative, overflow).
std::optional<Position> parse_position(std::string_view text);

}  // namespace kabar
