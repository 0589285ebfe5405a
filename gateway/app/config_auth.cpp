// The `auth` section of the config (config.h): where tokens are verified and which policy authorizes
// channels (docs/authorization.md), as a document, as AuthConfig, and as the authorization library
// takes it.
#include "authz/authorizer.h"
#include "gateway/app/config_parts.h"
#include "gateway/outbound/outbound_request.h"

namespace kabar {
namespace config_detail {
using nlohmann::json;

json auth_document(const AuthConfig& auth) {
  const JwtConfig& jwt = auth.jwt;
  return {{"policy_file", auth.policy_file},
          {"query_token", auth.query_token},
          {"jwt",
           {{"secret_file", jwt.secret_file},
            {"public_key_file", jwt.public_key_file},
            {"algorithm", jwt.algorithm},
            {"jwks_file", jwt.jwks_file},
            {"jwks_url", jwt.jwks_url},
            {"jwks_ca_file", jwt.jwks_ca_file},
            {"jwks_refresh_s", jwt.jwks_refresh_s},
            {"jwks_min_refetch_s", jwt.jwks_min_refetch_s},
            {"issuer", jwt.issuer},
            {"audience", jwt.audience},
            {"clock_skew_s", jwt.clock_skew_s},
            {"max_token_bytes", jwt.max_token_bytes},
            {"require_exp", jwt.require_exp}}}};
}

AuthConfig auth_from(const json& node) {
  AuthConfig auth;
  auth.policy_file = node.at("policy_file").get<std::string>();
  auth.query_token = node.at("query_token").get<bool>();
  const json& jwt = node.at("jwt");
  auth.jwt.secret_file = jwt.at("secret_file").get<std::string>();
  auth.jwt.public_key_file = jwt.at("public_key_file").get<std::string>();
  auth.jwt.algorithm = jwt.at("algorithm").get<std::string>();
  auth.jwt.jwks_file = jwt.at("jwks_file").get<std::string>();
  auth.jwt.jwks_url = jwt.at("jwks_url").get<std::string>();
  auth.jwt.jwks_ca_file = jwt.at("jwks_ca_file").get<std::string>();
  auth.jwt.jwks_refresh_s = jwt.at("jwks_refresh_s").get<int>();
  auth.jwt.jwks_min_refetch_s = jwt.at("jwks_min_refetch_s").get<int>();
  auth.jwt.issuer = jwt.at("issuer").get<std::string>();
  auth.jwt.audience = jwt.at("audience").get<std::string>();
  auth.jwt.clock_skew_s = jwt.at("clock_skew_s").get<int>();
  auth.jwt.max_token_bytes = jwt.at("max_token_bytes").get<std::size_t>();
  auth.jwt.require_exp = jwt.at("require_exp").get<bool>();
  return auth;
}

// auth.jwt.jwks_url: a URL kabar can fetch; its CA file, for https only, must hold certificates. The
// document itself is fetched when kabar starts (a provider that is down must not stop a config check).
static void check_jwks_url(const JwtConfig& jwt) {
  if (jwt.jwks_url.empty()) {
    if (!jwt.jwks_ca_file.empty())
      throw ConfigError("invalid configuration: auth.jwt.jwks_ca_file is set but auth.jwt.jwks_url is not");
    return;
  }
  const auto url = OutboundUrl::parse(jwt.jwks_url);
  if (!url)
    throw ConfigError("invalid configuration: auth.jwt.jwks_url '" + jwt.jwks_url +
                      "' is not http(s)://host[:port]/path");
  if (jwt.jwks_ca_file.empty()) return;
  if (!url->tls)
    throw ConfigError("invalid configuration: auth.jwt.jwks_ca_file is for an https:// jwks_url");
  try {
    make_tls_context(jwt.jwks_ca_file);
  } catch (const std::exception& error) {
    throw ConfigError("invalid configuration: auth.jwt.jwks_ca_file: " + std::string(error.what()));
  }
}

// The policy file and the keys are part of the configuration: a mistake in them stops kabar at start
// (exit 2) with the file and the place, like any other configuration error.
void check_auth(const AuthConfig& auth) {
  try {
    authz::Authorizer::load(auth.policy_file, jwt_settings(auth));
  } catch (const std::exception& error) {
    throw ConfigError(error.what());
  }
  check_jwks_url(auth.jwt);
}

}  // namespace config_detail

authz::JwtSettings jwt_settings(const AuthConfig& auth) {
  authz::JwtSettings settings;
  settings.secret_file = auth.jwt.secret_file;
  settings.public_key_file = auth.jwt.public_key_file;
  settings.public_key_algorithm = auth.jwt.algorithm;
  settings.jwks_file = auth.jwt.jwks_file;
  settings.options.issuer = auth.jwt.issuer;
  settings.options.audience = auth.jwt.audience;
  settings.options.clock_skew_s = auth.jwt.clock_skew_s;
  settings.options.max_token_bytes = auth.jwt.max_token_bytes;
  settings.options.require_exp = auth.jwt.require_exp;
  return settings;
}

}  // namespace kabar
