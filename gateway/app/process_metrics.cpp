#include "gateway/app/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#ifndef KABAR_COMMIT
#define KABAR_COMMIT "unknown"
#endif

namespace kabar {
namespace {

double timeval_seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

// /proc/self/statm: size resident ... in pages.
bool read_statm(std::uint64_t& virtual_pages, std::uint64_t& resident_pages) {
  std::ifstream in("/proc/self/statm");
  return static_cast<bool>(in >> virtual_pages >> resident_pages);
}

// Field 22 of /proc/self/stat (starttime, clock ticks after boot) plus btime of /proc/stat. The fields are
// counted after the command's closing parenthesis: a command may hold spaces and parentheses.
bool read_start_time(double& seconds) {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int n = 3; n <= 22 && fields >> field; ++n) {
    if (n != 22) continue;
    std::ifstream proc_stat("/proc/stat");
    std::string key;
    long long boot = -1;
    while (proc_stat >> key) {
      if (key == "btime") {
        proc_stat >> boot;
        break;
      }
    }
    const long ticks = sysconf(_SC_CLK_TCK);
    if (boot < 0 || ticks <= 0) return false;
    seconds = static_cast<double>(boot) + std::stod(field) / static_cast<double>(ticks);
    return true;
  }
  return false;
}

std::uint64_t open_fds() {
  std::error_code error;
  std::uint64_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error))
    ++count;
  return count;
}

}  // namespace

void write_process_metrics(MetricsText& out) {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    out.sample("process_cpu_seconds_total", {},
               timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime));
  }
  std::uint64_t virtual_pages = 0, resident_pages = 0;
  if (read_statm(virtual_pages, resident_pages)) {
    const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    out.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               resident_pages * page);
    out.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
               virtual_pages * page);
  }
  out.single("process_open_fds", "gauge", "Number of open file descriptors.", open_fds());
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    out.single("process_max_fds", "gauge", "Maximum number of open file descriptors (the soft limit).",
               static_cast<std::uint64_t>(files.rlim_cur));
  }
  double start = 0;
  if (read_start_time(start)) {
    out.family("process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
    out.sample("process_start_time_seconds", {}, start);
  }
}

void write_build_info(MetricsText& out) {
  out.family("kabar_build_info", "gauge",
             "The running kabar's version and the commit it was built from; always 1");
  out.sample("kabar_build_info",
             {{"version", KABAR_VERSION}, {"commit", KABAR_COMMIT}, {"compiler", __VERSION__}},
             std::uint64_t{1});
}

}  // namespace kabar
