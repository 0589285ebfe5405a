#pragma once
// Publishing over the server's HTTP API, one POST per event as a Laravel backend does:
//  - kabar (--kind pusher): POST /apps/{id}/events signed as pusher-http-php and the `pusher` npm SDK
//    sign it (auth_key, auth_timestamp, auth_version=1.0, body_md5, auth_signature = HMAC-SHA256);
//  - laravel-echo-server (--kind socketio): POST /apps/{id}/events?auth_key={key} (its `clients` list).
// Requests go out on a few keep-alive connections served by one io thread, so a slow answer (kabar
// answers after the broker's PUBACK) does not hold back the next publish.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared first.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <memory>
#include <thread>

#include "publisher.h"

namespace kabar::bench {

// Pieces of the Pusher REST signature (docs/pusher.md "REST API"), exposed for a self-check.
std::string md5_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// The request target /apps/{id}/events?auth_key=…&auth_signature=… for `body` at `timestamp`.
std::string pusher_signed_target(const Options& opt, std::string_view body, long long timestamp);

class RestPublisher final : public Publisher {
 public:
  RestPublisher(const Options& opt, const std::string& tag, int64_t total_events);
  ~RestPublisher() override;

  void connect(double timeout_s) override;  // opens --publish-conns connections; throws on failure
  void publish(int64_t index) override;
  uint64_t acked() const override { return acked_.load(); }
  void disconnect() override;

 private:
  struct Conn;
  std::string request(int64_t index, int64_t now);
  void pump();  // io thread: hands queued requests to idle connections
  void send_on(const std::shared_ptr<Conn>& c, std::string req);
  void read_answer(const std::shared_ptr<Conn>& c);
  void answered(const std::shared_ptr<Conn>& c, std::string_view head);
  void lost(const std::shared_ptr<Conn>& c, const std::string& why);

  const Options& opt_;
  std::string tag_;
  std::string pad_;
  boost::asio::io_context io_{1};
  std::thread thread_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::deque<std::string> queue_;  // requests no connection has taken yet (io thread only)
  std::atomic<uint64_t> acked_{0}, refused_{0};
  bool stopping_ = false;  // set once the io thread has stopped
};

}  // namespace kabar::bench
