#pragma once
// What every MQTT client kabar makes (the bridge's sessions, MqttPublisher, the Pusher cluster link)
// sets the same way: the protocol version and the brokers to try. docs/bridge.md "MQTT 3.1.1 and broker
// clusters".
#include <mqtt/connect_options.h>

#include <string>
#include <vector>

namespace kabar {

// 5 (MQTT 5, the default) or 3 (MQTT 3.1.1, for brokers without v5 such as RabbitMQ 3.10's MQTT plugin).
// Throws std::invalid_argument for anything else.
int paho_mqtt_version(int mqtt_version);

// Every broker of a cluster, the first being the one the Paho client was created with: Paho tries them in
// order at every connect and reconnect, so a client whose broker died lands on the next one that answers.
// With one URI nothing is set (Paho uses the one it was created with).
void set_mqtt_servers(mqtt::connect_options& options, const std::string& first,
                      const std::vector<std::string>& more);

// "host:port,tcp://host2:port2" -> {"tcp://host:port", "tcp://host2:port2"}: a plain host:port gets tcp://.
// Empty items are skipped. Throws std::invalid_argument for an item without a port.
std::vector<std::string> parse_mqtt_servers(const std::string& list);

}  // namespace kabar
