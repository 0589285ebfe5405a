// kabar: one binary, several subcommands. main() parses the command line, builds a Config and hands it
// to the part that does the work; exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "authz/token.h"
#include "bridge/mqtt_client_setup.h"
#include "bridge/mqtt_publisher.h"
#include "bridge/schema_registry.h"
#include "gateway/app/authz_commands.h"
#include "gateway/app/config.h"
#include "gateway/app/demo_key.h"
#include "gateway/app/gateway.h"
#include "gateway/app/health_command.h"
#include "gateway/app/logging.h"

namespace {
using nlohmann::json;
constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;

struct CommonFlags {
  std::string config_file;
  bool debug = false;
};

kabar::Config load(const CommonFlags& flags, const json& overrides, const kabar::SchemaRegistry& schemas,
                   bool demo = false) {
  kabar::ConfigSources sources;
  sources.demo = demo;
  if (!flags.config_file.empty()) sources.file = flags.config_file;
  sources.environment = kabar::kabar_environment();
  sources.overrides = overrides;
  return kabar::load_config(sources, schemas);
}

std::string random_event_id() {
  std::random_device device;
  std::mt19937_64 generator(device());
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "cli-%013lld-%016llx", static_cast<long long>(now),
                static_cast<unsigned long long>(generator()));
  return buffer;
}

int serve(const CommonFlags& flags, const json& overrides, kabar::DemoConfig demo = {}) {
  kabar::SchemaRegistry schemas;
  kabar::Config config = load(flags, overrides, schemas, demo.enabled);
  if (demo.enabled) {
    // The demo signs its logins with its own development key, kept in the data folder so tokens stay
    // valid across restarts; any key of the configuration is set aside (docs/demo.md).
    json with_key = overrides;
    with_key["auth"]["jwt"] = {{"secret_file", kabar::ensure_demo_key(config.store.data_dir)},
                               {"public_key_file", ""}, {"jwks_file", ""}};
    config = load(flags, with_key, schemas, true);
    config.demo = demo;
  }
  if (flags.debug) config.log.level = "debug";
  kabar::configure_logging(config.log.level, config.log.format);
  for (const auto& warning : kabar::unknown_environment_warnings(kabar::kabar_environment())) spdlog::warn("{}", warning);
  try {
    kabar::SchemaRegistry extended(config.schemas_dir);
    kabar::Gateway gateway(config, config.schemas_dir.empty() ? schemas : extended);
    return gateway.run_until_signal();
  } catch (const kabar::SchemaError& error) {
    spdlog::error("{}", error.what());
    return kExitConfig;
  }
}

// Where a running `kabar serve` with this configuration has its embedded broker: it writes the port to
// <data_dir>/broker/port, which differs from broker.port when that was taken (docs/operations.md).
int embedded_broker_port(const kabar::Config& config) {
  std::ifstream in(std::filesystem::path(config.store.data_dir) / "broker" / "port");
  int port = 0;
  return config.broker.embedded && (in >> port) && port > 0 && port < 65536 ? port : config.broker.port;
}

// The flags `kabar serve` and `kabar demo` share, as configuration overrides.
struct ServeFlags {
  std::string listen, data_dir;
  int http_port = -1, broker_port = -1;
  bool external_broker = false;

  void add_to(CLI::App& command, CommonFlags& common) {
    command.add_option("-c,--config", common.config_file, "JSON config file (docs/configuration.md)");
    command.add_flag("--debug", common.debug, "Log at debug level (shows traffic)");
    command.add_option("--listen", listen, "HTTP address to bind (http.listen)");
    command.add_option("-p,--port", http_port, "HTTP port (http.port)")->check(CLI::Range(0, 65535));
    command.add_option("--data-dir", data_dir, "Data folder (store.data_dir)");
    command.add_option("--broker-port", broker_port, "MQTT broker port (broker.port)")->check(CLI::Range(1, 65535));
    command.add_flag("--external-broker", external_broker, "Use a running broker instead of starting one");
  }
  json overrides() const {
    json out = json::object();
    if (!listen.empty()) out["http"]["listen"] = listen;
    if (http_port >= 0) out["http"]["port"] = http_port;
    if (!data_dir.empty()) out["store"]["data_dir"] = data_dir;
    if (broker_port > 0) out["broker"]["port"] = broker_port;
    if (external_broker) out["broker"]["embedded"] = false;
    return out;
  }
};

// Next to a `kabar demo` (its development key in the data folder) the embedded broker is the guarded one:
// `kabar publish` logs in as a backend with a five-minute token of that key, so trying it takes no
// token minting (docs/demo.md).
void use_demo_key(const kabar::Config& config, kabar::PublisherOptions& options) {
  const auto key_file = std::filesystem::path(config.store.data_dir) / "demo" / "jwt.secret";
  if (!config.broker.embedded || !std::filesystem::exists(key_file)) return;
  const std::string key = kabar::read_demo_key(key_file.string());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  options.username = "kabar-publish";
  options.password = kabar::authz::sign_token(
      json{{"sub", options.username}, {"role", "backend"}, {"iat", now}, {"exp", now + 300}},
      kabar::authz::Algorithm::HS256, key);
}

struct PublishFlags {
  std::string host, topic, payload, channel, event, data, id, data_dir;
  int port = 0;
  int qos = 1;
};

int publish(const CommonFlags& flags, const PublishFlags& publish) {
  kabar::SchemaRegistry schemas;
  json overrides = json::object();
  if (!publish.data_dir.empty()) overrides["store"]["data_dir"] = publish.data_dir;
  const kabar::Config config = load(flags, overrides, schemas);
  std::string topic = publish.topic;
  std::string payload = publish.payload;
  if (!publish.channel.empty()) {
    if (publish.event.empty()) throw CLI::ValidationError("--channel needs --event");
    json data = json::parse(publish.data.empty() ? "null" : publish.data, nullptr, false);
    if (data.is_discarded()) throw CLI::ValidationError("--data is not valid JSON");
    topic = "kabar/c/" + publish.channel;
    payload = json{{"id", publish.id.empty() ? random_event_id() : publish.id},
                   {"event", publish.event},
                   {"data", data}}
                  .dump();
  } else if (topic.empty()) {
    throw CLI::ValidationError("give --topic and --payload, or --channel, --event and --data");
  }
  kabar::PublisherOptions options;
  options.server_uri = "tcp://" + (publish.host.empty() ? config.broker.host : publish.host) + ":" +
                       std::to_string(publish.port ? publish.port : embedded_broker_port(config));
  if (publish.host.empty() && !publish.port && !config.broker.servers.empty()) {  // a broker cluster
    const std::vector<std::string> servers = kabar::parse_mqtt_servers(config.broker.servers);
    options.server_uri = servers.front();
    options.failover_uris.assign(servers.begin() + 1, servers.end());
  }
  options.mqtt_version = config.broker.mqtt_version;
  options.username = config.broker.username;
  options.password = config.broker.password;
  if (options.username.empty()) use_demo_key(config, options);
  kabar::MqttPublisher publisher(options);
  publisher.publish(topic, payload, publish.qos);
  std::cout << "published to " << topic << "\n";
  return 0;
}

// Secrets by their key's name, so a setting added later is covered without a list to keep up to date.
bool is_secret_key(std::string_view key) {
  return key == "password" || key == "secret" || key.ends_with("_password") || key.ends_with("_secret") ||
         key.ends_with("_token");
}

// http://user@host:8080/hook?token=x -> http://***@host:8080/hook?***: where it goes, not how it logs in.
std::string redacted_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const std::size_t authority = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const std::size_t path = std::min(url.find_first_of("/?#", authority), url.size());
  std::string out = url.substr(0, path);
  if (const auto at = out.rfind('@'); at != std::string::npos && at >= authority)
    out.replace(authority, at - authority, "***");
  const auto query = url.find('?', path);
  out += url.substr(path, query == std::string::npos ? std::string::npos : query - path);
  return query == std::string::npos ? out : out + "?***";
}

// A printed configuration ends up in tickets and chats: a secret shows as "***" when set ("" when not,
// which is worth knowing), a URL without its credentials. Keys and the HS256 secret live in files the
// configuration only names, so their paths stay.
void redact(json& node) {
  if (node.is_array()) {
    for (auto& item : node) redact(item);
    return;
  }
  if (!node.is_object()) return;
  for (auto& [key, value] : node.items()) {
    if (value.is_string() && is_secret_key(key)) {
      if (!value.get_ref<const std::string&>().empty()) value = "***";
    } else if (value.is_string() && key == "url") {
      value = redacted_url(value.get<std::string>());
    } else {
      redact(value);
    }
  }
}

int check_config(const CommonFlags& flags, bool print) {
  kabar::SchemaRegistry schemas;
  const kabar::Config config = load(flags, json::object(), schemas);
  kabar::SchemaRegistry extended(config.schemas_dir);  // the extra schemas must compile too
  if (print) {
    json shown = config.document;
    redact(shown);
    std::cout << shown.dump(2) << "\n";
  } else {
    std::cout << "configuration is valid\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kabar: realtime gateway from MQTT to WebSocket and Server-Sent Events, with durable replay"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kabar ") + KABAR_VERSION);
  CommonFlags common;

  ServeFlags serve_flags;
  auto* serve_cmd = app.add_subcommand("serve", "Run the gateway (starts its own mosquitto unless told otherwise)");
  serve_flags.add_to(*serve_cmd, common);
  ServeFlags demo_flags;
  bool no_traffic = false;
  auto* demo_cmd = app.add_subcommand(
      "demo", "Run the gateway on the loopback with the two sample apps, development logins and sample traffic");
  demo_flags.add_to(*demo_cmd, common);
  demo_cmd->add_flag("--no-traffic", no_traffic, "Do not publish sample traffic (logins and the apps still work)");
  int sale_interval_ms = 2500;
  demo_cmd->add_option("--sale-interval-ms", sale_interval_ms, "Mean time between two sample sales (default 2500)")
      ->check(CLI::Range(50, 600000));

  PublishFlags publish_flags;
  auto* publish_cmd = app.add_subcommand("publish", "Publish one event to the broker (QoS 1 by default)");
  publish_cmd->add_option("-c,--config", common.config_file, "Config file (for the broker address)");
  publish_cmd->add_option("--broker-host", publish_flags.host, "Broker host (default: broker.host)");
  publish_cmd->add_option("--broker-port", publish_flags.port,
                          "Broker port (default: the running embedded broker's, else broker.port)");
  publish_cmd->add_option("--data-dir", publish_flags.data_dir,
                          "Data folder of the running kabar (its embedded broker's port, the demo's key)");
  publish_cmd->add_option("--topic", publish_flags.topic, "MQTT topic, e.g. dokumen/42/updated");
  publish_cmd->add_option("--payload", publish_flags.payload, "Payload to send as is (JSON)");
  publish_cmd->add_option("--channel", publish_flags.channel, "Publish to a channel (topic kabar/c/<channel>)");
  publish_cmd->add_option("--event", publish_flags.event, "Event name (with --channel)");
  publish_cmd->add_option("--data", publish_flags.data, "Event data as JSON (with --channel)");
  publish_cmd->add_option("--id", publish_flags.id, "Event id (with --channel; default: a new unique id)");
  publish_cmd->add_option("--qos", publish_flags.qos, "MQTT QoS")->check(CLI::Range(0, 1));

  bool print_config = false;
  auto* check_cmd = app.add_subcommand("check-config", "Validate the configuration (file + KABAR_* variables)");
  check_cmd->add_option("-c,--config", common.config_file, "JSON config file");
  check_cmd->add_flag("--print", print_config, "Print the merged configuration (secrets as \"***\")");
  kabar::AuthzCommands authz_commands(app);  // kabar token, kabar authz explain (docs/authorization.md)
  authz_commands.add_policy_option(*check_cmd);
  kabar::HealthCommand health_command(app);  // kabar health (docs/operations.md "Compose")

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : kExitConfig;
  }

  try {
    if (*serve_cmd) return serve(common, serve_flags.overrides());
    if (*demo_cmd) {
      json overrides = demo_flags.overrides();
      if (demo_flags.listen.empty()) overrides["http"]["listen"] = "127.0.0.1";
      return serve(common, overrides, kabar::DemoConfig{true, !no_traffic, sale_interval_ms});
    }
    if (*publish_cmd) return publish(common, publish_flags);
    if (*check_cmd) {
      authz_commands.check_policy();
      return check_config(common, print_config);
    }
    if (auto code = authz_commands.run()) return *code;
    if (auto code = health_command.run()) return *code;
  } catch (const kabar::ConfigError& error) {
    std::cerr << "kabar: " << error.what() << "\n";
    return kExitConfig;
  } catch (const CLI::ValidationError& error) {
    std::cerr << "kabar: " << error.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& error) {
    // Store, broker and listen failures: the message says what and where.
    std::cerr << "kabar: " << error.what() << "\n";
    return kExitRuntime;
  }
  return kExitConfig;
}
