#include "gateway/app/embedded_broker_auth.h"

#include <unistd.h>

#include <system_error>

namespace kabar {
namespace {

bool has_jwt_key(const JwtConfig& jwt) {
  return !jwt.secret_file.empty() || !jwt.public_key_file.empty() || !jwt.jwks_file.empty();
}

// mosquitto runs with kabar's working directory, but an absolute path stays right if that changes.
std::string absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ignored;
  return std::filesystem::absolute(path, ignored).string();
}

// The plugin takes the same settings as kabar's doors, so both verify tokens and decide alike.
std::vector<std::pair<std::string, std::string>> plugin_options(const AuthConfig& auth) {
  std::vector<std::pair<std::string, std::string>> options;
  auto add = [&options](const char* key, const std::string& value) {
    if (!value.empty()) options.emplace_back(key, value);
  };
  add("policy", absolute(auth.policy_file));
  add("jwt_secret_file", absolute(auth.jwt.secret_file));
  add("jwt_public_key", absolute(auth.jwt.public_key_file));
  add("jwt_algorithm", auth.jwt.algorithm);
  add("jwt_jwks", absolute(auth.jwt.jwks_file));
  add("jwt_issuer", auth.jwt.issuer);
  add("jwt_audience", auth.jwt.audience);
  add("jwt_clock_skew_s", std::to_string(auth.jwt.clock_skew_s));
  add("jwt_max_token_bytes", std::to_string(auth.jwt.max_token_bytes));
  add("jwt_require_exp", auth.jwt.require_exp ? "true" : "false");
  return options;
}

}  // namespace

std::filesystem::path default_auth_plugin_path() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "kabar_auth_plugin.so";
  return self.parent_path() / "kabar_auth_plugin.so";
}

std::optional<EmbeddedBrokerAuth> embedded_broker_auth(const Config& config) {
  const std::string& mode = config.broker.embedded_auth;
  if (mode == "off" || (mode == "auto" && !has_jwt_key(config.auth.jwt))) return std::nullopt;
  EmbeddedBrokerAuth auth;
  auth.plugin = config.broker.auth_plugin.empty() ? default_auth_plugin_path()
                                                  : std::filesystem::path(absolute(config.broker.auth_plugin));
  if (::access(auth.plugin.c_str(), R_OK) != 0) {
    throw BrokerError("the embedded broker should hold MQTT clients to the policy (auth.jwt is set, "
                      "broker.embedded_auth is " + mode + ") but the plugin " + auth.plugin.string() +
                      " is not there: build kabar_auth_plugin, set broker.auth_plugin, or set "
                      "broker.embedded_auth=off for an anonymous broker");
  }
  auth.plugin_options = plugin_options(config.auth);
  return auth;
}

}  // namespace kabar
