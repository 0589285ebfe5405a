// Reading a policy file: JSON syntax, the schema, then the checks a schema cannot express (unknown roles,
// conditions on placeholders no pattern has, patterns). Every mistake names the line and column, and,
// past the syntax, the JSON pointer too: people go to the line, the schema and tools speak in pointers.
#include <algorithm>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "authz/embedded.h"
#include "authz/json_locator.h"
#include "authz/policy.h"

namespace kabar::authz {
namespace {
using nlohmann::json;

std::string line_and_column(TextPosition position) {
  return "line " + std::to_string(position.line) + ", column " + std::to_string(position.column);
}

// A policy's text and where it came from, to tell a mistake by its place in the text.
class PolicySource {
 public:
  PolicySource(std::string_view text, const std::string& origin) : text_(text), origin_(origin) {}

  // "policy file p.json, line 7, column 22: /rules/1/roles/0: unknown role 'kasr' ..."
  [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
    std::string place = origin_;
    // Found unless the pointer is wrong, which would be our bug: then the pointer alone still helps.
    if (const auto location = locate_pointer(text_, pointer))
      place += ", " + line_and_column(*location.position);
    throw PolicyError(place + ": " + (pointer.empty() ? "(root)" : pointer) + ": " + message);
  }

  std::string_view text() const { return text_; }
  const std::string& origin() const { return origin_; }

 private:
  std::string_view text_;
  const std::string& origin_;
};

// valijson's context is {"<root>", "[rules]", "[0]", ...}: a JSON pointer reads better.
std::string json_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') part = part.substr(1, part.size() - 2);
    pointer += '/' + pointer_token(part);
  }
  return pointer;
}

struct SchemaError {
  std::string pointer;
  std::string description;
};

// valijson reports a key the schema does not know at the object holding it, naming the key in the
// description only: point at the key itself, so the line is the key's.
SchemaError at_unknown_key(SchemaError error) {
  constexpr std::string_view kLead = "or 'additionalProperties' constraints: '";
  const auto lead = error.description.find(kLead);
  if (lead == std::string::npos || !error.description.ends_with("'.")) return error;
  const auto start = lead + kLead.size();
  const std::string key = error.description.substr(start, error.description.size() - 2 - start);
  return {error.pointer + "/" + pointer_token(key), "unknown key '" + key + "'"};
}

std::size_t depth(const std::string& pointer) { return std::count(pointer.begin(), pointer.end(), '/'); }

// The deepest specific failure: valijson repeats a nested failure at every enclosing level.
SchemaError first_specific_error(const valijson::ValidationResults& results) {
  std::optional<SchemaError> best;
  for (const auto& error : results) {
    if (error.description.starts_with("Failed to validate")) continue;
    SchemaError candidate = at_unknown_key({json_pointer(error.context), error.description});
    if (!best || depth(candidate.pointer) > depth(best->pointer)) best = std::move(candidate);
  }
  if (!best && results.numErrors() > 0) {
    const auto& first = *results.begin();
    best = SchemaError{json_pointer(first.context), first.description};
  }
  if (!best) return {"", "does not match the policy schema"};
  std::replace(best->description.begin(), best->description.end(), '\n', ' ');
  return *best;
}

bool is_placeholder_name(const std::string& name) {
  const auto allowed = [](char c, bool first) {
    return c == '_' || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
  };
  if (name.empty() || !allowed(name.front(), true)) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return allowed(c, false); });
}

// valijson checks a key's name (the schema's propertyNames, only on `where`) without reporting which key
// failed, nor where: only "Failed to validate ... property name 'where'" at the rule. Find the key.
std::optional<SchemaError> bad_placeholder(const json& document, const valijson::ValidationResults& results) {
  constexpr std::string_view kLead =
      "Failed to validate against schema associated with property name 'where'";
  for (const auto& error : results) {
    if (!error.description.starts_with(kLead)) continue;
    const std::string where = json_pointer(error.context) + "/where";
    const json::json_pointer at(where);
    if (!document.contains(at) || !document.at(at).is_object()) continue;  // a type error says it better
    const json& conditions = document.at(at);
    for (const auto& [placeholder, condition] : conditions.items()) {
      if (!is_placeholder_name(placeholder))
        return SchemaError{where + "/" + pointer_token(placeholder),
                           "'" + placeholder + "' is not a placeholder name ([a-z_][a-z0-9_]*)"};
    }
  }
  return std::nullopt;
}

const valijson::Schema& policy_schema() {
  // Compiled once (valijson::Schema cannot be copied or moved, hence the pointer).
  static const std::unique_ptr<valijson::Schema> schema = [] {
    auto compiled = std::make_unique<valijson::Schema>();
    const json document = json::parse(embedded::find("policy.schema.json"));
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *compiled);
    return compiled;
  }();
  return *schema;
}

json parse_json(const PolicySource& source) {
  try {
    return json::parse(source.text());
  } catch (const json::exception& error) {
    // nlohmann tells a syntax error's byte but not an overflowing number's (found by fuzzing); reading
    // again finds both, and people jump to a line and column.
    std::string place = source.origin();
    if (const auto position = unreadable_at(source.text())) place += ", " + line_and_column(*position);
    throw PolicyError(place + ": not valid JSON: " + error.what());
  }
}

// libstdc++'s std::regex (valijson's "pattern") recurses once per character: a very long string would
// exhaust the stack. Nothing in a policy needs more than this.
constexpr std::size_t kMaxPolicyString = 4096;

std::optional<std::string> long_string_at(const json& node, const std::string& pointer) {
  if (node.is_string()) {
    if (node.get_ref<const std::string&>().size() > kMaxPolicyString) return pointer;
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto found = long_string_at(node[i], pointer + "/" + std::to_string(i))) return found;
    }
  } else if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      const std::string child = pointer + "/" + pointer_token(key);
      if (key.size() > kMaxPolicyString) return child;
      if (auto found = long_string_at(value, child)) return found;
    }
  }
  return std::nullopt;
}

void validate_schema(const json& document, const PolicySource& source) {
  if (auto where = long_string_at(document, ""))
    source.fail(*where, "longer than " + std::to_string(kMaxPolicyString) + " characters");
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::adapters::NlohmannJsonAdapter target(document);
  if (validator.validate(policy_schema(), target, nullptr)) return;
  valijson::ValidationResults results;
  validator.validate(policy_schema(), target, &results);
  const SchemaError error = bad_placeholder(document, results).value_or(first_specific_error(results));
  source.fail(error.pointer, error.description);
}

std::vector<std::string> strings(const json& node, const char* key) {
  std::vector<std::string> out;
  if (auto it = node.find(key); it != node.end()) {
    for (const auto& item : *it) out.push_back(item.get<std::string>());
  }
  return out;
}

// Turns one schema-valid rule into a Rule; `at` is its JSON pointer, for messages.
class RuleReader {
 public:
  RuleReader(const PolicySource& source, const std::vector<std::string>& known_roles)
      : source_(source), known_roles_(known_roles) {}

  Rule read(const json& node, const std::string& at) {
    Rule rule;
    rule.name = node.at("name").get<std::string>();
    if (!names_.insert(rule.name).second)
      fail(at + "/name", "a rule named '" + rule.name + "' comes earlier");
    rule.description = node.value("description", "");
    rule.effect = node.value("effect", "allow") == "deny" ? Effect::Deny : Effect::Allow;
    for (const auto& action : strings(node, "actions"))
      (action == "read" ? rule.read : action == "publish" ? rule.publish : rule.admin) = true;
    rule.roles = strings(node, "roles");
    rule.subjects = strings(node, "subjects");
    rule.anonymous = node.value("anonymous", false);
    check_roles(rule.roles, at);
    read_patterns(node, at, rule);
    read_conditions(node, at, rule);
    // admin is granted on the node, where no placeholder takes a value: a condition would not restrict it.
    if (rule.admin && !rule.conditions.empty())
      fail(at + "/where", "rule '" + rule.name + "' grants admin, which no 'where' can restrict: " +
                              "grant admin in a rule of its own");
    if ((rule.read || rule.publish) && rule.channels.empty() && rule.topics.empty())
      fail(at + "/actions", "rule '" + rule.name + "' grants read or publish but names no channels or topics");
    return rule;
  }

 private:
  [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
    source_.fail(pointer, message);
  }

  void check_roles(const std::vector<std::string>& roles, const std::string& at) const {
    if (known_roles_.empty()) return;
    for (std::size_t i = 0; i < roles.size(); ++i) {
      if (roles[i] == "*" ||
          std::find(known_roles_.begin(), known_roles_.end(), roles[i]) != known_roles_.end())
        continue;
      std::string known;
      for (const auto& role : known_roles_) known += (known.empty() ? "" : ", ") + role;
      fail(at + "/roles/" + std::to_string(i),
           "unknown role '" + roles[i] + "' (the policy's roles: " + known + ")");
    }
  }

  template <class Pattern>
  void read_list(const json& node, const std::string& at, const char* key, std::vector<Pattern>& out) const {
    const auto list = strings(node, key);
    for (std::size_t i = 0; i < list.size(); ++i) {
      try {
        out.push_back(Pattern::parse(list[i]));
      } catch (const PatternError& error) {
        fail(at + "/" + key + "/" + std::to_string(i), error.what());
      }
    }
  }

  void read_patterns(const json& node, const std::string& at, Rule& rule) const {
    read_list(node, at, "channels", rule.channels);
    read_list(node, at, "topics", rule.topics);
  }

  void read_conditions(const json& node, const std::string& at, Rule& rule) const {
    auto where = node.find("where");
    if (where == node.end()) return;
    std::set<std::string> used;
    for (const auto& pattern : rule.channels) {
      for (auto& name : pattern.placeholders()) used.insert(name);
    }
    for (const auto& pattern : rule.topics) {
      for (auto& name : pattern.placeholders()) used.insert(name);
    }
    for (const auto& [placeholder, condition] : where->items()) {
      if (!used.count(placeholder))
        fail(at + "/where/" + pointer_token(placeholder),
             "no channel or topic pattern of rule '" + rule.name + "' has {" + placeholder + "}");
      require_bound(rule.channels, at + "/channels/", "channel", placeholder, rule.name);
      require_bound(rule.topics, at + "/topics/", "topic", placeholder, rule.name);
      rule.conditions.push_back(Condition{placeholder, condition.at("in_claim").get<std::string>()});
    }
  }

  // A condition only restricts the patterns that bind its placeholder: one that does not
  // (`cabang/+/omset` beside `where cabang`) would match every branch, the condition silently unchecked.
  // So every pattern of a rule with `where` must bind every placeholder it names.
  template <class Pattern>
  void require_bound(const std::vector<Pattern>& patterns, const std::string& at, const char* kind,
                     const std::string& placeholder, const std::string& rule) const {
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      const auto names = patterns[i].placeholders();
      if (std::find(names.begin(), names.end(), placeholder) != names.end()) continue;
      fail(at + std::to_string(i), std::string(kind) + " pattern '" + patterns[i].text() + "' of rule '" + rule +
                                       "' does not bind {" + placeholder + "}, which its 'where' restricts: " +
                                       "it would match every value; use {" + placeholder +
                                       "} in it or move it to a rule without that condition");
    }
  }

  const PolicySource& source_;
  const std::vector<std::string>& known_roles_;
  std::set<std::string> names_;
};

}  // namespace

Policy Policy::parse(std::string_view text, const std::string& origin) {
  const PolicySource source(text, origin);
  const json document = parse_json(source);
  validate_schema(document, source);
  Policy policy;
  policy.origin_ = origin;
  policy.role_claim_ = document.value("role_claim", "role");
  policy.roles_ = strings(document, "roles");
  const std::string public_channels = document.value("public_channels", "anyone");
  policy.public_channels_ = public_channels == "anyone"          ? PublicChannels::Anyone
                            : public_channels == "authenticated" ? PublicChannels::Authenticated
                                                                 : PublicChannels::Rules;
  RuleReader reader(source, policy.roles_);
  const json& rules = document.at("rules");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    policy.rules_.push_back(reader.read(rules[i], "/rules/" + std::to_string(i)));
  }
  return policy;
}

Policy Policy::load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PolicyError("policy file " + path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), "policy file " + path.string());
}

std::string_view Policy::builtin_text() { return embedded::find("default-policy.json"); }

Policy Policy::builtin() { return parse(builtin_text(), "built-in policy"); }

}  // namespace kabar::authz
