// The config (config.h): the defaults document, the merged document typed as Config, and load_config,
// which puts the sources together and checks the result. Its parts (config_parts.h): the sources and
// merging (config_sources.cpp), the Pusher apps and the development app (config_apps.cpp), the auth
// section (config_auth.cpp).
#include "gateway/app/config.h"

#include "bridge/mqtt_client_setup.h"
#include "bridge/schema_registry.h"
#include "gateway/app/config_parts.h"
#include "gateway/http/client_address.h"

namespace kabar {
using namespace config_detail;
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

template <class T>
T get(const json& document, const char* section, const char* key) {
  return document.at(section).at(key).get<T>();
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
  config.http.trusted_proxies = document.at("http").at("trusted_proxies").get<std::vector<std::string>>();

  config.broker.embedded = get<bool>(document, "broker", "embedded");
  config.broker.host = get<std::string>(document, "broker", "host");
  config.broker.port = get<int>(document, "broker", "port");
  config.broker.servers = get<std::string>(document, "broker", "servers");
  config.broker.mqtt_version = get<int>(document, "broker", "mqtt_version");
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

// broker.servers: each item has a port, and only for a broker kabar does not start itself.
void check_broker(const BrokerConfig& broker) {
  if (broker.servers.empty()) return;
  try {
    if (parse_mqtt_servers(broker.servers).empty()) throw std::invalid_argument("it names no broker");
  } catch (const std::invalid_argument& error) {
    throw ConfigError("invalid configuration: broker.servers \"" + broker.servers + "\": " + error.what());
  }
  if (broker.embedded)
    throw ConfigError(
        "invalid configuration: broker.servers names the brokers of a cluster kabar connects to, "
        "but broker.embedded is true (kabar would start its own); set broker.embedded false");
}

// http.trusted_proxies: addresses or CIDR blocks.
void check_http(const HttpConfig& http) {
  try {
    TrustedProxies check(http.trusted_proxies);
  } catch (const std::invalid_argument& error) {
    throw ConfigError("invalid configuration: http.trusted_proxies: " + std::string(error.what()));
  }
}

}  // namespace

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
        {"ws_message_burst", defaults.http.ws_message_burst},
        {"trusted_proxies", defaults.http.trusted_proxies}}},
      {"broker",
       {{"embedded", defaults.broker.embedded},
        {"host", defaults.broker.host},
        {"port", defaults.broker.port},
        {"servers", defaults.broker.servers},
        {"mqtt_version", defaults.broker.mqtt_version},
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

Config load_config(const ConfigSources& sources, const SchemaRegistry& schemas) {
  json document = default_config_document();
  json file_document = json::object();
  if (sources.file) {
    file_document = read_file_document(*sources.file);
    merge_into(document, file_document);
  }
  const bool apps_given = file_document.contains("apps") || sources.overrides.contains("apps");

  apply_environment(document, sources.environment);
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
  check_http(config.http);
  check_apps(config.apps);
  check_auth(config.auth);
  check_broker(config.broker);
  return config;
}

}  // namespace kabar
