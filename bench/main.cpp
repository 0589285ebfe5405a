// kabar-loadgen: drives kabar (/ws, /sse) and mosquitto (MQTT over WebSocket) with the same event loop
// and the same measurements, so their figures can be compared as ratios. See docs/benchmarks.md.
#include <cstdio>
#include <exception>
#include <iostream>

#include "options.h"
#include "proc_stats.h"
#include "scenarios.h"

int main(int argc, char** argv) {
  using namespace kabar::bench;
  Options opt;
  try {
    opt = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "kabar-loadgen: " << e.what() << "\n\n" << usage();
    return 64;  // EX_USAGE
  }
  if (opt.command == "--help" || opt.command == "-h") {
    std::cout << usage();
    return 0;
  }
  raise_nofile_limit();  // thousands of sockets
  try {
    if (opt.command == "fanout") return run_fanout(opt);
    if (opt.command == "idle") return run_idle(opt);
    if (opt.command == "baseline-server") return run_baseline_server(opt);
    return run_report(opt);
  } catch (const std::exception& e) {
    std::cerr << "kabar-loadgen: " << e.what() << "\n";
    return 1;
  }
}
