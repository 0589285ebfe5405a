// /ws subscribe over a real WebSocket (a real WsSession on a loopback socket, the real store, hub and
// replay reader): `subscribed.position` is a promise, every event of the channel after it arrives. An
// event is committed at exactly the moment the session has read the store head (the test hook
// ServerContext::after_head_read_for_tests), which is where a second read of the head used to skip it.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "gateway/http/ws_session.h"

namespace kabar {
namespace {
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

class WsSubscribeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kabar-ws-sub-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    StoreOptions options;
    options.data_dir = dir_;
    options.retention_interval = 0ms;
    store_ = std::make_unique<EventStore>(options);
    hub_ = std::make_unique<Hub>(std::vector<boost::asio::io_context*>{&io_}, store_->epoch());
    replay_ = std::make_unique<ReplayReader>(*store_, 1);
    context_ = std::make_unique<ServerContext>(*hub_, *replay_, *store_, SessionLimits{}, stats_);
    context_->sessions_by_shard.resize(1);
    store_->set_commit_listener([this](const std::vector<StoredEvent>& batch) { hub_->publish(batch); });
    acceptor_ = std::make_unique<tcp::acceptor>(io_, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    accept_one();
    io_thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }

  void TearDown() override {
    // The session leaves the hub when its socket closes; wait for that before the hub goes away.
    if (client_) {
      boost::system::error_code ignored;
      beast::get_lowest_layer(*client_).socket().close(ignored);
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (stats_.ws_open.load() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(stats_.ws_open.load(), 0u) << "the server session did not end";
    store_->close();
    io_.stop();
    io_thread_.join();
    replay_->stop();
    std::filesystem::remove_all(dir_);
  }

  // The listener's part: accept, read the upgrade request, hand the socket to a WsSession.
  void accept_one() {
    acceptor_->async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
      if (error) return;
      auto upgrade = std::make_shared<Upgrade>(std::move(socket));
      http::async_read(upgrade->stream, upgrade->buffer, upgrade->request,
                       [this, upgrade](const boost::system::error_code& read_error, std::size_t) {
                         if (read_error) return;
                         auto session = std::make_shared<WsSession>(*context_, 0, std::move(upgrade->stream));
                         session->run(std::move(upgrade->request));
                       });
    });
  }

  void connect() {
    client_ = std::make_unique<websocket::stream<beast::tcp_stream>>(client_io_);
    beast::get_lowest_layer(*client_).connect(acceptor_->local_endpoint());
    client_->handshake("127.0.0.1", "/ws");
  }

  void send(const std::string& text) { client_->write(boost::asio::buffer(text)); }

  // The next frame, or nothing within the timeout. A read that times out stays pending (cancelling it
  // would break the WebSocket) and delivers on a later call.
  std::optional<nlohmann::json> receive(std::chrono::milliseconds timeout = 5s) {
    if (!reading_) {
      reading_ = true;
      read_done_ = false;
      client_->async_read(read_buffer_, [this](const boost::system::error_code& error, std::size_t) {
        read_error_ = error;
        read_done_ = true;
      });
    }
    client_io_.restart();
    client_io_.run_for(timeout);
    if (!read_done_) return std::nullopt;
    reading_ = false;
    if (read_error_) return std::nullopt;
    auto frame = nlohmann::json::parse(beast::buffers_to_string(read_buffer_.data()));
    read_buffer_.consume(read_buffer_.size());
    return frame;
  }

  std::int64_t append(const std::string& channel, int n) {
    Envelope envelope;
    envelope.id = channel + "-" + std::to_string(n);
    envelope.event = "test.event";
    envelope.channel = channel;
    envelope.data = "{\"n\":" + std::to_string(n) + "}";
    envelope.time_ms = 1;
    return store_->append(envelope).seq;
  }

  static std::int64_t seq_of(const nlohmann::json& frame) {
    const std::string position = frame["position"];
    return std::stoll(position.substr(position.find(':') + 1));
  }

  struct Upgrade {
    explicit Upgrade(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
  };

  std::filesystem::path dir_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ReplayReader> replay_;
  GatewayStats stats_;
  std::unique_ptr<ServerContext> context_;
  boost::asio::io_context client_io_;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> client_;
  beast::flat_buffer read_buffer_;
  bool reading_ = false;
  bool read_done_ = false;
  boost::system::error_code read_error_;
  std::thread io_thread_;
  // Declared last, destroyed first: handlers still queued (holding sessions) go while the hub lives.
  boost::asio::io_context io_;
  std::unique_ptr<tcp::acceptor> acceptor_;
};

// For each start point: an event committed right after the session read the head for `subscribed`
// (and before anything else happens on the shard) has a position after `subscribed.position`, so the
// client must get it, once.
TEST_F(WsSubscribeTest, EventCommittedRightAfterTheHeadIsReadIsDelivered) {
  append("c", 0);
  std::atomic<int> armed{0};  // the n to commit at the next head read; 0: none
  std::atomic<std::int64_t> committed{0};
  context_->after_head_read_for_tests = [&] {
    if (const int n = armed.exchange(0)) committed = append("c", n);  // on the shard thread, right there
  };
  connect();
  auto welcome = receive();
  ASSERT_TRUE(welcome);
  ASSERT_EQ((*welcome)["type"], "welcome");
  int n = 0;
  for (const std::string& since : std::vector<std::string>{"", "earliest", store_->epoch() + ":1", "garbage"}) {
    ++n;
    committed = 0;
    armed = n;
    // Each round subscribes anew (a new start point replaces the subscription).
    send(R"({"type":"subscribe","channel":"c")" + (since.empty() ? std::string() : R"(,"since":")" + since + "\"") +
         "}");
    auto subscribed = receive();
    ASSERT_TRUE(subscribed) << "since=" << since;
    ASSERT_EQ((*subscribed)["type"], "subscribed") << subscribed->dump();
    ASSERT_GT(committed.load(), 0) << "the hook did not run";
    EXPECT_LT(seq_of(*subscribed), committed.load()) << "the event was committed after the head was read";
    // Everything after subscribed.position arrives: for "earliest" and ":1" the history first, then n; for
    // a garbage position a reset from subscribed.position, then n.
    bool got_n = false;
    while (auto frame = receive(1500ms)) {
      if ((*frame)["type"] == "reset") {
        EXPECT_EQ(since, "garbage");
        EXPECT_EQ((*frame)["position"], (*subscribed)["position"]) << "the reset skips what subscribed promised";
        continue;
      }
      ASSERT_EQ((*frame)["type"], "event") << frame->dump();
      if ((*frame)["data"]["n"] == n) {
        EXPECT_FALSE(got_n) << "event " << n << " twice";
        got_n = true;
      }
    }
    EXPECT_TRUE(got_n) << "since=\"" << since << "\": event " << n << " (after subscribed.position "
                       << (*subscribed)["position"] << ") never arrived";
  }
}

}  // namespace
}  // namespace kabar
