#pragma once
// Files compiled into kabar_authz (authz/CMakeLists.txt): "policy.schema.json" and "default-policy.json".
#include <map>
#include <string>
#include <string_view>

namespace kabar::authz::embedded {
const std::map<std::string, std::string_view>& all();
std::string_view find(const std::string& name);  // empty when there is no such file
}  // namespace kabar::authz::embedded
