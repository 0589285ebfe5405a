// Running mosquitto and its clients from a test: spawn with output to a file, bounded waits (a child
// that outlives its timeout is killed by its pid), free ports. Shared by authz_broker_plugin_test.cpp and
// authz_broker_restart_test.cpp.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace kabar::test_support {

namespace fs = std::filesystem;

struct ClientRun {
  int status = -1;  // exit code; -1 when killed after the timeout
  std::string output;
};

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The environment for children; in sanitizer builds mosquitto must preload the ASan runtime to load
// the instrumented plugin.
inline std::vector<char*> child_environment() {
  static std::vector<std::string> entries = [] {
    std::vector<std::string> list;
    for (char** entry = environ; entry && *entry; ++entry) list.emplace_back(*entry);
#ifdef KABAR_ASAN_RUNTIME
    list.emplace_back(std::string("LD_PRELOAD=") + KABAR_ASAN_RUNTIME);
    list.emplace_back("ASAN_OPTIONS=detect_leaks=0");
#endif
    return list;
  }();
  std::vector<char*> pointers;
  for (auto& entry : entries) pointers.push_back(entry.data());
  pointers.push_back(nullptr);
  return pointers;
}

inline pid_t spawn(const std::vector<std::string>& args, const fs::path& output) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  std::vector<char*> environment = child_environment();
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environment.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Waits for `pid` at most `timeout`; kills it when the time is up. Returns the exit code or -1.
inline int wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

inline bool port_open(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool open = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return open;
}

// The guarded broker of the plugin tests: kabar_auth_plugin.so (HS256 with dir/jwt.secret, no clock skew),
// allow_anonymous false, persistence in dir/persist; `extra` lines go after the persistence settings.
inline void write_guarded_broker_conf(const fs::path& dir, int port, const std::string& extra = "") {
  std::ofstream conf(dir / "mosquitto.conf");
  if (getuid() == 0) conf << "user root\n";
  conf << "per_listener_settings false\nallow_anonymous false\n"
       << "listener " << port << " 127.0.0.1\n"
       << "plugin " << KABAR_BINARY_DIR << "/kabar_auth_plugin.so\n"
       << "plugin_opt_jwt_secret_file " << (dir / "jwt.secret").string() << "\n"
       << "plugin_opt_jwt_clock_skew_s 0\n"
       << "persistence true\npersistence_location " << (dir / "persist").string() << "/\n"
       << extra << "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n";
}

inline std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kabar::test_support
