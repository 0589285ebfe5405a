#pragma once
// The server -> client frames of the Pusher protocol (shared/docs/pusher-protocol.md §2), built by
// string appends. Where Laravel Reverb's test suite pins the exact bytes (§10) these produce the same
// bytes; `data` is a JSON-encoded string except in subscription_error (Soketi's form, an object) and in
// relayed client events (data as the sender gave it).
#include <string>
#include <string_view>

namespace kabar::pusher_frame {

std::string connection_established(std::string_view socket_id, int activity_timeout_s);
std::string error(int code, std::string_view message, std::string_view channel = {});
std::string pong();
std::string ping();

std::string subscription_succeeded(std::string_view channel);
// presence_json: {"ids":[...],"hash":{...},"count":N}
std::string presence_subscription_succeeded(std::string_view channel, std::string_view presence_json);
// The frame (a JSON object) with a top-level "position" member added: kabar's replay extension on
// subscription_succeeded. A frame that is not an object is returned as it is.
std::string with_position(std::string frame, std::string_view position);
// user_id_json / user_info_json: JSON texts (user_info may be empty: left out).
std::string member_added(std::string_view channel, std::string_view user_id_json,
                         std::string_view user_info_json);
std::string member_removed(std::string_view channel, std::string_view user_id_json);
std::string cache_miss(std::string_view channel);
// type: AuthError, LimitReached, InvalidChannel, ServerError (Soketi's names); status: HTTP-like;
// reason: the authorization policy's refusal code (token_required, denied, ...), left out when empty.
std::string subscription_error(std::string_view channel, std::string_view type, std::string_view message,
                               int status, std::string_view reason = {});
// data_json: the client's data as JSON text; user_id: added on presence channels (empty: none).
std::string client_event(std::string_view event, std::string_view channel, std::string_view data_json,
                         std::string_view user_id = {});
// kabar extension: history no longer covers the `since` a client asked for (docs/pusher.md).
std::string reset(std::string_view channel, std::string_view reason, std::string_view position);

}  // namespace kabar::pusher_frame
