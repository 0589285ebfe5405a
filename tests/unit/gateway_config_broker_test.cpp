// broker.servers and broker.mqtt_version (gateway/app/config.cpp): a broker cluster's list, each item with
// a port and never with the embedded broker; the version is 3 (3.1.1) or 5, from a file or KABAR_*.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "bridge/mqtt_client_setup.h"
#include "bridge/schema_registry.h"
#include "gateway/app/config.h"

namespace kabar {
namespace {
using nlohmann::json;

std::string load_error(const json& broker, std::map<std::string, std::string> environment = {}) {
  const SchemaRegistry schemas;
  ConfigSources sources;
  sources.overrides = {{"broker", broker}};
  sources.environment = std::move(environment);
  try {
    load_config(sources, schemas);
    return "";
  } catch (const ConfigError& error) {
    return error.what();
  }
}

TEST(BrokerConfig, DefaultsAreOneBrokerAndMqtt5) {
  const SchemaRegistry schemas;
  const Config config = load_config(ConfigSources{}, schemas);
  EXPECT_EQ(config.broker.servers, "");
  EXPECT_EQ(config.broker.mqtt_version, 5);
}

TEST(BrokerConfig, AClusterListAndMqtt311Load) {
  const SchemaRegistry schemas;
  ConfigSources sources;
  sources.environment = {{"KABAR_BROKER_SERVERS", "127.0.0.1:1884, tcp://10.0.0.2:1883"},
                         {"KABAR_BROKER_MQTT_VERSION", "3"},
                         {"KABAR_BROKER_EMBEDDED", "false"}};
  const Config config = load_config(sources, schemas);
  EXPECT_EQ(config.broker.mqtt_version, 3);
  EXPECT_EQ(parse_mqtt_servers(config.broker.servers),
            (std::vector<std::string>{"tcp://127.0.0.1:1884", "tcp://10.0.0.2:1883"}));
}

TEST(BrokerConfig, BadSettingsAreRefusedWithTheirName) {
  EXPECT_NE(load_error({{"mqtt_version", 4}}).find("mqtt_version"), std::string::npos);
  EXPECT_NE(load_error({{"embedded", false}, {"servers", "127.0.0.1"}}).find("has no port"),
            std::string::npos);
  EXPECT_NE(load_error({{"embedded", false}, {"servers", " , "}}).find("names no broker"), std::string::npos);
  EXPECT_NE(load_error({{"servers", "127.0.0.1:1884"}}).find("broker.embedded is true"), std::string::npos);
  EXPECT_EQ(load_error({{"embedded", false}, {"servers", "a:1,b:2"}}), "");
}

TEST(MqttServers, HostPortGetsTcpAndEmptyItemsAreSkipped) {
  EXPECT_EQ(parse_mqtt_servers(""), std::vector<std::string>{});
  EXPECT_EQ(parse_mqtt_servers("h:1,,ssl://x:8883 "),
            (std::vector<std::string>{"tcp://h:1", "ssl://x:8883"}));
  EXPECT_THROW(parse_mqtt_servers("tcp://h"), std::invalid_argument);
  EXPECT_THROW(parse_mqtt_servers("h:"), std::invalid_argument);
  EXPECT_THROW(paho_mqtt_version(4), std::invalid_argument);
}

}  // namespace
}  // namespace kabar
