// BASIC_AUTH: who a connecting client is. A password is a JWT (verified by the Authorizer), the reserved
// internal username with the per-start secret is the gateway itself, no password is deferred to
// allow_anonymous. Every admitted client is recorded in the SessionRegistry, anonymous ones too, so a
// client pointer the registry does not know is one the plugin never let in (plugin_acl.cpp refuses it),
// or a session mosquitto restored from its persistence file (plugin_acl.cpp: it may adopt the identity
// the plugin's state file kept for it).
#include <openssl/crypto.h>

#include "broker-config/plugin/plugin_state.h"

namespace kabar::plugin {
namespace {

using kabar::authz::Claims;

bool same_secret(const std::string& given, const std::string& expected) {
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

std::string id_of(const mosquitto* client) { return text_or(mosquitto_client_id(client), ""); }

// mosquitto sets the CONNECT's clean start before BASIC_AUTH (handle__connect() in 2.0.11): a session
// it may keep, and persist, is one the state file must know (plugin_state_file.cpp).
bool persistent(const mosquitto* client) { return !mosquitto_client_clean_session(client); }

// The internal username is reserved: with the right secret it is the gateway, with anything else the
// connection is refused (a token whose sub happens to be that name never gets in by it).
int internal_auth(PluginState& state, const mosquitto_evt_basic_auth& event) {
  if (!state.internal_secret.empty() && same_secret(event.password ? event.password : "", state.internal_secret)) {
    state.sessions.admit(event.client, id_of(event.client), Claims::anonymous(), true,
                         Credential{"", persistent(event.client)});
    return MOSQ_ERR_SUCCESS;
  }
  ++state.counters.auth_refused;
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: refused connection of %s: wrong internal credentials",
                       client_name(event.client).c_str());
  return MOSQ_ERR_AUTH;
}

}  // namespace

int on_basic_auth(int, void* event_data, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  const auto& event = *static_cast<mosquitto_evt_basic_auth*>(event_data);
  // A new connection: whatever was recorded at this address belonged to a context mosquitto freed.
  state.sessions.forget(event.client);
  if (event.username && state.internal_username == event.username) return internal_auth(state, event);
  if (!event.password || !*event.password) {
    // anonymous: allow_anonymous decides; if mosquitto lets it in, it is held to the anonymous rules.
    state.sessions.admit(event.client, id_of(event.client), Claims::anonymous(), false);
    return MOSQ_ERR_PLUGIN_DEFER;
  }
  const auto result = state.authorizer->authenticate(event.password);
  if (!result.ok()) {
    ++state.counters.auth_refused;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: refused connection of %s: token %s: %s",
                         client_name(event.client).c_str(), std::string(to_string(result.failure)).c_str(),
                         result.message.c_str());
    return MOSQ_ERR_AUTH;
  }
  const std::string username = event.username ? event.username : "";
  if (state.username_must_match_sub && !username.empty() && username != result.claims->subject) {
    ++state.counters.auth_refused;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "kabar-auth: refused connection of %s: username is not the token's sub",
                         client_name(event.client).c_str());
    return MOSQ_ERR_AUTH;
  }
  ++state.counters.auth_ok;
  state.sessions.admit(event.client, id_of(event.client), *result.claims, false,
                       Credential{event.password, persistent(event.client)});
  return MOSQ_ERR_SUCCESS;
}

}  // namespace kabar::plugin
