#pragma once
// Claims: what a verified token says about its holder, in the shape the policy asks about. Anonymous
// requests (no token) have Claims too, so every door asks the same question the same way.
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kabar::authz {

struct Claims {
  bool authenticated = false;              // false: no token was given
  std::string subject;                     // "sub"
  std::optional<std::int64_t> expires_at;  // "exp", Unix seconds
  // Every top-level claim that is a string, number, boolean or an array of those, as strings, so a
  // policy condition compares values without caring how the issuer typed them: {"cabang": [3, "4"]}
  // becomes "cabang" -> {"3", "4"}. Objects and nested arrays are left out.
  std::map<std::string, std::vector<std::string>, std::less<>> values;

  static Claims anonymous() { return {}; }
  static Claims from_payload(const nlohmann::json& payload);

  // nullptr when the token has no such claim.
  const std::vector<std::string>* find(std::string_view name) const;
  // "sub=u1 role=kasir cabang=[3,4]" (for explanations; never holds the token itself).
  std::string describe() const;
};

// A JWT NumericDate ("exp", "nbf", "iat") as whole Unix seconds; nullopt when the value is not a number.
std::optional<std::int64_t> numeric_date(const nlohmann::json& value);

}  // namespace kabar::authz
