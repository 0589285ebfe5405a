// A walk over JSON text that follows a pointer and skips everything else. No recursion: a hostile file
// nested a million levels deep must not exhaust the stack on its way to an error message.
#include "authz/json_locator.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

namespace kabar::authz {
namespace {

constexpr std::size_t kNone = std::string_view::npos;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view text, std::size_t at) {
  while (at < text.size() && is_space(text[at])) ++at;
  return at;
}

void append_utf8(std::string& out, char32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

std::optional<char32_t> hex4(std::string_view text, std::size_t at) {
  if (at + 4 > text.size()) return std::nullopt;
  char32_t value = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const char c = text[i];
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) return std::nullopt;
    value = value * 16 + static_cast<char32_t>(digit);
  }
  return value;
}

// The code point of the \u escape whose 'u' is at text[at], a surrogate pair taken whole; `at` is left
// on the escape's last digit.
std::optional<char32_t> unicode_escape(std::string_view text, std::size_t& at) {
  const auto high = hex4(text, at + 1);
  if (!high) return std::nullopt;
  at += 4;
  if (*high < 0xD800 || *high > 0xDFFF) return *high;
  if (*high > 0xDBFF || text.substr(at + 1, 2) != "\\u") return std::nullopt;
  const auto low = hex4(text, at + 3);
  if (!low || *low < 0xDC00 || *low > 0xDFFF) return std::nullopt;
  at += 6;
  return 0x10000 + ((*high - 0xD800) << 10) + (*low - 0xDC00);
}

struct StringToken {
  std::string value;        // escapes decoded: keys are compared as the pointer names them
  std::size_t end = kNone;  // just past the closing quote
};

// The string whose opening quote is at text[at].
std::optional<StringToken> read_string(std::string_view text, std::size_t at) {
  StringToken token;
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    if (text[i] == '"') {
      token.end = i + 1;
      return token;
    }
    if (text[i] != '\\') {
      token.value += text[i];
      continue;
    }
    if (++i >= text.size()) return std::nullopt;
    constexpr std::string_view kEscapes = "\"\\/bfnrt", kMeant = "\"\\/\b\f\n\r\t";
    if (const auto simple = kEscapes.find(text[i]); simple != kNone) {
      token.value += kMeant[simple];
    } else if (const auto code = text[i] == 'u' ? unicode_escape(text, i) : std::nullopt) {
      append_utf8(token.value, *code);
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Just past the string whose opening quote is at text[at] (values are skipped, not decoded).
std::size_t string_end(std::string_view text, std::size_t at) {
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return kNone;
}

// Just past the container starting at text[at], counting brackets outside strings.
std::size_t container_end(std::string_view text, std::size_t at) {
  std::size_t depth = 0;
  for (std::size_t i = at; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      i = string_end(text, i);
      if (i == kNone) return kNone;
      --i;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return kNone;
}

// Just past the value starting at text[at]; kNone when there is none.
std::size_t value_end(std::string_view text, std::size_t at) {
  if (at >= text.size()) return kNone;
  if (text[at] == '"') return string_end(text, at);
  if (text[at] == '{' || text[at] == '[') return container_end(text, at);
  std::size_t end = at;  // a number, true, false or null
  while (end < text.size() && !is_space(text[end]) && std::string_view(",:]}").find(text[end]) == kNone)
    ++end;
  return end == at ? kNone : end;
}

// One step down the pointer: where the member or element is found, or why not.
struct Step {
  std::size_t found = kNone;  // the member's key, or the element
  std::size_t value = kNone;  // where its value starts
  std::string problem;
};

const char* const kNotJson = "not valid JSON";

// The member `name` of the object whose '{' is at text[at]; the last one if the key repeats.
Step find_member(std::string_view text, std::size_t at, const std::string& name) {
  Step step{.problem = "no member '" + name + "'"};
  std::size_t i = skip_space(text, at + 1);
  if (i < text.size() && text[i] == '}') return step;
  while (i < text.size() && text[i] == '"') {
    const auto key = read_string(text, i);
    if (!key) break;
    const std::size_t colon = skip_space(text, key->end);
    if (colon >= text.size() || text[colon] != ':') break;
    const std::size_t value = skip_space(text, colon + 1);
    const std::size_t end = value_end(text, value);
    if (end == kNone) break;
    if (key->value == name) step = Step{i, value, ""};
    i = skip_space(text, end);
    if (i < text.size() && text[i] == '}') return step;
    if (i >= text.size() || text[i] != ',') break;
    i = skip_space(text, i + 1);
  }
  return Step{.problem = kNotJson};
}

// Element `index` of the array whose '[' is at text[at].
Step find_element(std::string_view text, std::size_t at, std::size_t index) {
  const Step missing{.problem = "no element " + std::to_string(index)};
  std::size_t i = skip_space(text, at + 1);
  if (i < text.size() && text[i] == ']') return missing;
  for (std::size_t n = 0; i < text.size(); ++n) {
    if (n == index) return Step{i, i, ""};
    const std::size_t end = value_end(text, i);
    if (end == kNone) break;
    i = skip_space(text, end);
    if (i < text.size() && text[i] == ']') return missing;
    if (i >= text.size() || text[i] != ',') break;
    i = skip_space(text, i + 1);
  }
  return Step{.problem = kNotJson};
}

// RFC 6901: "/a~1b/0" -> {"a/b", "0"}; nullopt for text that is not a pointer.
std::optional<std::vector<std::string>> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') return std::nullopt;
  std::string token;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (pointer[i] != '~') {
      token += pointer[i];
    } else if (i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
      token += pointer[++i] == '0' ? '~' : '/';
    } else {
      return std::nullopt;
    }
  }
  return tokens;
}

// "0", "12"; not "01", "-" or "x" (RFC 6901 array indexes).
std::optional<std::size_t> array_index(const std::string& token) {
  if (token.empty() || token.size() > 18 || token.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  if (token.size() > 1 && token.front() == '0') return std::nullopt;
  return std::stoull(token);
}

Step step_into(std::string_view text, std::size_t value, const std::string& token) {
  if (value < text.size() && text[value] == '{') return find_member(text, value, token);
  if (value >= text.size() || text[value] != '[') return Step{.problem = "not an object or an array"};
  const auto index = array_index(token);
  if (!index) return Step{.problem = "'" + token + "' is not an array index"};
  return find_element(text, value, *index);
}

// Reads and forgets, remembering only where reading failed.
class StopFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    stopped_at = position;
    return false;
  }

  std::optional<std::size_t> stopped_at;  // 1-based: the count of bytes read, the failing one included
};

}  // namespace

std::optional<TextPosition> unreadable_at(std::string_view text) {
  StopFinder finder;
  nlohmann::json::sax_parse(text, &finder);
  if (!finder.stopped_at) return std::nullopt;
  return position_at(text, *finder.stopped_at == 0 ? 0 : *finder.stopped_at - 1);
}

std::string pointer_token(std::string_view key) {
  // nlohmann escapes ~ and / (RFC 6901) when it prints a pointer: one token, without its leading slash.
  return (nlohmann::json::json_pointer() / std::string(key)).to_string().substr(1);
}

TextPosition position_at(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  TextPosition position;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++position.line;
      position.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++position.column;  // UTF-8 continuation bytes belong to the character before them
    }
  }
  return position;
}

PointerLocation locate_pointer(std::string_view text, std::string_view pointer) {
  const auto tokens = pointer_tokens(pointer);
  if (!tokens) return {std::nullopt, "'" + std::string(pointer) + "' is not a JSON pointer"};
  std::size_t value = skip_space(text, 0);
  if (value >= text.size()) return {std::nullopt, "the text is empty"};
  std::size_t found = value;
  std::string walked;  // the pointer so far, for the problem
  for (const auto& token : *tokens) {
    const Step step = step_into(text, value, token);
    if (!step.problem.empty())
      return {std::nullopt, (walked.empty() ? "(root)" : walked) + ": " + step.problem};
    found = step.found;
    value = step.value;
    walked += "/" + pointer_token(token);
  }
  return {position_at(text, found), ""};
}

}  // namespace kabar::authz
