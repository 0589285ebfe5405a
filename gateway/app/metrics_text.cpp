#include "gateway/app/metrics_text.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>

namespace kabar {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string prometheus_number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  return fmt::format("{}", value);
}

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void MetricsText::series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
                         const Label* extra) {
  out_ << name << suffix;
  if (labels.size() == 0 && !extra) return;
  out_ << '{';
  bool first = true;
  auto write = [&](const Label& label) {
    if (!first) out_ << ',';
    first = false;
    out_ << label.first << "=\"" << escape_label_value(label.second) << '"';
  };
  for (const Label& label : labels) write(label);
  if (extra) write(*extra);
  out_ << '}';
}

void MetricsText::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
  series(name, "", labels);
  out_ << ' ' << value << '\n';
}

void MetricsText::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  series(name, "", labels);
  out_ << ' ' << prometheus_number(value) << '\n';
}

void MetricsText::histogram(std::string_view name, std::initializer_list<Label> labels,
                            const HistogramSnapshot& snapshot) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < snapshot.buckets.size(); ++i) {
    cumulative += snapshot.buckets[i];
    const std::string le = i < snapshot.bounds.size() ? prometheus_number(snapshot.bounds[i]) : "+Inf";
    const Label bound{"le", le};
    series(name, "_bucket", labels, &bound);
    out_ << ' ' << cumulative << '\n';
  }
  series(name, "_sum", labels);
  out_ << ' ' << prometheus_number(snapshot.sum) << '\n';
  series(name, "_count", labels);
  out_ << ' ' << cumulative << '\n';
}

}  // namespace kabar
