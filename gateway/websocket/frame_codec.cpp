// Builds server frames (RFC 6455 5.2) and implements the masking both directions share.
#include "gateway/websocket/frame_codec.h"

#include <cstring>

namespace kabar::websocket {
namespace {

constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;  // after the 2-byte code

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::size_t encode_header(Opcode opcode, std::size_t payload_size, char (&out)[kMaxHeaderBytes]) {
  out[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode));
  // RFC 6455 5.2: the length uses the fewest bytes that hold it; clients (Beast, browsers) reject others.
  if (payload_size < 126) {
    out[1] = static_cast<char>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size);
    return 4;
  }
  out[1] = 127;
  const auto size = static_cast<std::uint64_t>(payload_size);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(size >> (56 - 8 * i));
  return 10;
}

std::string encode_frame(Opcode opcode, std::string_view payload) {
  char header[kMaxHeaderBytes];
  const std::size_t header_size = encode_header(opcode, payload.size(), header);
  // Exactly sized: one frame per event is kept alive while any subscriber still has it queued.
  std::string frame;
  frame.reserve(header_size + payload.size());
  frame.append(header, header_size).append(payload);
  return frame;
}

std::string encode_close(std::uint16_t code, std::string_view reason) {
  if (code == close_code::no_status) return encode_frame(Opcode::Close, {});
  if (reason.size() > kMaxCloseReason) {
    // Back up to the start of the sequence the limit falls in, so the peer's UTF-8 check still passes.
    std::size_t cut = kMaxCloseReason;
    while (cut > 0 && is_utf8_continuation(reason[cut])) --cut;
    reason = reason.substr(0, cut);
  }
  char payload[kMaxControlPayload];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code);
  std::memcpy(payload + 2, reason.data(), reason.size());
  return encode_frame(Opcode::Close, std::string_view(payload, 2 + reason.size()));
}

bool is_valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

void apply_mask(std::span<char> bytes, std::span<const char, 4> key, std::size_t offset) {
  unsigned char rotated[8];
  for (std::size_t i = 0; i < 8; ++i) rotated[i] = static_cast<unsigned char>(key[(offset + i) % 4]);
  char* data = bytes.data();
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  // Eight bytes at a time: whole messages are unmasked here, on every read of every connection.
  std::uint64_t word_mask;
  std::memcpy(&word_mask, rotated, 8);
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= word_mask;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ rotated[i % 4]);
}

}  // namespace kabar::websocket
