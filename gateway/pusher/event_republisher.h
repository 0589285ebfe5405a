#pragma once
// EventRepublisher: the Pusher REST API's way into the one delivery path. An HTTP-published event is
// not delivered directly: it is published to the broker (QoS 1, an envelope with a new event id) and
// comes back through bridge -> store -> hub like every other event, so every gateway node and every MQTT
// app sees it, in one order per channel.
//
// The topic is the one a route maps to the channel (RouteTable::topic_for_channel: private-cabang.3 ->
// cabang/3/omset), so the mobile apps that the policy lets read that route's topics receive it; a channel
// no route yields goes to kabar/c/<channel>. The envelope's data is the JSON the publisher's data string
// holds (Laravel sends json_encode($payload) as a string), so MQTT clients get an object, not a string.
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
#include "bridge/routes.h"

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

  EventRepublisher(PublisherOptions options, std::size_t threads, const RouteTable& routes);
  ~EventRepublisher();

  // Any thread; `done` runs on a publishing thread.
  void publish(std::vector<OutgoingEvent> events, Done done);
  // Finishes the publishes under way, then refuses new ones (done gets an error).
  void stop();

  std::string topic_for(const std::string& channel) const;
  static std::string envelope_json(const OutgoingEvent& event, const std::string& id);
  // The envelope's data: the JSON a string holds when it holds a JSON value other than a string, embedded
  // as the publisher wrote it; anything else (not JSON, a JSON string, data that was no string) unchanged.
  static std::string envelope_data(const std::string& data_json);

 private:
  std::optional<std::string> publish_now(const std::vector<OutgoingEvent>& events);
  MqttPublisher& publisher();  // connects on first use, so kabar starts even while the broker is down

  PublisherOptions options_;
  const RouteTable& routes_;
  EventIdGenerator ids_;
  boost::asio::thread_pool pool_;
  std::mutex mutex_;
  std::unique_ptr<MqttPublisher> publisher_;
  bool stopped_ = false;
};

}  // namespace kabar
