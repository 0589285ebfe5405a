#pragma once
// The clock every part reads: Unix time from the system clock, in the units kabar stores and sends
// (event times and expiries in ms, token claims in s). One definition, so a test or a future
// injectable clock has one place to change.
#include <chrono>
#include <cstdint>

namespace kabar {

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kabar
