#include "bridge/durable_handoff.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace kabar {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

void DurableHandoff::run(const std::function<void()>& attempt, const std::function<std::string()>& what) {
  std::uint64_t attempts = 0;
  Clock::time_point started{};
  Clock::time_point next_log{};
  std::chrono::milliseconds pause = options_.first_pause;
  for (;;) {
    try {
      attempt();
      if (attempts > 0) {
        failing_ = false;
        spdlog::warn("store writes work again after {:.1f} s and {} failed attempts: {} stored, MQTT ingest "
                     "resumed",
                     seconds_since(started), attempts, what());
      }
      return;
    } catch (const std::exception& error) {
      ++failures_;
      const auto now = Clock::now();
      if (++attempts == 1) {
        started = now;
        next_log = now + options_.log_every;
        failing_ = true;
        ++stalls_;
        spdlog::error("store write failed for {}: {}; the message stays unacknowledged at the broker and "
                      "MQTT ingest waits, retrying, until the store works (/readyz 503 meanwhile)",
                      what(), error.what());
      } else if (now >= next_log) {
        next_log = now + options_.log_every;
        spdlog::error("store still failing after {:.0f} s ({} attempts) for {}: {}", seconds_since(started),
                      attempts, what(), error.what());
      }
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, options_.max_pause);
  }
}

}  // namespace kabar
