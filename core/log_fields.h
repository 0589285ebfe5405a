#pragma once
// A log line with named fields (`sub`, `door`, `channel`, `reason`...), so a collector can filter on them
// instead of parsing sentences (docs/operations.md "Metrics, alerts and logs"). Every part logs through
// spdlog's default logger, which carries one string; the fields ride in it after the message, each as
// a unit separator (0x1F), the key, '=' and the value. The formatter the app installs
// (gateway/app/logging.cpp) turns them into members of the JSON line (log.format=json) or into
// `key=value` after the message (text). Without that formatter they show as the separators they are.
//
//   spdlog::info(with_fields("token refused", {{"door", door}, {"reason", code}}));
#include <initializer_list>
#include <string>
#include <string_view>

namespace kabar {

inline constexpr char kLogFieldMark = '\x1f';

struct LogField {
  std::string_view key;    // a JSON member name: letters, digits, '_'
  std::string_view value;  // any text; an empty value leaves the field out
};

inline std::string with_fields(std::string_view message, std::initializer_list<LogField> fields) {
  std::string out(message);
  for (const LogField& field : fields) {
    if (field.value.empty()) continue;
    out += kLogFieldMark;
    out += field.key;
    out += '=';
    // The mark separates fields, so it cannot be part of a value (nothing sane sends it anyway).
    for (const char c : field.value) out += c == kLogFieldMark ? ' ' : c;
  }
  return out;
}

}  // namespace kabar
