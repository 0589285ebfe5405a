#pragma once
// Process-wide logging setup (spdlog's default logger): readable lines on a terminal, JSON lines for
// production collectors. This is the only process-wide state kabar keeps, by spdlog's design.
#include <string>

namespace kabar {

// level: trace|debug|info|warn|error|off; format: text|json. Logs go to stderr.
void configure_logging(const std::string& level, const std::string& format);

}  // namespace kabar
