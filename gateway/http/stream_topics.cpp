// StreamSession's topic subscriptions (stream_session.h `subscribe_with_topics`, docs/protocol.md "Topic
// subscriptions"). A filter is the set of channels whose events came on matching topics: found in the
// store's channel_topics on a replay thread, then caught up and delivered as channels are, with the
// topics of each checked per event. The hub hands the session every frame whose topic matches one of its
// filters, so a channel that starts to match later joins at its first matching event.
//
// The seam, for channels found by a filter: the filter is in the hub, and the head read, before the store
// is asked. A frame of a matching channel that arrives while the store is asked is only noted (`seen`);
// every channel found or noted is then caught up from the start point, which the head bounds, so events
// committed meanwhile are read from the store and the ones after arrive live. A channel whose first
// matching frame arrives after that joins live, from the seq before that frame: any earlier matching
// event of it would have been found or noted.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <map>

#include "core/topic_filter.h"
#include "gateway/http/access.h"
#include "gateway/http/stream_session.h"

namespace kabar {

namespace {
// The channels one connection may hold, found by filters and named together: a filter over a large
// store (a super admin's "#") must not make one session replay thousands of channels.
constexpr std::size_t kMaxChannelsPerConnection = 1000;
}  // namespace

bool StreamSession::is_topic_subscribed(const std::string& filter) const {
  return std::find(filters_.begin(), filters_.end(), filter) != filters_.end();
}

std::size_t StreamSession::subscription_count() const {
  const auto by_name = static_cast<std::size_t>(
      std::count_if(channels_.begin(), channels_.end(), [](const auto& entry) { return entry.second.by_name; }));
  return by_name + filters_.size();
}

bool StreamSession::topic_wanted(const std::string& topic) const {
  return std::any_of(filters_.begin(), filters_.end(),
                     [&](const std::string& filter) { return topic_matches(filter, topic); });
}

void StreamSession::note_topic(ChannelState& state, const std::string& topic) const {
  if (std::find(state.topics.begin(), state.topics.end(), topic) == state.topics.end()) state.topics.push_back(topic);
}

void StreamSession::subscribe_with_topics(const std::vector<std::string>& channels,
                                          const std::vector<std::string>& filters, const StartPoint& start,
                                          bool id_on_reset, std::optional<std::int64_t> known_head) {
  if (closing_) return;
  std::vector<std::string> added;
  for (const auto& filter : filters) {
    if (is_topic_subscribed(filter)) continue;  // already held: it goes on as it was
    context_.hub.subscribe_topic(shard_, filter, this);
    filters_.push_back(filter);
    added.push_back(filter);
  }
  if (added.empty()) {
    // Channels only: subscribe() puts them in the hub before it reads the head (the seam), so the head is
    // not read here.
    if (!channels.empty()) subscribe(channels, start, id_on_reset, known_head);
    return;
  }
  // The filters are in the hub already: a frame of theirs after this head reaches on_unknown_channel_frame.
  const std::int64_t head = known_head ? *known_head : read_head();
  const std::uint64_t number = next_resolution_++;
  resolutions_[number] = Resolution{added, channels, start, head, id_on_reset, {}};
  context_.replay.run([self = shared_from_this(), &store = context_.store, number,
                       executor = context_.hub.shard_context(shard_).get_executor()] {
    std::vector<ChannelTopic> pairs;
    bool failed = false;
    try {
      pairs = store.channel_topics();
    } catch (const std::exception& error) {
      spdlog::warn("reading the channels of a topic subscription failed: {}", error.what());
      failed = true;
    }
    boost::asio::post(executor, [self, number, pairs = std::move(pairs), failed]() mutable {
      self->on_topics_resolved(number, std::move(pairs), failed);
    });
  });
}

void StreamSession::on_topics_resolved(std::uint64_t number, std::vector<ChannelTopic> pairs, bool failed) {
  if (closing_) return;
  auto entry = resolutions_.find(number);
  if (entry == resolutions_.end()) return;
  Resolution resolution = std::move(entry->second);
  resolutions_.erase(entry);
  if (failed) {
    context_.stats.replay_failures.fetch_add(1, std::memory_order_relaxed);
    close_replay_failed({});
    return;
  }
  // channel -> the topics of it that a filter of this resolution matches (a filter unsubscribed meanwhile
  // has left `filters`).
  std::map<std::string, std::vector<std::string>> found;
  auto matches = [&](const std::string& topic) {
    return std::any_of(resolution.filters.begin(), resolution.filters.end(),
                       [&](const std::string& filter) { return is_topic_subscribed(filter) && topic_matches(filter, topic); });
  };
  for (auto& pair : pairs) {
    if (matches(pair.topic)) found[pair.channel].push_back(std::move(pair.topic));
  }
  for (auto& [channel, topic] : resolution.seen) {
    auto& topics = found[channel];
    if (std::find(topics.begin(), topics.end(), topic) == topics.end()) topics.push_back(topic);
  }
  std::vector<std::string> channels = resolution.channels;  // by name (already authorized by the door)
  std::vector<std::pair<std::string, std::vector<std::string>>> by_filter;
  for (auto& [channel, topics] : found) {
    if (std::find(channels.begin(), channels.end(), channel) != channels.end()) continue;
    auto held = channels_.find(channel);
    if (held != channels_.end()) {  // already delivered to this connection: it goes on as it is
      if (!held->second.by_name) {
        for (const auto& topic : topics) note_topic(held->second, topic);
      }
      continue;
    }
    if (!decide(context_, claims_, authz::Action::Read, channel).allowed) continue;  // a second guard
    if (channels_.size() + channels.size() >= kMaxChannelsPerConnection) {
      spdlog::warn("topic subscription on shard {}: more than {} channels, the rest left out", shard_,
                   kMaxChannelsPerConnection);
      break;
    }
    channels.push_back(channel);
    by_filter.emplace_back(channel, std::move(topics));
  }
  // A live start begins at the head read when the filters were subscribed: what was committed since is
  // read from the store, not lost.
  StartPoint start = resolution.start;
  if (start.kind == StartPoint::Kind::Live) {
    start.kind = StartPoint::Kind::After;
    start.after = Position{context_.hub.epoch(), resolution.head};
  }
  if (!channels.empty()) subscribe(channels, start, resolution.id_on_reset, resolution.head);
  for (auto& [channel, topics] : by_filter) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) continue;
    it->second.by_name = false;
    it->second.topics = std::move(topics);
  }
}

// A frame of a channel this session does not hold, whose topic may match one of its filters.
void StreamSession::on_unknown_channel_frame(const FramePtr& frame) {
  bool noted = false;
  for (auto& [number, resolution] : resolutions_) {
    const bool matched = std::any_of(resolution.filters.begin(), resolution.filters.end(),
                                     [&](const std::string& filter) { return topic_matches(filter, frame->topic); });
    if (!matched) continue;
    resolution.seen.emplace_back(frame->channel, frame->topic);  // caught up from its start once resolved
    noted = true;
  }
  if (noted || !topic_wanted(frame->topic)) return;
  if (!decide(context_, claims_, authz::Action::Read, frame->channel).allowed) return;
  if (channels_.size() >= kMaxChannelsPerConnection) return;
  context_.hub.subscribe(shard_, frame->channel, this);
  ChannelState state;
  state.catching_up = false;
  state.delivered_through = frame->seq - 1;
  state.by_name = false;
  channels_.emplace(frame->channel, std::move(state));
  on_frame(frame);
}

bool StreamSession::unsubscribe_topic(const std::string& filter) {
  auto it = std::find(filters_.begin(), filters_.end(), filter);
  if (it == filters_.end()) return false;
  filters_.erase(it);
  context_.hub.unsubscribe_topic(shard_, filter, this);
  for (auto entry = resolutions_.begin(); entry != resolutions_.end();) {
    std::erase(entry->second.filters, filter);
    // Nothing left to look up or to subscribe: the lookup's answer is dropped when it comes.
    entry = entry->second.filters.empty() && entry->second.channels.empty() ? resolutions_.erase(entry) : std::next(entry);
  }
  std::vector<std::string> orphans;
  for (const auto& [channel, state] : channels_) {
    if (state.by_name) continue;
    const bool still = std::any_of(state.topics.begin(), state.topics.end(),
                                   [&](const std::string& topic) { return topic_wanted(topic); });
    if (!still) orphans.push_back(channel);
  }
  for (const auto& channel : orphans) unsubscribe(channel);
  return true;
}

}  // namespace kabar
