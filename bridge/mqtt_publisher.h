#pragma once
// MqttPublisher: a small synchronous QoS 1 publisher (Paho), used by `kabar publish` and, later, by the
// HTTP publish API, which re-publishes to the broker so every node and app sees one stream.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kabar {

class PublishError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PublisherOptions {
  std::string server_uri = "tcp://127.0.0.1:1883";
  std::vector<std::string> failover_uris;  // the cluster's other brokers, tried in order after server_uri
  int mqtt_version = 5;                    // 5 or 3 (3.1.1), as BridgeOptions
  std::string client_id;  // empty: a random one
  std::string username;
  std::string password;
  std::chrono::milliseconds timeout{5000};
};

class MqttPublisher {
 public:
  explicit MqttPublisher(PublisherOptions options);  // connects; throws PublishError with the reason
  ~MqttPublisher();
  // Publishes and waits for the broker's PUBACK (qos 1) or the send (qos 0). Throws PublishError.
  void publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kabar
