#pragma once
// Whether the embedded mosquitto loads kabar_auth_plugin.so, and with which options: the policy and JWT
// settings of `auth`, so mobile apps on the broker face the same rules as the gateway's doors
// (docs/authorization.md "The embedded broker").
#include <optional>

#include "gateway/app/broker_process.h"
#include "gateway/app/config.h"

namespace kabar {

// nullopt: an anonymous broker (broker.embedded_auth "off", or "auto" without any JWT key). Throws
// BrokerError when the plugin is wanted but cannot be found: a broker that should be guarded must not
// start open.
std::optional<EmbeddedBrokerAuth> embedded_broker_auth(const Config& config);

// Where the plugin is looked for when broker.auth_plugin is empty: next to the running kabar binary.
std::filesystem::path default_auth_plugin_path();

}  // namespace kabar
