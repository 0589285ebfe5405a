#include "rest_publisher.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <ctime>

#include "proc_stats.h"
#include "worker.h"

namespace kabar::bench {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

std::string hex(const unsigned char* p, unsigned n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned i = 0; i < n; ++i) out.append({digits[p[i] >> 4], digits[p[i] & 15]});
  return out;
}

// `data` is JSON text that has no backslashes (event_data() makes it): quoting it is escaping '"'.
std::string json_string(std::string_view data) {
  std::string out = "\"";
  for (char c : data) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Size of the first complete HTTP answer in `rx` (head and body), 0 if it is not complete yet.
// Bodies come with Content-Length (Beast, Express) or chunked; answers here are small JSON objects.
std::size_t answer_size(std::string_view rx) {
  auto end = rx.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  const std::string head = lower(rx.substr(0, end + 2));
  const std::size_t body_at = end + 4;
  if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
    std::size_t len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    return rx.size() >= body_at + len ? body_at + len : 0;
  }
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    auto last = rx.find("\r\n0\r\n\r\n", body_at - 2);
    return last == std::string_view::npos ? 0 : last + 7;
  }
  return body_at;  // no body (204, 304)
}

bool status_ok(std::string_view answer) {
  auto sp = answer.find(' ');
  return sp != std::string_view::npos && answer.substr(sp + 1, 3) == "200";
}

}  // namespace

std::string md5_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr);
  return hex(digest, size);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       digest, &size);
  return hex(digest, size);
}

std::string pusher_signed_target(const Options& opt, std::string_view body, long long timestamp) {
  const std::string path = "/apps/" + opt.app_id + "/events";
  // Parameters in sorted order: the signed string is METHOD\npath\nsorted query (auth_signature excluded).
  const std::string query = "auth_key=" + opt.app_key + "&auth_timestamp=" + std::to_string(timestamp) +
                            "&auth_version=1.0&body_md5=" + md5_hex(body);
  const std::string signature = hmac_sha256_hex(opt.app_secret, "POST\n" + path + "\n" + query);
  return path + "?" + query + "&auth_signature=" + signature;
}

// ---------------------------------------------------------------- RestPublisher

struct RestPublisher::Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string tx;        // the request being written
  std::string rx;        // answer bytes not consumed yet
  char buf[4096];
  bool busy = false;     // a request is out and its answer not in
  bool up = false;       // connected (a reconnecting socket is open but not up)
  unsigned gen = 0;      // bumped when the socket is replaced: handlers of the old one then do nothing
};

RestPublisher::RestPublisher(const Options& opt, const std::string& tag, int64_t total_events)
    : Publisher(total_events), opt_(opt), tag_(tag), pad_(std::size_t(opt.pad), 'x') {}

RestPublisher::~RestPublisher() { disconnect(); }

void RestPublisher::connect(double) {
  const tcp::endpoint server{asio::ip::make_address(opt_.host), opt_.port};
  for (int i = 0; i < opt_.publish_conns; ++i) {
    auto c = std::make_shared<Conn>(io_);
    c->socket.connect(server);  // loopback: connects or is refused at once (throws system_error)
    c->socket.set_option(tcp::no_delay(true));
    c->up = true;
    conns_.push_back(c);
    read_answer(c);
  }
  thread_ = std::thread([this] { io_.run(); });
}

std::string RestPublisher::request(int64_t index, int64_t now) {
  const std::string data = event_data("b-" + tag_ + "-" + std::to_string(index), now, pad_);
  // Laravel's broadcasters send `data` as a JSON-encoded string; kabar forwards it byte for byte and
  // laravel-echo-server parses it back into an object.
  const std::string body =
      R"({"name":"dokumen.updated","channel":")" + opt_.channel + R"(","data":)" + json_string(data) + "}";
  const std::string target = opt_.kind == Kind::pusher
                                 ? pusher_signed_target(opt_, body, static_cast<long long>(std::time(nullptr)))
                                 : "/apps/" + opt_.app_id + "/events?auth_key=" + opt_.app_key;
  return "POST " + target + " HTTP/1.1\r\nHost: " + opt_.host + ":" + std::to_string(opt_.port) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

void RestPublisher::publish(int64_t index) {
  const int64_t now = realtime_ns();
  sent_ns_[std::size_t(index)] = now;
  ++published_;
  asio::post(io_, [this, req = request(index, now)]() mutable {
    queue_.push_back(std::move(req));
    pump();
  });
}

void RestPublisher::pump() {
  for (auto& c : conns_) {
    if (queue_.empty()) return;
    if (c->busy || !c->up) continue;
    send_on(c, std::move(queue_.front()));
    queue_.pop_front();
  }
}

void RestPublisher::send_on(const std::shared_ptr<Conn>& c, std::string req) {
  c->busy = true;
  c->tx = std::move(req);
  asio::async_write(c->socket, asio::buffer(c->tx), [this, c, gen = c->gen](error_code ec, std::size_t) {
    if (ec && gen == c->gen) lost(c, "write: " + ec.message());
  });
}

// Every connection always has a read pending, so a server that closes an idle keep-alive connection
// (Node's default is after 5 s) is noticed at once, not on the next publish.
void RestPublisher::read_answer(const std::shared_ptr<Conn>& c) {
  c->socket.async_read_some(asio::buffer(c->buf), [this, c, gen = c->gen](error_code ec, std::size_t n) {
    if (gen != c->gen) return;
    if (ec) return lost(c, "read: " + ec.message());
    c->rx.append(c->buf, n);
    while (std::size_t size = answer_size(c->rx)) {
      answered(c, std::string_view(c->rx).substr(0, size));
      c->rx.erase(0, size);
    }
    read_answer(c);
  });
}

void RestPublisher::answered(const std::shared_ptr<Conn>& c, std::string_view answer) {
  if (status_ok(answer)) {
    acked_.fetch_add(1);
  } else {
    refused_.fetch_add(1);
    Worker::note_error("publish refused: " + std::string(answer.substr(0, 300)));
  }
  c->busy = false;
  pump();
}

// The connection broke: its request (if any) is lost and counted; it reconnects for the next ones.
void RestPublisher::lost(const std::shared_ptr<Conn>& c, const std::string& why) {
  if (stopping_) return;
  ++c->gen;
  error_code ignored;
  c->socket.close(ignored);
  c->rx.clear();
  if (c->busy) {
    refused_.fetch_add(1);
    Worker::note_error("publish lost: " + why);
  }
  c->busy = false;
  c->up = false;
  const tcp::endpoint server{asio::ip::make_address(opt_.host), opt_.port};
  c->socket.async_connect(server, [this, c, gen = c->gen](error_code ec) {
    if (gen != c->gen || stopping_) return;
    if (ec) return Worker::note_error("publisher reconnect: " + ec.message());
    c->socket.set_option(tcp::no_delay(true));
    c->up = true;
    read_answer(c);
    pump();
  });
}

void RestPublisher::disconnect() {
  if (!thread_.joinable()) return;
  io_.stop();  // every answer was awaited by wait_acked() before
  thread_.join();
  stopping_ = true;
  for (auto& c : conns_) {
    error_code ignored;
    c->socket.close(ignored);
  }
  io_.restart();
  io_.poll();  // the aborted handlers run here, so none outlives the connections they refer to
  conns_.clear();
}

}  // namespace kabar::bench
