#include "publisher.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "proc_stats.h"
#include "rest_publisher.h"

namespace kabar::bench {

bool Publisher::wait_acked(double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(timeout_s * 1000));
  while (acked() < published_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return acked() >= published_;
}

std::unique_ptr<Publisher> make_publisher(const Options& opt, const std::string& tag, int64_t total_events) {
  if (opt.via == Via::rest) return std::make_unique<RestPublisher>(opt, tag, total_events);
  return std::make_unique<MqttPublisher>(opt, tag, total_events);
}

std::string event_data(std::string_view bid, int64_t t_ns, const std::string& pad) {
  std::string data;
  data.reserve(pad.size() + 96);
  data.append(R"({"dokumen":{"id":1},)");
  if (!bid.empty()) data.append(R"("bid":")").append(bid).append("\",");
  data.append(R"("t_ns":)").append(std::to_string(t_ns));
  data.append(R"(,"pad":")").append(pad).append("\"}");
  return data;
}

// ---------------------------------------------------------------- MQTT

MqttPublisher::MqttPublisher(const Options& opt, const std::string& tag, int64_t total_events)
    : Publisher(total_events),
      opt_(opt),
      tag_(tag),
      bid_in_data_(opt.kind == Kind::pusher || opt.kind == Kind::socketio),
      pad_(std::size_t(opt.pad), 'x'),
      // Paho caps queued (not yet written) publishes at 100 by default; a burst queues them all at once.
      client_("tcp://" + opt.host + ":" + std::to_string(opt.mqtt_port), "kabar-loadgen-" + std::to_string(getpid()),
              mqtt::create_options(MQTTVERSION_3_1_1, 1 << 20), nullptr) {
  client_.set_callback(acks_);
}

MqttPublisher::~MqttPublisher() {
  try {
    disconnect();
  } catch (...) {
  }
}

void MqttPublisher::connect(double timeout_s) {
  auto options = mqtt::connect_options_builder().clean_session(true).keep_alive_interval(std::chrono::seconds(60))
                     .max_inflight(65535).finalize();
  auto token = client_.connect(options);
  if (!token->wait_for(std::chrono::milliseconds(int64_t(timeout_s * 1000))))
    throw std::runtime_error("publisher: MQTT connect timed out");
}

void MqttPublisher::publish(int64_t index) {
  const std::string id = "b-" + tag_ + "-" + std::to_string(index);
  const int64_t now = realtime_ns();
  std::string payload;
  payload.reserve(pad_.size() + 192);
  payload.append(R"({"id":")").append(id).append(R"(","event":"dokumen.updated","data":)");
  payload.append(event_data(bid_in_data_ ? id : "", now, pad_)).append("}");
  sent_ns_[std::size_t(index)] = now;
  client_.publish(opt_.topic, payload.data(), payload.size(), opt_.qos, false);
  ++published_;
}

void MqttPublisher::disconnect() {
  if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(5));
}

}  // namespace kabar::bench
