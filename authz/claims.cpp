#include "authz/claims.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <nlohmann/json.hpp>

namespace kabar::authz {
namespace {
using nlohmann::json;

// The text a policy compares: integers without a fraction, so 3 and 3.0 and "3" are the same branch.
std::optional<std::string> scalar_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  // is_number_integer() is also true for unsigned numbers, so unsigned is asked first.
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) < 9e15)
      return std::to_string(static_cast<std::int64_t>(number));
    return value.dump();
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> claim_values(const json& value) {
  if (!value.is_array()) {
    auto text = scalar_text(value);
    if (!text) return std::nullopt;
    return std::vector<std::string>{std::move(*text)};
  }
  std::vector<std::string> list;
  for (const auto& item : value) {
    if (auto text = scalar_text(item)) list.push_back(std::move(*text));
  }
  return list;
}

}  // namespace

std::optional<std::int64_t> numeric_date(const json& value) {
  // Clamped, because a float far outside int64 would make the conversion undefined behaviour.
  constexpr double kLimit = 9.2e18;
  if (value.is_number_unsigned())
    return static_cast<std::int64_t>(std::min<std::uint64_t>(value.get<std::uint64_t>(), INT64_MAX));
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (!value.is_number_float()) return std::nullopt;
  const double number = value.get<double>();
  if (std::isnan(number)) return std::nullopt;
  return static_cast<std::int64_t>(std::clamp(std::floor(number), -kLimit, kLimit));
}

Claims Claims::from_payload(const json& payload) {
  Claims claims;
  claims.authenticated = true;
  if (!payload.is_object()) return claims;
  for (const auto& [name, value] : payload.items()) {
    if (auto list = claim_values(value)) claims.values.emplace(name, std::move(*list));
  }
  if (auto sub = payload.find("sub"); sub != payload.end() && sub->is_string())
    claims.subject = sub->get<std::string>();
  if (auto exp = payload.find("exp"); exp != payload.end()) claims.expires_at = numeric_date(*exp);
  return claims;
}

const std::vector<std::string>* Claims::find(std::string_view name) const {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second;
}

std::string Claims::describe() const {
  if (!authenticated) return "anonymous (no token)";
  std::string text;
  for (const auto& [name, list] : values) {
    if (name == "iat" || name == "nbf" || name == "jti") continue;  // noise in an explanation
    if (!text.empty()) text += ' ';
    text += name + '=';
    if (list.size() == 1) {
      text += list.front();
      continue;
    }
    text += '[';
    for (std::size_t i = 0; i < list.size(); ++i) text += (i ? "," : "") + list[i];
    text += ']';
  }
  return text.empty() ? "a token without claims" : text;
}

}  // namespace kabar::authz
