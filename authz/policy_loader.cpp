// Reading a policy file: JSON syntax (with line and column), the schema (with the JSON path), then the
// checks a schema cannot express (unknown roles, conditions on placeholders no pattern has, patterns).
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
#include "authz/policy.h"

namespace kabar::authz {
namespace {
using nlohmann::json;

std::string escape_pointer_token(std::string_view token) {
  std::string escaped;
  for (char c : token) {
    if (c == '~') {
      escaped += "~0";
    } else if (c == '/') {
      escaped += "~1";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// valijson's context is {"<root>", "[rules]", "[0]", ...}: a JSON pointer reads better.
std::string json_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') part = part.substr(1, part.size() - 2);
    pointer += '/' + escape_pointer_token(part);
  }
  return pointer.empty() ? "(root)" : pointer;
}

// The deepest specific failure: valijson repeats a nested failure at every enclosing level.
std::string first_specific_error(const valijson::ValidationResults& results) {
  std::string best;
  std::size_t best_depth = 0;
  for (const auto& error : results) {
    if (error.description.starts_with("Failed to validate")) continue;
    if (best.empty() || error.context.size() > best_depth) {
      best = json_pointer(error.context) + ": " + error.description;
      best_depth = error.context.size();
    }
  }
  if (best.empty() && results.numErrors() > 0) {
    const auto& first = *results.begin();
    best = json_pointer(first.context) + ": " + first.description;
  }
  std::replace(best.begin(), best.end(), '\n', ' ');
  return best.empty() ? "does not match the policy schema" : best;
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

json parse_json(std::string_view text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& error) {
    // nlohmann reports a byte offset; people jump to a line and column.
    const std::size_t offset = std::min<std::size_t>(error.byte == 0 ? 0 : error.byte - 1, text.size());
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n');
    const auto line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
    const auto column =
        offset - (line_start == std::string_view::npos || offset == 0 ? 0 : line_start + 1) + 1;
    throw PolicyError(origin + ", line " + std::to_string(line) + ", column " + std::to_string(column) +
                      ": not valid JSON: " + error.what());
  } catch (const json::exception& error) {
    // Not a syntax error but still unreadable, e.g. a number too large for a double (found by fuzzing).
    throw PolicyError(origin + ": not valid JSON: " + error.what());
  }
}

// libstdc++'s std::regex (valijson's "pattern") recurses once per character: a very long string would
// exhaust the stack. Nothing in a policy needs more than this.
constexpr std::size_t kMaxPolicyString = 4096;

std::optional<std::string> long_string_at(const json& node, const std::string& pointer) {
  if (node.is_string()) {
    if (node.get_ref<const std::string&>().size() > kMaxPolicyString)
      return pointer.empty() ? "(root)" : pointer;
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto found = long_string_at(node[i], pointer + "/" + std::to_string(i))) return found;
    }
  } else if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      const std::string child = pointer + "/" + escape_pointer_token(key);
      if (key.size() > kMaxPolicyString) return child;
      if (auto found = long_string_at(value, child)) return found;
    }
  }
  return std::nullopt;
}

void validate_schema(const json& document, const std::string& origin) {
  if (auto where = long_string_at(document, ""))
    throw PolicyError(origin + ": " + *where + ": longer than " + std::to_string(kMaxPolicyString) +
                      " characters");
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::adapters::NlohmannJsonAdapter target(document);
  if (validator.validate(policy_schema(), target, nullptr)) return;
  valijson::ValidationResults results;
  validator.validate(policy_schema(), target, &results);
  throw PolicyError(origin + ": " + first_specific_error(results));
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
  RuleReader(const std::string& origin, const std::vector<std::string>& known_roles)
      : origin_(origin), known_roles_(known_roles) {}

  Rule read(const json& node, const std::string& at) {
    Rule rule;
    rule.name = node.at("name").get<std::string>();
    if (!names_.insert(rule.name).second)
      fail(at + "/name", "a rule named '" + rule.name + "' comes earlier");
    rule.description = node.value("description", "");
    rule.effect = node.value("effect", "allow") == "deny" ? Effect::Deny : Effect::Allow;
    for (const auto& action : strings(node, "actions")) (action == "read" ? rule.read : rule.publish) = true;
    rule.roles = strings(node, "roles");
    rule.subjects = strings(node, "subjects");
    rule.anonymous = node.value("anonymous", false);
    check_roles(rule.roles, at);
    read_patterns(node, at, rule);
    read_conditions(node, at, rule);
    return rule;
  }

 private:
  [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
    throw PolicyError(origin_ + ": " + pointer + ": " + message);
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
        fail(at + "/where/" + escape_pointer_token(placeholder),
             "no channel or topic pattern of rule '" + rule.name + "' has {" + placeholder + "}");
      rule.conditions.push_back(Condition{placeholder, condition.at("in_claim").get<std::string>()});
    }
  }

  const std::string& origin_;
  const std::vector<std::string>& known_roles_;
  std::set<std::string> names_;
};

}  // namespace

Policy Policy::parse(std::string_view text, const std::string& origin) {
  const json document = parse_json(text, origin);
  validate_schema(document, origin);
  Policy policy;
  policy.origin_ = origin;
  policy.role_claim_ = document.value("role_claim", "role");
  policy.roles_ = strings(document, "roles");
  const std::string public_channels = document.value("public_channels", "anyone");
  policy.public_channels_ = public_channels == "anyone"          ? PublicChannels::Anyone
                            : public_channels == "authenticated" ? PublicChannels::Authenticated
                                                                 : PublicChannels::Rules;
  RuleReader reader(origin, policy.roles_);
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
