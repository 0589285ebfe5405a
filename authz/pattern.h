#pragma once
// Channel and MQTT topic patterns of a policy rule, with {placeholders} that bind to parts of the name
// so a rule can say "the branch in the name must be one of the token's branches".
//
// Channel patterns are dot-separated segments, e.g. "private-cabang.{cabang}.admin". A segment is a
// literal, "{name}", or a literal followed by "{name}" ("private-user-{id}"); a placeholder takes a
// whole (rest of a) segment, never a dot. A pattern may end in "*", which matches the rest of the
// name, dots included ("private-*", or "*" alone for every channel). Matching is linear: no
// backtracking, whatever the input.
//
// Topic patterns are MQTT levels: literal, "{name}", "+" or a final "#". They are compared with topic
// *filters* as well as topics: a subscription filter is allowed only when everything it can match is
// covered by the pattern, so "cabang/+/omset" is not covered by "cabang/{cabang}/omset" unless the
// placeholder may take any value.
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kabar::authz {

class PatternError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Placeholder values found in a name, in pattern order. kAnyValue marks a placeholder that faced a '+'
// in a subscription filter: the filter asks for every value at once.
struct Binding {
  std::string placeholder;
  std::string value;
};
using Bindings = std::vector<Binding>;
inline constexpr std::string_view kAnyValue = "+";

class ChannelPattern {
 public:
  // Throws PatternError saying what is wrong ("'*' only at the end", "unclosed '{'", ...).
  static ChannelPattern parse(std::string_view text);

  // True when `channel` matches; `bindings` then holds the placeholder values (cleared first).
  bool match(std::string_view channel, Bindings& bindings) const;

  const std::string& text() const { return text_; }
  std::vector<std::string> placeholders() const;

 private:
  struct Segment {
    std::string literal;      // the whole segment, or the part before the placeholder
    std::string placeholder;  // empty: a literal segment
  };
  std::string text_;
  std::vector<Segment> segments_;
  bool open_end_ = false;    // the pattern ended in '*'
  std::string open_prefix_;  // text the rest of the name must start with (before the '*')
};

class TopicPattern {
 public:
  static TopicPattern parse(std::string_view text);

  // True when every topic that `filter` (a topic, or a filter with + and #) can match also matches this
  // pattern. `bindings` holds the placeholder values (kAnyValue where the filter has '+').
  bool covers(std::string_view filter, Bindings& bindings) const;

  const std::string& text() const { return text_; }
  std::vector<std::string> placeholders() const;

 private:
  enum class Kind { Literal, Placeholder, SingleLevel, MultiLevel };
  struct Level {
    Kind kind = Kind::Literal;
    std::string text;  // the literal, or the placeholder's name
  };
  std::string text_;
  std::vector<Level> levels_;
};

// Pusher-compatible channel names: 1..164 characters of [A-Za-z0-9_-=@,.;] (core/channel.h's rule).
bool is_channel_name(std::string_view name);
// An MQTT topic name (no wildcards) or, with `filter`, a subscription filter: not empty, no NUL, at most
// 65535 bytes, '+' and '#' only as whole levels and '#' last.
bool is_topic(std::string_view topic, bool filter);

}  // namespace kabar::authz
