#include "gateway/pusher/cluster_link.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "bridge/mqtt_client_setup.h"
#include "gateway/pusher/protocol_frames.h"

namespace kabar {
namespace {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kRetryDelay = std::chrono::seconds(1);
constexpr auto kCountsInterval = std::chrono::seconds(2);  // how often the connection counts are looked at

std::string compact(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// "kabar/pusher/presence/<node>" -> "<node>"
std::string node_of(const std::string& topic) { return topic.substr(topic.rfind('/') + 1); }

}  // namespace

ClusterLink::ClusterLink(ClusterOptions options, const AppRegistry& apps, ChannelDirectory& directory,
                         ClusterOccupancy& occupancy, Notify notify)
    : options_(std::move(options)),
      apps_(apps),
      directory_(directory),
      occupancy_(occupancy),
      notify_(std::move(notify)) {
  client_ = std::make_unique<mqtt::async_client>(options_.server_uri, options_.client_id,
                                                 mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
  client_->set_message_callback([this](mqtt::const_message_ptr message) {
    on_message(message->get_topic(), message->get_payload_str());
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    spdlog::warn("pusher cluster link: connection lost ({}); reconnecting", cause);
    connected_ = false;
    wake_.notify_all();
  });
}

ClusterLink::~ClusterLink() {
  stop();
  client_.reset();  // no callback may run once the state it uses is gone
}

void ClusterLink::start() {
  std::lock_guard lock(wake_mutex_);
  if (running_) return;
  running_ = true;
  supervisor_ = std::thread([this] { run(); });
}

void ClusterLink::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  supervisor_.join();
  try {
    if (connected_) {
      // The sender's last word: what its own connections closing changed (they closed before the stop),
      // so the next sender does not send it again. Then a clean goodbye: the others see this node's
      // members leave now rather than after a timeout.
      const std::string announced = reconcile();
      if (!announced.empty()) publish_announced(announced);
      client_->publish(mqtt::make_message(presence_topic(options_.node), std::string(), 1, true))
          ->wait_for(kConnectTimeout);
    }
    client_->disconnect()->wait_for(kConnectTimeout);
  } catch (const mqtt::exception& e) {
    spdlog::debug("pusher cluster link: stop: {}", e.what());
  }
  connected_ = false;
  running_ = false;
}

void ClusterLink::presence_changed() {
  {
    std::lock_guard lock(wake_mutex_);
    dirty_ = true;
  }
  wake_.notify_all();
}

void ClusterLink::run() {
  std::unique_lock lock(wake_mutex_);
  while (!stopping_) {
    if (!connected_) {
      // Cut off from the broker, this node cannot know the others: it sends none of the cluster's webhooks.
      settled_ = false;
      occupancy_.set_settled(false);
      lock.unlock();
      const bool ok = connect_once();
      lock.lock();
      if (!ok) {
        wake_.wait_for(lock, kRetryDelay, [this] { return stopping_; });
        continue;
      }
      dirty_ = true;
      settle_at_ = Clock::now() + options_.confirm_window;
    }
    bool confirming = false;
    {
      std::lock_guard nodes_lock(nodes_mutex_);
      confirming = !unconfirmed_.empty();
    }
    auto deadline = Clock::now() + kCountsInterval;
    if (confirming) deadline = std::min(deadline, confirm_deadline_);
    if (!settled_) deadline = std::min(deadline, settle_at_);
    wake_.wait_until(lock, deadline, [this] { return stopping_ || dirty_ || !connected_; });
    if (stopping_) break;
    if (confirming && Clock::now() >= confirm_deadline_) {
      lock.unlock();
      forget_unconfirmed();
      lock.lock();
      dirty_ = true;
    }
    if (!settled_ && connected_ && Clock::now() >= settle_at_) {
      // The retained snapshots (and what the last sender announced) arrived within the window.
      settled_ = true;
      occupancy_.set_settled(true);
      dirty_ = true;
    }
    if (dirty_ && connected_) {
      lock.unlock();
      std::this_thread::sleep_for(options_.publish_delay);  // several joins of one page load: one snapshot
      lock.lock();
      dirty_ = false;
      lock.unlock();
      publish_snapshot();
      const std::string announced = reconcile();
      if (!announced.empty()) publish_announced(announced);
      lock.lock();
    } else if (connected_ && options_.connections) {
      lock.unlock();
      publish_snapshot();  // the connection counts, when they changed (publish_snapshot compares)
      lock.lock();
    }
  }
}

std::string ClusterLink::reconcile() {
  ClusterOccupancy::Reconciled result = occupancy_.reconcile(local_occupancy(apps_, occupancy_.since_ms()));
  for (auto& webhook : result.webhooks) {
    if (auto app = apps_.by_id(webhook.app); app && notify_) notify_(*app, std::move(webhook.event));
  }
  return result.announced_json;
}

void ClusterLink::publish_announced(const std::string& announced) {
  try {
    client_->publish(mqtt::make_message(announced_topic(), announced, 1, true));
  } catch (const mqtt::exception& e) {
    spdlog::warn("pusher cluster link: announced occupancy not published: {}", e.what());
  }
}

bool ClusterLink::connect_once() {
  mqtt::connect_options_builder builder;
  builder.clean_session(true)
      .keep_alive_interval(std::chrono::seconds(10))
      .connect_timeout(kConnectTimeout)
      .will(mqtt::message(presence_topic(options_.node), std::string(), 1, true));
  if (!options_.username.empty()) builder.user_name(options_.username);
  if (!options_.password.empty()) builder.password(options_.password);
  // MQTT 3.1.1 (create_options above), which every broker speaks; the cluster's brokers in turn.
  mqtt::connect_options connect = builder.finalize();
  set_mqtt_servers(connect, options_.server_uri, options_.failover_uris);
  try {
    if (!client_->connect(connect)->wait_for(kConnectTimeout)) return false;
    {
      // Whatever we knew of other nodes is re-sent as retained snapshots now; a node that sends none
      // within the window left while we were away.
      std::lock_guard lock(nodes_mutex_);
      unconfirmed_.clear();
      for (const auto& [node, state] : nodes_) unconfirmed_.insert(node);
      confirm_deadline_ = Clock::now() + options_.confirm_window;
    }
    const std::vector<std::string> filters = {presence_topic("+"), client_topic("+"), announced_topic()};
    client_->subscribe(mqtt::string_collection::create(filters), std::vector<int>{1, 0, 1})
        ->wait_for(kConnectTimeout);
    connected_ = true;
    last_published_.clear();
    spdlog::info("pusher cluster link: connected to {} as node {}", options_.server_uri, options_.node);
    return true;
  } catch (const mqtt::exception& e) {
    spdlog::debug("pusher cluster link: connect: {}", e.what());
    return false;
  }
}

void ClusterLink::publish_snapshot() {
  const std::string snapshot = snapshot_json(apps_, occupancy_.since_ms(),
                                             options_.connections ? options_.connections()
                                                                  : std::map<std::string, std::uint64_t>{});
  if (snapshot == last_published_) return;
  try {
    client_->publish(mqtt::make_message(presence_topic(options_.node), snapshot, 1, true));
    last_published_ = snapshot;
  } catch (const mqtt::exception& e) {
    spdlog::warn("pusher cluster link: presence snapshot not published: {}", e.what());
    presence_changed();  // try again after the reconnect
  }
}

std::string ClusterLink::snapshot_json(const AppRegistry& apps, std::int64_t since_ms,
                                       const std::map<std::string, std::uint64_t>& connections) {
  json all = json::object();
  json subscriptions = json::object();
  for (const auto& app : apps.all()) {
    json channels = json::object();
    for (const LocalMember& member : app->local_members()) {
      json entry = {{"id", json::parse(member.user_id_json, nullptr, false)}};
      if (!member.user_info_json.empty()) entry["info"] = json::parse(member.user_info_json, nullptr, false);
      channels[member.channel][member.user_key] = std::move(entry);
    }
    if (!channels.empty()) all[app->id()] = std::move(channels);
    auto counts = app->local_subscriptions();
    if (!counts.empty()) subscriptions[app->id()] = counts;
  }
  json snapshot = {{"apps", all}, {"subscriptions", subscriptions}, {"since", since_ms}};
  if (!connections.empty()) snapshot["connections"] = connections;
  return compact(snapshot);
}

NodeOccupancy ClusterLink::local_occupancy(const AppRegistry& apps, std::int64_t since_ms) {
  NodeOccupancy occupancy;
  occupancy.since_ms = since_ms;
  for (const auto& app : apps.all()) {
    auto counts = app->local_subscriptions();
    if (!counts.empty()) occupancy.subscriptions[app->id()] = std::move(counts);
    for (const LocalMember& member : app->local_members())
      occupancy.members[app->id()][member.channel].insert(member.user_key);
  }
  return occupancy;
}

ClusterLink::NodeState ClusterLink::parse_members(const json& document) {
  NodeState state;
  if (!document.is_object() || !document.contains("apps") || !document["apps"].is_object()) return state;
  for (const auto& [app, channels] : document["apps"].items()) {
    if (!channels.is_object()) continue;
    for (const auto& [channel, users] : channels.items()) {
      if (!users.is_object()) continue;
      for (const auto& [user, entry] : users.items()) {
        if (!entry.is_object() || !entry.contains("id")) continue;
        RemoteMember member;
        member.user_id_json = compact(entry["id"]);
        if (entry.contains("info")) member.user_info_json = compact(entry["info"]);
        state[app][channel][user] = std::move(member);
      }
    }
  }
  return state;
}

// A node of an older version shares no counts and no start time: its members still count as occupancy,
// and it is taken as the oldest (since 0), so a mixed cluster keeps one sender.
NodeOccupancy ClusterLink::parse_occupancy(const json& document, const NodeState& members) {
  NodeOccupancy occupancy;
  for (const auto& [app, channels] : members) {
    for (const auto& [channel, users] : channels) {
      for (const auto& [user, member] : users) occupancy.members[app][channel].insert(user);
    }
  }
  if (!document.is_object()) return occupancy;
  if (auto since = document.find("since"); since != document.end() && since->is_number_integer())
    occupancy.since_ms = since->get<std::int64_t>();
  if (auto connections = document.find("connections"); connections != document.end() && connections->is_object()) {
    for (const auto& [door, count] : connections->items()) {
      if (count.is_number_unsigned()) occupancy.connections[door] = count.get<std::uint64_t>();
    }
  }
  auto subscriptions = document.find("subscriptions");
  if (subscriptions == document.end() || !subscriptions->is_object()) return occupancy;
  for (const auto& [app, channels] : subscriptions->items()) {
    if (!channels.is_object()) continue;
    for (const auto& [channel, count] : channels.items()) {
      if (count.is_number_unsigned() && count.get<std::size_t>() > 0)
        occupancy.subscriptions[app][channel] = count.get<std::size_t>();
    }
  }
  return occupancy;
}

void ClusterLink::apply_snapshot(const std::string& node, const std::string& payload) {
  const json document = payload.empty() ? json() : json::parse(payload, nullptr, false);
  NodeState next = parse_members(document);
  if (payload.empty()) {
    occupancy_.drop_node(node);
  } else {
    occupancy_.set_node(node, parse_occupancy(document, next));
  }
  std::lock_guard lock(nodes_mutex_);
  unconfirmed_.erase(node);
  NodeState& known = nodes_[node];
  for (const auto& [app_id, channels] : known) {
    auto app = apps_.by_id(app_id);
    if (!app) continue;
    for (const auto& [channel, users] : channels) {
      for (const auto& [user, member] : users) {
        auto still = next.find(app_id);
        if (still != next.end() && still->second.count(channel) && still->second.at(channel).count(user))
          continue;
        announce_leave(*app, channel, node, user);
      }
    }
  }
  for (const auto& [app_id, channels] : next) {
    auto app = apps_.by_id(app_id);
    if (!app) continue;  // an app this node does not serve
    for (const auto& [channel, users] : channels) {
      for (const auto& [user, member] : users) {
        auto was = known.find(app_id);
        if (was != known.end() && was->second.count(channel) && was->second.at(channel).count(user)) continue;
        announce_join(*app, channel, node, user, member);
      }
    }
  }
  if (payload.empty()) {
    nodes_.erase(node);  // gone; a live node without members stays known, so a reconnect confirms it
  } else {
    known = std::move(next);
  }
}

void ClusterLink::forget_unconfirmed() {
  std::set<std::string> gone;
  {
    std::lock_guard lock(nodes_mutex_);
    gone.swap(unconfirmed_);
  }
  for (const auto& node : gone) {
    spdlog::info("pusher cluster link: node {} left while we were disconnected", node);
    apply_snapshot(node, "");
  }
}

void ClusterLink::announce_join(PusherApp& app, const std::string& channel, const std::string& node,
                                const std::string& user, const RemoteMember& member) {
  const PresenceChange change = app.join(channel, node, user, member.user_id_json, member.user_info_json);
  if (!change.announced) return;
  auto frame = std::make_shared<RelayedFrame>();
  frame->app_id = app.id();
  frame->channel = channel;
  frame->text = pusher_frame::member_added(channel, change.user_id_json, change.user_info_json);
  frame->presence_version = change.version;
  directory_.relay(std::move(frame));
}

void ClusterLink::announce_leave(PusherApp& app, const std::string& channel, const std::string& node,
                                 const std::string& user) {
  const PresenceChange change = app.leave(channel, node, user);
  if (!change.announced) return;
  auto frame = std::make_shared<RelayedFrame>();
  frame->app_id = app.id();
  frame->channel = channel;
  frame->text = pusher_frame::member_removed(channel, change.user_id_json);
  frame->presence_version = change.version;
  directory_.relay(std::move(frame));
}

void ClusterLink::publish_client_event(const RelayedFrame& frame) {
  if (!connected_) return;  // a whisper is ephemeral: the other nodes miss it while we are cut off
  const json payload = {{"app", frame.app_id},
                        {"channel", frame.channel},
                        {"except", frame.except_socket_id},
                        {"text", frame.text}};
  try {
    client_->publish(mqtt::make_message(client_topic(options_.node), compact(payload), 0, false));
  } catch (const mqtt::exception& e) {
    spdlog::debug("pusher cluster link: client event not published: {}", e.what());
  }
}

void ClusterLink::apply_client_event(const std::string& node, const std::string& payload) {
  if (node == options_.node) return;
  const json document = json::parse(payload, nullptr, false);
  if (!document.is_object()) return;
  auto frame = std::make_shared<RelayedFrame>();
  frame->app_id = document.value("app", "");
  frame->channel = document.value("channel", "");
  frame->except_socket_id = document.value("except", "");
  frame->text = document.value("text", "");
  if (frame->text.empty() || !apps_.by_id(frame->app_id)) return;
  directory_.relay(std::move(frame));
}

void ClusterLink::on_message(const std::string& topic, const std::string& payload) {
  const std::string node = node_of(topic);
  if (topic == announced_topic()) {
    occupancy_.set_announced(parse_occupancy_view(payload));
  } else if (topic.starts_with("kabar/pusher/presence/")) {
    if (node != options_.node) {
      apply_snapshot(node, payload);
      presence_changed();  // the cluster's occupancy changed: reconcile (after publish_delay)
    }
  } else if (topic.starts_with("kabar/pusher/client/")) {
    apply_client_event(node, payload);
  }
}

}  // namespace kabar
