#pragma once
// BrokerProcess: the mosquitto that `kabar serve` starts for itself when no external broker is
// configured. It owns the child process: started in the constructor, stopped in the destructor, and
// killed by the kernel with kabar, however kabar ends (WatchedChild).
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/app/child_process.h"

namespace kabar {

class BrokerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The embedded broker guarded by kabar_auth_plugin.so (docs/authorization.md "The embedded broker").
struct EmbeddedBrokerAuth {
  std::filesystem::path plugin;  // kabar_auth_plugin.so
  // plugin_opt_<key> <value> lines: the policy and the JWT settings, the same as kabar's own doors use.
  std::vector<std::pair<std::string, std::string>> plugin_options;
  std::string internal_username = "kabar-internal";
};

struct BrokerProcessOptions {
  std::string mosquitto = "/usr/sbin/mosquitto";
  std::string host = "127.0.0.1";
  int port = 1883;
  // `port` taken by a process kabar did not start (Debian's mosquitto.service on 1883): listen on a free
  // port instead and say which (true), or refuse to start (false). docs/operations.md "Running".
  bool port_fallback = true;
  std::filesystem::path data_dir;  // the broker's files go to data_dir/broker/
  std::chrono::milliseconds start_timeout{5000};
  std::optional<EmbeddedBrokerAuth> auth;  // none: anonymous clients, no plugin (the loopback default)
};

// What kabar's own MQTT clients log in with (empty without auth). The password is a random secret made
// for this start; it exists in memory and in a 0600 file the plugin reads, never in a log.
struct BrokerCredentials {
  std::string username;
  std::string password;
};

class BrokerProcess {
 public:
  // Stops a mosquitto an earlier kabar left running on this data folder, writes the config, starts
  // mosquitto and waits until it accepts connections. Throws BrokerError with mosquitto's own words
  // (e.g. the port is taken) when it does not come up.
  explicit BrokerProcess(BrokerProcessOptions options);
  ~BrokerProcess();  // SIGTERM, then SIGKILL if it does not exit in time
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  pid_t pid() const { return child_ ? child_->pid() : -1; }
  int port() const { return port_; }  // where it listens: options.port, or the free one it fell back to
  const BrokerCredentials& credentials() const { return credentials_; }
  bool running() const { return child_ && child_->running(); }

 private:
  std::string render_config() const;
  std::string render_access() const;
  void write_internal_secret();
  std::string log_tail() const;
  std::vector<std::string> command() const;
  void choose_port();

  BrokerProcessOptions options_;
  std::filesystem::path dir_;
  int port_ = 0;
  std::optional<WatchedChild> child_;
  BrokerCredentials credentials_;
};

}  // namespace kabar
