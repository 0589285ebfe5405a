#include "gateway/http/hardening.h"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "gateway/http/server_context.h"

namespace kabar {
namespace {

// "*" matches any run of characters; everything else must match exactly (case-insensitive: hosts).
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && same(pattern[p], text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// "https://app.example.com:8443/x" -> "app.example.com"
std::string_view host_of(std::string_view origin) {
  if (auto scheme = origin.find("://"); scheme != std::string_view::npos) origin.remove_prefix(scheme + 3);
  origin = origin.substr(0, origin.find_first_of("/?#"));
  if (origin.starts_with('[')) return origin.substr(0, origin.find(']') + 1);  // IPv6 literal
  return origin.substr(0, origin.find(':'));
}

// At most kLogBurst refusal lines per second, so a flood of refusals cannot flood the log as well.
constexpr std::int64_t kLogBurst = 20;
std::atomic<std::int64_t> log_second{0};
std::atomic<std::int64_t> logged_this_second{0};

bool may_log() {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t second = log_second.load(std::memory_order_relaxed);
  if (second != now && log_second.compare_exchange_strong(second, now, std::memory_order_relaxed)) {
    logged_this_second.store(0, std::memory_order_relaxed);
  }
  return logged_this_second.fetch_add(1, std::memory_order_relaxed) < kLogBurst;
}

}  // namespace

std::string_view refusal_name(Refusal refusal) {
  switch (refusal) {
    case Refusal::OriginNotAllowed: return "origin_not_allowed";
    case Refusal::TooManyConnections: return "too_many_connections";
    case Refusal::HeaderTooLarge: return "header_too_large";
    case Refusal::BodyTooLarge: return "body_too_large";
    case Refusal::RequestTimeout: return "request_timeout";
    case Refusal::RateLimited: return "rate_limited";
  }
  return "unknown";
}

void note_refusal(ServerContext& context, Refusal refusal, std::string_view door, std::string_view peer,
                  std::string_view detail) {
  context.stats.refusals[static_cast<std::size_t>(refusal)].fetch_add(1, std::memory_order_relaxed);
  if (may_log()) spdlog::info("refused {} request from {}: {}: {}", door, peer, refusal_name(refusal), detail);
}

bool origin_matches(const std::vector<std::string>& patterns, std::string_view origin) {
  if (std::find(patterns.begin(), patterns.end(), "*") != patterns.end()) return true;
  if (origin.empty()) return false;
  const std::string_view host = host_of(origin);
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return glob_match(pattern, host) || glob_match(pattern, origin);
  });
}

bool origin_named(const std::vector<std::string>& patterns, std::string_view origin) {
  if (origin.empty()) return false;
  const std::string_view host = host_of(origin);
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return pattern != "*" && (glob_match(pattern, host) || glob_match(pattern, origin));
  });
}

bool origin_is_host(std::string_view origin, std::string_view host) {
  const auto scheme = origin.find("://");
  if (scheme == std::string_view::npos || host.empty()) return false;
  origin.remove_prefix(scheme + 3);
  if (origin.size() != host.size()) return false;
  return std::equal(origin.begin(), origin.end(), host.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

bool ConnectionLimiter::admit(const boost::asio::ip::address& address, const std::shared_ptr<const void>& owner) {
  if (per_address_ == 0) return true;
  std::lock_guard lock(mutex_);
  if (++admits_since_sweep_ >= 4096) sweep_locked();
  auto& entries = by_address_[address.to_string()];
  std::erase_if(entries, [](const Entry& entry) { return entry.alive.expired(); });
  if (entries.size() >= per_address_) return false;
  entries.push_back(Entry{owner.get(), owner});
  return true;
}

void ConnectionLimiter::transfer(const boost::asio::ip::address& address, const void* from,
                                 const std::shared_ptr<const void>& to) {
  if (per_address_ == 0) return;
  std::lock_guard lock(mutex_);
  auto it = by_address_.find(address.to_string());
  if (it == by_address_.end()) return;
  for (Entry& entry : it->second) {
    if (entry.key == from) entry = Entry{to.get(), to};
  }
}

std::size_t ConnectionLimiter::count(const boost::asio::ip::address& address) {
  std::lock_guard lock(mutex_);
  auto it = by_address_.find(address.to_string());
  if (it == by_address_.end()) return 0;
  return static_cast<std::size_t>(
      std::count_if(it->second.begin(), it->second.end(), [](const Entry& e) { return !e.alive.expired(); }));
}

// Addresses that never come back would otherwise keep their (dead) entries forever.
void ConnectionLimiter::sweep_locked() {
  admits_since_sweep_ = 0;
  for (auto it = by_address_.begin(); it != by_address_.end();) {
    std::erase_if(it->second, [](const Entry& entry) { return entry.alive.expired(); });
    it = it->second.empty() ? by_address_.erase(it) : std::next(it);
  }
}

bool MessageRateLimiter::allow(Clock::time_point now) {
  if (rate_ <= 0) return true;  // no limit
  if (started_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  started_ = true;
  last_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace kabar
