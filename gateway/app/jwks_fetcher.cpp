#include "gateway/app/jwks_fetcher.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <future>
#include <stdexcept>

namespace kabar {
namespace http = boost::beast::http;

JwksFetcher::JwksFetcher(JwksOptions options)
    : options_(std::move(options)),
      work_(boost::asio::make_work_guard(context_)),
      refresh_timer_(context_),
      refetch_timer_(context_) {
  auto url = OutboundUrl::parse(options_.url);
  if (!url) throw std::invalid_argument("auth.jwt.jwks_url '" + options_.url + "' is not http(s)://host[:port]/path");
  url_ = *url;
  if (url_.tls) tls_ = make_tls_context(options_.ca_file);
  ring_ = std::make_shared<authz::KeyRing>("JWKS " + url_.loggable());
}

JwksFetcher::~JwksFetcher() { stop(); }

void JwksFetcher::start() {
  // Posting is all the I/O threads do: the fetch, its timers and its rate limit live on thread_.
  ring_->set_unknown_kid_listener(
      [this](const std::string&) { boost::asio::post(context_, [this] { on_unknown_kid(); }); });
  std::promise<void> first;
  auto first_fetched = first.get_future();
  first_done_ = [&first] { first.set_value(); };
  boost::asio::post(context_, [this] { fetch(); });
  thread_ = std::thread([this] { context_.run(); });
  if (first_fetched.wait_for(options_.timeout + std::chrono::seconds(1)) != std::future_status::ready) {
    // Not answered in time: the fetch goes on; whatever it brings is used.
    boost::asio::post(context_, [this] { first_done_ = nullptr; });
  }
  // Wait until thread_ no longer refers to `first` before it goes out of scope.
  std::promise<void> synced;
  boost::asio::post(context_, [&synced] { synced.set_value(); });
  synced.get_future().wait();
}

void JwksFetcher::stop() {
  ring_->set_unknown_kid_listener(nullptr);  // no I/O thread posts here any more
  if (!thread_.joinable()) return;
  boost::asio::post(context_, [this] {
    refresh_timer_.cancel();
    refetch_timer_.cancel();
  });
  work_.reset();
  context_.stop();  // an exchange still under way is abandoned
  thread_.join();
}

void JwksFetcher::fetch() {
  if (in_flight_) return;
  in_flight_ = true;
  last_attempt_ = std::chrono::steady_clock::now();
  http::request<http::string_body> request;
  request.method(http::verb::get);
  request.set(http::field::user_agent, "kabar-jwks");
  request.set(http::field::accept, "application/json, application/jwk-set+json");
  OutboundOptions options;
  options.timeout = options_.timeout;
  options.tls = tls_;
  send_request(context_, url_, std::move(request), std::move(options),
               [this](std::optional<std::string> error, OutboundResponse response) {
                 in_flight_ = false;
                 on_fetched(error, response);
                 if (auto done = std::move(first_done_)) {
                   first_done_ = nullptr;
                   done();
                 }
               });
}

void JwksFetcher::on_fetched(const std::optional<std::string>& error, const OutboundResponse& response) {
  std::string problem;
  if (error) {
    problem = *error;
  } else if (response.result_int() != 200) {
    problem = "HTTP " + std::to_string(response.result_int());
  } else {
    try {
      auto keys = authz::keys_from_jwks(response.body(), ring_->origin());
      std::string kids;
      for (const auto& key : keys) kids += (kids.empty() ? "" : ", ") + (key.kid.empty() ? "(no kid)" : key.kid);
      const std::size_t count = keys.size();
      ring_->replace(std::move(keys));
      if (kids != kids_ || failing_)
        spdlog::info("{}: {} signing key(s): {}", ring_->origin(), count, kids);
      kids_ = std::move(kids);
      failing_ = false;
      schedule_refresh(options_.refresh);
      return;
    } catch (const authz::KeyError& key_error) {
      problem = key_error.what();
    }
  }
  const std::size_t held = ring_->keys()->size();
  // A streak of failures is one warning; the retries are debug until a fetch succeeds again.
  if (!failing_) {
    spdlog::warn("{}: fetch failed ({}); {}", ring_->origin(), problem,
                 held ? "keeping the " + std::to_string(held) + " key(s) fetched before"
                      : std::string("no key yet: tokens are refused until a fetch succeeds"));
  } else {
    spdlog::debug("{}: fetch failed again ({})", ring_->origin(), problem);
  }
  failing_ = true;
  // Sooner than a refresh, never more often than the refetch limit.
  schedule_refresh(std::min<std::chrono::steady_clock::duration>(options_.refresh, options_.min_refetch));
}

void JwksFetcher::schedule_refresh(std::chrono::steady_clock::duration after) {
  refresh_timer_.expires_after(after);
  refresh_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) fetch();
  });
}

// A kid no key has: fetch now, or once the last attempt is min_refetch old; many misses, one fetch.
void JwksFetcher::on_unknown_kid() {
  if (in_flight_ || refetch_pending_) return;
  const auto next = last_attempt_ + options_.min_refetch;
  if (std::chrono::steady_clock::now() >= next) {
    spdlog::debug("{}: a token names a kid no key has: fetching again", ring_->origin());
    fetch();
    return;
  }
  refetch_pending_ = true;
  refetch_timer_.expires_at(next);
  refetch_timer_.async_wait([this](const boost::system::error_code& error) {
    refetch_pending_ = false;
    if (!error) fetch();
  });
}

}  // namespace kabar
