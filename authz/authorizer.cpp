#include "authz/authorizer.h"

namespace kabar::authz {

std::shared_ptr<const Authorizer> Authorizer::load(const std::string& policy_file, const JwtSettings& jwt) {
  Policy policy = policy_file.empty() ? Policy::builtin() : Policy::load_file(policy_file);
  return std::make_shared<const Authorizer>(std::move(policy), TokenVerifier::from_settings(jwt));
}

TokenResult Authorizer::authenticate(std::string_view token) const {
  if (token.empty()) {
    TokenResult result;
    result.claims = Claims::anonymous();
    return result;
  }
  return verifier_.verify(token);
}

TokenResult Authorizer::authenticate(std::string_view token, std::int64_t now_s) const {
  if (token.empty()) {
    TokenResult result;
    result.claims = Claims::anonymous();
    return result;
  }
  return verifier_.verify(token, now_s);
}

}  // namespace kabar::authz
