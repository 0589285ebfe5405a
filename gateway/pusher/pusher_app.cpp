#include "gateway/pusher/pusher_app.h"

#include <algorithm>
#include <cctype>

#include "gateway/http/hardening.h"

namespace kabar {

// The same matching as the native doors' http.allowed_origins (gateway/http/hardening.h); unlike them a
// Pusher app with named origins also refuses clients that send no Origin, as Pusher does.
bool PusherApp::origin_allowed(std::string_view origin) const {
  return origin_matches(config_.allowed_origins, origin);
}

bool PusherApp::try_open_connection() {
  const std::size_t limit = config_.max_connections;
  std::size_t current = connections_.load(std::memory_order_relaxed);
  do {
    if (limit != 0 && current >= limit) return false;
  } while (!connections_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

void PusherApp::close_connection() { connections_.fetch_sub(1, std::memory_order_relaxed); }

bool PusherApp::add_subscriber(const std::string& channel) {
  std::lock_guard lock(mutex_);
  return ++channels_[channel].subscriptions == 1;
}

bool PusherApp::remove_subscriber(const std::string& channel) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(channel);
  if (it == channels_.end() || it->second.subscriptions == 0) return false;
  const bool vacated = --it->second.subscriptions == 0;
  erase_if_unused(channel);
  return vacated;
}

void PusherApp::erase_if_unused(const std::string& channel) {
  auto it = channels_.find(channel);
  if (it != channels_.end() && it->second.subscriptions == 0 && it->second.presence.empty())
    channels_.erase(it);
}

PresenceChange PusherApp::join(const std::string& channel, const std::string& node,
                               const std::string& user_key, std::string user_id_json,
                               std::string user_info_json) {
  std::lock_guard lock(mutex_);
  Presence& presence = channels_[channel].presence;
  PresenceChange change;
  change.user_id_json = user_id_json;
  change.user_info_json = user_info_json;
  change.announced = presence.join(node, user_key, std::move(user_id_json), std::move(user_info_json));
  if (change.announced) ++presence_version_;
  change.version = presence_version_;
  change.snapshot_json = presence.snapshot_json();
  return change;
}

PresenceChange PusherApp::leave(const std::string& channel, const std::string& node,
                                const std::string& user_key) {
  std::lock_guard lock(mutex_);
  PresenceChange change;
  auto it = channels_.find(channel);
  if (it == channels_.end()) return change;
  if (const Member* member = it->second.presence.find(user_key)) change.user_id_json = member->user_id_json;
  change.announced = it->second.presence.leave(node, user_key);
  if (change.announced) ++presence_version_;
  change.version = presence_version_;
  erase_if_unused(channel);
  return change;
}

std::vector<std::pair<std::string, PresenceChange>> PusherApp::forget_node(const std::string& node) {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, PresenceChange>> changes;
  std::vector<std::string> emptied;
  for (auto& [name, state] : channels_) {
    for (Member& member : state.presence.forget_node(node)) {
      PresenceChange change;
      change.announced = true;
      change.version = ++presence_version_;
      change.user_id_json = std::move(member.user_id_json);
      changes.emplace_back(name, std::move(change));
    }
    if (state.subscriptions == 0 && state.presence.empty()) emptied.push_back(name);
  }
  for (const auto& name : emptied) channels_.erase(name);
  return changes;
}

std::string PusherApp::presence_snapshot(const std::string& channel) const {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(channel);
  return it == channels_.end() ? Presence().snapshot_json() : it->second.presence.snapshot_json();
}

std::vector<LocalMember> PusherApp::local_members() const {
  std::lock_guard lock(mutex_);
  std::vector<LocalMember> members;
  for (const auto& [channel, state] : channels_) {
    for (const auto& [key, member] : state.presence.members()) {
      if (member.connections_by_node.count("") == 0) continue;
      members.push_back(LocalMember{channel, key, member.user_id_json, member.user_info_json});
    }
  }
  return members;
}

std::map<std::string, std::size_t> PusherApp::local_subscriptions() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::size_t> counts;
  for (const auto& [channel, state] : channels_) {
    if (state.subscriptions > 0) counts.emplace(channel, state.subscriptions);
  }
  return counts;
}

std::vector<ChannelSummary> PusherApp::channels(std::string_view prefix) const {
  std::lock_guard lock(mutex_);
  std::vector<ChannelSummary> list;
  for (const auto& [name, state] : channels_) {
    if (!name.starts_with(prefix)) continue;
    list.push_back(ChannelSummary{name, state.subscriptions, state.presence.user_count()});
  }
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return list;
}

std::optional<ChannelSummary> PusherApp::channel(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(name);
  if (it == channels_.end()) return std::nullopt;
  return ChannelSummary{name, it->second.subscriptions, it->second.presence.user_count()};
}

std::vector<std::string> PusherApp::users(const std::string& channel) const {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(channel);
  return it == channels_.end() ? std::vector<std::string>{} : it->second.presence.user_keys();
}

}  // namespace kabar
