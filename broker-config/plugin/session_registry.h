// The plugin's memory of who each mosquitto client is, including while its persistent session is offline.
//
// mosquitto asks the plugin for READ access whenever it queues a message for a subscriber, and an
// offline persistent session is a subscriber too: its `struct mosquitto*` stays the same from the
// disconnect until the session is taken over by a new connection of its client id or expires. It asks
// WRITE access for a client's will right *after* the disconnect event (context__disconnect() in
// mosquitto 2.0.11 calls the plugin's disconnect hook, then context__send_will()). So an identity must
// outlive its connection; when it is dropped is decided here (docs/authorization.md "Offline sessions"):
//
//   * a new connection always passes BASIC_AUTH first, so admit() replaces whatever was recorded at a
//     reused address;
//   * a clean-session client's entry is kept only until the next tick: the will check runs synchronously
//     after the disconnect event, before any tick;
//   * a session taken over by a new connection of its client id ends the same way: mosquitto sets the
//     old context's clean_start and disconnects it (connect__on_authorised()), which fires the
//     disconnect event for it once more, with mosquitto_client_clean_session() true. Nothing is done at
//     BASIC_AUTH for other entries of the same client id: a CONNECT that mosquitto then refuses (an
//     anonymous one with allow_anonymous false) must not cost the real owner its queued messages;
//   * a persistent session's entry stays while it is offline, until its token expires (then nothing more
//     is queued for it: unknown clients are refused), the session is taken over, or its address is
//     reused by a new connection.
//
// The registry never dereferences a client pointer (an offline context may be freed by mosquitto's
// session expiry, which has no plugin event): the client id is copied at admission. mosquitto runs every
// plugin callback on its one main thread, so there is no lock.
//
// Across a broker restart (docs/authorization.md "Offline sessions after a broker restart"): the
// persistent identities (snapshot()) are written to the plugin's state file; at the next start they are
// restore()d by client id, and the context mosquitto restored from its own persistence file for that id
// adopt()s its identity at its first ACL check (plugin_acl.cpp decides which contexts may adopt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "authz/authorizer.h"

namespace kabar::plugin {

struct Session {
  kabar::authz::Claims claims;
  bool internal = false;   // the gateway's own client (internal credentials): not held to the policy
  std::string client_id;   // copied at admission: never read through the pointer of an offline entry
  bool online = true;
  bool drop_at_tick = false;  // a clean session that ended, or a session taken over
  bool kick_pending = false;
  bool persistent = false;  // clean start off at its CONNECT: mosquitto may keep (and persist) the session
  std::string token;        // the raw JWT it authenticated with (for the state file); empty otherwise
  std::uint64_t admitted = 0;  // admission order: the latest entry of a client id is its identity
  std::unordered_map<std::string, bool> read_cache;  // delivered topics -> allowed (the hot path)
};

// What the state file holds for one persistent session: its client id and how it authenticated.
struct PersistedIdentity {
  std::string client_id;
  bool internal = false;
  std::string token;  // empty when internal
};

// How a connection authenticated, as far as a restart must know (the token is kept only when persistent).
struct Credential {
  std::string token;
  bool persistent = false;
};

class SessionRegistry {
 public:
  using Key = const void*;  // mosquitto's client pointer, only ever compared

  // A connection that passed BASIC_AUTH (or was deferred to allow_anonymous).
  // `credential.token`: the JWT it presented (empty: internal, or anonymous deferred to allow_anonymous).
  // A restored identity of the same client id is superseded by an authenticated connection (it takes
  // the session over), never by an anonymous one, which mosquitto may still refuse.
  Session& admit(Key client, std::string client_id, kabar::authz::Claims claims, bool internal,
                 Credential credential = {}) {
    forget(client);
    if ((internal || !credential.token.empty()) && restored_.erase(client_id) > 0) dirty_ = true;
    Session& session = sessions_[client] = Session{};
    session.claims = std::move(claims);
    session.internal = internal;
    session.client_id = std::move(client_id);
    session.persistent = credential.persistent && (internal || !credential.token.empty());
    if (session.persistent && !internal) session.token = std::move(credential.token);
    session.admitted = ++admissions_;
    if (session.persistent) dirty_ = true;
    return session;
  }

  // A connection refused at BASIC_AUTH, or a client pointer mosquitto reuses.
  void forget(Key client) {
    const auto found = sessions_.find(client);
    if (found == sessions_.end()) return;
    if (found->second.persistent) dirty_ = true;
    sessions_.erase(found);
  }

  // At start: the identities the state file held (tokens already re-verified), by client id.
  void restore(std::string client_id, kabar::authz::Claims claims, bool internal, std::string token) {
    Session& session = restored_[client_id] = Session{};
    session.claims = std::move(claims);
    session.internal = internal;
    session.client_id = std::move(client_id);
    session.online = false;
    session.persistent = true;
    session.token = internal ? std::string() : std::move(token);
  }

  // A context the registry does not know, of client id `client_id`, takes the restored identity of
  // that id (once: the entry moves to the context). nullptr when there is none.
  Session* adopt(Key client, const std::string& client_id) {
    const auto found = restored_.find(client_id);
    if (found == restored_.end() || sessions_.count(client) > 0) return nullptr;
    Session& session = sessions_[client] = std::move(found->second);
    restored_.erase(found);
    session.admitted = ++admissions_;
    return &session;
  }

  // The persistent identities to write to the state file: per client id the latest admitted entry that
  // is not ending, and the restored identities no context has adopted yet (their session may still be
  // in mosquitto's persistence, waiting for a message or its client).
  std::vector<PersistedIdentity> snapshot() const {
    std::unordered_map<std::string, const Session*> latest;
    for (const auto& [client, session] : sessions_) {
      if (!session.persistent || session.drop_at_tick) continue;
      const Session*& slot = latest[session.client_id];
      if (!slot || slot->admitted < session.admitted) slot = &session;
    }
    for (const auto& [id, session] : restored_) latest.emplace(id, &session);
    std::vector<PersistedIdentity> out;
    out.reserve(latest.size());
    for (const auto& [id, session] : latest) out.push_back({id, session->internal, session->token});
    return out;
  }

  // Whether the persistent identities changed since the last call (then the state file is rewritten).
  bool take_dirty() { return std::exchange(dirty_, false); }

  Session* find(Key client) {
    const auto found = sessions_.find(client);
    return found == sessions_.end() ? nullptr : &found->second;
  }

  // MOSQ_EVT_DISCONNECT. `clean_session`: mosquitto_client_clean_session(), which is also true for a
  // session being taken over (mosquitto sets clean_start before it disconnects the old context), and
  // for a CONNECT refused after BASIC_AUTH deferred.
  void disconnected(Key client, bool clean_session) {
    Session* session = find(client);
    if (!session) return;
    session->online = false;
    session->kick_pending = false;
    if (clean_session) {
      session->drop_at_tick = true;
      if (session->persistent) dirty_ = true;
    }
  }

  struct TickResult {
    std::vector<std::string> kick;             // online clients whose token expired
    std::vector<std::string> expired_offline;  // offline sessions forgotten because their token expired
    std::size_t dropped = 0;                   // ended clean sessions and taken-over sessions forgotten
    std::vector<std::string> expired_restored;  // restored identities whose token ran out unadopted
  };

  // MOSQ_EVT_TICK: `expired(session)` says whether a session's token ran out.
  TickResult tick(const std::function<bool(const Session&)>& expired) {
    TickResult result;
    std::vector<Key> drop;
    for (auto& [client, session] : sessions_) {
      if (session.drop_at_tick) {
        drop.push_back(client);
        ++result.dropped;
      } else if (session.internal) {
        continue;
      } else if (!session.online && expired(session)) {
        drop.push_back(client);
        result.expired_offline.push_back(session.client_id);
      } else if (session.online && (session.kick_pending || expired(session))) {
        session.kick_pending = false;
        result.kick.push_back(session.client_id);
      }
    }
    for (Key client : drop) forget(client);
    for (auto it = restored_.begin(); it != restored_.end();) {
      if (!it->second.internal && expired(it->second)) {
        result.expired_restored.push_back(it->first);
        it = restored_.erase(it);
        dirty_ = true;
      } else {
        ++it;
      }
    }
    return result;
  }

  std::size_t size() const { return sessions_.size(); }
  std::size_t restored() const { return restored_.size(); }
  std::size_t offline() const {
    std::size_t count = 0;
    for (const auto& entry : sessions_) count += entry.second.online ? 0 : 1;
    return count;
  }

 private:
  std::unordered_map<Key, Session> sessions_;
  std::unordered_map<std::string, Session> restored_;  // by client id, until adopted or expired
  std::uint64_t admissions_ = 0;
  bool dirty_ = false;
};

}  // namespace kabar::plugin
