#pragma once
// Reads what a WebSocket client sends (RFC 6455 5) and turns it into messages, pings, pongs and a close,
// or into the one protocol error that ends the connection. It never touches a socket: the transport
// hands it whatever bytes a read returned and acts on the callbacks.
//
// Idle connections dominate a realtime gateway, so the reader is built around them: a frame that arrives
// whole in one read is unmasked in place and handed over without a copy, and only a frame cut by a read
// or a fragmented message is copied into the reader's own buffer, which is freed (not kept for reuse)
// when that message completes. Between messages a reader is sizeof(MessageReader) bytes and no heap.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gateway/websocket/utf8.h"

namespace kabar::websocket {

// What the reader found; the views point into the buffer given to feed() or into the reader's own
// message buffer, valid only during the callback. Callbacks run inside feed(): they may not destroy the
// reader or call feed() again (the transport keeps its session alive across a read anyway).
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  virtual void on_message(bool text, std::string_view payload) = 0;  // a whole (reassembled) message
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  // The peer's close frame; code 1005 when it carried none. After this the reader consumes nothing more.
  virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
  // A protocol violation: the transport sends a close with `code` (1002, 1007 or 1009) and `reason`
  // and closes. After this the reader consumes nothing more.
  virtual void on_error(std::uint16_t code, std::string_view reason) = 0;
};

// Reads client->server frames incrementally (bytes may arrive split anywhere, even inside a header) and
// enforces RFC 6455 as Autobahn tests it: masking, RSV bits, opcodes, control frame rules, fragmentation
// order, minimal 16/64-bit lengths, UTF-8 of text (checked as each piece arrives, across fragments),
// close payloads, and max_message_bytes for the sum of a message's fragments, checked from each frame
// header before its payload is buffered.
//
// sizeof(MessageReader) is 64 bytes with libstdc++ on 64-bit (a 32-byte std::string, the 14-byte header,
// two 32-bit counters, four one-byte fields); message_reader.cpp asserts it.
class MessageReader {
 public:
  // Limits above 4 GiB - 1 are treated as 4 GiB - 1 (the counters are 32-bit to keep the reader small).
  explicit MessageReader(std::size_t max_message_bytes);
  // Consumes `bytes` (unmasking in place, hence mutable), calling the handler for everything complete.
  // Returns false once on_close or on_error was called (stop reading), true otherwise.
  bool feed(std::span<char> bytes, MessageHandler& handler);
  bool idle() const;                 // no partial frame or message pending
  std::size_t memory_bytes() const;  // heap bytes held now (capacity of its buffers)

 private:
  static constexpr std::size_t kMaxFrameHeader = 14;  // 2 + 8-byte length + 4-byte mask

  bool read_header(const char* data, std::size_t size, std::size_t& pos, MessageHandler& handler);
  bool check_first_byte(MessageHandler& handler);
  bool check_second_byte(MessageHandler& handler);
  bool start_payload(MessageHandler& handler);
  bool read_payload(char* data, std::size_t size, std::size_t& pos, MessageHandler& handler);
  bool finish_frame(std::string_view payload, bool buffered, MessageHandler& handler);
  bool finish_close(std::string_view payload, MessageHandler& handler);
  bool fail(std::uint16_t code, std::string_view reason, MessageHandler& handler);
  void release();

  std::size_t header_size() const;
  std::uint64_t payload_size() const;
  std::uint8_t opcode() const { return static_cast<std::uint8_t>(header_[0]) & 0x0F; }
  bool fin() const { return (static_cast<std::uint8_t>(header_[0]) & 0x80) != 0; }

  // The open message's payload so far, then (only while one is cut by a read) the current frame's.
  std::string buffer_;
  std::uint32_t max_message_bytes_;
  std::uint32_t frame_remaining_ = 0;  // payload bytes of the current frame not yet read
  // The current frame's header as received; kept whole until the frame ends (it holds the mask key).
  char header_[kMaxFrameHeader] = {};
  std::uint8_t header_received_ = 0;  // 0: between frames
  std::uint8_t message_opcode_ = 0;   // Text or Binary while a message is open, else 0
  bool done_ = false;                 // on_close or on_error was called
  Utf8Validator utf8_;                // the open text message's validation state
};

}  // namespace kabar::websocket
