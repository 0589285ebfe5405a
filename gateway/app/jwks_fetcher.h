#pragma once
// JwksFetcher: auth.jwt.jwks_url. Fetches the JWKS document (as identity providers and Laravel Passport
// publish them) into an authz::KeyRing the token verifier reads, on a thread of its own, so no I/O thread
// ever waits on the network:
//   * at start, waiting for the first document up to the request timeout (failing that, kabar starts and
//     tokens are refused as unknown_key until a fetch succeeds);
//   * every refresh interval (auth.jwt.jwks_refresh_s);
//   * when a token names a kid no key has (a key published since the last fetch), at most once per
//     auth.jwt.jwks_min_refetch_s however many such tokens arrive: the token itself is refused, its
//     client's retry after the refetch is accepted.
// A failed fetch, or a document that is not a valid JWKS, keeps the keys fetched before (logged as a
// warning): an identity provider that is down does not lock users out.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "authz/key_ring.h"
#include "gateway/outbound/outbound_request.h"

namespace kabar {

struct JwksOptions {
  std::string url;      // http:// or https://
  std::string ca_file;  // https: the CAs to trust; empty: the system's
  std::chrono::seconds refresh{300};
  std::chrono::seconds min_refetch{10};
  std::chrono::milliseconds timeout{5000};
};

class JwksFetcher {
 public:
  // Throws std::invalid_argument / std::runtime_error for a bad URL or CA file (load_config checks first).
  explicit JwksFetcher(JwksOptions options);
  ~JwksFetcher();
  JwksFetcher(const JwksFetcher&) = delete;
  JwksFetcher& operator=(const JwksFetcher&) = delete;

  // The keys, for JwtSettings::key_ring. Outlives the fetcher safely (the listener is cleared at stop).
  std::shared_ptr<authz::KeyRing> ring() const { return ring_; }
  // Starts the thread and waits for the first fetch (up to the timeout).
  void start();
  void stop();

 private:
  void fetch();
  void on_fetched(const std::optional<std::string>& error, const OutboundResponse& response);
  void schedule_refresh(std::chrono::steady_clock::duration after);
  void on_unknown_kid();

  JwksOptions options_;
  OutboundUrl url_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::shared_ptr<authz::KeyRing> ring_;
  boost::asio::io_context context_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  // Touched on thread_ only:
  boost::asio::steady_timer refresh_timer_;
  boost::asio::steady_timer refetch_timer_;
  bool in_flight_ = false;
  bool refetch_pending_ = false;
  bool failing_ = false;
  std::chrono::steady_clock::time_point last_attempt_{};
  std::string kids_;  // of the keys held, to log only changes
  std::function<void()> first_done_;
  std::thread thread_;
};

}  // namespace kabar
