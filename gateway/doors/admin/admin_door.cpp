// The operator's door: the overview and the test publish behind the policy's admin grant (admin_door.h).
#include "gateway/doors/admin/admin_door.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <variant>

#include "core/channel.h"
#include "gateway/doors/admin/admin_overview.h"
#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/router.h"
#include "gateway/http/server_context.h"

namespace kabar {
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kEventNameMax = 200;

// The token's claims when the policy grants it admin; otherwise the refusal to send.
struct Admitted {
  std::optional<authz::Claims> claims;
  std::optional<Refused> refused;
};

Admitted admit(ServerContext& context, const HttpRequest& request) {
  const std::string token = authorization_bearer(request);
  if (token.empty())
    return {{}, Refused::authorization(401, "token_required", "token_required",
                                       "the operator's page needs Authorization: Bearer <token> of a role the "
                                       "policy grants admin")};
  Authentication who = authenticate(context, token, "admin");
  if (!who.ok) return {{}, Refused::authorization(401, "invalid_token", who.code, who.message)};
  const authz::Decision decision =
      context.authorizer ? context.authorizer->decide(who.claims, authz::Action::Admin, authz::Resource::node())
                         : authz::Decision{false, "no_rule", "no policy: nobody may open the operator's page", {}};
  if (!decision.allowed) {
    spdlog::info("admin: refused {}: {}", who.claims.subject.empty() ? "(anonymous)" : who.claims.subject,
                 decision.reason);
    return {{}, Refused::authorization(403, "forbidden", decision.code, decision.reason)};
  }
  return {std::move(who.claims), {}};
}

void serve_overview(const std::shared_ptr<const AdminDoor>& door, const HttpRequest& request, Exchange& exchange) {
  ServerContext& context = *door->context;
  Admitted admitted = admit(context, request);
  if (admitted.refused) return exchange.send(refused_response(*admitted.refused));
  // The channels on each shard's thread, then the store on a replay thread, then the answer on ours.
  gather_channel_subscribers(context.hub, [door, &context, reply = exchange.reply_later()](
                                              std::map<std::string, std::size_t> channels) mutable {
    context.replay.run([door, &context, reply = std::move(reply), channels = std::move(channels)]() mutable {
      try {
        HttpResponse response = json_response(200, overview_json(*door, context.store, channels));
        response.set(http::field::cache_control, "no-store");
        reply(std::move(response));
      } catch (const std::exception& error) {  // StoreError: this request fails, not kabar
        spdlog::warn("admin: the overview could not be read: {}", error.what());
        reply(refused_response(Refused::plain(503, "store_unavailable", "the store could not be read")));
      }
    });
  });
}

// {"channel": "...", "event": "...", "data": any JSON (default {})}; a string: what is wrong.
std::variant<AdminTestEvent, std::string> parse_test_event(const std::string& body) {
  const nlohmann::json document = nlohmann::json::parse(body, nullptr, false);
  if (!document.is_object()) return "the body must be a JSON object {\"channel\", \"event\", \"data\"}";
  AdminTestEvent event;
  const auto channel = document.find("channel");
  if (channel == document.end() || !channel->is_string() || channel->get_ref<const std::string&>().empty())
    return "channel must be a channel name";
  event.channel = channel->get<std::string>();
  const auto name = document.find("event");
  if (name == document.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
      name->get_ref<const std::string&>().size() > kEventNameMax)
    return "event must be an event name of 1 to " + std::to_string(kEventNameMax) + " characters";
  event.event = name->get<std::string>();
  const auto data = document.find("data");
  event.data_json = data == document.end() ? "{}" : data->dump();
  return event;
}

void serve_publish(const std::shared_ptr<const AdminDoor>& door, HttpRequest& request, Exchange& exchange) {
  ServerContext& context = *door->context;
  Admitted admitted = admit(context, request);
  if (admitted.refused) return exchange.send(refused_response(*admitted.refused));
  auto parsed = parse_test_event(request.body());
  if (auto* problem = std::get_if<std::string>(&parsed))
    return exchange.send(refused_response(Refused::plain(400, "bad_request", *problem)));
  AdminTestEvent event = std::get<AdminTestEvent>(std::move(parsed));
  // The admin grant is the permission: a test event may go to any channel (docs/authorization.md).
  if (!is_valid_channel_name(event.channel))
    return exchange.send(refused_response(Refused::plain(
        400, "bad_request", "not a valid channel name (1-164 characters of [A-Za-z0-9_-=@,.;])")));
  spdlog::info("admin: {} publishes a test event {} on {}", admitted.claims->subject, event.event, event.channel);
  nlohmann::json answer = {{"channel", event.channel}, {"event", event.event}};
  door->publish(std::move(event), [reply = exchange.reply_later(), answer = std::move(answer)](
                                      std::optional<std::string> error) mutable {
    if (error) {
      reply(refused_response(Refused::plain(503, "broker_unavailable", "the broker did not take the event: " + *error)));
      return;
    }
    answer["published"] = true;
    reply(json_response(202, answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  });
}

}  // namespace

void open_admin_door(Router& router, AdminDoor door) {
  auto shared = std::make_shared<const AdminDoor>(std::move(door));
  router.exact("/api/admin/overview", RouteRules::reads(), [shared](HttpRequest&& request, Exchange& exchange) {
    serve_overview(shared, request, exchange);
  });
  RouteRules posts{{http::verb::post}, "POST {\"channel\", \"event\", \"data\"} with a bearer token", false};
  router.exact("/api/admin/publish", posts, [shared](HttpRequest&& request, Exchange& exchange) {
    serve_publish(shared, request, exchange);
  });
}

}  // namespace kabar
