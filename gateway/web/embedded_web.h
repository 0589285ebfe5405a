#pragma once
// Files compiled into the binary (see gateway/CMakeLists.txt): the site (web/, by path relative to it,
// e.g. "dokumen/index.html") and the browser client libraries (clients/js/*.js, by file name).
#include <map>
#include <string>
#include <string_view>

namespace kabar::embedded_web {
const std::map<std::string, std::string_view>& all();
std::string_view find(const std::string& name);
}  // namespace kabar::embedded_web

namespace kabar::embedded_clients {
const std::map<std::string, std::string_view>& all();
std::string_view find(const std::string& name);
}  // namespace kabar::embedded_clients
