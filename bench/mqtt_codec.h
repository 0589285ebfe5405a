#pragma once
// The few MQTT 3.1.1 packets a subscriber needs, hand-written so the mosquitto peer is driven by the same
// event loop and the same measuring code as kabar's transports.
#include <cstdint>
#include <string>
#include <string_view>

namespace kabar::bench::mqtt {

enum PacketType : uint8_t { connack = 2, publish = 3, suback = 9, pingresp = 13 };

std::string connect_packet(std::string_view client_id, uint16_t keepalive_s);  // clean session
std::string subscribe_packet(uint16_t packet_id, std::string_view topic_filter, uint8_t qos);
std::string pingreq_packet();

struct Packet {
  uint8_t type = 0;
  uint8_t flags = 0;      // low nibble of the fixed header
  std::string_view body;  // variable header + payload
};

enum class ParseResult { ok, incomplete, malformed };

// Parses the packet at the front of `in`; on ok sets `out` and `used` (bytes of the whole packet).
ParseResult parse(std::string_view in, Packet& out, std::size_t& used);

// The application payload of a PUBLISH packet (skips the topic and, for QoS > 0, the packet id).
std::string_view publish_payload(const Packet& p);

}  // namespace kabar::bench::mqtt
