#include "core/topic_filter.h"

namespace kabar {

bool is_topic_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > 65535) return false;
  std::size_t level_start = 0;
  for (std::size_t i = 0; i <= filter.size(); ++i) {
    if (i < filter.size() && filter[i] == '\0') return false;
    if (i < filter.size() && filter[i] != '/') continue;
    const std::string_view level = filter.substr(level_start, i - level_start);
    for (char c : level) {
      if ((c == '+' || c == '#') && level.size() != 1) return false;
    }
    if (level == "#" && i != filter.size()) return false;
    level_start = i + 1;
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (topic.empty()) return false;
  if (topic.front() == '$' && (filter.front() == '+' || filter.front() == '#')) return false;
  std::size_t f = 0;
  std::size_t t = 0;
  for (;;) {
    const std::size_t f_end = filter.find('/', f);
    const std::string_view f_level = filter.substr(f, f_end == std::string_view::npos ? filter.npos : f_end - f);
    if (f_level == "#") return true;  // the rest, and the parent ("a/#" matches "a": t is past its end)
    if (t > topic.size()) return false;  // the topic has no more levels, the filter does
    const std::size_t t_end = topic.find('/', t);
    const std::string_view t_level = topic.substr(t, t_end == std::string_view::npos ? topic.npos : t_end - t);
    if (f_level != "+" && f_level != t_level) return false;
    const bool f_last = f_end == std::string_view::npos;
    const bool t_last = t_end == std::string_view::npos;
    if (f_last || t_last) {
      if (f_last && t_last) return true;
      // The topic ended: only a following "/#" matches (the parent of a multi-level wildcard).
      if (t_last) return filter.substr(f_end) == "/#";
      return false;
    }
    f = f_end + 1;
    t = t_end + 1;
  }
}

}  // namespace kabar
