#pragma once
// The standard process metrics of Prometheus client libraries (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds), read from /proc/self at each scrape, and kabar_build_info.
#include "gateway/app/metrics_text.h"

namespace kabar {

void write_process_metrics(MetricsText& out);
// kabar_build_info{version,commit,compiler} 1: commit is `git rev-parse --short=12 HEAD` when CMake
// configured the build ("unknown" outside a git checkout).
void write_build_info(MetricsText& out);

}  // namespace kabar
