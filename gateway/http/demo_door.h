#pragma once
// The HTTP side of `kabar demo` (docs/demo.md): /demo/... requests are checked here (token, size) and
// handed to the DemoService, which answers on its own thread. Without `kabar demo` every /demo/ request
// is refused with 403 demo_disabled, saying why.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>

#include "gateway/demo/demo_service.h"
#include "gateway/http/request_target.h"
#include "gateway/http/server_context.h"

namespace kabar {

void answer_demo(ServerContext& context, const boost::beast::http::request<boost::beast::http::string_body>& request,
                 const RequestTarget& target, std::function<void(DemoAnswer)> done);

}  // namespace kabar
