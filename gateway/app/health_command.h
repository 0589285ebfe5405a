#pragma once
// `kabar health`: asks a running gateway's /readyz whether it is ready, for container healthchecks and
// service managers (docs/operations.md "Compose"). Exit 0 only when /readyz answers 200; 1 when it
// answers anything else, cannot be reached, or does not answer within --timeout-ms; 2 for bad usage.
//   kabar health [--config FILE] [--url http://HOST:PORT/readyz] [--timeout-ms 3000]
// Without --url the address is the configuration's (http.listen, http.port: the same file and KABAR_*
// variables `kabar serve` reads); a wildcard listen address (0.0.0.0, ::) is asked on the loopback.
// main() registers it and asks run() whether it was chosen.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace kabar {

struct HttpConfig;

// Where `kabar health` asks: http://<listen, or the loopback for a wildcard>:<port>/readyz.
std::string readiness_url(const HttpConfig& http);

class HealthCommand {
 public:
  explicit HealthCommand(CLI::App& app);
  // The exit code when `health` was given; nullopt otherwise. Throws ConfigError for a bad
  // configuration or URL (main turns it into exit code 2).
  std::optional<int> run() const;

 private:
  CLI::App* command_ = nullptr;
  std::string config_file_, url_;
  int timeout_ms_ = 3000;
};

}  // namespace kabar
