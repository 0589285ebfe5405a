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
#pragma once

#include <cstddef>
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
  std::unordered_map<std::string, bool> read_cache;  // delivered topics -> allowed (the hot path)
};

class SessionRegistry {
 public:
  using Key = const void*;  // mosquitto's client pointer, only ever compared

  // A connection that passed BASIC_AUTH (or was deferred to allow_anonymous).
  Session& admit(Key client, std::string client_id, kabar::authz::Claims claims, bool internal) {
    Session& session = sessions_[client] = Session{};
    session.claims = std::move(claims);
    session.internal = internal;
    session.client_id = std::move(client_id);
    return session;
  }

  // A connection refused at BASIC_AUTH, or a client pointer mosquitto reuses.
  void forget(Key client) { sessions_.erase(client); }

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
    if (clean_session) session->drop_at_tick = true;
  }

  struct TickResult {
    std::vector<std::string> kick;             // online clients whose token expired
    std::vector<std::string> expired_offline;  // offline sessions forgotten because their token expired
    std::size_t dropped = 0;                   // ended clean sessions and taken-over sessions forgotten
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
    return result;
  }

  std::size_t size() const { return sessions_.size(); }
  std::size_t offline() const {
    std::size_t count = 0;
    for (const auto& entry : sessions_) count += entry.second.online ? 0 : 1;
    return count;
  }

 private:
  std::unordered_map<Key, Session> sessions_;
};

}  // namespace kabar::plugin
