#include "gateway/outbound/outbound_request.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fstream>
#include <stdexcept>

namespace kabar {
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

bool is_ip_literal(const std::string& host) {
  boost::system::error_code error;
  boost::asio::ip::make_address(host, error);
  return !error;
}

// What a TLS failure was, in words: "certificate verify failed (self-signed certificate)" rather than
// Asio's bare category message.
std::string tls_error(const boost::system::error_code& error, const SSL* handle) {
  std::string text = error.message();
  if (handle) {
    const long verify = SSL_get_verify_result(handle);
    if (verify != X509_V_OK) text += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
  }
  return text;
}

using TlsStream = ssl::stream<beast::tcp_stream>;

// Built in place (guaranteed elision: no stream is moved).
template <class Stream>
Stream make_stream(boost::asio::io_context& context, ssl::context* tls) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    return beast::tcp_stream(context);
  } else {
    return TlsStream(context, *tls);
  }
}

// Owns what one request needs until it completes: resolve, connect, [TLS handshake], write, read.
template <class Stream>
class Call : public std::enable_shared_from_this<Call<Stream>> {
 public:
  Call(boost::asio::io_context& context, OutboundUrl url, OutboundOptions options, OutboundDone done)
      : resolver_(context),
        stream_(make_stream<Stream>(context, options.tls.get())),
        url_(std::move(url)),
        options_(std::move(options)),
        done_(std::move(done)) {}

  void start(http::request<http::string_body> request) {
    request_ = std::move(request);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.host_header());
    request_.prepare_payload();
    parser_.body_limit(options_.max_response_bytes);
    tcp_layer().expires_after(options_.timeout);
    auto self = this->shared_from_this();
    resolver_.async_resolve(url_.host, url_.port, [self](auto error, auto results) {
      if (error) return self->finish("resolve " + self->url_.host + ": " + error.message());
      self->tcp_layer().async_connect(results, [self](auto error, auto) {
        if (error) return self->finish("connect: " + error.message());
        self->secure();
      });
    });
  }

 private:
  beast::tcp_stream& tcp_layer() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      return stream_;
    } else {
      return stream_.next_layer();
    }
  }

  void secure() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      write();
    } else {
      // The certificate must name the host (OpenSSL's own check, so a mismatch reads "hostname mismatch"),
      // and SNI tells the server which one we want (for names only, RFC 6066).
      SSL* handle = stream_.native_handle();
      const bool address = is_ip_literal(url_.host);
      const bool named = address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), url_.host.c_str()) == 1
                                 : SSL_set1_host(handle, url_.host.c_str()) == 1 &&
                                       SSL_set_tlsext_host_name(handle, url_.host.c_str()) == 1;
      if (!named) return finish("TLS: cannot check the certificate against " + url_.host);
      stream_.set_verify_mode(ssl::verify_peer);
      stream_.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](auto error) {
        if (error) return self->finish("TLS handshake with " + self->url_.host + ": " +
                                       tls_error(error, self->stream_.native_handle()));
        self->write();
      });
    }
  }

  void write() {
    auto self = this->shared_from_this();
    http::async_write(stream_, request_, [self](auto error, std::size_t) {
      if (error) return self->finish("write: " + error.message());
      http::async_read(self->stream_, self->buffer_, self->parser_, [self](auto error, std::size_t) {
        if (error == http::error::body_limit)
          return self->finish("response over " + std::to_string(self->options_.max_response_bytes) + " bytes");
        if (error) return self->finish("read: " + error.message());
        self->finish(std::nullopt);
      });
    });
  }

  void finish(std::optional<std::string> error) {
    boost::system::error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer().close();
    if (auto done = std::move(done_)) done(std::move(error), error ? OutboundResponse{} : parser_.release());
  }

  tcp::resolver resolver_;
  Stream stream_;
  OutboundUrl url_;
  OutboundOptions options_;
  OutboundDone done_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
};

}  // namespace

std::optional<OutboundUrl> OutboundUrl::parse(const std::string& url) {
  OutboundUrl parsed;
  std::string_view rest(url);
  if (rest.starts_with("https://")) {
    parsed.tls = true;
    parsed.port = "443";
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    if (const auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
    parsed.target = path.starts_with('/') ? std::string(path) : "/" + std::string(path);
  }
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    parsed.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const auto colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    parsed.port = std::string(port);
  }
  if (parsed.host.empty()) return std::nullopt;
  return parsed;
}

std::string OutboundUrl::host_header() const {
  const std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == (tls ? "443" : "80") ? name : name + ":" + port;
}

std::string OutboundUrl::loggable() const {
  const std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + name + ":" + port + target.substr(0, target.find('?'));
}

std::shared_ptr<ssl::context> make_tls_context(const std::string& ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code error;
  if (ca_file.empty()) {
    context->set_default_verify_paths(error);
    if (error) throw std::runtime_error("the system's CA certificates cannot be loaded: " + error.message());
  } else {
    if (!std::ifstream(ca_file)) throw std::runtime_error("CA file " + ca_file + ": cannot be read");
    context->load_verify_file(ca_file, error);
    if (error) throw std::runtime_error("CA file " + ca_file + ": not PEM certificates (" + error.message() + ")");
  }
  context->set_verify_mode(ssl::verify_peer);
  return context;
}

void send_request(boost::asio::io_context& context, const OutboundUrl& url,
                  http::request<http::string_body> request, OutboundOptions options, OutboundDone done) {
  if (!url.tls) {
    auto call = std::make_shared<Call<beast::tcp_stream>>(context, url, std::move(options), std::move(done));
    call->start(std::move(request));
    return;
  }
  std::shared_ptr<ssl::context> tls = options.tls;
  if (!tls) {
    try {
      tls = make_tls_context("");
    } catch (const std::exception& error) {
      done(std::string(error.what()), OutboundResponse{});
      return;
    }
  }
  // The stream keeps a reference to the context: the call holds the context (options_) as long as the stream.
  options.tls = tls;
  auto call = std::make_shared<Call<TlsStream>>(context, url, std::move(options), std::move(done));
  call->start(std::move(request));
}

}  // namespace kabar
