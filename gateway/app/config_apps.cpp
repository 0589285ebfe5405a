// The `apps` section of the config (config.h): the Pusher apps, whose type is the Pusher door's own
// (gateway/pusher/pusher_config.h), and when the development app is served.
#include <boost/asio/ip/address.hpp>
#include <fstream>
#include <iterator>

#include "gateway/app/config_parts.h"
#include "gateway/outbound/outbound_request.h"

namespace kabar {
namespace config_detail {
namespace {
using nlohmann::json;

// An app's secret kept out of the config file (a compose or Kubernetes secret): the file's content
// without its trailing newline.
std::string read_secret_file(const std::string& file, const std::string& app_id) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError("apps: app \"" + app_id + "\": cannot read secret_file " + file);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw ConfigError("apps: app \"" + app_id + "\": secret_file " + file + " is empty");
  return secret;
}

bool is_loopback(const std::string& listen) {
  if (listen == "localhost") return true;
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(listen, error);
  return !error && address.is_loopback();
}

bool has_jwt_key(const AuthConfig& auth) {
  return !auth.jwt.secret_file.empty() || !auth.jwt.public_key_file.empty() || !auth.jwt.jwks_file.empty() ||
         !auth.jwt.jwks_url.empty();
}

}  // namespace

// The dev app matches Laravel's Reverb defaults (REVERB_APP_ID=local...), so a fresh Laravel app talks
// to kabar without configuration. Production configs name their own apps and secrets.
PusherAppConfig default_app() {
  PusherAppConfig app;
  app.id = "local";
  app.key = "local-key";
  app.secret = std::string(kDevelopmentAppSecret);
  return app;
}

json apps_document(const std::vector<PusherAppConfig>& apps) {
  json list = json::array();
  for (const auto& app : apps) {
    list.push_back({{"id", app.id},
                    {"key", app.key},
                    {"secret", app.secret},
                    {"enable_client_messages", app.enable_client_messages},
                    {"max_connections", app.max_connections},
                    {"allowed_origins", app.allowed_origins},
                    {"activity_timeout", app.activity_timeout},
                    {"webhooks", json::array()}});
  }
  return list;
}

PusherAppConfig app_from(const json& item) {
  const PusherAppConfig defaults;
  PusherAppConfig app;
  app.id = item.at("id").get<std::string>();
  app.key = item.at("key").get<std::string>();
  app.secret = item.contains("secret_file") ? read_secret_file(item.at("secret_file").get<std::string>(), app.id)
                                            : item.at("secret").get<std::string>();
  app.enable_client_messages = item.value("enable_client_messages", defaults.enable_client_messages);
  app.max_connections = item.value("max_connections", defaults.max_connections);
  app.allowed_origins = item.value("allowed_origins", defaults.allowed_origins);
  app.activity_timeout = item.value("activity_timeout", defaults.activity_timeout);
  for (const auto& hook : item.value("webhooks", json::array())) {
    app.webhooks.push_back(WebhookConfig{hook.at("url").get<std::string>(),
                                         hook.value("event_types", std::vector<std::string>{}),
                                         hook.value("ca_file", std::string())});
  }
  return app;
}

// A webhook's ca_file is for https only, and must hold certificates: found at start, not at the first POST.
static void check_webhook(const std::string& app, const WebhookConfig& hook) {
  if (hook.ca_file.empty()) return;
  const std::string where = "apps: app \"" + app + "\": webhook ca_file " + hook.ca_file;
  const auto url = OutboundUrl::parse(hook.url);
  if (!url || !url->tls) throw ConfigError(where + ": only https:// webhook urls use a CA file");
  try {
    make_tls_context(hook.ca_file);
  } catch (const std::exception& error) {
    throw ConfigError("apps: app \"" + app + "\": webhook " + error.what());
  }
}

// Apps are found by key (WebSocket) and by id (REST): both must be unique. pusher-js fails the handshake
// on an activity_timeout of 0 ("No activity timeout specified"), so it must be positive.
void check_apps(const std::vector<PusherAppConfig>& apps) {
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (apps[i].activity_timeout <= 0)
      throw ConfigError("apps: app \"" + apps[i].id + "\" has activity_timeout " +
                        std::to_string(apps[i].activity_timeout) + ": it must be at least 1 (seconds)");
    for (const auto& hook : apps[i].webhooks) check_webhook(apps[i].id, hook);
    for (std::size_t j = 0; j < i; ++j) {
      if (apps[i].id == apps[j].id) throw ConfigError("apps: two apps have the id \"" + apps[i].id + "\"");
      if (apps[i].key == apps[j].key)
        throw ConfigError("apps: two apps have the key \"" + apps[i].key + "\"");
    }
  }
}

// The development app's secret is public (Reverb's "local-secret"): whoever reaches kabar can sign
// private-cabang.7 or publish over REST with it. So (docs/configuration.md "Pusher apps"):
//  * without `apps` in the file it is served only on a laptop: http.listen on the loopback and no
//    auth.jwt key (a server that checks tokens is not a laptop toy); otherwise no app is served;
//  * an app with that secret, configured on purpose, is refused when kabar listens beyond the loopback.
void settle_development_app(Config& config, bool apps_given) {
  const bool loopback = is_loopback(config.http.listen);
  if (config.demo.enabled && !loopback) {
    throw ConfigError("kabar demo signs development logins and serves the development Pusher app: it listens on "
                      "the loopback only, and http.listen is " + config.http.listen +
                      " (use --listen 127.0.0.1, or `kabar serve` with your own keys)");
  }
  if (!apps_given) {
    // `kabar demo` has a JWT key (its own development key) and is still a laptop toy: loopback only.
    config.development_app = loopback && (!has_jwt_key(config.auth) || config.demo.enabled);
    if (!config.development_app) {
      config.apps.clear();
      config.document["apps"] = json::array();
    }
    return;
  }
  if (loopback) return;
  for (const auto& app : config.apps) {
    if (app.secret != kDevelopmentAppSecret) continue;
    throw ConfigError("apps: app \"" + app.id + "\" has the public development secret \"" +
                      std::string(kDevelopmentAppSecret) + "\" and http.listen is " + config.http.listen +
                      ", beyond the loopback: anyone who reaches kabar could publish and sign channel "
                      "authorizations with it. Give the app its own secret (or secret_file), or listen on "
                      "127.0.0.1");
  }
}

}  // namespace config_detail
}  // namespace kabar
