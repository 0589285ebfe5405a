#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/histogram.h"

namespace kabar {
namespace {

using std::chrono::milliseconds;

TEST(Histogram, CountsEachObservationInTheFirstBucketThatHoldsIt) {
  Histogram histogram({0.01, 0.1, 1});
  histogram.observe(milliseconds(10));    // on the bound: le="0.01"
  histogram.observe(milliseconds(11));    // le="0.1"
  histogram.observe(milliseconds(1000));  // le="1"
  histogram.observe(milliseconds(5000));  // +Inf
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.bounds, (std::vector<double>{0.01, 0.1, 1}));
  EXPECT_EQ(snapshot.buckets, (std::vector<std::uint64_t>{1, 1, 1, 1}));
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 6.021);
}

TEST(Histogram, NegativeDurationsCountAsZero) {
  Histogram histogram({0.001});
  histogram.observe(milliseconds(-50));  // a publisher's clock ahead of ours
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.buckets[0], 1u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0);
}

TEST(Histogram, RefusesBoundsThatAreNotStrictlyAscending) {
  EXPECT_THROW(Histogram({}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, 0.5}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}), std::invalid_argument);
}

TEST(Histogram, StripesObservedFromManyThreadsAddUpExactly) {
  Histogram histogram({0.001, 0.01}, 4);
  constexpr int kThreads = 8, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 0; i < kEach; ++i)
        histogram.observe(milliseconds(i % 3 == 0 ? 5 : 0), static_cast<std::size_t>(t));
    });
  }
  for (auto& thread : threads) thread.join();
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, static_cast<std::uint64_t>(kThreads * kEach));
  const std::uint64_t fives = kThreads * ((kEach + 2) / 3);
  EXPECT_EQ(snapshot.buckets[1], fives);
  EXPECT_EQ(snapshot.buckets[0], snapshot.count - fives);
  EXPECT_NEAR(snapshot.sum, fives * 0.005, 1e-9);
}

}  // namespace
}  // namespace kabar
