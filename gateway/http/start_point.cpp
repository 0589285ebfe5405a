#include "gateway/http/start_point.h"

namespace kabar {

StartPoint StartPoint::parse(const std::string& text) {
  StartPoint start;
  if (text.empty()) return start;
  if (text == "earliest") {
    start.kind = Kind::Earliest;
    return start;
  }
  if (text == "latest") {
    start.kind = Kind::Latest;
    return start;
  }
  if (auto position = parse_position(text)) {
    start.kind = Kind::After;
    start.after = *position;
  } else {
    start.kind = Kind::BadPosition;
  }
  return start;
}

}  // namespace kabar
