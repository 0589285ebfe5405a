#pragma once
// The two checks of RFC 6455's opening handshake that are about bytes, not HTTP: whether the client's
// Sec-WebSocket-Key is well formed, and the Sec-WebSocket-Accept that proves to it this server speaks
// WebSocket (4.2.2). The HTTP request itself is parsed by the transport.
#include <string>
#include <string_view>

namespace kabar::websocket {

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string accept_key(std::string_view client_key);
// The key must be base64 of 16 bytes (24 chars ending in "=="); returns false otherwise.
bool is_valid_client_key(std::string_view client_key);

}  // namespace kabar::websocket
