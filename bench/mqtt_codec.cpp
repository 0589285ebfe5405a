#include "mqtt_codec.h"

namespace kabar::bench::mqtt {

namespace {

void put_u16(std::string& out, std::size_t v) {
  out.push_back(char((v >> 8) & 0xff));
  out.push_back(char(v & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  put_u16(out, s.size());
  out.append(s);
}

// Fixed header: type/flags byte and the "remaining length" varint (7 bits a byte).
std::string with_fixed_header(uint8_t first_byte, const std::string& body) {
  std::string out(1, char(first_byte));
  std::size_t len = body.size();
  do {
    uint8_t digit = len % 128;
    len /= 128;
    if (len > 0) digit |= 0x80;
    out.push_back(char(digit));
  } while (len > 0);
  return out + body;
}

}  // namespace

std::string connect_packet(std::string_view client_id, uint16_t keepalive_s) {
  std::string body;
  put_str(body, "MQTT");
  body.push_back(4);     // protocol level 3.1.1
  body.push_back(0x02);  // clean session, no will, no credentials
  put_u16(body, keepalive_s);
  put_str(body, client_id);
  return with_fixed_header(0x10, body);
}

std::string subscribe_packet(uint16_t packet_id, std::string_view topic_filter, uint8_t qos) {
  std::string body;
  put_u16(body, packet_id);
  put_str(body, topic_filter);
  body.push_back(char(qos));
  return with_fixed_header(0x82, body);  // SUBSCRIBE's reserved flags are 0b0010
}

std::string pingreq_packet() { return std::string("\xc0\x00", 2); }

ParseResult parse(std::string_view in, Packet& out, std::size_t& used) {
  std::size_t len = 0, pos = 1, shift = 0;
  for (;; ++pos, shift += 7) {
    if (pos >= in.size()) return ParseResult::incomplete;
    if (pos > 4) return ParseResult::malformed;
    auto digit = uint8_t(in[pos]);
    len |= std::size_t(digit & 0x7f) << shift;
    if (!(digit & 0x80)) break;
  }
  ++pos;
  if (in.size() - pos < len) return ParseResult::incomplete;
  out.type = uint8_t(in[0]) >> 4;
  out.flags = uint8_t(in[0]) & 0x0f;
  out.body = in.substr(pos, len);
  used = pos + len;
  return ParseResult::ok;
}

std::string_view publish_payload(const Packet& p) {
  if (p.body.size() < 2) return {};
  std::size_t topic_len = (std::size_t(uint8_t(p.body[0])) << 8) | uint8_t(p.body[1]);
  std::size_t skip = 2 + topic_len + (((p.flags >> 1) & 3) ? 2 : 0);
  return skip <= p.body.size() ? p.body.substr(skip) : std::string_view{};
}

}  // namespace kabar::bench::mqtt
