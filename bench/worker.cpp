#include "worker.h"

#include <chrono>
#include <cstdio>

#include "connections.h"

namespace kabar::bench {

namespace {
std::atomic<int> errors_noted{0};
constexpr int errors_printed = 5;
// MQTT keep-alive is 60 s; a PINGREQ every 20 s keeps idle mosquitto clients well inside it.
constexpr auto tick_period = std::chrono::seconds(20);
}  // namespace

Worker::Worker(const RunContext& ctx, int index, std::size_t expected_deliveries)
    : ctx_(ctx),
      index_(index),
      guard_(io_.get_executor()),
      tick_timer_(io_),
      recorder_(ctx.total_events, ctx.steady_events, expected_deliveries) {}

Worker::~Worker() {
  stop();
  // Close sockets while the io_context still exists; pending handlers are dropped with it.
  for (auto& c : connections_) c->abort();
  connections_.clear();
}

void Worker::start() {
  schedule_tick();
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::open(int count) {
  boost::asio::post(io_, [this, count] {
    to_open_ += count;
    launch_more();
  });
}

void Worker::stop() {
  guard_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void Worker::launch_more() {
  while (to_open_ > 0 && in_flight_ < ctx_.opt.connect_window) {
    --to_open_;
    ++in_flight_;
    auto serial = int(connections_.size());
    connections_.push_back(make_connection(*this, index_, serial));
    connections_.back()->start();
  }
}

void Worker::settled(bool ok) {
  (ok ? ready_ : failed_).fetch_add(1, std::memory_order_relaxed);
  --in_flight_;
  launch_more();
}

void Worker::dropped_after_ready() { dropped_.fetch_add(1, std::memory_order_relaxed); }

void Worker::note_error(std::string_view what) {
  int n = errors_noted.fetch_add(1);
  if (n < errors_printed) std::fprintf(stderr, "loadgen: %.*s\n", int(what.size()), what.data());
  if (n == errors_printed) std::fprintf(stderr, "loadgen: (further connection errors not shown)\n");
}

void Worker::schedule_tick() {
  tick_timer_.expires_after(tick_period);
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    for (auto& c : connections_) c->tick();
    schedule_tick();
  });
}

}  // namespace kabar::bench
