// ACL_CHECK: subscribe and read are the policy's "read" on the topic filter / topic, write is "publish".
// mosquitto also asks for clients that are not connected: READ when it queues a message for an offline
// persistent session, WRITE for a will right after the disconnect. The SessionRegistry keeps their
// identity for that (session_registry.h); a client it does not know (never admitted by this plugin, or
// an offline session whose token expired) is refused everything, except a session mosquitto restored
// from its persistence file at start, which takes the identity the plugin's state file kept for its
// client id (adopt_restored() below).
#include "broker-config/plugin/plugin_state.h"

#include <ctime>

namespace kabar::plugin {
namespace {

using kabar::authz::Action;
using kabar::authz::Resource;

constexpr std::size_t kReadCacheLimit = 256;  // per client: topics whose read decision is remembered

bool decide_read(PluginState& state, Session& session, const std::string& topic) {
  if (auto cached = session.read_cache.find(topic); cached != session.read_cache.end()) return cached->second;
  const auto decision = state.authorizer->decide(session.claims, Action::Read, Resource::topic(topic));
  if (!decision.allowed) {
    ++state.counters.read_refused;
    mosquitto_log_printf(MOSQ_LOG_DEBUG, "kabar-auth: not delivering %s to %s: %s", topic.c_str(),
                         session.client_id.c_str(), decision.reason.c_str());
  }
  if (session.read_cache.size() >= kReadCacheLimit) session.read_cache.clear();
  session.read_cache.emplace(topic, decision.allowed);
  return decision.allowed;
}

// A context the registry does not know may be one mosquitto restored from its persistence file: it
// was created at start with no socket, so it has no address (context__init(INVALID_SOCKET) in
// persist__find_or_add_context(), mosquitto 2.0.11). Every context of a connection since this start has
// an address and passed BASIC_AUTH, which decided its identity (a refused one has no client id any
// more), so only the restored ones adopt; and each restored identity once.
Session* adopt_restored(PluginState& state, const mosquitto* client) {
  const char* address = mosquitto_client_address(client);
  const char* id = mosquitto_client_id(client);
  if ((address && *address) || !id || !*id) return nullptr;
  Session* session = state.sessions.adopt(client, id);
  if (session) {
    ++state.counters.restored_adopted;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: session %s restored by the broker: identity from the state file (%s)",
                         id, session->internal ? "internal" : session->claims.subject.c_str());
  }
  return session;
}

}  // namespace

bool expired(const kabar::authz::Claims& claims, const kabar::authz::Authorizer& authorizer) {
  if (!claims.expires_at) return false;
  const std::int64_t skew = authorizer.verifier().options().clock_skew_s;
  return *claims.expires_at <= static_cast<std::int64_t>(std::time(nullptr)) - skew;
}

int on_acl_check(int, void* event_data, void* userdata) {
  auto& state = *static_cast<PluginState*>(userdata);
  const auto& event = *static_cast<mosquitto_evt_acl_check*>(event_data);
  if (event.access == MOSQ_ACL_UNSUBSCRIBE) return MOSQ_ERR_SUCCESS;
  const std::string topic = event.topic ? event.topic : "";
  Session* found = state.sessions.find(event.client);
  if (!found) found = adopt_restored(state, event.client);
  if (!found) {
    ++state.counters.unknown_refused;
    mosquitto_log_printf(MOSQ_LOG_DEBUG, "kabar-auth: refused access %d to %s for %s: no identity", event.access,
                         topic.c_str(), text_or(mosquitto_client_id(event.client), "?"));
    return MOSQ_ERR_ACL_DENIED;
  }
  Session& session = *found;
  if (session.internal) return MOSQ_ERR_SUCCESS;
  if (expired(session.claims, *state.authorizer)) {
    session.kick_pending = session.online;
    return MOSQ_ERR_ACL_DENIED;
  }
  if (event.access == MOSQ_ACL_READ) {
    return decide_read(state, session, topic) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
  }
  const bool publish = event.access == MOSQ_ACL_WRITE;
  const auto decision = state.authorizer->decide(session.claims, publish ? Action::Publish : Action::Read,
                                                 Resource::topic(topic));
  if (decision.allowed) return MOSQ_ERR_SUCCESS;
  ++(publish ? state.counters.publish_refused : state.counters.subscribe_refused);
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: refused %s of %s by %s%s: %s: %s",
                       publish ? "publish" : "subscribe", topic.c_str(),
                       session.online ? client_name(event.client).c_str() : session.client_id.c_str(),
                       session.online ? "" : " (offline: its will)", decision.code.c_str(),
                       decision.reason.c_str());
  return MOSQ_ERR_ACL_DENIED;
}

}  // namespace kabar::plugin
