#include "bridge/mqtt_publisher.h"

#include <mqtt/async_client.h>

#include <mutex>
#include <random>

#include "bridge/mqtt_client_setup.h"

namespace kabar {
namespace {

constexpr int kMaxQueuedPublishes = 10000;

std::string random_client_id() {
  std::random_device device;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id = "kabar-pub-";
  for (int i = 0; i < 12; ++i) id += "0123456789abcdef"[hex(device)];
  return id;
}

void check_publish_arguments(const std::string& topic, int qos) {
  if (topic.empty()) throw PublishError("cannot publish: the topic is empty");
  if (topic.find_first_of("+#") != std::string::npos)
    throw PublishError("cannot publish to '" + topic + "': '+' and '#' are only allowed in subscriptions");
  if (topic.find('\0') != std::string::npos) throw PublishError("cannot publish: the topic contains a NUL");
  if (qos < 0 || qos > 2)
    throw PublishError("cannot publish: qos must be 0, 1 or 2, not " + std::to_string(qos));
}

}  // namespace

struct MqttPublisher::Impl {
  explicit Impl(PublisherOptions options_in) : options(std::move(options_in)) {
    if (options.client_id.empty()) options.client_id = random_client_id();
    try {
      // Paho refuses a publish with -12 ("No more messages can be buffered") once 100 commands wait in its
      // queue; concurrent HTTP publishers reach that in a burst, so allow many more.
      client = std::make_unique<mqtt::async_client>(
          options.server_uri, options.client_id,
          mqtt::create_options(paho_mqtt_version(options.mqtt_version), kMaxQueuedPublishes), nullptr);
    } catch (const std::exception& e) {  // mqtt::exception, or a bad mqtt_version
      throw PublishError("cannot connect to " + options.server_uri + ": " + e.what());
    }
    // Set in place, never copied: see configure_connect_options in mqtt_bridge.cpp (Paho C++ 1.2.0).
    connect_options.set_mqtt_version(paho_mqtt_version(options.mqtt_version));
    if (options.mqtt_version == 5) {
      connect_options.set_clean_start(true);
    } else {
      connect_options.set_clean_session(true);
    }
    set_mqtt_servers(connect_options, options.server_uri, options.failover_uris);
    connect_options.set_connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(options.timeout) +
                                        std::chrono::seconds(1));
    if (!options.username.empty()) connect_options.set_user_name(options.username);
    if (!options.password.empty()) connect_options.set_password(options.password);
  }

  ~Impl() {
    try {
      if (client->is_connected()) client->disconnect()->wait_for(options.timeout);
    } catch (const mqtt::exception&) {
      // Going away either way; the broker notices the closed socket.
    }
  }

  void connect() {
    const std::string failure = "cannot connect to " + options.server_uri + ": ";
    try {
      if (!client->connect(connect_options)->wait_for(options.timeout))
        throw PublishError(failure + "no answer within " + std::to_string(options.timeout.count()) + " ms");
    } catch (const mqtt::exception& e) {
      throw PublishError(failure + e.what());
    }
  }

  // A long-lived publisher (the HTTP publish API) reconnects on demand instead of failing forever.
  void ensure_connected() {
    std::lock_guard lock(connect_mutex);
    if (!client->is_connected()) connect();
  }

  PublisherOptions options;
  std::unique_ptr<mqtt::async_client> client;
  mqtt::connect_options connect_options;
  std::mutex connect_mutex;
};

MqttPublisher::MqttPublisher(PublisherOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->connect();
}

MqttPublisher::~MqttPublisher() = default;

void MqttPublisher::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  check_publish_arguments(topic, qos);
  impl_->ensure_connected();
  const std::string failure = "publish to '" + topic + "' failed: ";
  try {
    auto token = impl_->client->publish(mqtt::make_message(topic, payload, qos, retain));
    if (!token->wait_for(impl_->options.timeout))
      throw PublishError(failure + "not acknowledged within " +
                         std::to_string(impl_->options.timeout.count()) + " ms");
  } catch (const mqtt::exception& e) {
    throw PublishError(failure + e.what());
  }
}

}  // namespace kabar
