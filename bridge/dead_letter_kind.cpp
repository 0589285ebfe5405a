#include "bridge/dead_letter_kind.h"

namespace kabar {
namespace {

struct KindName {
  DeadLetterKind kind;
  const char* name;
  std::string_view prefix;  // how message_parser.cpp's reason starts; empty: matched below
};

// In the order of docs/bridge.md "Dead letters".
constexpr std::array<KindName, kDeadLetterKinds> kKinds{{
    {DeadLetterKind::NoRoute, "no_route", "no route for topic "},
    {DeadLetterKind::BadChannel, "bad_channel", ""},  // "topic ... matches route ... but gives channel ..."
    {DeadLetterKind::Empty, "empty", "payload is empty"},
    {DeadLetterKind::TooLarge, "too_large", ""},  // "payload is N bytes, more than max_payload_bytes ..."
    {DeadLetterKind::TooDeep, "too_deep", "payload nests deeper than "},
    {DeadLetterKind::NotJson, "not_json", "payload is not JSON"},
    {DeadLetterKind::BadEnvelope, "bad_envelope", "envelope: "},
    {DeadLetterKind::NoEvent, "no_event", "no event name"},
    {DeadLetterKind::SchemaMismatch, "schema_mismatch", "data does not match schema "},
    {DeadLetterKind::SchemaMissing, "schema_missing", "schema '"},
    {DeadLetterKind::Other, "other", ""},
}};

}  // namespace

const char* dead_letter_kind_name(DeadLetterKind kind) {
  const auto index = static_cast<std::size_t>(kind);
  return index < kKinds.size() ? kKinds[index].name : "other";
}

DeadLetterKind dead_letter_kind(std::string_view reason) {
  for (const KindName& entry : kKinds) {
    if (!entry.prefix.empty() && reason.starts_with(entry.prefix)) return entry.kind;
  }
  if (reason.starts_with("topic ") &&
      reason.find("which is not a valid channel name") != std::string_view::npos)
    return DeadLetterKind::BadChannel;
  if (reason.starts_with("payload is ") &&
      reason.find("more than max_payload_bytes") != std::string_view::npos)
    return DeadLetterKind::TooLarge;
  return DeadLetterKind::Other;
}

}  // namespace kabar
