#pragma once
// Process-wide logging setup (spdlog's default logger): readable lines on a terminal, JSON lines for
// production collectors. This is the only process-wide state kabar keeps, by spdlog's design.
#include <memory>
#include <string>

namespace spdlog {
class formatter;
}

namespace kabar {

// The line format of `format` (text|json): a JSON line is {"ts","level","thread","msg"} and the fields of
// core/log_fields.h as further members; a text line shows them as key=value after the message.
std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& format);

// level: trace|debug|info|warn|error|off; format: text|json. Logs go to stderr.
void configure_logging(const std::string& level, const std::string& format);

}  // namespace kabar
