#pragma once
// The backend side: Paho MQTT publishing envelopes to the broker's plain listener, as Laravel would.
#include <mqtt/async_client.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "options.h"

namespace kabar::bench {

class Publisher {
 public:
  // `tag` makes this run's event ids unique ("b-<tag>-<n>"): kabar drops an id it already stored.
  Publisher(const Options& opt, const std::string& tag, int64_t total_events);
  ~Publisher();

  void connect(double timeout_s);  // throws mqtt::exception
  // Stamps t_ns (CLOCK_REALTIME) into the payload and publishes event `index` without waiting for its ack.
  void publish(int64_t index);
  bool wait_acked(double timeout_s);  // all published events acknowledged (QoS 1) or sent (QoS 0)
  void disconnect();

  int64_t sent_ns(int64_t index) const { return sent_ns_[std::size_t(index)]; }
  uint64_t published() const { return published_; }
  uint64_t acked() const { return acks_.count.load(); }

 private:
  struct Acks : mqtt::callback {
    std::atomic<uint64_t> count{0};
    void delivery_complete(mqtt::delivery_token_ptr) override { count.fetch_add(1); }
  };

  const Options& opt_;
  std::string id_head_;  // {"id":"b-<tag>-
  std::string pad_;
  mqtt::async_client client_;
  Acks acks_;
  std::vector<int64_t> sent_ns_;
  uint64_t published_ = 0;
};

}  // namespace kabar::bench
