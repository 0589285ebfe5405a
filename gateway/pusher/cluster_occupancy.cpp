#include "gateway/pusher/cluster_occupancy.h"

#include <nlohmann/json.hpp>
#include <tuple>

namespace kabar {
namespace {
using nlohmann::json;

const std::set<std::string> kNobody;

const std::set<std::string>& users_of(const std::map<std::string, std::set<std::string>>& channels,
                                      const std::string& channel) {
  auto it = channels.find(channel);
  return it == channels.end() ? kNobody : it->second;
}

}  // namespace

OccupancyView merge_occupancy(const std::vector<const NodeOccupancy*>& nodes) {
  OccupancyView view;
  for (const NodeOccupancy* node : nodes) {
    for (const auto& [app, channels] : node->subscriptions) {
      for (const auto& [channel, count] : channels) {
        if (count > 0) view[app][channel];
      }
    }
    for (const auto& [app, channels] : node->members) {
      for (const auto& [channel, users] : channels) {
        if (users.empty()) continue;
        view[app][channel].insert(users.begin(), users.end());
      }
    }
  }
  return view;
}

std::vector<AppWebhook> occupancy_transitions(const OccupancyView& before, const OccupancyView& after) {
  std::vector<AppWebhook> out;
  const std::map<std::string, std::set<std::string>> none;
  std::set<std::string> apps;
  for (const auto& [app, channels] : before) apps.insert(app);
  for (const auto& [app, channels] : after) apps.insert(app);
  for (const std::string& app : apps) {
    auto was_it = before.find(app);
    auto now_it = after.find(app);
    const auto& was = was_it == before.end() ? none : was_it->second;
    const auto& now = now_it == after.end() ? none : now_it->second;
    std::set<std::string> channels;
    for (const auto& [channel, users] : was) channels.insert(channel);
    for (const auto& [channel, users] : now) channels.insert(channel);
    for (const std::string& channel : channels) {
      const bool was_occupied = was.count(channel) > 0;
      const bool is_occupied = now.count(channel) > 0;
      const auto& old_users = users_of(was, channel);
      const auto& new_users = users_of(now, channel);
      if (!was_occupied && is_occupied)
        out.push_back({app, WebhookEvent::about_channel("channel_occupied", channel)});
      for (const auto& user : new_users) {
        if (!old_users.count(user))
          out.push_back({app, WebhookEvent::about_member("member_added", channel, user)});
      }
      for (const auto& user : old_users) {
        if (!new_users.count(user))
          out.push_back({app, WebhookEvent::about_member("member_removed", channel, user)});
      }
      if (was_occupied && !is_occupied)
        out.push_back({app, WebhookEvent::about_channel("channel_vacated", channel)});
    }
  }
  return out;
}

std::string occupancy_view_json(const OccupancyView& view) {
  json apps = json::object();
  for (const auto& [app, channels] : view) {
    json list = json::object();
    for (const auto& [channel, users] : channels) list[channel] = users;
    apps[app] = std::move(list);
  }
  return json{{"apps", apps}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

OccupancyView parse_occupancy_view(const std::string& payload) {
  OccupancyView view;
  const json document = json::parse(payload, nullptr, false);
  if (!document.is_object() || !document.contains("apps") || !document["apps"].is_object()) return view;
  for (const auto& [app, channels] : document["apps"].items()) {
    if (!channels.is_object()) continue;
    for (const auto& [channel, users] : channels.items()) {
      auto& known = view[app][channel];
      if (!users.is_array()) continue;
      for (const auto& user : users) {
        if (user.is_string()) known.insert(user.get<std::string>());
      }
    }
  }
  return view;
}

ClusterOccupancy::ClusterOccupancy(std::string self, std::int64_t since_ms)
    : self_(std::move(self)), since_ms_(since_ms) {}

void ClusterOccupancy::set_node(const std::string& node, NodeOccupancy occupancy) {
  if (node == self_) return;  // our own retained snapshot, from before a restart: the live state is ours
  std::lock_guard lock(mutex_);
  others_[node] = std::move(occupancy);
}

void ClusterOccupancy::drop_node(const std::string& node) {
  std::lock_guard lock(mutex_);
  others_.erase(node);
}

std::map<std::string, std::size_t> ClusterOccupancy::remote_subscriptions(const std::string& app) const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::size_t> sums;
  for (const auto& [node, occupancy] : others_) {
    auto it = occupancy.subscriptions.find(app);
    if (it == occupancy.subscriptions.end()) continue;
    for (const auto& [channel, count] : it->second) sums[channel] += count;
  }
  return sums;
}

std::map<std::string, NodeOccupancy> ClusterOccupancy::other_nodes() const {
  std::lock_guard lock(mutex_);
  return others_;
}

void ClusterOccupancy::set_settled(bool settled) {
  std::lock_guard lock(mutex_);
  settled_ = settled;
}

bool ClusterOccupancy::leads() const {
  std::lock_guard lock(mutex_);
  return leads_locked();
}

// The oldest node leads; start times may tie (or clocks differ), the name decides then. Every node
// computes the same answer from the same snapshots.
bool ClusterOccupancy::leads_locked() const {
  if (!settled_) return false;
  for (const auto& [node, occupancy] : others_) {
    if (std::tie(occupancy.since_ms, node) < std::tie(since_ms_, self_)) return false;
  }
  return true;
}

void ClusterOccupancy::set_announced(OccupancyView announced) {
  std::lock_guard lock(mutex_);
  if (!leads_locked()) announced_ = std::move(announced);
}

ClusterOccupancy::Reconciled ClusterOccupancy::reconcile(const NodeOccupancy& local) {
  std::lock_guard lock(mutex_);
  Reconciled result;
  result.leads = leads_locked();
  if (!result.leads) return result;
  std::vector<const NodeOccupancy*> nodes = {&local};
  for (const auto& [node, occupancy] : others_) nodes.push_back(&occupancy);
  OccupancyView now = merge_occupancy(nodes);
  result.webhooks = occupancy_transitions(announced_, now);
  if (!result.webhooks.empty()) {
    announced_ = std::move(now);
    result.announced_json = occupancy_view_json(announced_);
  }
  return result;
}

}  // namespace kabar
