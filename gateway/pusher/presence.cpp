#include "gateway/pusher/presence.h"

#include "gateway/hub/frame.h"

namespace kabar {

bool Presence::join(const std::string& node, const std::string& user_key, std::string user_id_json,
                    std::string user_info_json) {
  auto [it, inserted] = members_.try_emplace(user_key);
  Member& member = it->second;
  // The newest connection's info wins: a user who renamed themselves shows the new name.
  member.user_id_json = std::move(user_id_json);
  member.user_info_json = std::move(user_info_json);
  ++member.connections_by_node[node];
  return inserted;
}

bool Presence::leave(const std::string& node, const std::string& user_key) {
  auto it = members_.find(user_key);
  if (it == members_.end()) return false;
  auto& by_node = it->second.connections_by_node;
  auto count = by_node.find(node);
  if (count == by_node.end()) return false;
  if (--count->second == 0) by_node.erase(count);
  if (!by_node.empty()) return false;
  members_.erase(it);
  return true;
}

std::vector<Member> Presence::forget_node(const std::string& node) {
  std::vector<Member> gone;
  for (auto it = members_.begin(); it != members_.end();) {
    it->second.connections_by_node.erase(node);
    if (it->second.connections_by_node.empty()) {
      gone.push_back(std::move(it->second));
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

const Member* Presence::find(const std::string& user_key) const {
  auto it = members_.find(user_key);
  return it == members_.end() ? nullptr : &it->second;
}

std::string Presence::snapshot_json() const {
  std::string ids = "[";
  std::string hash = "{";
  for (const auto& [key, member] : members_) {
    if (ids.size() > 1) {
      ids += ',';
      hash += ',';
    }
    const std::string quoted = json_quote(key);
    ids += quoted;
    // Echo's here() hands the app these values; {} rather than null when the auth gave no user_info.
    hash.append(quoted).append(":").append(member.user_info_json.empty() ? "{}" : member.user_info_json);
  }
  return R"({"ids":)" + ids + R"(],"hash":)" + hash + R"(},"count":)" + std::to_string(members_.size()) + "}";
}

std::vector<std::string> Presence::user_keys() const {
  std::vector<std::string> keys;
  keys.reserve(members_.size());
  for (const auto& [key, member] : members_) keys.push_back(key);
  return keys;
}

}  // namespace kabar
