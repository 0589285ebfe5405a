#include "gateway/app/authz_commands.h"

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "authz/authorizer.h"
#include "bridge/schema_registry.h"
#include "gateway/app/config.h"

namespace kabar {
namespace {
using nlohmann::json;
constexpr int kExitRefused = 1;

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) items.push_back(std::move(item));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

// "3,4" -> [3, 4]; ids that are not numbers stay strings. Policies compare them as text either way.
json id_list(const std::string& text) {
  json list = json::array();
  for (const auto& item : split_list(text)) {
    const bool numeric = item.size() < 16 && item.find_first_not_of("0123456789") == std::string::npos;
    list.push_back(numeric ? json(std::stoll(item)) : json(item));
  }
  return list;
}

Config load_config_file(const std::string& file) {
  SchemaRegistry schemas;
  ConfigSources sources;
  if (!file.empty()) sources.file = file;
  sources.environment = kabar_environment();
  return load_config(sources, schemas);
}

// Any key error is a configuration problem: exit code 2 with the file named.
template <class F>
auto config_errors(F&& action) {
  try {
    return action();
  } catch (const authz::KeyError& error) {
    throw ConfigError(error.what());
  } catch (const authz::PolicyError& error) {
    throw ConfigError(error.what());
  }
}

json token_claims(const std::string& subject, const std::string& role, const std::string& cabang, long ttl,
                  const std::string& issuer, const std::string& audience,
                  const std::vector<std::string>& extra) {
  const std::int64_t now = unix_s();
  json claims = {{"sub", subject}, {"iat", now}, {"exp", now + ttl}};
  const auto roles = split_list(role);
  if (roles.size() == 1) claims["role"] = roles.front();
  if (roles.size() > 1) claims["role"] = roles;
  if (!cabang.empty()) claims["cabang"] = id_list(cabang);
  if (!issuer.empty()) claims["iss"] = issuer;
  if (!audience.empty()) claims["aud"] = audience;
  for (const auto& item : extra) {
    const auto equals = item.find('=');
    if (equals == std::string::npos || equals == 0)
      throw CLI::ValidationError("--claim wants NAME=VALUE, got " + item);
    json value = json::parse(item.substr(equals + 1), nullptr, false);
    claims[item.substr(0, equals)] = value.is_discarded() ? json(item.substr(equals + 1)) : value;
  }
  return claims;
}

}  // namespace

AuthzCommands::AuthzCommands(CLI::App& app) {
  token_ = app.add_subcommand("token", "Mint a JWT for development and tests (prints it on stdout)");
  token_->add_option("-c,--config", token_keys_.config_file, "Config file (for auth.jwt.secret_file)");
  token_->add_option("--sub", subject_, "Subject: the user or service id")->required();
  token_->add_option("--role", role_,
                     "Role, or several separated by commas (kasir, admin, super_admin, backend)");
  token_->add_option("--cabang", cabang_, "Branches the holder may see, e.g. 3,4 (\"*\": all)");
  token_->add_option("--ttl", ttl_, "Seconds until it expires")->check(CLI::Range(1L, 10L * 365 * 24 * 3600));
  token_->add_option("--secret-file", token_keys_.secret_file, "Sign with this HS256 secret");
  token_->add_option("--key", token_keys_.key_file, "Sign with this PEM private key (RS256 or ES256)");
  token_->add_option("--alg", token_keys_.algorithm,
                     "Algorithm for --key: RS256 or ES256 (default: the key's)");
  token_->add_option("--kid", kid_, "Key id to put in the header (JWKS setups)");
  token_->add_option("--iss", issuer_, "Issuer claim");
  token_->add_option("--aud", audience_, "Audience claim");
  token_->add_option("--claim", extra_claims_,
                     "Extra claim NAME=VALUE (VALUE parsed as JSON when it is JSON)");

  authz_ = app.add_subcommand("authz", "Authorization tools");
  authz_->require_subcommand(1);
  explain_ =
      authz_->add_subcommand("explain", "Explain the policy's decision for a token and a channel or topic");
  explain_->add_option("TOKEN", explain_token_, "The JWT (\"-\" for no token)")->required();
  explain_
      ->add_option("NAME", explain_name_, "A channel (private-cabang.3) or an MQTT topic (cabang/3/omset)");
  explain_->add_option("--policy", policy_file_,
                       "Policy file (default: auth.policy_file, else the built-in one)");
  explain_->add_flag("--publish", explain_publish_, "Explain publishing instead of reading");
  explain_->add_flag("--admin", explain_admin_,
                     "Explain the admin grant (the operator's page, /admin/) instead: no NAME");
  explain_->add_option("-c,--config", explain_keys_.config_file, "Config file (keys, policy)");
  explain_->add_option("--secret-file", explain_keys_.secret_file, "Verify with this HS256 secret");
  explain_->add_option("--key", explain_keys_.key_file, "Verify with this PEM public key");
  explain_->add_option("--jwks", explain_keys_.jwks_file, "Verify with this JWKS file");
}

void AuthzCommands::add_policy_option(CLI::App& check_config) {
  check_config.add_option("--policy", check_policy_file_, "Also validate this policy file");
}

void AuthzCommands::check_policy() const {
  if (check_policy_file_.empty()) return;
  const auto policy = config_errors([&] { return authz::Policy::load_file(check_policy_file_); });
  std::cout << "policy file " << check_policy_file_ << " is valid (" << policy.rules().size() << " rules)\n";
}

std::optional<int> AuthzCommands::run() const {
  if (*token_) return config_errors([&] { return mint(); });
  if (*explain_) return config_errors([&] { return explain(); });
  return std::nullopt;
}

int AuthzCommands::mint() const {
  const json claims = token_claims(subject_, role_, cabang_, ttl_, issuer_, audience_, extra_claims_);
  std::string token;
  if (!token_keys_.key_file.empty()) {
    const std::string key = authz::read_key_file(token_keys_.key_file, "private key file");
    if (!token_keys_.algorithm.empty()) {
      const auto algorithm = authz::algorithm_from(token_keys_.algorithm);
      if (!algorithm || *algorithm == authz::Algorithm::HS256)
        throw CLI::ValidationError("--alg must be RS256 or ES256 with --key");
      token = authz::sign_token(claims, *algorithm, key, kid_);
    } else {
      try {
        token = authz::sign_token(claims, authz::Algorithm::RS256, key, kid_);
      } catch (const authz::KeyError&) {
        token = authz::sign_token(claims, authz::Algorithm::ES256, key, kid_);
      }
    }
  } else {
    std::string secret_file = token_keys_.secret_file;
    if (secret_file.empty()) secret_file = load_config_file(token_keys_.config_file).auth.jwt.secret_file;
    if (secret_file.empty())
      throw CLI::ValidationError("give --secret-file FILE or --key FILE (or set auth.jwt.secret_file)");
    const auto key = authz::hmac_key(authz::read_key_file(secret_file, "JWT secret file"),
                                     "JWT secret file " + secret_file);
    token = authz::sign_token(claims, authz::Algorithm::HS256, key.material, kid_);
  }
  std::cout << token << "\n";
  return 0;
}

int AuthzCommands::explain() const {
  if (explain_admin_ && (!explain_name_.empty() || explain_publish_))
    throw CLI::ValidationError("--admin is asked of the node: give no NAME and no --publish");
  if (!explain_admin_ && explain_name_.empty())
    throw CLI::ValidationError("give a channel or an MQTT topic to explain (or --admin)");
  const bool from_flags = !explain_keys_.secret_file.empty() || !explain_keys_.key_file.empty() ||
                          !explain_keys_.jwks_file.empty();
  const Config config = load_config_file(explain_keys_.config_file);
  authz::JwtSettings settings = jwt_settings(config.auth);
  if (from_flags) {
    settings.secret_file = explain_keys_.secret_file;
    settings.public_key_file = explain_keys_.key_file;
    settings.public_key_algorithm.clear();
    settings.jwks_file = explain_keys_.jwks_file;
  }
  const std::string policy_file = policy_file_.empty() ? config.auth.policy_file : policy_file_;
  const auto authorizer = authz::Authorizer::load(policy_file, settings);
  std::cout << "policy: " << authorizer->policy().origin() << "\n";

  authz::Claims claims = authz::Claims::anonymous();
  const std::string token = explain_token_ == "-" ? std::string() : explain_token_;
  if (!token.empty() && !authorizer->verifier().has_keys()) {
    const auto payload = authz::decode_unverified(token);
    if (!payload) {
      std::cout << "token: malformed\n";
      return kExitRefused;
    }
    std::cout << "token: NOT verified (no key configured: give --secret-file, --key or --jwks)\n";
    claims = authz::Claims::from_payload(*payload);
  } else {
    const auto result = authorizer->authenticate(token, unix_s());
    if (!result.ok()) {
      std::cout << "token: refused: " << authz::to_string(result.failure) << ": " << result.message << "\n";
      return kExitRefused;
    }
    claims = *result.claims;
    std::cout << "token: " << (token.empty() ? "none (anonymous)" : "valid") << "\n";
  }
  const auto action = explain_admin_     ? authz::Action::Admin
                      : explain_publish_ ? authz::Action::Publish
                                         : authz::Action::Read;
  const auto resource = explain_admin_ ? authz::Resource::node() : authz::Resource::guess(explain_name_);
  const auto explanation = authorizer->explain(claims, action, resource);
  for (const auto& line : explanation.trail) std::cout << "  " << line << "\n";
  const auto& decision = explanation.decision;
  std::cout << (decision.allowed ? "ALLOWED" : "REFUSED") << " (" << decision.code << "): " << decision.reason
            << "\n";
  return decision.allowed ? 0 : kExitRefused;
}

}  // namespace kabar
