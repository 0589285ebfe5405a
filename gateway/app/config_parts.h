#pragma once
// Private to gateway/app: the parts load_config (config.cpp) is made of, one job per file.
//   config_sources.cpp  the config file, the KABAR_* environment, and merging them over the defaults
//   config_apps.cpp     the `apps` section (Pusher apps, typed by gateway/pusher) and the development app
//   config_auth.cpp     the `auth` section: tokens and the policy
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/app/config.h"

namespace kabar {
namespace config_detail {

// ---- config_sources.cpp ----

// The file's JSON object; a ConfigError with the line number when it is not valid JSON.
nlohmann::json read_file_document(const std::filesystem::path& path);
// Objects merge key by key; anything else in `patch` (arrays included) replaces what `base` holds.
void merge_into(nlohmann::json& base, const nlohmann::json& patch);
// Sets the settings named by KABAR_* variables (KABAR_HTTP_PORT: http.port), typed like their defaults.
// Every scalar leaf of the defaults has exactly one name; other variables (KABAR_BIN...) are ignored.
void apply_environment(nlohmann::json& document, const std::map<std::string, std::string>& environment);

// ---- config_apps.cpp ----

// The development app "local" (Reverb's defaults), the `apps` of the defaults document.
PusherAppConfig default_app();
nlohmann::json apps_document(const std::vector<PusherAppConfig>& apps);
// One item of `apps`; its secret_file, if any, is read here.
PusherAppConfig app_from(const nlohmann::json& item);
// Ids and keys unique, activity_timeout positive.
void check_apps(const std::vector<PusherAppConfig>& apps);
// Decides whether the development app is served, and refuses its public secret beyond the loopback.
void settle_development_app(Config& config, bool apps_given);

// ---- config_auth.cpp ----

nlohmann::json auth_document(const AuthConfig& auth);
AuthConfig auth_from(const nlohmann::json& node);
// Loads the policy and the keys once: a mistake in them is a ConfigError at start.
void check_auth(const AuthConfig& auth);

}  // namespace config_detail
}  // namespace kabar
