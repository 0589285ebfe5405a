#include "gateway/pusher/app_registry.h"

namespace kabar {

AppRegistry::AppRegistry(const std::vector<PusherAppConfig>& apps) {
  apps_.reserve(apps.size());
  for (const auto& config : apps) apps_.push_back(std::make_shared<PusherApp>(config));
}

std::shared_ptr<PusherApp> AppRegistry::by_key(std::string_view key) const {
  for (const auto& app : apps_) {
    if (app->key() == key) return app;
  }
  return nullptr;
}

std::shared_ptr<PusherApp> AppRegistry::by_id(std::string_view id) const {
  for (const auto& app : apps_) {
    if (app->id() == id) return app;
  }
  return nullptr;
}

}  // namespace kabar
