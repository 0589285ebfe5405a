// State shared by the plugin's units (kabar_auth_plugin.cpp: options and registration; plugin_auth.cpp:
// BASIC_AUTH; plugin_acl.cpp: ACL_CHECK; plugin_sessions.cpp: disconnects, token expiry;
// plugin_state_file.cpp: the identities kept across a broker restart). mosquitto 2.0
// runs every plugin callback on its one main thread, so nothing here needs a lock.
#pragma once

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <chrono>
#include <memory>
#include <string>

#include "authz/authorizer.h"
#include "broker-config/plugin/session_registry.h"

namespace kabar::plugin {

struct Counters {
  unsigned long long auth_ok = 0, auth_refused = 0, subscribe_refused = 0, publish_refused = 0,
                     read_refused = 0, expired_kicked = 0, offline_expired = 0, unknown_refused = 0,
                     restored_adopted = 0;
};

struct PluginState {
  mosquitto_plugin_id_t* id = nullptr;
  std::shared_ptr<const kabar::authz::Authorizer> authorizer;
  bool username_must_match_sub = true;
  std::string internal_username = "kabar-internal";
  std::string internal_secret;  // empty: no internal credentials
  SessionRegistry sessions;     // by client pointer, kept while a persistent session is offline
  Counters counters;
  std::string state_file;  // plugin_opt_state_file; empty: identities do not survive a broker restart
  bool state_dirty = false;
  bool state_write_failing = false;
  bool state_left_out_logged = false;
  std::chrono::steady_clock::time_point state_next_write{};
};

inline const char* text_or(const char* text, const char* fallback) { return text && *text ? text : fallback; }

// Only for clients that are connected (the pointer of an offline session must not be read).
inline std::string client_name(const mosquitto* client) {
  return std::string(text_or(mosquitto_client_id(client), "?")) + " (user " +
         text_or(mosquitto_client_username(client), "-") + ", " +
         text_or(mosquitto_client_address(client), "?") + ")";
}

// The token ran out: `exp` plus the clock skew is in the past.
bool expired(const kabar::authz::Claims& claims, const kabar::authz::Authorizer& authorizer);

int on_basic_auth(int event, void* event_data, void* userdata);
int on_acl_check(int event, void* event_data, void* userdata);
int on_tick(int event, void* event_data, void* userdata);
int on_disconnect(int event, void* event_data, void* userdata);

// plugin_state_file.cpp. load: at init, after the options (never fails: a bad file is logged and
// ignored). save: from the tick (when the persistent identities changed, at most once a second) and at
// cleanup (always).
void load_state_file(PluginState& state);
void save_state_file(PluginState& state, bool at_cleanup);

}  // namespace kabar::plugin
