// The Laravel-facing subscribers: Pusher protocol 7 (kabar's /app/{key}, what pusher-js speaks) and
// Socket.IO 2 over engine.io 3 (laravel-echo-server, what laravel-echo's socket.io connector speaks).
// Both only do what a browser subscribed to one public channel does, and count the events.
#include "connections.h"
#include "stats.h"
#include "ws_connection.h"

namespace kabar::bench {

namespace {

// The value of the first "event" member of a Pusher frame ({"event":"pusher:ping",...}); empty if none.
// A substring scan like scan_event(): kabar writes "event" first, so this stops near the frame's start.
std::string_view event_name(std::string_view frame) {
  constexpr std::string_view key = "\"event\"";
  auto k = frame.find(key);
  if (k == std::string_view::npos) return {};
  auto v = frame.find_first_not_of(" \t:", k + key.size());
  if (v == std::string_view::npos || frame[v] != '"') return {};
  auto end = frame.find('"', v + 1);
  return end == std::string_view::npos ? std::string_view{} : frame.substr(v + 1, end - v - 1);
}

// Pusher protocol 7: wait for pusher:connection_established, subscribe to the public channel (empty
// auth), ready on pusher_internal:subscription_succeeded; every other event carrying this run's id is a
// delivery.
class PusherWs final : public TextWs {
 public:
  explicit PusherWs(Worker& worker)
      : TextWs(worker, "/app/" + worker.ctx().opt.app_key + "?protocol=7&client=js&version=8.4.0&flash=false", "") {}

  // pusher-js pings after activity_timeout (30 s by default) of silence; every 20 s stays inside it.
  void tick() override {
    if (ready() && !dead()) send_frame(text, R"({"event":"pusher:ping","data":{}})");
  }

 private:
  void on_open() override {}  // the server speaks first

  void on_message(std::string_view frame) override {
    const auto name = event_name(frame);
    if (!name.starts_with("pusher")) return deliver(frame);  // pusher: and pusher_internal:
    if (name == "pusher:connection_established")
      return send_frame(text, R"({"event":"pusher:subscribe","data":{"auth":"","channel":")" +
                                  worker_.ctx().opt.channel + "\"}}");
    if (name == "pusher_internal:subscription_succeeded") return mark_ready();
    if (name == "pusher:ping") return send_frame(text, R"({"event":"pusher:pong","data":{}})");
    if (name == "pusher:error" || name == "pusher:subscription_error") return fail("pusher", frame.substr(0, 300));
    // pusher:pong, pusher:cache_miss: nothing to do
  }
};

// Socket.IO 2 on engine.io 3, WebSocket transport from the start (no polling), as laravel-echo does with
// `transports: ['websocket']`. Engine.io packets: 0 open, 1 close, 2 ping, 3 pong, 4 message; a message
// holds a Socket.IO packet: 0 connect, 1 disconnect, 2 event, 4 error. In engine.io 3 the CLIENT pings
// (every pingInterval, 25 s) and the server closes a client that stays silent for pingInterval +
// pingTimeout.
class SocketIoWs final : public TextWs {
 public:
  explicit SocketIoWs(Worker& worker) : TextWs(worker, "/socket.io/?EIO=3&transport=websocket", "") {}

  void tick() override {
    if (ready() && !dead()) send_frame(text, "2");
  }

 private:
  void on_open() override {}  // the server sends `0{"sid":…}` then `40`

  void on_message(std::string_view frame) override {
    if (frame.empty()) return;
    switch (frame[0]) {
      case '4': return on_socketio(frame.substr(1));
      case '3': return mark_ready();  // the pong to the ping sent after subscribing, see below
      case '2': return send_frame(text, "3" + std::string(frame.substr(1)));
      case '1': return fail("socket.io", "engine.io close");
      default: return;  // '0' open (sid, pingInterval), '6' noop
    }
  }

  void on_socketio(std::string_view packet) {
    if (packet.empty()) return;
    switch (packet[0]) {
      case '2': return deliver(packet);  // 2["dokumen.updated","dokumen.1",{…data…}]
      case '0': return subscribe();
      case '1': return fail("socket.io", "disconnected by the server");
      case '4': return fail("socket.io", packet.substr(0, 300));
      default: return;
    }
  }

  // laravel-echo-server answers nothing to a public `subscribe`. A ping written after it is answered
  // once the server has read both, and it joins the room while handling the first (Socket.IO dispatches
  // it on the next tick, before any other I/O, so before any later publish): the pong marks it ready.
  void subscribe() {
    send_frame(text, R"(42["subscribe",{"channel":")" + worker_.ctx().opt.channel + R"(","auth":{"headers":{}}}])");
    send_frame(text, "2");
  }
};

}  // namespace

std::shared_ptr<Connection> make_pusher_connection(Worker& worker) { return std::make_shared<PusherWs>(worker); }
std::shared_ptr<Connection> make_socketio_connection(Worker& worker) { return std::make_shared<SocketIoWs>(worker); }

}  // namespace kabar::bench
