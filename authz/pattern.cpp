#include "authz/pattern.h"

#include "core/channel.h"

#include <algorithm>

namespace kabar::authz {
namespace {

constexpr std::size_t kMaxTopic = 65535;

bool is_channel_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c == '_' || c == '-' || c == '=' || c == '@' || c == ',' || c == '.' || c == ';';
}

bool is_placeholder_name(std::string_view name) {
  if (name.empty() || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// Splits at the first `separator`: returns the head, leaves the rest (without the separator) in `text`.
// `more` tells whether a separator was found.
std::string_view next_part(std::string_view& text, char separator, bool& more) {
  const auto at = text.find(separator);
  more = at != std::string_view::npos;
  const std::string_view head = text.substr(0, more ? at : text.size());
  text.remove_prefix(more ? at + 1 : text.size());
  return head;
}

// "{name}" at the end of a segment -> name; empty when there is none. Throws for misplaced braces.
std::string trailing_placeholder(std::string_view segment, std::string_view pattern) {
  const auto open = segment.find('{');
  const auto close = segment.find('}');
  if (open == std::string_view::npos && close == std::string_view::npos) return {};
  if (open == std::string_view::npos || close != segment.size() - 1 ||
      segment.find('{', open + 1) != std::string_view::npos)
    throw PatternError("pattern '" + std::string(pattern) + "': a {placeholder} must end its segment");
  const std::string_view name = segment.substr(open + 1, close - open - 1);
  if (!is_placeholder_name(name))
    throw PatternError("pattern '" + std::string(pattern) + "': '" + std::string(name) +
                       "' is not a placeholder name (lower case letters, digits, _)");
  return std::string(name);
}

void add_binding(Bindings& bindings, const std::string& placeholder, std::string_view value) {
  bindings.push_back(Binding{placeholder, std::string(value)});
}

}  // namespace

bool is_channel_name(std::string_view name) { return is_valid_channel_name(name); }

bool is_topic(std::string_view topic, bool filter) {
  if (topic.empty() || topic.size() > kMaxTopic || topic.find('\0') != std::string_view::npos) return false;
  bool more = true;
  while (more) {
    const std::string_view level = next_part(topic, '/', more);
    const bool has_wildcard = level.find_first_of("+#") != std::string_view::npos;
    if (!has_wildcard) continue;
    if (!filter || level.size() != 1) return false;
    if (level == "#" && more) return false;
  }
  return true;
}

ChannelPattern ChannelPattern::parse(std::string_view text) {
  ChannelPattern pattern;
  pattern.text_ = std::string(text);
  if (text.empty()) throw PatternError("a channel pattern may not be empty");
  std::string_view rest = text;
  bool more = true;
  while (more) {
    std::string_view segment = next_part(rest, '.', more);
    const auto star = segment.find('*');
    if (star != std::string_view::npos) {
      if (more || star != segment.size() - 1)
        throw PatternError("channel pattern '" + pattern.text_ + "': '*' may only end the pattern");
      pattern.open_end_ = true;
      pattern.open_prefix_ = std::string(segment.substr(0, star));
      if (pattern.open_prefix_.find_first_of("{}") != std::string::npos)
        throw PatternError("channel pattern '" + pattern.text_ + "': a placeholder may not precede '*'");
      break;
    }
    Segment parsed;
    parsed.placeholder = trailing_placeholder(segment, text);
    parsed.literal = std::string(parsed.placeholder.empty() ? segment : segment.substr(0, segment.find('{')));
    if (parsed.placeholder.empty() && parsed.literal.empty())
      throw PatternError("channel pattern '" + pattern.text_ + "': empty segment");
    pattern.segments_.push_back(std::move(parsed));
  }
  for (char c : text) {
    if (!is_channel_char(c) && c != '{' && c != '}' && c != '*')
      throw PatternError("channel pattern '" + pattern.text_ + "': '" + std::string(1, c) +
                         "' cannot occur in a channel name");
  }
  return pattern;
}

bool ChannelPattern::match(std::string_view channel, Bindings& bindings) const {
  bindings.clear();
  std::string_view rest = channel;
  bool more = !channel.empty();
  for (const Segment& segment : segments_) {
    if (!more) return false;
    const std::string_view part = next_part(rest, '.', more);
    if (segment.placeholder.empty()) {
      if (part != segment.literal) return false;
      continue;
    }
    if (part.size() <= segment.literal.size() || !part.starts_with(segment.literal)) return false;
    add_binding(bindings, segment.placeholder, part.substr(segment.literal.size()));
  }
  if (open_end_) {
    // The '*' segment starts where the matched segments ended.
    if (!more && !segments_.empty()) return false;
    return rest.starts_with(open_prefix_);
  }
  return !more;
}

std::vector<std::string> ChannelPattern::placeholders() const {
  std::vector<std::string> names;
  for (const auto& segment : segments_) {
    if (!segment.placeholder.empty()) names.push_back(segment.placeholder);
  }
  return names;
}

TopicPattern TopicPattern::parse(std::string_view text) {
  TopicPattern pattern;
  pattern.text_ = std::string(text);
  if (text.empty()) throw PatternError("a topic pattern may not be empty");
  std::string_view rest = text;
  bool more = true;
  while (more) {
    const std::string_view level = next_part(rest, '/', more);
    Level parsed;
    if (level == "#") {
      if (more) throw PatternError("topic pattern '" + pattern.text_ + "': '#' may only be the last level");
      parsed.kind = Kind::MultiLevel;
    } else if (level == "+") {
      parsed.kind = Kind::SingleLevel;
    } else if (level.find_first_of("+#") != std::string_view::npos) {
      throw PatternError("topic pattern '" + pattern.text_ + "': '+' and '#' must be whole levels");
    } else if (level.starts_with('{')) {
      parsed.kind = Kind::Placeholder;
      parsed.text = trailing_placeholder(level, text);
    } else if (level.find_first_of("{}") != std::string_view::npos) {
      throw PatternError("topic pattern '" + pattern.text_ + "': a {placeholder} must be a whole level");
    } else {
      parsed.text = std::string(level);
    }
    pattern.levels_.push_back(std::move(parsed));
  }
  if (text.find('\0') != std::string_view::npos) throw PatternError("a topic pattern may not hold NUL");
  return pattern;
}

bool TopicPattern::covers(std::string_view filter, Bindings& bindings) const {
  bindings.clear();
  // MQTT: wildcards in the first level never match topics starting with '$' ($SYS/...).
  const bool system_topic = filter.starts_with('$');
  std::string_view rest = filter;
  bool more = true;
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    const Level& level = levels_[i];
    if (level.kind == Kind::MultiLevel) return !(system_topic && i == 0);  // "a/#" also covers "a"
    if (!more) return false;
    const std::string_view part = next_part(rest, '/', more);
    if (part == "#") return false;  // the filter reaches deeper than this pattern can
    if (system_topic && i == 0 && level.kind != Kind::Literal) return false;
    switch (level.kind) {
      case Kind::Literal:
        if (part != level.text) return false;
        break;
      case Kind::SingleLevel:
        break;
      case Kind::Placeholder:
        add_binding(bindings, level.text, part == "+" ? kAnyValue : part);
        break;
      case Kind::MultiLevel:
        break;
    }
  }
  return !more;
}

std::vector<std::string> TopicPattern::placeholders() const {
  std::vector<std::string> names;
  for (const auto& level : levels_) {
    if (level.kind == Kind::Placeholder) names.push_back(level.text);
  }
  return names;
}

}  // namespace kabar::authz
