#pragma once
// AppRegistry: the configured Pusher apps, found by key (WebSocket /app/{key}) or id (REST /apps/{id}).
// Built once at start and read-only afterwards, so lookups need no lock.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/pusher/pusher_app.h"

namespace kabar {

class AppRegistry {
 public:
  explicit AppRegistry(const std::vector<PusherAppConfig>& apps);

  std::shared_ptr<PusherApp> by_key(std::string_view key) const;
  std::shared_ptr<PusherApp> by_id(std::string_view id) const;
  const std::vector<std::shared_ptr<PusherApp>>& all() const { return apps_; }

 private:
  std::vector<std::shared_ptr<PusherApp>> apps_;  // a handful: a linear scan beats hashing
};

}  // namespace kabar
