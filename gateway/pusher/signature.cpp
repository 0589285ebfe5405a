#include "gateway/pusher/signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

namespace kabar {
namespace {

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return hex;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view secret, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(), &size);
  return to_hex(digest.data(), size);
}

std::string md5_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_md5(), nullptr);
  return to_hex(digest.data(), size);
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

std::string channel_auth_message(std::string_view socket_id, std::string_view channel,
                                 std::string_view channel_data) {
  std::string message;
  message.reserve(socket_id.size() + channel.size() + channel_data.size() + 2);
  message.append(socket_id).append(":").append(channel);
  if (!channel_data.empty()) message.append(":").append(channel_data);
  return message;
}

std::string channel_auth(std::string_view key, std::string_view secret, std::string_view socket_id,
                         std::string_view channel, std::string_view channel_data) {
  return std::string(key) + ":" +
         hmac_sha256_hex(secret, channel_auth_message(socket_id, channel, channel_data));
}

}  // namespace kabar
