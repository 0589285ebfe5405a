#include "bridge/mqtt_client_setup.h"

#include <stdexcept>

namespace kabar {

int paho_mqtt_version(int mqtt_version) {
  if (mqtt_version == 5) return MQTTVERSION_5;
  if (mqtt_version == 3) return MQTTVERSION_3_1_1;
  throw std::invalid_argument("MQTT version must be 3 (3.1.1) or 5, not " + std::to_string(mqtt_version));
}

void set_mqtt_servers(mqtt::connect_options& options, const std::string& first,
                      const std::vector<std::string>& more) {
  if (more.empty()) return;
  std::vector<std::string> all{first};
  all.insert(all.end(), more.begin(), more.end());
  options.set_servers(mqtt::string_collection::create(all));
}

std::vector<std::string> parse_mqtt_servers(const std::string& list) {
  std::vector<std::string> servers;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? std::string() : item.substr(first, last - first + 1);
    if (!item.empty()) {
      if (item.find("://") == std::string::npos) item = "tcp://" + item;
      const auto colon = item.rfind(':');
      if (colon == std::string::npos || colon < item.find("://") + 3 || colon + 1 == item.size())
        throw std::invalid_argument("broker server '" + item + "' has no port (host:port)");
      servers.push_back(item);
    }
    start = end + 1;
  }
  return servers;
}

}  // namespace kabar
