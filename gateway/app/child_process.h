#pragma once
// A helper process that must not outlive kabar (the embedded mosquitto), and the one an earlier kabar
// may have left behind.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kabar {

class ChildError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Starts argv[0] with stdout and stderr to `log`. The child gets `death_signal` when kabar dies, however
// it dies (PR_SET_PDEATHSIG; SIGKILL included): the kernel sends it when the *thread* that forked
// exits, so the fork happens on a thread of this object's own that lives exactly as long as the child
// (it waits for it). A set-user-ID binary, or one that changes its user id, loses that setting: the
// embedded mosquitto runs as the user who started kabar ("user root" when that is root).
class WatchedChild {
 public:
  WatchedChild(std::vector<std::string> argv, const std::filesystem::path& log, int death_signal);
  ~WatchedChild();  // stop(5 s)
  WatchedChild(const WatchedChild&) = delete;
  WatchedChild& operator=(const WatchedChild&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return !exited_.load(); }
  // SIGTERM, up to `grace` to exit, then SIGKILL. True when it exited within the grace period.
  bool stop(std::chrono::milliseconds grace);

 private:
  void watch(std::vector<std::string> argv, std::filesystem::path log, int death_signal);
  bool wait_exit(std::chrono::milliseconds timeout);

  std::thread watcher_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool started_ = false;
  std::string start_error_;
  pid_t pid_ = -1;
  std::atomic<bool> exited_{false};
};

// A process an earlier kabar started, named by `pid_file`, still running exactly `argv` (the same
// binary with the same config path, which lies in kabar's data folder): SIGTERM, up to `grace`, then
// SIGKILL; returns its pid once it is gone, or 0 when there was none. Anything else is left alone.
pid_t stop_leftover(const std::filesystem::path& pid_file, const std::vector<std::string>& argv,
                    std::chrono::milliseconds grace);

}  // namespace kabar
