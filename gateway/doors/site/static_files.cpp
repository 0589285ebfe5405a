#include "gateway/doors/site/static_files.h"

#include <array>
#include <map>
#include <mutex>
#include <utility>

#include "gateway/web/embedded_web.h"

namespace kabar {
namespace {

std::string_view content_type_of(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/plain; charset=utf-8"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
  }};
  for (const auto& [extension, type] : kTypes) {
    if (name.ends_with(extension)) return type;
  }
  if (name.find("LICENSE") != std::string_view::npos || name.ends_with("VERSION")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// FNV-1a of the bytes: the files never change while the process runs, so it is computed once per file.
std::string etag_of(std::string_view body) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (const unsigned char c : body) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char buffer[24];
  std::snprintf(buffer, sizeof(buffer), "\"%016llx\"", static_cast<unsigned long long>(hash));
  return buffer;
}

const std::string& cached_etag(const std::string& name, std::string_view body) {
  static std::mutex mutex;
  static std::map<std::string, std::string> etags;  // immutable content: a cache, not state
  std::lock_guard lock(mutex);
  auto [it, inserted] = etags.try_emplace(name);
  if (inserted) it->second = etag_of(body);
  return it->second;
}

std::optional<StaticFile> lookup(const std::string& name) {
  // A top-level name may be a client library (clients/js/*.js); everything else is the site (web/).
  std::string_view body;
  std::string key;
  if (name.find('/') == std::string::npos) {
    body = embedded_clients::find(name);
    if (!body.empty()) key = "clients/" + name;
  }
  if (key.empty()) {
    body = embedded_web::find(name);
    if (body.empty()) return std::nullopt;
    key = "web/" + name;
  }
  return StaticFile{body, content_type_of(name), cached_etag(key, body)};
}

}  // namespace

StaticAnswer find_static_file(std::string_view path) {
  StaticAnswer answer;
  if (path.empty() || path.front() != '/') return answer;
  std::string name(path.substr(1));
  if (name.empty() || name.ends_with('/')) name += "index.html";
  if (auto file = lookup(name)) {
    answer.kind = StaticAnswer::Kind::File;
    answer.file = std::move(*file);
    return answer;
  }
  if (!name.ends_with("index.html") && lookup(name + "/index.html")) {
    answer.kind = StaticAnswer::Kind::Redirect;
    answer.location = std::string(path) + "/";
  }
  return answer;
}

}  // namespace kabar
