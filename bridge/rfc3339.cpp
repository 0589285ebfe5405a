// parse_rfc3339_ms (declared in bridge/message_parser.h): envelope times given as strings.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

#include "bridge/message_parser.h"

namespace kabar {
namespace {

// Reads exactly `width` digits at `pos`.
bool read_digits(std::string_view text, std::size_t pos, std::size_t width, int& out) {
  if (pos + width > text.size()) return false;
  const char* first = text.data() + pos;
  const auto [end, error] = std::from_chars(first, first + width, out);
  return error == std::errc() && end == first + width;
}

bool expect(std::string_view text, std::size_t pos, std::string_view any_of) {
  return pos < text.size() && any_of.find(text[pos]) != std::string_view::npos;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(int year, int month, int day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(month > 2 ? month - 3 : month + 9) + 2) / 5 +
                       static_cast<unsigned>(day) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Fields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0, offset_minutes = 0;
};

bool parse_date_time(std::string_view t, Fields& f) {
  return read_digits(t, 0, 4, f.year) && expect(t, 4, "-") && read_digits(t, 5, 2, f.month) &&
         expect(t, 7, "-") && read_digits(t, 8, 2, f.day) && expect(t, 10, "Tt") &&
         read_digits(t, 11, 2, f.hour) && expect(t, 13, ":") && read_digits(t, 14, 2, f.minute) &&
         expect(t, 16, ":") && read_digits(t, 17, 2, f.second);
}

// Fraction (any number of digits, milliseconds kept) and zone: Z or +hh:mm / -hh:mm.
bool parse_fraction_and_zone(std::string_view t, Fields& f) {
  std::size_t pos = 19;
  if (expect(t, pos, ".")) {
    std::size_t digits = 0;
    while (++pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (digits++ < 3) f.millis = f.millis * 10 + (t[pos] - '0');
    }
    if (digits == 0) return false;
    for (; digits < 3; ++digits) f.millis *= 10;
  }
  if (expect(t, pos, "Zz")) return pos + 1 == t.size();
  if (!expect(t, pos, "+-") || pos + 6 != t.size() || !expect(t, pos + 3, ":")) return false;
  int hours = 0;
  int minutes = 0;
  if (!read_digits(t, pos + 1, 2, hours) || !read_digits(t, pos + 4, 2, minutes) || hours > 23 ||
      minutes > 59)
    return false;
  f.offset_minutes = (t[pos] == '-' ? -1 : 1) * (hours * 60 + minutes);
  return true;
}

bool in_range(const Fields& f) {
  return f.month >= 1 && f.month <= 12 && f.day >= 1 && f.day <= days_in_month(f.year, f.month) &&
         f.hour <= 23 && f.minute <= 59 && f.second <= 60;  // 60: a leap second
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) {
  Fields f;
  if (!parse_date_time(text, f) || !parse_fraction_and_zone(text, f) || !in_range(f)) return std::nullopt;
  const std::int64_t seconds = days_from_civil(f.year, f.month, f.day) * 86400 + f.hour * 3600 +
                               f.minute * 60 + f.second - static_cast<std::int64_t>(f.offset_minutes) * 60;
  if (seconds < 0) return std::nullopt;
  return seconds * 1000 + f.millis;
}

}  // namespace kabar
