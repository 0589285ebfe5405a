#pragma once
// Delivery accounting. Each io thread owns one Recorder (no locks on the hot path); the main thread
// only polls its atomic counters while the run goes, and reads the vectors after the threads stopped.
#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace kabar::bench {

// What a receiver extracts from one delivered event of this run.
struct Scanned {
  int64_t index;    // n of the event id "b-<tag>-<n>"
  int64_t sent_ns;  // the publisher's t_ns
};

// Finds `id_prefix` ("b-<tag>-, unique to the run) and "t_ns" in a frame or a raw MQTT payload (also when
// they sit inside a JSON-encoded string, as in a Pusher event's `data`). A
// substring scan, not a JSON parse: it keeps the loadgen's cost per delivery far below the server's.
std::optional<Scanned> scan_event(std::string_view text, std::string_view id_prefix);

// True if the frame has "type":"<type>" (whitespace around the colon allowed) anywhere.
bool has_type(std::string_view frame, std::string_view type);

enum Phase { steady = 0, burst = 1 };

class alignas(64) Recorder {
 public:
  // Events 0..steady_events-1 belong to the steady phase, the rest (up to total_events) to the burst.
  Recorder(int64_t total_events, int64_t steady_events, std::size_t expected_deliveries);

  // Called on the owning thread for every delivery; false if the index is not one of this run's.
  bool record(const Scanned& event, int64_t now_ns);
  void count_unknown() { unknown_.fetch_add(1, std::memory_order_relaxed); }

  // Polled by the main thread.
  uint64_t delivered(Phase p) const { return delivered_[p].load(std::memory_order_relaxed); }
  uint64_t unknown() const { return unknown_.load(std::memory_order_relaxed); }

  // Read once the owning thread has stopped.
  std::vector<int64_t>& latencies(Phase p) { return latencies_[p]; }
  const std::vector<int64_t>& last_receive_ns() const { return last_receive_ns_; }
  const std::vector<uint32_t>& receivers() const { return receivers_; }

 private:
  int64_t steady_events_;
  std::array<std::atomic<uint64_t>, 2> delivered_{};
  std::atomic<uint64_t> unknown_{0};
  std::array<std::vector<int64_t>, 2> latencies_;  // ns, one per delivery
  std::vector<int64_t> last_receive_ns_;            // per event: latest receive time on this thread
  std::vector<uint32_t> receivers_;                 // per event: deliveries on this thread
};

struct Percentiles {
  uint64_t count = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

// Sorts `ns` in place.
Percentiles percentiles(std::vector<int64_t>& ns);

}  // namespace kabar::bench
