#pragma once
// Process measurements: the server's CPU and RSS from /proc, the loadgen's own CPU, clocks, fd limit.
#include <cstdint>

namespace kabar::bench {

// utime + stime of every thread of `pid`, in seconds (/proc/PID/stat); negative if unreadable.
double process_cpu_seconds(int pid);

// VmRSS of `pid` in KiB (/proc/PID/status); negative if unreadable.
long process_rss_kb(int pid);

// Busy CPU time of the whole machine, all cores summed, in seconds (/proc/stat: everything but idle and
// iowait). Minus the server's and the loadgen's, it shows how much other work shared the cores.
double machine_busy_seconds();

// CPU time (user + system) of this process, every thread included (the Paho publisher too).
double self_cpu_seconds();

// CLOCK_REALTIME in ns: the publisher stamps t_ns with it and receivers subtract from it (same machine).
int64_t realtime_ns();

// Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft limit.
long raise_nofile_limit();

}  // namespace kabar::bench
