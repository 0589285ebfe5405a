#include "gateway/app/health_command.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <iostream>

#include "bridge/schema_registry.h"
#include "gateway/app/config.h"

namespace kabar {
namespace {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
constexpr int kExitNotReady = 1;
constexpr std::size_t kMaxShownBody = 200;

struct Target {
  std::string host, port, path;
};

// http://HOST[:PORT][/PATH], HOST may be [v6]. Anything else is a usage error.
Target parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) throw ConfigError("--url must start with http:// (got " + url + ")");
  const std::string rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Target target{"", "80", slash == std::string::npos ? "/" : rest.substr(slash)};
  std::size_t colon = std::string::npos;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string::npos) throw ConfigError("--url has an unclosed [ in its host: " + url);
    target.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw ConfigError("--url: expected :PORT after ]: " + url);
      colon = close + 1;
    }
  } else {
    colon = authority.find(':');
    target.host = authority.substr(0, colon);
  }
  if (colon != std::string::npos) target.port = authority.substr(colon + 1);
  if (target.host.empty() || target.port.empty() ||
      target.port.find_first_not_of("0123456789") != std::string::npos)
    throw ConfigError("--url wants http://HOST:PORT/PATH, got " + url);
  return target;
}

struct Answer {
  std::optional<unsigned> status;  // nullopt: no HTTP answer (error says why)
  std::string body, error;
};

// One GET, every step bounded by one deadline.
Answer get(const Target& target, std::chrono::milliseconds timeout) {
  boost::asio::io_context context;
  tcp::resolver resolver(context);
  beast::tcp_stream stream(context);
  http::request<http::empty_body> request{http::verb::get, target.path, 11};
  request.set(http::field::host, target.host + ":" + target.port);
  request.set(http::field::user_agent, "kabar-health");
  request.set(http::field::connection, "close");
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  Answer answer;
  const auto fail = [&](std::string_view step, const boost::system::error_code& error) {
    answer.error = error == beast::error::timeout
                       ? "no answer within " + std::to_string(timeout.count()) + " ms (" + std::string(step) + ")"
                       : std::string(step) + ": " + error.message();
  };
  // The resolver has no deadline of its own: the stream's timer cancels it.
  boost::asio::steady_timer resolve_deadline(context, timeout);
  bool resolved = false;
  resolve_deadline.async_wait([&](auto error) {
    if (!error && !resolved) resolver.cancel();
  });
  resolver.async_resolve(target.host, target.port, [&](auto error, auto results) {
    resolved = true;
    resolve_deadline.cancel();
    if (error == boost::asio::error::operation_aborted) return fail("resolve", beast::error::timeout);
    if (error) return fail("resolve " + target.host, error);
    stream.expires_after(timeout);
    stream.async_connect(results, [&](auto error, auto) {
      if (error) return fail("connect", error);
      http::async_write(stream, request, [&](auto error, std::size_t) {
        if (error) return fail("send", error);
        http::async_read(stream, buffer, response, [&](auto error, std::size_t) {
          if (error) return fail("read", error);
          answer.status = response.result_int();
          answer.body = response.body().substr(0, kMaxShownBody);
        });
      });
    });
  });
  context.run();
  return answer;
}

}  // namespace

std::string readiness_url(const HttpConfig& http) {
  std::string host = http.listen;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  if (host.find(':') != std::string::npos && !host.starts_with('[')) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(http.port) + "/readyz";
}

HealthCommand::HealthCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "health", "Exit 0 when a running gateway's /readyz answers 200 (for container healthchecks)");
  command_->add_option("-c,--config", config_file_, "Config file of that gateway (for http.listen, http.port)");
  command_->add_option("--url", url_, "Ask this URL instead, e.g. http://127.0.0.1:8080/readyz");
  command_->add_option("--timeout-ms", timeout_ms_, "Give up after this long (default 3000)")
      ->check(CLI::Range(1, 600000));
}

std::optional<int> HealthCommand::run() const {
  if (!*command_) return std::nullopt;
  std::string url = url_;
  if (url.empty()) {
    SchemaRegistry schemas;
    ConfigSources sources;
    if (!config_file_.empty()) sources.file = config_file_;
    sources.environment = kabar_environment();
    url = readiness_url(load_config(sources, schemas).http);
  }
  const Answer answer = get(parse_url(url), std::chrono::milliseconds(timeout_ms_));
  if (!answer.status) {
    std::cerr << "kabar health: " << url << ": not ready: " << answer.error << "\n";
    return kExitNotReady;
  }
  if (*answer.status != 200) {
    std::cerr << "kabar health: " << url << " answered " << *answer.status << ": " << answer.body << "\n";
    return kExitNotReady;
  }
  std::cout << "kabar health: " << url << " answered 200: " << answer.body << "\n";
  return 0;
}

}  // namespace kabar
