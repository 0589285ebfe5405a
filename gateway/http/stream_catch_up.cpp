// StreamSession's catch-up state machine: reading a subscription's history page by page, paced by the
// send queue, until it can go live without a gap or a duplicate (the seam: stream_session.h). Resets
// (history_pruned) and the start of since=latest are decided here, page by page; a read error ends the
// session (close_replay_failed).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "gateway/http/stream_session.h"

namespace kabar {

namespace {
bool contains(const std::vector<std::string>& channels, const std::string& channel) {
  return std::find(channels.begin(), channels.end(), channel) != channels.end();
}

std::size_t page_limit(const SessionLimits& limits) {
  // A page must fit comfortably in the send queue, or replay itself would look like a slow consumer.
  return std::max<std::size_t>(1, std::min(limits.replay_page, limits.queue_max_frames / 2));
}
}  // namespace

void StreamSession::start_next_catch_up() {
  while (!catch_ups_.empty() && catch_ups_.front().channels.empty()) catch_ups_.pop_front();
  if (catch_ups_.empty() || closing_) return;
  catch_ups_.front().started = true;
  catch_ups_.front().started_at = std::chrono::steady_clock::now();
  request_page();
}

void StreamSession::request_page() {
  CatchUp& catch_up = catch_ups_.front();
  if (!catch_up.anchor.empty()) {
    resolve_anchor();
    return;
  }
  std::vector<ChannelCursor> cursors;
  cursors.reserve(catch_up.channels.size());
  for (const auto& channel : catch_up.channels) {
    if (contains(catch_up.unresolved_latest, channel)) {
      cursors.push_back(
          ChannelCursor{channel, catch_up.latest_through, /*check_pruned=*/true, /*latest=*/true});
      continue;
    }
    auto floor = catch_up.floors.find(channel);
    const std::int64_t after =
        floor == catch_up.floors.end() ? catch_up.cursor : std::max(catch_up.cursor, floor->second);
    cursors.push_back(ChannelCursor{channel, after, !contains(catch_up.unanchored, channel)});
  }
  const PageLimit limit{page_limit(context_.limits),
                        std::max<std::size_t>(1, context_.limits.queue_max_bytes / 2)};
  context_.replay.read_page(std::move(cursors), limit, context_.hub.shard_context(shard_).get_executor(),
                            [self = shared_from_this()](ReplayPage page) { self->on_page(std::move(page)); });
}

void StreamSession::on_page(ReplayPage page) {
  if (closing_ || catch_ups_.empty()) return;
  if (!page.error.empty()) {
    fail_replay(page.error);
    return;
  }
  CatchUp& catch_up = catch_ups_.front();
  apply_resolved_starts(catch_up, page);
  handle_pruned(catch_up, page);
  if (closing_) return;  // a reset overflowed the queue
  for (const auto& event : page.events) {
    // A channel unsubscribed, or subscribed again from another point, while this page was read has
    // left this catch-up: its events here are stale (the new subscription replays its own).
    if (!contains(catch_up.channels, event.envelope.channel)) continue;
    auto it = channels_.find(event.envelope.channel);
    if (it == channels_.end() || !it->second.catching_up) continue;
    it->second.delivered_through = event.seq;
    if (!catch_up.unanchored.empty()) std::erase(catch_up.unanchored, event.envelope.channel);
    if (!it->second.by_name && !topic_wanted(event.envelope.topic)) continue;  // another topic of it
    FramePtr frame = encode_frame(event, context_.hub.epoch());  // positions anchored by the event's id
    if (!wants(*frame)) continue;
    const std::string& bytes = transport_.frame_bytes(*frame);
    enqueue(Outgoing::event(std::move(frame), bytes), /*bounded=*/false, /*write_now=*/false);
  }
  flush();  // the page goes out in gathered writes; a write may complete (and close) at once
  if (closing_) return;
  context_.stats.replayed_events.fetch_add(page.events.size(), std::memory_order_relaxed);
  context_.stats.streams.replayed_events[static_cast<std::size_t>(transport_of(transport_.name()))].fetch_add(
      page.events.size(), std::memory_order_relaxed);
  if (!page.events.empty()) catch_up.cursor = std::max(catch_up.cursor, page.events.back().seq);
  // A short page holds every event of these channels up to the head it was read at (or a reset covered
  // them), so the cursor moves to that head. Without this, a live frame dropped during the catch-up whose
  // event the page already covered (a reset's floor, or an event of a pruned channel) kept max_dropped
  // above the cursor, and empty pages were read back to back until the channel's next event.
  if (!page.full) catch_up.cursor = std::max(catch_up.cursor, page.head);

  const bool nothing_left = catch_up.channels.empty();  // all of them left while the page was read
  if (nothing_left || (!page.full && catch_up.max_dropped <= catch_up.cursor)) {
    finish_catch_up();
    return;
  }
  if (queue_above(2)) {
    catch_up.waiting_for_drain = true;  // resumed by on_write_complete
  } else {
    request_page();
  }
}

// Another node's position: its event is found here by id (the same on every node), and the catch-up goes
// on after it. This node's bridge may be a moment behind the other's, so an id not found yet is looked for
// again for a while before the client is told to refetch (epoch_changed: this store truly lacks it).
void StreamSession::resolve_anchor() {
  context_.replay.run([self = shared_from_this(), &store = context_.store, id = catch_ups_.front().anchor,
                       executor = context_.hub.shard_context(shard_).get_executor()] {
    std::optional<std::int64_t> seq;
    bool failed = false;
    try {
      seq = store.seq_of(id);
    } catch (const std::exception&) {
      failed = true;
    }
    boost::asio::post(executor, [self, seq, failed] { self->on_anchor(seq, failed); });
  });
}

void StreamSession::on_anchor(std::optional<std::int64_t> seq, bool failed) {
  constexpr int kAnchorAttempts = 20;
  constexpr auto kAnchorRetry = std::chrono::milliseconds(100);
  if (closing_ || catch_ups_.empty() || catch_ups_.front().anchor.empty()) return;
  CatchUp& catch_up = catch_ups_.front();
  if (failed) {
    fail_replay("looking up the event of another node's position failed");
    return;
  }
  if (catch_up.channels.empty()) {
    finish_catch_up();
    return;
  }
  if (seq) {
    catch_up.anchor.clear();
    catch_up.cursor = *seq;
    context_.stats.resumes_from_other_node.fetch_add(1, std::memory_order_relaxed);
    request_page();
    return;
  }
  if (++catch_up.anchor_attempts < kAnchorAttempts) {
    auto timer = std::make_shared<boost::asio::steady_timer>(context_.hub.shard_context(shard_), kAnchorRetry);
    timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code&) {
      if (!self->closing_ && !self->catch_ups_.empty() && !self->catch_ups_.front().anchor.empty())
        self->resolve_anchor();
    });
    return;
  }
  catch_up.anchor.clear();
  for (const auto& channel : catch_up.channels) send_reset(channel, "epoch_changed", catch_up.cursor, catch_up.reset_with_id);
  context_.stats.resets_epoch_changed.fetch_add(catch_up.channels.size(), std::memory_order_relaxed);
  if (closing_) return;
  request_page();
}

// An SQLite read error (fd exhaustion, I/O error, corruption) ends this session only; everyone else is
// served, and the client reconnects and resumes from its last position (docs/protocol.md).
void StreamSession::fail_replay(const std::string& error) {
  const std::vector<std::string> channels = catch_ups_.front().channels;
  catch_ups_.clear();
  context_.stats.replay_failures.fetch_add(1, std::memory_order_relaxed);
  std::string names;
  for (const auto& channel : channels) names += (names.empty() ? "" : ",") + channel.substr(0, 64);
  spdlog::warn("replay of {} failed, closing the session on shard {}: {}", names, shard_, error);
  close_replay_failed(channels.empty() ? std::string() : channels.front());
}

void StreamSession::close_replay_failed(const std::string& channel) {
  std::string json = R"({"type":"error","code":"replay_failed","message":)" +
                     json_quote(
                         "reading the history failed on the server; reconnect and resume from your last "
                         "position");
  if (!channel.empty()) json += R"(,"channel":)" + json_quote(channel);
  send_control(json + "}");
  close_after_flush();
}

// since=latest: where the first page started each channel becomes its floor, so the pages after it (and
// the switch to live) never go back to the channel's older events.
void StreamSession::apply_resolved_starts(CatchUp& catch_up, const ReplayPage& page) {
  for (const auto& start : page.starts) {
    if (!contains(catch_up.unresolved_latest, start.channel)) continue;
    std::erase(catch_up.unresolved_latest, start.channel);
    std::int64_t& floor = catch_up.floors[start.channel];
    floor = std::max(floor, start.after);
  }
}

// History no longer covers the cursor of these channels: the client must refetch; they continue from
// the head the page was read at. On SSE the reset carries that head as its id only when it covers every
// channel of the stream: with some channels still replaying older events, an id would skip them.
void StreamSession::handle_pruned(CatchUp& catch_up, const ReplayPage& page) {
  std::vector<std::string> pruned;
  for (const auto& channel : page.pruned) {
    if (contains(catch_up.channels, channel)) pruned.push_back(channel);
  }
  if (pruned.empty()) return;
  const bool with_id = catch_up.reset_with_id && pruned.size() == catch_up.channels.size();
  for (const auto& channel : pruned) {
    send_reset(channel, "history_pruned", page.head, with_id);
    context_.stats.resets_history_pruned.fetch_add(1, std::memory_order_relaxed);
    catch_up.floors[channel] = page.head;
  }
}

void StreamSession::finish_catch_up() {
  CatchUp catch_up = std::move(catch_ups_.front());
  catch_ups_.pop_front();
  context_.stats.streams.replay_duration[static_cast<std::size_t>(transport_of(transport_.name()))].observe(
      std::chrono::steady_clock::now() - catch_up.started_at, shard_);
  for (const auto& channel : catch_up.channels) {
    auto floor = catch_up.floors.find(channel);
    const std::int64_t through =
        floor == catch_up.floors.end() ? catch_up.cursor : std::max(catch_up.cursor, floor->second);
    go_live(channel, through);
  }
  start_next_catch_up();
}

}  // namespace kabar
