#include "gateway/http/stream_session.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "core/log_fields.h"

namespace kabar {

StreamSession::StreamSession(ServerContext& context, std::size_t shard, StreamTransport& transport)
    : context_(context), shard_(shard), transport_(transport) {}

StreamSession::~StreamSession() { detach(); }

void StreamSession::register_session() {
  context_.sessions_by_shard[shard_].insert(this);
  registered_ = true;
}

void StreamSession::detach() {
  if (detached_) return;
  detached_ = true;
  for (const auto& [channel, state] : channels_) context_.hub.unsubscribe(shard_, channel, this);
  channels_.clear();
  for (const auto& filter : filters_) context_.hub.unsubscribe_topic(shard_, filter, this);
  filters_.clear();
  resolutions_.clear();
  catch_ups_.clear();
  if (registered_) context_.sessions_by_shard[shard_].erase(this);
}

void StreamSession::detach_later() {
  // Called from inside hub delivery, which is iterating the subscriber list: leave it afterwards.
  boost::asio::post(context_.hub.shard_context(shard_), [self = shared_from_this()] { self->detach(); });
}

// ---- subscriptions ----

std::int64_t StreamSession::read_head() {
  const std::int64_t head = context_.store.head_seq();
  if (context_.after_head_read_for_tests) context_.after_head_read_for_tests();
  return head;
}

void StreamSession::subscribe(const std::vector<std::string>& channels, const StartPoint& start,
                              bool id_on_reset, std::optional<std::int64_t> known_head) {
  if (closing_) return;
  // A channel subscribed again restarts from the new start point: drop it from any pending catch-up.
  for (auto& catch_up : catch_ups_) {
    for (const auto& channel : channels) std::erase(catch_up.channels, channel);
  }
  for (const auto& channel : channels) {
    context_.hub.subscribe(shard_, channel, this);
    channels_[channel] = ChannelState{};
  }
  // Read (or given) before anything else of this handler: the store updates its head before it hands a
  // commit to the hub, so the live frame of any event after `head` reaches this shard after this handler
  // and the subscription just made; events up to `head` are history.
  const std::int64_t head = known_head ? *known_head : read_head();
  // Another node's position (another epoch, naming its event): resumed after that event, once this store
  // has found it (resolve_anchor).
  const bool other_node = start.kind == StartPoint::Kind::After && start.after.epoch != context_.hub.epoch() &&
                          !start.after.anchor.empty();
  const char* reset_reason = nullptr;
  switch (start.kind) {
    case StartPoint::Kind::Live:
      for (const auto& channel : channels) go_live(channel, head);
      return;
    case StartPoint::Kind::BadPosition:
      reset_reason = "bad_position";
      context_.stats.resets_bad_position.fetch_add(channels.size(), std::memory_order_relaxed);
      break;
    case StartPoint::Kind::After:
      if (other_node) break;
      if (start.after.epoch != context_.hub.epoch()) {
        reset_reason = "epoch_changed";
        context_.stats.resets_epoch_changed.fetch_add(channels.size(), std::memory_order_relaxed);
      } else if (start.after.seq > head) {
        reset_reason = "position_ahead";
        context_.stats.resets_position_ahead.fetch_add(channels.size(), std::memory_order_relaxed);
      }
      break;
    case StartPoint::Kind::Earliest:
    case StartPoint::Kind::Latest:
      break;
  }
  CatchUp catch_up;
  catch_up.channels = channels;
  catch_up.reset_with_id = id_on_reset;
  if (reset_reason) {
    // The client's position means nothing here: tell it to refetch, then continue from the head.
    for (const auto& channel : channels) send_reset(channel, reset_reason, head, id_on_reset);
    catch_up.cursor = head;
  } else if (other_node) {
    catch_up.anchor = start.after.anchor;
    catch_up.cursor = head;
  } else if (start.kind == StartPoint::Kind::After) {
    catch_up.cursor = start.after.seq;
  } else if (start.kind == StartPoint::Kind::Earliest) {
    catch_up.unanchored = channels;
  } else if (start.kind == StartPoint::Kind::Latest) {
    // The same seam as any replay, from just before each channel's newest event as of `head` (found by
    // the first page on a replay thread); an empty channel starts at `head`, without a reset.
    catch_up.unresolved_latest = channels;
    catch_up.latest_through = head;
  }
  catch_ups_.push_back(std::move(catch_up));
  if (catch_ups_.size() == 1) start_next_catch_up();
}

void StreamSession::unsubscribe(const std::string& channel) {
  if (channels_.erase(channel) == 0) return;
  context_.hub.unsubscribe(shard_, channel, this);
  for (auto& catch_up : catch_ups_) std::erase(catch_up.channels, channel);
  flush();  // frames of it may wait for a hub flush that will no longer call this session
}

void StreamSession::go_live(const std::string& channel, std::int64_t through) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  it->second.catching_up = false;
  it->second.delivered_through = std::max(it->second.delivered_through, through);
}

void StreamSession::send_reset(const std::string& channel, const char* reason, std::int64_t head,
                               bool with_id) {
  const std::string position = context_.store.position_at(head).to_string();
  // Counted against the bound: a client can ask for resets (a subscribe with a bad position) as often as
  // it likes.
  if (closing_) return;
  spdlog::info(with_fields("reset", {{"transport", transport_.name()}, {"sub", claims_.subject},
                                     {"channel", channel}, {"reason", reason}, {"position", position}}));
  enqueue(Outgoing::control(reset_payload(channel, reason, position, with_id ? position : std::string())),
          /*bounded=*/true);
}

std::string StreamSession::reset_payload(const std::string& channel, const char* reason, const std::string& position,
                                         const std::string& id) const {
  return transport_.control_bytes(encode_reset(channel, reason, position), id);
}

// ---- live frames ----

void StreamSession::on_frame(const FramePtr& frame) {
  if (closing_) return;
  auto it = channels_.find(frame->channel);
  if (it == channels_.end()) {
    if (!filters_.empty()) on_unknown_channel_frame(frame);  // a channel a topic filter may bring
    return;
  }
  ChannelState& state = it->second;
  if (state.catching_up) {
    // Dropped now, read from the store later. The active catch-up must know, or it could go live
    // having missed this frame.
    if (!catch_ups_.empty() && catch_ups_.front().started) {
      auto& active = catch_ups_.front();
      if (std::find(active.channels.begin(), active.channels.end(), frame->channel) != active.channels.end()) {
        active.max_dropped = std::max(active.max_dropped, frame->seq);
      }
    }
    return;
  }
  if (frame->seq <= state.delivered_through) return;
  state.delivered_through = frame->seq;
  if (!state.by_name) {
    if (!topic_wanted(frame->topic)) return;
    note_topic(state, frame->topic);
  }
  if (!wants(*frame)) return;
  enqueue(Outgoing::event(frame, transport_.frame_bytes(*frame)), /*bounded=*/true, /*write_now=*/false);
  if (frame->time_ms > 0)
    context_.stats.streams.observe_delivery(transport_of(transport_.name()), frame->seq, frame->time_ms, shard_);
}

void StreamSession::on_batch_end() { flush(); }

void StreamSession::flush() {
  if (!writing_ && !queue_.empty()) write_front();
}

// ---- send queue ----

// Whether the queue holds more than 1/divisor of its bound (in frames or bytes): replay pacing.
bool StreamSession::queue_above(std::size_t divisor) const {
  return queue_.size() > context_.limits.queue_max_frames / divisor ||
         queue_bytes_ > context_.limits.queue_max_bytes / divisor;
}

void StreamSession::send_control(const std::string& json, const std::string& id) {
  if ((closing_ && !close_after_flush_) || last_queued_) return;
  enqueue(Outgoing::control(transport_.control_bytes(json, id)), /*bounded=*/false);
}

void StreamSession::send_bounded(const std::string& json) {
  // Nothing new once closing: a refusal that is being flushed keeps its last frame last.
  if (closing_) return;
  enqueue(Outgoing::control(transport_.control_bytes(json, {})), /*bounded=*/true);
}

void StreamSession::send_raw(std::string bytes) {
  if ((closing_ && !close_after_flush_) || last_queued_) return;
  enqueue(Outgoing::control(std::move(bytes)), /*bounded=*/false);
}

void StreamSession::send_last(std::string bytes) {
  if (last_queued_) return;
  last_queued_ = true;
  closing_ = true;
  enqueue(Outgoing::control(std::move(bytes)), /*bounded=*/false);
}

void StreamSession::enqueue(Outgoing item, bool bounded, bool write_now) {
  const std::size_t size = item.payload().size();
  if (bounded && (queue_.size() + 1 > context_.limits.queue_max_frames ||
                  queue_bytes_ + size > context_.limits.queue_max_bytes)) {
    // Promise 4: a client that cannot keep up is cut loose rather than slowing anyone else down.
    context_.stats.evicted_slow.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("evicting slow {} consumer on shard {}: {} frames / {} bytes queued", transport_.name(), shard_,
                 queue_.size(), queue_bytes_);
    closing_ = true;
    // Keep the items being written (their bytes are in flight), drop the rest.
    while (queue_.size() > items_in_flight_) {
      queue_bytes_ -= queue_.back().payload().size();
      queue_.pop_back();
    }
    detach_later();
    transport_.close(StreamClose::SlowConsumer);
    return;
  }
  queue_bytes_ += size;
  queue_.push_back(std::move(item));
  if (write_now && !writing_) write_front();
}

namespace {
// A gathered write stops at this size: enough to drain a burst in few syscalls, small enough that one
// slow socket does not pin a large buffer.
constexpr std::size_t kMaxGatheredBytes = 64 * 1024;
}  // namespace

void StreamSession::write_front() {
  writing_ = true;
  write_set_.clear();
  std::size_t bytes = 0;
  const std::size_t limit = std::max<std::size_t>(1, transport_.max_frames_per_write());
  for (const Outgoing& item : queue_) {
    const std::string& payload = item.payload();
    if (!write_set_.empty() && (write_set_.size() == limit || bytes + payload.size() > kMaxGatheredBytes)) break;
    write_set_.emplace_back(payload.data(), payload.size());
    bytes += payload.size();
  }
  items_in_flight_ = write_set_.size();
  transport_.write(write_set_, WriteDone(shared_from_this()));
}

void StreamSession::on_write_complete(const boost::system::error_code& error) {
  writing_ = false;
  std::size_t written_bytes = 0;
  const std::size_t written_items = std::min(items_in_flight_, queue_.size());
  for (std::size_t i = 0; i < written_items; ++i) {
    written_bytes += queue_.front().payload().size();
    queue_.pop_front();
  }
  queue_bytes_ -= written_bytes;
  items_in_flight_ = 0;
  if (!error) {
    context_.stats.frames_sent.fetch_add(written_items, std::memory_order_relaxed);
    context_.stats.bytes_sent.fetch_add(written_bytes, std::memory_order_relaxed);
    const auto transport = static_cast<std::size_t>(transport_of(transport_.name()));
    context_.stats.streams.frames_sent[transport].fetch_add(written_items, std::memory_order_relaxed);
    context_.stats.streams.bytes_sent[transport].fetch_add(written_bytes, std::memory_order_relaxed);
  }
  if (error) {
    queue_.clear();
    queue_bytes_ = 0;
    closing_ = true;
    detach_later();
    return;
  }
  if (!queue_.empty()) {
    write_front();
  } else if (last_queued_) {
    transport_.close(StreamClose::LastWritten);
    return;
  } else if (close_after_flush_) {
    transport_.close(StreamClose::Flushed);
    return;
  } else if (queue_.release_if_young()) {
    std::vector<boost::asio::const_buffer>().swap(write_set_);  // no write is in flight
  }
  if (!catch_ups_.empty() && catch_ups_.front().waiting_for_drain && !queue_above(4)) {
    catch_ups_.front().waiting_for_drain = false;
    request_page();
  }
}

void StreamSession::release_idle_memory() {
  if (writing_) return;
  queue_.release();
  catch_ups_.release();
  if (write_set_.capacity() > 0) std::vector<boost::asio::const_buffer>().swap(write_set_);
}

void StreamSession::close_after_flush() {
  close_after_flush_ = true;
  closing_ = true;
  if (!writing_ && queue_.empty()) transport_.close(StreamClose::Flushed);
}

void WriteDone::operator()(const boost::system::error_code& error) const { session_->on_write_complete(error); }

}  // namespace kabar
