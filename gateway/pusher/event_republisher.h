#pragma once
// EventRepublisher: the Pusher REST API's way into the one delivery path. An HTTP-published event is
// not delivered directly: it is published to the broker (QoS 1, topic kabar/c/<channel>, an envelope
// with a new event id) and comes back through bridge -> store -> hub like every other event, so every
// gateway node and every MQTT app sees it, in one order per channel.
//
// Publishing waits for the broker's PUBACK, so it runs on its own threads, never on an I/O shard.
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bridge/event_id.h"
#include "bridge/mqtt_publisher.h"

namespace kabar {

struct OutgoingEvent {
  std::string channel;
  std::string name;
  std::string data_json;  // the envelope's data as JSON text: a quoted string for Pusher publishes
  std::string socket_id;  // the publisher's socket to leave out (toOthers); empty: none
  std::string app;        // the id of the app whose REST API published it: only that app delivers it
};

class EventRepublisher {
 public:
  // error: empty on success (every PUBACK received), else why the broker did not take the events.
  using Done = std::function<void(std::optional<std::string> error)>;

  EventRepublisher(PublisherOptions options, std::size_t threads);
  ~EventRepublisher();

  // Any thread; `done` runs on a publishing thread.
  void publish(std::vector<OutgoingEvent> events, Done done);
  // Finishes the publishes under way, then refuses new ones (done gets an error).
  void stop();

  static std::string topic_for(const std::string& channel) { return "kabar/c/" + channel; }
  static std::string envelope_json(const OutgoingEvent& event, const std::string& id);

 private:
  std::optional<std::string> publish_now(const std::vector<OutgoingEvent>& events);
  MqttPublisher& publisher();  // connects on first use, so kabar starts even while the broker is down

  PublisherOptions options_;
  EventIdGenerator ids_;
  boost::asio::thread_pool pool_;
  std::mutex mutex_;
  std::unique_ptr<MqttPublisher> publisher_;
  bool stopped_ = false;
};

}  // namespace kabar
