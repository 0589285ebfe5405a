#pragma once
// Server-side RFC 6455 framing: the bytes kabar writes. Frames go out whole (FIN, never fragmented) and
// unmasked, so a header is at most 10 bytes and an event's frame can be built once and shared by every
// subscriber's write queue (encode_frame), or its header written next to a payload the caller already
// holds (encode_header) when many queued frames are gathered into one write.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kabar::websocket {

enum class Opcode : std::uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA
};

// Close codes kabar uses (RFC 6455 7.4.1).
namespace close_code {
constexpr std::uint16_t normal = 1000, going_away = 1001, protocol_error = 1002, unsupported_data = 1003,
                        no_status = 1005 /*never sent*/, invalid_payload = 1007, policy = 1008,
                        too_big = 1009, internal_error = 1011, service_restart = 1012;
}  // namespace close_code

// Control frames (close, ping, pong) carry at most 125 payload bytes (RFC 6455 5.5).
constexpr std::size_t kMaxControlPayload = 125;

constexpr std::size_t kMaxHeaderBytes = 10;  // server frames are never masked
// Writes the header of one unfragmented (FIN) server frame into out; returns its length (2, 4 or 10).
std::size_t encode_header(Opcode opcode, std::size_t payload_size, char (&out)[kMaxHeaderBytes]);
// Header + payload in one string (what the transport shares between all subscribers of an event).
std::string encode_frame(Opcode opcode, std::string_view payload);
// A close frame: code (2 bytes, big endian) + reason, the reason cut to fit 123 bytes without splitting a
// UTF-8 sequence. code 1005 means "no status": an empty close payload.
std::string encode_close(std::uint16_t code, std::string_view reason);

// Whether a close code may appear in a close frame on the wire (RFC 6455 7.4.1/7.4.2 and the IANA
// registry): 1000-1003, 1007-1014 and the application range 3000-4999. 1005, 1006 and 1015 are only for
// reporting a close that carried none, was abnormal, or failed TLS; the rest is reserved.
bool is_valid_close_code(std::uint16_t code);

// XORs bytes with the 4-byte masking key, starting at key byte `offset % 4` (the position of bytes[0]
// in the frame's payload), so a payload can be unmasked piece by piece as it arrives. Masking and
// unmasking are the same operation.
void apply_mask(std::span<char> bytes, std::span<const char, 4> key, std::size_t offset);

}  // namespace kabar::websocket
