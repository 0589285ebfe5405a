#include "gateway/app/config.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "authz/authorizer.h"
#include "bridge/schema_registry.h"

extern char** environ;

namespace kabar {
namespace {
using nlohmann::json;

json routes_document(const std::vector<Route>& routes) {
  json list = json::array();
  for (const auto& route : routes) {
    json item = {{"topic", route.topic}, {"channel", route.channel}};
    if (!route.event.empty()) item["event"] = route.event;
    if (!route.schema.empty()) item["schema"] = route.schema;
    list.push_back(item);
  }
  return list;
}

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
    app.webhooks.push_back(
        WebhookConfig{hook.at("url").get<std::string>(), hook.value("event_types", std::vector<std::string>{})});
  }
  return app;
}

// Apps are found by key (WebSocket) and by id (REST): both must be unique. pusher-js fails the handshake
// on an activity_timeout of 0 ("No activity timeout specified"), so it must be positive.
void check_apps(const std::vector<PusherAppConfig>& apps) {
  for (std::size_t i = 0; i < apps.size(); ++i) {
    if (apps[i].activity_timeout <= 0)
      throw ConfigError("apps: app \"" + apps[i].id + "\" has activity_timeout " +
                        std::to_string(apps[i].activity_timeout) + ": it must be at least 1 (seconds)");
    for (std::size_t j = 0; j < i; ++j) {
      if (apps[i].id == apps[j].id) throw ConfigError("apps: two apps have the id \"" + apps[i].id + "\"");
      if (apps[i].key == apps[j].key)
        throw ConfigError("apps: two apps have the key \"" + apps[i].key + "\"");
    }
  }
}

bool is_loopback(const std::string& listen) {
  if (listen == "localhost") return true;
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(listen, error);
  return !error && address.is_loopback();
}

bool has_jwt_key(const AuthConfig& auth) {
  return !auth.jwt.secret_file.empty() || !auth.jwt.public_key_file.empty() || !auth.jwt.jwks_file.empty();
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

// Scalar leaves of the defaults, as "http.port" -> pointer "/http/port", so every setting has exactly
// one environment name: KABAR_HTTP_PORT.
void collect_leaves(const json& node, const std::string& pointer, std::map<std::string, std::string>& out) {
  if (!node.is_object()) return;
  for (const auto& [key, value] : node.items()) {
    const std::string child = pointer + "/" + key;
    if (value.is_object()) {
      collect_leaves(value, child, out);
    } else if (!value.is_array()) {
      std::string name = "KABAR" + child;
      std::replace(name.begin(), name.end(), '/', '_');
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
      out[name] = child;
    }
  }
}

json parse_env_value(const std::string& name, const std::string& text, const json& like) {
  if (like.is_boolean()) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
    throw ConfigError(name + "=" + text + ": expected true or false");
  }
  if (like.is_number_integer()) {
    try {
      std::size_t used = 0;
      const long long value = std::stoll(text, &used);
      if (used != text.size()) throw std::invalid_argument("trailing characters");
      return value;
    } catch (const std::exception&) {
      throw ConfigError(name + "=" + text + ": expected a whole number");
    }
  }
  return text;
}

void merge_into(json& base, const json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_object() && base.contains(key) && base[key].is_object()) {
      merge_into(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

json read_file_document(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path.string() + ": no such file or not readable");
  std::stringstream text;
  text << in.rdbuf();
  try {
    json document = json::parse(text.str());
    if (!document.is_object()) throw ConfigError("config file " + path.string() + ": must hold a JSON object");
    return document;
  } catch (const json::parse_error& error) {
    // nlohmann reports the byte offset; turn it into a line number people can jump to.
    const std::string content = text.str();
    const std::size_t offset = std::min<std::size_t>(error.byte, content.size());
    const auto line = 1 + std::count(content.begin(), content.begin() + static_cast<long>(offset), '\n');
    throw ConfigError("config file " + path.string() + ", line " + std::to_string(line) +
                      ": not valid JSON: " + error.what());
  }
}

template <class T>
T get(const json& document, const char* section, const char* key) {
  return document.at(section).at(key).get<T>();
}

json auth_document(const AuthConfig& auth) {
  const JwtConfig& jwt = auth.jwt;
  return {{"policy_file", auth.policy_file},
          {"query_token", auth.query_token},
          {"jwt",
           {{"secret_file", jwt.secret_file},
            {"public_key_file", jwt.public_key_file},
            {"algorithm", jwt.algorithm},
            {"jwks_file", jwt.jwks_file},
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
  auth.jwt.issuer = jwt.at("issuer").get<std::string>();
  auth.jwt.audience = jwt.at("audience").get<std::string>();
  auth.jwt.clock_skew_s = jwt.at("clock_skew_s").get<int>();
  auth.jwt.max_token_bytes = jwt.at("max_token_bytes").get<std::size_t>();
  auth.jwt.require_exp = jwt.at("require_exp").get<bool>();
  return auth;
}

// The policy file and the keys are part of the configuration: a mistake in them stops kabar at start
// (exit 2) with the file and the place, like any other configuration error.
void check_auth(const AuthConfig& auth) {
  try {
    authz::Authorizer::load(auth.policy_file, jwt_settings(auth));
  } catch (const std::exception& error) {
    throw ConfigError(error.what());
  }
}

Config to_config(const json& document) {
  Config config;
  config.http.listen = get<std::string>(document, "http", "listen");
  config.http.port = get<int>(document, "http", "port");
  config.http.io_threads = get<int>(document, "http", "io_threads");
  config.http.max_message_bytes = get<std::size_t>(document, "http", "max_message_bytes");
  config.http.max_subscriptions = get<std::size_t>(document, "http", "max_subscriptions");
  config.http.send_queue_max_frames = get<std::size_t>(document, "http", "send_queue_max_frames");
  config.http.send_queue_max_bytes = get<std::size_t>(document, "http", "send_queue_max_bytes");
  config.http.heartbeat_ms = get<int>(document, "http", "heartbeat_ms");
  config.http.sse_retry_ms = get<int>(document, "http", "sse_retry_ms");
  config.http.replay_page = get<std::size_t>(document, "http", "replay_page");
  config.http.allowed_origins = document.at("http").at("allowed_origins").get<std::vector<std::string>>();
  config.http.max_header_bytes = get<std::size_t>(document, "http", "max_header_bytes");
  config.http.request_timeout_ms = get<int>(document, "http", "request_timeout_ms");
  config.http.max_connections_per_ip = get<std::size_t>(document, "http", "max_connections_per_ip");
  config.http.ws_messages_per_s = get<int>(document, "http", "ws_messages_per_s");
  config.http.ws_message_burst = get<int>(document, "http", "ws_message_burst");

  config.broker.embedded = get<bool>(document, "broker", "embedded");
  config.broker.host = get<std::string>(document, "broker", "host");
  config.broker.port = get<int>(document, "broker", "port");
  config.broker.client_id = get<std::string>(document, "broker", "client_id");
  config.broker.username = get<std::string>(document, "broker", "username");
  config.broker.password = get<std::string>(document, "broker", "password");
  config.broker.keepalive_s = get<int>(document, "broker", "keepalive_s");
  config.broker.session_expiry_s = get<int>(document, "broker", "session_expiry_s");
  config.broker.twin_sessions = get<bool>(document, "broker", "twin_sessions");
  config.broker.mosquitto = get<std::string>(document, "broker", "mosquitto");
  config.broker.embedded_auth = get<std::string>(document, "broker", "embedded_auth");
  config.broker.embedded_port_fallback = get<bool>(document, "broker", "embedded_port_fallback");
  config.broker.auth_plugin = get<std::string>(document, "broker", "auth_plugin");

  config.store.data_dir = get<std::string>(document, "store", "data_dir");
  config.store.commit_max_batch = get<std::size_t>(document, "store", "commit_max_batch");
  config.store.retention_max_age_s = get<int>(document, "store", "retention_max_age_s");
  config.store.retention_max_per_channel = get<std::size_t>(document, "store", "retention_max_per_channel");
  config.store.retention_interval_ms = get<int>(document, "store", "retention_interval_ms");
  config.store.fsync = get<bool>(document, "store", "fsync");

  config.log.level = get<std::string>(document, "log", "level");
  config.log.format = get<std::string>(document, "log", "format");
  config.schemas_dir = document.at("schemas_dir").get<std::string>();

  for (const auto& item : document.at("routes")) {
    Route route;
    route.topic = item.at("topic").get<std::string>();
    route.channel = item.at("channel").get<std::string>();
    route.event = item.value("event", "");
    route.schema = item.value("schema", "");
    config.routes.push_back(std::move(route));
  }
  for (const auto& item : document.at("apps")) config.apps.push_back(app_from(item));
  config.auth = auth_from(document.at("auth"));
  config.document = document;
  return config;
}

}  // namespace

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

json default_config_document() {
  const Config defaults;
  return json{
      {"http",
       {{"listen", defaults.http.listen},
        {"port", defaults.http.port},
        {"io_threads", defaults.http.io_threads},
        {"max_message_bytes", defaults.http.max_message_bytes},
        {"max_subscriptions", defaults.http.max_subscriptions},
        {"send_queue_max_frames", defaults.http.send_queue_max_frames},
        {"send_queue_max_bytes", defaults.http.send_queue_max_bytes},
        {"heartbeat_ms", defaults.http.heartbeat_ms},
        {"sse_retry_ms", defaults.http.sse_retry_ms},
        {"replay_page", defaults.http.replay_page},
        {"allowed_origins", defaults.http.allowed_origins},
        {"max_header_bytes", defaults.http.max_header_bytes},
        {"request_timeout_ms", defaults.http.request_timeout_ms},
        {"max_connections_per_ip", defaults.http.max_connections_per_ip},
        {"ws_messages_per_s", defaults.http.ws_messages_per_s},
        {"ws_message_burst", defaults.http.ws_message_burst}}},
      {"broker",
       {{"embedded", defaults.broker.embedded},
        {"host", defaults.broker.host},
        {"port", defaults.broker.port},
        {"client_id", defaults.broker.client_id},
        {"username", defaults.broker.username},
        {"password", defaults.broker.password},
        {"keepalive_s", defaults.broker.keepalive_s},
        {"session_expiry_s", defaults.broker.session_expiry_s},
        {"twin_sessions", defaults.broker.twin_sessions},
        {"mosquitto", defaults.broker.mosquitto},
        {"embedded_auth", defaults.broker.embedded_auth},
        {"embedded_port_fallback", defaults.broker.embedded_port_fallback},
        {"auth_plugin", defaults.broker.auth_plugin}}},
      {"store",
       {{"data_dir", defaults.store.data_dir},
        {"commit_max_batch", defaults.store.commit_max_batch},
        {"retention_max_age_s", defaults.store.retention_max_age_s},
        {"retention_max_per_channel", defaults.store.retention_max_per_channel},
        {"retention_interval_ms", defaults.store.retention_interval_ms},
        {"fsync", defaults.store.fsync}}},
      {"log", {{"level", defaults.log.level}, {"format", defaults.log.format}}},
      {"auth", auth_document(defaults.auth)},
      {"routes", routes_document(RouteTable::builtin())},
      {"apps", apps_document({default_app()})},
      {"schemas_dir", defaults.schemas_dir},
  };
}

std::map<std::string, std::string> kabar_environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string text(*entry);
    if (text.rfind("KABAR_", 0) != 0) continue;
    const auto equals = text.find('=');
    if (equals == std::string::npos) continue;
    out[text.substr(0, equals)] = text.substr(equals + 1);
  }
  return out;
}

Config load_config(const ConfigSources& sources, const SchemaRegistry& schemas) {
  json document = default_config_document();
  json file_document = json::object();
  if (sources.file) {
    file_document = read_file_document(*sources.file);
    merge_into(document, file_document);
  }
  const bool apps_given = file_document.contains("apps") || sources.overrides.contains("apps");

  std::map<std::string, std::string> env_names;
  collect_leaves(default_config_document(), "", env_names);
  for (const auto& [name, value] : sources.environment) {
    auto it = env_names.find(name);
    if (it == env_names.end()) continue;  // other KABAR_* variables (KABAR_BIN...) are not settings
    const json::json_pointer pointer(it->second);
    document[pointer] = parse_env_value(name, value, default_config_document()[pointer]);
  }
  merge_into(document, sources.overrides);

  if (auto problem = schemas.validate("config", document)) {
    const std::string origin = sources.file ? " (file " + sources.file->string() + ")" : "";
    throw ConfigError("invalid configuration" + origin + ": " + *problem);
  }
  Config config;
  try {
    config = to_config(document);
  } catch (const json::exception& error) {
    // The schema admits it but it does not fit the C++ type (a port of 1e20, say): still a bad config.
    throw ConfigError("invalid configuration: a value does not fit its setting: " + std::string(error.what()));
  }
  try {
    RouteTable check(config.routes);
  } catch (const RouteError& error) {
    throw ConfigError(std::string("invalid routes: ") + error.what());
  }
  config.demo.enabled = sources.demo;
  settle_development_app(config, apps_given);
  check_apps(config.apps);
  check_auth(config.auth);
  return config;
}

}  // namespace kabar
