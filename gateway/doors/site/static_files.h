#pragma once
// The site kabar serves from its own binary (docs/protocol.md "Web pages"): the folder web/ of the
// repository at "/", and the browser client libraries of clients/js/ at "/kabar.js", "/kabar-echo.js".
// Both are compiled in (cmake/EmbedFiles.cmake), so a lookup is a map find: no file system, no path
// can reach outside them.
#include <optional>
#include <string>
#include <string_view>

namespace kabar {

struct StaticFile {
  std::string_view body;
  std::string_view content_type;
  std::string etag;  // quoted strong validator of the body
};

struct StaticAnswer {
  enum class Kind { NotFound, File, Redirect } kind = Kind::NotFound;
  StaticFile file;        // Kind::File
  std::string location;   // Kind::Redirect: the same path with a trailing slash ("/dokumen" -> "/dokumen/")
};

// `path` is the decoded URL path. "/" and "/x/" serve their index.html; "/x" where x/index.html exists
// redirects to "/x/", so the page's relative links resolve.
StaticAnswer find_static_file(std::string_view path);

}  // namespace kabar
