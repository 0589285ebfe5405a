// `kabar-loadgen baseline-server`: the plainest fan-out there is, as a yardstick for "server CPU
// per delivery". It subscribes to the topic with Paho (QoS 1, as kabar does) and, for every message, calls
// send() once per connected client: no store, no queue, no per-session state, no framing beyond one SSE
// line. Clients connect as to kabar's /sse (the request is not even read), so `fanout --kind sse` drives
// it unchanged. Whatever it costs per delivery is the kernel's price of one loopback send() here.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mqtt/async_client.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared first.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "scenarios.h"

namespace kabar::bench {

namespace {

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int) { stop_requested = 1; }

class BaselineServer {
 public:
  void add(int fd) {
    std::lock_guard lock(mutex_);
    fds_.push_back(fd);
  }

  // Paho's callback thread: one send() per client, blocking, in order; a failed client is dropped.
  void fan_out(const mqtt::const_message_ptr& msg) {
    std::string line = R"(data: {"type":"event","envelope":)" + msg->get_payload_str() + "}\n\n";
    std::lock_guard lock(mutex_);
    std::erase_if(fds_, [&](int fd) {
      if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == ssize_t(line.size())) return false;
      ::close(fd);
      return true;
    });
  }

 private:
  std::mutex mutex_;
  std::vector<int> fds_;
};

void subscribe(mqtt::async_client& client, const Options& opt, BaselineServer& server) {
  client.set_message_callback([&server](mqtt::const_message_ptr msg) { server.fan_out(msg); });
  auto options = mqtt::connect_options_builder().clean_session(true).finalize();
  if (!client.connect(options)->wait_for(std::chrono::seconds(10)) ||
      !client.subscribe(opt.topic, 1)->wait_for(std::chrono::seconds(10)))
    throw std::runtime_error("baseline-server: MQTT connect/subscribe timed out");
}

}  // namespace

int run_baseline_server(const Options& opt) {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  BaselineServer server;
  mqtt::async_client client("tcp://" + opt.host + ":" + std::to_string(opt.mqtt_port),
                            "kabar-baseline-" + std::to_string(getpid()));
  subscribe(client, opt, server);

  // The port opens only once the subscription stands, so "port open" means "ready".
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address(opt.host), opt.port});
  acceptor.non_blocking(true);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt.timeout_s);
  while (!stop_requested && std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    auto socket = acceptor.accept(ec);
    if (ec == boost::asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (ec) continue;
    socket.set_option(boost::asio::ip::tcp::no_delay(true));
    int fd = socket.release();
    if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == ssize_t(head.size())) server.add(fd);
    else ::close(fd);
  }
  client.disconnect()->wait_for(std::chrono::seconds(5));
  return 0;
}

}  // namespace kabar::bench
