#include "gateway/app/broker_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "broker-config/embedded_broker_config.h"

namespace kabar {
namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

bool port_accepts(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const std::string target = host == "0.0.0.0" ? "127.0.0.1" : host;
  ::inet_pton(AF_INET, target.c_str(), &address.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// Writes `text` to `path` readable by this user only (the file may exist from an earlier start).
void write_private_file(const std::filesystem::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw BrokerError("cannot write " + path.string() + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw BrokerError("cannot write " + path.string());
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) throw BrokerError("no randomness for a secret");
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : raw) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 15]);
  }
  return out;
}

// A value written into mosquitto.conf: a line break would let a setting (an issuer, a path) add lines.
void check_config_value(const std::string& key, const std::string& value) {
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) throw BrokerError("plugin_opt_" + key + ": control characters are not allowed");
  }
}

}  // namespace

BrokerProcess::BrokerProcess(BrokerProcessOptions options) : options_(std::move(options)) {
  dir_ = std::filesystem::absolute(options_.data_dir) / "broker";
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) throw BrokerError("cannot create " + dir_.string() + ": " + error.message());
  if (::access(options_.mosquitto.c_str(), X_OK) != 0) {
    throw BrokerError("cannot run the embedded broker: " + options_.mosquitto +
                      " is not an executable (install mosquitto, or set broker.embedded=false)");
  }
  if (port_accepts(options_.host, options_.port)) {
    throw BrokerError("cannot start the embedded broker: something already listens on " + options_.host + ":" +
                      std::to_string(options_.port) +
                      ". Use that broker with broker.embedded=false (KABAR_BROKER_EMBEDDED=false) or pick "
                      "another broker.port.");
  }
  if (options_.auth) write_internal_secret();
  const auto config_path = dir_ / "mosquitto.conf";
  write_private_file(config_path, render_config());

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const auto log_path = (dir_ / "mosquitto.log").string();
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> args = {options_.mosquitto, "-c", config_path.string()};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, options_.mosquitto.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw BrokerError("cannot start " + options_.mosquitto + ": " + std::strerror(rc));

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (!port_accepts(options_.host, options_.port)) {
    if (!running()) {
      pid_ = -1;
      throw BrokerError("the embedded mosquitto exited at start: " + log_tail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      throw BrokerError("the embedded mosquitto did not accept connections within " +
                        std::to_string(options_.start_timeout.count()) + " ms: " + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::info("embedded mosquitto (pid {}) listening on {}:{}, files in {}; {}", pid_, options_.host,
               options_.port, dir_.string(),
               options_.auth ? "clients held to the policy by " + options_.auth->plugin.filename().string()
                             : std::string("anonymous clients allowed"));
}

BrokerProcess::~BrokerProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100 && running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (running()) {
    spdlog::warn("embedded mosquitto did not stop in 5 s; killing it");
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool BrokerProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string BrokerProcess::render_config() const {
  std::string text(embedded_broker_config::find("mosquitto.conf.in"));
  // mosquitto started as root drops to user "mosquitto", which then cannot write our data folder.
  replace_all(text, "@USER_LINE@", ::geteuid() == 0 ? "user root" : "");
  replace_all(text, "@PORT@", std::to_string(options_.port));
  replace_all(text, "@HOST@", options_.host);
  replace_all(text, "@DATA_DIR@", dir_.string());
  replace_all(text, "@ACCESS@", render_access());
  return text;
}

std::string BrokerProcess::render_access() const {
  if (!options_.auth) return "allow_anonymous true";
  const EmbeddedBrokerAuth& auth = *options_.auth;
  std::string lines = "allow_anonymous false\nplugin " + auth.plugin.string() + "\n";
  auto option = [&lines](const std::string& key, const std::string& value) {
    check_config_value(key, value);
    lines += "plugin_opt_" + key + " " + value + "\n";
  };
  for (const auto& [key, value] : auth.plugin_options) option(key, value);
  option("internal_username", auth.internal_username);
  option("internal_secret_file", (dir_ / "internal.secret").string());
  // Next to mosquitto's persistence (persistence_location is dir_): the sessions it restores after a
  // restart keep their identity, so events published before kabar's bridge is back are queued for it.
  option("state_file", (dir_ / "kabar-auth.state").string());
  return lines;
}

// A new secret every start: nothing to rotate, and a copy of an old data folder opens nothing.
void BrokerProcess::write_internal_secret() {
  credentials_.username = options_.auth->internal_username;
  credentials_.password = random_hex(32);
  write_private_file(dir_ / "internal.secret", credentials_.password + "\n");
}

std::string BrokerProcess::log_tail() const {
  std::ifstream in(dir_ / "mosquitto.log");
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last.empty() ? "(no output; see " + (dir_ / "mosquitto.log").string() + ")" : last;
}

}  // namespace kabar
