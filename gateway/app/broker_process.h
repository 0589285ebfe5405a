#pragma once
// BrokerProcess: the mosquitto that `kabar serve` starts for itself when no external broker is
// configured. It owns the child process: started in the constructor, stopped in the destructor.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace kabar {

class BrokerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BrokerProcessOptions {
  std::string mosquitto = "/usr/sbin/mosquitto";
  std::string host = "127.0.0.1";
  int port = 1883;
  std::filesystem::path data_dir;  // the broker's files go to data_dir/broker/
  std::chrono::milliseconds start_timeout{5000};
};

class BrokerProcess {
 public:
  // Writes the config, starts mosquitto and waits until it accepts connections. Throws BrokerError
  // with mosquitto's own words (e.g. the port is taken) when it does not come up.
  explicit BrokerProcess(BrokerProcessOptions options);
  ~BrokerProcess();  // SIGTERM, then SIGKILL if it does not exit in time
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();

 private:
  std::string render_config() const;
  std::string log_tail() const;

  BrokerProcessOptions options_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

}  // namespace kabar
