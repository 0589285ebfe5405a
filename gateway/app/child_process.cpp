#include "gateway/app/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kabar {
namespace {

// argv of a live process (empty when it is gone or a zombie).
std::vector<std::string> live_cmdline(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream stat_file(proc + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return {};
  const char state = stat[paren + 2];
  if (state == 'Z' || state == 'X') return {};
  std::ifstream cmdline_file(proc + "/cmdline");
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(cmdline_file, arg, '\0')) args.push_back(arg);
  return args;
}

bool alive(pid_t pid) { return !live_cmdline(pid).empty(); }

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

WatchedChild::WatchedChild(std::vector<std::string> argv, const std::filesystem::path& log, int death_signal) {
  watcher_ = std::thread(&WatchedChild::watch, this, std::move(argv), log, death_signal);
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return started_; });
  if (!start_error_.empty()) {
    lock.unlock();
    watcher_.join();
    throw ChildError(start_error_);
  }
}

WatchedChild::~WatchedChild() { stop(std::chrono::seconds(5)); }

void WatchedChild::watch(std::vector<std::string> argv, std::filesystem::path log, int death_signal) {
  auto fail = [this](std::string error) {
    std::lock_guard lock(mutex_);
    start_error_ = std::move(error);
    started_ = true;
    exited_ = true;
    changed_.notify_all();
  };
  // Everything the child needs is made before fork(): after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return fail("cannot write " + log.string() + ": " + std::strerror(errno));
  int report[2];  // the child writes errno here when it cannot exec; exec closes it (O_CLOEXEC)
  if (::pipe2(report, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return fail(std::string("pipe: ") + std::strerror(errno));
  }
  sigset_t no_signals;
  sigemptyset(&no_signals);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    int error = 0;
    if (::prctl(PR_SET_PDEATHSIG, death_signal) != 0) {
      error = errno;
    } else if (::getppid() != parent) {
      error = ESRCH;  // kabar died before the line above took effect: nobody would stop us
    } else if (::dup2(log_fd, STDOUT_FILENO) < 0 || ::dup2(log_fd, STDERR_FILENO) < 0) {
      error = errno;
    } else {
      ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);  // a mask blocking SIGTERM would survive exec
      ::execv(args[0], args.data());
      error = errno;
    }
    [[maybe_unused]] const auto written = ::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  const int fork_error = errno;
  ::close(log_fd);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    return fail(std::string("fork: ") + std::strerror(fork_error));
  }
  int error = 0;
  ssize_t got;
  while ((got = ::read(report[0], &error, sizeof error)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (got > 0) {
    ::waitpid(pid, nullptr, 0);
    return fail("cannot start " + argv[0] + ": " + std::strerror(error));
  }
  {
    std::lock_guard lock(mutex_);
    pid_ = pid;
    started_ = true;
  }
  changed_.notify_all();
  // Wait without reaping, so the pid stays this child's (a zombie) until exited_ is set under the lock:
  // stop() never signals a pid that another process may have been given meanwhile.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard lock(mutex_);
    exited_ = true;
    ::waitpid(pid, nullptr, 0);
  }
  changed_.notify_all();
}

bool WatchedChild::wait_exit(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return exited_.load(); });
}

bool WatchedChild::stop(std::chrono::milliseconds grace) {
  if (!watcher_.joinable()) return true;
  auto send = [this](int number) {
    std::lock_guard lock(mutex_);
    if (!exited_) ::kill(pid_, number);
  };
  send(SIGTERM);
  const bool clean = wait_exit(grace);
  if (!clean) {
    send(SIGKILL);
    wait_exit(std::chrono::hours(1));
  }
  watcher_.join();
  return clean;
}

pid_t stop_leftover(const std::filesystem::path& pid_file, const std::vector<std::string>& argv,
                    std::chrono::milliseconds grace) {
  std::ifstream in(pid_file);
  long number = 0;
  if (!(in >> number) || number <= 1) return 0;
  const auto pid = static_cast<pid_t>(number);
  if (live_cmdline(pid) != argv) return 0;  // gone, or the pid is someone else's now
  ::kill(pid, SIGTERM);
  if (!wait_gone(pid, grace)) {
    if (live_cmdline(pid) == argv) ::kill(pid, SIGKILL);
    if (!wait_gone(pid, std::chrono::seconds(5))) {
      throw ChildError("the process " + std::to_string(pid) + " (" + argv[0] + ") left by an earlier start does not exit");
    }
  }
  return pid;
}

}  // namespace kabar
