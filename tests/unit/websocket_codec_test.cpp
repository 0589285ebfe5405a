// The RFC 6455 codec (gateway/websocket/): one test per rule MessageReader enforces on what clients send,
// the frames kabar encodes, and the handshake's accept key. Client frames are built by masking the
// encoder's own output, so each rule is shown with the smallest frame that breaks it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/websocket/frame_codec.h"
#include "gateway/websocket/handshake.h"
#include "gateway/websocket/message_reader.h"

namespace kabar::websocket {
namespace {
using namespace std::string_literals;
using Events = std::vector<std::string>;

constexpr char kKey[4] = {'\x37', '\xfa', '\x21', '\x3d'};  // RFC 6455 5.7's example masking key
constexpr std::uint8_t kFin = 0x80;

// A server frame as a client would send it: mask bit set, key after the length, payload masked.
std::string as_client(const std::string& server_frame) {
  const auto length7 = static_cast<std::uint8_t>(server_frame[1]) & 0x7F;
  const std::size_t header = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
  std::string frame = server_frame.substr(0, header);
  frame[1] = static_cast<char>(frame[1] | 0x80);
  frame.append(kKey, 4);
  std::string payload = server_frame.substr(header);
  apply_mask(payload, kKey, 0);
  return frame + payload;
}

// A client frame whose first byte (FIN, RSV bits, opcode) is given as is.
std::string frame(std::uint8_t first_byte, const std::string& payload) {
  std::string server_frame = encode_frame(Opcode::Binary, payload);
  server_frame[0] = static_cast<char>(first_byte);
  return as_client(server_frame);
}
std::string text(const std::string& payload, bool fin = true) {
  return frame((fin ? kFin : 0) | 0x1, payload);
}
std::string binary(const std::string& payload, bool fin = true) {
  return frame((fin ? kFin : 0) | 0x2, payload);
}
std::string continuation(const std::string& payload, bool fin) {
  return frame((fin ? kFin : 0) | 0x0, payload);
}
std::string ping(const std::string& payload) { return frame(kFin | 0x9, payload); }
std::string pong(const std::string& payload) { return frame(kFin | 0xA, payload); }
std::string close(std::uint16_t code, const std::string& reason) {
  return as_client(encode_close(code, reason));
}

// Records every callback as one line; counts any that come after on_close/on_error.
class Recorder : public MessageHandler {
 public:
  void on_message(bool text, std::string_view payload) override {
    record((text ? "text:" : "binary:") + std::string(payload));
    last_payload = payload.data();
  }
  void on_ping(std::string_view payload) override { record("ping:" + std::string(payload)); }
  void on_pong(std::string_view payload) override { record("pong:" + std::string(payload)); }
  void on_close(std::uint16_t code, std::string_view reason) override {
    record("close " + std::to_string(code) + ":" + std::string(reason));
    ended = true;
  }
  void on_error(std::uint16_t code, std::string_view reason) override {
    record("error " + std::to_string(code));
    EXPECT_FALSE(reason.empty()) << "every refusal says why";
    ended = true;
  }

  Events events;
  const char* last_payload = nullptr;
  bool ended = false;
  int after_end = 0;

 private:
  void record(std::string event) {
    if (ended) ++after_end;
    events.push_back(std::move(event));
  }
};

bool feed(MessageReader& reader, std::string bytes, Recorder& recorder) {
  return reader.feed(std::span<char>(bytes.data(), bytes.size()), recorder);
}

std::vector<std::string> one_byte_reads(const std::string& bytes) {
  std::vector<std::string> reads;
  for (char c : bytes) reads.emplace_back(1, c);
  return reads;
}

// The events for `pieces`, each given to feed() as one read.
Events read(const std::vector<std::string>& pieces, std::size_t max_message_bytes = 1 << 20) {
  MessageReader reader(max_message_bytes);
  Recorder recorder;
  for (const auto& piece : pieces) feed(reader, piece, recorder);
  EXPECT_EQ(recorder.after_end, 0);
  return recorder.events;
}
Events read(const std::string& bytes, std::size_t max_message_bytes = 1 << 20) {
  return read(std::vector<std::string>{bytes}, max_message_bytes);
}

TEST(WebSocketReader, ClientFramesMustBeMasked) {
  EXPECT_EQ(read("\x81\x02hi"s), Events{"error 1002"});
  EXPECT_EQ(read(text("hi")), Events{"text:hi"});
}

TEST(WebSocketReader, RsvBitsMustBeZero) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10})
    EXPECT_EQ(read(frame(kFin | rsv | 0x1, "hi")), Events{"error 1002"});
}

TEST(WebSocketReader, UnknownOpcodesAreRefused) {
  for (std::uint8_t opcode : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(read(frame(kFin | opcode, "")), Events{"error 1002"}) << int(opcode);
  }
}

TEST(WebSocketReader, FragmentedTextIsReassembled) {
  EXPECT_EQ(read(text("one ", false) + continuation("two ", false) + continuation("three", true)),
            Events{"text:one two three"});
  EXPECT_EQ(read(binary("", false) + continuation("", false) + continuation("", true)), Events{"binary:"});
}

TEST(WebSocketReader, ControlFramesMayComeBetweenFragments) {
  const std::string bytes =
      text("a", false) + ping("ping") + continuation("b", false) + pong("pong") + continuation("c", true);
  EXPECT_EQ(read(bytes), (Events{"ping:ping", "pong:pong", "text:abc"}));
  // Cut by reads, the control frames are buffered after the message's bytes, then taken off again.
  EXPECT_EQ(read(one_byte_reads(bytes)), (Events{"ping:ping", "pong:pong", "text:abc"}));
  EXPECT_EQ(read(text("a", false) + close(1000, "bye") + continuation("b", true)), Events{"close 1000:bye"});
}

TEST(WebSocketReader, ContinuationWithoutAMessageIsRefused) {
  EXPECT_EQ(read(continuation("x", true)), Events{"error 1002"});
  EXPECT_EQ(read(text("done") + continuation("x", false)), (Events{"text:done", "error 1002"}));
}

TEST(WebSocketReader, NewDataFrameInsideAFragmentedMessageIsRefused) {
  EXPECT_EQ(read(text("a", false) + text("b")), Events{"error 1002"});
  EXPECT_EQ(read(binary("a", false) + binary("b", false)), Events{"error 1002"});
}

TEST(WebSocketReader, ControlFrameOver125BytesIsRefused) {
  EXPECT_EQ(read(ping(std::string(125, 'p'))), Events{"ping:" + std::string(125, 'p')});
  EXPECT_EQ(read(ping(std::string(126, 'p'))), Events{"error 1002"});
  EXPECT_EQ(read(pong(std::string(126, 'p'))), Events{"error 1002"});
  // Refused from the header's second byte, before the rest of the frame arrives.
  EXPECT_EQ(read(ping(std::string(126, 'p')).substr(0, 2)), Events{"error 1002"});
}

TEST(WebSocketReader, FragmentedControlFrameIsRefused) {
  for (std::uint8_t opcode : {0x8, 0x9, 0xA}) EXPECT_EQ(read(frame(opcode, "")), Events{"error 1002"});
}

TEST(WebSocketReader, ClosePayloadOfOneByteIsRefused) {
  EXPECT_EQ(read(frame(kFin | 0x8, "\x03")), Events{"error 1002"});
  EXPECT_EQ(read(frame(kFin | 0x8, "")), Events{"close 1005:"});
}

TEST(WebSocketReader, CloseCodesThatMayNotBeSentAreRefused) {
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    const std::string payload{static_cast<char>(code >> 8), static_cast<char>(code)};
    EXPECT_EQ(read(frame(kFin | 0x8, payload)), Events{"error 1002"}) << code;
  }
}

TEST(WebSocketReader, CloseCodesThatMayBeSentAreAccepted) {
  for (int code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    EXPECT_EQ(read(close(static_cast<std::uint16_t>(code), "")),
              Events{"close " + std::to_string(code) + ":"});
  }
}

TEST(WebSocketReader, CloseReasonMustBeUtf8) {
  EXPECT_EQ(read(close(1000, "gr\xc3\xbc\xc3\x9f")), Events{"close 1000:gr\xc3\xbc\xc3\x9f"});
  EXPECT_EQ(read(close(1000, "bad \xff")), Events{"error 1007"});
  EXPECT_EQ(read(close(1000, "cut \xe2\x82")), Events{"error 1007"});
}

TEST(WebSocketReader, TextInOneFrameMustBeUtf8) {
  EXPECT_EQ(read(text("\xc0\xaf")), Events{"error 1007"});         // overlong '/'
  EXPECT_EQ(read(text("ok\xed\xa0\x80")), Events{"error 1007"});   // a surrogate
  EXPECT_EQ(read(text("cut \xe2\x82")), Events{"error 1007"});     // ends inside a sequence
  EXPECT_EQ(read(binary("\xc0\xaf")), Events{"binary:\xc0\xaf"});  // binary is not text
}

TEST(WebSocketReader, InvalidUtf8AcrossFragmentsFailsOnTheFragmentThatBreaksIt) {
  MessageReader reader(1024);
  Recorder recorder;
  EXPECT_TRUE(feed(reader, text("ok \xf0\x9f", false), recorder));
  EXPECT_TRUE(feed(reader, continuation("\x98", false), recorder));
  EXPECT_TRUE(recorder.events.empty());
  EXPECT_FALSE(feed(reader, continuation("\x28 more", false), recorder));  // 0x28 cannot continue F0 9F 98
  EXPECT_EQ(recorder.events, Events{"error 1007"});
  // Inside one frame too: the read with the bad byte fails, not the one that ends the frame.
  const std::string bytes = text("\xff" + std::string(100, 'a'));
  EXPECT_EQ(read(std::vector<std::string>{bytes.substr(0, 10)}), Events{"error 1007"});
}

TEST(WebSocketReader, MultiByteSequencesMaySpanFragmentsAndReads) {
  const std::string message = "\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xbc";  // "€ 😀 ü"
  const std::string bytes = text(message.substr(0, 1), false) + continuation(message.substr(1, 5), false) +
                            continuation(message.substr(6, 5), false) +
                            continuation(message.substr(11), true);
  EXPECT_EQ(read(bytes), Events{"text:" + message});
  EXPECT_EQ(read(one_byte_reads(bytes)), Events{"text:" + message});
}

TEST(WebSocketReader, MessageOverTheLimitInOneFrameIsTooBigBeforeBuffering) {
  EXPECT_EQ(read(text(std::string(10, 'x')), 10), Events{"text:" + std::string(10, 'x')});
  MessageReader reader(10);
  Recorder recorder;
  EXPECT_FALSE(feed(reader, text(std::string(11, 'x')).substr(0, 6), recorder));  // the header alone
  EXPECT_EQ(recorder.events, Events{"error 1009"});
  EXPECT_EQ(reader.memory_bytes(), 0u);
}

TEST(WebSocketReader, MessageOverTheLimitAcrossFragmentsIsTooBigBeforeBuffering) {
  // Control frames do not count towards the message.
  EXPECT_EQ(read(text("123456", false) + ping(std::string(20, 'p')) + continuation("7890", true), 10),
            (Events{"ping:" + std::string(20, 'p'), "text:1234567890"}));
  MessageReader reader(10);
  Recorder recorder;
  EXPECT_TRUE(feed(reader, text("123456", false), recorder));
  EXPECT_FALSE(feed(reader, continuation("78901", true).substr(0, 6), recorder));
  EXPECT_EQ(recorder.events, Events{"error 1009"});
}

TEST(WebSocketReader, SixteenAndSixtyFourBitLengths) {
  for (std::size_t size : {126u, 65535u, 65536u, 100000u}) {
    const std::string payload(size, 'z');
    const std::string bytes = binary(payload);
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[1]) & 0x7F, size <= 65535 ? 126 : 127);
    EXPECT_EQ(read(bytes), Events{"binary:" + payload});
    EXPECT_EQ(read({bytes.substr(0, 3), bytes.substr(3, 9), bytes.substr(12)}), Events{"binary:" + payload});
  }
}

TEST(WebSocketReader, SixtyFourBitLengthWithTheTopBitSetIsRefused) {
  EXPECT_EQ(read("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01"s + std::string(kKey, 4), SIZE_MAX),
            Events{"error 1002"});
}

TEST(WebSocketReader, LengthsMustUseTheShortestForm) {
  EXPECT_EQ(read("\x82\xfe\x00\x7d"s + std::string(kKey, 4) + std::string(125, 'x')), Events{"error 1002"});
  EXPECT_EQ(read("\x82\xff\x00\x00\x00\x00\x00\x00\xff\xff"s + std::string(kKey, 4)), Events{"error 1002"});
}

TEST(WebSocketReader, BytesOneAtATimeGiveTheSameEventsAsAllAtOnce) {
  const std::string bytes = text("hello") + binary("ab", false) + ping("p1") + continuation("cd", false) +
                            pong("") + continuation("ef", true) + text("") + text(std::string(200, 'w')) +
                            text("\xe2\x82", false) + ping("p2") + continuation("\xac!", true) +
                            close(1001, "bye") + text("after the close");
  const Events expected = {"text:hello",    "ping:p1",
                           "pong:",         "binary:abcdef",
                           "text:",         "text:" + std::string(200, 'w'),
                           "ping:p2",       "text:\xe2\x82\xac!",
                           "close 1001:bye"};
  EXPECT_EQ(read(bytes), expected);
  EXPECT_EQ(read(one_byte_reads(bytes)), expected);
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    EXPECT_EQ(read({bytes.substr(0, cut), bytes.substr(cut)}), expected) << "cut at " << cut;
  }
}

TEST(WebSocketReader, HoldsNoMemoryAfterAMessageThatArrivedSplit) {
  MessageReader reader(1024);
  Recorder recorder;
  const std::string bytes = text(std::string(100, 'x'));
  feed(reader, bytes.substr(0, 1), recorder);  // a partial header is kept inline
  EXPECT_FALSE(reader.idle());
  EXPECT_EQ(reader.memory_bytes(), 0u);
  feed(reader, bytes.substr(1, 60), recorder);
  EXPECT_GT(reader.memory_bytes(), 0u);
  feed(reader, bytes.substr(61), recorder);
  EXPECT_EQ(recorder.events, Events{"text:" + std::string(100, 'x')});
  EXPECT_TRUE(reader.idle());
  EXPECT_EQ(reader.memory_bytes(), 0u);

  feed(reader, text(std::string(100, 'a'), false),
       recorder);  // whole fragments are kept until the message ends
  EXPECT_FALSE(reader.idle());
  EXPECT_GT(reader.memory_bytes(), 0u);
  feed(reader, continuation("b", true), recorder);
  EXPECT_EQ(recorder.events.back(), "text:" + std::string(100, 'a') + "b");
  EXPECT_TRUE(reader.idle());
  EXPECT_EQ(reader.memory_bytes(), 0u);
}

TEST(WebSocketReader, WholeFrameIsDeliveredInPlaceWithoutMemory) {
  MessageReader reader(1024);
  Recorder recorder;
  std::string bytes = text(std::string(100, 'x'));
  EXPECT_TRUE(reader.feed(std::span<char>(bytes.data(), bytes.size()), recorder));
  EXPECT_EQ(recorder.events, Events{"text:" + std::string(100, 'x')});
  EXPECT_EQ(recorder.last_payload, bytes.data() + 6);  // unmasked where it lay, after the 6-byte header
  EXPECT_TRUE(reader.idle());
  EXPECT_EQ(reader.memory_bytes(), 0u);
}

TEST(WebSocketReader, NothingIsReadAfterCloseOrError) {
  for (const std::string& end : {close(1000, ""), frame(kFin | 0x3, "")}) {
    MessageReader reader(1024);
    Recorder recorder;
    EXPECT_FALSE(feed(reader, text("a", false) + end + text("b"), recorder));
    EXPECT_FALSE(feed(reader, text("c"), recorder));
    EXPECT_EQ(recorder.events.size(), 1u);
    EXPECT_EQ(recorder.after_end, 0);
    EXPECT_EQ(reader.memory_bytes(), 0u);
  }
}

TEST(WebSocketEncoder, HeaderUsesTheShortestLengthForm) {
  const std::pair<std::size_t, std::string> cases[] = {
      {0, "\x81\x00"s},
      {125, "\x81\x7d"s},
      {126, "\x81\x7e\x00\x7e"s},
      {65535, "\x81\x7e\xff\xff"s},
      {65536, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"s},
  };
  for (const auto& [size, header] : cases) {
    char out[kMaxHeaderBytes];
    EXPECT_EQ(std::string(out, encode_header(Opcode::Text, size, out)), header) << size;
  }
  EXPECT_EQ(encode_frame(Opcode::Pong, "ok"), "\x8a\x02ok"s);
}

TEST(WebSocketEncoder, CloseCarriesTheCodeBigEndianOrNothingFor1005) {
  EXPECT_EQ(encode_close(close_code::normal, "bye"),
            "\x88\x05\x03\xe8"
            "bye"s);
  EXPECT_EQ(encode_close(close_code::no_status, "ignored"), "\x88\x00"s);
}

TEST(WebSocketEncoder, CloseCutsLongReasonsOnAUtf8Boundary) {
  EXPECT_EQ(encode_close(close_code::policy, std::string(200, 'r')).size(), 2 + 125u);
  // A 3-byte "€" across the 123-byte limit is dropped whole, and the frame still reads back as UTF-8.
  const std::string reason = std::string(122, 'r') + "\xe2\x82\xac";
  EXPECT_EQ(encode_close(close_code::policy, reason), "\x88\x7c\x03\xf0"s + std::string(122, 'r'));
  EXPECT_EQ(read(close(close_code::policy, reason)), Events{"close 1008:" + std::string(122, 'r')});
  EXPECT_EQ(read(close(close_code::policy, std::string(120, 'r') + "\xe2\x82\xac")),
            Events{"close 1008:" + std::string(120, 'r') + "\xe2\x82\xac"});
}

TEST(WebSocketHandshake, AcceptKeyOfRfc6455Example) {
  // RFC 6455 1.3 and 4.2.2 (also `openssl dgst -sha1 -binary | base64` of key + GUID).
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, ClientKeyMustBeBase64Of16Bytes) {
  EXPECT_TRUE(is_valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(is_valid_client_key("AAAAAAAAAAAAAAAAAAAA+/=="));
  for (const char* key :
       {"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===", "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQAA", "dGhlIHNhbXBsZSBub25jZ?==", "dGhlIHNhbXBsZSBub2 jZQ=="}) {
    EXPECT_FALSE(is_valid_client_key(key)) << key;
  }
}

}  // namespace
}  // namespace kabar::websocket
