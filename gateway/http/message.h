#pragma once
// The HTTP messages every door reads and answers: Beast's HTTP/1.1 request and response with the whole
// body in a string. Bodies are bounded by http.max_message_bytes before they are read (HttpSession).
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace kabar {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

}  // namespace kabar
