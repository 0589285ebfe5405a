#pragma once
// Config: everything `kabar serve` can be told, with its defaults. Sources, later ones winning:
// built-in defaults < the JSON config file < KABAR_* environment variables < command-line flags.
// The merged document is validated against schemas/config.schema.json before it is used, so a typo
// or a wrong type is reported with its JSON path instead of being silently ignored.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "authz/token.h"
#include "bridge/routes.h"
#include "gateway/pusher/pusher_config.h"

namespace kabar {

class SchemaRegistry;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HttpConfig {
  std::string listen = "0.0.0.0";
  int port = 8080;
  int io_threads = 0;  // 0: one per core
  std::size_t max_message_bytes = 64 * 1024;
  std::size_t max_subscriptions = 100;
  std::size_t send_queue_max_frames = 4096;
  std::size_t send_queue_max_bytes = 8 * 1024 * 1024;
  int heartbeat_ms = 15000;
  int sse_retry_ms = 2000;
  std::size_t replay_page = 500;
  // Hardening (docs/configuration.md "Hardening"):
  std::vector<std::string> allowed_origins{"*"};  // browser origins for /ws, /sse, /pusher/auth
  std::size_t max_header_bytes = 8 * 1024;        // request line + headers; larger: 431
  int request_timeout_ms = 30000;                 // a request must arrive whole within this (slowloris)
  std::size_t max_connections_per_ip = 0;         // open connections per client address; 0: no limit
  int ws_messages_per_s = 100;                    // /ws messages per connection per second; 0: no limit
  int ws_message_burst = 500;                     // ...with bursts of this many
  // Proxies whose X-Forwarded-For names the client (addresses or CIDR blocks); empty: none.
  std::vector<std::string> trusted_proxies;
};

struct BrokerConfig {
  bool embedded = true;  // start our own mosquitto on host:port
  std::string host = "127.0.0.1";
  int port = 1883;
  // "host:port,host2:port2": the brokers of a cluster, tried in order at every (re)connect by every MQTT
  // client of kabar; replaces host and port for them. Empty: host:port. Not with the embedded broker.
  std::string servers;
  int mqtt_version = 5;  // 5, or 3 for MQTT 3.1.1 (RabbitMQ's MQTT plugin); docs/bridge.md "MQTT 3.1.1"
  std::string client_id = "kabar";
  std::string username;
  std::string password;
  int keepalive_s = 30;
  int session_expiry_s = 86400;
  bool twin_sessions = false;  // see docs/bridge.md "Twin sessions"
  std::string mosquitto = "/usr/sbin/mosquitto";
  // The embedded broker and kabar_auth_plugin.so (docs/authorization.md "The embedded broker"):
  // "auto" loads it when auth.jwt has a key, "on" always, "off" never (anonymous loopback broker).
  std::string embedded_auth = "auto";
  bool embedded_port_fallback = true;  // port taken by another process: the embedded broker takes a free one
  std::string auth_plugin;  // empty: kabar_auth_plugin.so next to the kabar binary
};

struct StoreConfig {
  std::string data_dir = "data";
  std::size_t commit_max_batch = 512;
  int retention_max_age_s = 7 * 24 * 3600;
  std::size_t retention_max_per_channel = 10000;
  int retention_interval_ms = 5000;
  bool fsync = false;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "text";  // text | json
};

// Where tokens are verified and channels authorized (docs/authorization.md). Secrets are read from files,
// never held in the config document, so `check-config --print` and logs cannot show them.
struct JwtConfig {
  std::string secret_file;      // HS256 secret
  std::string public_key_file;  // PEM public key: RS256 or ES256
  std::string algorithm;        // pins the PEM key's algorithm ("RS256"/"ES256"); empty: from the key
  std::string jwks_file;        // JWKS document, kid -> key
  // A JWKS fetched from a URL and refreshed (gateway/app/jwks_fetcher.h):
  std::string jwks_url;         // http(s)://...; empty: none
  std::string jwks_ca_file;     // https: the CAs its certificate must chain to; empty: the system's
  int jwks_refresh_s = 300;     // fetched again this often
  int jwks_min_refetch_s = 10;  // a token with an unknown kid fetches again, at most once per this
  std::string issuer;           // empty: iss not checked
  std::string audience;         // empty: aud not checked
  int clock_skew_s = 30;
  std::size_t max_token_bytes = 8192;
  bool require_exp = true;
};

struct AuthConfig {
  std::string policy_file;  // empty: the built-in policy (authz/default-policy.json)
  JwtConfig jwt;
  bool query_token = true;  // accept ?token= on /sse and /ws (EventSource cannot send headers)
};

// `kabar demo` (docs/demo.md): set by that command only, never by a file or a variable, so a deployed
// gateway cannot turn on development logins by accident.
struct DemoConfig {
  bool enabled = false;
  bool traffic = true;  // sample sales and approvals; `kabar demo --no-traffic` for tests
  int sale_interval_ms = 2500;  // mean time between two sample sales (--sale-interval-ms)
};

struct Config {
  HttpConfig http;
  BrokerConfig broker;
  StoreConfig store;
  LogConfig log;
  AuthConfig auth;
  std::vector<Route> routes;  // the built-ins unless the file names its own
  // The file's apps (the Pusher door's own type); without them the dev app "local", but only where it is
  // safe (development_app).
  std::vector<PusherAppConfig> apps;
  // True when `apps` holds the implicit dev app: no `apps` in the file, http.listen on the loopback and no
  // auth.jwt key. Without `apps` otherwise no app is served (docs/configuration.md "Pusher apps").
  bool development_app = false;
  std::string schemas_dir;    // extra/overriding JSON Schemas
  DemoConfig demo;
  nlohmann::json document;    // the merged, validated document (for `check-config` and diagnostics)
};

// The defaults as a JSON document (what `kabar config defaults` prints).
nlohmann::json default_config_document();

struct ConfigSources {
  std::optional<std::filesystem::path> file;
  std::map<std::string, std::string> environment;  // usually the process environment
  nlohmann::json overrides = nlohmann::json::object();  // from flags, same shape as the file
  bool demo = false;  // `kabar demo`: loopback only; the development Pusher app beside the demo's JWT key
};

// Throws ConfigError with a message naming the file, the JSON path, or the variable that is wrong.
Config load_config(const ConfigSources& sources, const SchemaRegistry& schemas);

// auth.jwt as the authorization library takes it.
authz::JwtSettings jwt_settings(const AuthConfig& auth);

// KABAR_* variables of the current process.
std::map<std::string, std::string> kabar_environment();
// One warning per KABAR_* variable of `environment` that names no setting (a typo, or a setting that was
// renamed), naming the closest setting's variable when one is near; kabar's own tool variables (KABAR_BIN,
// KABAR_E2E_*...: docs/configuration.md "Environment") are not warned about. `kabar serve` logs them.
std::vector<std::string> unknown_environment_warnings(const std::map<std::string, std::string>& environment);

}  // namespace kabar
