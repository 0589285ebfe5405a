#pragma once
// Listener: accepts TCP connections and deals them round-robin to the I/O shards, where each lives
// its whole life (its socket, its sessions and its hub subscriptions stay on that one thread).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "gateway/http/router.h"
#include "gateway/http/server_context.h"

namespace kabar {

class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds at once; throws ListenError ("cannot listen on 0.0.0.0:8080: Address already in use").
  // `router` holds every door before run() and outlives the listener and its sessions.
  Listener(ServerContext& context, const Router& router, boost::asio::io_context& accept_context,
           const boost::asio::ip::tcp::endpoint& endpoint);
  void run();
  void stop();
  unsigned short port() const { return port_; }

 private:
  void accept_next();
  void on_accept_error(const boost::system::error_code& error);

  ServerContext& context_;
  const Router& router_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // After a failed accept (EMFILE: out of file descriptors) the listener waits before the next one, so
  // a full fd table is not a busy loop of failing accept() calls; the kernel queues meanwhile.
  boost::asio::steady_timer retry_timer_;
  std::chrono::steady_clock::time_point last_error_log_{};
  std::uint64_t errors_since_log_ = 0;
  std::size_t next_shard_ = 0;
  unsigned short port_ = 0;
};

}  // namespace kabar
