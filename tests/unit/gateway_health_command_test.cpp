// `kabar health` (gateway/app/health_command.h): which URL it asks for a configuration, and its exit
// status against a real socket that answers 200, answers 503, refuses, or never answers (bounded by
// --timeout-ms).
#include "gateway/app/health_command.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gateway/app/config.h"

namespace kabar {
namespace {

TEST(ReadinessUrl, AsksTheLoopbackForAWildcardAndTheAddressOtherwise) {
  HttpConfig http;
  http.listen = "0.0.0.0";
  http.port = 8080;
  EXPECT_EQ(readiness_url(http), "http://127.0.0.1:8080/readyz");
  http.listen = "::";
  EXPECT_EQ(readiness_url(http), "http://[::1]:8080/readyz");
  http.listen = "10.0.0.5";
  http.port = 9000;
  EXPECT_EQ(readiness_url(http), "http://10.0.0.5:9000/readyz");
  http.listen = "fe80::1";
  EXPECT_EQ(readiness_url(http), "http://[fe80::1]:9000/readyz");
}

// A loopback listener on a free port; `reply` is written after the request arrived (empty: never).
class OneShotServer {
 public:
  explicit OneShotServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      char buffer[2048];
      (void)::recv(client, buffer, sizeof(buffer), 0);
      if (!reply_.empty()) (void)::send(client, reply_.data(), reply_.size(), 0);
      while (!done_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ::close(client);
    });
  }
  ~OneShotServer() {
    done_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/readyz"; }
  int port() const { return port_; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int run_health(std::vector<std::string> args) {
  CLI::App app;
  HealthCommand command(app);
  args.insert(args.begin(), "health");
  std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
  app.parse(args);
  return command.run().value_or(-1);
}

std::string response(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

TEST(HealthCommand, ExitsZeroOnlyFor200) {
  OneShotServer ready(response(200, R"({"ready":true})"));
  EXPECT_EQ(run_health({"--url", ready.url()}), 0);
  OneShotServer not_ready(response(503, R"({"ready":false})"));
  EXPECT_EQ(run_health({"--url", not_ready.url()}), 1);
}

TEST(HealthCommand, ARefusedConnectionIsNotReady) {
  int port;
  { OneShotServer gone(""); port = gone.port(); }
  EXPECT_EQ(run_health({"--url", "http://127.0.0.1:" + std::to_string(port) + "/readyz"}), 1);
}

TEST(HealthCommand, ASilentServerIsNotReadyWithinTheTimeout) {
  OneShotServer silent("");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run_health({"--url", silent.url(), "--timeout-ms", "300"}), 1);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

TEST(HealthCommand, ABadUrlIsAUsageError) {
  EXPECT_THROW(run_health({"--url", "https://127.0.0.1/readyz"}), ConfigError);
  EXPECT_THROW(run_health({"--url", "http://127.0.0.1:port/readyz"}), ConfigError);
}

TEST(HealthCommand, NotChosenIsNotRun) {
  CLI::App app;
  HealthCommand command(app);
  app.add_subcommand("other");
  app.parse(std::vector<std::string>{"other"});
  EXPECT_FALSE(command.run().has_value());
}

}  // namespace
}  // namespace kabar
