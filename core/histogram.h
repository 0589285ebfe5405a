#pragma once
// Histogram: durations counted into fixed buckets, for /metrics (Prometheus `histogram`, in seconds).
// Any thread observes without a lock: every bucket, the count and the sum are relaxed atomics. Sessions
// on several I/O shards observe the same histogram once per delivered event, so it is striped: each
// observer passes its shard, and shards write different cache lines; a scrape adds the stripes up
// (snapshot()). A snapshot taken while others observe may be off by the observations in flight (as any
// set of relaxed counters); every value is still one that was counted.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <vector>

namespace kabar {

// What a scrape renders: per-bucket counts (not cumulative), the last one for +Inf.
struct HistogramSnapshot {
  std::vector<double> bounds;          // upper bounds in seconds, ascending; +Inf is implied
  std::vector<std::uint64_t> buckets;  // bounds.size() + 1 entries
  std::uint64_t count = 0;
  double sum = 0;  // seconds
};

class Histogram {
 public:
  static constexpr std::size_t kMaxBounds = 16;

  // `bounds`: ascending upper bounds in seconds (at most kMaxBounds); `stripes`: how many observers
  // write without sharing a cache line (the number of I/O shards; 1 for a single writer thread).
  explicit Histogram(std::initializer_list<double> bounds, std::size_t stripes = 1)
      : bounds_(bounds),
        stripe_count_(std::max<std::size_t>(1, stripes)),
        stripes_(std::make_unique<Stripe[]>(stripe_count_)) {
    if (bounds_.empty() || bounds_.size() > kMaxBounds || !std::is_sorted(bounds_.begin(), bounds_.end()) ||
        std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
      throw std::invalid_argument("histogram bounds: 1 to 16 strictly ascending values");
    for (std::size_t i = 0; i < bounds_.size(); ++i)
      bound_ns_[i] = static_cast<std::int64_t>(bounds_[i] * 1e9);
  }
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // A negative duration (a clock stepped back, a publisher's clock ahead of ours) counts as 0.
  void observe(std::chrono::nanoseconds duration, std::size_t stripe = 0) {
    const std::int64_t ns = std::max<std::int64_t>(0, duration.count());
    std::size_t bucket = 0;
    while (bucket < bounds_.size() && ns > bound_ns_[bucket]) ++bucket;
    Stripe& mine = stripes_[stripe % stripe_count_];
    mine.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    mine.sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }

  HistogramSnapshot snapshot() const {
    HistogramSnapshot out;
    out.bounds = bounds_;
    out.buckets.assign(bounds_.size() + 1, 0);
    std::uint64_t sum_ns = 0;
    for (std::size_t s = 0; s < stripe_count_; ++s) {
      for (std::size_t b = 0; b <= bounds_.size(); ++b)
        out.buckets[b] += stripes_[s].buckets[b].load(std::memory_order_relaxed);
      sum_ns += stripes_[s].sum_ns.load(std::memory_order_relaxed);
    }
    for (const auto n : out.buckets) out.count += n;
    out.sum = static_cast<double>(sum_ns) / 1e9;
    return out;
  }

 private:
  struct alignas(64) Stripe {
    std::array<std::atomic<std::uint64_t>, kMaxBounds + 1> buckets{};
    std::atomic<std::uint64_t> sum_ns{0};  // 2^64 ns is 584 years of observed time
  };

  std::vector<double> bounds_;
  std::array<std::int64_t, kMaxBounds> bound_ns_{};
  std::size_t stripe_count_;
  std::unique_ptr<Stripe[]> stripes_;
};

}  // namespace kabar
