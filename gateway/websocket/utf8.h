#pragma once
// UTF-8 validation for WebSocket text (RFC 6455 8.1: a text message that is not UTF-8 fails the
// connection with 1007). Text messages arrive in fragments and fragments in pieces, and a sequence may be
// cut anywhere, so the validator is incremental: it keeps the state of an unfinished sequence between
// feed() calls and reports an invalid byte as soon as it is seen, not when the message ends.
#include <cstdint>
#include <string_view>

namespace kabar::websocket {

// Incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). One byte
// of state, so it costs nothing in the per-connection MessageReader.
class Utf8Validator {
 public:
  bool feed(std::string_view bytes);  // false as soon as the bytes so far cannot be valid UTF-8
  bool complete() const;              // true when not in the middle of a sequence
  void reset();

 private:
  std::uint8_t state_ = 0;  // a State from utf8.cpp: which bytes may come next
};

bool is_valid_utf8(std::string_view bytes);

}  // namespace kabar::websocket
