#pragma once
// The HTTP side of `kabar demo` (docs/demo.md): /demo/... requests are checked here (token, size) and
// handed to the DemoService, which answers on its own thread. Without `kabar demo` every /demo/ request
// is refused with 403 demo_disabled, saying why.
namespace kabar {

class DemoService;
class Router;
struct ServerContext;

// `demo`: null under `kabar serve`. `context` verifies the tokens of demo requests.
void open_demo_door(Router& router, ServerContext& context, DemoService* demo);

}  // namespace kabar
