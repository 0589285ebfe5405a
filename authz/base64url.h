#pragma once
// Base64url without padding (RFC 4648 §5), as JWTs and JWKs use it. Decoding is strict: only the URL
// alphabet, no padding, no whitespace, and unused trailing bits must be zero, so one token has exactly
// one spelling.
#include <optional>
#include <string>
#include <string_view>

namespace kabar::authz {

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace kabar::authz
