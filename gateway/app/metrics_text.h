#pragma once
// MetricsText: writes the Prometheus text exposition format (version 0.0.4) that /metrics serves. One
// family at a time: its HELP and TYPE lines, then its samples, each with its labels (values escaped as
// the format requires). Histograms get their cumulative _bucket series, _sum and _count.
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "core/histogram.h"

namespace kabar {

using Label = std::pair<std::string_view, std::string_view>;

class MetricsText {
 public:
  // The HELP and TYPE lines of a family (type: counter, gauge, histogram).
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  // A family of one unlabelled sample.
  void single(std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  // One labelled series of a histogram family (family(name, "histogram", ...) first).
  void histogram(std::string_view name, std::initializer_list<Label> labels,
                 const HistogramSnapshot& snapshot);

  std::string str() const { return out_.str(); }

 private:
  void series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
              const Label* extra = nullptr);
  std::ostringstream out_;
};

// The label value as the format writes it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);
// A float the way Prometheus reads it back exactly (shortest round trip; +Inf for infinity).
std::string prometheus_number(double value);

}  // namespace kabar
