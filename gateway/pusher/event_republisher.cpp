#include "gateway/pusher/event_republisher.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "gateway/hub/frame.h"

namespace kabar {

EventRepublisher::EventRepublisher(PublisherOptions options, std::size_t threads, const RouteTable& routes)
    : options_(std::move(options)), routes_(routes), pool_(threads) {
  // Connecting takes Paho a second or two: do it now rather than in the first publisher's request.
  boost::asio::post(pool_, [this] {
    try {
      publisher();
    } catch (const PublishError& error) {
      spdlog::info("REST publisher not connected yet ({}); it retries on the first publish", error.what());
    }
  });
}

EventRepublisher::~EventRepublisher() { stop(); }

std::string EventRepublisher::topic_for(const std::string& channel) const {
  return routes_.topic_for_channel(channel).value_or("kabar/c/" + channel);
}

// What Pusher clients receive stays the same object: the bridge stores an object's compact JSON, and the
// Pusher frame carries it JSON-encoded in a string (encode_pusher_event), which pusher-js parses as it
// parsed the publisher's string. A JSON string inside the string is left alone: unwrapped, the client
// would get the inner text, which it would parse once more.
std::string EventRepublisher::envelope_data(const std::string& data_json) {
  const nlohmann::json data = nlohmann::json::parse(data_json, nullptr, /*allow_exceptions=*/false);
  if (!data.is_string()) return data_json;
  const std::string& text = data.get_ref<const std::string&>();
  const nlohmann::json inner = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (inner.is_discarded() || inner.is_string()) return data_json;
  return text;
}

std::string EventRepublisher::envelope_json(const OutgoingEvent& event, const std::string& id) {
  std::string json = R"({"id":)" + json_quote(id) + R"(,"event":)" + json_quote(event.name) + R"(,"data":)" +
                     envelope_data(event.data_json);
  if (!event.socket_id.empty()) json.append(R"(,"socket_id":)").append(json_quote(event.socket_id));
  if (!event.app.empty()) json.append(R"(,"app":)").append(json_quote(event.app));
  json += '}';
  return json;
}

void EventRepublisher::publish(std::vector<OutgoingEvent> events, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      done("the server is shutting down");
      return;
    }
  }
  boost::asio::post(
      pool_, [this, events = std::move(events), done = std::move(done)] { done(publish_now(events)); });
}

std::optional<std::string> EventRepublisher::publish_now(const std::vector<OutgoingEvent>& events) {
  try {
    MqttPublisher& mqtt = publisher();
    for (const auto& event : events) {
      mqtt.publish(topic_for(event.channel), envelope_json(event, ids_.next(unix_ms())), 1, false);
    }
    return std::nullopt;
  } catch (const PublishError& error) {
    spdlog::warn("REST publish: the broker did not take the event: {}", error.what());
    return std::string(error.what());
  }
}

MqttPublisher& EventRepublisher::publisher() {
  std::lock_guard lock(mutex_);
  if (!publisher_) publisher_ = std::make_unique<MqttPublisher>(options_);
  return *publisher_;
}

void EventRepublisher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  pool_.join();
  std::lock_guard lock(mutex_);
  publisher_.reset();
}

}  // namespace kabar
