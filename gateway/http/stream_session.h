#pragma once
// StreamSession: what every streaming door (/ws, /app/{key}, /sse) shares: channel subscriptions, the
// catch-up (replay) state machine that joins history to the live stream without a gap or a duplicate
// (stream_catch_up.cpp), and the bounded send queue.
//
// It is composed with a transport, not derived from it: it holds the StreamTransport (stream_transport.h)
// its door session made, asks it how a frame and a control message look on the wire, hands it the queued
// bytes to write, and tells it when to close. The door session derives from this class and holds the
// transport; what is left virtual here is the door's, not the wire's: its lifecycle (heartbeat, shutdown)
// and three narrow policy hooks (wants, reset_payload, close_replay_failed), each documented below.
//
// The seam, and why it is exact: a channel is subscribed in the hub *before* its history is read. While
// it catches up, live frames for it are dropped (remembering the highest seq dropped). Pages are read
// until one comes back short *and* nothing newer than the cursor was dropped meanwhile; only then does
// the channel go live, delivering frames with seq > the cursor. Every event is committed before the hub
// sees it, and hub frames and page results are handled on the same thread, so any event is either in a
// page or arrives live after the switch; the seq filter removes any overlap.
//
// Lifetime: the door session is made with make_shared; the hub and the shard registry hold raw pointers,
// which detach() (called when the transport's connection is gone, and by the destructor) removes; replay
// pages and writes hold a shared_ptr (shared_from_this, WriteDone) while they are pending.
//
// Everything here runs on the session's shard thread.
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "authz/claims.h"
#include "gateway/http/lazy_fifo.h"
#include "gateway/http/server_context.h"
#include "gateway/http/start_point.h"
#include "gateway/http/stream_transport.h"
#include "core/position.h"

namespace kabar {

class StreamSession : public Subscriber, public std::enable_shared_from_this<StreamSession> {
 public:
  // `transport`: the door session's own member, bound here before it is constructed; the session uses it
  // only once the door runs (no bytes are queued from a constructor).
  StreamSession(ServerContext& context, std::size_t shard, StreamTransport& transport);
  ~StreamSession() override;

  void on_frame(const FramePtr& frame) final;
  // The hub handed out what the shard had waiting: write what it queued (one gathered write).
  void on_batch_end() final;
  virtual void heartbeat() = 0;
  // Graceful stop: tell the client to reconnect, flush, close.
  virtual void shutdown() = 0;

  // Who is on this connection (stream_session_auth.cpp, docs/authorization.md); anonymous by default.
  void set_claims(authz::Claims claims) { claims_ = std::move(claims); }
  const authz::Claims& claims() const { return claims_; }

  // The transport's own bytes (HTTP head, SSE comments, a WebSocket 101, pong or ping): written as they
  // are, not counted against the queue bound.
  void send_raw(std::string bytes);
  // The last bytes of the connection (a WebSocket close frame, a refused upgrade's answer): queued even
  // while closing, after what is in flight; the transport is told (StreamClose::LastWritten) once they
  // are out. Nothing is queued after them.
  void send_last(std::string bytes);

 protected:
  // --- the door's policy (not the transport's) ---
  // Whether this session delivers `frame` at all (the Pusher door: toOthers, the frame's app). Asked
  // before a frame is queued, live or replayed, so an unwanted frame never takes queue space.
  virtual bool wants(const Frame&) const { return true; }
  // A reset (docs/protocol.md) in this door's words; by default the reset object as a control message
  // (`id`: the SSE id it may carry). The Pusher door sends it as a kabar:reset event.
  virtual std::string reset_payload(const std::string& channel, const char* reason, const std::string& position,
                                    const std::string& id) const;
  // Reading the history of `channel` failed (an SQLite error): the session cannot keep its promise, so
  // it ends with a clear error. Default: an error frame (code replay_failed), then close after flush.
  virtual void close_replay_failed(const std::string& channel);

  // --- for subclasses ---
  // Subscribes channels and starts their catch-up from `start`. `id_on_reset`: reset frames may carry
  // an SSE id (only true when the reset covers every channel of the stream). `head`: the store head
  // the caller already told the client (read_head() in this same handler, e.g. /ws `subscribed`), so
  // the subscription starts exactly there; without it the head is read here.
  void subscribe(const std::vector<std::string>& channels, const StartPoint& start, bool id_on_reset,
                 std::optional<std::int64_t> head = std::nullopt);
  void unsubscribe(const std::string& channel);
  // Topic subscriptions (stream_topics.cpp, docs/protocol.md "Topic subscriptions"): the channels whose
  // events came on topics matching each filter (MQTT semantics), found in the store on a replay thread,
  // subscribed with `channels` in one catch-up from `start` (so an SSE stream stays in seq order), and
  // kept current: a channel whose first matching event comes later is added at that event. Of a channel
  // found by a filter only the events whose topic matches one of the session's filters are delivered.
  // The caller has authorized every filter (Read on the filter as a topic); each channel found is checked
  // too. Without filters this is subscribe().
  void subscribe_with_topics(const std::vector<std::string>& channels, const std::vector<std::string>& filters,
                             const StartPoint& start, bool id_on_reset, std::optional<std::int64_t> head = std::nullopt);
  // Ends a topic subscription, and the channels only it (or other ended filters) brought. False if unknown.
  bool unsubscribe_topic(const std::string& filter);
  bool is_subscribed(const std::string& channel) const {
    auto it = channels_.find(channel);
    return it != channels_.end() && it->second.by_name;
  }
  bool is_topic_subscribed(const std::string& filter) const;
  // What the client asked for: channels by name and topic filters (not the channels filters found).
  std::size_t subscription_count() const;
  void send_control(const std::string& json, const std::string& id = {});
  // A control message that counts against the queue bound like an event frame: overflow closes the
  // session as a slow consumer. For what other clients cause (relayed whispers, presence member events)
  // and for replies to the client's own messages (/ws pong, error, subscribed...; resets), which would
  // otherwise let a stalled reader in a busy room, or a client flooding requests without reading, grow
  // the queue without limit. Only a few frames per connection bypass it (welcome, shutdown, a final
  // refusal, the SSE head): send_control.
  void send_bounded(const std::string& json);
  bool send_queue_empty() const { return queue_.empty(); }
  // Gives back the memory an idle session does not need (the queue, the catch-up list, the write set
  // of the last burst); sessions call it at their heartbeat.
  void release_idle_memory();
  std::size_t send_queue_bytes() const { return queue_bytes_; }
  // The store head a subscription starts from (and the test hook after reading it).
  std::int64_t read_head();
  // Once everything queued is written, the transport closes (StreamClose::Flushed).
  void close_after_flush();
  // Leaves the hub and the shard registry; idempotent. Call when the transport closes.
  void detach();
  void detach_later();
  bool closing() const { return closing_; }
  void register_session();
  // Ends the subscriptions the current claims do not allow, each with {"type":"unsubscribed",
  // "channel":..,"reason":`reason`}; returns how many ended.
  std::size_t end_unauthorized_subscriptions(const char* reason);
  // Called by heartbeat(): once the token has expired the connection goes on as anonymous and loses
  // what only the token allowed (reason "token_expired"). Returns how many subscriptions ended.
  std::size_t expire_token(std::int64_t now_s);

  ServerContext& context_;
  const std::size_t shard_;
  authz::Claims claims_;

 private:
  struct ChannelState {
    bool catching_up = true;
    std::int64_t delivered_through = 0;  // every event of the channel up to here was sent or skipped
    bool by_name = true;                 // false: found by a topic filter, delivers matching topics only
    std::vector<std::string> topics;     // found by a filter: the topics of it seen (unsubscribe_topic)
  };
  // Topic filters whose channels are being looked up in the store, and what is subscribed with them.
  struct Resolution {
    std::vector<std::string> filters;
    std::vector<std::string> channels;  // by name
    StartPoint start;
    std::int64_t head = 0;
    bool id_on_reset = false;
    std::vector<std::pair<std::string, std::string>> seen;  // (channel, topic) of frames meanwhile
  };
  struct CatchUp {
    std::vector<std::string> channels;
    std::unordered_map<std::string, std::int64_t> floors;  // per-channel lower bound (after a reset)
    std::int64_t cursor = 0;
    std::int64_t max_dropped = 0;  // highest live seq dropped for these channels while catching up
    // "earliest": the channels that have had no event yet. The pruned check is skipped for them (whatever
    // is retained is what was asked for); once a channel's first event is out, events after the cursor
    // removed while the replay runs are a gap like any other: reset.
    std::vector<std::string> unanchored;
    // "latest": the channels whose start the first page has not resolved yet (ChannelCursor::latest),
    // against `latest_through`, the head the subscription was made at. The page's ResolvedStart becomes
    // the channel's floor: its newest event at or below that head comes first, then everything after.
    std::vector<std::string> unresolved_latest;
    std::int64_t latest_through = 0;
    bool reset_with_id = false;    // the channels are all of an SSE stream: a reset may carry an id
    // A position of another node: the id of its event, to be found in this store (on a replay thread)
    // before the first page; `cursor` meanwhile holds the head the subscription was made at, where the
    // channels go on (after a reset) if this store does not have it.
    std::string anchor;
    int anchor_attempts = 0;
    bool started = false;
    std::chrono::steady_clock::time_point started_at{};  // kabar_replay_duration_seconds
    bool waiting_for_drain = false;
  };
  struct Outgoing {
    FramePtr frame;                      // a shared event frame, and its bytes for this transport
    const std::string* bytes = nullptr;  // (asked once, at enqueue: they live in *frame), or
    std::string owned;                   // a control message

    static Outgoing event(FramePtr frame, const std::string& bytes) { return {std::move(frame), &bytes, {}}; }
    static Outgoing control(std::string bytes) { return {nullptr, nullptr, std::move(bytes)}; }
    const std::string& payload() const { return bytes ? *bytes : owned; }
  };
  friend class WriteDone;  // calls on_write_complete

  void on_write_complete(const boost::system::error_code& error);
  // `write_now`: start writing unless a write is in flight. The hub's frames and a replay page's events
  // are queued with false and written together at the end (on_batch_end, the end of on_page).
  void enqueue(Outgoing item, bool bounded, bool write_now = true);
  void flush();
  void write_front();
  void send_reset(const std::string& channel, const char* reason, std::int64_t head, bool with_id);
  void go_live(const std::string& channel, std::int64_t through);
  void start_next_catch_up();
  void request_page();
  void resolve_anchor();
  void on_anchor(std::optional<std::int64_t> seq, bool failed);
  void on_page(ReplayPage page);
  void fail_replay(const std::string& error);
  void handle_pruned(CatchUp& catch_up, const ReplayPage& page);
  void apply_resolved_starts(CatchUp& catch_up, const ReplayPage& page);
  void finish_catch_up();
  bool queue_above(std::size_t divisor) const;
  // stream_topics.cpp
  void on_topics_resolved(std::uint64_t resolution, std::vector<ChannelTopic> pairs, bool failed);
  void on_unknown_channel_frame(const FramePtr& frame);
  bool topic_wanted(const std::string& topic) const;
  void note_topic(ChannelState& state, const std::string& topic) const;

  StreamTransport& transport_;
  std::unordered_map<std::string, ChannelState> channels_;
  std::vector<std::string> filters_;  // topic subscriptions, resolved or not (in the hub)
  std::unordered_map<std::uint64_t, Resolution> resolutions_;  // by number, in the order asked
  std::uint64_t next_resolution_ = 1;
  LazyFifo<CatchUp> catch_ups_;  // front is the active one
  LazyFifo<Outgoing> queue_;
  std::size_t queue_bytes_ = 0;
  bool writing_ = false;
  std::size_t items_in_flight_ = 0;                   // the first items of queue_, being written
  std::vector<boost::asio::const_buffer> write_set_;  // reused: the buffers of the write in flight
  bool closing_ = false;
  bool close_after_flush_ = false;
  bool last_queued_ = false;  // send_last() was called: nothing more is queued
  bool registered_ = false;
  bool detached_ = false;
};

}  // namespace kabar
