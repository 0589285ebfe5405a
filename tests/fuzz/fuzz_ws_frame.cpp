// libFuzzer target: client bytes through MessageReader (gateway/websocket/message_reader.cpp), the
// RFC 6455 reader every WebSocket connection runs on whatever a read returned, and the input as a payload
// through the encoders (frame_codec.cpp) and the handshake's key functions (handshake.cpp).
//
// Checked: nothing crashes or reads past a read (each piece is its own exactly sized allocation, so ASan
// sees it); a text message is valid UTF-8 by an independent decoder, and is_valid_utf8 agrees with that
// decoder on the raw input; messages fit the 4096-byte limit, control payloads 125 bytes; an error has
// code 1002, 1007 or 1009 and a reason, a close a code allowed on the wire (or 1005 and no reason); no
// callback comes after on_close or on_error and feed() returns false from then on; the input cut into
// pieces at points taken from the input gives the same events as in one piece; an idle reader holds no
// heap; and encode_frame / encode_close output, masked and read back, gives what went in.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/websocket/frame_codec.h"
#include "gateway/websocket/handshake.h"
#include "gateway/websocket/message_reader.h"
#include "gateway/websocket/utf8.h"

namespace {
using namespace kabar::websocket;

constexpr std::size_t kMaxMessage = 4096;

void require(bool condition) {
  if (!condition) std::abort();
}

// A decoder written differently from Utf8Validator (code points, then range checks), to compare against.
bool reference_utf8(std::string_view text) {
  static constexpr std::uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};  // by continuation byte count
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<std::uint8_t>(text[i]);
    std::size_t tail = 0;
    std::uint32_t code_point = lead;
    if (lead >= 0xF8 || (lead >= 0x80 && lead < 0xC0)) return false;
    if (lead >= 0x80) {
      tail = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
      code_point = lead & (0x3F >> tail);  // the lead's payload bits: 5, 4 or 3
    }
    if (i + tail >= text.size() && tail > 0) return false;
    for (std::size_t k = 1; k <= tail; ++k) {
      const auto next = static_cast<std::uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = code_point << 6 | (next & 0x3F);
    }
    if (code_point < kSmallest[tail] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += tail + 1;
  }
  return true;
}

class Recorder : public MessageHandler {
 public:
  explicit Recorder(std::size_t max_message) : max_message_(max_message) {}

  void on_message(bool text, std::string_view payload) override {
    require(payload.size() <= max_message_ && (!text || reference_utf8(payload)));
    record(text ? "text" : "binary", payload);
  }
  void on_ping(std::string_view payload) override {
    require(payload.size() <= kMaxControlPayload);
    record("ping", payload);
  }
  void on_pong(std::string_view payload) override {
    require(payload.size() <= kMaxControlPayload);
    record("pong", payload);
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    require(code == close_code::no_status ? reason.empty() : is_valid_close_code(code));
    require(reason.size() <= kMaxControlPayload - 2 && reference_utf8(reason));
    record("close " + std::to_string(code), reason);
    ended = true;
  }
  void on_error(std::uint16_t code, std::string_view reason) override {
    require(code == close_code::protocol_error || code == close_code::invalid_payload ||
            code == close_code::too_big);
    require(!reason.empty());
    record("error " + std::to_string(code), reason);
    ended = true;
  }

  std::vector<std::string> events;
  bool ended = false;

 private:
  void record(const std::string& kind, std::string_view bytes) {
    require(!ended);
    events.push_back(kind + ":" + std::string(bytes));
  }
  std::size_t max_message_;
};

// Feeds one read from its own allocation of exactly its size, and checks what feed() and the reader say.
void feed(MessageReader& reader, std::string_view bytes, Recorder& recorder) {
  std::vector<char> read(bytes.begin(), bytes.end());
  const bool more = reader.feed(std::span<char>(read.data(), read.size()), recorder);
  require(more == !recorder.ended);
  if (reader.idle()) require(reader.memory_bytes() == 0);
}

// The events for `input` cut into pieces of sizes drawn from `seed` (mostly short, so headers and UTF-8
// sequences get cut), or of one byte each when seed is 0.
std::vector<std::string> read_in_pieces(std::string_view input, std::uint64_t seed) {
  MessageReader reader(kMaxMessage);
  Recorder recorder(kMaxMessage);
  std::uint64_t state = seed;
  for (std::size_t pos = 0; pos < input.size();) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift64
    const std::size_t piece = seed == 0 ? 1 : 1 + (state % 8 == 0 ? state % 300 : state % 9);
    feed(reader, input.substr(pos, piece), recorder);
    pos += piece;
  }
  feed(reader, {}, recorder);
  return recorder.events;
}

// A server frame as a client sends it: mask bit, key after the length, payload masked.
std::string as_client(const std::string& frame, const char (&key)[4]) {
  const auto length7 = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  const std::size_t header = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
  std::string payload = frame.substr(header);
  apply_mask(payload, key, 0);
  std::string client = frame.substr(0, header);
  client[1] = static_cast<char>(client[1] | 0x80);
  return client.append(key, 4) + payload;
}

void check_encoders(std::string_view input, std::uint64_t seed) {
  const char key[4] = {static_cast<char>(seed), static_cast<char>(seed >> 8), static_cast<char>(seed >> 16),
                       static_cast<char>(seed >> 24)};
  const bool text = is_valid_utf8(input);
  const Opcode opcode = text ? Opcode::Text : Opcode::Binary;
  const std::string frame = encode_frame(opcode, input);
  char header[kMaxHeaderBytes];
  const std::size_t header_size = encode_header(opcode, input.size(), header);
  require(frame == std::string(header, header_size) + std::string(input));
  MessageReader reader(input.size());  // the payload is exactly at the limit
  Recorder recorder(input.size());
  feed(reader, as_client(frame, key), recorder);
  require(recorder.events == std::vector<std::string>{(text ? "text:" : "binary:") + std::string(input)});

  const auto code = static_cast<std::uint16_t>(input.size() >= 2 ? static_cast<std::uint8_t>(input[0]) << 8 |
                                                                       static_cast<std::uint8_t>(input[1])
                                                                 : close_code::normal);
  const std::string_view reason = input.substr(std::min<std::size_t>(2, input.size()));
  const std::string close = encode_close(code, reason);
  require(close.size() <= 2 + kMaxControlPayload);
  MessageReader close_reader(kMaxMessage);
  Recorder close_recorder(kMaxMessage);
  feed(close_reader, as_client(close, key), close_recorder);
  require(close_recorder.events.size() == 1);
  const std::string& event = close_recorder.events[0];
  if (code == close_code::no_status) {
    require(event == "close 1005:");
  } else if (!is_valid_close_code(code)) {
    require(event.starts_with("error 1002:"));
  } else if (reference_utf8(reason)) {
    // Cut whole sequences only: a valid reason stays valid, losing at most the last 3 bytes of 123.
    const std::string prefix = "close " + std::to_string(code) + ":";
    require(event.starts_with(prefix) && reason.starts_with(std::string_view(event).substr(prefix.size())));
    require(event.size() - prefix.size() >= std::min<std::size_t>(reason.size(), kMaxControlPayload - 2 - 3));
  } else {
    require(event.starts_with("close ") ||
            event.starts_with("error 1007:"));  // unless the cut dropped the bad bytes
  }
}

void check_handshake(std::string_view input) {
  require(accept_key(input).size() == 28);
  if (is_valid_client_key(input)) require(input.size() == 24 && input.ends_with("=="));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  require(is_valid_utf8(input) == reference_utf8(input));

  std::uint64_t seed = 14695981039346656037ull;  // FNV-1a of the input: the same cuts for the same input
  for (char c : input) seed = (seed ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;

  MessageReader reader(kMaxMessage);
  Recorder recorder(kMaxMessage);
  feed(reader, input, recorder);
  require(read_in_pieces(input, seed | 1) == recorder.events);
  if (size <= 512) require(read_in_pieces(input, 0) == recorder.events);

  check_encoders(input, seed);
  check_handshake(input);
  return 0;
}
