#include "gateway/app/broker_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

// The IPv4 address to reach (or bind) `host` at: 0.0.0.0 is reached at the loopback.
in_addr ipv4_of(const std::string& host, bool to_connect) {
  in_addr address{};
  if (host == "0.0.0.0" && !to_connect) return address;
  if (host == "0.0.0.0" || ::inet_pton(AF_INET, host.c_str(), &address) != 1) {
    ::inet_pton(AF_INET, "127.0.0.1", &address);
  }
  return address;
}

bool port_accepts(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr = ipv4_of(host, true);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// A port free on `host` right now. Another program may take it before mosquitto binds: mosquitto then
// exits at start and kabar stops with its words.
int free_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw BrokerError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr = ipv4_of(host, false);
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw BrokerError("cannot find a free port on " + host + ": " + std::strerror(errno));
  return ntohs(address.sin_port);
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

BrokerProcess::BrokerProcess(BrokerProcessOptions options) : options_(std::move(options)), port_(options_.port) {
  dir_ = std::filesystem::absolute(options_.data_dir) / "broker";
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) throw BrokerError("cannot create " + dir_.string() + ": " + error.message());
  if (::access(options_.mosquitto.c_str(), X_OK) != 0) {
    throw BrokerError("cannot run the embedded broker: " + options_.mosquitto +
                      " is not an executable (install mosquitto, or set broker.embedded=false)");
  }
  // The broker of a kabar that died: one from a version without WatchedChild, or one still saving its
  // sessions after the kernel told it kabar is gone. It holds this folder's files and our port.
  try {
    if (const pid_t old = stop_leftover(dir_ / "mosquitto.pid", command(), std::chrono::seconds(10)))
      spdlog::warn("stopped the embedded mosquitto (pid {}) an earlier kabar left running on {}", old, dir_.string());
  } catch (const ChildError& leftover) {
    throw BrokerError(leftover.what());
  }
  choose_port();
  if (options_.auth) write_internal_secret();
  write_private_file(dir_ / "mosquitto.conf", render_config());

  try {
    // SIGTERM when kabar dies: mosquitto saves the messages queued for kabar's session on its way out.
    child_.emplace(command(), dir_ / "mosquitto.log", SIGTERM);
  } catch (const ChildError& spawn_error) {
    throw BrokerError(spawn_error.what());
  }
  write_private_file(dir_ / "mosquitto.pid", std::to_string(child_->pid()) + "\n");
  write_private_file(dir_ / "port", std::to_string(port_) + "\n");  // for `kabar publish`

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (!port_accepts(options_.host, port_)) {
    if (!running()) {
      child_.reset();
      throw BrokerError("the embedded mosquitto exited at start: " + log_tail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      child_.reset();
      throw BrokerError("the embedded mosquitto did not accept connections within " +
                        std::to_string(options_.start_timeout.count()) + " ms: " + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::info("embedded mosquitto (pid {}) listening on {}:{}, files in {}; {}", child_->pid(), options_.host,
               port_, dir_.string(),
               options_.auth ? "clients held to the policy by " + options_.auth->plugin.filename().string()
                             : std::string("anonymous clients allowed"));
}

BrokerProcess::~BrokerProcess() {
  if (!child_) return;
  if (!child_->stop(std::chrono::seconds(5))) spdlog::warn("embedded mosquitto did not stop in 5 s; killed it");
  child_.reset();
  std::error_code ignored;
  std::filesystem::remove(dir_ / "mosquitto.pid", ignored);
  std::filesystem::remove(dir_ / "port", ignored);
}

std::vector<std::string> BrokerProcess::command() const {
  return {options_.mosquitto, "-c", (dir_ / "mosquitto.conf").string()};
}

// The configured port, unless a process kabar did not start listens there (ours were stopped above).
void BrokerProcess::choose_port() {
  if (!port_accepts(options_.host, options_.port)) return;
  const std::string taken = options_.host + ":" + std::to_string(options_.port);
  if (!options_.port_fallback) {
    throw BrokerError("cannot start the embedded broker: something already listens on " + taken +
                      " (Debian's mosquitto.service?). Use that broker with broker.embedded=false "
                      "(KABAR_BROKER_EMBEDDED=false), pick another broker.port, or allow a free port with "
                      "broker.embedded_port_fallback=true.");
  }
  port_ = free_port(options_.host);
  spdlog::warn("{} is taken by a process kabar did not start (Debian's mosquitto.service?); the embedded broker "
               "listens on {}:{} instead. Publish there (mosquitto_pub -p {} ...; `kabar publish` reads the port "
               "from {}), or use that other broker with broker.embedded=false",
               taken, options_.host, port_, port_, (dir_ / "port").string());
}

std::string BrokerProcess::render_config() const {
  std::string text(embedded_broker_config::find("mosquitto.conf.in"));
  // mosquitto started as root drops to user "mosquitto", which then cannot write our data folder.
  replace_all(text, "@USER_LINE@", ::geteuid() == 0 ? "user root" : "");
  replace_all(text, "@PORT@", std::to_string(port_));
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
