#pragma once
// A dead letter's reason as one of a few codes, for the `reason` label of kabar_dead_letters_by_reason_total
// and the `reason` field of its log line: the reason text itself names topics and schema paths, too many
// values for a label. The table is docs/bridge.md "Dead letters".
#include <array>
#include <cstddef>
#include <string_view>

namespace kabar {

enum class DeadLetterKind : std::size_t {
  NoRoute,
  BadChannel,
  Empty,
  TooLarge,
  TooDeep,
  NotJson,
  BadEnvelope,
  NoEvent,
  SchemaMismatch,
  SchemaMissing,
  Other,
  kCount
};
inline constexpr std::size_t kDeadLetterKinds = static_cast<std::size_t>(DeadLetterKind::kCount);

// "no_route", "bad_channel", "empty", "too_large", "too_deep", "not_json", "bad_envelope", "no_event",
// "schema_mismatch", "schema_missing", "other".
const char* dead_letter_kind_name(DeadLetterKind kind);
// From the reason message_parser.cpp gave.
DeadLetterKind dead_letter_kind(std::string_view reason);

}  // namespace kabar
