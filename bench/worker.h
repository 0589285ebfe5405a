#pragma once
// One io_context on one thread holding many connections. Connections never leave their worker, so the
// hot path (read, scan, record) takes no lock; the main thread only posts work and polls counters.
#include <utility>  // before Asio: GCC 12 + Boost 1.74 need std::exchange declared first.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "options.h"
#include "stats.h"

namespace kabar::bench {

// Read-only facts every connection of a run needs.
struct RunContext {
  Options opt;
  boost::asio::ip::tcp::endpoint endpoint;
  std::string id_prefix;  // "b-<tag>-  : the start of this run's event ids
  int64_t total_events = 0;
  int64_t steady_events = 0;
};

class Connection;

class Worker {
 public:
  Worker(const RunContext& ctx, int index, std::size_t expected_deliveries);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void open(int count);  // thread-safe: connects `count` more, at most connect_window at a time
  void stop();           // stops the loop and joins; connections close when the Worker is destroyed

  // Polled by the main thread.
  uint64_t ready() const { return ready_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  Recorder& recorder() { return recorder_; }
  const Recorder& recorder() const { return recorder_; }

  // Used by connections, on this worker's thread.
  const RunContext& ctx() const { return ctx_; }
  boost::asio::io_context& io() { return io_; }
  void settled(bool ok);      // set-up finished: subscribed (ok) or failed
  void dropped_after_ready();  // a subscribed connection was closed
  static void note_error(std::string_view what);  // prints the first few, counts the rest

 private:
  void launch_more();
  void schedule_tick();

  const RunContext& ctx_;
  int index_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  boost::asio::steady_timer tick_timer_;
  std::thread thread_;
  Recorder recorder_;
  std::vector<std::shared_ptr<Connection>> connections_;
  int to_open_ = 0;
  int in_flight_ = 0;
  std::atomic<uint64_t> ready_{0}, failed_{0}, dropped_{0};
};

}  // namespace kabar::bench
