#pragma once
// Presence: who is on one presence channel. Members are distinct users (by user_id); a user is present
// while at least one connection of theirs is subscribed, on this node or on another node of the same
// broker. Joining and leaving report the transitions that the protocol announces: member_added only on
// a user's first connection, member_removed only on the last (shared/docs/pusher-protocol.md §2.4, §2.6).
//
// Not thread-safe: PusherApp guards it.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace kabar {

struct Member {
  std::string user_id_json;    // the user_id as the client's channel_data had it ("1" or 1)
  std::string user_info_json;  // compact JSON, empty when channel_data had no user_info
  std::map<std::string, std::size_t> connections_by_node;  // node ("" = this one) -> open connections
};

class Presence {
 public:
  // user_key: the user_id as a string (the key of `hash`). Returns true when the user was absent.
  bool join(const std::string& node, const std::string& user_key, std::string user_id_json,
            std::string user_info_json);
  // Returns true when that was the user's last connection anywhere.
  bool leave(const std::string& node, const std::string& user_key);
  // Drops every connection of `node` (it went away); returns the users that are gone as a result.
  std::vector<Member> forget_node(const std::string& node);

  const Member* find(const std::string& user_key) const;
  // {"ids":[...],"hash":{id:user_info,...},"count":N}: subscription_succeeded's `presence`.
  std::string snapshot_json() const;
  std::vector<std::string> user_keys() const;
  const std::map<std::string, Member>& members() const { return members_; }
  std::size_t user_count() const { return members_.size(); }
  bool empty() const { return members_.empty(); }

 private:
  std::map<std::string, Member> members_;  // ordered, so `ids` comes out the same on every call
};

}  // namespace kabar
