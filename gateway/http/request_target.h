#pragma once
// Splits an HTTP request target into its path and decoded query parameters.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kabar {

struct RequestTarget {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;  // in order; names may repeat

  std::vector<std::string> all(std::string_view name) const;
  std::optional<std::string> first(std::string_view name) const;
};

// Percent-decodes path and parameters ('+' is a space in the query). nullopt for a malformed escape.
std::optional<RequestTarget> parse_request_target(std::string_view target);

}  // namespace kabar
