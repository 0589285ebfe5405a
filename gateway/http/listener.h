#pragma once
// Listener: accepts TCP connections and deals them round-robin to the I/O shards, where each lives
// its whole life (its socket, its sessions and its hub subscriptions stay on that one thread).
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <stdexcept>

#include "gateway/http/server_context.h"

namespace kabar {

class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds at once; throws ListenError ("cannot listen on 0.0.0.0:8080: Address already in use").
  Listener(ServerContext& context, boost::asio::io_context& accept_context, const boost::asio::ip::tcp::endpoint& endpoint);
  void run();
  void stop();
  unsigned short port() const { return port_; }

 private:
  void accept_next();

  ServerContext& context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::size_t next_shard_ = 0;
  unsigned short port_ = 0;
};

}  // namespace kabar
