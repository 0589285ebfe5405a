#pragma once
// SchemaRegistry: the JSON Schemas that envelopes and event data are validated against, compiled once.
// Schemas come from the binary (schemas/ is embedded at build time) and, optionally, a directory whose
// files add to or replace them. Validation uses valijson (a real draft-07 validator).
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace kabar {

class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SchemaRegistry {
 public:
  // Loads every embedded schema, then every *.schema.json of extra_dir (if not empty). Throws SchemaError
  // naming the file for a schema that does not parse or compile.
  explicit SchemaRegistry(const std::filesystem::path& extra_dir = {});
  ~SchemaRegistry();

  // name is the file name without ".schema.json", e.g. "envelope", "config", "dokumen.updated".
  bool has(const std::string& name) const;
  // nullopt when valid; otherwise a one-line reason naming the failing JSON pointer and rule.
  // Throws SchemaError for an unknown schema name.
  std::optional<std::string> validate(const std::string& name, const nlohmann::json& document) const;
  std::vector<std::string> names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kabar
