#pragma once
// The client side of RFC 6455 on a raw Connection: upgrade request, masked client frames, frames parsed
// in place from the receive buffer. Subclasses speak the protocol on top (kabar /ws, MQTT, Pusher,
// Socket.IO).
#include <algorithm>
#include <string>
#include <string_view>

#include "connections.h"

namespace kabar::bench {

// True if the status line of `head` has status `code` ("HTTP/1.1 101 ...").
inline bool status_is(std::string_view head, std::string_view code) {
  auto sp = head.find(' ');
  return sp != std::string_view::npos && head.substr(sp + 1, code.size()) == code;
}

class WsConnection : public Connection {
 public:
  WsConnection(Worker& worker, std::string target, std::string subprotocol)
      : Connection(worker), target_(std::move(target)), subprotocol_(std::move(subprotocol)) {}

 protected:
  enum Opcode : uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

  virtual void on_open() = 0;
  virtual void on_data(std::string_view payload, uint8_t opcode, bool fin) = 0;

  std::string request() override {
    const auto& o = worker_.ctx().opt;
    std::string r = "GET " + target_ + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!subprotocol_.empty()) r += "Sec-WebSocket-Protocol: " + subprotocol_ + "\r\n";
    return r + "\r\n";
  }

  bool on_head(std::string_view head) override {
    if (!status_is(head, "101")) return false;
    on_open();
    return true;
  }

  std::size_t on_bytes(char* data, std::size_t n) override {
    std::size_t pos = 0;
    while (!dead()) {
      std::size_t used = one_frame(data + pos, n - pos);
      if (used == 0) break;
      pos += used;
    }
    return pos;
  }

  // Client frames are masked (RFC 6455 5.3); the key need not be secret for a load generator.
  void send_frame(uint8_t opcode, std::string_view payload) {
    static constexpr unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::string f(1, char(0x80 | opcode));
    std::size_t len = payload.size();
    if (len < 126) {
      f.push_back(char(0x80 | len));
    } else if (len < 65536) {
      f.push_back(char(0x80 | 126));
      for (int s = 8; s >= 0; s -= 8) f.push_back(char((len >> s) & 0xff));
    } else {
      f.push_back(char(0x80 | 127));
      for (int s = 56; s >= 0; s -= 8) f.push_back(char((len >> s) & 0xff));
    }
    f.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < len; ++i) f.push_back(char(payload[i] ^ char(key[i % 4])));
    send(std::move(f));
  }

 private:
  // Handles the frame at `p`; returns its size, or 0 if it is not complete yet.
  std::size_t one_frame(char* p, std::size_t n) {
    if (n < 2) return 0;
    auto b0 = uint8_t(p[0]), b1 = uint8_t(p[1]);
    std::size_t head = 2, len = b1 & 0x7f;
    if (len >= 126) {
      std::size_t ext = len == 126 ? 2 : 8;
      if (n < head + ext) return 0;
      len = 0;
      for (std::size_t i = 0; i < ext; ++i) len = (len << 8) | uint8_t(p[head + i]);
      head += ext;
    }
    const bool masked = b1 & 0x80;
    if (masked) head += 4;
    if (n < head || n - head < len) return 0;
    char* payload = p + head;
    if (masked)  // servers must not mask, but unmasking costs nothing when they do
      for (std::size_t i = 0; i < len; ++i) payload[i] ^= p[head - 4 + i % 4];
    dispatch(b0 & 0x0f, (b0 & 0x80) != 0, std::string_view(payload, len));
    return head + len;
  }

  void dispatch(uint8_t opcode, bool fin, std::string_view payload) {
    switch (opcode) {
      case ping: return send_frame(pong, payload);
      case pong: return;
      case close: {
        int code = payload.size() >= 2 ? (uint8_t(payload[0]) << 8 | uint8_t(payload[1])) : 1005;
        return fail("closed by server", std::to_string(code) + " " + std::string(payload.substr(std::min<std::size_t>(2, payload.size()))));
      }
      default: return on_data(payload, opcode, fin);
    }
  }

  std::string target_, subprotocol_;
};

// A WebSocket carrying text messages (kabar /ws, Pusher, Socket.IO): fragments are joined into one message.
class TextWs : public WsConnection {
 public:
  using WsConnection::WsConnection;

 protected:
  virtual void on_message(std::string_view message) = 0;

 private:
  void on_data(std::string_view payload, uint8_t, bool fin) override {
    if (fin && partial_.empty()) return on_message(payload);
    partial_.append(payload);  // a fragmented message: rare, so the copy does not matter
    if (fin) {
      on_message(partial_);
      partial_.clear();
    }
  }

  std::string partial_;
};

}  // namespace kabar::bench
