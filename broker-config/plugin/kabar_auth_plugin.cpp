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
//
// mosquitto 2.0 runs every plugin callback on its one main thread, so the state below needs no lock.
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <openssl/crypto.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "authz/authorizer.h"

namespace {
using kabar::authz::Action;
using kabar::authz::Authorizer;
using kabar::authz::Claims;
using kabar::authz::Resource;

constexpr std::size_t kReadCacheLimit = 256;  // per client: topics whose read decision is remembered

struct Session {
  Claims claims;
  bool internal = false;  // the gateway's own client (internal credentials): not held to the policy
  std::unordered_map<std::string, bool> read_cache;  // delivered topics -> allowed (the hot path)
  bool kick_pending = false;
};

struct Counters {
  unsigned long long auth_ok = 0, auth_refused = 0, subscribe_refused = 0, publish_refused = 0,
                     read_refused = 0, expired_kicked = 0;
};

struct PluginState {
  mosquitto_plugin_id_t* id = nullptr;
  std::shared_ptr<const Authorizer> authorizer;
  bool username_must_match_sub = true;
  std::string internal_username = "kabar-internal";
  std::string internal_secret;  // empty: no internal credentials
  std::unordered_map<const mosquitto*, Session> sessions;  // by connection: a client id can be taken over
  Counters counters;
};

const char* text_or(const char* text, const char* fallback) { return text && *text ? text : fallback; }

std::string client_name(const mosquitto* client) {
  return std::string(text_or(mosquitto_client_id(client), "?")) + " (user " +
         text_or(mosquitto_client_username(client), "-") + ", " +
         text_or(mosquitto_client_address(client), "?") + ")";
}

bool expired(const Claims& claims, const Authorizer& authorizer) {
  if (!claims.expires_at) return false;
  const std::int64_t skew = authorizer.verifier().options().clock_skew_s;
  return *claims.expires_at <= static_cast<std::int64_t>(std::time(nullptr)) - skew;
}

bool same_secret(const std::string& given, const std::string& expected) {
  return given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

// The internal username is reserved: with the right secret it is the gateway, with anything else the
// connection is refused (a token whose sub happens to be that name never gets in by it).
int internal_auth(PluginState& state, const mosquitto_evt_basic_auth& event) {
  if (!state.internal_secret.empty() && same_secret(event.password ? event.password : "", state.internal_secret)) {
    state.sessions[event.client] = Session{Claims::anonymous(), true, {}, false};
    return MOSQ_ERR_SUCCESS;
  }
  ++state.counters.auth_refused;
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: refused connection of %s: wrong internal credentials",
                       client_name(event.client).c_str());
  return MOSQ_ERR_AUTH;
}

int on_basic_auth(int, void* event_data, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  const auto& event = *static_cast<mosquitto_evt_basic_auth*>(event_data);
  state.sessions.erase(event.client);
  if (event.username && state.internal_username == event.username) return internal_auth(state, event);
  if (!event.password || !*event.password)
    return MOSQ_ERR_PLUGIN_DEFER;  // anonymous: allow_anonymous decides
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
  state.sessions[event.client] = Session{*result.claims, false, {}, false};
  return MOSQ_ERR_SUCCESS;
}

bool decide_read(PluginState& state, Session& session, const std::string& topic, const mosquitto* client) {
  if (auto cached = session.read_cache.find(topic); cached != session.read_cache.end()) return cached->second;
  const auto decision = state.authorizer->decide(session.claims, Action::Read, Resource::topic(topic));
  if (!decision.allowed) {
    ++state.counters.read_refused;
    mosquitto_log_printf(MOSQ_LOG_DEBUG, "kabar-auth: not delivering %s to %s: %s", topic.c_str(),
                         client_name(client).c_str(), decision.reason.c_str());
  }
  if (session.read_cache.size() >= kReadCacheLimit) session.read_cache.clear();
  session.read_cache.emplace(topic, decision.allowed);
  return decision.allowed;
}

int on_acl_check(int, void* event_data, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  const auto& event = *static_cast<mosquitto_evt_acl_check*>(event_data);
  if (event.access == MOSQ_ACL_UNSUBSCRIBE) return MOSQ_ERR_SUCCESS;
  static Session anonymous_session;  // clients let in by allow_anonymous: no claims
  auto found = state.sessions.find(event.client);
  Session& session = found == state.sessions.end() ? anonymous_session : found->second;
  if (session.internal) return MOSQ_ERR_SUCCESS;
  const std::string topic = event.topic ? event.topic : "";
  if (expired(session.claims, *state.authorizer)) {
    session.kick_pending = true;
    return MOSQ_ERR_ACL_DENIED;
  }
  if (event.access == MOSQ_ACL_READ) {
    return decide_read(state, session, topic, event.client) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
  }
  const bool publish = event.access == MOSQ_ACL_WRITE;
  const auto decision = state.authorizer->decide(session.claims, publish ? Action::Publish : Action::Read,
                                                 Resource::topic(topic));
  if (decision.allowed) return MOSQ_ERR_SUCCESS;
  ++(publish ? state.counters.publish_refused : state.counters.subscribe_refused);
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: refused %s of %s by %s: %s: %s",
                       publish ? "publish" : "subscribe", topic.c_str(), client_name(event.client).c_str(),
                       decision.code.c_str(), decision.reason.c_str());
  return MOSQ_ERR_ACL_DENIED;
}

// Clients whose token ran out are disconnected here, outside any ACL check of theirs.
int on_tick(int, void*, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  std::vector<std::string> expired_ids;
  for (auto& [client, session] : state.sessions) {
    if (session.internal) continue;
    if (session.kick_pending || expired(session.claims, *state.authorizer)) {
      session.kick_pending = false;
      if (const char* id = mosquitto_client_id(client)) expired_ids.emplace_back(id);
    }
  }
  for (const auto& id : expired_ids) {
    ++state.counters.expired_kicked;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: disconnecting %s: token expired", id.c_str());
    mosquitto_kick_client_by_clientid(id.c_str(), false);
  }
  return MOSQ_ERR_SUCCESS;
}

int on_disconnect(int, void* event_data, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  state.sessions.erase(static_cast<mosquitto_evt_disconnect*>(event_data)->client);
  return MOSQ_ERR_SUCCESS;
}

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
      "refused %llu, deliveries withheld %llu; expired clients disconnected %llu",
      c.auth_ok, c.auth_refused, c.subscribe_refused, c.publish_refused, c.read_refused, c.expired_kicked);
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
  *userdata = state.release();
  return MOSQ_ERR_SUCCESS;
}

__attribute__((visibility("default"))) int mosquitto_plugin_cleanup(void* userdata, mosquitto_opt*, int) {
  std::unique_ptr<PluginState> state(static_cast<PluginState*>(userdata));
  if (!state) return MOSQ_ERR_SUCCESS;
  log_counters(state->counters);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_TICK, on_tick, nullptr);
  mosquitto_callback_unregister(state->id, MOSQ_EVT_DISCONNECT, on_disconnect, nullptr);
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
