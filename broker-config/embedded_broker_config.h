#pragma once
// broker-config/mosquitto.conf.in, compiled into the binary (see gateway/CMakeLists.txt).
#include <map>
#include <string>
#include <string_view>

namespace kabar::embedded_broker_config {
const std::map<std::string, std::string_view>& all();
std::string_view find(const std::string& name);
}  // namespace kabar::embedded_broker_config
