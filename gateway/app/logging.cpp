#include "gateway/app/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>
#include <vector>

#include "core/log_fields.h"
#include "gateway/hub/frame.h"

namespace kabar {
namespace {

// The message and the fields with_fields() put behind it (core/log_fields.h).
struct SplitMessage {
  std::string_view message;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
};

SplitMessage split(std::string_view payload) {
  SplitMessage out;
  std::size_t mark = payload.find(kLogFieldMark);
  out.message = payload.substr(0, mark);
  while (mark != std::string_view::npos) {
    const std::size_t next = payload.find(kLogFieldMark, mark + 1);
    const std::string_view field = payload.substr(mark + 1, next == std::string_view::npos ? next : next - mark - 1);
    const std::size_t equals = field.find('=');
    if (equals != std::string_view::npos) out.fields.emplace_back(field.substr(0, equals), field.substr(equals + 1));
    mark = next;
  }
  return out;
}

void append(spdlog::memory_buf_t& dest, std::string_view text) { dest.append(text.data(), text.data() + text.size()); }

// %J: `"msg":"...","sub":"...",...`: the message and each field as JSON strings, so a JSON log line
// stays valid whatever they hold.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& dest) override {
    const SplitMessage split_message = split(std::string_view(message.payload.data(), message.payload.size()));
    append(dest, "\"msg\":");
    append(dest, json_quote(std::string(split_message.message)));
    for (const auto& [key, value] : split_message.fields) {
      append(dest, ",");
      append(dest, json_quote(std::string(key)));
      append(dest, ":");
      append(dest, json_quote(std::string(value)));
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

// %K: the message, then ` key=value` per field (a value with spaces or quotes is quoted).
class TextMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& dest) override {
    const SplitMessage split_message = split(std::string_view(message.payload.data(), message.payload.size()));
    append(dest, split_message.message);
    for (const auto& [key, value] : split_message.fields) {
      append(dest, " ");
      append(dest, key);
      append(dest, "=");
      const bool plain = value.find_first_of(" \"=\\\n\t") == std::string_view::npos;
      append(dest, plain ? std::string(value) : json_quote(std::string(value)));
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextMessageFlag>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == "json") {
    formatter->add_flag<JsonMessageFlag>('J').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,%J})");
  } else {
    formatter->add_flag<TextMessageFlag>('K').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %K");
  }
  return formatter;
}

void configure_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("kabar");
  logger->set_formatter(make_log_formatter(format));
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace kabar
