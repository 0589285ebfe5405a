// The reader is a small state machine over one frame at a time: header (2 to 14 bytes, kept in a fixed
// array, never on the heap), then payload. The first two header bytes are checked the moment they
// arrive, so a connection that breaks the protocol is refused before it can send more; the length is
// checked against the limit before a single payload byte is stored.
//
// Where payload bytes go: a frame that is a whole message (or a control frame) and arrives whole in one
// read is unmasked in the caller's buffer and delivered from there. Everything else is appended to
// buffer_: the fragments of an open message, then, after them, a frame cut by a read. A control frame
// between fragments is delivered from the tail of buffer_ and trimmed off again, so one std::string
// serves every case.
#include "gateway/websocket/message_reader.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "gateway/websocket/frame_codec.h"

namespace kabar::websocket {
namespace {

constexpr std::uint8_t kReservedBits = 0x70;  // RSV1-3: only meaningful with an extension, and we offer none
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::uint8_t kLength7 = 0x7F;
constexpr std::uint8_t kLength16 = 126;  // the 7-bit length field's escape for a 16-bit length
constexpr std::uint8_t kLength64 = 127;  // ... and for a 64-bit one
constexpr std::size_t kMaskKeyBytes = 4;

constexpr std::uint8_t op(Opcode opcode) { return static_cast<std::uint8_t>(opcode); }
bool is_control(std::uint8_t opcode) { return opcode >= 0x8; }
std::uint8_t byte(char c) { return static_cast<std::uint8_t>(c); }

}  // namespace

// What the per-connection budget (under 3 KiB per idle connection) counts on, with libstdc++ on 64-bit.
static_assert(sizeof(MessageReader) <= 64, "MessageReader is part of every connection: keep it small");

MessageReader::MessageReader(std::size_t max_message_bytes)
    : max_message_bytes_(static_cast<std::uint32_t>(
          std::min<std::size_t>(max_message_bytes, std::numeric_limits<std::uint32_t>::max()))) {}

bool MessageReader::feed(std::span<char> bytes, MessageHandler& handler) {
  char* data = bytes.data();
  const std::size_t size = bytes.size();
  std::size_t pos = 0;
  while (!done_) {
    const bool in_header = header_received_ < 2 || header_received_ < header_size();
    if (in_header) {
      if (pos == size || !read_header(data, size, pos, handler)) break;
      if (header_received_ < 2 || header_received_ < header_size()) break;  // the rest comes in a later read
    }
    // Also reached with nothing left to read: a frame with an empty payload is complete now.
    if (!read_payload(data, size, pos, handler)) break;
  }
  return !done_;
}

bool MessageReader::idle() const { return header_received_ == 0 && message_opcode_ == 0; }

std::size_t MessageReader::memory_bytes() const {
  // A short string lives inside the std::string object (no heap); only a buffer elsewhere counts.
  const char* object = reinterpret_cast<const char*>(&buffer_);
  const char* object_end =
      object + sizeof(buffer_);  // NOLINT(bugprone-sizeof-container): the object, not its text
  const char* data = buffer_.data();
  const bool inside = std::less_equal<>()(object, data) && std::less<>()(data, object_end);
  return inside ? 0 : buffer_.capacity();
}

bool MessageReader::read_header(const char* data, std::size_t size, std::size_t& pos,
                                MessageHandler& handler) {
  if (header_received_ == 0) {
    header_[header_received_++] = data[pos++];
    if (!check_first_byte(handler)) return false;
    if (pos == size) return true;
  }
  if (header_received_ == 1) {
    header_[header_received_++] = data[pos++];
    if (!check_second_byte(handler)) return false;
  }
  const std::size_t take = std::min(header_size() - header_received_, size - pos);
  std::copy_n(data + pos, take, header_ + header_received_);
  header_received_ = static_cast<std::uint8_t>(header_received_ + take);
  pos += take;
  return header_received_ < header_size() || start_payload(handler);
}

bool MessageReader::check_first_byte(MessageHandler& handler) {
  if (byte(header_[0]) & kReservedBits) {
    return fail(close_code::protocol_error, "reserved bits set without a negotiated extension", handler);
  }
  switch (static_cast<Opcode>(opcode())) {
    case Opcode::Continuation:
      if (message_opcode_ == 0) {
        return fail(close_code::protocol_error, "continuation frame without a message", handler);
      }
      return true;
    case Opcode::Text:
    case Opcode::Binary:
      if (message_opcode_ != 0) {
        return fail(close_code::protocol_error, "new message before the fragmented one ended", handler);
      }
      return true;
    case Opcode::Close:
    case Opcode::Ping:
    case Opcode::Pong:
      if (!fin()) return fail(close_code::protocol_error, "fragmented control frame", handler);
      return true;
  }
  return fail(close_code::protocol_error, "unknown opcode", handler);
}

bool MessageReader::check_second_byte(MessageHandler& handler) {
  // RFC 6455 5.1: a server must close the connection on an unmasked client frame.
  if (!(byte(header_[1]) & kMaskBit)) {
    return fail(close_code::protocol_error, "client frame not masked", handler);
  }
  if (is_control(opcode()) && (byte(header_[1]) & kLength7) > kMaxControlPayload) {
    return fail(close_code::protocol_error, "control frame payload over 125 bytes", handler);
  }
  return true;
}

bool MessageReader::start_payload(MessageHandler& handler) {
  const std::uint8_t length7 = byte(header_[1]) & kLength7;
  const std::uint64_t size = payload_size();
  if (length7 == kLength64 && (size >> 63) != 0) {
    return fail(close_code::protocol_error, "64-bit length with the top bit set", handler);
  }
  // RFC 6455 5.2 requires the shortest form; Beast refuses the others too, and so did kabar before.
  if ((length7 == kLength16 && size < kLength16) || (length7 == kLength64 && size <= 0xFFFF)) {
    return fail(close_code::protocol_error, "payload length not in its shortest form", handler);
  }
  if (!is_control(opcode())) {
    // Only message bytes are in buffer_ here: a control frame cut by a read was trimmed off when it ended.
    const std::uint64_t so_far = opcode() == op(Opcode::Continuation) ? buffer_.size() : 0;
    if (size > max_message_bytes_ - so_far) {
      return fail(close_code::too_big, "message over the size limit", handler);
    }
    if (opcode() != op(Opcode::Continuation)) message_opcode_ = opcode();
  }
  // Fits: a data frame is at most max_message_bytes_, a control frame at most 125 bytes.
  frame_remaining_ = static_cast<std::uint32_t>(size);
  return true;
}

bool MessageReader::read_payload(char* data, std::size_t size, std::size_t& pos, MessageHandler& handler) {
  const std::size_t available = size - pos;
  const std::span<const char, kMaskKeyBytes> key(header_ + header_size() - kMaskKeyBytes, kMaskKeyBytes);
  const std::size_t frame_size = static_cast<std::size_t>(payload_size());
  const std::size_t received = frame_size - frame_remaining_;
  const bool text = !is_control(opcode()) && message_opcode_ == op(Opcode::Text);
  const bool whole_message = is_control(opcode()) || (fin() && opcode() != op(Opcode::Continuation));

  if (received == 0 && available >= frame_remaining_ && whole_message) {
    const std::span<char> payload(data + pos, frame_remaining_);
    pos += frame_remaining_;
    apply_mask(payload, key, 0);
    if (text && !utf8_.feed({payload.data(), payload.size()})) {
      return fail(close_code::invalid_payload, "text message is not valid UTF-8", handler);
    }
    return finish_frame({payload.data(), payload.size()}, false, handler);
  }

  const std::size_t take = std::min<std::size_t>(frame_remaining_, available);
  const std::span<char> piece(data + pos, take);
  pos += take;
  apply_mask(piece, key, received);
  // Checked piece by piece, so invalid text fails on the read that brings it, not when the message ends.
  if (text && !utf8_.feed({piece.data(), piece.size()})) {
    return fail(close_code::invalid_payload, "text message is not valid UTF-8", handler);
  }
  // Grows geometrically with what arrives rather than reserving the announced length, which would let
  // 14 bytes from a client pin max_message_bytes of memory.
  buffer_.append(piece.data(), piece.size());
  frame_remaining_ = static_cast<std::uint32_t>(frame_remaining_ - take);
  if (frame_remaining_ > 0) return false;  // the rest comes in a later read
  const std::string_view buffered(buffer_);
  return finish_frame(is_control(opcode()) ? buffered.substr(buffered.size() - frame_size) : buffered, true,
                      handler);
}

bool MessageReader::finish_frame(std::string_view payload, bool buffered, MessageHandler& handler) {
  const std::uint8_t frame_opcode = opcode();
  header_received_ = 0;
  switch (static_cast<Opcode>(frame_opcode)) {
    case Opcode::Ping:
      handler.on_ping(payload);
      break;
    case Opcode::Pong:
      handler.on_pong(payload);
      break;
    case Opcode::Close:
      return finish_close(payload, handler);
    default: {
      if (!fin()) return true;  // more fragments to come; what came so far stays in buffer_
      const bool text = message_opcode_ == op(Opcode::Text);
      if (text && !utf8_.complete()) {
        return fail(close_code::invalid_payload, "text message ends inside a UTF-8 sequence", handler);
      }
      message_opcode_ = 0;
      utf8_.reset();
      handler.on_message(text, payload);
      std::string().swap(buffer_);  // freed, not cleared: an idle connection holds no heap
      return true;
    }
  }
  // A control frame: its bytes, if buffered, follow the open message's; only the message's stay.
  if (buffered) buffer_.resize(buffer_.size() - payload.size());
  if (message_opcode_ == 0) std::string().swap(buffer_);
  return true;
}

bool MessageReader::finish_close(std::string_view payload, MessageHandler& handler) {
  if (payload.size() == 1) return fail(close_code::protocol_error, "close payload of 1 byte", handler);
  std::uint16_t code = close_code::no_status;
  std::string_view reason;
  if (payload.size() >= 2) {
    code = static_cast<std::uint16_t>(byte(payload[0]) << 8 | byte(payload[1]));
    if (!is_valid_close_code(code)) {
      return fail(close_code::protocol_error, "close code not allowed on the wire", handler);
    }
    reason = payload.substr(2);
    if (!is_valid_utf8(reason)) {
      return fail(close_code::invalid_payload, "close reason is not valid UTF-8", handler);
    }
  }
  done_ = true;
  handler.on_close(code, reason);
  release();
  return false;
}

bool MessageReader::fail(std::uint16_t code, std::string_view reason, MessageHandler& handler) {
  done_ = true;
  handler.on_error(code, reason);
  release();
  return false;
}

void MessageReader::release() {
  std::string().swap(buffer_);
  header_received_ = 0;
  frame_remaining_ = 0;
  message_opcode_ = 0;
  utf8_.reset();
}

std::size_t MessageReader::header_size() const {
  if (header_received_ < 2) return 2;
  const std::uint8_t length7 = byte(header_[1]) & kLength7;
  const std::size_t extended = length7 == kLength16 ? 2 : length7 == kLength64 ? 8 : 0;
  return 2 + extended + kMaskKeyBytes;  // every client frame is masked (check_second_byte)
}

std::uint64_t MessageReader::payload_size() const {
  const std::uint8_t length7 = byte(header_[1]) & kLength7;
  if (length7 < kLength16) return length7;
  const std::size_t bytes = length7 == kLength16 ? 2 : 8;
  std::uint64_t size = 0;
  for (std::size_t i = 0; i < bytes; ++i) size = size << 8 | byte(header_[2 + i]);
  return size;
}

}  // namespace kabar::websocket
