// The StreamTransports on their own, under a bare StreamSession over a real loopback socket: what each
// puts on the wire for a session's frames and control messages, and how each ends the connection when the
// session tells it to (a slow consumer, a flushed session) or when the peer goes away.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include "gateway/http/sse_transport.h"
#include "gateway/http/ws_stream_transport.h"
#include "seam_fixture.h"

namespace kabar::seam_test {
namespace {
using boost::asio::ip::tcp;

class SseTestSession : public StreamSession {
 public:
  SseTestSession(ServerContext& context, tcp::socket socket)
      : StreamSession(context, 0, transport_), transport_(std::move(socket)) {}
  void open() {
    transport_.open([self = shared_from_this(), this] {
      gone = true;
      detach();
    });
  }
  void heartbeat() override {}
  void shutdown() override {}
  using StreamSession::close_after_flush;
  using StreamSession::send_control;

  SseTransport transport_;
  std::atomic<bool> gone{false};
};

class WsTestSession : public StreamSession, private WsStreamTransport::Door {
 public:
  WsTestSession(ServerContext& context, tcp::socket socket, const WsStreamTransport::Dialect& dialect)
      : StreamSession(context, 0, transport_),
        transport_(std::move(socket), dialect, context, *this, *this) {}
  void heartbeat() override {}
  void shutdown() override {}
  using StreamSession::close_after_flush;

  WsStreamTransport transport_;
  std::atomic<bool> closed{false};

 private:
  void ws_opened() override {}
  void ws_message(bool, std::string_view) override {}
  void ws_closed() override {
    closed = true;
    detach();
  }
};

const WsStreamTransport::Dialect kJson{"json", Frame::Wire::WsJson, {4008, "slow"}, {1012, "restarting"}};
const WsStreamTransport::Dialect kPusher{"pusher", Frame::Wire::WsPusher, {4100, "slow"}, {4200, "closing"}};

// An unmasked server close frame: 0x88, the length, the code (big-endian), the reason.
std::string close_frame(std::uint16_t code, const std::string& reason) {
  std::string frame{static_cast<char>(0x88), static_cast<char>(2 + reason.size()),
                    static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  return frame + reason;
}

class StreamTransportTest : public SeamTest {
 protected:
  // A connected pair: the server end (for a session, used on the I/O thread) and a blocking client end.
  tcp::socket connect() {
    tcp::acceptor acceptor(io_, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    client_ = std::make_unique<tcp::socket>(client_io_);
    client_->connect(acceptor.local_endpoint());
    return acceptor.accept();
  }
  std::string read_exactly(std::size_t n) {
    std::string bytes(n, '\0');
    boost::asio::read(*client_, boost::asio::buffer(bytes));
    return bytes;
  }
  bool client_sees_end() {
    char byte;
    boost::system::error_code error;
    client_->read_some(boost::asio::buffer(&byte, 1), error);
    return error == boost::asio::error::eof || error == boost::asio::error::connection_reset;
  }

  boost::asio::io_context client_io_;
  std::unique_ptr<tcp::socket> client_;
};

FramePtr sample_frame() {
  StoredEvent event;
  event.seq = 7;
  event.envelope.channel = "c";
  event.envelope.event = "e";
  event.envelope.id = "id-7";
  event.envelope.data = R"({"n":7})";
  return encode_frame(event, "ep");
}

TEST_F(StreamTransportTest, SseWritesFramesAndControlMessagesAsEventStreamMessages) {
  auto socket = connect();
  const FramePtr frame = sample_frame();
  auto session = on_io([&] {
    auto s = std::make_shared<SseTestSession>(*context_, std::move(socket));
    s->open();
    EXPECT_EQ(&s->transport_.frame_bytes(*frame), &frame->sse);  // the Frame's bytes, not a copy
    s->send_raw("head\r\n\r\n");
    s->send_control(R"({"type":"x"})", "ep:3");
    return s;
  });
  const std::string expected = "head\r\n\r\nid: ep:3\ndata: {\"type\":\"x\"}\n\n";
  EXPECT_EQ(read_exactly(expected.size()), expected);
  on_io([&] {
    session->close_after_flush();
    return 0;
  });
  EXPECT_TRUE(client_sees_end());
  EXPECT_TRUE(wait_for([&] { return session->gone.load(); }));
}

TEST_F(StreamTransportTest, SsePeerGoingAwayDetachesTheSession) {
  auto socket = connect();
  auto session = on_io([&] {
    auto s = std::make_shared<SseTestSession>(*context_, std::move(socket));
    s->open();
    return s;
  });
  client_->close();
  EXPECT_TRUE(wait_for([&] { return session->gone.load(); }));
}

TEST_F(StreamTransportTest, WebSocketFramesEventsInTheDoorsWireFormCachedInTheFrame) {
  const FramePtr frame = sample_frame();
  on_io([&] {
    auto json = std::make_shared<WsTestSession>(*context_, tcp::socket(io_), kJson);
    auto pusher = std::make_shared<WsTestSession>(*context_, tcp::socket(io_), kPusher);
    EXPECT_EQ(&json->transport_.frame_bytes(*frame), &WsTransport::json_frame(*frame));
    EXPECT_EQ(&pusher->transport_.frame_bytes(*frame), &WsTransport::pusher_frame(*frame));
    EXPECT_EQ(json->transport_.control_bytes(R"({"type":"x"})", "ignored"),
              WsTransport::text_frame(R"({"type":"x"})"));
    return 0;
  });
}

TEST_F(StreamTransportTest, WebSocketClosesASlowConsumerWithItsDoorsCode) {
  auto socket = connect();
  auto session = on_io([&] {
    auto s = std::make_shared<WsTestSession>(*context_, std::move(socket), kPusher);
    s->transport_.close(StreamClose::SlowConsumer);
    return s;
  });
  const std::string expected = close_frame(4100, "slow");
  EXPECT_EQ(read_exactly(expected.size()), expected);
  EXPECT_TRUE(client_sees_end());
  EXPECT_TRUE(wait_for([&] { return session->closed.load(); }));
}

TEST_F(StreamTransportTest, WebSocketClosesAFlushedSessionWithTheDoorsDefaultOrTheCodeItChose) {
  auto socket = connect();
  auto session = on_io([&] {
    auto s = std::make_shared<WsTestSession>(*context_, std::move(socket), kJson);
    s->close_after_flush();
    return s;
  });
  std::string expected = close_frame(1012, "restarting");
  EXPECT_EQ(read_exactly(expected.size()), expected);
  EXPECT_TRUE(wait_for([&] { return session->closed.load(); }));

  socket = connect();
  session = on_io([&] {
    auto s = std::make_shared<WsTestSession>(*context_, std::move(socket), kJson);
    s->transport_.close_when_flushed(4001, "invalid token: expired");
    s->close_after_flush();
    return s;
  });
  expected = close_frame(4001, "invalid token: expired");
  EXPECT_EQ(read_exactly(expected.size()), expected);
  EXPECT_TRUE(wait_for([&] { return session->closed.load(); }));
}

}  // namespace
}  // namespace kabar::seam_test
