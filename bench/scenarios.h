#pragma once
#include "options.h"

namespace kabar::bench {

// Each returns the process exit code: 0 when every connection subscribed and every delivery arrived.
int run_fanout(const Options& opt);
int run_idle(const Options& opt);
int run_report(const Options& opt);
int run_baseline_server(const Options& opt);  // runs until SIGTERM or --timeout seconds

}  // namespace kabar::bench
