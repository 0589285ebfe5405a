// The pieces of docs/operations.md "Metrics, alerts and logs" that need no running gateway: the
// Prometheus text writer, the log line formats with fields, and the warning for unknown KABAR_*
// variables. The whole of it, live, is tests/e2e/observability.test.mjs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/log_fields.h"
#include "gateway/app/config.h"
#include "gateway/app/logging.h"
#include "gateway/app/metrics_text.h"

namespace kabar {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MetricsText, WritesAFamilyWithEscapedLabelValues) {
  MetricsText out;
  out.family("kabar_refusals_total", "counter", "Refused");
  out.sample("kabar_refusals_total", {{"door", "ws"}, {"reason", "a\"b\\c\nd"}}, std::uint64_t{3});
  EXPECT_EQ(out.str(),
            "# HELP kabar_refusals_total Refused\n# TYPE kabar_refusals_total counter\n"
            "kabar_refusals_total{door=\"ws\",reason=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(MetricsText, HistogramBucketsAreCumulativeAndEndWithInf) {
  Histogram histogram({0.005, 0.25});
  histogram.observe(std::chrono::milliseconds(1));
  histogram.observe(std::chrono::milliseconds(100));
  histogram.observe(std::chrono::seconds(2));
  MetricsText out;
  out.family("x_seconds", "histogram", "X");
  out.histogram("x_seconds", {{"transport", "sse"}}, histogram.snapshot());
  EXPECT_EQ(out.str(),
            "# HELP x_seconds X\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{transport=\"sse\",le=\"0.005\"} 1\n"
            "x_seconds_bucket{transport=\"sse\",le=\"0.25\"} 2\n"
            "x_seconds_bucket{transport=\"sse\",le=\"+Inf\"} 3\n"
            "x_seconds_sum{transport=\"sse\"} 2.101\n"
            "x_seconds_count{transport=\"sse\"} 3\n");
}

// Logs one line through the formatter kabar installs, as it would reach stderr.
std::string logged_line(const std::string& format, const std::string& message) {
  std::ostringstream sink_output;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(sink_output);
  spdlog::logger logger("test", sink);
  logger.set_formatter(make_log_formatter(format));
  logger.info(message);
  return sink_output.str();
}

TEST(LogFormat, JsonLinesCarryTheFieldsAsMembers) {
  const std::string line =
      logged_line("json", with_fields("authz: ws refused read \"x\"", {{"door", "ws"},
                                                                       {"sub", "kasir-3"},
                                                                       {"channel", "private-cabang.7"},
                                                                       {"reason", "claim_mismatch"}}));
  ASSERT_EQ(line.back(), '\n');
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["msg"], "authz: ws refused read \"x\"");
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_TRUE(parsed["ts"].is_string());
  EXPECT_EQ(parsed["door"], "ws");
  EXPECT_EQ(parsed["sub"], "kasir-3");
  EXPECT_EQ(parsed["channel"], "private-cabang.7");
  EXPECT_EQ(parsed["reason"], "claim_mismatch");
}

TEST(LogFormat, JsonLinesStayValidForAnyText) {
  const std::string line =
      logged_line("json", with_fields("quote \" backslash \\ tab \t", {{"detail", "new\nline"}}));
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["msg"], "quote \" backslash \\ tab \t");
  EXPECT_EQ(parsed["detail"], "new\nline");
}

TEST(LogFormat, TextLinesShowTheFieldsAsKeyValue) {
  const std::string line = logged_line(
      "text", with_fields("dead-lettered", {{"reason", "not_json"}, {"detail", "payload is not JSON"}}));
  EXPECT_THAT(line, HasSubstr("dead-lettered reason=not_json detail=\"payload is not JSON\"\n"));
}

TEST(UnknownEnvironment, EachUnknownVariableIsWarnedAboutWithTheClosestSetting) {
  const auto warnings = unknown_environment_warnings({{"KABAR_HTTP_PROT", "8080"},
                                                      {"KABAR_HTTP_PORT", "8080"},
                                                      {"KABAR_SOMETHING_ELSE_ENTIRELY", "1"},
                                                      {"KABAR_BIN", "/x/kabar"},
                                                      {"KABAR_E2E_OWNER", "x"}});
  EXPECT_THAT(
      warnings,
      ElementsAre(
          "environment variable KABAR_HTTP_PROT is not a kabar setting and is ignored (did you mean "
          "KABAR_HTTP_PORT?)",
          "environment variable KABAR_SOMETHING_ELSE_ENTIRELY is not a kabar setting and is ignored"));
}

}  // namespace
}  // namespace kabar
