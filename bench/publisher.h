#pragma once
// The backend side. Every publisher stamps t_ns (CLOCK_REALTIME) into the event's data when publish() is
// called and sends event `index` without waiting for the server's answer; acknowledgements are counted
// as they come. MqttPublisher is Paho on the broker's plain listener, as Laravel's MQTT bridges or a
// backend would publish; RestPublisher (rest_publisher.h) is the server's HTTP publish API.
#include <mqtt/async_client.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "options.h"

namespace kabar::bench {

class Publisher {
 public:
  virtual ~Publisher() = default;

  virtual void connect(double timeout_s) = 0;  // throws on failure
  virtual void publish(int64_t index) = 0;
  virtual uint64_t acked() const = 0;  // events the server accepted (QoS 1 PUBACK, HTTP 200)
  virtual void disconnect() = 0;

  bool wait_acked(double timeout_s);  // every published event acknowledged (QoS 0: sent)
  int64_t sent_ns(int64_t index) const { return sent_ns_[std::size_t(index)]; }
  uint64_t published() const { return published_; }

 protected:
  explicit Publisher(int64_t total_events) : sent_ns_(std::size_t(total_events), 0) {}
  std::vector<int64_t> sent_ns_;
  uint64_t published_ = 0;
};

// The publisher --publish asks for. `tag` makes this run's event ids unique ("b-<tag>-<n>"): kabar
// drops an id it already stored.
std::unique_ptr<Publisher> make_publisher(const Options& opt, const std::string& tag, int64_t total_events);

// The event's data object: {"dokumen":{"id":1},["bid":"b-<tag>-<n>",]"t_ns":<ns>,"pad":"xxx…"}. `bid`
// carries the id where the frame a client receives has no event id of its own (Pusher, Socket.IO).
std::string event_data(std::string_view bid, int64_t t_ns, const std::string& pad);

class MqttPublisher final : public Publisher {
 public:
  MqttPublisher(const Options& opt, const std::string& tag, int64_t total_events);
  ~MqttPublisher() override;

  void connect(double timeout_s) override;  // throws mqtt::exception
  void publish(int64_t index) override;
  uint64_t acked() const override { return acks_.count.load(); }
  void disconnect() override;

 private:
  struct Acks : mqtt::callback {
    std::atomic<uint64_t> count{0};
    void delivery_complete(mqtt::delivery_token_ptr) override { count.fetch_add(1); }
  };

  const Options& opt_;
  std::string tag_;
  bool bid_in_data_;  // the subscribers see only `data` (Pusher, Socket.IO), not the envelope's id
  std::string pad_;
  mqtt::async_client client_;
  Acks acks_;
};

}  // namespace kabar::bench
