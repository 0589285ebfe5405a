#pragma once
// Where a JSON pointer sits in the text it was parsed from. Mistakes found after parsing (the schema, an
// unknown role, a bad pattern) know only the pointer, /rules/1/roles/0, but people fix a file by its
// lines; nlohmann::json keeps no positions, so this walks the text again, token by token of the pointer.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kabar::authz {

struct TextPosition {
  std::size_t line = 1;    // 1-based
  std::size_t column = 1;  // 1-based, in characters (UTF-8 code points), as editors count them

  bool operator==(const TextPosition&) const = default;
};

// The line and column of byte `offset` of `text` (an offset past the end counts as the end).
TextPosition position_at(std::string_view text, std::size_t offset);

struct PointerLocation {
  std::optional<TextPosition> position;  // set when the pointer names something in the text
  std::string problem;                   // otherwise why not, e.g. "/rules/4: no such element"

  explicit operator bool() const { return position.has_value(); }
};

// Finds what `pointer` (RFC 6901: "" for the whole document, "/rules/0/where/a~1b") names in `text`, a
// JSON document. An object member is found at its key, since `"cabng": {...}` is wrong at "cabng"; an
// array element at its first character. A key given twice is found where nlohmann::json takes its
// value from: the last time.
PointerLocation locate_pointer(std::string_view text, std::string_view pointer);

// Where nlohmann::json stops reading `text`: the place of a syntax error, or of a number too large for a
// double (which nlohmann reports without a place); nullopt when the whole text reads.
std::optional<TextPosition> unreadable_at(std::string_view text);

// A key as a pointer token: '~' -> "~0", '/' -> "~1".
std::string pointer_token(std::string_view key);

}  // namespace kabar::authz
