#include "publisher.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "proc_stats.h"

namespace kabar::bench {

Publisher::Publisher(const Options& opt, const std::string& tag, int64_t total_events)
    : opt_(opt),
      id_head_(R"({"id":"b-)" + tag + "-"),
      pad_(std::size_t(opt.pad), 'x'),
      // Paho caps queued (not yet written) publishes at 100 by default; a burst queues them all at once.
      client_("tcp://" + opt.host + ":" + std::to_string(opt.mqtt_port), "kabar-loadgen-" + std::to_string(getpid()),
              mqtt::create_options(MQTTVERSION_3_1_1, 1 << 20), nullptr),
      sent_ns_(std::size_t(total_events), 0) {
  client_.set_callback(acks_);
}

Publisher::~Publisher() {
  try {
    disconnect();
  } catch (...) {
  }
}

void Publisher::connect(double timeout_s) {
  auto options = mqtt::connect_options_builder().clean_session(true).keep_alive_interval(std::chrono::seconds(60))
                     .max_inflight(65535).finalize();
  auto token = client_.connect(options);
  if (!token->wait_for(std::chrono::milliseconds(int64_t(timeout_s * 1000))))
    throw std::runtime_error("publisher: MQTT connect timed out");
}

void Publisher::publish(int64_t index) {
  std::string payload;
  payload.reserve(id_head_.size() + pad_.size() + 128);
  int64_t now = realtime_ns();
  payload.append(id_head_).append(std::to_string(index));
  payload.append(R"(","event":"dokumen.updated","data":{"dokumen":{"id":1},"t_ns":)").append(std::to_string(now));
  payload.append(R"(,"pad":")").append(pad_).append("\"}}");
  sent_ns_[std::size_t(index)] = now;
  client_.publish(opt_.topic, payload.data(), payload.size(), opt_.qos, false);
  ++published_;
}

bool Publisher::wait_acked(double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(timeout_s * 1000));
  while (acked() < published_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return acked() >= published_;
}

void Publisher::disconnect() {
  if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(5));
}

}  // namespace kabar::bench
