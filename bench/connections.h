#pragma once
// Subscriber connections: kabar /ws, kabar /sse, MQTT over WebSocket (mosquitto), Pusher (kabar /app) and
// Socket.IO (laravel-echo-server). All sit on a raw TCP socket with one receive buffer that grows only
// for busy connections, and read as much as the buffer holds per syscall (Beast's WebSocket stream reads 1.5 KB at a time, which would make the
// loadgen, not the server, the busy party during a burst).
#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared first.

#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "worker.h"

namespace kabar::bench {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(Worker& worker);
  virtual ~Connection() = default;

  void start();    // connect, send request(), then read
  void abort();    // close the socket now (end of run)
  virtual void tick() {}  // called every few seconds on the worker thread

 protected:
  virtual std::string request() = 0;                       // the HTTP request that opens the stream
  virtual bool on_head(std::string_view head) = 0;         // response head; false refuses it
  virtual std::size_t on_bytes(char* data, std::size_t n) = 0;  // returns bytes consumed

  void send(std::string bytes);  // writes are queued: one async_write at a time
  void mark_ready();             // subscribed: counts once
  void fail(std::string_view stage, std::string_view why);
  void deliver(std::string_view text);  // a frame/payload carrying an event: scan and record
  bool ready() const { return ready_; }
  bool dead() const { return dead_; }
  Worker& worker_;

 private:
  void read();
  bool on_read(std::size_t n);
  bool take_head();
  void write_next();

  boost::asio::ip::tcp::socket socket_;
  std::string rx_;  // received, not yet consumed: [0, rx_len_)
  std::size_t rx_len_ = 0;
  bool head_done_ = false;
  bool ready_ = false;
  bool dead_ = false;
  std::deque<std::string> tx_;
};

std::shared_ptr<Connection> make_connection(Worker& worker, int worker_index, int serial);

// pusher_connections.cpp: Pusher protocol 7 (kabar /app/{key}) and Socket.IO 2 (laravel-echo-server).
std::shared_ptr<Connection> make_pusher_connection(Worker& worker);
std::shared_ptr<Connection> make_socketio_connection(Worker& worker);

}  // namespace kabar::bench
