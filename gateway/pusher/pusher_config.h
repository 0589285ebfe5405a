#pragma once
// What the Pusher door is told by the operator (docs/configuration.md "Pusher apps"): its apps and their
// webhooks. The types are the Pusher subsystem's own, so gateway/pusher never reaches back into the
// application's config; gateway/app/config_apps.cpp reads them from the config document and hands them
// over.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kabar {

// Where an app's webhooks go (docs/pusher.md "Webhooks").
struct WebhookConfig {
  std::string url;                       // http(s)://host[:port]/path
  std::vector<std::string> event_types;  // empty: every kind
  std::string ca_file;                   // https: PEM CAs the receiver's certificate must chain to; empty: the system's
};

// The secret of the development app kabar serves when the config names none (Laravel Reverb's default).
inline constexpr std::string_view kDevelopmentAppSecret = "local-secret";

// One Pusher-protocol application (docs/pusher.md): what `/app/{key}` and `/apps/{id}/...` serve.
struct PusherAppConfig {
  std::string id;
  std::string key;
  std::string secret;  // signs channel auth and REST requests; never logged
  bool enable_client_messages = true;
  std::size_t max_connections = 0;  // 0: no limit
  std::vector<std::string> allowed_origins{"*"};
  int activity_timeout = 30;  // seconds, told to clients in connection_established
  std::vector<WebhookConfig> webhooks{};
};

}  // namespace kabar
