// The plugin's state file (plugin_opt_state_file): the persistent sessions' identities, so that the
// sessions mosquitto restores from its own persistence file after a restart are authorized as before
// (docs/authorization.md "Offline sessions after a broker restart"). Text, one session a line:
//
//   kabar-auth-state 1
//   token <client id, hex> <the JWT it connected with>
//   internal <client id, hex>
//
// The client id is hex because MQTT allows any UTF-8 in it (spaces, newlines). Tokens are base64url and
// dots, checked on reading. Parsing never throws: a wrong header rejects the file, a bad line is skipped
// and counted. Pure functions, no mosquitto: plugin_state_file.cpp reads and writes the file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "broker-config/plugin/session_registry.h"

namespace kabar::plugin::state_file {

inline constexpr std::string_view kHeader = "kabar-auth-state 1";
inline constexpr std::size_t kMaxEntries = 100000;             // sessions kept across a restart
inline constexpr std::size_t kMaxFileBytes = 64 * 1024 * 1024;  // larger: not read at all
inline constexpr std::size_t kMaxLineBytes = 2 * 65535 + 64 * 1024;  // hex id (MQTT max) + a token

inline std::string to_hex(std::string_view text) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char c : text) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

inline bool from_hex(std::string_view hex, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.empty() || hex.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = value(hex[i]), low = value(hex[i + 1]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return true;
}

inline bool token_chars(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '=';
    if (!ok) return false;
  }
  return true;
}

// At most kMaxEntries, internal ones first (the gateway's own sessions matter most); `left_out` counts
// what did not fit.
inline std::string serialize(std::vector<PersistedIdentity> identities, std::size_t& left_out) {
  std::stable_partition(identities.begin(), identities.end(), [](const auto& i) { return i.internal; });
  left_out = identities.size() > kMaxEntries ? identities.size() - kMaxEntries : 0;
  std::string text(kHeader);
  text += '\n';
  std::size_t written = 0;
  for (const auto& identity : identities) {
    if (written == kMaxEntries) break;
    if (identity.client_id.empty() || (!identity.internal && !token_chars(identity.token))) continue;
    text += identity.internal ? "internal " : "token ";
    text += to_hex(identity.client_id);
    if (!identity.internal) text += ' ' + identity.token;
    text += '\n';
    ++written;
  }
  return text;
}

struct Parsed {
  bool ok = false;       // false: not a state file of this version (nothing is used)
  std::string error;     // why not
  std::vector<PersistedIdentity> identities;
  std::size_t bad_lines = 0;
};

inline Parsed parse(std::string_view text) {
  Parsed parsed;
  const std::size_t first_end = text.find('\n');
  if (first_end == std::string_view::npos || text.substr(0, first_end) != kHeader) {
    parsed.error = "not a kabar-auth state file (first line is not '" + std::string(kHeader) + "')";
    return parsed;
  }
  parsed.ok = true;
  std::size_t start = first_end + 1;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();  // a last line without newline is still read
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    if (line.size() > kMaxLineBytes || parsed.identities.size() >= kMaxEntries) {
      ++parsed.bad_lines;
      continue;
    }
    const std::size_t space = line.find(' ');
    const std::string_view kind = line.substr(0, space);
    const std::string_view rest = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    PersistedIdentity identity;
    bool good = false;
    if (kind == "internal") {
      identity.internal = true;
      good = from_hex(rest, identity.client_id);
    } else if (kind == "token") {
      const std::size_t gap = rest.find(' ');
      good = gap != std::string_view::npos && from_hex(rest.substr(0, gap), identity.client_id) &&
             token_chars(rest.substr(gap + 1));
      if (good) identity.token = std::string(rest.substr(gap + 1));
    }
    if (good) {
      parsed.identities.push_back(std::move(identity));
    } else {
      ++parsed.bad_lines;
    }
  }
  return parsed;
}

}  // namespace kabar::plugin::state_file
