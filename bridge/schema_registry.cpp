#include "bridge/schema_registry.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "schemas/embedded_schemas.h"

namespace kabar {
namespace {

constexpr std::string_view kSuffix = ".schema.json";

// libstdc++'s std::regex matches recursively, about 250 bytes of stack per input character: a
// 40k-character string checked against "pattern" overflows an 8 MB stack and kills the process.
// Documents validated by a schema that uses regular expressions therefore may not hold longer strings.
constexpr std::size_t kMaxRegexInput = 1024;

struct CompiledSchema {
  valijson::Schema schema;
  bool uses_regex = false;  // pattern, patternProperties or format somewhere in the schema
};

bool schema_uses_regex(const nlohmann::json& node) {
  if (node.is_array()) return std::any_of(node.begin(), node.end(), schema_uses_regex);
  if (!node.is_object()) return false;
  for (const auto& [key, value] : node.items()) {
    if (key == "pattern" || key == "patternProperties" || key == "format") return true;
    if (schema_uses_regex(value)) return true;
  }
  return false;
}

std::string escape_pointer_token(std::string_view token) {
  // nlohmann escapes ~ and / (RFC 6901) when it prints a pointer: one token, without its leading slash.
  return (nlohmann::json::json_pointer() / std::string(token)).to_string().substr(1);
}

// valijson's context is {"<root>", "[name]", "[0]", ...}; a JSON pointer reads better in a reason.
std::string json_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (std::size_t i = 1; i < context.size(); ++i) {
    const std::string& part = context[i];
    const bool bracketed = part.size() >= 2 && part.front() == '[' && part.back() == ']';
    pointer +=
        '/' + escape_pointer_token(bracketed ? std::string_view(part).substr(1, part.size() - 2) : part);
  }
  return pointer.empty() ? "(root)" : pointer;
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// The pointer of the first string or key longer than `limit`, if any (built on the way back, so the
// common case of nothing found allocates nothing).
std::optional<std::string> find_long_string(const nlohmann::json& node, std::size_t limit) {
  if (node.is_string()) {
    if (node.get_ref<const std::string&>().size() > limit) return std::string();
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto found = find_long_string(node[i], limit)) return "/" + std::to_string(i) + *found;
    }
  } else if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key.size() > limit) return "/" + escape_pointer_token(key);
      if (auto found = find_long_string(value, limit)) return "/" + escape_pointer_token(key) + *found;
    }
  }
  return std::nullopt;
}

// valijson reports a failure inside a property or an anyOf branch once where it happened and again at
// every enclosing level ("Failed to validate against schema associated with property name ...").
bool is_wrapper_error(const std::string& description) {
  return description.starts_with("Failed to validate against") ||
         description.starts_with("Failed to validate item");
}

// One line: the specific failures (pointer: rule), at most three, and how many more there were.
std::string summarize(const valijson::ValidationResults& results) {
  constexpr std::size_t kShown = 3;
  std::vector<std::string> specific;
  for (const auto& error : results) {
    if (is_wrapper_error(error.description)) continue;
    std::string line = json_pointer(error.context) + ": " + one_line(error.description);
    if (std::find(specific.begin(), specific.end(), line) == specific.end())
      specific.push_back(std::move(line));
  }
  if (specific.empty() && results.numErrors() > 0) {
    const auto& first = *results.begin();
    specific.push_back(json_pointer(first.context) + ": " + one_line(first.description));
  }
  if (specific.empty()) return "does not validate";
  std::string reason;
  for (std::size_t i = 0; i < specific.size() && i < kShown; ++i) reason += (i ? "; " : "") + specific[i];
  if (specific.size() > kShown) reason += " (and " + std::to_string(specific.size() - kShown) + " more)";
  return reason;
}

std::unique_ptr<CompiledSchema> compile(const std::string& origin, std::string_view text) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw SchemaError(origin + ": not valid JSON: " + e.what());
  }
  if (!document.is_object() && !document.is_boolean())
    throw SchemaError(origin + ": a schema must be an object");
  auto compiled = std::make_unique<CompiledSchema>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, compiled->schema);
  } catch (const std::exception& e) {
    throw SchemaError(origin + ": not a usable JSON Schema (draft-07): " + one_line(e.what()));
  }
  compiled->uses_regex = schema_uses_regex(document);
  return compiled;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SchemaError(path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

struct SchemaRegistry::Impl {
  std::map<std::string, std::unique_ptr<CompiledSchema>, std::less<>> schemas;

  // valijson::Validator caches compiled regexes in a mutable map, so one instance must not be shared
  // between threads; a small pool keeps that cache warm without a lock around validation itself.
  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<valijson::Validator>> pool;

  void add(const std::string& file_name, const std::string& origin, std::string_view text) {
    std::string name = file_name.substr(0, file_name.size() - kSuffix.size());
    schemas[std::move(name)] = compile(origin, text);
  }

  void add_directory(const std::filesystem::path& dir) {
    std::error_code error;
    if (!std::filesystem::is_directory(dir, error)) throw SchemaError(dir.string() + ": not a directory");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string file_name = entry.path().filename().string();
      if (entry.is_regular_file() && file_name.ends_with(kSuffix) && file_name.size() > kSuffix.size())
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // a stable order makes "which file failed" reproducible
    for (const auto& path : files) add(path.filename().string(), path.string(), read_file(path));
  }

  std::unique_ptr<valijson::Validator> acquire() const {
    std::lock_guard lock(pool_mutex);
    if (pool.empty()) return std::make_unique<valijson::Validator>(valijson::Validator::kStrongTypes);
    auto validator = std::move(pool.back());
    pool.pop_back();
    return validator;
  }

  void release(std::unique_ptr<valijson::Validator> validator) const {
    std::lock_guard lock(pool_mutex);
    if (pool.size() < 16) pool.push_back(std::move(validator));
  }

  std::optional<std::string> run(const CompiledSchema& compiled, const nlohmann::json& document) const {
    auto validator = acquire();
    valijson::adapters::NlohmannJsonAdapter target(document);
    std::optional<std::string> reason;
    // The fast path stops at the first failed constraint; only a failure pays for collecting errors.
    if (!validator->validate(compiled.schema, target, nullptr)) {
      valijson::ValidationResults results;
      validator->validate(compiled.schema, target, &results);
      reason = summarize(results);
    }
    release(std::move(validator));
    return reason;
  }
};

SchemaRegistry::SchemaRegistry(const std::filesystem::path& extra_dir) : impl_(std::make_unique<Impl>()) {
  for (const auto& [file_name, text] : embedded_schemas::all()) {
    if (file_name.ends_with(kSuffix)) impl_->add(file_name, "embedded " + file_name, text);
  }
  if (!extra_dir.empty()) impl_->add_directory(extra_dir);
}

SchemaRegistry::~SchemaRegistry() = default;

bool SchemaRegistry::has(const std::string& name) const { return impl_->schemas.count(name) > 0; }

std::optional<std::string> SchemaRegistry::validate(const std::string& name,
                                                    const nlohmann::json& document) const {
  const auto found = impl_->schemas.find(name);
  if (found == impl_->schemas.end()) throw SchemaError("unknown schema '" + name + "'");
  const CompiledSchema& compiled = *found->second;
  if (compiled.uses_regex) {
    if (auto where = find_long_string(document, kMaxRegexInput))
      return (where->empty() ? std::string("(root)") : *where) + ": string longer than " +
             std::to_string(kMaxRegexInput) + " characters, the limit for schemas that use pattern or format";
  }
  try {
    return impl_->run(compiled, document);
  } catch (const std::exception& e) {
    // A malformed "pattern" only shows when std::regex compiles it, at validation time.
    return "schema '" + name + "' could not be applied: " + one_line(e.what());
  }
}

std::vector<std::string> SchemaRegistry::names() const {
  std::vector<std::string> names;
  for (const auto& [name, compiled] : impl_->schemas) names.push_back(name);
  return names;
}

}  // namespace kabar
