#include "connections.h"

#include <boost/asio/write.hpp>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "mqtt_codec.h"
#include "ws_connection.h"
#include "proc_stats.h"

namespace kabar::bench {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::size_t rx_initial = 4096;      // idle connections keep this much
constexpr std::size_t rx_max = 1 << 20;       // bigger than any frame of the benchmark
constexpr std::size_t head_max = 16 * 1024;   // HTTP response head
}  // namespace

// ---------------------------------------------------------------- Connection

Connection::Connection(Worker& worker) : worker_(worker), socket_(worker.io()) {}

void Connection::start() {
  socket_.async_connect(worker_.ctx().endpoint, [self = shared_from_this()](error_code ec) {
    if (ec) return self->fail("connect", ec.message());
    self->socket_.set_option(asio::ip::tcp::no_delay(true));
    self->send(self->request());
    self->rx_.resize(rx_initial);
    self->read();
  });
}

void Connection::abort() {
  error_code ignored;
  socket_.close(ignored);
}

void Connection::read() {
  if (rx_len_ == rx_.size()) {
    // Full: a busy connection gets a bigger buffer, so it keeps reading many frames per syscall.
    if (rx_.size() >= rx_max) return fail("read", "message larger than the receive buffer");
    rx_.resize(rx_.size() * 2);
  }
  socket_.async_read_some(asio::buffer(rx_.data() + rx_len_, rx_.size() - rx_len_),
                          [self = shared_from_this()](error_code ec, std::size_t n) {
                            if (ec) return self->fail("read", ec.message());
                            if (self->on_read(n)) self->read();
                          });
}

// Returns false when the connection is done (failed).
bool Connection::on_read(std::size_t n) {
  rx_len_ += n;
  if (!head_done_ && !take_head()) return !dead_;
  if (head_done_ && rx_len_ > 0) {
    std::size_t used = on_bytes(rx_.data(), rx_len_);
    if (dead_) return false;
    std::memmove(rx_.data(), rx_.data() + used, rx_len_ - used);
    rx_len_ -= used;
  }
  return true;
}

// Consumes the HTTP response head once it is complete; false when reading must stop (or wait).
bool Connection::take_head() {
  std::string_view seen(rx_.data(), rx_len_);
  auto end = seen.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (rx_len_ > head_max) fail("handshake", "response head too large");
    return false;
  }
  if (!on_head(seen.substr(0, end + 2))) {
    fail("handshake", seen.substr(0, seen.find("\r\n")));
    return false;
  }
  head_done_ = true;
  std::size_t used = end + 4;
  std::memmove(rx_.data(), rx_.data() + used, rx_len_ - used);
  rx_len_ -= used;
  return !dead_;
}

void Connection::send(std::string bytes) {
  tx_.push_back(std::move(bytes));
  if (tx_.size() == 1) write_next();
}

void Connection::write_next() {
  asio::async_write(socket_, asio::buffer(tx_.front()), [self = shared_from_this()](error_code ec, std::size_t) {
    if (ec) return self->fail("write", ec.message());
    self->tx_.pop_front();
    if (!self->tx_.empty()) self->write_next();
  });
}

void Connection::mark_ready() {
  if (ready_ || dead_) return;
  ready_ = true;
  worker_.settled(true);
}

void Connection::fail(std::string_view stage, std::string_view why) {
  if (dead_) return;
  dead_ = true;
  if (ready_) worker_.dropped_after_ready();
  else worker_.settled(false);
  Worker::note_error(std::string(stage) + ": " + std::string(why));
  abort();
}

void Connection::deliver(std::string_view text) {
  auto& rec = worker_.recorder();
  auto event = scan_event(text, worker_.ctx().id_prefix);
  if (!event) return rec.count_unknown();
  rec.record(*event, realtime_ns());
}

// ---------------------------------------------------------------- WebSocket (RFC 6455, client side)

namespace {

bool contains(std::string_view text, std::string_view what) { return text.find(what) != std::string_view::npos; }

// Case-insensitive search in a response head (header names and values vary in case).
bool head_has(std::string_view head, std::string_view lower_needle) {
  std::string lower(head);
  for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  return contains(lower, lower_needle);
}

}  // namespace

// kabar /ws: subscribe, wait for "subscribed", count "event" frames.
class KabarWs final : public TextWs {
 public:
  explicit KabarWs(Worker& worker) : TextWs(worker, "/ws", "") {}

 private:
  void on_open() override {
    send_frame(text, R"({"type":"subscribe","channel":")" + worker_.ctx().opt.channel + "\"}");
  }

  void on_message(std::string_view frame) override {
    if (has_type(frame, "event")) return deliver(frame);
    if (has_type(frame, "subscribed")) return mark_ready();
    if (has_type(frame, "error")) return fail("subscribe", frame.substr(0, 300));
  }
};

// MQTT 3.1.1 over WebSocket: CONNECT, SUBSCRIBE (QoS 0), then PUBLISH packets. WebSocket frames and MQTT
// packets are not aligned (a frame may hold several packets or part of one), so bytes go through a buffer.
class MqttWs final : public WsConnection {
 public:
  MqttWs(Worker& worker, std::string client_id) : WsConnection(worker, "/", "mqtt"), client_id_(std::move(client_id)) {}

  void tick() override {
    if (ready() && !dead()) send_frame(binary, mqtt::pingreq_packet());
  }

 private:
  void on_open() override { send_frame(binary, mqtt::connect_packet(client_id_, 60)); }

  void on_data(std::string_view payload, uint8_t, bool) override {
    if (pending_.empty()) {
      std::size_t used = parse_packets(payload);
      pending_.assign(payload.substr(used));
      return;
    }
    pending_.append(payload);
    pending_.erase(0, parse_packets(pending_));
  }

  std::size_t parse_packets(std::string_view bytes) {
    std::size_t pos = 0, used = 0;
    mqtt::Packet packet;
    while (!dead()) {
      auto r = mqtt::parse(bytes.substr(pos), packet, used);
      if (r == mqtt::ParseResult::incomplete) break;
      if (r == mqtt::ParseResult::malformed) {
        fail("mqtt", "malformed packet");
        return bytes.size();
      }
      on_packet(packet);
      pos += used;
    }
    return pos;
  }

  void on_packet(const mqtt::Packet& p) {
    switch (p.type) {
      case mqtt::publish: return deliver(mqtt::publish_payload(p));
      case mqtt::connack:
        if (p.body.size() < 2 || p.body[1] != 0) return fail("mqtt", "CONNACK refused");
        return send_frame(binary, mqtt::subscribe_packet(1, worker_.ctx().opt.topic, 0));
      case mqtt::suback:
        if (p.body.size() < 3 || uint8_t(p.body[2]) == 0x80) return fail("mqtt", "SUBACK refused");
        return mark_ready();
      default: return;  // PINGRESP
    }
  }

  std::string client_id_;
  std::string pending_;
};

// ---------------------------------------------------------------- kabar /sse

class KabarSse final : public Connection {
 public:
  explicit KabarSse(Worker& worker) : Connection(worker) {}

 private:
  std::string request() override {
    const auto& o = worker_.ctx().opt;
    return "GET /sse?channel=" + o.channel + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
           "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
  }

  // The stream is live once its head is sent: kabar subscribes the session before answering.
  bool on_head(std::string_view head) override {
    if (!status_is(head, "200")) return false;
    chunked_ = head_has(head, "transfer-encoding: chunked");
    mark_ready();
    return true;
  }

  std::size_t on_bytes(char* data, std::size_t n) override {
    std::string_view in(data, n);
    if (!chunked_) return take_lines(in);
    std::size_t used = dechunk(in);
    body_.erase(0, take_lines(body_));
    return used;
  }

  // Chunked transfer coding: appends chunk data to body_, returns the bytes of `in` consumed.
  std::size_t dechunk(std::string_view in) {
    std::size_t pos = 0;
    while (pos < in.size() && !dead()) {
      if (chunk_left_ > 0) {
        std::size_t take = std::min(chunk_left_, in.size() - pos);
        body_.append(in.substr(pos, take));
        pos += take;
        chunk_left_ -= take;
        crlf_due_ = chunk_left_ == 0;
        continue;
      }
      if (crlf_due_) {
        if (in.size() - pos < 2) break;
        pos += 2;
        crlf_due_ = false;
        continue;
      }
      auto eol = in.find("\r\n", pos);
      if (eol == std::string_view::npos) break;
      chunk_left_ = std::strtoul(std::string(in.substr(pos, eol - pos)).c_str(), nullptr, 16);
      pos = eol + 2;
      if (chunk_left_ == 0) fail("sse", "stream ended");
    }
    return pos;
  }

  // Handles every complete line; returns the bytes up to the end of the last one.
  std::size_t take_lines(std::string_view in) {
    std::size_t pos = 0;
    for (auto eol = in.find('\n'); eol != std::string_view::npos && !dead(); eol = in.find('\n', pos)) {
      auto line = in.substr(pos, eol - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.starts_with("data:")) on_data_line(line.substr(5));
      pos = eol + 1;
    }
    return pos;
  }

  void on_data_line(std::string_view frame) {
    if (has_type(frame, "event")) deliver(frame);
  }

  bool chunked_ = false;
  bool crlf_due_ = false;
  std::size_t chunk_left_ = 0;
  std::string body_;
};

std::shared_ptr<Connection> make_connection(Worker& worker, int worker_index, int serial) {
  switch (worker.ctx().opt.kind) {
    case Kind::kabar_ws: return std::make_shared<KabarWs>(worker);
    case Kind::kabar_sse: return std::make_shared<KabarSse>(worker);
    case Kind::mqtt_ws:
      return std::make_shared<MqttWs>(worker, "lg-" + std::to_string(getpid()) + "-" + std::to_string(worker_index) +
                                                  "-" + std::to_string(serial));
    case Kind::pusher: return make_pusher_connection(worker);
    case Kind::socketio: return make_socketio_connection(worker);
  }
  return nullptr;
}

}  // namespace kabar::bench
