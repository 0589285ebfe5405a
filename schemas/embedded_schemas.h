#pragma once
// The JSON Schemas of schemas/, compiled into the binary (see schemas/CMakeLists.txt).
// Names are file names: "envelope.schema.json", "config.schema.json", "dokumen.updated.schema.json", ...
#include <map>
#include <string>
#include <string_view>

namespace kabar::embedded_schemas {
const std::map<std::string, std::string_view>& all();
std::string_view find(const std::string& name);  // empty when there is no such file
}  // namespace kabar::embedded_schemas
