// Disconnects and token expiry. A disconnect does not end a client's identity: a persistent session
// keeps it while offline (mosquitto queues for it), a clean session until the next tick (its will is
// checked right after the disconnect event). On each tick: ended and superseded entries are dropped,
// connected clients whose token ran out are disconnected (outside any ACL check of theirs), and offline
// sessions whose token ran out are forgotten, so nothing more is queued for them; and the state file is
// rewritten when the persistent identities changed (plugin_state_file.cpp).
#include "broker-config/plugin/plugin_state.h"

namespace kabar::plugin {

int on_disconnect(int, void* event_data, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  const mosquitto* client = static_cast<mosquitto_evt_disconnect*>(event_data)->client;
  // Called while the context is still whole (before mosquitto closes the socket and sends the will).
  state.sessions.disconnected(client, mosquitto_client_clean_session(client));
  return MOSQ_ERR_SUCCESS;
}

int on_tick(int, void*, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  const auto result =
      state.sessions.tick([&state](const Session& session) { return expired(session.claims, *state.authorizer); });
  for (const auto& id : result.expired_offline) {
    ++state.counters.offline_expired;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "kabar-auth: offline session %s: token expired, nothing more is queued for it",
                         id.c_str());
  }
  for (const auto& id : result.expired_restored) {
    ++state.counters.offline_expired;
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "kabar-auth: restored session %s: token expired, nothing more is queued for it",
                         id.c_str());
  }
  for (const auto& id : result.kick) {
    ++state.counters.expired_kicked;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: disconnecting %s: token expired", id.c_str());
    mosquitto_kick_client_by_clientid(id.c_str(), false);
  }
  save_state_file(state, /*at_cleanup=*/false);  // when the persistent identities changed, debounced
  return MOSQ_ERR_SUCCESS;
}

}  // namespace kabar::plugin
