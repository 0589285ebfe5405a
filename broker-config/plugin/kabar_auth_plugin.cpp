// kabar_auth_plugin.so: a mosquitto plugin (plugin API v5, mosquitto 2.0) that holds MQTT clients to the
// same authorization policy as kabar's WebSocket and SSE doors. Mobile apps connect to the broker with
// their JWT as the MQTT password; every SUBSCRIBE, every delivered message and every PUBLISH is decided
// by kabar_authz's Policy on the topic, so a cashier of branch 3 can no more read cabang/7/omset here
// than private-cabang.7 on /ws.
//
// Load it in mosquitto.conf (broker-config/mosquitto-auth.conf is a complete example):
//
//   allow_anonymous false
//   plugin /usr/lib/kabar/kabar_auth_plugin.so
//   plugin_opt_policy /etc/kabar/policy.json        # optional: kabar's built-in policy otherwise
//   plugin_opt_jwt_secret_file /etc/kabar/jwt.secret  # HS256, and/or:
//   plugin_opt_jwt_public_key /etc/kabar/jwt.pem      # RS256 or ES256 (the key type decides)
//   plugin_opt_jwt_algorithm RS256                    # optional pin for the PEM key
//   plugin_opt_jwt_jwks /etc/kabar/jwks.json          # kid -> key
//   plugin_opt_jwt_issuer https://pos.example         # optional checks
//   plugin_opt_jwt_audience kabar
//   plugin_opt_jwt_clock_skew_s 30
//   plugin_opt_jwt_max_token_bytes 8192
//   plugin_opt_username sub                           # "sub": a given username must equal the token's sub
//                                                     # (default); "ignore": any username
//   plugin_opt_jwt_require_exp true                   # false: tokens without exp are accepted
//   plugin_opt_internal_secret_file /run/kabar/internal.secret
//   plugin_opt_internal_username kabar-internal       # the gateway's own clients (see below)
//   plugin_opt_state_file /var/lib/mosquitto/kabar-auth.state  # persistent sessions' identities across
//                                                     # broker restarts (next to mosquitto's persistence)
//
// The internal credentials are how the mosquitto that `kabar serve` starts (broker.embedded) lets kabar's
// own bridge, REST publisher and cluster link in: kabar writes a random secret per start to a 0600 file
// and connects with username `internal_username` and that secret as the password. Such a client is the
// gateway itself and is not held to the policy (it must read every routed topic and publish kabar/#).
//
// What it does:
// * BASIC_AUTH: no password -> defer (allow_anonymous decides; anonymous clients are then held to the
//   policy's anonymous rules). A password is a JWT: verified (algorithm pinned, exp/nbf/iss/aud), else
//   the CONNECT is refused and the reason logged (never the token).
// * ACL_CHECK: subscribe and read are the policy's "read" on the topic filter / topic, write is
//   "publish". Refusals are logged (reads, which happen per delivered message, at debug level) and counted.
// * A token that expires while connected: its reads and writes are refused from then on, and the client
//   is disconnected on the next tick, so it reconnects with a fresh token.
// * A client's identity outlives its connection: a persistent session keeps it while offline, so
//   mosquitto queues messages for it (until its token expires), and a will is checked against the
//   identity of the client that left (session_registry.h, docs/authorization.md "Offline sessions").
//
// * ...and a broker restart: with plugin_opt_state_file, the persistent sessions' identities (token or
//   "internal") are kept in a 0600 file; at start, the sessions mosquitto restores from its persistence
//   take them back (tokens verified again), so messages are queued for them before their clients return.
//
// Units: plugin_auth.cpp (BASIC_AUTH), plugin_acl.cpp (ACL_CHECK), plugin_sessions.cpp (disconnects and
// expiry), plugin_state_file.cpp (the state file), session_registry.h (who each client is); this file
// reads the options and registers them.
#include "broker-config/plugin/plugin_state.h"

#include <fstream>
#include <memory>
#include <string>

namespace {
using kabar::authz::Authorizer;
using namespace kabar::plugin;

// The secret is the file's first line; a short one is refused so a truncated write cannot open the door.
bool read_internal_secret(const std::string& path, std::string& secret) {
  std::ifstream in(path);
  std::getline(in, secret);
  if (secret.size() >= 32) return true;
  mosquitto_log_printf(MOSQ_LOG_ERR, "kabar-auth: plugin_opt_internal_secret_file %s: %s", path.c_str(),
                       in ? "the secret is shorter than 32 characters" : "cannot read the file");
  secret.clear();
  return false;
}

// plugin_opt_* lines -> the Authorizer's settings. Unknown options are errors: a typo must not turn a
// check off silently.
bool read_options(PluginState& state, mosquitto_opt* options, int count, std::string& policy_file,
                  kabar::authz::JwtSettings& jwt) {
  for (int i = 0; i < count; ++i) {
    const std::string key = options[i].key ? options[i].key : "";
    const std::string value = options[i].value ? options[i].value : "";
    try {
      if (key == "policy")
        policy_file = value;
      else if (key == "jwt_secret_file")
        jwt.secret_file = value;
      else if (key == "jwt_public_key")
        jwt.public_key_file = value;
      else if (key == "jwt_algorithm")
        jwt.public_key_algorithm = value;
      else if (key == "jwt_jwks")
        jwt.jwks_file = value;
      else if (key == "jwt_issuer")
        jwt.options.issuer = value;
      else if (key == "jwt_audience")
        jwt.options.audience = value;
      else if (key == "jwt_clock_skew_s")
        jwt.options.clock_skew_s = std::stoi(value);
      else if (key == "jwt_max_token_bytes")
        jwt.options.max_token_bytes = std::stoul(value);
      else if (key == "username" && (value == "sub" || value == "ignore"))
        state.username_must_match_sub = value == "sub";
      else if (key == "jwt_require_exp" && (value == "true" || value == "false"))
        jwt.options.require_exp = value == "true";
      else if (key == "internal_username" && !value.empty())
        state.internal_username = value;
      else if (key == "state_file" && !value.empty())
        state.state_file = value;
      else if (key == "internal_secret_file") {
        if (!read_internal_secret(value, state.internal_secret)) return false;
      }
      else {
        mosquitto_log_printf(MOSQ_LOG_ERR, "kabar-auth: unknown or invalid option plugin_opt_%s",
                             key.c_str());
        return false;
      }
    } catch (const std::exception&) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "kabar-auth: plugin_opt_%s: expected a number", key.c_str());
      return false;
    }
  }
  return true;
}

void log_counters(const Counters& c) {
  mosquitto_log_printf(
      MOSQ_LOG_NOTICE,
      "kabar-auth: connections accepted %llu, refused %llu; subscribes refused %llu, publishes "
      "refused %llu, deliveries withheld %llu, refused to unknown clients %llu; expired clients "
      "disconnected %llu, expired offline sessions forgotten %llu, restored sessions given their identity %llu",
      c.auth_ok, c.auth_refused, c.subscribe_refused, c.publish_refused, c.read_refused, c.unknown_refused,
      c.expired_kicked, c.offline_expired, c.restored_adopted);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int mosquitto_plugin_version(int supported_version_count,
                                                                    const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

__attribute__((visibility("default"))) int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier,
                                                                 void** userdata, mosquitto_opt* options,
                                                                 int option_count) {
  auto state = std::make_unique<PluginState>();
  state->id = identifier;
  std::string policy_file;
  kabar::authz::JwtSettings jwt;
  if (!read_options(*state, options, option_count, policy_file, jwt)) return MOSQ_ERR_INVAL;
  try {
    state->authorizer = Authorizer::load(policy_file, jwt);
  } catch (const std::exception& error) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "kabar-auth: %s", error.what());
    return MOSQ_ERR_INVAL;
  }
  if (!state->authorizer->verifier().has_keys())
    mosquitto_log_printf(
        MOSQ_LOG_WARNING,
        "kabar-auth: no JWT key configured (plugin_opt_jwt_secret_file, _public_key or _jwks): every "
        "client with a password is refused");
  struct Registration {
    int event;
    MOSQ_FUNC_generic_callback callback;
  };
  const Registration registrations[] = {{MOSQ_EVT_BASIC_AUTH, on_basic_auth},
                                        {MOSQ_EVT_ACL_CHECK, on_acl_check},
                                        {MOSQ_EVT_TICK, on_tick},
                                        {MOSQ_EVT_DISCONNECT, on_disconnect}};
  for (const auto& registration : registrations) {
    if (mosquitto_callback_register(identifier, registration.event, registration.callback, nullptr,
                                    state.get()) != MOSQ_ERR_SUCCESS) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "kabar-auth: cannot register for event %d", registration.event);
      return MOSQ_ERR_INVAL;
    }
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: policy %s with %zu rules loaded",
                       state->authorizer->policy().origin().c_str(),
                       state->authorizer->policy().rules().size());
  load_state_file(*state);
  *userdata = state.release();
  return MOSQ_ERR_SUCCESS;
}

__attribute__((visibility("default"))) int mosquitto_plugin_cleanup(void* userdata, mosquitto_opt*, int) {
  std::unique_ptr<PluginState> state(static_cast<PluginState*>(userdata));
  if (!state) return MOSQ_ERR_SUCCESS;
  // After mosquitto wrote its own persistence file (mosquitto.c, 2.0.11): the two agree.
  save_state_file(*state, /*at_cleanup=*/true);
  log_counters(state->counters);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_TICK, on_tick, nullptr);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr);
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
