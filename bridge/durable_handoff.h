#pragma once
// DurableHandoff: how the bridge hands a message to the store without ever acknowledging what is not
// committed (docs/bridge.md "When the store cannot write").
//
// Debian's Paho C 1.3.12 sends the PUBACK right after the arrival callback returns, whatever it returns
// (a 0, which the C++ wrapper never returns anyway, only queues the message in Paho's memory, already
// acknowledged). So the callback may return only once the store committed: run() retries a failing
// attempt with backoff for as long as it takes (disk full, I/O error, another process holding the
// SQLite write lock) and logs at a bounded rate. The message stays unacknowledged at the broker meanwhile.
//
// The cost, by Paho's design: the callback runs on Paho's one receive thread holding Paho's global mutex,
// so while run() waits, no Paho client of the process reads, sends, pings or even answers is_connected().
// Past 1.5 x keepalive the broker drops kabar's connections; the held message is redelivered after the
// reconnect and the store's idempotent insert drops the copy.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace kabar {

struct HandoffOptions {
  std::chrono::milliseconds first_pause{100};   // after the first failure; doubles up to max_pause
  std::chrono::milliseconds max_pause{1000};
  std::chrono::milliseconds log_every{10000};   // "still failing" at most this often
};

class DurableHandoff {
 public:
  explicit DurableHandoff(HandoffOptions options = {}) : options_(options) {}

  // Calls attempt() until it returns without throwing, then returns. `what` names the message in logs.
  // Never gives up: returning is what acknowledges the message.
  void run(const std::function<void()>& attempt, const std::function<std::string()>& what);

  bool failing() const { return failing_.load(); }          // an attempt failed and none succeeded since
  std::uint64_t failures() const { return failures_.load(); }  // every failed attempt
  std::uint64_t stalls() const { return stalls_.load(); }      // episodes of failing (first failure of a message)

 private:
  HandoffOptions options_;
  std::atomic<bool> failing_{false};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> stalls_{0};
};

}  // namespace kabar
