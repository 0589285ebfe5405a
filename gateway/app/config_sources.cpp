// Where the config document comes from (config.h): the file, the KABAR_* environment, and merging each
// over the defaults.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include "gateway/app/config_parts.h"

extern char** environ;

namespace kabar {
namespace config_detail {
namespace {
using nlohmann::json;

// Scalar leaves of the defaults, as "http.port" -> pointer "/http/port", so every setting has exactly
// one environment name: KABAR_HTTP_PORT.
void collect_leaves(const json& node, const std::string& pointer, std::map<std::string, std::string>& out) {
  if (!node.is_object()) return;
  for (const auto& [key, value] : node.items()) {
    const std::string child = pointer + "/" + key;
    if (value.is_object()) {
      collect_leaves(value, child, out);
    } else if (!value.is_array()) {
      std::string name = "KABAR" + child;
      std::replace(name.begin(), name.end(), '/', '_');
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
      out[name] = child;
    }
  }
}

json parse_env_value(const std::string& name, const std::string& text, const json& like) {
  if (like.is_boolean()) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
    throw ConfigError(name + "=" + text + ": expected true or false");
  }
  if (like.is_number_integer()) {
    try {
      std::size_t used = 0;
      const long long value = std::stoll(text, &used);
      if (used != text.size()) throw std::invalid_argument("trailing characters");
      return value;
    } catch (const std::exception&) {
      throw ConfigError(name + "=" + text + ": expected a whole number");
    }
  }
  return text;
}

}  // namespace

void merge_into(json& base, const json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_object() && base.contains(key) && base[key].is_object()) {
      merge_into(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

json read_file_document(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path.string() + ": no such file or not readable");
  std::stringstream text;
  text << in.rdbuf();
  try {
    json document = json::parse(text.str());
    if (!document.is_object()) throw ConfigError("config file " + path.string() + ": must hold a JSON object");
    return document;
  } catch (const json::parse_error& error) {
    // nlohmann reports the byte offset; turn it into a line number people can jump to.
    const std::string content = text.str();
    const std::size_t offset = std::min<std::size_t>(error.byte, content.size());
    const auto line = 1 + std::count(content.begin(), content.begin() + static_cast<long>(offset), '\n');
    throw ConfigError("config file " + path.string() + ", line " + std::to_string(line) +
                      ": not valid JSON: " + error.what());
  }
}

void apply_environment(json& document, const std::map<std::string, std::string>& environment) {
  const json defaults = default_config_document();
  std::map<std::string, std::string> env_names;
  collect_leaves(defaults, "", env_names);
  for (const auto& [name, value] : environment) {
    auto it = env_names.find(name);
    if (it == env_names.end()) continue;  // other KABAR_* variables (KABAR_BIN...) are not settings
    const json::json_pointer pointer(it->second);
    document[pointer] = parse_env_value(name, value, defaults[pointer]);
  }
}

namespace {

// Levenshtein distance, for "did you mean" (names are short: a full table is cheap).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Variables of kabar's own scripts and tests (scripts/, tests/, bench/), passed down to the kabar they
// start: not settings, and not typos.
bool is_tool_variable(std::string_view name) {
  static constexpr std::string_view kExact[] = {"KABAR_BIN", "KABAR_SOURCE_DIR", "KABAR_SOURCE", "KABAR_BINARY_DIR",
                                                "KABAR_PID", "KABAR_JS", "KABAR_SANITIZE", "KABAR_ASAN_RUNTIME",
                                                "KABAR_IO_URING", "KABAR_AUTH_PLUGIN"};
  static constexpr std::string_view kPrefixes[] = {"KABAR_E2E_", "KABAR_BUILD_", "KABAR_FUZZ", "KABAR_CHILD_",
                                                   "KABAR_RUN_", "KABAR_TEST_", "KABAR_RABBIT_"};
  for (const auto exact : kExact)
    if (name == exact) return true;
  for (const auto prefix : kPrefixes)
    if (name.starts_with(prefix)) return true;
  return false;
}

}  // namespace
}  // namespace config_detail

std::vector<std::string> unknown_environment_warnings(const std::map<std::string, std::string>& environment) {
  std::map<std::string, std::string> settings;
  config_detail::collect_leaves(default_config_document(), "", settings);
  std::vector<std::string> warnings;
  for (const auto& [name, value] : environment) {
    if (!name.starts_with("KABAR_") || settings.count(name) || config_detail::is_tool_variable(name)) continue;
    std::string closest;
    std::size_t best = name.size() / 3 + 1;  // nearer than a third of the name: a typo, not another word
    for (const auto& [setting, pointer] : settings) {
      const std::size_t distance = config_detail::edit_distance(name, setting);
      if (distance < best) {
        best = distance;
        closest = setting;
      }
    }
    std::string warning = "environment variable " + name + " is not a kabar setting and is ignored";
    if (!closest.empty()) warning += " (did you mean " + closest + "?)";
    warnings.push_back(std::move(warning));
  }
  return warnings;
}

std::map<std::string, std::string> kabar_environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string text(*entry);
    if (text.rfind("KABAR_", 0) != 0) continue;
    const auto equals = text.find('=');
    if (equals == std::string::npos) continue;
    out[text.substr(0, equals)] = text.substr(equals + 1);
  }
  return out;
}

}  // namespace kabar
